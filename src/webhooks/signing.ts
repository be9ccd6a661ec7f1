import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { InvalidWebhookSecretError } from './errors.js';

// Standard Webhooks signing (https://www.standardwebhooks.com/): HMAC-SHA256 over
// `${id}.${timestamp}.${body}`. Hand-written on node:crypto because it is a few lines; the
// official `standardwebhooks` package verifies our output in the tests.

export const SECRET_PREFIX = 'whsec_';
/** Bytes of key material in a secret we generate. */
export const SECRET_BYTES = 32;
/** The spec asks for keys of 24 to 64 bytes; the published test vector's is 24. */
export const SECRET_MIN_BYTES = 24;
export const SECRET_MAX_BYTES = 64;

const SIGNATURE_VERSION = 'v1';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// Ids travel in a header and are part of the signed content: visible ASCII only, bounded.
const MESSAGE_ID = /^[\x21-\x7e]{1,256}$/;

/** The three headers that authenticate one delivery attempt (a type, not an interface, so it is a header record as it is). */
export type WebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

export interface SignInput {
  /** Every secret currently valid for the endpoint; during a rotation both old and new sign. */
  readonly secrets: readonly string[];
  /** The event id: the same on every attempt, so receivers can deduplicate. */
  readonly id: string;
  /** Unix seconds of this attempt (not of the event), so retries are never "too old". */
  readonly timestamp: number;
  /** Exactly the bytes that will be sent. */
  readonly body: string | Uint8Array;
}

/** A new secret: `whsec_` and the base64 of 32 random bytes. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/**
 * The key bytes of a `whsec_…` secret.
 * @throws InvalidWebhookSecretError unless it is the prefix and canonical base64 of 24–64 bytes.
 */
export function parseSecret(secret: string): Buffer {
  const invalid = (why: string) => new InvalidWebhookSecretError(`The webhook secret ${why}.`);
  if (!secret.startsWith(SECRET_PREFIX)) throw invalid(`must start with ${SECRET_PREFIX}`);
  const encoded = secret.slice(SECRET_PREFIX.length);
  // Buffer.from(…, 'base64') skips junk silently; a round trip proves the text was canonical.
  const key = Buffer.from(encoded, 'base64');
  if (!BASE64.test(encoded) || key.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
    throw invalid('must be base64 after the prefix');
  }
  if (key.length < SECRET_MIN_BYTES || key.length > SECRET_MAX_BYTES) {
    throw invalid(`must encode ${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES} bytes`);
  }
  return key;
}

/**
 * parseSecret() once per secret, not once per attempt (its canonical-base64 check was a tenth
 * of the signing cost), kept as a KeyObject: createHmac() with a Buffer imports the key bytes
 * into a new native key on every call, with a KeyObject it reuses the imported one (15–20% of
 * an HMAC over a 600-byte body). Bounded: emptied when full, so rotated-away secrets do not pile up.
 */
const KEYS = new Map<string, KeyObject>();
const KEYS_KEPT = 1_024;

function keyOf(secret: string): KeyObject {
  let key = KEYS.get(secret);
  if (key === undefined) {
    key = createSecretKey(parseSecret(secret));
    if (KEYS.size >= KEYS_KEPT) KEYS.clear();
    KEYS.set(secret, key);
  }
  return key;
}

/**
 * The `webhook-signature` header value: one `v1,<base64>` per secret, space-separated.
 * @throws InvalidWebhookSecretError for a malformed secret; RangeError for an empty secret
 * list, an id that is not 1–256 visible ASCII characters, or a timestamp that is not whole seconds.
 */
export function sign({ secrets, id, timestamp, body }: SignInput): string {
  if (secrets.length === 0) throw new RangeError('at least one secret is needed to sign');
  if (!MESSAGE_ID.test(id)) throw new RangeError('a webhook id must be 1–256 visible ASCII characters');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError('a webhook timestamp must be whole Unix seconds');
  const prefix = `${id}.${timestamp}.`;
  return secrets
    .map((secret) => {
      const mac = createHmac('sha256', keyOf(secret)).update(prefix).update(body).digest('base64');
      return `${SIGNATURE_VERSION},${mac}`;
    })
    .join(' ');
}

/** The headers for one attempt made at `attemptAt`: its timestamp is that moment, in whole seconds. */
export function signedHeaders(input: Omit<SignInput, 'timestamp'> & { readonly attemptAt: Date }): WebhookHeaders {
  const timestamp = Math.floor(input.attemptAt.getTime() / 1000);
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': sign({ ...input, timestamp }),
  };
}
