import type { Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';

/**
 * A subject's events (`GET /v1/events?subject_id=`, a user's page in the console) as an index
 * range: (subject_id, seq) gives one subject's events in feed order, either way, bounded by the
 * page's LIMIT. Without it the filter walks the whole feed. It costs every event insert one more
 * index entry (bench/events-subject-index.js measures it on SQLite). Built in the migration's transaction:
 * on a large PostgreSQL `events` table, writes wait while it builds (run it in a quiet window).
 */
export function eventsSubjectIndexMigration(_dialect: DialectName) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createIndex('events_subject_seq').on('events').columns(['subject_id', 'seq']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('events_subject_seq').execute();
    },
  };
}
