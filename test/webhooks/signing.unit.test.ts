import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { InvalidWebhookSecretError } from '../../src/webhooks/errors.js';
import { SECRET_BYTES, generateSecret, parseSecret, sign, signedHeaders } from '../../src/webhooks/signing.js';

// The published Standard Webhooks test vector.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('sign', () => {
  test('matches the published Standard Webhooks vector', () => {
    assert.equal(sign({ secrets: [VECTOR.secret], id: VECTOR.id, timestamp: VECTOR.timestamp, body: VECTOR.body }), VECTOR.signature);
  });

  test('signs the bytes: a Buffer body and its string give the same signature', () => {
    const input = { secrets: [VECTOR.secret], id: VECTOR.id, timestamp: VECTOR.timestamp };
    assert.equal(sign({ ...input, body: Buffer.from(VECTOR.body) }), VECTOR.signature);
    assert.equal(sign({ ...input, body: new Uint8Array(Buffer.from(VECTOR.body)) }), VECTOR.signature);
  });

  test('any change of id, timestamp or body changes the signature', () => {
    const base = { secrets: [VECTOR.secret], id: VECTOR.id, timestamp: VECTOR.timestamp, body: VECTOR.body };
    for (const changed of [{ id: `${VECTOR.id}x` }, { timestamp: VECTOR.timestamp + 1 }, { body: '{"test": 2432232315}' }]) {
      assert.notEqual(sign({ ...base, ...changed }), VECTOR.signature);
    }
  });

  test('with several secrets, one space-separated v1 entry per secret, in order', () => {
    const other = generateSecret();
    const header = sign({ secrets: [VECTOR.secret, other], id: VECTOR.id, timestamp: VECTOR.timestamp, body: VECTOR.body });
    const entries = header.split(' ');
    assert.equal(entries.length, 2);
    assert.equal(entries[0], VECTOR.signature);
    assert.match(entries[1]!, /^v1,[A-Za-z0-9+/]{43}=$/);
  });

  test('refuses an empty secret list, a bad id, a fractional or negative timestamp', () => {
    const base = { secrets: [VECTOR.secret], id: VECTOR.id, timestamp: VECTOR.timestamp, body: '' };
    assert.throws(() => sign({ ...base, secrets: [] }), RangeError);
    for (const id of ['', 'has space', 'line\nbreak', 'é', 'x'.repeat(257)]) assert.throws(() => sign({ ...base, id }), RangeError);
    for (const timestamp of [1.5, -1, Number.NaN, 2 ** 60]) assert.throws(() => sign({ ...base, timestamp }), RangeError);
    assert.throws(() => sign({ ...base, secrets: ['nope'] }), InvalidWebhookSecretError);
  });
});

describe('signedHeaders', () => {
  test('stamps the attempt time in whole seconds and signs with it', () => {
    const headers = signedHeaders({ secrets: [VECTOR.secret], id: VECTOR.id, body: VECTOR.body, attemptAt: new Date(1614265330_999) });
    assert.deepEqual(headers, { 'webhook-id': VECTOR.id, 'webhook-timestamp': '1614265330', 'webhook-signature': VECTOR.signature });
  });
});

describe('generateSecret and parseSecret', () => {
  test('a generated secret is whsec_ and the base64 of 32 bytes, and parses back', () => {
    const secret = generateSecret();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(parseSecret(secret).length, SECRET_BYTES);
    assert.notEqual(generateSecret(), secret);
  });

  test('parses the vector secret (24 bytes)', () => {
    assert.equal(parseSecret(VECTOR.secret).length, 24);
  });

  for (const [label, secret] of [
    ['no prefix', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    ['another prefix', 'whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    ['empty key', 'whsec_'],
    ['too short (16 bytes)', `whsec_${Buffer.alloc(16, 1).toString('base64')}`],
    ['too long (65 bytes)', `whsec_${Buffer.alloc(65, 1).toString('base64')}`],
    ['base64url alphabet', `whsec_${Buffer.alloc(32, 0xfb).toString('base64url')}`],
    ['junk inside', 'whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw'],
    ['non-canonical trailing bits', `whsec_${Buffer.alloc(32, 1).toString('base64').replace(/E=$/, 'F=')}`],
  ] as const) {
    test(`refuses ${label}`, () => assert.throws(() => parseSecret(secret), InvalidWebhookSecretError));
  }

  test('property: any string either parses to 24–64 bytes or throws InvalidWebhookSecretError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.base64String().map((s) => `whsec_${s}`),
        ),
        (input) => {
          try {
            const key = parseSecret(input);
            assert.ok(key.length >= 24 && key.length <= 64);
          } catch (error) {
            assert.ok(error instanceof InvalidWebhookSecretError, String(error));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('the official standardwebhooks library verifies what we sign', () => {
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const id = fc.stringMatching(/^[\x21-\x7e]{1,64}$/);
  // Its verifier reads the body as text, so bodies are well-formed text (as JSON always is).
  const body = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 500 }), fc.json());
  // It refuses timestamps more than 5 minutes from its clock.
  const skew = fc.integer({ min: -240, max: 240 });

  test('property: any id, body and recent timestamp verifies', () => {
    const secret = generateSecret();
    const verifier = new Webhook(secret);
    fc.assert(
      fc.property(id, body, skew, (msgId, payload, offset) => {
        const timestamp = nowSeconds() + offset;
        const signature = sign({ secrets: [secret], id: msgId, timestamp, body: payload });
        const headers = { 'webhook-id': msgId, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
        verifier.verify(payload, headers, { jsonParse: false });
        verifier.verify(Buffer.from(payload), headers, { jsonParse: false });
      }),
      { numRuns: 300 },
    );
  });

  test('property: signed with two secrets (rotation), either one verifies and a third does not', () => {
    fc.assert(
      fc.property(id, body, skew, (msgId, payload, offset) => {
        const [oldSecret, newSecret, stranger] = [generateSecret(), generateSecret(), generateSecret()];
        const timestamp = nowSeconds() + offset;
        const headers = {
          'webhook-id': msgId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': sign({ secrets: [oldSecret, newSecret], id: msgId, timestamp, body: payload }),
        };
        new Webhook(oldSecret).verify(payload, headers, { jsonParse: false });
        new Webhook(newSecret).verify(payload, headers, { jsonParse: false });
        assert.throws(() => new Webhook(stranger).verify(payload, headers, { jsonParse: false }), WebhookVerificationError);
      }),
      { numRuns: 100 },
    );
  });

  test('a body changed after signing fails verification', () => {
    const secret = generateSecret();
    const headers = signedHeaders({ secrets: [secret], id: 'evt_1', body: '{"a":1}', attemptAt: new Date() });
    assert.throws(() => new Webhook(secret).verify('{"a":2}', headers), WebhookVerificationError);
  });
});
