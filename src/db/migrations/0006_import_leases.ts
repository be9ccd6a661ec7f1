import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * A lease on import jobs: the process running a job holds `lease_owner` until
 * `lease_expires_at` and renews it while it runs. Each batch commit re-checks the owner in its
 * own transaction, so two processes can never both commit batches of one job (a CLI
 * `--resume` while the server runs it, two instances after a restart).
 */
export function importLeasesMigration(dialect: DialectName) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('import_jobs').addColumn('lease_owner', 'text').execute();
      await db.schema.alterTable('import_jobs').addColumn('lease_expires_at', time).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('import_jobs').dropColumn('lease_expires_at').execute();
      await db.schema.alterTable('import_jobs').dropColumn('lease_owner').execute();
    },
  };
}
