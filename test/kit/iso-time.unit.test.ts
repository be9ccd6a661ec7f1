import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIsoTimestamp } from '../../src/kit/iso-time.js';

const same = (text: string) => assert.equal(parseIsoTimestamp(text).getTime(), new Date(text).getTime(), text);

test('any instant Date.toISOString() writes in years 0000-9999 reads back as new Date() reads it', () => {
  const first = Date.parse('0000-01-01T00:00:00.000Z');
  const last = Date.parse('9999-12-31T23:59:59.999Z');
  for (let i = 0; i < 100_000; i++) {
    same(new Date(first + Math.floor(Math.random() * (last - first))).toISOString());
  }
  for (const text of ['0000-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z', '2000-02-29T12:00:00.000Z', '9999-12-31T23:59:59.999Z']) {
    same(text);
  }
});

test('other shapes and impossible dates get exactly what new Date() makes of them, Invalid Date included', () => {
  for (const text of [
    '2026-02-29T00:00:00.000Z',
    '2026-04-31T00:00:00.000Z',
    '2026-13-01T00:00:00.000Z',
    '2026-01-01T24:00:00.000Z',
    '2026-01-01T23:59:60.000Z',
    '2026-01-01T23:60:00.000Z',
    '2026-01-01 23:00:00.000Z',
    '2026-01-01T23:00:00.000+',
    'x026-01-01T00:00:00.000Z',
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00.000+01:00',
    '+012026-01-01T00:00:00.000Z',
    '',
  ]) {
    const mine = parseIsoTimestamp(text).getTime();
    const theirs = new Date(text).getTime();
    assert.ok(Object.is(mine, theirs), `${text}: ${mine} vs ${theirs}`);
  }
});
