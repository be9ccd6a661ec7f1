import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A console sign-in as stored: never the cookie's token, only its SHA-256. */
export interface SessionRecord {
  /** SHA-256 of the token, hex. */
  readonly id: string;
  readonly keyId: string;
  /** Random bytes (base64url) from which the session's CSRF token is derived. */
  readonly csrfSecret: string;
  readonly createdAt: Date;
  readonly lastSeenAt: Date;
  readonly idleExpiresAt: Date;
  readonly absoluteExpiresAt: Date;
}

/** Storage port for console sessions. */
export interface SessionStore {
  insert(record: SessionRecord, signal?: AbortSignal): Promise<void>;
  get(id: string, signal?: AbortSignal): Promise<SessionRecord | undefined>;
  /** Moves the idle expiry on; never past the absolute one (the caller computes both). */
  touch(id: string, lastSeenAt: Date, idleExpiresAt: Date, signal?: AbortSignal): Promise<void>;
  delete(id: string, signal?: AbortSignal): Promise<void>;
  /** Deletes up to `limit` sessions past either expiry; returns how many. */
  pruneExpired(now: Date, limit: number, signal?: AbortSignal): Promise<number>;
}

export interface SessionPolicy {
  /** A session unused this long ends. */
  readonly idleMs: number;
  /** A session ends this long after sign-in, however busy. */
  readonly absoluteMs: number;
}

/** Half an hour idle, half a working day in all: an admin console, not a mail client. */
export const DEFAULT_SESSION_POLICY: SessionPolicy = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000 };

/** 256 random bits, base64url: 43 characters. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** Expired rows removed per sign-in: bounded work on a request, enough to keep up with sign-ins. */
const PRUNE_PER_SIGN_IN = 100;

export interface ConsoleSessionsOptions {
  readonly store: SessionStore;
  readonly policy?: SessionPolicy;
  readonly now?: () => Date;
}

/** A session found live for a presented token. */
export interface LiveSession {
  readonly record: SessionRecord;
  /** The synchronizer token every state-changing request of this session must carry. */
  readonly csrfToken: string;
}

/**
 * Console sessions: a random token in the browser's cookie, its hash in the database, so a
 * sign-out or an expiry holds on every instance and across restarts.
 */
export class ConsoleSessions {
  readonly #store: SessionStore;
  readonly #policy: SessionPolicy;
  readonly #now: () => Date;

  constructor(options: ConsoleSessionsOptions) {
    this.#store = options.store;
    this.#policy = options.policy ?? DEFAULT_SESSION_POLICY;
    this.#now = options.now ?? (() => new Date());
  }

  get policy(): SessionPolicy {
    return this.#policy;
  }

  /** Starts a session for a key whose secret was just verified; returns the token for the cookie. */
  async start(keyId: string, signal?: AbortSignal): Promise<{ token: string; session: LiveSession }> {
    const now = this.#now();
    // Sign-ins are rare next to page views: a good moment to drop what expired since the last one.
    await this.#store.pruneExpired(now, PRUNE_PER_SIGN_IN, signal);
    const token = randomBytes(32).toString('base64url');
    const absoluteExpiresAt = new Date(now.getTime() + this.#policy.absoluteMs);
    const record: SessionRecord = {
      id: sessionId(token),
      keyId,
      csrfSecret: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
      idleExpiresAt: earlier(new Date(now.getTime() + this.#policy.idleMs), absoluteExpiresAt),
      absoluteExpiresAt,
    };
    await this.#store.insert(record, signal);
    return { token, session: live(record) };
  }

  /**
   * The live session a cookie's token names, or undefined (malformed, unknown, signed out,
   * expired: an expired row is deleted on the way). Moves the idle expiry on, writing at most
   * once a minute per session rather than on every page view.
   */
  async resume(token: string | undefined, signal?: AbortSignal): Promise<LiveSession | undefined> {
    if (token === undefined || !TOKEN.test(token)) return undefined;
    const record = await this.#store.get(sessionId(token), signal);
    if (record === undefined) return undefined;
    const now = this.#now();
    if (record.idleExpiresAt <= now || record.absoluteExpiresAt <= now) {
      await this.#store.delete(record.id, signal);
      return undefined;
    }
    if (now.getTime() - record.lastSeenAt.getTime() < TOUCH_EVERY_MS) return live(record);
    const idleExpiresAt = earlier(new Date(now.getTime() + this.#policy.idleMs), record.absoluteExpiresAt);
    await this.#store.touch(record.id, now, idleExpiresAt, signal);
    return live({ ...record, lastSeenAt: now, idleExpiresAt });
  }

  /** Sign-out: the row goes, so the token is worthless everywhere at once. */
  async end(token: string | undefined, signal?: AbortSignal): Promise<void> {
    if (token === undefined || !TOKEN.test(token)) return;
    await this.#store.delete(sessionId(token), signal);
  }
}

/** How often a busy session's idle expiry is written. */
const TOUCH_EVERY_MS = 60_000;

/** The stored id of a token. */
export function sessionId(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The session's CSRF token: derived, so nothing more is stored and every instance computes the same one. */
export function csrfTokenOf(record: SessionRecord): string {
  return createHmac('sha256', record.csrfSecret).update(`csrf:${record.id}`).digest('base64url');
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(session: LiveSession, presented: unknown): boolean {
  if (typeof presented !== 'string') return false;
  const expected = Buffer.from(session.csrfToken);
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function live(record: SessionRecord): LiveSession {
  return { record, csrfToken: csrfTokenOf(record) };
}

function earlier(a: Date, b: Date): Date {
  return a <= b ? a : b;
}
