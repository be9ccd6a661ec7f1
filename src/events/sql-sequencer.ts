import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { Schema } from '../db/schema.js';

/**
 * Key of the PostgreSQL advisory lock that serialises numbering passes (an arbitrary constant,
 * unique within Roster's advisory locks; the migrator uses Kysely's own lock table).
 */
export const EVENT_SEQUENCE_LOCK = 7_265_301;

/** The next feed sequence. Drawn only inside a pass (underSequenceLock()), in the order the numbers are to be seen. */
export const NEXT_SEQUENCE = "nextval('events_seq_numbers')";

/** Events numbered by one pass at most; a bigger backlog takes several passes. */
export const SEQUENCING_BATCH = 5_000;

/**
 * Numbers committed, unnumbered events from `events_seq_numbers`, in `ord` (insertion) order.
 * $1 = how many at most (both passes write it in: numberEventsUpTo()). The inner ORDER BY … LIMIT is a subquery the
 * planner cannot flatten, so the outer select draws nextval() row by row in that order.
 */
export const NUMBER_EVENTS =
  `update events e set seq = n.seq from (select ord, ${NEXT_SEQUENCE} as seq from ` +
  `(select ord from events where seq is null order by ord limit $1) o) n where e.ord = n.ord and e.seq is null`;

/**
 * Gives committed PostgreSQL events their feed sequence (migration 0014). Writers insert events
 * with `seq` NULL and no lock, so their commits overlap and share WAL flushes; then they ask for
 * a numbering pass and wait for it. A pass takes the advisory lock, numbers every committed,
 * unnumbered event in `ord` order with fresh values of the sequence, and commits, which releases
 * the lock. Why a reader never sees sequence 12 before 11: every number is given by a pass; passes
 * run one at a time, each committing before the next can take the lock; a pass draws its numbers
 * after the previous pass's, so every number a pass gives is above every number already visible,
 * and all of a pass's numbers become visible together at its commit. The lock is taken in its own
 * statement, so the numbering statement's snapshot (READ COMMITTED: one per statement) sees the
 * previous pass's commit. A pass that fails leaves its rows unnumbered (and a gap nobody saw).
 *
 * One EventSequencer per pool (or Kysely instance) and process coalesces requests: at most one
 * pass runs and one waits, and each request is answered by a pass that started after it.
 */
export class EventSequencer {
  readonly #pass: (limit: number) => Promise<number>;
  #current: Promise<Error | undefined> | undefined;
  #queued: Promise<Error | undefined> | undefined;

  constructor(pass: (limit: number) => Promise<number>) {
    this.#pass = pass;
  }

  /**
   * Numbers every event committed before this call (and any others it finds). Resolves once a pass
   * that started after the call has committed; never rejects: a failure comes back as the Error
   * (the events stay committed and unnumbered until a later pass, e.g. the server's safety net).
   */
  sequence(): Promise<Error | undefined> {
    if (this.#current === undefined) return this.#begin();
    // The pass running may have read the events table before the caller's commit: wait for the next.
    this.#queued ??= this.#current.then(() => {
      this.#queued = undefined;
      return this.#current ?? this.#begin();
    });
    return this.#queued;
  }

  #begin(): Promise<Error | undefined> {
    const running = this.#passes().finally(() => {
      if (this.#current === running) this.#current = undefined;
    });
    this.#current = running;
    return running;
  }

  async #passes(): Promise<Error | undefined> {
    try {
      let numbered: number;
      do {
        numbered = await this.#pass(SEQUENCING_BATCH);
      } while (numbered >= SEQUENCING_BATCH);
      return undefined;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }
}

const byPool = new WeakMap<pg.Pool | Kysely<Schema>, EventSequencer>();

/** The sequencer of the writers on `pool` in this process (pg directly: the users store, the import). */
export function sequencerForPool(pool: pg.Pool): EventSequencer {
  let sequencer = byPool.get(pool);
  if (sequencer === undefined) {
    sequencer = new EventSequencer((limit) => poolPass(pool, limit));
    byPool.set(pool, sequencer);
  }
  return sequencer;
}

/**
 * Makes `db`'s writers (appendEvent()'s callers) share the sequencer of the pool it runs on:
 * one coalescing queue per process, and every pass the one-round-trip poolPass().
 */
export function shareSequencer(db: Kysely<Schema>, pool: pg.Pool): void {
  byPool.set(db, sequencerForPool(pool));
}

/**
 * The sequencer of the writers through `db` in this process (Kysely: appendEvent()'s callers):
 * the pool's after shareSequencer(), else one of its own (a Kysely instance a test built).
 */
export function sequencerForKysely(db: Kysely<Schema>): EventSequencer {
  let sequencer = byPool.get(db);
  if (sequencer === undefined) {
    sequencer = new EventSequencer((limit) => kyselyPass(db, limit));
    byPool.set(db, sequencer);
  }
  return sequencer;
}

/**
 * Whether committed events have waited unnumbered for over `ageMs`: left by a writer that died
 * (or lost its connection) between its commit and its pass, or by a caller of appendEvent() that
 * does not publish. Reads the small partial index of unnumbered rows only.
 */
export async function hasOrphanedEvents(pool: pg.Pool, ageMs: number): Promise<boolean> {
  const { rowCount } = await pool.query(
    `select 1 from events where seq is null and occurred_at < now() - make_interval(secs => $1) limit 1`,
    [ageMs / 1000],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * One pass as ONE round trip: the transaction, the lock, the numbering and the commit go to the
 * server as a single simple-protocol query string, so the lock is held only while the server
 * executes the UPDATE and the COMMIT. Sent as separate statements, the lock stayed held across
 * this process's round trips: a starved event loop (a loaded machine, a long GC) in any one
 * instance then stalled every writer in the cluster, whose requests wait for a pass (CI saw
 * POST /v1/users reach its 10 s deadline on a surviving instance). Each statement of the string
 * still takes its own READ COMMITTED snapshot, so the UPDATE sees the previous pass's commit.
 */
export function numberingPass(limit: number): string {
  return `begin; ${underSequenceLock(numberEventsUpTo(limit))}`;
}

/** NUMBER_EVENTS for at most `limit` events, the limit written in: a pass's string takes no parameters. */
function numberEventsUpTo(limit: number): string {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`a numbering pass needs a positive limit, got ${limit}`);
  return NUMBER_EVENTS.replace('$1', String(limit));
}

/** Taken first by every pass; held until its commit. */
const TAKE_SEQUENCE_LOCK = `select pg_advisory_xact_lock(${EVENT_SEQUENCE_LOCK})`;

/**
 * The end of a transaction that is a pass, as one simple-protocol string: the lock, `statements`
 * (which draw their numbers with NEXT_SEQUENCE, in order), and the commit, so the lock is held
 * only while the server executes them and every number drawn becomes visible at once, above all
 * visible before. numberingPass() numbers rows committed unnumbered; a writer that inserts its
 * events numbered in here needs no pass after it (users/postgres-batch-writer.ts).
 */
export function underSequenceLock(statements: string): string {
  return `${TAKE_SEQUENCE_LOCK}; ${statements}; commit`;
}

async function poolPass(pool: pg.Pool, limit: number): Promise<number> {
  const client = await pool.connect();
  let failed: unknown;
  try {
    // A multi-statement string answers with one result per statement: the UPDATE's is the third.
    const results = (await client.query(numberingPass(limit))) as unknown as pg.QueryResult[];
    return results[2]?.rowCount ?? 0;
  } catch (error) {
    failed = error;
    // The server skipped what followed the failing statement and left the transaction aborted.
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    // A connection that failed mid-pass is not given back to others.
    client.release(failed instanceof Error ? failed : undefined);
  }
}

async function kyselyPass(db: Kysely<Schema>, limit: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await sql.raw(TAKE_SEQUENCE_LOCK).execute(trx);
    const result = await sql.raw(numberEventsUpTo(limit)).execute(trx);
    return Number(result.numAffectedRows ?? 0);
  });
}
