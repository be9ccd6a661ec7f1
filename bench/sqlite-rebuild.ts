import { sql, type Kysely } from 'kysely';

/**
 * Rebuilds a SQLite table with a changed definition, the way SQLite documents for changes ALTER
 * TABLE cannot make: a new table from the current CREATE TABLE text (so columns added by any
 * migration before this one come along, whatever their number), changed by `change`, filled
 * with every row, the old table dropped, the new one renamed, and the table's indexes created
 * again from their stored text. Runs in one transaction (the caller's, or its own). No other
 * table may reference `table` by foreign key (none references users or events).
 */
export async function rebuildSqliteTable(db: Kysely<unknown>, table: string, change: (createTable: string) => string): Promise<void> {
  const work = async (trx: Kysely<unknown>) => {
    const { rows: tables } = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = ${table}`.execute(
      trx,
    );
    const current = tables[0]?.sql;
    if (current === undefined) throw new Error(`no table ${table} to rebuild`);
    const { rows: indexes } = await sql<{ sql: string }>`
      select sql from sqlite_master where type = 'index' and tbl_name = ${table} and sql is not null`.execute(trx);
    const { rows: columns } = await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(trx);
    const rebuilt = `${table}_rebuilt`;
    const named = current.replace(new RegExp(`^CREATE TABLE\\s+("?)${table}\\1\\s*\\(`, 'i'), `CREATE TABLE "${rebuilt}" (`);
    if (named === current) throw new Error(`unexpected definition of ${table}: ${current}`);
    await sql.raw(change(named)).execute(trx);
    const list = sql.join(columns.map((c) => sql.ref(c.name)));
    await sql`insert into ${sql.table(rebuilt)} (${list}) select ${list} from ${sql.table(table)}`.execute(trx);
    await sql`drop table ${sql.table(table)}`.execute(trx);
    await sql`alter table ${sql.table(rebuilt)} rename to ${sql.table(table)}`.execute(trx);
    for (const index of indexes) await sql.raw(index.sql).execute(trx);
  };
  if (db.isTransaction) await work(db);
  else await db.transaction().execute(work);
}

/** `change` for rebuildSqliteTable(): the same table clustered on its primary key, with no rowid. */
export const withoutRowid = (createTable: string) => `${createTable.trimEnd()} WITHOUT ROWID`;
