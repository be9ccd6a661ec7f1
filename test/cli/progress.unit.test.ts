import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  estimate,
  formatDuration,
  formatProgressJson,
  formatProgressLine,
  smoothRate,
  startProgress,
  type ProgressView,
} from '../../src/cli/progress.js';

const view: ProgressView = {
  rows: 1_234_567,
  errors: 12,
  bytes: 430,
  rowsPerSecond: 45_678.4,
  elapsedSeconds: 27.2,
  totalBytes: 1000,
  fraction: 0.43,
  etaSeconds: 72,
};

describe('progress formatting', () => {
  test('the terminal line', () => {
    assert.equal(formatProgressLine(view), '1,234,567 rows · 45,678 rows/s · 12 errors · 43% · ETA 1m 12s');
    assert.equal(formatProgressLine({ rows: 1, errors: 1, bytes: 5, rowsPerSecond: 0, elapsedSeconds: 1 }), '1 rows · 0 rows/s · 1 error');
  });

  test('the JSON line, with nulls when the size is unknown', () => {
    assert.deepEqual(JSON.parse(formatProgressJson(view)), {
      event: 'import.progress',
      rows: 1_234_567,
      rows_per_second: 45_678,
      errors: 12,
      bytes: 430,
      total_bytes: 1000,
      percent: 43,
      eta_seconds: 72,
      elapsed_seconds: 27,
    });
    const unknown = JSON.parse(formatProgressJson({ rows: 0, errors: 0, bytes: 0, rowsPerSecond: 0, elapsedSeconds: 0 }));
    assert.equal(unknown.total_bytes, null);
    assert.equal(unknown.eta_seconds, null);
    assert.ok(formatProgressJson(view).endsWith('}\n'));
  });

  test('durations', () => {
    assert.deepEqual([0, 42.4, 60, 187, 3600, 3725, -5].map(formatDuration), ['0s', '42s', '1m 00s', '3m 07s', '1h 00m', '1h 02m', '0s']);
  });

  test('the rate follows changes smoothly', () => {
    assert.equal(smoothRate(undefined, 1000, 2), 500);
    assert.equal(smoothRate(500, 2000, 2), 500 + 0.3 * 500);
    assert.equal(smoothRate(500, 10, 0), 500);
  });

  test('the ETA extrapolates the byte rate; no size, no ETA', () => {
    assert.deepEqual(estimate(250, 1000, 10), { fraction: 0.25, etaSeconds: 30 });
    assert.deepEqual(estimate(0, 1000, 10), { fraction: 0 });
    assert.deepEqual(estimate(2000, 1000, 10), { fraction: 1, etaSeconds: 0 });
    assert.deepEqual(estimate(250, undefined, 10), {});
  });
});

describe('startProgress', () => {
  function fakeOutput(isTTY: boolean) {
    const writes: string[] = [];
    return { writes, out: { isTTY, write: (text: string) => writes.push(text) } };
  }

  test('on a terminal: redraws one line in place, ends it on stop', () => {
    const { writes, out } = fakeOutput(true);
    let now = 0;
    const counts = { rows: 0, errors: 0, bytes: 0 };
    const reporter = startProgress({ read: () => counts, out, totalBytes: 100, now: () => now, intervalMs: 60_000 });
    now = 1000;
    Object.assign(counts, { rows: 500, errors: 2, bytes: 25 });
    reporter.tick();
    assert.equal(writes[0], '\r500 rows · 500 rows/s · 2 errors · 25% · ETA 3s\u001b[K');
    reporter.stop();
    reporter.stop();
    assert.equal(writes.length, 2);
    assert.ok(writes[1]!.endsWith('\u001b[K\n'));
    reporter.tick();
    assert.equal(writes.length, 2, 'nothing after stop');
  });

  test('elsewhere: a JSON line per tick', () => {
    const { writes, out } = fakeOutput(false);
    let now = 0;
    const reporter = startProgress({ read: () => ({ rows: 10, errors: 0, bytes: 5 }), out, now: () => (now += 500), intervalMs: 60_000 });
    reporter.tick();
    reporter.stop();
    assert.equal(writes.length, 2);
    for (const line of writes) assert.equal(JSON.parse(line).rows, 10);
  });

  test('reports on its timer until stopped', (t) => {
    // Mocked timers: counting real ticks measured the machine's load, not the reporter.
    t.mock.timers.enable({ apis: ['setInterval'] });
    const { writes, out } = fakeOutput(false);
    const reporter = startProgress({ read: () => ({ rows: 1, errors: 0, bytes: 0 }), out, intervalMs: 10 });
    t.mock.timers.tick(9);
    assert.equal(writes.length, 0);
    t.mock.timers.tick(21);
    assert.equal(writes.length, 3);
    reporter.stop();
    assert.equal(writes.length, 4, 'stop writes the last line');
    t.mock.timers.tick(100);
    assert.equal(writes.length, 4, 'the timer is cleared');
  });
});
