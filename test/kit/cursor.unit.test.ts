import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { CursorCodec, InvalidCursorError } from '../../src/kit/cursor.js';

const codec = new CursorCodec(randomBytes(32));

test('round-trips a payload', () => {
  const payload = { after: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21', filter: 'abc' };
  assert.deepEqual(codec.decode(codec.encode(payload)), payload);
});

test('refuses a cursor made with another key', () => {
  const other = new CursorCodec(randomBytes(32)).encode({ after: 'x' });
  assert.throws(() => codec.decode(other), InvalidCursorError);
});

test('refuses a cursor whose body was edited', () => {
  const cursor = codec.encode({ after: 'aaaa' });
  const [, mac] = cursor.split('.');
  const forged = `${Buffer.from(JSON.stringify({ after: 'zzzz' })).toString('base64url')}.${mac}`;
  assert.throws(() => codec.decode(forged), InvalidCursorError);
});

test('refuses keys shorter than 32 bytes', () => {
  assert.throws(() => new CursorCodec(randomBytes(16)), RangeError);
});

test('property: any string decodes or throws InvalidCursorError, nothing else', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 2000 }), fc.base64String(), fc.string({ unit: 'binary' })), (input) => {
      try {
        codec.decode(input);
        assert.fail('a random string must not decode');
      } catch (error) {
        assert.ok(error instanceof InvalidCursorError, String(error));
      }
    }),
    { numRuns: 3000 },
  );
});

test('property: every payload of strings round-trips', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 60 }), { maxKeys: 5 }), (payload) => {
      assert.deepEqual(codec.decode(codec.encode(payload)), { ...payload });
    }),
    { numRuns: 500 },
  );
});
