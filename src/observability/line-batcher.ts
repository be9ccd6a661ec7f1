import { writeSync } from 'node:fs';

/** What the batcher hands its batches to: sonic-boom as pino.destination() makes it (asynchronous, minLength 0). */
export interface BatchTarget {
  write(text: string): unknown;
  flushSync(): void;
  end(): void;
  /** sonic-boom emits 'drain' when everything it was handed has been written. */
  on(event: 'drain', listener: () => void): unknown;
}

/** How long the exit's synchronous write keeps trying a full, non-blocking stdout before it gives up. */
const EXIT_WRITE_PATIENCE_MS = 1_000;

/**
 * Gathers log lines into batches of up to `batchBytes` (UTF-8) before they reach sonic-boom, and
 * hands over what has gathered every `flushMs` and at exit.
 *
 * Written by hand because sonic-boom (4.2 and 5.0 alike) batching by itself (`minLength`)
 * measures the whole pending text again on every write (`Buffer.byteLength` of its last
 * buffer, flattening it first), so a line cost as much as the batch it joined: 4.0–4.7 µs a
 * line with 4 KiB batches, against 0.7–0.8 µs with this in front (bench/RESULTS.md, issue 14
 * thirteenth pass). Here a line is appended and counted by its own UTF-8 length, and sonic-boom
 * sees one write per batch.
 *
 * A batch never goes over `batchBytes` (a line longer than that goes alone): at PIPE_BUF (4 KiB
 * on Linux) each write to a pipe is atomic, so a batch written as the process exits, beside one
 * still in libuv's thread pool, can land before or after it but never inside one of its lines.
 * sonic-boom must not join batches either (its `maxWrite`: logger.ts).
 *
 * The bounds stay sonic-boom's: a batch it cannot take while stdout does not drain (its
 * `maxLength`) is dropped, not held; what waits here is under one batch and never older than
 * `flushMs`.
 */
export class LineBatcher {
  #pending = '';
  #bytes = 0;
  /** A batch was handed to sonic-boom and its asynchronous write has not finished ('drain'). */
  #writing = false;
  /** flush() callbacks waiting for that write. */
  #flushed: ((error?: Error | null) => void)[] = [];
  readonly #timer: NodeJS.Timeout;

  private readonly out: BatchTarget;
  /** The file descriptor `out` writes to: the exit writes to it directly. */
  private readonly fd: number;
  private readonly batchBytes: number;

  constructor(out: BatchTarget, options: { readonly fd: number; readonly batchBytes: number; readonly flushMs: number }) {
    this.out = out;
    this.fd = options.fd;
    this.batchBytes = options.batchBytes;
    this.#timer = setInterval(() => this.handOver(), options.flushMs).unref();
    out.on('drain', () => this.#drained());
    flushedAtExit.add(this);
    hookExit();
  }

  write(line: string): boolean {
    const bytes = Buffer.byteLength(line);
    if (this.#bytes + bytes > this.batchBytes) this.handOver();
    this.#pending += line;
    this.#bytes += bytes;
    if (this.#bytes >= this.batchBytes) this.handOver();
    return true;
  }

  /**
   * Hands over what waits and calls back once it is written: what a process does before a
   * process.exit() that must leave its lines in order (flushLogs() in logger.ts). sonic-boom's
   * own flush() cannot tell: with minLength 0 it calls back at once, its write still in flight.
   */
  flush(callback?: (error?: Error | null) => void): void {
    this.handOver();
    if (callback === undefined) return;
    if (this.#writing) this.#flushed.push(callback);
    else process.nextTick(callback, null);
  }

  /**
   * Writes everything out before returning: what sonic-boom holds, then what waits here. Not
   * through sonic-boom's write(): with nothing in flight it would start an asynchronous write,
   * which an exiting process never finishes.
   *
   * A batch whose asynchronous write is already in libuv's thread pool cannot be waited for
   * here (only the event loop hears that it finished). libuv still writes it as the process
   * ends, so nothing is lost, but at a process.exit() right after logging it may land after the
   * lines written now (whole: batches are atomic writes to a pipe). A process that can wait
   * awaits flush() first (flushLogs() in logger.ts, as `roster serve` does).
   */
  flushSync(): void {
    const text = this.#take();
    try {
      this.out.flushSync();
    } finally {
      // Also when sonic-boom was ended already (pino ends it at 'beforeExit'): these lines are still owed.
      if (text !== '') writeAllSync(this.fd, text);
    }
  }

  end(): void {
    clearInterval(this.#timer);
    flushedAtExit.delete(this);
    this.handOver();
    this.out.end();
  }

  /** Hands what waits to sonic-boom now (also at 'beforeExit', just before pino flushes and ends it). */
  handOver(): void {
    if (this.#bytes === 0) return;
    this.#writing = true;
    this.out.write(this.#take());
  }

  #drained(): void {
    this.#writing = false;
    const callbacks = this.#flushed;
    this.#flushed = [];
    for (const callback of callbacks) callback(null);
  }

  #take(): string {
    const text = this.#pending;
    this.#pending = '';
    this.#bytes = 0;
    return text;
  }
}

const flushedAtExit = new Set<LineBatcher>();
let exitHooked = false;

/**
 * Before pino's own handlers, which flush sonic-boom and, at 'beforeExit', end it: at
 * 'beforeExit' what waits is handed over while the event loop can still write it; at 'exit'
 * (a process.exit() right after logging, as `roster serve` does at the end of its shutdown) it
 * is written synchronously. Either way no last line is lost.
 */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const each = (what: (batcher: LineBatcher) => void) => () => {
    for (const batcher of flushedAtExit) {
      try {
        what(batcher);
      } catch {
        // stdout is closed or gone: nothing can be written anywhere now.
      }
    }
  };
  process.prependListener(
    'beforeExit',
    each((batcher) => batcher.handOver()),
  );
  process.prependListener(
    'exit',
    each((batcher) => batcher.flushSync()),
  );
}

/** writeSync() until all of it is written; a full non-blocking pipe is retried for a while, then given up. */
function writeAllSync(fd: number, text: string): void {
  let bytes = Buffer.from(text);
  const giveUpAt = Date.now() + EXIT_WRITE_PATIENCE_MS;
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeSync(fd, bytes));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if ((code !== 'EAGAIN' && code !== 'EBUSY') || Date.now() > giveUpAt) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}
