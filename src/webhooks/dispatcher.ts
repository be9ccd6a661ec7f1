import type { Logger } from 'pino';
import { toEventDocument, type StoredEvent } from '../events/model.js';
import { newLeaseOwner } from '../kit/lease-owner.js';
import { BreakerRegistry } from './breaker.js';
import type { DeliveryStore, PendingReplay, Settlement } from './delivery-store.js';
import type { AttemptResult, DeliveryRequest } from './http-client.js';
import type { WebhookMetrics } from './metrics.js';
import type { DeliveryAttempt } from './service.js';
import { performance } from 'node:perf_hooks';
import { activeSecrets, type WebhookEndpoint } from './model.js';
import { RetryBudget } from './retry-budget.js';
import { isPastHorizon, nextAttemptAt, type NextAttemptInput } from './schedule.js';
import {
  decideReplay,
  decideStreamEvent,
  gate,
  type DisableReason,
  type GateDecision,
  type RetryPolicy,
  type StreamState,
} from './settlement.js';
import { signedHeaders } from './signing.js';

export interface DispatcherOptions {
  readonly store: DeliveryStore;
  /** The outbound client (WebhookHttpClient); closed by its owner, not here. */
  readonly client: { deliver(request: DeliveryRequest): Promise<AttemptResult> };
  readonly logger: Logger;
  readonly newId: () => string;
  /** Endpoints delivered to at once by this instance. Default 16. */
  readonly workers?: number;
  /** How often to look for due endpoints when idle and commits are not announced (no `wakeups`, or not live). Default 50 ms. */
  readonly pollIntervalMs?: number;
  /**
   * Announcements of commits that appended events: the dispatcher claims at once instead of at
   * its next poll. Started and stopped with the dispatcher.
   */
  readonly wakeups?: Wakeups;
  /** How often to look for due endpoints when idle while `wakeups` is live: the safety net. Default 1 s. */
  readonly idlePollIntervalMs?: number;
  /** How long a claim lasts without progress; longer than one attempt's deadline. Default 60 s. */
  readonly leaseMs?: number;
  /** Events read per claim of an endpoint. Default 100. */
  readonly batchSize?: number;
  /**
   * Successful deliveries settled per transaction at most (also the most a crash can make an
   * endpoint receive twice). Default 100: at full rate a settlement per 20 was a tenth of the
   * dispatcher's CPU; `settleIntervalMs` still bounds how long a success waits.
   */
  readonly settleEvery?: number;
  /**
   * Longest time successes wait to be settled. Default 200 ms: a settlement is a transaction
   * (on SQLite, its pages written to the WAL), and at 50 ms they were an eighth of the CPU per
   * delivery while an endpoint received fewer than `settleEvery` in the interval. A crash still
   * redelivers at most `settleEvery` per endpoint; only `delivered_through` lags by up to this.
   */
  readonly settleIntervalMs?: number;
  /** How long a retry over the budget is pushed back. Default 1 s. */
  readonly budgetPostponeMs?: number;
  readonly breakers?: BreakerRegistry;
  readonly budget?: RetryBudget;
  readonly metrics?: WebhookMetrics;
  /** The retry schedule (schedule.ts); tests inject a fast one. */
  readonly schedule?: (input: NextAttemptInput) => Date | undefined;
  /** When a failure streak is too long to go on (schedule.ts's horizon by default). */
  readonly pastHorizon?: (failingSince: Date, now: Date) => boolean;
  readonly now?: () => Date;
  /**
   * The monotonic clock (ms) that times claims, settlements and the lease kept behind them;
   * performance.now() by default. Tests advance it rather than wait.
   */
  readonly monotonic?: () => number;
  /** Identifies this instance's leases; unique per process by default. */
  readonly owner?: string;
}

/**
 * Where the dispatcher hears that events were committed: in this process (events/commits.ts)
 * and, on PostgreSQL, from every instance (LISTEN, events/sql-commit-listener.ts).
 */
export interface Wakeups {
  /** Starts calling `wake` after commits that appended events (calls may be repeated or spurious). */
  start(wake: () => void): void;
  /**
   * True while every commit is announced, so the idle poll can be rare; false while an announcer
   * is down (the PostgreSQL listener reconnecting), when the dispatcher polls at `pollIntervalMs`.
   */
  readonly live: boolean;
  stop(): Promise<void>;
}

const SYSTEM_ACTOR = 'system:webhooks';
/**
 * Batches of an endpoint's stream served under one claim while more events keep coming: the
 * worker goes on without a release and a new claim, yet gives its endpoint back now and then so
 * that, with more endpoints than workers, a busy one cannot keep a worker for ever.
 */
const STREAM_ROUNDS_PER_CLAIM = 10;
/**
 * How long a busy endpoint is kept past STREAM_ROUNDS_PER_CLAIM while this instance has a free
 * worker (no endpoint can be waiting for one here). Each give-back costs a release and a claim
 * that waits for its WAL flush, on the path of the events committed meanwhile; the bound is how
 * soon a change to the endpoint's settings (URL, secrets, filter) reaches its worker.
 */
const CLAIM_HOLD_MS = 1_000;
/** The shortest time between two claims that wake-ups asked for (see #run()), and between two short reads of one endpoint's stream. */
const CLAIM_SPACING_MS = 5;

/** Bodies kept for the fan-out: a few batches of every endpoint's window at once. */
const BODIES_KEPT = 2_048;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** The longest wait between polls while the database is unavailable. */
const POLL_BACKOFF_MAX_MS = 2_000;

/**
 * Delivers events to webhook endpoints: a poller claims due endpoints with a lease (one
 * endpoint, one worker, across every instance), and a bounded pool of workers delivers each
 * claimed endpoint's events in sequence order, one attempt at a time. All delivery state lives
 * in the database (cursor, schedule, failure streak), so a restart or another instance picks up
 * where this one stopped; an expired lease (a crash) frees the endpoint for anyone.
 */
export class Dispatcher {
  readonly owner: string;
  readonly #store: DeliveryStore;
  readonly #client: DispatcherOptions['client'];
  readonly #log: Logger;
  readonly #newId: () => string;
  readonly #size: number;
  readonly #pollMs: number;
  readonly #idlePollMs: number;
  readonly #wakeups: Wakeups | undefined;
  readonly #leaseMs: number;
  readonly #batch: number;
  readonly #postponeMs: number;
  readonly #settleEvery: number;
  readonly #settleIntervalMs: number;
  readonly #breakers: BreakerRegistry;
  readonly #budget: RetryBudget;
  readonly #metrics: WebhookMetrics | undefined;
  readonly #policy: RetryPolicy;
  readonly #now: () => Date;
  readonly #monotonic: () => number;
  /** Aborts attempts in flight when the drain deadline passes. */
  readonly #abort = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  #stopping = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** A commit was announced (or a worker freed) while a claim ran: claim again instead of sleeping (coalesces a burst into one round). */
  #wakePending = false;
  /** The earliest time (epoch ms) an endpoint this instance gave back is due again (a retry, a breaker): the idle wait ends then. */
  #earliestDue = Infinity;
  /** Commits announced so far: a worker that sees it move knows its endpoint may have more events. */
  #announced = 0;
  /**
   * Moves with every announced commit and every claim that leased endpoints: a read of the newest
   * sequence started at or after a value of it has seen every commit announced, and every claim
   * made, before that value (see #newestSequence()).
   */
  #epoch = 0;
  /** The read of the newest sequence in flight, shared by the workers it can serve, and #epoch when it started. */
  #newest: { readonly epoch: number; readonly sequence: Promise<number> } | undefined;
  #lastPollError = 0;
  /** Claims that failed in a row (the database is down): the poll backs off while it grows. */
  #pollFailures = 0;
  /** Event bodies by sequence, oldest first (see #bodyOf()). */
  readonly #bodies = new Map<number, string>();

  constructor(options: DispatcherOptions) {
    this.#store = options.store;
    this.#client = options.client;
    this.#log = options.logger;
    this.#newId = options.newId;
    this.#size = options.workers ?? 16;
    this.#pollMs = options.pollIntervalMs ?? 50;
    this.#idlePollMs = options.idlePollIntervalMs ?? Math.max(this.#pollMs, 1_000);
    this.#wakeups = options.wakeups;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#batch = options.batchSize ?? 100;
    this.#postponeMs = options.budgetPostponeMs ?? 1_000;
    this.#settleEvery = options.settleEvery ?? 100;
    this.#settleIntervalMs = options.settleIntervalMs ?? 200;
    this.#breakers = options.breakers ?? new BreakerRegistry();
    this.#budget = options.budget ?? new RetryBudget();
    this.#metrics = options.metrics;
    this.#policy = { schedule: options.schedule ?? nextAttemptAt, pastHorizon: options.pastHorizon ?? isPastHorizon };
    this.#now = options.now ?? (() => new Date());
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.owner = options.owner ?? newLeaseOwner();
    if (!Number.isSafeInteger(this.#size) || this.#size < 1) throw new RangeError('workers must be a positive integer');
    this.#metrics?.observe({
      workers: this.#size,
      busyWorkers: () => this.#inFlight.size,
      breakerCounts: () => this.#breakers.counts(),
      countDue: () => this.#store.countDue(this.#now()),
    });
  }

  /** Workers delivering now. */
  get busy(): number {
    return this.#inFlight.size;
  }

  /** Starts polling and listening for commits; idempotent. */
  start(): void {
    if (this.#loop !== undefined) return;
    this.#wakeups?.start(() => this.wake());
    this.#loop = this.#run();
  }

  /**
   * Events were committed: look for due endpoints now rather than at the next poll. Cheap and
   * synchronous; wakes arriving while a claim runs make one more claim, not one each.
   */
  wake(): void {
    this.#announced++;
    this.#epoch++;
    this.#claimAgain();
  }

  /**
   * Claims once more as soon as possible: ends the loop's wait, or, while a claim is running,
   * makes the loop claim again after it (that claim may have run before the change).
   */
  #claimAgain(): void {
    this.#wakePending = true;
    this.#wake?.();
  }

  /**
   * Stops claiming, lets attempts in flight finish for up to `drainMs`, then aborts the rest
   * (their events stay due: at-least-once), and gives back every lease this instance holds.
   */
  async stop(drainMs = 5_000): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    await this.#wakeups?.stop().catch((error: unknown) => this.#log.warn({ err: error }, 'webhook wake-ups did not stop cleanly'));
    let timer: NodeJS.Timeout | undefined;
    const drained = Promise.all(this.#inFlight).then(() => true);
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), drainMs);
    });
    const finished = await Promise.race([drained, late]);
    clearTimeout(timer);
    if (!finished) {
      this.#log.warn({ in_flight: this.#inFlight.size }, 'webhook attempts still running at the drain deadline; aborting them');
      this.#abort.abort(new Error('the webhook dispatcher is stopping'));
      await Promise.all(this.#inFlight);
    }
    const released = await this.#store.releaseAll(this.owner);
    this.#log.info({ released }, 'webhook dispatcher stopped');
  }

  async #run(): Promise<void> {
    let lastClaimAt = -Infinity;
    let spaced = false;
    while (!this.#stopping) {
      // Woken (a commit, a freed worker): claims start at least CLAIM_SPACING_MS apart, so 500
      // commits a second are a claim every few milliseconds, the wakes between them coalesced.
      const sinceLast = this.#monotonic() - lastClaimAt;
      if (spaced && sinceLast < CLAIM_SPACING_MS) await sleep(CLAIM_SPACING_MS - sinceLast);
      spaced = true;
      lastClaimAt = this.#monotonic();
      this.#wakePending = false;
      const free = this.#size - this.#inFlight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          const now = this.#now();
          const endpoints = await this.#store.claim(this.owner, now, new Date(now.getTime() + this.#leaseMs), free);
          claimed = endpoints.length;
          // A worker of these must not take a newest sequence read before the claim saw its events.
          if (claimed > 0) this.#epoch++;
          for (const endpoint of endpoints) this.#spawn(endpoint);
          if (this.#pollFailures > 0) this.#log.info({ failed_polls: this.#pollFailures }, 'webhook dispatcher claims endpoints again');
          this.#pollFailures = 0;
        } catch (error) {
          this.#pollFailures++;
          // Throttled: a database outage would otherwise log 20 lines a second.
          if (Date.now() - this.#lastPollError > 10_000) {
            this.#lastPollError = Date.now();
            this.#log.warn({ err: error }, 'webhook dispatcher could not claim endpoints');
          }
        }
      }
      // Claimed a full batch: more may be due at once. Otherwise wait, but wake when a worker frees up.
      if (claimed > 0 && claimed === free) {
        spaced = false;
        continue;
      }
      // Commits announced during the claim may have made more endpoints due.
      if (this.#wakePending && this.#pollFailures === 0) continue;
      // While claims fail the wait doubles, up to POLL_BACKOFF_MAX_MS, so an outage is not
      // hammered 20 times a second; the first successful claim restores the interval. With
      // commits announced, the poll is only the safety net (another process's writes on
      // SQLite, a lost notification) and runs rarely.
      // A retry this instance scheduled ends the wait when it falls due (nothing announces it).
      const nowMs = this.#now().getTime();
      if (this.#earliestDue <= nowMs) this.#earliestDue = Infinity;
      const idleMs = Math.min(this.#wakeups?.live === true ? this.#idlePollMs : this.#pollMs, Math.max(1, this.#earliestDue - nowMs));
      const waitMs =
        this.#pollFailures === 0 ? idleMs : Math.min(POLL_BACKOFF_MAX_MS, this.#pollMs * 2 ** Math.min(this.#pollFailures, 16));
      // stop() during the claim or the spacing sleep found no #wake to call: without this check
      // the loop would sleep a whole idle poll (an hour in some tests) before it saw the stop.
      if (this.#stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  #spawn(endpoint: WebhookEndpoint): void {
    const work = this.#serve(endpoint)
      .catch((error: unknown) => {
        if (!this.#abort.signal.aborted) this.#log.warn({ err: error, endpoint_id: endpoint.id }, 'webhook delivery failed');
      })
      .finally(() => {
        this.#inFlight.delete(work);
        // A free worker, and its endpoint given back (maybe with events that came during its
        // last round): look for work now rather than at the next poll.
        this.#claimAgain();
      });
    this.#inFlight.add(work);
  }

  /** Everything due for one claimed endpoint, then the lease goes back (unless it is gone). */
  async #serve(endpoint: WebhookEndpoint): Promise<void> {
    let end: ServeEnd | undefined;
    // The claim made the lease durable (claims wait for their flush) just before.
    const claimedAt = this.#monotonic();
    const clock: ServeClock = { claimedAt, lastSettled: claimedAt, confirmed: claimedAt };
    try {
      end = (await this.#serveReplays(endpoint, clock)) ?? (await this.#serveStream(endpoint, clock));
    } finally {
      // Thrown (end undefined): released with no time, as a finished serve.
      if (end?.kind !== 'lease-gone') {
        if (end?.notBefore !== undefined) this.#earliestDue = Math.min(this.#earliestDue, end.notBefore.getTime());
        await this.#store.release(this.owner, endpoint.id, end?.notBefore).catch((error: unknown) => {
          this.#log.warn({ err: error, endpoint_id: endpoint.id }, 'webhook lease not released; it will expire');
        });
      }
    }
  }

  /** One-off deliveries first. Returns how serving ends, or undefined to go on with the stream. */
  async #serveReplays(endpoint: WebhookEndpoint, clock: ServeClock): Promise<ServeEnd | undefined> {
    const replays = await this.#store.dueReplays(endpoint.id, this.#now(), this.#batch, this.#abort.signal);
    for (const pending of replays) {
      if (this.#stopping) return undefined;
      const end = await this.#deliverReplay(endpoint, pending, clock);
      if (end !== undefined) return end;
    }
    return undefined;
  }

  /** One one-off delivery. Returns how serving ends, or undefined to go on with the next. */
  async #deliverReplay(endpoint: WebhookEndpoint, pending: PendingReplay, clock: ServeClock): Promise<ServeEnd | undefined> {
    if (pending.event === undefined) {
      // Pruned by retention since it was enqueued: nothing left to send.
      return (await this.#settle(endpoint, { replayDone: { sequence: pending.sequence, generation: pending.generation } }, clock))
        ? undefined
        : LEASE_GONE;
    }
    const gate = this.#gate(endpoint, pending.attempt);
    if (gate.kind === 'wait') return release(gate.until);
    const { result, attempt, at } = await this.#attempt(endpoint, pending.event, pending.attempt, pending.replay);
    const decision = decideReplay({ pending, result, attempt, at, failingSince: endpoint.failingSince }, this.#policy);
    if (decision.kind === 'disable') {
      await this.#disable(endpoint, decision.reason, [attempt], at);
      return LEASE_GONE;
    }
    if (!(await this.#settle(endpoint, decision.settlement, clock))) return LEASE_GONE;
    // A failing endpoint: stop here; the breaker and the schedule decide when to come back.
    return decision.kind === 'retry' || decision.kind === 'give-up' ? release(this.#now()) : undefined;
  }

  /**
   * The endpoint's own stream: events after its cursor, in order. Successes are settled in
   * small groups (every `settleEvery` deliveries or `settleIntervalMs`), one transaction each,
   * instead of one per delivery: after a crash, at most that group is delivered again. A group's
   * settlement runs behind the deliveries that follow it (see SettlementBehind): its answer is
   * awaited before the next settlement, not before the next attempt.
   */
  async #serveStream(endpoint: WebhookEndpoint, clock: ServeClock): Promise<ServeEnd> {
    const behind = new SettlementBehind(this.#leaseMs);
    try {
      return await this.#streamRounds(endpoint, clock, behind);
    } finally {
      // Thrown (an abort at stop, a failed read): the settlement still lands before the release.
      await behind.confirm().catch(() => false);
    }
  }

  async #streamRounds(endpoint: WebhookEndpoint, clock: ServeClock, behind: SettlementBehind): Promise<ServeEnd> {
    if (endpoint.nextAttemptAt.getTime() > this.#now().getTime()) return release();
    let state: StreamState = { cursor: endpoint.cursor, attempt: endpoint.attempt, failingSince: endpoint.failingSince };
    let pending: DeliveryAttempt[] = [];
    /** The state the latest settlement wrote (at first, the claimed one). */
    let settled = state;
    /** Writes the pending log rows and the state with `extra`, after the one behind; false when the lease was lost. */
    const settle = async (extra: Settlement = {}): Promise<boolean> => {
      if (!(await behind.confirm())) return false;
      const attempts = [...pending, ...(extra.attempts ?? [])];
      pending = [];
      settled = state;
      return this.#settle(endpoint, { ...extra, attempts, endpoint: { ...state, ...extra.endpoint } }, clock);
    };
    /** Starts the settlement of the pending successes and goes on delivering; false when the previous one lost the lease. */
    const settleBehind = async (): Promise<boolean> => {
      if (!(await behind.confirm())) return false;
      const attempts = pending;
      pending = [];
      settled = state;
      behind.start(this.#settle(endpoint, { attempts, endpoint: { ...state } }, clock));
      return true;
    };
    // Round after round while the stream grows (a full batch, or a commit announced meanwhile):
    // events committed while this endpoint is being served go out without a release and a claim.
    let readAt = -Infinity;
    /**
     * The next round's read, started when a round brought a full batch: what lies after it up to
     * the same newest sequence is read while the batch is delivered, not after. That round then
     * stands for one that read the newest sequence when this one did.
     */
    let next: ReadAhead | undefined;
    for (let round = 0; !this.#stopping && this.#keepsClaim(round, clock.claimedAt); round++) {
      let announced: number;
      let upTo: number;
      let events: StoredEvent[];
      if (next !== undefined && next.after === state.cursor) {
        ({ announced, upTo } = next);
        events = await next.events;
      } else {
        // After a short round (the stream caught up), the next read waits for the spacing: at a
        // steady rate a read brings several events, not one read (and one wake) per event.
        const sinceRead = this.#monotonic() - readAt;
        if (sinceRead < CLAIM_SPACING_MS) await sleep(CLAIM_SPACING_MS - sinceRead);
        readAt = this.#monotonic();
        announced = this.#announced;
        upTo = await this.#newestSequence(this.#epoch);
        events = await this.#store.eventsAfter(state.cursor, upTo, endpoint.eventTypes, this.#batch, this.#abort.signal);
      }
      next = events.length === this.#batch ? this.#readAhead(endpoint, events.at(-1)!.sequence, upTo, announced) : undefined;
      for (const event of events) {
        const gate: GateDecision = this.#stopping
          ? { kind: 'wait', until: this.#now(), why: 'stopping' }
          : this.#gate(endpoint, state.attempt);
        if (gate.kind === 'wait') return (await settle()) ? release(gate.until) : LEASE_GONE;
        // An attempt starts only within the lease the last confirmed settlement (or the claim) wrote.
        if (!behind.covers(this.#monotonic(), clock) && !(await behind.confirm())) return LEASE_GONE;
        // The endpoint as claimed: an attempt reads only its id, URL and secrets, which `state` does not change.
        const { result, attempt, at } = await this.#attempt(endpoint, event, state.attempt, false);
        const decision = decideStreamEvent(
          { ordered: endpoint.ordered, state, sequence: event.sequence, result, attempt, at },
          this.#policy,
        );
        switch (decision.kind) {
          case 'disable':
            if (!(await behind.confirm())) return LEASE_GONE;
            await this.#disable(endpoint, decision.reason, [...pending, attempt], at, { cursor: state.cursor });
            return LEASE_GONE;
          case 'retry':
            state = decision.state;
            return (await settle(decision.settlement)) ? release(decision.at) : LEASE_GONE;
          case 'park':
          case 'give-up':
            state = decision.state;
            if (!(await settle(decision.settlement))) return LEASE_GONE;
            break;
          case 'delivered':
          case 'refused':
            state = decision.state;
            pending.push(attempt);
            if (pending.length >= this.#settleEvery || this.#monotonic() - clock.lastSettled >= this.#settleIntervalMs) {
              if (!(await settleBehind())) return LEASE_GONE;
            }
            break;
        }
      }
      // Every event up to `upTo` was read: skip past the ones the filter left out.
      if (events.length < this.#batch && upTo > state.cursor) state = { ...state, cursor: upTo };
      if (events.length < this.#batch && this.#announced === announced) break;
    }
    if (pending.length > 0 || state !== settled) return (await settle()) ? release() : LEASE_GONE;
    return (await behind.confirm()) ? release() : LEASE_GONE;
  }

  /** Starts reading the events after `after` up to `upTo` (see #streamRounds()); a failed read is thrown where it is awaited. */
  #readAhead(endpoint: WebhookEndpoint, after: number, upTo: number, announced: number): ReadAhead {
    const events = this.#store.eventsAfter(after, upTo, endpoint.eventTypes, this.#batch, this.#abort.signal);
    // Left unread when the round ends early (a retry, a lost lease): no unhandled rejection.
    events.catch(() => undefined);
    return { after, upTo, announced, events };
  }

  /** Whether a worker serving a stream reads another round under its claim. */
  #keepsClaim(round: number, claimedAt: number): boolean {
    if (round < STREAM_ROUNDS_PER_CLAIM) return true;
    return this.#inFlight.size < this.#size && this.#monotonic() - claimedAt < CLAIM_HOLD_MS;
  }

  /**
   * The newest event sequence, read by a read that started at or after `epoch` (a worker's
   * snapshot of #epoch, taken before it asks): every commit announced, and every claim made,
   * before the snapshot is in what it returns, so a worker that then finds no new announcement
   * may stop reading. Workers asking while such a read is in flight share it: with 8 endpoints
   * read in step, one read instead of 8. A read that started before the snapshot is not shared
   * (it may have missed a commit announced since): a new one starts.
   */
  #newestSequence(epoch: number): Promise<number> {
    const current = this.#newest;
    if (current !== undefined && current.epoch >= epoch) return current.sequence;
    const started = { epoch: this.#epoch, sequence: this.#store.maxSequence(this.#abort.signal) };
    this.#newest = started;
    const forget = () => {
      if (this.#newest === started) this.#newest = undefined;
    };
    started.sequence.then(forget, forget);
    return started.sequence;
  }

  /**
   * The webhook body of an event: the same bytes for every endpoint and attempt, so serialised
   * once per event while it is being fanned out, not once per delivery (at 8 endpoints that was
   * 8 JSON documents built and stringified per event). Bounded: the oldest entries go first.
   */
  #bodyOf(event: StoredEvent): string {
    let body = this.#bodies.get(event.sequence);
    if (body === undefined) {
      body = JSON.stringify(toEventDocument(event));
      if (this.#bodies.size >= BODIES_KEPT) this.#bodies.delete(this.#bodies.keys().next().value!);
      this.#bodies.set(event.sequence, body);
    }
    return body;
  }

  /** gate() over this dispatcher's breakers and budget; a postponed retry is counted. */
  #gate(endpoint: WebhookEndpoint, attemptNumber: number): GateDecision {
    const decision = gate(endpoint.id, attemptNumber, this.#now(), this.#breakers, this.#budget, this.#postponeMs);
    if (decision.kind === 'wait' && decision.why === 'over-budget') this.#metrics?.retriesPostponed.inc();
    return decision;
  }

  async #attempt(endpoint: WebhookEndpoint, event: StoredEvent, attemptNumber: number, replay: boolean) {
    const at = this.#now();
    if (attemptNumber === 1 && !replay)
      this.#metrics?.deliveryLatency.observe(Math.max(0, at.getTime() - event.occurredAt.getTime()) / 1000);
    const body = this.#bodyOf(event);
    const headers = signedHeaders({ secrets: activeSecrets(endpoint.secrets, at), id: event.id, body, attemptAt: at });
    const result = await this.#client.deliver({ url: endpoint.url, headers, body, signal: this.#abort.signal });
    this.#breakers.record(endpoint.id, result.outcome, this.#now().getTime());
    this.#metrics?.attempts.inc(result.outcome);
    const attempt = {
      id: this.#newId(),
      endpointId: endpoint.id,
      eventId: event.id,
      eventSequence: event.sequence,
      attempt: attemptNumber,
      attemptedAt: at,
      outcome: result.outcome,
      status: result.status ?? null,
      latencyMs: result.latencyMs,
      errorCode: result.error?.code ?? null,
      errorMessage: result.error?.message ?? null,
      responseBody: result.responseBody,
      replay,
    };
    return { result, attempt, at };
  }

  async #disable(
    endpoint: WebhookEndpoint,
    why: DisableReason,
    attempts: readonly DeliveryAttempt[],
    at: Date,
    state: Settlement['endpoint'] = {},
  ): Promise<boolean> {
    const reason = why === 'gone' ? 'the endpoint answered 410 Gone' : 'every delivery failed for the whole retry horizon';
    this.#metrics?.endpointsDisabled.inc({ reason: why });
    this.#breakers.forget(endpoint.id, at.getTime());
    this.#log.warn({ endpoint_id: endpoint.id, reason }, 'webhook endpoint disabled');
    return this.#settle(endpoint, {
      attempts,
      endpoint: state,
      disable: {
        at,
        reason,
        event: {
          id: this.#newId(),
          type: 'webhook_endpoint.disabled',
          occurredAt: at,
          actor: SYSTEM_ACTOR,
          requestId: null,
          subjectId: endpoint.id,
          data: { endpoint_id: endpoint.id, url: endpoint.url, reason: why, detail: reason },
        },
      },
    });
  }

  /**
   * Writes `settlement` under the lease and extends it. With `clock` (a serve's), the commit may
   * skip its flush wait (Settlement.skipFlushWait) when the serve's previous settlement, or its
   * claim, started less than a quarter of a lease ago. Why that bound: a crash forgets only the
   * newest commits that skipped the wait, so the lease left on disk is at worst the one of the
   * settlement before the forgotten ones (under a quarter of a lease older), and this worker's
   * next contact with the database, where a lost lease stops it, comes within one attempt's
   * deadline (half a lease at most, src/compose) plus the settle interval: the endpoint cannot
   * be claimed by another instance while this worker still sends. After a longer gap (a slow
   * attempt) the settlement waits for its flush, as the claim does.
   */
  async #settle(endpoint: WebhookEndpoint, settlement: Settlement, clock?: ServeClock): Promise<boolean> {
    const leaseUntil = new Date(this.#now().getTime() + this.#leaseMs);
    const startedAt = this.#monotonic();
    const skipFlushWait = clock !== undefined && startedAt - clock.lastSettled < this.#leaseMs / 4;
    if (clock !== undefined) clock.lastSettled = startedAt;
    const held = await this.#store.settle(this.owner, endpoint.id, { ...settlement, skipFlushWait }, leaseUntil);
    if (held && clock !== undefined) clock.confirmed = startedAt;
    if (!held) this.#log.warn({ endpoint_id: endpoint.id }, 'webhook lease was lost (expired and taken over, or endpoint deleted)');
    return held;
  }
}

/** How serving a claimed endpoint ends. */
type ServeEnd =
  /** Give the lease back; with `notBefore`, the endpoint is not due before then. */
  | { readonly kind: 'release'; readonly notBefore?: Date | undefined }
  /** Nothing to give back: the settlement disabled the endpoint (and let the lease go), or found the lease lost. */
  | { readonly kind: 'lease-gone' };

const LEASE_GONE: ServeEnd = { kind: 'lease-gone' };

/** A stream round's read started before the round (Dispatcher.#readAhead()). */
interface ReadAhead {
  /** The cursor it reads after. */
  readonly after: number;
  readonly upTo: number;
  /** Dispatcher.#announced when `upTo` was asked for. */
  readonly announced: number;
  readonly events: Promise<StoredEvent[]>;
}

/** One serve of a claimed endpoint. */
interface ServeClock {
  /** When the endpoint was claimed, by the dispatcher's monotonic clock. */
  readonly claimedAt: number;
  /** When its latest settlement (at first, its claim) started, by that clock. */
  lastSettled: number;
  /** When the latest settlement known to have held the lease (at first, the claim) started, by that clock. */
  confirmed: number;
}

/**
 * A stream's settlement left to run while the worker goes on delivering. Awaiting each group's
 * transaction before the next attempt stalled every endpoint for a commit per group: a sixth of
 * each worker's time in the PostgreSQL drain (bench/RESULTS.md, issue 16 ninth pass). At most
 * one is in flight per serve, so an endpoint's settlements still land in order, one at a time.
 *
 * Why the lease still covers every attempt: an attempt starts behind a settlement only while the
 * latest confirmed one (or the claim) started less than an eighth of a lease ago (covers()).
 * Should a crash forget that confirmed commit (it may skip its flush wait, Dispatcher.#settle()),
 * the lease on disk is the one before it, written less than a quarter of a lease earlier; so an
 * attempt (half a lease at most) ends within 7/8 of that lease, an eighth to spare. Past that the
 * worker waits for the answer, where a lost lease stops it. A lost lease found late costs the
 * attempts made meanwhile their log rows; they are delivered again by whoever holds the endpoint
 * next (at least once).
 */
class SettlementBehind {
  #running: Promise<boolean> | undefined;
  readonly #eighthLease: number;

  constructor(leaseMs: number) {
    this.#eighthLease = leaseMs / 8;
  }

  start(held: Promise<boolean>): void {
    // Observed now so that a serve ending by a throw leaves no unhandled rejection; confirm() rethrows.
    held.catch(() => undefined);
    this.#running = held;
  }

  /** Whether an attempt may start at `now` without the running settlement's answer. */
  covers(now: number, clock: ServeClock): boolean {
    return this.#running === undefined || now - clock.confirmed < this.#eighthLease;
  }

  /** Waits for the running settlement: false when it found the lease lost. */
  async confirm(): Promise<boolean> {
    const running = this.#running;
    if (running === undefined) return true;
    this.#running = undefined;
    return running;
  }
}

function release(notBefore?: Date): ServeEnd {
  return { kind: 'release', notBefore };
}
