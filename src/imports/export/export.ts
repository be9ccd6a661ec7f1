import { createRequire } from 'node:module';
import type SQLite from 'better-sqlite3';
import type { Database } from '../../db/database.js';
import { SQLITE_LIMIT } from '../../db/sqlite-steps.js';
import type { Attributes, Email, ExternalId, Profile, UserId, UserName } from '../../users/model.js';
import { formatUsers, type ExportedUser, type ExportFormat } from './export-format.js';

export interface ExportOptions {
  readonly format: ExportFormat;
  /** Only users changed at or after this time. */
  readonly since?: Date | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Counts the users read, as they are read (the CLI's summary). */
  readonly tally?: ExportTally | undefined;
}

export interface ExportTally {
  users: number;
}

/** Users are read in pages of this many within the one snapshot. */
const PAGE = 1000;
/**
 * On SQLite a page is read synchronously and then formatted in the same turn of the event loop
 * (the rows go to the consumer through microtasks): 1,000 rows held the loop ~8 ms reading and
 * ~25 ms with the NDJSON formatting (bench/search-stall.ts, 50k users, loaded machine).
 */
const SQLITE_PAGE = 250;

/**
 * The directory as export text (CSV or NDJSON), from one consistent snapshot, in id order,
 * pulled by the consumer (backpressure) in constant memory.
 *
 * SQLite: a second, read-only connection to the same file, read in keyset pages within one read
 * transaction, which in WAL mode sees a fixed snapshot while writers go on; doing it on the
 * service's own connection would hold Kysely's lock, and so stop every API query, for the
 * whole export. PostgreSQL: a pooled connection in a REPEATABLE READ, READ ONLY
 * transaction, read in keyset pages.
 */
export function exportUsers(database: Database, options: ExportOptions): AsyncGenerator<string, void, undefined> {
  const users =
    database.driver.kind === 'sqlite' ? sqliteUsers(database.driver.connection.name, options) : postgresUsers(database, options);
  return formatUsers(options.format)(users, options.signal === undefined ? {} : { signal: options.signal });
}

const EXPORT_COLUMNS = 'id, email, name, given_name, family_name, external_id, active, attributes, profile';

/** The text columns of a row, as both databases return them. */
interface ExportRow {
  id: string;
  email: string;
  name: string;
  given_name: string | null;
  family_name: string | null;
  external_id: string | null;
}

function exported(row: ExportRow, active: boolean, attributes: Attributes, profile: Profile): ExportedUser {
  return {
    id: row.id as UserId,
    email: row.email as Email,
    name: row.name as UserName,
    givenName: row.given_name as UserName | null,
    familyName: row.family_name as UserName | null,
    externalId: row.external_id as ExternalId | null,
    active,
    attributes,
    profile,
  };
}

// The SQLite addon is loaded by the export that reads with it, as db/database.ts loads it: an
// import or export on PostgreSQL (which loads this module) never holds it in memory.
const require = createRequire(import.meta.url);

async function* sqliteUsers(file: string, options: ExportOptions): AsyncGenerator<ExportedUser, void, undefined> {
  const SQLiteDatabase = require('better-sqlite3') as typeof SQLite;
  const connection = new SQLiteDatabase(file, { readonly: true, fileMustExist: true });
  try {
    // better-sqlite3 reads synchronously: a page is one bounded read (a primary-key range of SQLITE_PAGE
    // rows), and the event loop runs between pages. `since` is checked here, not in the WHERE: a
    // filter that matched rarely would make one read walk the table. The read transaction keeps
    // one snapshot across the pages.
    connection.exec('begin');
    const page = connection.prepare(`select ${EXPORT_COLUMNS}, updated_at from users where id > ? order by id ${SQLITE_LIMIT}`);
    const since = options.since?.toISOString();
    for (let after = ''; ;) {
      options.signal?.throwIfAborted();
      const rows = page.all(after, SQLITE_PAGE) as (ExportRow & {
        active: number;
        attributes: string;
        profile: string;
        updated_at: string;
      })[];
      for (const row of rows) {
        // ISO text, as SQLite compares it.
        if (since !== undefined && row.updated_at < since) continue;
        if (options.tally !== undefined) options.tally.users++;
        yield exported(row, row.active === 1, JSON.parse(row.attributes) as Attributes, JSON.parse(row.profile) as Profile);
      }
      if (rows.length < SQLITE_PAGE) break;
      after = rows.at(-1)!.id;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    connection.exec('commit');
  } finally {
    connection.close();
  }
}

async function* postgresUsers(database: Database, options: ExportOptions): AsyncGenerator<ExportedUser, void, undefined> {
  if (database.driver.kind !== 'postgres') return;
  const client = await database.driver.pool.connect();
  let broken: Error | undefined;
  let done = false;
  const onError = (error: Error) => (broken = error);
  client.on('error', onError);
  try {
    await client.query('begin isolation level repeatable read read only');
    // The first page has no lower bound: ids are uuid on PostgreSQL, and no string sorts before them all.
    let after: string | undefined;
    for (;;) {
      options.signal?.throwIfAborted();
      const params: unknown[] = [PAGE];
      const where: string[] = [];
      if (after !== undefined) where.push(`id > $${params.push(after)}`);
      if (options.since !== undefined) where.push(`updated_at >= $${params.push(options.since)}`);
      const { rows } = await client.query<ExportRow & { active: boolean; attributes: Attributes; profile: Profile }>(
        `select ${EXPORT_COLUMNS} from users ${where.length === 0 ? '' : `where ${where.join(' and ')}`} order by id limit $1`,
        params,
      );
      for (const row of rows) {
        if (options.tally !== undefined) options.tally.users++;
        yield exported(row, row.active, row.attributes, row.profile);
      }
      if (rows.length < PAGE) break;
      after = rows.at(-1)!.id;
    }
    await client.query('commit');
    done = true;
  } catch (error) {
    broken ??= error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    client.off('error', onError);
    // A transaction left open (the consumer stopped early) must not go back to the pool.
    client.release(done ? undefined : (broken ?? true));
  }
}
