import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import {
  decodeUtf8Body,
  invalidUtf8Offset,
  InvalidEncodingError,
  parseQuery,
  undecodablePathError,
  undecodableQueryParameters,
} from '../../src/http/encoding.js';
import { hostileParameters } from '../helpers/hostile.js';

const params = { ...hostileParameters, numRuns: 1000 };

/** Arbitrary bytes, UTF-8 text, and UTF-8 text with one byte of 0x80–0xFF inserted. */
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => new Uint8Array(Buffer.from(s))),
  fc.tuple(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.nat(), fc.integer({ min: 0x80, max: 0xff })).map(([s, at, byte]) => {
    const b = Buffer.from(s);
    const i = at % (b.length + 1);
    return new Uint8Array(Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]));
  }),
);

const wellFormed = fc.string({ unit: 'binary', maxLength: 16 }).filter((s) => s.isWellFormed());

const percentEncoded = (b: Uint8Array) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('');

test('invalidUtf8Offset agrees with isUtf8, and everything before the offset is UTF-8', () => {
  fc.assert(
    fc.property(bytes, (b) => {
      const at = invalidUtf8Offset(b);
      assert.equal(at === -1, isUtf8(b));
      if (at >= 0) assert.ok(isUtf8(b.subarray(0, at)), `prefix before ${at} of ${Buffer.from(b).toString('hex')}`);
    }),
    params,
  );
  for (const [hex, at] of [
    ['c328', 0], // a lead byte followed by ASCII
    ['61e9', 1], // Latin-1 é
    ['c0af', 0], // overlong '/'
    ['eda080', 0], // a surrogate
    ['f4908080', 0], // past U+10FFFF
    ['e282', 0], // truncated
    ['6180', 1], // a lone continuation byte
    ['e282ac', -1], // €
    ['f09f9880', -1], // 😀
  ] as const) {
    assert.equal(invalidUtf8Offset(Buffer.from(hex, 'hex')), at, hex);
  }
});

test('decodeUtf8Body: UTF-8 round-trips, anything else names the first bad byte', () => {
  fc.assert(
    fc.property(wellFormed, (s) => assert.equal(decodeUtf8Body(Buffer.from(s)), s)),
    params,
  );
  const body = Buffer.concat([Buffer.from('{"name":"Jos'), Buffer.from([0xe9]), Buffer.from('"}')]);
  assert.throws(
    () => decodeUtf8Body(body),
    (error: unknown) => error instanceof InvalidEncodingError && /byte offset 12 \(0xE9\)/.test(error.message),
  );
});

test('parseQuery: percent-encoded UTF-8 keys and values round-trip; other bytes are named, never U+FFFD', () => {
  fc.assert(
    fc.property(wellFormed, wellFormed, (key, value) => {
      const query = parseQuery(`${encodeURIComponent(key)}=${encodeURIComponent(value)}&z=1`);
      assert.equal(undecodableQueryParameters(query), undefined);
      if (key === 'z') assert.deepEqual(query.z, [value, '1']);
      else assert.equal(query[key], value);
    }),
    params,
  );
  fc.assert(
    fc.property(bytes, (b) => {
      const query = parseQuery(`a=1&q=${percentEncoded(b)}`);
      const undecodable = undecodableQueryParameters(query);
      if (isUtf8(b)) {
        assert.equal(undecodable, undefined);
        assert.equal(query.q, Buffer.from(b).toString('utf8'));
      } else {
        assert.deepEqual(
          undecodable?.map((u) => u.parameter),
          ['q'],
        );
        assert.equal(query.q, undefined, 'an undecodable value is not passed on');
      }
      assert.equal(query.a, '1');
    }),
    params,
  );
});

test('parseQuery reads decodable input exactly as URLSearchParams does (+, repeats, bare keys, stray %)', () => {
  const unit = fc.constantFrom(
    'a',
    'b',
    'é',
    '😀',
    '=',
    '&',
    '+',
    '%',
    '%41',
    '%2B',
    '%26',
    '%3D',
    '%zz',
    '%c3%a9',
    '%e2%82%ac',
    ' ',
    '__proto__',
  );
  // Node 20's URLSearchParams mangles non-ASCII text after a stray '%' once the input holds
  // another escape ('%41%zé' → 'A%z\uFFFD', '%41%😀' → 'A%=\0'): it is no oracle for those.
  const trusted = (s: string) => !(/%(?![0-9A-Fa-f]{2})/.test(s) && /[^ -~]/.test(s));
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 20 }).filter(trusted), (input) => {
      const query = parseQuery(input);
      if (undecodableQueryParameters(query) !== undefined) return;
      const expected = new Map<string, string | string[]>();
      for (const [k, v] of new URLSearchParams(input)) {
        const seen = expected.get(k);
        expected.set(k, seen === undefined ? v : Array.isArray(seen) ? [...seen, v] : [seen, v]);
      }
      const sorted = (entries: [string, unknown][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      assert.deepEqual(sorted(Object.entries(query)), sorted([...expected.entries()]), input);
      assert.equal(Object.getPrototypeOf(query)?.constructor, undefined, 'no prototype to poison');
    }),
    params,
  );
});

test('undecodablePathError names the route parameter, leaves malformed escapes and other errors alone', () => {
  const badUrl = { code: 'FST_ERR_BAD_URL' };
  const paramsOf = (path: string) => {
    const m = /^\/v1\/users\/([^/]+)$/.exec(path);
    return m ? { id: m[1] } : undefined;
  };
  const named = undecodablePathError(badUrl, '/v1/users/ab%E9?x=1', paramsOf);
  assert.ok(named instanceof InvalidEncodingError);
  assert.deepEqual(
    named.parameters.map((p) => p.parameter),
    ['id'],
  );
  assert.match(named.message, /path parameter id .*byte offset 2 \(0xE9\)/);
  const unrouted = undecodablePathError(badUrl, '/nowhere/%C3%28/x', paramsOf);
  assert.ok(unrouted instanceof InvalidEncodingError);
  assert.deepEqual(unrouted.parameters, []);
  assert.match(unrouted.message, /Path segment 2/);
  assert.equal(undecodablePathError(badUrl, '/v1/users/%zz', paramsOf), undefined);
  assert.equal(undecodablePathError(badUrl, '/v1/users/%E9%zz', paramsOf), undefined);
  assert.equal(undecodablePathError({ code: 'FST_ERR_MAX_PARAM_LENGTH' }, '/v1/users/%E9', paramsOf), undefined);
});
