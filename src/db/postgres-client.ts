import type pg from 'pg';
import { onAbort, type Cancellation } from '../kit/deadline.js';
import { outageRule } from './outage.js';

/**
 * A client from the pool for one unit of work. An aborted `cancellation` stops the wait for a
 * free client (a saturated pool queues callers for up to connectionTimeoutMillis, past any
 * request deadline); a client that arrives after the abort goes straight back to the pool.
 *
 * A pool holding an idle client for every caller already queued hands this one a client on its
 * next tick: there is no wait to stop, so nothing listens. A wait listens through onAbort(),
 * which never makes a Deadline's AbortSignal: that signal, its listener and the promise around
 * them were 14% of a PostgreSQL GET's instructions with one request in flight, and at 50 in
 * flight, where nearly every GET waits, the largest share of what outlived young-generation
 * collections (bench/RESULTS.md, issue 14, sixteenth and seventeenth passes).
 */
export async function checkout(pool: pg.Pool, cancellation: Cancellation | undefined): Promise<pg.PoolClient> {
  cancellation?.throwIfAborted();
  if (cancellation === undefined) return pool.connect();
  if (pool.idleCount > pool.waitingCount) {
    const client = await pool.connect();
    if (!cancellation.aborted) return client;
    client.release();
    throw asError(cancellation.reason);
  }
  const pending = pool.connect();
  return new Promise<pg.PoolClient>((resolve, reject) => {
    const stopListening = onAbort(cancellation, (reason) => reject(asError(reason)));
    pending.then(
      (client) => {
        stopListening();
        if (cancellation.aborted) client.release();
        else resolve(client);
      },
      (error: unknown) => {
        stopListening();
        reject(asError(error));
      },
    );
  });
}

/**
 * Returns a client to the pool after its work ended with `error` (or none). A connection that
 * died under the work is destroyed rather than pooled; one that merely ran a failing statement
 * (a unique violation, a timeout) is as good as new, and destroying it would make every
 * conflict cost a new connection.
 */
export function release(client: pg.PoolClient, error?: unknown): void {
  if (error !== undefined && outageRule(error, 'postgres')?.lost === true) {
    client.release(asError(error));
  } else {
    client.release();
  }
}

/** Runs `work` on a pooled client and releases it on every path. */
export async function withClient<T>(
  pool: pg.Pool,
  cancellation: Cancellation | undefined,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await checkout(pool, cancellation);
  let result: T;
  try {
    result = await work(client);
  } catch (error) {
    release(client, error);
    throw error;
  }
  release(client);
  return result;
}

/**
 * Runs `work` inside BEGIN … COMMIT on one pooled client. On any error the transaction is rolled
 * back when the connection still works; if even the rollback fails, the client is destroyed
 * (a connection stuck in a transaction must never go back to the pool).
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  cancellation: Cancellation | undefined,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await checkout(pool, cancellation);
  let result: T;
  try {
    await client.query('begin');
    result = await work(client);
    await client.query('commit');
  } catch (error) {
    try {
      if (outageRule(error, 'postgres')?.lost !== true) await client.query('rollback');
      release(client, error);
    } catch (rollbackError) {
      client.release(asError(rollbackError));
    }
    throw error;
  }
  release(client);
  return result;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error('The operation failed', { cause: value });
}
