// Per-endpoint circuit breakers, in a registry of our own rather than one cockatiel
// CircuitBreakerPolicy per endpoint. The dispatcher does not run deliveries inside a policy: it
// claims due rows from the database, and needs to ask "may this endpoint be attempted now, and
// if not, when?" so it can leave (or push back) that endpoint's rows instead of claiming them.
// cockatiel answers only by running or refusing a function, keeps its own clock (Date.now),
// and its state is per policy object; here the clock is an argument (tests pin it), the
// answer carries the next probe time, the state is a plain JSON-able snapshot the dispatcher
// can persist, and the registry is bounded. What remains is a small state machine.

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Why a breaker changed state; for logs. */
export type BreakerTransitionReason =
  'failures' | 'probe-failed' | 'cool-down-elapsed' | 'probe-lost' | 'success' | 'evicted' | 'forgotten' | 'restored';

export interface BreakerStateChange {
  readonly endpointId: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly reason: BreakerTransitionReason;
  readonly at: number;
  /** When the endpoint may be attempted next, for transitions to open. */
  readonly retryAt?: number;
}

/** One endpoint's breaker as plain data: what the dispatcher may persist and restore. */
export interface BreakerSnapshot {
  readonly state: BreakerState;
  readonly consecutiveFailures: number;
  /** Open: when the next probe may go. Half-open: when an unanswered probe is presumed lost. */
  readonly retryAt?: number;
  /** The cool-down of the latest opening; a failed probe doubles it, up to the maximum. */
  readonly cooldownMs: number;
}

export type AttemptPermission =
  | { readonly allowed: true; /** This attempt is the half-open probe: report its result. */ readonly probe: boolean }
  | { readonly allowed: false; readonly retryAt: number };

/** What an attempt's result means to the breaker (the outcomes of AttemptResult). */
export type BreakerOutcome = 'success' | 'retryable' | 'permanent' | 'gone';

export interface BreakerOptions {
  /** Consecutive failed attempts that open the breaker. Default 5. */
  readonly failureThreshold?: number;
  /** Cool-down after the first opening. Default 30 s. */
  readonly initialCooldownMs?: number;
  /** Longest cool-down, however often probes fail. Default 10 min. */
  readonly maxCooldownMs?: number;
  /** A probe not reported within this time is presumed lost and another is allowed. Default 1 min. */
  readonly probeLeaseMs?: number;
  /** Endpoints tracked at most; the least recently seen is dropped first. Default 10,000. */
  readonly maxEndpoints?: number;
  /** An endpoint not seen for this long is dropped. Default 24 h. */
  readonly idleAfterMs?: number;
  /** Called on every state change (metrics, logs). Must not throw. */
  readonly onStateChange?: (change: BreakerStateChange) => void;
}

interface Entry {
  state: BreakerState;
  consecutiveFailures: number;
  retryAt: number | undefined;
  cooldownMs: number;
  lastSeenAt: number;
}

/**
 * Circuit breakers keyed by endpoint id. Closed: attempts go through; after `failureThreshold`
 * consecutive failures it opens. Open: nothing is attempted until its cool-down ends; then one
 * probe is let through (half-open). The probe's success closes it; its failure reopens it with
 * twice the cool-down, capped. Only endpoints with failures are stored: a healthy endpoint costs
 * nothing, and forgetting one is the same as it being closed.
 */
export class BreakerRegistry {
  readonly #failureThreshold: number;
  readonly #initialCooldownMs: number;
  readonly #maxCooldownMs: number;
  readonly #probeLeaseMs: number;
  readonly #maxEndpoints: number;
  readonly #idleAfterMs: number;
  readonly #onStateChange: ((change: BreakerStateChange) => void) | undefined;
  /** In least-recently-seen order: every touch moves an entry to the end. */
  readonly #entries = new Map<string, Entry>();

  constructor(options: BreakerOptions = {}) {
    this.#failureThreshold = positive(options.failureThreshold ?? 5, 'failureThreshold');
    this.#initialCooldownMs = positive(options.initialCooldownMs ?? 30_000, 'initialCooldownMs');
    this.#maxCooldownMs = Math.max(positive(options.maxCooldownMs ?? 600_000, 'maxCooldownMs'), this.#initialCooldownMs);
    this.#probeLeaseMs = positive(options.probeLeaseMs ?? 60_000, 'probeLeaseMs');
    this.#maxEndpoints = positive(options.maxEndpoints ?? 10_000, 'maxEndpoints');
    this.#idleAfterMs = positive(options.idleAfterMs ?? 24 * 3_600_000, 'idleAfterMs');
    this.#onStateChange = options.onStateChange;
  }

  /**
   * Whether an attempt to this endpoint may start now; if not, the earliest time to ask again.
   * While half-open, the call that is allowed reserves the one probe: its caller must report
   * the result (or the probe is presumed lost after `probeLeaseMs`).
   */
  canAttempt(endpointId: string, now: number): AttemptPermission {
    const entry = this.#touch(endpointId, now);
    if (entry === undefined || entry.state === 'closed') return { allowed: true, probe: false };
    const retryAt = entry.retryAt ?? now;
    if (now < retryAt) return { allowed: false, retryAt };
    const reason = entry.state === 'open' ? 'cool-down-elapsed' : 'probe-lost';
    entry.retryAt = now + this.#probeLeaseMs;
    this.#transition(endpointId, entry, 'half-open', reason, now);
    return { allowed: true, probe: true };
  }

  /** Records an attempt's outcome: success and refusals (4xx) show the endpoint alive; 410 forgets it. */
  record(endpointId: string, outcome: BreakerOutcome, now: number): void {
    if (outcome === 'retryable') this.recordFailure(endpointId, now);
    else if (outcome === 'gone') this.forget(endpointId, now);
    else this.recordSuccess(endpointId, now);
  }

  /** The endpoint answered: it closes (even from open, when an attempt from before the opening succeeds). */
  recordSuccess(endpointId: string, now: number): void {
    const entry = this.#touch(endpointId, now);
    if (entry === undefined) return;
    this.#entries.delete(endpointId);
    if (entry.state !== 'closed') this.#emit(endpointId, entry.state, 'closed', 'success', now);
  }

  /** The endpoint failed an attempt: count it, open when the threshold is reached, reopen a failed probe. */
  recordFailure(endpointId: string, now: number): void {
    let entry = this.#touch(endpointId, now);
    if (entry === undefined) {
      entry = { state: 'closed', consecutiveFailures: 0, retryAt: undefined, cooldownMs: this.#initialCooldownMs, lastSeenAt: now };
      this.#entries.set(endpointId, entry);
      this.#evictOverflow(now);
    }
    entry.consecutiveFailures++;
    if (entry.state === 'half-open') {
      entry.cooldownMs = Math.min(entry.cooldownMs * 2, this.#maxCooldownMs);
      entry.retryAt = now + entry.cooldownMs;
      this.#transition(endpointId, entry, 'open', 'probe-failed', now);
    } else if (entry.state === 'closed' && entry.consecutiveFailures >= this.#failureThreshold) {
      entry.cooldownMs = this.#initialCooldownMs;
      entry.retryAt = now + entry.cooldownMs;
      this.#transition(endpointId, entry, 'open', 'failures', now);
    }
    // Open: a late failure from an attempt started before the opening changes nothing.
  }

  /** The endpoint's breaker as data (closed with no failures when it is not tracked). */
  snapshot(endpointId: string): BreakerSnapshot {
    const entry = this.#entries.get(endpointId);
    if (entry === undefined) return { state: 'closed', consecutiveFailures: 0, cooldownMs: this.#initialCooldownMs };
    return {
      state: entry.state,
      consecutiveFailures: entry.consecutiveFailures,
      cooldownMs: entry.cooldownMs,
      ...(entry.retryAt !== undefined ? { retryAt: entry.retryAt } : {}),
    };
  }

  /** Puts back a persisted breaker (e.g. at start-up, or from another instance's view). */
  restore(endpointId: string, snapshot: BreakerSnapshot, now: number): void {
    const from = this.#entries.get(endpointId)?.state ?? 'closed';
    this.#entries.delete(endpointId);
    if (snapshot.state === 'closed' && snapshot.consecutiveFailures === 0) {
      if (from !== 'closed') this.#emit(endpointId, from, 'closed', 'restored', now);
      return;
    }
    const cooldownMs = Math.min(Math.max(snapshot.cooldownMs, this.#initialCooldownMs), this.#maxCooldownMs);
    const entry: Entry = {
      state: snapshot.state,
      consecutiveFailures: Math.max(0, Math.floor(snapshot.consecutiveFailures)),
      retryAt: snapshot.state === 'closed' ? undefined : (snapshot.retryAt ?? now),
      cooldownMs,
      lastSeenAt: now,
    };
    this.#entries.set(endpointId, entry);
    if (from !== entry.state) this.#emit(endpointId, from, entry.state, 'restored', now, entry.retryAt);
    this.#evictOverflow(now);
  }

  /** Drops an endpoint's breaker (endpoint deleted, disabled, or answered 410). */
  forget(endpointId: string, now: number): void {
    const entry = this.#entries.get(endpointId);
    if (entry === undefined) return;
    this.#entries.delete(endpointId);
    if (entry.state !== 'closed') this.#emit(endpointId, entry.state, 'closed', 'forgotten', now);
  }

  /** The state of one endpoint. */
  state(endpointId: string): BreakerState {
    return this.#entries.get(endpointId)?.state ?? 'closed';
  }

  /** Every tracked endpoint that is not closed, with its state: for metrics and admin views. */
  states(): Map<string, BreakerState> {
    const result = new Map<string, BreakerState>();
    for (const [id, entry] of this.#entries) if (entry.state !== 'closed') result.set(id, entry.state);
    return result;
  }

  /** How many tracked endpoints are open and half-open (closed ones are not counted: they are not stored). */
  counts(): { open: number; halfOpen: number } {
    let open = 0;
    let halfOpen = 0;
    for (const entry of this.#entries.values()) {
      if (entry.state === 'open') open++;
      else if (entry.state === 'half-open') halfOpen++;
    }
    return { open, halfOpen };
  }

  /** Endpoints tracked now (all have had recent failures). */
  get size(): number {
    return this.#entries.size;
  }

  /** Drops endpoints not seen for `idleAfterMs`; also done as a side effect of every call. */
  evictIdle(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (now - entry.lastSeenAt < this.#idleAfterMs) break; // the rest were seen more recently
      this.#entries.delete(id);
      if (entry.state !== 'closed') this.#emit(id, entry.state, 'closed', 'evicted', now);
    }
  }

  #touch(endpointId: string, now: number): Entry | undefined {
    this.evictIdle(now);
    const entry = this.#entries.get(endpointId);
    if (entry === undefined) return undefined;
    this.#entries.delete(endpointId);
    this.#entries.set(endpointId, entry);
    entry.lastSeenAt = Math.max(entry.lastSeenAt, now);
    return entry;
  }

  #evictOverflow(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEndpoints) break;
      this.#entries.delete(id);
      if (entry.state !== 'closed') this.#emit(id, entry.state, 'closed', 'evicted', now);
    }
  }

  #transition(endpointId: string, entry: Entry, to: BreakerState, reason: BreakerTransitionReason, now: number): void {
    const from = entry.state;
    entry.state = to;
    this.#emit(endpointId, from, to, reason, now, to === 'open' ? entry.retryAt : undefined);
  }

  #emit(endpointId: string, from: BreakerState, to: BreakerState, reason: BreakerTransitionReason, at: number, retryAt?: number): void {
    this.#onStateChange?.({ endpointId, from, to, reason, at, ...(retryAt !== undefined ? { retryAt } : {}) });
  }
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number`);
  return value;
}
