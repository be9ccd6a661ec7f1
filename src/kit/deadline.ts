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
 * One deadline for one piece of work: a signal that aborts when the time is up or when someone
 * cancels it, and `race()`, which settles a promise no later than that moment even if the
 * work ignores the signal. `dispose()` clears the timer; call it when the work is done.
 */
export class Deadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  /** Settles the pending race()s with the reason once stopped; none pending: undefined. */
  #stop: ((reason: Error) => void) | undefined;
  #stoppedWith: Error | undefined;

  // No promise is made up front: a request that finishes in time (nearly all) costs the
  // controller, the timer and the one promise race() returns.
  constructor(ms: number, onExpiry: () => Error) {
    this.#timer = setTimeout(() => this.cancel(onExpiry()), ms);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Stops the work now with `reason` (a shutdown, a client that went away). */
  cancel(reason: unknown): void {
    if (this.#controller.signal.aborted) return;
    this.#controller.abort(reason);
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
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
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
