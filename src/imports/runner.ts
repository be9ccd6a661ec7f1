import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { ImportQueueFullError } from './errors.js';
import type { ImportJob } from './job.js';
import { ImportCounters } from './report.js';
import type { ImportService, RunResult } from './service.js';

export interface ImportRunnerOptions {
  readonly service: ImportService;
  /** Jobs run at once on this instance. */
  readonly concurrency: number;
  /** Jobs waiting at most; past it `submit` refuses. */
  readonly queueLimit: number;
  readonly onFinished?: (result: RunResult) => void;
  readonly onError?: (error: unknown, job: ImportJob) => void;
}

interface Active {
  readonly job: ImportJob;
  readonly cancel: AbortController;
  readonly counters: ImportCounters;
  done?: Promise<void>;
}

/**
 * Runs uploaded import jobs in the background, a few at a time, from their spooled files;
 * the queue is bounded so uploads cannot pile up work (and disk) without limit. Jobs do not
 * survive a restart in the queue: one left `running` or `pending` is resumed with
 * `roster import FILE --resume ID` (its spooled file is kept until it succeeds).
 */
export class ImportRunner {
  readonly #options: ImportRunnerOptions;
  readonly #queue: Active[] = [];
  readonly #running = new Map<string, Active>();
  #stopped = false;

  constructor(options: ImportRunnerOptions) {
    this.#options = options;
  }

  /** Whether `submit` would accept a job now. */
  hasRoom(): boolean {
    return !this.#stopped && this.#queue.length < this.#options.queueLimit;
  }

  /** Queues `job` (it must have a spooled file). Throws ImportQueueFullError when the queue is full. */
  submit(job: ImportJob): void {
    if (!this.hasRoom()) throw new ImportQueueFullError('Too many imports are waiting on this instance; retry later.');
    this.#queue.push({ job, cancel: new AbortController(), counters: new ImportCounters() });
    this.#next();
  }

  /** Live counters of a running job (bytes read, rows so far), for progress. */
  progress(id: string): ImportCounters | undefined {
    return this.#running.get(id)?.counters;
  }

  /** Cancels a queued or running job; resolves once it has stopped. False when this instance is not running it. */
  async cancel(id: string): Promise<boolean> {
    const queued = this.#queue.findIndex((a) => a.job.id === id);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
      await this.#options.service.cancelPending(id);
      return true;
    }
    const active = this.#running.get(id);
    if (active === undefined) return false;
    active.cancel.abort(new Error('cancelled'));
    await active.done;
    return true;
  }

  /** Cancels everything (queued jobs stay pending, running ones record their resume point) and waits. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#queue.length = 0;
    const running = [...this.#running.values()];
    for (const active of running) active.cancel.abort(new Error('the instance is shutting down'));
    await Promise.all(running.map((a) => a.done ?? Promise.resolve()));
  }

  #next(): void {
    while (!this.#stopped && this.#running.size < this.#options.concurrency && this.#queue.length > 0) {
      const active = this.#queue.shift()!;
      this.#running.set(active.job.id, active);
      active.done = this.#run(active).finally(() => {
        this.#running.delete(active.job.id);
        this.#next();
      });
    }
  }

  async #run(active: Active): Promise<void> {
    const { job } = active;
    try {
      if (job.spoolPath === undefined) throw new Error(`import job ${job.id} has no spooled file`);
      const result = await this.#options.service.run(job, createReadStream(job.spoolPath), {
        signal: active.cancel.signal,
        counters: active.counters,
      });
      if (result.job.status === 'succeeded') await rm(job.spoolPath, { force: true });
      this.#options.onFinished?.(result);
    } catch (error) {
      this.#options.onError?.(error, job);
    }
  }
}
