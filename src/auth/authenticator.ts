import { UnauthenticatedError } from './errors.js';
import type { JwtVerifier } from './jwt.js';
import type { Principal } from './model.js';
import type { ApiKeysService } from './service.js';

const BEARER = /^Bearer +([\x21-\x7e]{1,4096})$/i;
/** How clients send an API key; other spellings BEARER accepts take the full path. */
const BEARER_API_KEY = 'Bearer rk_';
const BEARER_PREFIX_LENGTH = 'Bearer '.length;

/** Turns an `Authorization` header into a Principal: an API key, or a JWT when configured. */
export class Authenticator {
  readonly #keys: ApiKeysService;
  readonly #jwt: JwtVerifier | undefined;

  constructor(keys: ApiKeysService, jwt?: JwtVerifier) {
    this.#keys = keys;
    this.#jwt = jwt;
  }

  /**
   * The principal for a header carrying an API key this instance verified recently (see
   * ApiKeysService.verified), or undefined: then authenticate(), which gives the same answer
   * for such a header, only slower. No regex, no hash, no promise.
   */
  cached(authorization: string | undefined): Principal | undefined {
    if (authorization === undefined || !authorization.startsWith(BEARER_API_KEY)) return undefined;
    return this.#keys.verified(authorization.slice(BEARER_PREFIX_LENGTH));
  }

  /** @throws UnauthenticatedError, or UnavailableError when a JWT issuer cannot be reached */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
    if (token === undefined) throw new UnauthenticatedError('Send a bearer credential: Authorization: Bearer <key>.');
    if (token.startsWith('rk_')) return this.#keys.authenticate(token);
    if (this.#jwt && token.split('.').length === 3) return this.#jwt.verify(token);
    throw new UnauthenticatedError('The credentials are not valid.');
  }
}
