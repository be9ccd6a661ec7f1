// What the dispatcher does with one attempt's outcome, decided apart from doing it: pure
// functions of the attempt, the endpoint's delivery state and the retry policy, returning a
// decision the dispatcher's loop executes (a settlement to write, and whether to go on).
import type { BreakerRegistry } from './breaker.js';
import type { PendingReplay, Settlement } from './delivery-store.js';
import type { AttemptOutcome } from './http-client.js';
import type { RetryBudget } from './retry-budget.js';
import type { NextAttemptInput } from './schedule.js';
import type { DeliveryAttempt } from './service.js';

/** Why an endpoint is disabled: it answered 410 Gone, or failed for the whole retry horizon. */
export type DisableReason = 'gone' | 'horizon';

/** The retry schedule and horizon the decisions follow (schedule.ts's in production; tests inject fast ones). */
export interface RetryPolicy {
  readonly schedule: (input: NextAttemptInput) => Date | undefined;
  readonly pastHorizon: (failingSince: Date, now: Date) => boolean;
}

/** What the receiver answered, as far as the decisions care. */
export interface AttemptOutcomeInput {
  readonly outcome: AttemptOutcome;
  readonly retryAfterMs?: number | undefined;
}

/** The endpoint's failure streak after an attempt, and whether the attempt ends the endpoint. */
export interface FailureStreak {
  readonly failingSince: Date | null;
  readonly disable?: DisableReason;
}

/**
 * A 410 disables the endpoint; a retryable failure starts (or continues) the streak, and one
 * that has lasted the horizon disables it; anything else leaves the streak as it was.
 */
export function assessFailure(
  failingSince: Date | null,
  outcome: AttemptOutcome,
  at: Date,
  pastHorizon: RetryPolicy['pastHorizon'],
): FailureStreak {
  if (outcome === 'gone') return { failingSince, disable: 'gone' };
  if (outcome !== 'retryable') return { failingSince };
  const since = failingSince ?? at;
  return pastHorizon(since, at) ? { failingSince: since, disable: 'horizon' } : { failingSince: since };
}

/** One attempt of a one-off delivery (a replay, or a parked retry of an unordered endpoint). */
export interface ReplayAttempt {
  readonly pending: Omit<PendingReplay, 'event'>;
  readonly result: AttemptOutcomeInput;
  /** Its delivery log row. */
  readonly attempt: DeliveryAttempt;
  readonly at: Date;
  /** The endpoint's failure streak before the attempt. */
  readonly failingSince: Date | null;
}

/** What to do after a one-off delivery's attempt. */
export type ReplayDecision =
  /** Disable the endpoint (the settlement gives the lease up). */
  | { readonly kind: 'disable'; readonly reason: DisableReason }
  /** Delivered: the one-off is done and the endpoint's streak ends; go on with the next. */
  | { readonly kind: 'delivered'; readonly settlement: Settlement }
  /** Refused for good (4xx): the one-off is done; go on with the next. */
  | { readonly kind: 'refused'; readonly settlement: Settlement }
  /** Failed: the one-off is rescheduled for `at`; stop serving the endpoint for now. */
  | { readonly kind: 'retry'; readonly at: Date; readonly settlement: Settlement }
  /** Failed past its schedule: the one-off is given up; stop serving the endpoint for now. */
  | { readonly kind: 'give-up'; readonly settlement: Settlement };

export function decideReplay({ pending, result, attempt, at, failingSince }: ReplayAttempt, policy: RetryPolicy): ReplayDecision {
  const streak = assessFailure(failingSince, result.outcome, at, policy.pastHorizon);
  if (streak.disable) return { kind: 'disable', reason: streak.disable };
  const done = taken(pending);
  if (result.outcome === 'success') {
    return { kind: 'delivered', settlement: { attempts: [attempt], replayDone: done, endpoint: { failingSince: null } } };
  }
  if (result.outcome !== 'retryable') return { kind: 'refused', settlement: { attempts: [attempt], replayDone: done } };
  const firstAttemptAt = pending.firstAttemptAt ?? at;
  const next = policy.schedule({ attempt: pending.attempt, firstAttemptAt, now: at, retryAfterMs: result.retryAfterMs });
  const failed = { attempts: [attempt], endpoint: { failingSince: streak.failingSince } };
  if (next === undefined) return { kind: 'give-up', settlement: { ...failed, replayDone: done } };
  return {
    kind: 'retry',
    at: next,
    settlement: {
      ...failed,
      replayScheduled: {
        sequence: pending.sequence,
        attempt: pending.attempt + 1,
        generation: pending.generation,
        firstAttemptAt,
        replay: pending.replay,
        nextAttemptAt: next,
      },
    },
  };
}

/** Where an endpoint is in its own stream of events. */
export interface StreamState {
  /** The last event handled. */
  readonly cursor: number;
  /** The attempt number of the event after the cursor. */
  readonly attempt: number;
  readonly failingSince: Date | null;
}

/** One attempt of the event after the cursor. */
export interface StreamAttempt {
  readonly ordered: boolean;
  readonly state: StreamState;
  readonly sequence: number;
  readonly result: AttemptOutcomeInput;
  /** Its delivery log row. */
  readonly attempt: DeliveryAttempt;
  readonly at: Date;
}

/**
 * What to do after an attempt of the event after the cursor. `state` is the endpoint's state
 * from then on; a `settlement` is written at once, together with that state (and the log rows
 * still waiting to be settled).
 */
export type StreamDecision =
  /** Disable the endpoint (the settlement gives the lease up). */
  | { readonly kind: 'disable'; readonly reason: DisableReason }
  /** Delivered, or refused for good (4xx): the cursor moves past it; its log row joins the next group settlement. */
  | { readonly kind: 'delivered' | 'refused'; readonly state: StreamState }
  /** Ordered: the head failed; it and everything behind it wait until `at`. Stop serving the endpoint. */
  | { readonly kind: 'retry'; readonly at: Date; readonly state: StreamState; readonly settlement: Settlement }
  /** Unordered: the event is parked as a one-off retry and the cursor moves on; go on with the next. */
  | { readonly kind: 'park'; readonly state: StreamState; readonly settlement: Settlement }
  /** Unordered, past its schedule: the event is given up (its attempt logged) and the cursor moves on. */
  | { readonly kind: 'give-up'; readonly state: StreamState; readonly settlement: Settlement };

export function decideStreamEvent({ ordered, state, sequence, result, attempt, at }: StreamAttempt, policy: RetryPolicy): StreamDecision {
  const streak = assessFailure(state.failingSince, result.outcome, at, policy.pastHorizon);
  if (streak.disable) return { kind: 'disable', reason: streak.disable };
  if (result.outcome !== 'retryable') {
    const failingSince = result.outcome === 'success' ? null : state.failingSince;
    return { kind: result.outcome === 'success' ? 'delivered' : 'refused', state: { cursor: sequence, attempt: 1, failingSince } };
  }
  const next = policy.schedule({
    attempt: state.attempt,
    firstAttemptAt: streak.failingSince ?? at,
    now: at,
    retryAfterMs: result.retryAfterMs,
  });
  if (ordered) {
    // A schedule that gives up on the head (a custom one; the default's horizon disabled the endpoint above) retries it at once.
    const retryAt = next ?? at;
    return {
      kind: 'retry',
      at: retryAt,
      state: { ...state, attempt: state.attempt + 1, failingSince: streak.failingSince },
      settlement: { attempts: [attempt], endpoint: { nextAttemptAt: retryAt } },
    };
  }
  const moved = { cursor: sequence, attempt: 1, failingSince: streak.failingSince };
  if (next === undefined) return { kind: 'give-up', state: moved, settlement: { attempts: [attempt] } };
  return {
    kind: 'park',
    state: moved,
    settlement: { attempts: [attempt], replayScheduled: { sequence, attempt: 2, firstAttemptAt: at, replay: false, nextAttemptAt: next } },
  };
}

/** Whether an attempt may go now. */
export type GateDecision =
  | { readonly kind: 'go' }
  /** Not now: come back at `until`. */
  | { readonly kind: 'wait'; readonly until: Date; readonly why: 'breaker-open' | 'over-budget' | 'stopping' };

/**
 * The endpoint's breaker must allow the attempt, and a retry (attempt > 1) must fit the global
 * retry budget; over it, the retry is postponed by `postponeMs`. Asking reserves what it grants
 * (a half-open breaker's probe, a retry's share of the budget), and a first attempt is counted.
 */
export function gate(
  endpointId: string,
  attemptNumber: number,
  now: Date,
  breakers: Pick<BreakerRegistry, 'canAttempt'>,
  budget: Pick<RetryBudget, 'tryRetry' | 'recordFirstAttempt'>,
  postponeMs: number,
): GateDecision {
  const permission = breakers.canAttempt(endpointId, now.getTime());
  if (!permission.allowed) return { kind: 'wait', until: new Date(permission.retryAt), why: 'breaker-open' };
  if (attemptNumber > 1) {
    // A probe reserved above and not used: the breaker presumes it lost after its lease.
    if (!budget.tryRetry(now.getTime())) return { kind: 'wait', until: new Date(now.getTime() + postponeMs), why: 'over-budget' };
  } else {
    budget.recordFirstAttempt(now.getTime());
  }
  return { kind: 'go' };
}

/** The one-off delivery a settlement finishes: this sequence, as requested when it was taken. */
function taken(pending: Omit<PendingReplay, 'event'>): { sequence: number; generation: number } {
  return { sequence: pending.sequence, generation: pending.generation };
}
