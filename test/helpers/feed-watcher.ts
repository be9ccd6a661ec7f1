// A reader of the PostgreSQL event feed that checks the rule every reader relies on: a sequence
// never appears below one already seen (events/sql-sequencer.ts).
import type pg from 'pg';

/**
 * Polls the numbered sequences as fast as it can and records every one that appeared below the
 * highest it had already seen (what the feed must never show).
 */
export function feedWatcher(pool: pg.Pool) {
  const seen = new Set<number>();
  let highest = 0;
  const late: number[] = [];
  let polls = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const { rows } = await pool.query<{ seq: string }>('select seq from events where seq is not null order by seq');
      const highestBefore = highest;
      for (const { seq } of rows) {
        const n = Number(seq);
        if (seen.has(n)) continue;
        seen.add(n);
        if (n < highestBefore) late.push(n);
        highest = Math.max(highest, n);
      }
      polls++;
    }
  })();
  return {
    seen,
    late,
    polls: () => polls,
    highest: () => highest,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
