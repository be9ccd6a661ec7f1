import type { Logger } from 'pino';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { fullJitterMs, type BackoffPolicy } from '../kit/backoff.js';

/** The channel event writers notify on (events/sql-commit-notifier.ts), with the events table's schema as payload. */
export const EVENTS_CHANNEL = 'roster_events';

/**
 * Notifies the listeners of the schema `db` works in that events were committed. The payload
 * is the schema, so two Roster schemas in one database can tell their events apart.
 */
export async function notifyEventCommits<DB>(db: Kysely<DB>): Promise<void> {
  await sql`select pg_notify(${EVENTS_CHANNEL}, current_schema())`.execute(db);
}

export interface CommitListenerOptions {
  /** The database to listen on (the server's own ROSTER_DATABASE_URL). */
  readonly url: string;
  /** Called for each notification of this schema's events (one per committing transaction), and once after each (re)connect. */
  readonly onCommit: () => void;
  readonly logger: Logger;
  /** Waits between reconnects (full jitter). Default 100 ms doubling to 5 s. */
  readonly reconnect?: BackoffPolicy;
  /** How long one connection attempt may take. Default 5 s. */
  readonly connectTimeoutMs?: number;
}

/**
 * One dedicated PostgreSQL connection per instance that LISTENs on `roster_events`: every
 * process that commits events notifies right after (events/sql-commit-notifier.ts), so every
 * instance's dispatcher hears of it within a round trip or two. Not from the pool: a LISTEN lives
 * as long as its session, and a pooled client would be reused or recycled.
 *
 * When the connection drops (a restart, a failover, pg_terminate_backend) it reconnects with
 * capped, jittered backoff, forever, one attempt at a time; meanwhile `listening` is false (the
 * dispatcher polls at its short interval), and after each reconnect onCommit() is called once,
 * for whatever committed while nobody listened.
 */
export class PostgresCommitListener {
  readonly #options: CommitListenerOptions;
  readonly #policy: BackoffPolicy;
  #client: pg.Client | undefined;
  #schema: string | undefined;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #started = false;

  constructor(options: CommitListenerOptions) {
    this.#options = options;
    this.#policy = options.reconnect ?? { baseMs: 100, maxMs: 5_000 };
  }

  /** True while the LISTEN is in place: every commit of events is being heard. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /** Connects and listens (in the background); idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#connect();
  }

  /** Stops listening and closes the connection; no reconnect after this. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client({
      connectionString: this.#options.url,
      connectionTimeoutMillis: this.#options.connectTimeoutMs ?? 5_000,
      application_name: 'roster-events-listener',
      // A connection that went silent (a dead peer behind NAT) is found by the kernel, not never.
      keepAlive: true,
    });
    // Both may fire for one loss ('error' then 'end'): #lost() acts once per client.
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, undefined));
    client.on('notification', (message) => {
      if (message.channel === EVENTS_CHANNEL && message.payload === this.#schema) this.#options.onCommit();
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ schema: string }>('select current_schema() as schema');
      this.#schema = rows[0]?.schema;
      await client.query(`listen ${EVENTS_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      this.#retry(error);
      return;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    if (this.#failures > 0) this.#options.logger.info({ failed_attempts: this.#failures }, 'listening for event commits again');
    this.#failures = 0;
    this.#client = client;
    this.#options.onCommit();
  }

  #lost(client: pg.Client, error: Error | undefined): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    client.end().catch(() => undefined);
    this.#retry(error ?? new Error('the listening connection ended'));
  }

  #retry(error: unknown): void {
    if (this.#stopped) return;
    this.#failures++;
    // One line when listening stops, then one a minute or so at the capped wait, not one per attempt.
    if (this.#failures === 1 || this.#failures % 16 === 0)
      this.#options.logger.warn(
        { err: error, failed_attempts: this.#failures },
        'not listening for event commits; polling meanwhile, reconnecting',
      );
    const waitMs = Math.max(this.#policy.baseMs / 2, fullJitterMs(this.#failures, this.#policy));
    this.#timer = setTimeout(() => void this.#connect(), waitMs);
  }
}
