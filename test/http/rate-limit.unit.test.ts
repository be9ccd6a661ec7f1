import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailOpenLog } from '../../src/http/rate-limit.js';

test('fail-open is logged at once, then at most once per interval with how many were not', () => {
  let now = 1_000;
  const lines: Record<string, unknown>[] = [];
  const log = new FailOpenLog({ warn: (fields) => lines.push(fields) }, 60_000, () => now);
  const failure = new Error('Command timed out');
  log.report(failure);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.unchecked_since_last_line, 0);
  for (let i = 0; i < 5; i++) {
    now += 10_000;
    log.report(failure);
  }
  assert.equal(lines.length, 1, 'within the interval: counted, not logged');
  now += 10_000;
  log.report(failure);
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.unchecked_since_last_line, 5);
  assert.equal(lines[1]!.err, failure);
});
