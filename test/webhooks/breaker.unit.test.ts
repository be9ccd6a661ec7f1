import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BreakerRegistry, type BreakerOptions, type BreakerStateChange } from '../../src/webhooks/breaker.js';

const SECOND = 1000;

/** A registry with a small threshold and a log of its state changes. */
function registry(options: BreakerOptions = {}) {
  const changes: BreakerStateChange[] = [];
  const breakers = new BreakerRegistry({
    failureThreshold: 3,
    initialCooldownMs: 10 * SECOND,
    maxCooldownMs: 60 * SECOND,
    probeLeaseMs: 5 * SECOND,
    onStateChange: (change) => changes.push(change),
    ...options,
  });
  const transitions = () => changes.map((c) => `${c.from}→${c.to}:${c.reason}`);
  return { breakers, changes, transitions };
}

function failTimes(breakers: BreakerRegistry, id: string, times: number, now: number): void {
  for (let i = 0; i < times; i++) breakers.recordFailure(id, now);
}

describe('BreakerRegistry', () => {
  test('an unknown endpoint is closed and may be attempted; healthy endpoints are not stored', () => {
    const { breakers } = registry();
    assert.deepEqual(breakers.canAttempt('a', 0), { allowed: true, probe: false });
    breakers.recordSuccess('a', 0);
    assert.equal(breakers.state('a'), 'closed');
    assert.equal(breakers.size, 0);
  });

  test('opens after N consecutive failures and refuses until the cool-down ends', () => {
    const { breakers, changes } = registry();
    failTimes(breakers, 'a', 2, 0);
    assert.equal(breakers.state('a'), 'closed');
    assert.equal(breakers.canAttempt('a', 0).allowed, true);
    breakers.recordFailure('a', 1000);
    assert.equal(breakers.state('a'), 'open');
    assert.deepEqual(changes, [{ endpointId: 'a', from: 'closed', to: 'open', reason: 'failures', at: 1000, retryAt: 11_000 }]);
    assert.deepEqual(breakers.canAttempt('a', 10_999), { allowed: false, retryAt: 11_000 });
  });

  test('a success in between resets the count: failures must be consecutive', () => {
    const { breakers } = registry();
    failTimes(breakers, 'a', 2, 0);
    breakers.recordSuccess('a', 1);
    failTimes(breakers, 'a', 2, 2);
    assert.equal(breakers.state('a'), 'closed');
    breakers.recordFailure('a', 3);
    assert.equal(breakers.state('a'), 'open');
  });

  test('after the cool-down exactly one probe is let through (half-open); its success closes', () => {
    const { breakers, transitions } = registry();
    failTimes(breakers, 'a', 3, 0);
    assert.deepEqual(breakers.canAttempt('a', 10_000), { allowed: true, probe: true });
    assert.equal(breakers.state('a'), 'half-open');
    assert.deepEqual(breakers.canAttempt('a', 10_001), { allowed: false, retryAt: 15_000 }, 'a second caller waits for the probe');
    breakers.recordSuccess('a', 10_500);
    assert.equal(breakers.state('a'), 'closed');
    assert.equal(breakers.canAttempt('a', 10_501).allowed, true);
    assert.deepEqual(transitions(), ['closed→open:failures', 'open→half-open:cool-down-elapsed', 'half-open→closed:success']);
  });

  test('a failed probe reopens with twice the cool-down, capped at the maximum', () => {
    const { breakers } = registry();
    failTimes(breakers, 'a', 3, 0);
    let now = 0;
    const cooldowns: number[] = [];
    for (let round = 0; round < 6; round++) {
      const denied = breakers.canAttempt('a', now);
      assert.equal(denied.allowed, false);
      if (denied.allowed) return;
      cooldowns.push(denied.retryAt - now);
      now = denied.retryAt;
      assert.deepEqual(breakers.canAttempt('a', now), { allowed: true, probe: true });
      breakers.recordFailure('a', now);
    }
    assert.deepEqual(cooldowns, [10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
  });

  test('after closing, the next opening starts from the initial cool-down again', () => {
    const { breakers } = registry();
    failTimes(breakers, 'a', 3, 0);
    breakers.canAttempt('a', 10_000);
    breakers.recordFailure('a', 10_000); // reopened for 20 s
    breakers.canAttempt('a', 30_000);
    breakers.recordSuccess('a', 30_000);
    failTimes(breakers, 'a', 3, 40_000);
    assert.deepEqual(breakers.canAttempt('a', 40_000), { allowed: false, retryAt: 50_000 });
  });

  test('a probe whose result never comes is presumed lost after the lease, and another is allowed', () => {
    const { breakers, transitions } = registry();
    failTimes(breakers, 'a', 3, 0);
    assert.equal(breakers.canAttempt('a', 10_000).allowed, true);
    assert.equal(breakers.canAttempt('a', 14_999).allowed, false);
    assert.deepEqual(breakers.canAttempt('a', 15_000), { allowed: true, probe: true });
    assert.deepEqual(transitions().at(-1), 'half-open→half-open:probe-lost');
  });

  test('late results from attempts started before the opening: a failure changes nothing, a success closes', () => {
    const { breakers } = registry();
    failTimes(breakers, 'a', 3, 0);
    breakers.recordFailure('a', 1);
    assert.deepEqual(breakers.canAttempt('a', 2), { allowed: false, retryAt: 10_000 });
    breakers.recordSuccess('a', 3);
    assert.equal(breakers.state('a'), 'closed');
  });

  test('record() maps attempt outcomes: retryable fails, success and 4xx refusals close, gone forgets', () => {
    const { breakers } = registry();
    for (let i = 0; i < 3; i++) breakers.record('a', 'retryable', 0);
    assert.equal(breakers.state('a'), 'open');
    breakers.record('a', 'permanent', 1);
    assert.equal(breakers.state('a'), 'closed');
    for (let i = 0; i < 3; i++) breakers.record('b', 'retryable', 0);
    breakers.record('b', 'gone', 1);
    assert.equal(breakers.size, 0);
  });

  test('endpoints are independent: one dead endpoint does not affect another', () => {
    const { breakers } = registry();
    failTimes(breakers, 'dead', 10, 0);
    assert.equal(breakers.canAttempt('dead', 1).allowed, false);
    assert.equal(breakers.canAttempt('healthy', 1).allowed, true);
  });

  test('states() and counts() show the endpoints that are not closed', () => {
    const { breakers } = registry();
    failTimes(breakers, 'a', 3, 0);
    failTimes(breakers, 'b', 3, 0);
    failTimes(breakers, 'c', 1, 0);
    breakers.canAttempt('b', 10_000);
    assert.deepEqual(
      breakers.states(),
      new Map([
        ['a', 'open'],
        ['b', 'half-open'],
      ]),
    );
    assert.deepEqual(breakers.counts(), { open: 1, halfOpen: 1 });
  });

  test('snapshot and restore carry a breaker across registries (persistence, restarts)', () => {
    const first = registry().breakers;
    failTimes(first, 'a', 3, 0);
    first.canAttempt('a', 10_000);
    first.recordFailure('a', 10_000);
    const snapshot = first.snapshot('a');
    assert.deepEqual(snapshot, { state: 'open', consecutiveFailures: 4, retryAt: 30_000, cooldownMs: 20_000 });
    const { breakers: second, transitions } = registry();
    second.restore('a', JSON.parse(JSON.stringify(snapshot)), 12_000);
    assert.deepEqual(second.canAttempt('a', 12_000), { allowed: false, retryAt: 30_000 });
    assert.deepEqual(transitions(), ['closed→open:restored']);
    second.canAttempt('a', 30_000);
    second.recordFailure('a', 30_000);
    assert.deepEqual(second.canAttempt('a', 30_000), { allowed: false, retryAt: 70_000 }, 'the cool-down keeps doubling (capped at 60 s)');
    assert.deepEqual(registry().breakers.snapshot('unknown'), { state: 'closed', consecutiveFailures: 0, cooldownMs: 10_000 });
  });

  test('restoring a closed, failure-free snapshot forgets the endpoint', () => {
    const { breakers, transitions } = registry();
    failTimes(breakers, 'a', 3, 0);
    breakers.restore('a', { state: 'closed', consecutiveFailures: 0, cooldownMs: 1 }, 1);
    assert.equal(breakers.size, 0);
    assert.deepEqual(transitions(), ['closed→open:failures', 'open→closed:restored']);
  });

  test('is bounded: past maxEndpoints the least recently seen endpoint is dropped', () => {
    const { breakers, changes } = registry({ maxEndpoints: 3 });
    for (const id of ['a', 'b', 'c']) failTimes(breakers, id, 3, 0);
    breakers.canAttempt('a', 1); // a is now the most recently seen
    failTimes(breakers, 'd', 1, 2);
    assert.equal(breakers.size, 3);
    assert.equal(breakers.state('b'), 'closed', 'b was the least recently seen');
    assert.equal(breakers.state('a'), 'open');
    assert.deepEqual(changes.at(-1), { endpointId: 'b', from: 'open', to: 'closed', reason: 'evicted', at: 2 });
  });

  test('endpoints not seen for idleAfterMs are dropped', () => {
    const { breakers } = registry({ idleAfterMs: 60 * SECOND });
    failTimes(breakers, 'old', 3, 0);
    failTimes(breakers, 'recent', 1, 30 * SECOND);
    breakers.evictIdle(60 * SECOND);
    assert.equal(breakers.state('old'), 'closed');
    assert.equal(breakers.size, 1);
    breakers.canAttempt('x', 90 * SECOND);
    assert.equal(breakers.size, 0);
  });

  test('refuses nonsensical options', () => {
    for (const options of [{ failureThreshold: 0 }, { initialCooldownMs: -1 }, { maxEndpoints: Number.NaN }]) {
      assert.throws(() => new BreakerRegistry(options), RangeError);
    }
  });

  test('property: any sequence of calls keeps the invariants (bounded, only allowed attempts, probes one at a time)', () => {
    const step = fc.record({
      endpoint: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      action: fc.constantFrom('ask', 'success', 'failure', 'gone'),
      advance: fc.integer({ min: 0, max: 20_000 }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
        const { breakers } = registry({ maxEndpoints: 4 });
        let now = 0;
        const probing = new Map<string, number>();
        for (const { endpoint, action, advance } of steps) {
          now += advance;
          if (action === 'ask') {
            const state = breakers.state(endpoint);
            const permission = breakers.canAttempt(endpoint, now);
            if (permission.allowed) {
              assert.ok(state !== 'open' || breakers.state(endpoint) === 'half-open');
              if (permission.probe) {
                const since = probing.get(endpoint);
                assert.ok(since === undefined || now - since >= 5_000, 'one probe per lease');
                probing.set(endpoint, now);
              }
            } else {
              assert.ok(permission.retryAt > now);
              assert.notEqual(breakers.state(endpoint), 'closed');
            }
          } else {
            breakers.record(endpoint, action === 'success' ? 'success' : action === 'failure' ? 'retryable' : 'gone', now);
            if (breakers.state(endpoint) !== 'half-open') probing.delete(endpoint);
          }
          assert.ok(breakers.size <= 4);
          const snapshot = breakers.snapshot(endpoint);
          assert.ok(snapshot.cooldownMs >= 10_000 && snapshot.cooldownMs <= 60_000);
        }
      }),
      { numRuns: 500 },
    );
  });
});
