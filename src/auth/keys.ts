import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API key format: `rk_<id>_<secret>`. The prefix makes leaked keys easy to recognise (secret
 * scanners, logs); the 16-hex-digit id finds the stored record without a scan; the secret is
 * 32 random bytes in base64url.
 *
 * Only SHA-256 of the secret is stored. A slow password hash (bcrypt, scrypt, argon2) exists to
 * make guessing low-entropy human passwords expensive; a 256-bit random secret cannot be
 * guessed at any speed, so a fast hash loses nothing and keeps verification at a microsecond
 * per request instead of tens of milliseconds.
 */
const KEY_PATTERN = /^rk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface GeneratedKey {
  readonly id: string;
  /** The full key, shown to its owner once and never stored. */
  readonly plaintext: string;
  readonly secretHash: string;
}

export function generateKey(): GeneratedKey {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, plaintext: `rk_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** Splits a presented key into id and secret, or undefined if it is not shaped like one of ours. */
export function parseKey(presented: string): { id: string; secret: string } | undefined {
  const match = KEY_PATTERN.exec(presented);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash (hex, or its decoded bytes). */
export function secretMatches(secret: string, storedHash: string | Buffer): boolean {
  const presented = createHash('sha256').update(secret).digest();
  const stored = typeof storedHash === 'string' ? Buffer.from(storedHash, 'hex') : storedHash;
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
