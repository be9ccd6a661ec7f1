import { createReadStream } from 'node:fs';
import { access, rm } from 'node:fs/promises';
import { every } from '../../kit/periodic.js';
import { ImportInterruptedError, ImportQueueFullError } from '../errors.js';
import type { ImportJob } from './job.js';
import { ImportCounters } from './report.js';
import type { ImportService, RunResult } from '../service.js';

export interface ImportRunnerOptions {
  readonly service: ImportService;
  /** Jobs run at once on this instance. */
  readonly concurrency: number;
  /** Jobs waiting at most; past it `submit` refuses. */
  readonly queueLimit: number;
  readonly onFinished?: (result: RunResult) => void;
  /** A run that ended without recording its end: the lease was held elsewhere or lost, or the database failed. */
  readonly onError?: (error: unknown, job: ImportJob) => void;
  /** How often to look for abandoned uploads after the first look at start(); default: the lease length. */
  readonly scanIntervalMs?: number;
  /** An abandoned upload was queued to be resumed. */
  readonly onResumed?: (job: ImportJob) => void;
  /** A scan failed (the database is down); the next one retries. */
  readonly onScanError?: (error: unknown) => void;
}

interface Active {
  readonly job: ImportJob;
  readonly cancel: AbortController;
  readonly counters: ImportCounters;
  done?: Promise<void>;
}

/**
 * Runs uploaded import jobs in the background, a few at a time, from their spooled files;
 * the queue is bounded so uploads cannot pile up work (and disk) without limit.
 *
 * Jobs survive restarts: start() looks at once, and then every lease length, for uploaded jobs
 * left `pending` or `running` whose lease is free (expired, or held by a dead process on this
 * host) and whose spooled file exists here, and queues them as room allows (the rest wait for
 * the next look). Each run resumes after the job's `committed_line`. A job that another process
 * holds (a live instance, `roster import --resume`) is refused by its lease, never run twice.
 * Jobs from the CLI have no spooled file and are never picked up. At shutdown, stop() aborts
 * running jobs with ImportInterruptedError: they go back to `pending` for the next start.
 */
export class ImportRunner {
  readonly #options: ImportRunnerOptions;
  readonly #queue: Active[] = [];
  readonly #running = new Map<string, Active>();
  #stopped = false;
  #scans: { stop(): Promise<void> } | undefined;

  constructor(options: ImportRunnerOptions) {
    this.#options = options;
  }

  /** Resumes abandoned uploads now and keeps looking for them every scanIntervalMs; idempotent. */
  start(): void {
    if (this.#scans !== undefined || this.#stopped) return;
    const onError = (error: unknown) => this.#options.onScanError?.(error);
    const first = this.scan().catch(onError);
    const periodic = every(this.#options.scanIntervalMs ?? this.#options.service.leaseMs, () => this.scan().then(() => undefined), onError);
    this.#scans = {
      async stop() {
        await first;
        await periodic.stop();
      },
    };
  }

  /**
   * Queues the abandoned uploads whose spooled file is on this instance, while the queue has
   * room; returns how many were queued.
   */
  async scan(): Promise<number> {
    if (!this.hasRoom()) return 0;
    let queued = 0;
    for (const job of await this.#options.service.abandonedUploads()) {
      if (!this.hasRoom()) break;
      if (job.spoolPath === undefined || !(await exists(job.spoolPath))) continue;
      // Checked after the last await: an upload submitted meanwhile is already queued here.
      if (this.#queue.some((a) => a.job.id === job.id) || this.#running.has(job.id)) continue;
      this.#options.onResumed?.(job);
      this.submit(job);
      queued++;
    }
    return queued;
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

  /** Stops scanning and stops everything (queued jobs stay pending, running ones go back to pending) and waits. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#scans?.stop();
    this.#queue.length = 0;
    const running = [...this.#running.values()];
    for (const active of running) active.cancel.abort(new ImportInterruptedError('the instance is shutting down'));
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
        unfinishedOnly: true,
      });
      if (result.job.status === 'succeeded') await rm(job.spoolPath, { force: true });
      this.#options.onFinished?.(result);
    } catch (error) {
      this.#options.onError?.(error, job);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
