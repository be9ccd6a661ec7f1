import type { NewEvent, StoredEvent } from '../events/model.js';
import type { EventType } from '../events/model.js';
import type { WebhookEndpoint } from './model.js';
import type { DeliveryAttempt } from './service.js';

/** A pending one-off delivery: a replay, or a parked retry of an unordered endpoint. */
export interface PendingReplay {
  readonly sequence: number;
  readonly attempt: number;
  /**
   * Which request this is: a replay asked for while this one is in flight bumps it, so settling
   * the delivery in flight must not remove (or postpone) the newer request.
   */
  readonly generation: number;
  readonly firstAttemptAt: Date | null;
  /** True when a caller asked for it; false for a parked retry. */
  readonly replay: boolean;
  /** undefined when retention pruned the event meanwhile. */
  readonly event: StoredEvent | undefined;
}

/** What one attempt changes, written in one transaction (only while the caller holds the lease). */
export interface Settlement {
  /** The delivery log rows, oldest first. */
  readonly attempts?: readonly DeliveryAttempt[];
  /** The endpoint's delivery state. */
  readonly endpoint?: {
    readonly cursor?: number;
    readonly attempt?: number;
    readonly failingSince?: Date | null;
    readonly nextAttemptAt?: Date;
  };
  /** Disables the endpoint and appends its `webhook_endpoint.disabled` event. */
  readonly disable?: { readonly at: Date; readonly reason: string; readonly event: NewEvent };
  /** A one-off delivery that is finished (delivered, refused or given up). */
  readonly replayDone?: { readonly sequence: number; readonly generation: number };
  /**
   * A one-off delivery to (re)schedule: inserted, or updated when it exists — for a taken
   * delivery (`generation` given) only if no newer request arrived meanwhile.
   */
  readonly replayScheduled?: Omit<PendingReplay, 'event' | 'generation'> & { readonly nextAttemptAt: Date; readonly generation?: number };
  /**
   * The commit need not wait until it is on disk (PostgreSQL: synchronous_commit off for this
   * transaction alone; SQLite: no effect). A server crash may then forget it, which only sends
   * its deliveries again: the caller says so only while the lease it last made durable still
   * covers its next settlement (see Dispatcher #settle()). Ignored with `disable`, which appends
   * an event: events are always durable.
   */
  readonly skipFlushWait?: boolean;
}

/** The dispatcher's storage port. Adapter: SqlDeliveryStore (sql-delivery-store.ts). */
export interface DeliveryStore {
  /**
   * Leases up to `limit` enabled endpoints that have work due at `now` (events after their
   * cursor, or due one-off deliveries) and are not leased by anyone (or whose lease expired).
   * No endpoint is leased to two owners at once.
   */
  claim(owner: string, now: Date, leaseUntil: Date, limit: number, signal?: AbortSignal): Promise<WebhookEndpoint[]>;
  /** How many endpoints have work due now (leased or not): the queue depth. */
  countDue(now: Date): Promise<number>;
  /** The newest event sequence (0 when none): every lower sequence is final (commit order). */
  maxSequence(signal?: AbortSignal): Promise<number>;
  /** Events with after < seq <= upTo, of `types` (null: all), oldest first. */
  eventsAfter(after: number, upTo: number, types: readonly EventType[] | null, limit: number, signal?: AbortSignal): Promise<StoredEvent[]>;
  dueReplays(endpointId: string, now: Date, limit: number, signal?: AbortSignal): Promise<PendingReplay[]>;
  /** Applies `settlement` and extends the lease to `leaseUntil`; false (nothing written) if the lease is no longer ours. */
  settle(owner: string, endpointId: string, settlement: Settlement, leaseUntil: Date): Promise<boolean>;
  /**
   * Gives the lease back; with `nextAttemptAt`, the endpoint is not due before then. On
   * PostgreSQL the commit does not wait for its WAL flush: a release a crash forgets leaves the
   * lease to expire (the endpoint waits up to a lease) and an earlier retry; nothing is lost.
   */
  release(owner: string, endpointId: string, nextAttemptAt?: Date): Promise<void>;
  /** Gives back every lease `owner` holds; returns how many. */
  releaseAll(owner: string): Promise<number>;
}
