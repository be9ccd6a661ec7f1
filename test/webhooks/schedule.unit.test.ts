import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  RETRY_AFTER_MAX_MS,
  RETRY_AFTER_MIN_MS,
  RETRY_BASE_DELAY_MS,
  RETRY_CAPS_MS,
  RETRY_HORIZON_MS,
  RETRY_MAX_DELAY_MS,
  classifyStatus,
  formatDuration,
  honoursRetryAfter,
  isPastHorizon,
  nextAttemptAt,
  nextAttemptDelay,
  parseRetryAfter,
  renderRetryScheduleMarkdown,
  retryCapMs,
} from '../../src/webhooks/schedule.js';

const HOUR = 3_600_000;

describe('the retry caps', () => {
  test('are the documented table: 5 s doubling, then 6 h', () => {
    assert.deepEqual(
      RETRY_CAPS_MS.map((ms) => ms / 1000),
      [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 20480, 21600],
    );
    assert.equal(retryCapMs(1), RETRY_BASE_DELAY_MS);
    assert.equal(retryCapMs(14), RETRY_MAX_DELAY_MS);
    assert.equal(retryCapMs(1000), RETRY_MAX_DELAY_MS);
  });

  test('property: caps never decrease and never exceed the maximum', () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 10_000 }), (attempt) => {
        assert.ok(retryCapMs(attempt) <= retryCapMs(attempt + 1));
        assert.ok(retryCapMs(attempt) <= RETRY_MAX_DELAY_MS && retryCapMs(attempt) >= RETRY_BASE_DELAY_MS);
      }),
    );
  });

  test('the horizon is 3 days, and the worst-case waits of the table end well inside it', () => {
    assert.equal(RETRY_HORIZON_MS, 72 * HOUR);
    const doubling = RETRY_CAPS_MS.slice(0, -1).reduce((sum, cap) => sum + cap, 0);
    assert.ok(doubling < 12 * HOUR, 'the doubling phase takes at most half a day');
  });
});

describe('nextAttemptDelay', () => {
  test('spans the whole [0, cap) range (full jitter)', () => {
    assert.equal(
      nextAttemptDelay(3, () => 0),
      0,
    );
    assert.equal(
      nextAttemptDelay(3, () => 0.5),
      10_000,
    );
    assert.equal(
      nextAttemptDelay(3, () => 0.999999),
      19_999,
    );
  });

  test('a misbehaving random source is clamped into range', () => {
    for (const r of [-1, 1, 2, Number.NaN, Number.POSITIVE_INFINITY]) {
      const delay = nextAttemptDelay(5, () => r);
      assert.ok(delay >= 0 && delay < retryCapMs(5), `${r} → ${delay}`);
    }
  });

  test('property: the delay is always a whole number of ms within [0, cap]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const delay = nextAttemptDelay(attempt, () => r);
        assert.ok(Number.isInteger(delay));
        assert.ok(delay >= 0 && delay <= retryCapMs(attempt));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('the horizon', () => {
  const first = new Date('2025-01-01T00:00:00Z');
  test('isPastHorizon turns true exactly 72 h after the first attempt', () => {
    assert.equal(isPastHorizon(first, new Date(first.getTime() + RETRY_HORIZON_MS - 1)), false);
    assert.equal(isPastHorizon(first, new Date(first.getTime() + RETRY_HORIZON_MS)), true);
  });

  test('nextAttemptAt gives up past the horizon, and otherwise waits at least the Retry-After', () => {
    const late = new Date(first.getTime() + RETRY_HORIZON_MS);
    assert.equal(nextAttemptAt({ attempt: 30, firstAttemptAt: first, now: late }), undefined);
    const now = new Date(first.getTime() + 1000);
    const at = nextAttemptAt({ attempt: 1, firstAttemptAt: first, now, retryAfterMs: 60_000, random: () => 0.5 });
    assert.equal(at?.getTime(), now.getTime() + 60_000);
    const jittered = nextAttemptAt({ attempt: 2, firstAttemptAt: first, now, retryAfterMs: 1000, random: () => 0.5 });
    assert.equal(jittered?.getTime(), now.getTime() + 5_000);
  });

  test('property: simulated always-failing deliveries stop between 72 h and 72 h + the largest cap, in a bounded number of attempts', () => {
    fc.assert(
      // A uniform source like Math.random: fc.double would favour tiny values (it is uniform over
      // representations), which no real random source does.
      fc.property(fc.infiniteStream(fc.noBias(fc.integer({ min: 0, max: 2 ** 31 - 1 }).map((n) => n / 2 ** 31))), (randoms) => {
        const start = new Date(0);
        let now = start;
        let attempts = 1;
        for (;;) {
          const next = nextAttemptAt({ attempt: attempts, firstAttemptAt: start, now, random: () => randoms.next().value as number });
          if (next === undefined) break;
          assert.ok(next.getTime() >= now.getTime());
          now = next;
          attempts++;
          assert.ok(attempts < 10_000, 'the schedule must end');
        }
        assert.ok(now.getTime() >= RETRY_HORIZON_MS && now.getTime() < RETRY_HORIZON_MS + RETRY_MAX_DELAY_MS);
      }),
      { numRuns: 200 },
    );
  });

  test('on average a dead endpoint is tried about 37 times over the horizon (14 attempts in the doubling phase, then one per 3 h)', () => {
    let total = 0;
    const runs = 400;
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let run = 0; run < runs; run++) {
      let now = new Date(0);
      let attempts = 1;
      for (let next = nextAttemptAt({ attempt: 1, firstAttemptAt: new Date(0), now, random }); next; attempts++) {
        now = next;
        next = nextAttemptAt({ attempt: attempts + 1, firstAttemptAt: new Date(0), now, random });
      }
      total += attempts;
    }
    const mean = total / runs;
    assert.ok(mean > 32 && mean < 42, `mean attempts ${mean}`);
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2025-03-01T12:00:00Z');
  const cases: [string | string[] | undefined, number | undefined][] = [
    ['120', 120_000],
    ['  30 ', 30_000],
    ['0', RETRY_AFTER_MIN_MS],
    ['1.5', 1_500],
    ['0.2', RETRY_AFTER_MIN_MS],
    ['-5', RETRY_AFTER_MIN_MS],
    ['86400', RETRY_AFTER_MAX_MS],
    ['99999999999999999999999999', RETRY_AFTER_MAX_MS],
    ['Sat, 01 Mar 2025 12:02:00 GMT', 120_000],
    ['Saturday, 01-Mar-25 12:02:00 GMT', 120_000],
    ['Sat Mar  1 12:02:00 2025', 120_000],
    ['Sat, 01 Mar 2025 11:00:00 GMT', RETRY_AFTER_MIN_MS],
    ['Sun, 01 Mar 2026 12:00:00 GMT', RETRY_AFTER_MAX_MS],
    [['60', '5'], 60_000],
    [undefined, undefined],
    ['', undefined],
    ['soon', undefined],
    ['Mon 1', undefined],
    ['2025-03-01T12:02:00Z', undefined],
    ['1e3', undefined],
    ['NaN', undefined],
    ['Infinity', undefined],
    ['0x10', undefined],
    ['Sat, 99 Mar 2025 12:02:00 GMT', undefined],
    [[], undefined],
  ];
  for (const [value, expected] of cases) {
    test(`${JSON.stringify(value)} → ${String(expected)}`, () => assert.equal(parseRetryAfter(value, now), expected));
  }

  test('property: never throws; a result is always a whole number of ms within [1 s, 1 h]', () => {
    const dates = fc.date({ min: new Date('1990-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toUTCString());
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 80 }), fc.double().map(String), fc.integer().map(String), dates, fc.string({ unit: 'binary' })),
        fc.date({ noInvalidDate: true }),
        (value, clock) => {
          const ms = parseRetryAfter(value, clock);
          if (ms !== undefined) {
            assert.ok(Number.isInteger(ms));
            assert.ok(ms >= RETRY_AFTER_MIN_MS && ms <= RETRY_AFTER_MAX_MS, `${value} → ${ms}`);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });

  test('property: whole seconds within the bounds are read exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3600 }), (seconds) => assert.equal(parseRetryAfter(String(seconds), now), seconds * 1000)),
    );
  });

  test('property: an HTTP-date in the bounds is read to the second', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3600 }), (seconds) => {
        const date = new Date(now.getTime() + seconds * 1000).toUTCString();
        assert.equal(parseRetryAfter(date, now), seconds * 1000);
      }),
    );
  });
});

describe('classifyStatus', () => {
  const table: [number, string][] = [
    [200, 'success'],
    [201, 'success'],
    [204, 'success'],
    [299, 'success'],
    [301, 'retryable'],
    [302, 'retryable'],
    [307, 'retryable'],
    [308, 'retryable'],
    [400, 'permanent'],
    [401, 'permanent'],
    [403, 'permanent'],
    [404, 'permanent'],
    [413, 'permanent'],
    [422, 'permanent'],
    [408, 'retryable'],
    [409, 'retryable'],
    [425, 'retryable'],
    [429, 'retryable'],
    [410, 'gone'],
    [500, 'retryable'],
    [502, 'retryable'],
    [503, 'retryable'],
    [599, 'retryable'],
    [100, 'retryable'],
    [600, 'retryable'],
    [0, 'retryable'],
  ];
  for (const [status, expected] of table) test(`${status} is ${expected}`, () => assert.equal(classifyStatus(status), expected));

  test('Retry-After is honoured on 429 and 503 only', () => {
    assert.deepEqual(
      [429, 503, 500, 502, 301, 200].map((status) => honoursRetryAfter(status)),
      [true, true, false, false, false, false],
    );
  });
});

describe('renderRetryScheduleMarkdown', () => {
  test('renders one row per cap, in readable units', () => {
    const table = renderRetryScheduleMarkdown();
    const rows = table.split('\n');
    assert.equal(rows.length, 2 + RETRY_CAPS_MS.length);
    assert.match(rows[2]!, /^\| 1 \| 5 s \| 5 s \| 2 s \|$/);
    assert.match(rows.at(-1)!, /^\| 14 and later \| 6 h \| \+ 6 h each, until 3 d \| \+ 3 h each \|$/);
  });

  test('formatDuration keeps at most two units', () => {
    assert.equal(formatDuration(5_000), '5 s');
    assert.equal(formatDuration(160_000), '2 min 40 s');
    assert.equal(formatDuration(5_120_000), '1 h 25 min');
    assert.equal(formatDuration(RETRY_HORIZON_MS), '3 d');
    assert.equal(formatDuration(250), '250 ms');
  });
});
