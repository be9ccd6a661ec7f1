import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isoFromPostgresTimestamp, parseIsoTimestamp } from '../../src/kit/iso-time.js';
import { postgresDialect } from '../../src/db/dialect.js';

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

/** What PostgreSQL writes for a timestamptz at offset zero (DateStyle ISO): trailing zeros of the fraction dropped. */
function postgresText(date: Date): string {
  const iso = date.toISOString();
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction === '' ? '' : `.${fraction}`}+00`;
}

test("PostgreSQL's text of any instant at offset zero becomes the instant's toISOString() text", () => {
  const date = fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });
  fc.assert(
    fc.property(date, (d) => {
      const text = postgresText(d);
      assert.equal(isoFromPostgresTimestamp(text), d.toISOString(), text);
      assert.equal(postgresDialect.fromTime(text).getTime(), d.getTime(), text);
      assert.equal(postgresDialect.timeText(text), d.toISOString(), text);
    }),
    { numRuns: 2000 },
  );
});

test('other shapes are left to a full parse, which reads them as pg does', () => {
  for (const [text, iso] of [
    ['2026-12-05 13:32:34.167254+00', '2026-12-05T13:32:34.167Z'],
    ['2026-12-05 13:32:34+05:30', '2026-12-05T08:02:34.000Z'],
    ['2026-12-05 13:32:34.1-08', '2026-12-05T21:32:34.100Z'],
    ['0099-01-01 00:00:00+05', '0098-12-31T19:00:00.000Z'],
    ['2026-12-05T13:32:34.167Z', '2026-12-05T13:32:34.167Z'],
  ] as const) {
    assert.equal(isoFromPostgresTimestamp(text), undefined, text);
    assert.equal(postgresDialect.timeText(text), undefined, text);
    assert.equal(postgresDialect.fromTime(text).toISOString(), iso, text);
  }
  for (const text of ['', '2026-12-05 13:32:34.+00', '2026-12-05 13:32:34.1234+00', '2026-12-05x13:32:34+00', '10000-01-01 00:00:00+00']) {
    assert.equal(isoFromPostgresTimestamp(text), undefined, text);
  }
});
