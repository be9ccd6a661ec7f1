import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BreakerRegistry } from '../../src/webhooks/breaker.js';
import { RetryBudget } from '../../src/webhooks/retry-budget.js';
import type { NextAttemptInput } from '../../src/webhooks/schedule.js';
import type { DeliveryAttempt } from '../../src/webhooks/service.js';
import { assessFailure, decideReplay, decideStreamEvent, gate, type RetryPolicy, type StreamState } from '../../src/webhooks/settlement.js';

const AT = new Date('2026-03-01T12:00:00.000Z');
const EARLIER = new Date('2026-03-01T11:00:00.000Z');
const NEXT = new Date('2026-03-01T12:00:30.000Z');

/** Retries 30 s later; a streak that began before `horizonStart` is past the horizon. */
function policy(options: { next?: Date | undefined; horizonStart?: Date } = {}) {
  const asked: NextAttemptInput[] = [];
  const retry: RetryPolicy = {
    schedule: (input) => {
      asked.push(input);
      return 'next' in options ? options.next : NEXT;
    },
    pastHorizon: (failingSince) => options.horizonStart !== undefined && failingSince.getTime() < options.horizonStart.getTime(),
  };
  return { retry, asked };
}

const attempt = { id: 'attempt-1' } as DeliveryAttempt;
const pending = { sequence: 7, attempt: 3, generation: 2, firstAttemptAt: EARLIER, replay: true };
const replayOf = (outcome: 'success' | 'retryable' | 'permanent' | 'gone', failingSince: Date | null = null) => ({
  pending,
  result: { outcome, retryAfterMs: 5_000 },
  attempt,
  at: AT,
  failingSince,
});
const state: StreamState = { cursor: 10, attempt: 2, failingSince: EARLIER };
const streamOf = (outcome: 'success' | 'retryable' | 'permanent' | 'gone', ordered = true, from: StreamState = state) => ({
  ordered,
  state: from,
  sequence: 11,
  result: { outcome, retryAfterMs: 5_000 },
  attempt,
  at: AT,
});

describe('assessFailure', () => {
  test('a 410 disables, streak unchanged', () => {
    assert.deepEqual(
      assessFailure(EARLIER, 'gone', AT, () => false),
      { failingSince: EARLIER, disable: 'gone' },
    );
  });
  test('a retryable failure starts a streak at the attempt, or continues one', () => {
    assert.deepEqual(
      assessFailure(null, 'retryable', AT, () => false),
      { failingSince: AT },
    );
    assert.deepEqual(
      assessFailure(EARLIER, 'retryable', AT, () => false),
      { failingSince: EARLIER },
    );
  });
  test('a retryable failure past the horizon disables', () => {
    assert.deepEqual(
      assessFailure(EARLIER, 'retryable', AT, () => true),
      { failingSince: EARLIER, disable: 'horizon' },
    );
  });
  test('a success or a refusal leaves the streak as it was', () => {
    assert.deepEqual(
      assessFailure(EARLIER, 'success', AT, () => true),
      { failingSince: EARLIER },
    );
    assert.deepEqual(
      assessFailure(null, 'permanent', AT, () => true),
      { failingSince: null },
    );
  });
});

describe('decideReplay', () => {
  test('delivered: the one-off is done and the streak ends', () => {
    assert.deepEqual(decideReplay(replayOf('success', EARLIER), policy().retry), {
      kind: 'delivered',
      settlement: { attempts: [attempt], replayDone: { sequence: 7, generation: 2 }, endpoint: { failingSince: null } },
    });
  });

  test('refused (4xx): the one-off is done, the streak untouched', () => {
    assert.deepEqual(decideReplay(replayOf('permanent', EARLIER), policy().retry), {
      kind: 'refused',
      settlement: { attempts: [attempt], replayDone: { sequence: 7, generation: 2 } },
    });
  });

  test('retry at T: rescheduled as the next attempt of the same request, from its first attempt', () => {
    const { retry, asked } = policy();
    assert.deepEqual(decideReplay(replayOf('retryable'), retry), {
      kind: 'retry',
      at: NEXT,
      settlement: {
        attempts: [attempt],
        endpoint: { failingSince: AT },
        replayScheduled: { sequence: 7, attempt: 4, generation: 2, firstAttemptAt: EARLIER, replay: true, nextAttemptAt: NEXT },
      },
    });
    assert.deepEqual(asked, [{ attempt: 3, firstAttemptAt: EARLIER, now: AT, retryAfterMs: 5_000 }]);
  });

  test('a first failure counts its schedule from this attempt', () => {
    const { retry, asked } = policy();
    decideReplay({ ...replayOf('retryable'), pending: { ...pending, firstAttemptAt: null } }, retry);
    assert.equal(asked[0]?.firstAttemptAt, AT);
  });

  test('give up: past its schedule, the one-off is done', () => {
    assert.deepEqual(decideReplay(replayOf('retryable', EARLIER), policy({ next: undefined }).retry), {
      kind: 'give-up',
      settlement: { attempts: [attempt], endpoint: { failingSince: EARLIER }, replayDone: { sequence: 7, generation: 2 } },
    });
  });

  test('disable: a 410, or a streak past the horizon', () => {
    assert.deepEqual(decideReplay(replayOf('gone'), policy().retry), { kind: 'disable', reason: 'gone' });
    assert.deepEqual(decideReplay(replayOf('retryable', EARLIER), policy({ horizonStart: AT }).retry), {
      kind: 'disable',
      reason: 'horizon',
    });
  });
});

describe('decideStreamEvent', () => {
  test('delivered: the cursor moves past it, the streak ends, no settlement of its own', () => {
    assert.deepEqual(decideStreamEvent(streamOf('success'), policy().retry), {
      kind: 'delivered',
      state: { cursor: 11, attempt: 1, failingSince: null },
    });
  });

  test('refused (4xx): the cursor moves past it, the streak goes on', () => {
    assert.deepEqual(decideStreamEvent(streamOf('permanent'), policy().retry), {
      kind: 'refused',
      state: { cursor: 11, attempt: 1, failingSince: EARLIER },
    });
  });

  test('ordered, retry at T: the head keeps the cursor, its attempt count grows, the endpoint waits until T', () => {
    const { retry, asked } = policy();
    assert.deepEqual(decideStreamEvent(streamOf('retryable'), retry), {
      kind: 'retry',
      at: NEXT,
      state: { cursor: 10, attempt: 3, failingSince: EARLIER },
      settlement: { attempts: [attempt], endpoint: { nextAttemptAt: NEXT } },
    });
    assert.deepEqual(asked, [{ attempt: 2, firstAttemptAt: EARLIER, now: AT, retryAfterMs: 5_000 }]);
  });

  test('ordered, a schedule that gives up: the head is retried at once', () => {
    const decision = decideStreamEvent(streamOf('retryable'), policy({ next: undefined }).retry);
    assert.equal(decision.kind, 'retry');
    assert.equal(decision.kind === 'retry' && decision.at, AT);
  });

  test('ordered, a first failure starts the streak at this attempt', () => {
    const decision = decideStreamEvent(streamOf('retryable', true, { cursor: 10, attempt: 1, failingSince: null }), policy().retry);
    assert.deepEqual(decision.kind === 'retry' && decision.state, { cursor: 10, attempt: 2, failingSince: AT });
  });

  test('unordered, park: the event becomes a one-off retry (attempt 2) and the cursor moves on', () => {
    assert.deepEqual(decideStreamEvent(streamOf('retryable', false), policy().retry), {
      kind: 'park',
      state: { cursor: 11, attempt: 1, failingSince: EARLIER },
      settlement: {
        attempts: [attempt],
        replayScheduled: { sequence: 11, attempt: 2, firstAttemptAt: AT, replay: false, nextAttemptAt: NEXT },
      },
    });
  });

  test('unordered, give up: past its schedule, only the attempt is logged and the cursor moves on', () => {
    assert.deepEqual(decideStreamEvent(streamOf('retryable', false), policy({ next: undefined }).retry), {
      kind: 'give-up',
      state: { cursor: 11, attempt: 1, failingSince: EARLIER },
      settlement: { attempts: [attempt] },
    });
  });

  test('disable: a 410, or a streak past the horizon, ordered or not', () => {
    for (const ordered of [true, false]) {
      assert.deepEqual(decideStreamEvent(streamOf('gone', ordered), policy().retry), { kind: 'disable', reason: 'gone' });
      assert.deepEqual(decideStreamEvent(streamOf('retryable', ordered), policy({ horizonStart: AT }).retry), {
        kind: 'disable',
        reason: 'horizon',
      });
    }
  });
});

describe('gate', () => {
  const now = AT.getTime();

  test('a first attempt goes, and is counted in the budget', () => {
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 0 });
    assert.deepEqual(gate('e', 1, AT, new BreakerRegistry(), budget, 1_000), { kind: 'go' });
  });

  test('breaker open: wait until its cool-down ends', () => {
    const breakers = new BreakerRegistry({ failureThreshold: 1, initialCooldownMs: 30_000 });
    breakers.recordFailure('e', now);
    assert.deepEqual(gate('e', 1, AT, breakers, new RetryBudget(), 1_000), {
      kind: 'wait',
      until: new Date(now + 30_000),
      why: 'breaker-open',
    });
  });

  test('a retry within the budget goes', () => {
    assert.deepEqual(gate('e', 2, AT, new BreakerRegistry(), new RetryBudget(), 1_000), { kind: 'go' });
  });

  test('a retry over the budget is postponed', () => {
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 0 });
    assert.deepEqual(gate('e', 2, AT, new BreakerRegistry(), budget, 1_000), {
      kind: 'wait',
      until: new Date(now + 1_000),
      why: 'over-budget',
    });
  });
});
