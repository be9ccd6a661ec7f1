// What a write waiting for another process's SQLite write lock does to the rest of the instance
// (issue 15: "no request may block the event loop on SQLite for long"). A worker thread, standing
// for a `roster import` beside the server, opens the same file and holds the write lock for
// HOLD_MS; meanwhile this process starts one write of each kind and, while it waits, reads users
// by id one after another. Reported per kind: how long the write took, how many reads were served
// while it waited and the slowest of them, and the longest the event loop went without a turn.
// With SQLite's busy handler on the event loop the write held everything for the whole hold.
//
//   node dist/bench/sqlite-lock-wait.js          (ROSTER_BENCH_HOLD_MS, default 300; ROSTER_BENCH_ROUNDS, 3)
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { buildServices, type Services } from '../src/compose/services.js';
import { loadConfig } from '../src/config.js';
import { SqlApiKeyStore } from '../src/auth/sql-store.js';
import { openDatabase } from '../src/db/database.js';
import { sqliteDialect } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { createLogger } from '../src/observability/logger.js';

const HOLD_MS = Number(process.env.ROSTER_BENCH_HOLD_MS ?? 300);
const ROUNDS = Number(process.env.ROSTER_BENCH_ROUNDS ?? 3);
const USERS = 2000;

/** The other process: takes the write lock, says so, holds it HOLD_MS (blocking its own thread), commits. */
const HOLDER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
parentPort.on('message', () => {
  db.exec('BEGIN IMMEDIATE');
  parentPort.postMessage('locked');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.holdMs);
  db.exec('COMMIT');
  parentPort.postMessage('released');
});
`;

const dir = mkdtempSync(join(tmpdir(), 'roster-bench-lock-'));
const file = join(dir, 'roster.db');
const setup = openDatabase(file);
await migrateToLatest(setup.db, 'sqlite');
await setup.close();

const config = loadConfig({ ROSTER_DATABASE_URL: `sqlite:${file}`, ROSTER_MIGRATE_ON_START: 'false', ROSTER_WEBHOOK_WORKERS: '0' });
const services = await buildServices(config, createLogger('silent'), { registry: new Registry() });
const ids: string[] = [];
for (let i = 0; i < USERS; i++)
  ids.push((await services.users.create({ email: `u${i}@example.com`, name: `User ${i}` }, undefined)).user.id);

const holder = new Worker(HOLDER, {
  eval: true,
  workerData: { file, holdMs: HOLD_MS, driver: new URL('../../node_modules/better-sqlite3/lib/index.js', import.meta.url).pathname },
});
const nextMessage = () => new Promise<string>((resolve) => holder.once('message', resolve));

let serial = 0;
const writes: Record<string, (s: Services) => Promise<unknown>> = {
  'user create (users store)': (s) => s.users.create({ email: `w${++serial}@example.com`, name: 'Waiting' }, undefined),
  'group create (groups store)': (s) => s.groups.create({ display_name: `Waiting ${++serial}` }),
  'API key create (Kysely transaction)': (s) => s.apiKeys.create({ name: `waiting ${++serial}`, scopes: ['users:read'] }),
  'webhook endpoint create (Kysely transaction)': (s) => s.webhooks.create({ url: `https://hooks.example.com/${++serial}` }),
  // What authentication does, unawaited, on a key's first use in a minute.
  "API key's last-used time (Kysely autocommit)": (s) => new SqlApiKeyStore(s.database.db, sqliteDialect).touch(keyId!, new Date()),
};
let keyId: string | undefined;

interface Sample {
  writeMs: number;
  reads: number;
  slowestReadMs: number;
  loopGapMs: number;
}

async function measure(write: (s: Services) => Promise<unknown>): Promise<Sample> {
  holder.postMessage('go');
  await nextMessage();
  const released = nextMessage();
  let done = false;
  let maxGap = 0;
  let last = performance.now();
  const turn = () => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    if (!done) setImmediate(turn);
  };
  setImmediate(turn);
  const started = performance.now();
  const writing = write(services).finally(() => (done = true));
  let reads = 0;
  let slowest = 0;
  while (!done) {
    const t = performance.now();
    await services.users.get(ids[reads % ids.length]!);
    slowest = Math.max(slowest, performance.now() - t);
    reads++;
    // A read on SQLite resolves in a microtask: without a turn of the loop this loop would starve
    // the write's timers, as requests arriving over sockets never do.
    await setImmediatePromise();
  }
  await writing;
  const writeMs = performance.now() - started;
  await released;
  return { writeMs, reads, slowestReadMs: slowest, loopGapMs: maxGap };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = loadavg()[0]!.toFixed(1);
console.log(`SQLite, ${USERS} users; another connection holds the write lock ${HOLD_MS} ms; ${ROUNDS} rounds (medians), load ${load}`);
console.log('| write | write ms | reads served while it waited | slowest read ms | longest event-loop gap ms |');
console.log('|---|--:|--:|--:|--:|');
for (const [name, write] of Object.entries(writes)) {
  const samples: Sample[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    keyId = (await services.apiKeys.create({ name: `touched ${round}`, scopes: ['users:read'] })).record.id;
    samples.push(await measure(write));
  }
  const m = (pick: (s: Sample) => number) => median(samples.map(pick)).toFixed(0);
  console.log(`| ${name} | ${m((s) => s.writeMs)} | ${m((s) => s.reads)} | ${m((s) => s.slowestReadMs)} | ${m((s) => s.loopGapMs)} |`);
}
await holder.terminate();
await services.close();
rmSync(dir, { recursive: true, force: true });
