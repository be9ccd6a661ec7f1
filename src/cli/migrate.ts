import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { migrateDown, migrateToLatest, migrationStatus, openKeyConflicts } from '../db/migrator.js';
import { createLogger } from '../observability/logger.js';
import { print, UsageError } from './output.js';

/** `roster migrate up|down|status`. */
export async function migrate(args: string[], config: Config): Promise<number> {
  const [direction = 'up', ...extra] = args;
  if (extra.length > 0 || !['up', 'down', 'status'].includes(direction)) {
    throw new UsageError('migrate takes one of: up, down, status');
  }
  // Loaded here, like the server, so `--help` and config errors do not pay for every capability.
  const { openConfiguredDatabase } = await import('../compose/database.js');
  const database = openConfiguredDatabase(config, createLogger('silent'), { command: { poolSize: 1, mayCreate: true } });
  try {
    if (direction === 'status') {
      for (const m of await migrationStatus(database.db, database.dialect.name)) {
        print(`${m.name}\t${m.executedAt ? `applied ${m.executedAt.toISOString()}` : 'pending'}\n`);
      }
      await printKeyConflicts(database);
      return 0;
    }
    const run = direction === 'up' ? migrateToLatest : migrateDown;
    const { results = [] } = await run(database.db, database.dialect.name);
    if (results.length === 0) print(direction === 'up' ? 'already up to date\n' : 'nothing to revert\n');
    for (const r of results) print(`${r.migrationName}\t${r.direction === 'Up' ? 'applied' : 'reverted'}\n`);
    if (direction === 'up') await printKeyConflicts(database);
    return 0;
  } finally {
    await database.close();
  }
}

/** Users whose email folds onto another user's (migration 0008), until an operator resolves them. */
async function printKeyConflicts(database: Database): Promise<void> {
  const conflicts = await openKeyConflicts(database.db, database.dialect.name);
  if (conflicts.length === 0) return;
  print(
    `\n${conflicts.length} user(s) kept their old email key: their email now matches another user's under the fold ` +
      `(table user_key_conflicts). Change one email of each pair, or merge the users:\n`,
  );
  for (const c of conflicts) print(`user ${c.userId} <${c.email}>\tfolds to ${c.foldedKey}, held by user ${c.holderId}\n`);
}
