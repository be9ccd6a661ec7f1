// Unit tests for the API key format, parsing, hashing and comparison (src/auth/keys.ts) and the
// scope model (src/auth/model.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { generateKey, hashSecret, parseKey, secretMatches } from '../../src/auth/keys.js';
import { SCOPES, allows, isScope } from '../../src/auth/model.js';

const KEY_FORMAT = /^rk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

test('generateKey: rk_<16 hex id>_<43 base64url secret>, hash = SHA-256 of the secret', () => {
  const key = generateKey();
  assert.match(key.plaintext, KEY_FORMAT);
  assert.match(key.id, /^[0-9a-f]{16}$/);
  assert.ok(key.plaintext.startsWith(`rk_${key.id}_`));
  const secret = key.plaintext.slice(`rk_${key.id}_`.length);
  assert.equal(Buffer.from(secret, 'base64url').length, 32, '32 random bytes of secret');
  assert.equal(key.secretHash, createHash('sha256').update(secret).digest('hex'));
  assert.equal(key.plaintext.includes(key.secretHash), false);
});

test('generateKey: ids and secrets do not repeat', () => {
  const keys = Array.from({ length: 500 }, () => generateKey());
  assert.equal(new Set(keys.map((k) => k.id)).size, keys.length);
  assert.equal(new Set(keys.map((k) => k.plaintext)).size, keys.length);
});

test('parseKey round-trips a generated key', () => {
  for (let i = 0; i < 50; i++) {
    const key = generateKey();
    const parsed = parseKey(key.plaintext);
    assert.ok(parsed);
    assert.equal(parsed.id, key.id);
    assert.equal(hashSecret(parsed.secret), key.secretHash);
  }
});

test('parseKey refuses near misses', () => {
  const good = generateKey().plaintext;
  // Not split('_'): the base64url secret may itself contain underscores.
  const id = good.slice(3, 19);
  const secret = good.slice(20);
  assert.equal(`rk_${id}_${secret}`, good);
  for (const bad of [
    '',
    'rk_',
    'rk_short',
    `RK_${id}_${secret}`,
    `rk_${id.toUpperCase().replace(/[0-9]/g, 'A')}_${secret}`,
    `rk_${id.slice(1)}_${secret}`,
    `rk_${id}0_${secret}`,
    `rk_${id}_${secret.slice(1)}`,
    `rk_${id}_${secret}A`,
    `rk_${id}_${secret.slice(0, -1)}=`,
    `rk_${id}_${secret.slice(0, -1)}+`,
    `${good}\n`,
    `\n${good}`,
    ` ${good}`,
    `${good} `,
    `xrk_${id}_${secret}`,
    `rk-${id}-${secret}`,
  ]) {
    assert.equal(parseKey(bad), undefined, JSON.stringify(bad));
  }
});

test('parseKey never throws, and accepts only what it can rebuild exactly (property)', () => {
  const keyish = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 50 })).map(([id, secret]) => `rk_${id}_${secret}`),
    fc.tuple(fc.stringMatching(/^[0-9a-f]{16}$/), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/)).map(([id, secret]) => `rk_${id}_${secret}`),
  );
  let accepted = 0;
  fc.assert(
    fc.property(keyish, (s) => {
      const parsed = parseKey(s);
      if (parsed === undefined) return true;
      accepted++;
      return `rk_${parsed.id}_${parsed.secret}` === s && KEY_FORMAT.test(s);
    }),
    { numRuns: 2000 },
  );
  assert.ok(accepted > 0, 'the generator produced some well-formed keys');
});

test('secretMatches: true for the secret, false for anything else', () => {
  const key = generateKey();
  const secret = parseKey(key.plaintext)!.secret;
  assert.equal(secretMatches(secret, key.secretHash), true);
  assert.equal(secretMatches(`${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`, key.secretHash), false);
  assert.equal(secretMatches('', key.secretHash), false);
  assert.equal(secretMatches(key.secretHash, key.secretHash), false, 'the hash is not a secret');
  assert.equal(secretMatches(key.plaintext, key.secretHash), false);
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (other) => other === secret || !secretMatches(other, key.secretHash)),
    { numRuns: 1000 },
  );
});

test('secretMatches: false (never a throw) against a damaged stored hash', () => {
  const secret = parseKey(generateKey().plaintext)!.secret;
  const hash = hashSecret(secret);
  for (const stored of ['', 'zz', hash.slice(0, -2), `${hash}00`, hash.toUpperCase().replace(/[0-9]/g, 'G')]) {
    assert.equal(secretMatches(secret, stored), false, stored);
  }
});

test('scopes: admin implies every scope, the others only themselves', () => {
  const p = (scopes: string[]) => ({ actor: 'key:x', kind: 'api_key' as const, scopes: new Set(scopes) });
  for (const needed of SCOPES) {
    assert.equal(allows(p(['admin']), needed), true);
    assert.equal(allows(p([needed]), needed), true);
    assert.equal(allows(p([]), needed), false);
    for (const other of SCOPES.filter((s) => s !== needed && s !== 'admin')) assert.equal(allows(p([other]), needed), false);
  }
  assert.equal(allows(p(['users:read', 'users:write']), 'admin'), false, 'read + write is not admin');
  assert.equal(allows(p(['ADMIN', 'admin ', 'users:*', '*']), 'users:read'), false, 'no fuzzy matching');
  for (const s of SCOPES) assert.equal(isScope(s), true);
  for (const s of ['', 'Admin', 'users', 'users:*', '*', '__proto__', 'toString']) assert.equal(isScope(s), false, s);
});
