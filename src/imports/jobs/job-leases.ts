import { isOwnerGoneHere, newLeaseOwner } from '../../kit/lease-owner.js';
import { ImportLeaseHeldError, ImportNotFoundError, LeaseLostError } from '../errors.js';
import { isFinished, type ImportJob } from './job.js';
import type { ImportJobStore } from './job-store.js';

/** ROSTER_IMPORT_LEASE_MS's default: a killed holder's job is free again within 30 s (at once on its own host). */
export const DEFAULT_IMPORT_LEASE_MS = 30_000;

export interface JobLeaseOptions {
  /**
   * Names this process in job leases (kit/lease-owner.ts). The composition root makes one
   * ImportService per process, so this is the per-process id; tests give two services
   * distinct owners to play two processes.
   */
  readonly owner?: string;
  /** How long a lease lasts unless renewed (ROSTER_IMPORT_LEASE_MS); renewed every third of it. */
  readonly leaseMs?: number;
  /** Whether a lease holder is a dead process on this host (default: isOwnerGoneHere); injectable for tests. */
  readonly isOwnerGone?: (owner: string) => boolean;
  /** A renewal failed for another reason than a lost lease (an outage): the next tick retries. */
  readonly onRenewError?: (error: unknown, jobId: string) => void;
  readonly now: () => Date;
}

/**
 * The leases on import jobs, as one process holds them: a job runs only under its lease, so
 * one job never runs twice at once, here or in another process. The lease lives in the job's
 * row (owner + expiry, taken by one conditional update); the jobs this process is claiming or
 * running are also tracked in memory, because the lease alone cannot tell two runs of one
 * owner apart.
 */
export class JobLeases {
  readonly owner: string;
  readonly leaseMs: number;
  readonly #jobs: ImportJobStore;
  readonly #options: JobLeaseOptions;
  readonly #isOwnerGone: (owner: string) => boolean;
  readonly #active = new Set<string>();

  constructor(jobs: ImportJobStore, options: JobLeaseOptions) {
    this.#jobs = jobs;
    this.#options = options;
    this.owner = options.owner ?? newLeaseOwner();
    this.leaseMs = options.leaseMs ?? DEFAULT_IMPORT_LEASE_MS;
    this.#isOwnerGone = options.isOwnerGone ?? isOwnerGoneHere;
  }

  /**
   * Whether a job's lease may be taken: nobody holds it, it expired, or its holder is a dead
   * process on this host (kill -9, crash: no need to wait for the expiry).
   */
  isFree(job: ImportJob, now: Date = this.#options.now()): boolean {
    if (job.leaseOwner === undefined) return true;
    if (job.leaseExpiresAt !== undefined && job.leaseExpiresAt.getTime() < now.getTime()) return true;
    return job.leaseOwner !== this.owner && this.#isOwnerGone(job.leaseOwner);
  }

  /** Whether this process is claiming or running the job. */
  isActive(id: string): boolean {
    return this.#active.has(id);
  }

  /**
   * Takes the job's lease: one conditional update, naming the current holder as takeover-able
   * when it is a dead process on this host. Marks the job active here until settle(). Returns
   * the job as claimed; a finished job is returned unclaimed (and not active) when `unfinishedOnly`.
   * `signal` stops it before any of its statements (nothing is claimed then).
   * @throws ImportLeaseHeldError when a live process holds it, ImportNotFoundError
   */
  async claim(id: string, unfinishedOnly: boolean, signal?: AbortSignal): Promise<ImportJob> {
    const jobs = this.#jobs;
    if (this.#active.has(id)) {
      const current = await jobs.get(id, signal);
      throw new ImportLeaseHeldError(id, this.owner, current?.leaseExpiresAt);
    }
    this.#active.add(id);
    try {
      const current = await jobs.get(id, signal);
      if (current === undefined) throw new ImportNotFoundError(`No import job has id ${id}.`);
      if (unfinishedOnly && isFinished(current.status)) {
        this.#active.delete(id);
        return current;
      }
      const holder = current.leaseOwner;
      const now = this.#options.now();
      // Held by a live process: refused without attempting the update, which on SQLite would
      // queue for the write lock that holder's batches keep taking.
      if (holder !== undefined && holder !== this.owner && !this.isFree(current, now)) {
        throw new ImportLeaseHeldError(id, holder, current.leaseExpiresAt);
      }
      const takeOverFrom = holder !== undefined && holder !== this.owner && this.#isOwnerGone(holder) ? holder : undefined;
      const claimed = await jobs.claim(
        id,
        this.owner,
        now,
        new Date(now.getTime() + this.leaseMs),
        { takeOverFrom, unfinishedOnly },
        signal,
      );
      if (claimed !== undefined) return claimed;
      const after = await jobs.get(id, signal);
      if (after !== undefined && unfinishedOnly && isFinished(after.status)) {
        this.#active.delete(id);
        return after;
      }
      throw new ImportLeaseHeldError(id, after?.leaseOwner ?? 'another process', after?.leaseExpiresAt);
    } catch (error) {
      this.#active.delete(id);
      throw error;
    }
  }

  /** The job is no longer being claimed or run here (its row's lease is released by the store's finish/suspend/release). */
  settle(id: string): void {
    this.#active.delete(id);
  }

  /** Renews the lease every third of its length (timer unref'd); `lost` aborts when a renewal finds it taken. */
  heartbeat(id: string): { lost: AbortSignal; stop(): void } {
    const lost = new AbortController();
    let renewing = false;
    const timer = setInterval(
      () => {
        if (renewing || lost.signal.aborted) return;
        renewing = true;
        const until = new Date(this.#options.now().getTime() + this.leaseMs);
        this.#jobs
          .renew(id, this.owner, until)
          .then((held) => {
            if (!held) lost.abort(new LeaseLostError(id));
          })
          .catch((error: unknown) => this.#options.onRenewError?.(error, id))
          .finally(() => {
            renewing = false;
          });
      },
      Math.max(1, Math.floor(this.leaseMs / 3)),
    );
    timer.unref();
    return { lost: lost.signal, stop: () => clearInterval(timer) };
  }
}
