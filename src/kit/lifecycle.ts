export interface LifecycleLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Graceful shutdown as an ordered list of steps under one deadline, in the spirit of Go's
 * `http.Server.Shutdown`: the steps run in the order added (stop taking work, drain, close
 * pools, flush), each awaited; if they are not all done by the deadline, `run` resolves to
 * 'timeout' and the caller exits non-zero. A step that throws is logged and the next one
 * still runs, so one broken resource never keeps the others open.
 */
export class Shutdown {
  readonly #steps: { name: string; run: () => Promise<void> | void }[] = [];
  readonly #log: LifecycleLogger;
  readonly #timeoutMs: number;
  #running: Promise<'clean' | 'failed' | 'timeout'> | undefined;

  constructor(log: LifecycleLogger, timeoutMs: number) {
    this.#log = log;
    this.#timeoutMs = timeoutMs;
  }

  add(name: string, run: () => Promise<void> | void): this {
    this.#steps.push({ name, run });
    return this;
  }

  get started(): boolean {
    return this.#running !== undefined;
  }

  /** Runs the steps once; later calls return the same outcome. */
  run(reason: string): Promise<'clean' | 'failed' | 'timeout'> {
    this.#running ??= this.#runSteps(reason);
    return this.#running;
  }

  async #runSteps(reason: string): Promise<'clean' | 'failed' | 'timeout'> {
    this.#log.info({ reason, timeout_ms: this.#timeoutMs }, 'shutting down');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#timeoutMs);
    });
    const steps = (async () => {
      let failed = false;
      for (const step of this.#steps) {
        const started = performance.now();
        try {
          await step.run();
          this.#log.info({ step: step.name, duration_ms: Math.round(performance.now() - started) }, 'shutdown step done');
        } catch (error) {
          failed = true;
          this.#log.error({ step: step.name, err: error }, 'shutdown step failed');
        }
      }
      return failed ? ('failed' as const) : ('clean' as const);
    })();
    const outcome = await Promise.race([steps, deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout')
      this.#log.error({ timeout_ms: this.#timeoutMs }, 'shutdown deadline passed; exiting with work still running');
    else this.#log.info({ outcome }, 'shutdown complete');
    return outcome;
  }
}
