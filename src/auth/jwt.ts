import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { UnavailableError } from '../kit/errors.js';
import { UnauthenticatedError } from './errors.js';
import type { Principal } from './model.js';

export interface JwtOptions {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  /** Asymmetric algorithms only: a symmetric one would let anyone holding the public key mint tokens. */
  readonly algorithms?: readonly string[];
  readonly clockToleranceSeconds?: number;
  readonly jwksTimeoutMs?: number;
  /** Minimum time between JWKS refetches triggered by an unknown `kid`. */
  readonly jwksCooldownMs?: number;
}

export const DEFAULT_JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

// Failures that say the token is bad, as opposed to the issuer's key server being unreachable.
const TOKEN_FAULTS = new Set<string>([
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
  errors.JWSInvalid.code,
  errors.JWSSignatureVerificationFailed.code,
  errors.JWTClaimValidationFailed.code,
  errors.JWTExpired.code,
  errors.JWTInvalid.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
  errors.JWKInvalid.code,
]);

/**
 * Verifies bearer JWTs against the issuer's JWKS (fetched lazily, cached by jose, refetched on
 * an unknown `kid` no more often than the cooldown). Scopes come from `scope` (space-separated)
 * or `scp` (array or string).
 */
export class JwtVerifier {
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;
  readonly #options: JwtOptions;

  constructor(options: JwtOptions) {
    this.#options = options;
    this.#jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
      timeoutDuration: options.jwksTimeoutMs ?? 3000,
      cooldownDuration: options.jwksCooldownMs ?? 30_000,
      cacheMaxAge: 10 * 60_000,
    });
  }

  /** @throws UnauthenticatedError for a bad token, UnavailableError when the JWKS cannot be fetched */
  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#jwks, {
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        algorithms: [...(this.#options.algorithms ?? DEFAULT_JWT_ALGORITHMS)],
        clockTolerance: this.#options.clockToleranceSeconds ?? 30,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      if (error instanceof errors.JOSEError && TOKEN_FAULTS.has(error.code)) {
        throw new UnauthenticatedError('The credentials are not valid.', { cause: error });
      }
      throw new UnavailableError('The token issuer’s keys could not be fetched; retry later.', { cause: error });
    }
    return { actor: `jwt:${payload.sub}`, kind: 'jwt', scopes: new Set(scopesOf(payload)) };
  }
}

function scopesOf(payload: JWTPayload): string[] {
  const { scope, scp } = payload as { scope?: unknown; scp?: unknown };
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean);
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === 'string');
  if (typeof scp === 'string') return scp.split(' ').filter(Boolean);
  return [];
}
