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
 * A key as the verification path needs it, prepared once per cache fill: the stored hash already
 * decoded, the times as numbers and the Principal built.
 */
interface VerifiedKey {
  readonly until: number;
  readonly found:
    | { readonly id: string; readonly hash: Buffer; readonly revoked: boolean; readonly expiresAtMs: number; readonly principal: Principal }
    | undefined;
}

/**
 * A presented key this instance has verified: trusted until the record it was checked against
 * goes stale (`until`, the same TTL as the record cache) or the key expires.
 */
interface VerifiedToken {
  readonly id: string;
  readonly until: number;
  readonly expiresAtMs: number;
  readonly principal: Principal;
}

/** API key use cases: create (shown once), list, revoke, and authenticate on every request. */
export class ApiKeysService {
  readonly #store: ApiKeyStore;
  readonly #now: () => Date;
  readonly #nowMs: () => number;
  readonly #cacheTtlMs: number;
  readonly #onTouchError: (error: unknown) => void;
  readonly #cache = new Map<string, VerifiedKey>();
  /**
   * Keys verified here, by the whole presented key: a request with one costs this lookup, not a
   * regex, a SHA-256 and a compare. Filled only after a successful verification, so unknown or
   * forged keys never enter it (they go to `#cache` by id, as before): it holds at most one
   * entry per valid key, since one id has exactly one secret that verifies.
   *
   * Timing: this Map is keyed by secret material, and a lookup's time can depend on the key. V8
   * finds the entry by the string's hash (seeded per process) and compares characters only with
   * a stored key of the same hash, so a guess that differs from a valid key hashes elsewhere and
   * is never compared with it; what timing could reveal is at most whether some stored key shares
   * a guess's hash bucket — a few bits of a hash, never a prefix of a secret that can be grown
   * character by character (the attack constant-time compares prevent). Against a 256-bit secret
   * that is worth nothing, and the miss path still ends in the constant-time compare.
   */
  readonly #verified = new Map<string, VerifiedToken>();
  readonly #lastTouched = new Map<string, number>();

  constructor(options: ApiKeysServiceOptions) {
    this.#store = options.store;
    this.#now = options.now ?? (() => new Date());
    const now = options.now;
    this.#nowMs = now ? () => now().getTime() : Date.now;
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
    // At most one token per key, but found by value: revocations are rare and the map bounded.
    for (const [token, verified] of this.#verified) if (verified.id === id) this.#verified.delete(token);
    return record;
  }

  /**
   * The principal of a key verified on this instance within the cache TTL and not expired since,
   * or undefined (then call authenticate()). Synchronous, no hash, no allocation: the request
   * path tries it first.
   */
  verified(presented: string, nowMs: number = this.#nowMs()): Principal | undefined {
    const hit = this.#verified.get(presented);
    if (hit === undefined) return undefined;
    if (hit.until <= nowMs || hit.expiresAtMs <= nowMs) {
      this.#verified.delete(presented);
      return undefined;
    }
    this.#touch(hit.id, nowMs);
    return hit.principal;
  }

  /**
   * Verifies a presented key. @throws UnauthenticatedError whatever is wrong with it
   * (malformed, unknown, wrong secret, revoked, expired), without saying which.
   */
  async authenticate(presented: string): Promise<Principal> {
    const nowMs = this.#nowMs();
    const known = this.verified(presented, nowMs);
    if (known) return known;
    const parsed = parseKey(presented);
    if (!parsed) throw new UnauthenticatedError('The credentials are not valid.');
    const entry = await this.#lookup(parsed.id, nowMs);
    const key = entry.found;
    if (!key || !secretMatches(parsed.secret, key.hash) || key.revoked || key.expiresAtMs <= nowMs) {
      throw new UnauthenticatedError('The credentials are not valid.');
    }
    this.#remember(presented, entry, nowMs);
    this.#touch(key.id, nowMs);
    return key.principal;
  }

  /**
   * The principal of key `id` while it is live (known, not revoked, not expired), else undefined:
   * for callers that hold a key's id rather than its secret (console sessions, src/console/).
   * Read through the same record cache as authenticate(), so a revocation ends it as soon as it
   * ends the key's own requests: at once here, on other instances within the cache TTL.
   */
  async principalOf(id: string): Promise<Principal | undefined> {
    const nowMs = this.#nowMs();
    const key = (await this.#lookup(id, nowMs)).found;
    if (key === undefined || key.revoked || key.expiresAtMs <= nowMs) return undefined;
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

  async #lookup(id: string, nowMs: number): Promise<VerifiedKey> {
    const cached = this.#cache.get(id);
    if (cached && cached.until > nowMs) return cached;
    const record = await this.#store.get(id);
    if (this.#cache.size >= CACHE_MAX_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    const found = record && {
      id: record.id,
      hash: Buffer.from(record.secretHash, 'hex'),
      revoked: record.revokedAt !== null,
      expiresAtMs: record.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY,
      principal: Object.freeze({ actor: `key:${record.id}`, kind: 'api_key' as const, scopes: new Set<string>(record.scopes) }),
    };
    const entry = { found, until: nowMs + this.#cacheTtlMs };
    this.#cache.set(id, entry);
    return entry;
  }

  /** Remembers a key just verified against `entry` until that entry goes stale; with a TTL of 0 nothing is kept. */
  #remember(presented: string, entry: VerifiedKey, nowMs: number): void {
    const key = entry.found;
    if (key === undefined || entry.until <= nowMs) return;
    // A revocation that completed while this verification awaited the store dropped the entry:
    // remembering the key now would undo it.
    if (this.#cache.get(key.id) !== entry) return;
    if (this.#verified.size >= CACHE_MAX_ENTRIES) this.#verified.delete(this.#verified.keys().next().value!);
    this.#verified.set(presented, { id: key.id, until: entry.until, expiresAtMs: key.expiresAtMs, principal: key.principal });
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
