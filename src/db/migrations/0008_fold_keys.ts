import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../migrator.js';
import { CASE_FOLDING_17_0_0 } from '../../kit/unicode/case-folding-17.0.0.js';

/**
 * Rebuilds `users.email_key` and `users.name_key` with the users' key function, foldKey()
 * (users/model.ts: NFC, Unicode full case folding, U+0307 after i/j dropped, NFC), instead of
 * toLowerCase(). Keys that do not change are not written (every ASCII email and name).
 *
 * Two users whose emails differed under the old key but fold together (`Straße@…` and
 * `strasse@…`) must both survive, and only one can hold the folded key under the unique index:
 * a user that already has it keeps it (its key does not move), otherwise the oldest user
 * (created_at, then id) takes it. Every other user of the group keeps its old key — still
 * unique, still found by its exact old spelling and by prefix, not by the new fold — and is
 * recorded in `user_key_conflicts` with the holder's id. `roster migrate up` (and `status`)
 * print the conflicts still open (openKeyConflicts() in migrator.ts: the user still has that
 * email and that kept key); the fix is an operator's: change one user's email, or merge and
 * delete. Until then a write to the kept user that leaves its email as it is answers 409
 * email-taken, which is the truth under the new rule.
 *
 * The fold is frozen here on purpose: a migration's result must not change when the runtime's
 * key function changes later (a new Unicode version, another İ rule). So this file has its own
 * copy of the algorithm and reads the versioned 17.0.0 table, which is never edited (a new
 * version is a new table file and a new migration); it imports nothing from users/. NFC comes
 * from the runtime's ICU, which is stable for every assigned code point (Unicode's
 * normalization stability policy). Down rebuilds the keys as 0001–0007 wrote them.
 */
export function foldKeysMigration(dialect: DialectName) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('user_key_conflicts')
        .addColumn('user_id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('kept_key', 'text', (c) => c.notNull())
        .addColumn('folded_key', 'text', (c) => c.notNull())
        .addColumn('holder_id', 'text', (c) => c.notNull())
        .addColumn('found_at', time, (c) => c.notNull())
        .execute();
      await inTransaction(db, async (trx) => {
        const conflicts = await rekey(trx, foldKey0008);
        const foundAt = dialect === 'postgres' ? new Date() : new Date().toISOString();
        for (const c of conflicts) {
          await sql`insert into user_key_conflicts (user_id, email, kept_key, folded_key, holder_id, found_at)
            values (${c.userId}, ${c.email}, ${c.keptKey}, ${c.foldedKey}, ${c.holderId}, ${foundAt})`.execute(trx);
        }
      });
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await inTransaction(db, async (trx) => {
        const conflicts = await rekey(trx, (text) => text.toLowerCase());
        if (conflicts.length > 0) {
          throw new Error(`lower-cased emails collide for users ${conflicts.map((c) => `${c.userId}/${c.holderId}`).join(', ')}`);
        }
      });
      await db.schema.dropTable('user_key_conflicts').execute();
    },
  };
}

/** The key function as of this migration (see above for why it is a copy). */
const fold17 = compileFold(CASE_FOLDING_17_0_0);
function foldKey0008(text: string): string {
  // eslint-disable-next-line no-control-regex -- every ASCII character, control characters included
  if (/^[\x00-\x7f]*$/.test(text)) return text.toLowerCase();
  return fold17(text.normalize('NFC'))
    .replace(/(?<=[ij])\u0307+/g, '')
    .normalize('NFC');
}

function compileFold(table: string): (text: string) => string {
  const folds = new Map<string, string>();
  for (const entry of table.split(' ')) {
    const [from, to] = entry.split(':') as [string, string];
    folds.set(String.fromCodePoint(parseInt(from, 16)), String.fromCodePoint(...to.split('.').map((c) => parseInt(c, 16))));
  }
  const foldable = new RegExp(`[${[...folds.keys()].map((c) => `\\u{${c.codePointAt(0)!.toString(16)}}`).join('')}]`, 'gu');
  return (text) => text.replace(foldable, (c) => folds.get(c)!);
}

interface Conflict {
  readonly userId: string;
  readonly email: string;
  readonly keptKey: string;
  readonly foldedKey: string;
  readonly holderId: string;
}

interface Move {
  readonly id: string;
  readonly email: string;
  readonly oldKey: string;
  readonly newKey: string;
  readonly createdAt: number;
}

const BATCH = 500;

/** PostgreSQL runs the migrations in one transaction already; SQLite's migrator does not. */
async function inTransaction(db: Kysely<unknown>, work: (trx: Kysely<unknown>) => Promise<void>): Promise<void> {
  if (db.isTransaction) await work(db);
  else await db.transaction().execute(work);
}

/**
 * Sets every user's keys to `key(email)` and `key(name)`, reading in id order in batches, and
 * returns the users that could not take their email's new key (see the migration's comment).
 */
async function rekey(db: Kysely<unknown>, key: (text: string) => string): Promise<Conflict[]> {
  const moves: Move[] = [];
  for (let after = ''; ;) {
    const { rows } = await sql<{ id: string; email: string; email_key: string; name: string; name_key: string; created_at: Date | string }>`
      select id, email, email_key, name, name_key, created_at from users where id > ${after} order by id limit ${sql.lit(BATCH)}`.execute(
      db,
    );
    if (rows.length === 0) break;
    const names: [string, string][] = [];
    for (const row of rows) {
      const emailKey = key(row.email);
      if (emailKey !== row.email_key) {
        moves.push({
          id: row.id,
          email: row.email,
          oldKey: row.email_key,
          newKey: emailKey,
          createdAt: new Date(row.created_at).getTime(),
        });
      }
      const nameKey = key(row.name);
      if (nameKey !== row.name_key) names.push([row.id, nameKey]);
    }
    await setKeys(db, 'name_key', names);
    after = rows.at(-1)!.id;
  }
  if (moves.length === 0) return [];
  // Out of the way first, so no row meets a key that another row is about to give up. Email
  // keys always contain an @, so these cannot collide with one.
  await setKeys(
    db,
    'email_key',
    moves.map((m) => [m.id, `#0008#${m.id}`]),
  );
  const groups = new Map<string, Move[]>();
  for (const move of moves) groups.set(move.newKey, [...(groups.get(move.newKey) ?? []), move]);
  const final: [string, string][] = [];
  const conflicts: Conflict[] = [];
  for (const [newKey, group] of groups) {
    const { rows } = await sql<{ id: string }>`select id from users where email_key = ${newKey}`.execute(db);
    group.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    const holderId = rows[0]?.id ?? group[0]!.id;
    for (const m of group) {
      if (m.id === holderId) final.push([m.id, newKey]);
      else {
        final.push([m.id, m.oldKey]);
        conflicts.push({ userId: m.id, email: m.email, keptKey: m.oldKey, foldedKey: newKey, holderId });
      }
    }
  }
  await setKeys(db, 'email_key', final);
  return conflicts.sort((a, b) => (a.userId < b.userId ? -1 : 1));
}

/** One `update … from (values …)` per batch (both dialects name the columns column1, column2). */
async function setKeys(db: Kysely<unknown>, column: 'email_key' | 'name_key', keys: readonly [string, string][]): Promise<void> {
  for (let i = 0; i < keys.length; i += BATCH) {
    const values = sql.join(keys.slice(i, i + BATCH).map(([id, key]) => sql`(${id}, ${key})`));
    await sql`update users set ${sql.ref(column)} = v.column2 from (values ${values}) as v where users.id = v.column1`.execute(db);
  }
}
