import { FieldErrors } from '../kit/errors.js';
import { ApiKeyNotFoundError, UnauthenticatedError } from './errors.js';
import { generateKey, parseKey, secretMatches } from './keys.js';
import { SCOPES, isScope, type Principal, type Scope } from './model.js';

export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly secretHash: string;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
  readonly lastUsedAt: Date | null;
}

/** Storage port for API keys, owned by the auth capability. Each method stops before its work once `signal` aborted. */
export interface ApiKeyStore {
  insert(record: ApiKeyRecord, signal?: AbortSignal): Promise<void>;
  get(id: string, signal?: AbortSignal): Promise<ApiKeyRecord | undefined>;
  list(signal?: AbortSignal): Promise<ApiKeyRecord[]>;
  /** Sets revoked_at if not yet set; returns the key as stored afterwards, or undefined if unknown. */
  revoke(id: string, at: Date, signal?: AbortSignal): Promise<ApiKeyRecord | undefined>;
  touch(id: string, at: Date, signal?: AbortSignal): Promise<void>;
  /**
   * In one transaction: marks the database as bootstrapped and inserts `record`, but only if
   * it was never bootstrapped and holds no key. True when the record was inserted.
   */
  insertBootstrapKey(record: ApiKeyRecord, signal?: AbortSignal): Promise<boolean>;
}

export interface ApiKeysServiceOptions {
  readonly store: ApiKeyStore;
  readonly now?: () => Date;
  /** How long a verified key is trusted from memory; bounds how late another instance sees a revocation. */
  readonly cacheTtlMs: number;
  /** Reports failures of the background last_used_at write, which never fail a request. */
  readonly onTouchError?: (error: unknown) => void;
}

const NAME_MAX = 100;
const CACHE_MAX_ENTRIES = 10_000;
const TOUCH_INTERVAL_MS = 60_000;

/**
 * A key as the request path needs it, prepared once per cache fill: the stored hash already
 * decoded, the times as numbers and the Principal built, so a request with a cached key costs
 * one SHA-256, one constant-time compare and no allocation beyond the digest.
 */
interface VerifiedKey {
  readonly until: number;
  readonly found:
    | { readonly id: string; readonly hash: Buffer; readonly revoked: boolean; readonly expiresAtMs: number; readonly principal: Principal }
    | undefined;
}

/** API key use cases: create (shown once), list, revoke, and authenticate on every request. */
export class ApiKeysService {
  readonly #store: ApiKeyStore;
  readonly #now: () => Date;
  readonly #cacheTtlMs: number;
  readonly #onTouchError: (error: unknown) => void;
  readonly #cache = new Map<string, VerifiedKey>();
  readonly #lastTouched = new Map<string, number>();

  constructor(options: ApiKeysServiceOptions) {
    this.#store = options.store;
    this.#now = options.now ?? (() => new Date());
    this.#cacheTtlMs = options.cacheTtlMs;
    this.#onTouchError = options.onTouchError ?? (() => undefined);
  }

  /**
   * Creates a key; the plaintext is in the result and nowhere else, ever.
   * @throws ValidationError for a bad name, unknown scopes or a non-positive lifetime
   */
  async create(
    input: {
      name: unknown;
      scopes: unknown;
      expiresInSeconds?: unknown;
    },
    signal?: AbortSignal,
  ): Promise<{ record: ApiKeyRecord; plaintext: string }> {
    const errors = new FieldErrors();
    const name = typeof input.name === 'string' ? input.name.trim() : '';
    // Unpaired surrogates have no UTF-8 encoding: both databases would store U+FFFD instead, so
    // the name listed later would differ from the one shown at creation.
    if (name.length === 0 || name.length > NAME_MAX || /\p{Cc}/u.test(name) || !name.isWellFormed()) {
      errors.add('/name', `must be 1–${NAME_MAX} characters of valid Unicode text without control characters`);
    }
    const scopes = Array.isArray(input.scopes) ? input.scopes : [];
    if (scopes.length === 0) errors.add('/scopes', `must list at least one of ${SCOPES.join(', ')}`);
    scopes.forEach((s, i) => {
      if (typeof s !== 'string' || !isScope(s)) errors.add(`/scopes/${i}`, `must be one of ${SCOPES.join(', ')}`);
    });
    const lifetime = input.expiresInSeconds;
    if (lifetime !== undefined && (typeof lifetime !== 'number' || !Number.isInteger(lifetime) || lifetime <= 0)) {
      errors.add('/expires_in_seconds', 'must be a positive whole number of seconds');
    }
    errors.throwIfAny();
    const now = this.#now();
    const key = generateKey();
    const record: ApiKeyRecord = {
      id: key.id,
      name,
      scopes: [...new Set(scopes as Scope[])],
      secretHash: key.secretHash,
      createdAt: now,
      expiresAt: typeof lifetime === 'number' ? new Date(now.getTime() + lifetime * 1000) : null,
      revokedAt: null,
      lastUsedAt: null,
    };
    await this.#store.insert(record, signal);
    return { record, plaintext: key.plaintext };
  }

  list(signal?: AbortSignal): Promise<ApiKeyRecord[]> {
    return this.#store.list(signal);
  }

  /** Revokes now; this instance stops accepting the key at once, others within the cache TTL. @throws ApiKeyNotFoundError */
  async revoke(id: string, signal?: AbortSignal): Promise<ApiKeyRecord> {
    const record = await this.#store.revoke(id, this.#now(), signal);
    if (!record) throw new ApiKeyNotFoundError(`No API key has id ${id}.`);
    this.#cache.delete(id);
    return record;
  }

  /**
   * Verifies a presented key. @throws UnauthenticatedError whatever is wrong with it
   * (malformed, unknown, wrong secret, revoked, expired), without saying which.
   */
  async authenticate(presented: string): Promise<Principal> {
    const parsed = parseKey(presented);
    if (!parsed) throw new UnauthenticatedError('The credentials are not valid.');
    const nowMs = this.#now().getTime();
    const key = await this.#lookup(parsed.id, nowMs);
    if (!key || !secretMatches(parsed.secret, key.hash) || key.revoked || key.expiresAtMs <= nowMs) {
      throw new UnauthenticatedError('The credentials are not valid.');
    }
    this.#touch(key.id, nowMs);
    return key.principal;
  }

  /**
   * Creates the first admin key if this database never had a key (not even one made with
   * `roster keys create` before the first start); returns its plaintext. At most once per
   * database, however many instances start together.
   */
  async bootstrap(): Promise<string | undefined> {
    const key = generateKey();
    const record: ApiKeyRecord = {
      id: key.id,
      name: 'bootstrap admin',
      scopes: ['admin'],
      secretHash: key.secretHash,
      createdAt: this.#now(),
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
    };
    return (await this.#store.insertBootstrapKey(record)) ? key.plaintext : undefined;
  }

  async #lookup(id: string, nowMs: number): Promise<VerifiedKey['found']> {
    const cached = this.#cache.get(id);
    if (cached && cached.until > nowMs) return cached.found;
    const record = await this.#store.get(id);
    if (this.#cache.size >= CACHE_MAX_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    const found = record && {
      id: record.id,
      hash: Buffer.from(record.secretHash, 'hex'),
      revoked: record.revokedAt !== null,
      expiresAtMs: record.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY,
      principal: Object.freeze({ actor: `key:${record.id}`, kind: 'api_key' as const, scopes: new Set<string>(record.scopes) }),
    };
    this.#cache.set(id, { found, until: nowMs + this.#cacheTtlMs });
    return found;
  }

  /** Records last use at most once a minute per key per instance, off the request path. */
  #touch(id: string, nowMs: number): void {
    const last = this.#lastTouched.get(id) ?? 0;
    if (nowMs - last < TOUCH_INTERVAL_MS) return;
    if (this.#lastTouched.size >= CACHE_MAX_ENTRIES) this.#lastTouched.clear();
    this.#lastTouched.set(id, nowMs);
    this.#store.touch(id, new Date(nowMs)).catch(this.#onTouchError);
  }
}
