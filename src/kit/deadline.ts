/** An operation did not finish before its deadline. */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
}

/**
 * Settles with `work`, or rejects with DeadlineExceededError after `ms`, or with the signal's
 * reason if it aborts first. The timer is always cleared, so nothing keeps the process alive.
 * It cannot stop `work` itself: pass the signal into `work` for that.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceededError(`${what} took longer than ${ms} ms`)), ms);
    if (signal) {
      onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new DeadlineExceededError(`${what} was aborted`));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([work, expiry]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * What work is handed to learn that it should stop: an AbortSignal, or a Deadline, which is
 * read the same way (`aborted`, `reason`, `throwIfAborted()`) without making an AbortSignal.
 * Work that must be *told* when it stops (a wait, an I/O, a listener) takes the signal with
 * abortSignalOf(). On Node 20 a request's AbortSignal, made and read on the hot path, was
 * about a sixth of the CPU of a GET by id on SQLite (bench/RESULTS.md, issue 14, sixth pass),
 * and nearly every request finishes without anyone listening for its abort.
 */
export type Cancellation = AbortSignal | Deadline;

/** The AbortSignal behind a cancellation: a Deadline makes its signal now if it has none yet. */
export function abortSignalOf(cancellation: Cancellation): AbortSignal;
export function abortSignalOf(cancellation: Cancellation | undefined): AbortSignal | undefined;
export function abortSignalOf(cancellation: Cancellation | undefined): AbortSignal | undefined {
  return cancellation instanceof Deadline ? cancellation.signal : cancellation;
}

/**
 * Calls `listener` with the reason once `cancellation` aborts (at once if it already has), and
 * returns what stops listening. A Deadline is listened to without making its AbortSignal: at 50
 * requests in flight a PostgreSQL pool makes nearly every GET wait for a client, and each wait's
 * AbortSignal and listener outlived young-generation collections, ~0.9 kB a request promoted to
 * the old generation only to die there (bench/RESULTS.md, issue 14, seventeenth pass).
 */
export function onAbort(cancellation: Cancellation, listener: (reason: unknown) => void): () => void {
  if (cancellation instanceof Deadline) return cancellation.listen(listener);
  if (cancellation.aborted) {
    listener(cancellation.reason);
    return ignore;
  }
  const heard = () => listener(cancellation.reason);
  cancellation.addEventListener('abort', heard, { once: true });
  return () => cancellation.removeEventListener('abort', heard);
}

const ignore = (): void => undefined;

/**
 * One deadline for one piece of work: it aborts when the time is up or when someone cancels it,
 * and `race()` settles a promise no later than that moment even if the work ignores it. Its
 * AbortSignal is made only when read (`signal`); `aborted`, `reason` and `throwIfAborted()`
 * answer without one. `dispose()` clears the timer; call it when the work is done.
 */
export class Deadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  /** Settles the pending race()s with the reason once stopped; none pending: undefined. */
  #stop: ((reason: Error) => void) | undefined;
  #stoppedWith: Error | undefined;
  #aborted = false;
  #reason: unknown;
  /** Who listens through listen(); none yet: undefined (most requests are never waited on). */
  #listeners: Array<(reason: unknown) => void> | undefined;

  // No promise is made up front: a request that finishes in time (nearly all) costs the
  // controller, the timer and the one promise race() returns. AbortController makes its
  // signal only when asked for it (Node's own laziness), and nothing here asks unless a caller does.
  constructor(ms: number, onExpiry: () => Error) {
    this.#timer = setTimeout(() => this.cancel(onExpiry()), ms);
  }

  /** The AbortSignal, made on first read: for work that listens for the abort. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /**
   * Calls `listener` with the reason once aborted (at once if it is), without making the
   * AbortSignal; returns what stops listening. Use onAbort() for any Cancellation.
   */
  listen(listener: (reason: unknown) => void): () => void {
    if (this.#aborted) {
      listener(this.#reason);
      return ignore;
    }
    const listeners = (this.#listeners ??= []);
    listeners.push(listener);
    return () => {
      // Once aborted the list is being called (or was): stopping then must not shift it.
      if (this.#listeners !== listeners) return;
      const at = listeners.indexOf(listener);
      if (at !== -1) listeners.splice(at, 1);
    };
  }

  /** Throws the reason once aborted, as AbortSignal's method does. */
  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  /** Stops the work now with `reason` (a shutdown, a client that went away). */
  cancel(reason: unknown): void {
    if (this.#aborted) return;
    this.#abort(reason);
    this.#stoppedWith = reason instanceof Error ? reason : new DeadlineExceededError('cancelled');
    this.#stop?.(this.#stoppedWith);
    this.#stop = undefined;
  }

  /**
   * Tells the work to stop with `reason` without settling `race()`: for a client that has gone,
   * where nobody waits for an answer but what the work did (committed or rolled back) still
   * has to be known.
   */
  abort(reason: unknown): void {
    if (!this.#aborted) this.#abort(reason);
  }

  #abort(reason: unknown): void {
    this.#aborted = true;
    this.#reason = reason;
    // Listeners of a signal already handed out hear it now; one made later is born aborted.
    this.#controller.abort(reason);
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        listener(reason);
      } catch (error) {
        // As an AbortSignal's listener does: the others still hear it, and the error is not lost.
        process.nextTick(() => {
          throw error;
        });
      }
    }
  }

  race<T>(work: Promise<T>): Promise<T> {
    if (this.#stoppedWith !== undefined) {
      // Already stopped: the work's own outcome is no longer awaited, and must not go unhandled.
      work.catch(() => undefined);
      return Promise.reject(this.#stoppedWith);
    }
    return new Promise<T>((resolve, reject) => {
      const earlier = this.#stop;
      this.#stop =
        earlier === undefined
          ? reject
          : (reason) => {
              earlier(reason);
              reject(reason);
            };
      work.then(resolve, reject);
    });
  }

  dispose(): void {
    clearTimeout(this.#timer);
  }
}
