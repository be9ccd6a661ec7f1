// The write cost of events_subject_seq (migration 0016) on SQLite: CPU µs per event insert into
// a migrated events table with and without the index, same run, alternating rounds so the
// machine's load falls on both alike. The table is the events table as the migrations leave it
// on SQLite (written out here so the bench times the inserts alone).
// Usage: npm run build && node dist/bench/events-subject-index.js [events per round]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import Database from 'better-sqlite3';

const PER_ROUND = Number(process.argv[2] ?? 50_000);
const ROUNDS = 3;

function table(withIndex: boolean): { db: Database.Database; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'roster-bench-'));
  const db = new Database(join(dir, 'events.db'));
  db.pragma('journal_mode = WAL');
  db.exec(`create table events (seq integer primary key autoincrement, id text not null unique, type text not null,
    occurred_at text not null, actor text, request_id text, subject_id text not null, data text not null);
    create index events_type_seq on events (type, seq); create index events_occurred_at on events (occurred_at);`);
  if (withIndex) db.exec('create index events_subject_seq on events (subject_id, seq)');
  return { db, dir };
}

function round(withIndex: boolean): number {
  const { db, dir } = table(withIndex);
  const insert = db.prepare('insert into events (id, type, occurred_at, actor, request_id, subject_id, data) values (?, ?, ?, ?, ?, ?, ?)');
  const subjects = Array.from({ length: 10_000 }, () => randomUUID());
  const rows = Array.from({ length: PER_ROUND }, (_, i): (string | null)[] => [
    randomUUID(),
    'user.updated',
    new Date().toISOString(),
    'key:x',
    null,
    subjects[i % 10_000]!,
    '{}',
  ]);
  const start = process.cpuUsage();
  // One transaction per 100 events, as a busy server commits small transactions.
  for (let i = 0; i < rows.length; i += 100)
    db.transaction(() => {
      for (const r of rows.slice(i, i + 100)) insert.run(...r);
    })();
  const used = process.cpuUsage(start);
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return (used.user + used.system) / PER_ROUND;
}

const results: { without: number[]; with: number[] } = { without: [], with: [] };
for (let r = 0; r < ROUNDS; r++) {
  results.without.push(round(false));
  results.with.push(round(true));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  JSON.stringify({
    perRound: PER_ROUND,
    rounds: ROUNDS,
    cpuUsPerInsert: { withoutIndex: median(results.without).toFixed(2), withIndex: median(results.with).toFixed(2) },
    load: loadavg().map((l) => l.toFixed(2)),
  }),
);
