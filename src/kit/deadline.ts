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
 * Runs `work` under a deadline of `ms`. `work` receives a signal that aborts at the deadline
 * (with the error `onExpiry` makes) or when `parent` aborts (with its reason); the returned
 * promise rejects at that moment even if `work` ignores the signal, so a caller is never held
 * past its deadline. What `work` does afterwards is ignored, its rejection included.
 */
export async function runWithDeadline<T>(
  ms: number,
  parent: AbortSignal | undefined,
  onExpiry: () => Error,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let stop: (reason: unknown) => void = () => undefined;
  const stopped = new Promise<never>((_, reject) => {
    stop = (reason) => {
      controller.abort(reason);
      reject(reason instanceof Error ? reason : new DeadlineExceededError('aborted'));
    };
  });
  const timer = setTimeout(() => stop(onExpiry()), ms);
  const onParentAbort = () => stop(parent?.reason);
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  try {
    return await Promise.race([work(controller.signal), stopped]);
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener('abort', onParentAbort);
  }
}
