import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';

/**
 * Deadlines for outbound attempts, shared by the attempts that start close together: every
 * attempt started within one slice (a thirtieth of the deadline, so 1 s of a 30 s deadline) gets
 * the same AbortSignal, aborted when the slice's first attempt reaches its deadline. Each attempt
 * thus ends within its deadline and at most a slice before it. At full rate an AbortController,
 * a timer and a listener on the caller's signal per attempt were a twentieth of the dispatcher's
 * CPU; per slice they cost nothing measurable. An attempt that watch()es its deadline adds no
 * listener to the signal either (undici's request() added one per attempt). A slice's timer is cleared once its last attempt
 * has ended and a newer slice exists (or at close()); it never keeps the process alive.
 */
export class AttemptDeadlines {
  readonly #deadlineMs: number;
  readonly #sliceMs: number;
  readonly #deadlineError: () => Error;
  #current: Slice | undefined;

  /** `deadlineError` is the abort reason of an attempt that reached its deadline. */
  constructor(deadlineMs: number, deadlineError: () => Error) {
    this.#deadlineMs = deadlineMs;
    this.#sliceMs = Math.max(1, Math.floor(deadlineMs / 30));
    this.#deadlineError = deadlineError;
  }

  /**
   * The signal of one attempt, aborted at its deadline or when `caller` aborts (with the caller's
   * reason). Call `end()` on the returned deadline when the attempt is over, however it ended.
   */
  begin(caller: AbortSignal | undefined): Deadline {
    const now = performance.now();
    let slice = this.#current;
    if (slice === undefined || slice.caller !== caller || now - slice.startedAt >= this.#sliceMs || slice.controller.signal.aborted) {
      if (slice !== undefined && slice.active === 0) slice.dispose();
      slice = new Slice(caller, now, this.#deadlineMs, this.#deadlineError);
      this.#current = slice;
    }
    slice.active++;
    const owner = slice;
    let watcher: ((reason: unknown) => void) | undefined;
    return {
      signal: slice.controller.signal,
      timedOut: () => owner.timedOut,
      watch: (abort) => {
        watcher = abort;
        owner.watchers.add(abort);
      },
      end: () => {
        if (watcher !== undefined) owner.watchers.delete(watcher);
        owner.active--;
        if (owner.active === 0 && owner !== this.#current) owner.dispose();
      },
    };
  }

  /** Clears the current slice's timer (attempts still in it keep their signal, never aborted by the deadline). */
  close(): void {
    this.#current?.dispose();
    this.#current = undefined;
  }
}

export interface Deadline {
  /** Pass to the request: aborted at the deadline, or with the caller's reason. */
  readonly signal: AbortSignal;
  /** Whether the signal was aborted by the deadline (not by the caller). */
  timedOut(): boolean;
  /**
   * Calls `abort` with the signal's reason when it aborts: one listener per slice runs them all,
   * rather than one listener per attempt on the signal. At most one per deadline; end() drops it.
   */
  watch(abort: (reason: unknown) => void): void;
  end(): void;
}

class Slice {
  readonly controller = new AbortController();
  readonly caller: AbortSignal | undefined;
  readonly startedAt: number;
  active = 0;
  timedOut = false;
  /** The attempts' own abort functions (see Deadline.watch()). */
  readonly watchers = new Set<(reason: unknown) => void>();
  readonly #timer: NodeJS.Timeout;
  readonly #onCallerAbort: () => void;

  constructor(caller: AbortSignal | undefined, startedAt: number, deadlineMs: number, deadlineError: () => Error) {
    this.caller = caller;
    this.startedAt = startedAt;
    // Listeners of callers that pass the signal on (watch() needs none), bounded by their concurrency.
    setMaxListeners(0, this.controller.signal);
    this.controller.signal.addEventListener(
      'abort',
      () => {
        for (const abort of this.watchers) abort(this.controller.signal.reason);
      },
      { once: true },
    );
    this.#timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(deadlineError());
    }, deadlineMs);
    this.#timer.unref();
    this.#onCallerAbort = () => this.controller.abort(caller?.reason);
    caller?.addEventListener('abort', this.#onCallerAbort, { once: true });
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.caller?.removeEventListener('abort', this.#onCallerAbort);
  }
}
