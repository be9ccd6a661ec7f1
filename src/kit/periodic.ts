/**
 * Runs `task` every `intervalMs` until stopped. Runs never overlap, the timer never keeps
 * the process alive, a failing run is reported and the schedule goes on, and `stop()` aborts
 * the run in progress through its signal and waits for it to settle.
 */
export function every(intervalMs: number, task: (signal: AbortSignal) => Promise<void>, onError: (error: unknown) => void) {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (controller.signal.aborted) return;
    timer = setTimeout(() => {
      current = task(controller.signal).catch(onError).finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop(): Promise<void> {
      controller.abort(new Error('stopped'));
      clearTimeout(timer);
      await current;
    },
  };
}
