import SQLite from 'better-sqlite3';
import type { Database } from '../../db/database.js';
import type { Attributes, Email, UserId, UserName } from '../../users/model.js';
import { formatUsers, type ExportedUser, type ExportFormat } from './export-format.js';

export interface ExportOptions {
  readonly format: ExportFormat;
  /** Only users changed at or after this time. */
  readonly since?: Date | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Users are read in pages of this many (PostgreSQL) within the one snapshot. */
const PAGE = 1000;

/**
 * The directory as export text (CSV or NDJSON), from one consistent snapshot, in id order,
 * pulled by the consumer (backpressure) in constant memory.
 *
 * SQLite: a second, read-only connection to the same file. One statement iterated to the end
 * is one read transaction, which in WAL mode sees a fixed snapshot while writers go on; doing
 * it on the service's own connection would hold Kysely's lock, and so stop every API query,
 * for the whole export. PostgreSQL: a pooled connection in a REPEATABLE READ, READ ONLY
 * transaction, read in keyset pages.
 */
export function exportUsers(database: Database, options: ExportOptions): AsyncGenerator<string, void, undefined> {
  const users =
    database.driver.kind === 'sqlite' ? sqliteUsers(database.driver.connection.name, options) : postgresUsers(database, options);
  return formatUsers(options.format)(users, options.signal === undefined ? {} : { signal: options.signal });
}

async function* sqliteUsers(file: string, options: ExportOptions): AsyncGenerator<ExportedUser, void, undefined> {
  const connection = new SQLite(file, { readonly: true, fileMustExist: true });
  try {
    const statement = connection.prepare(
      `select id, email, name, attributes from users ${options.since === undefined ? '' : 'where updated_at >= ?'} order by id`,
    );
    const rows = (options.since === undefined ? statement.iterate() : statement.iterate(options.since.toISOString())) as IterableIterator<{
      id: string;
      email: string;
      name: string;
      attributes: string;
    }>;
    let n = 0;
    for (const row of rows) {
      // Yield to the event loop now and then: the rows are read synchronously.
      if (++n % PAGE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      options.signal?.throwIfAborted();
      yield {
        id: row.id as UserId,
        email: row.email as Email,
        name: row.name as UserName,
        attributes: JSON.parse(row.attributes) as Attributes,
      };
    }
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
      const { rows } = await client.query<{ id: string; email: string; name: string; attributes: Attributes }>(
        `select id, email, name, attributes from users ${where.length === 0 ? '' : `where ${where.join(' and ')}`} order by id limit $1`,
        params,
      );
      for (const row of rows)
        yield { id: row.id as UserId, email: row.email as Email, name: row.name as UserName, attributes: row.attributes };
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
