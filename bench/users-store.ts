// µs per UserStore call of SqliteUserStore on a SQLite file of 100k users (the Kysely store it
// replaced measured 217/26/187 µs wall for create/get/list(50) in this bench, bench/RESULTS.md):
// `npx tsc -p tsconfig.json && node dist/bench/users-store.js` (ROSTER_BENCH_USERS to change the size).
// Also what fromUserRow() costs a row, the part of get/list that is the mapping.
import { PROVISIONING_DEFAULTS } from '../src/users/model.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { userStoreFor } from '../src/compose/users.js';
import { openDatabase } from '../src/db/database.js';
import { sqliteDialect } from '../src/db/dialect.js';
import { databaseMetrics } from '../src/db/instrumentation.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { userCreated } from '../src/users/events.js';
import type { Attributes, Email, User, UserId, UserName } from '../src/users/model.js';
import type { UserStore } from '../src/users/service.js';
import { fromUserRow, toUserRow } from '../src/users/sql-row.js';

const USERS = Number(process.env.ROSTER_BENCH_USERS ?? 100_000);
const ROUNDS = 5;

function newUser(i: number | string): User {
  const now = new Date();
  return {
    id: uuidv7() as UserId,
    email: `bench-${i}@example.com` as Email,
    name: `Bench User ${i}` as UserName,
    attributes: { team: 'core', level: 3, tags: ['a', 'b'] } as unknown as Attributes,
    ...PROVISIONING_DEFAULTS,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'roster-bench-store-'));
const database = openDatabase(join(dir, 'roster.db'), { metrics: databaseMetrics(new Registry()) });
try {
  await migrateToLatest(database.db, 'sqlite');
  if (database.driver.kind !== 'sqlite') throw new Error('SQLite only');
  const connection = database.driver.connection;
  const insert = connection.prepare(
    'insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const ids: UserId[] = [];
  connection.transaction(() => {
    for (let i = 0; i < USERS; i++) {
      const r = toUserRow(newUser(`seed-${i}`), sqliteDialect);
      insert.run(r.id, r.email, r.email_key, r.name, r.name_key, r.attributes, r.version, r.created_at, r.updated_at);
      ids.push(r.id as UserId);
    }
  })();

  const stores: [string, UserStore][] = [['SqliteUserStore', userStoreFor(database)]];
  let created = 0;
  const operations: [string, number, (store: UserStore, i: number) => Promise<unknown>][] = [
    [
      'create',
      2_000,
      (store) => {
        const user = newUser(`new-${created++}`);
        return store.create(user, undefined, userCreated(uuidv7(), user, { actor: 'bench' }));
      },
    ],
    ['get', 20_000, (store, i) => store.get(ids[(i * 7919) % ids.length]!)],
    ['list(50)', 2_000, (store, i) => store.list({ limit: 50, afterId: ids[(i * 7919) % ids.length]! })],
  ];

  // CPU time (user + system, this process) is the figure to compare on a shared machine: wall
  // time also counts waiting for a core.
  console.log(`${USERS} users, best of ${ROUNDS} rounds, µs per awaited call: wall / CPU`);
  for (const [label, n, call] of operations) {
    const best = new Map<string, { wall: number; cpu: number }>();
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? stores : [...stores].reverse();
      for (const [name, store] of order) {
        const start = process.hrtime.bigint();
        const cpuStart = process.cpuUsage();
        for (let i = 0; i < n; i++) await call(store, i + round * n);
        const cpu = process.cpuUsage(cpuStart);
        const wall = Number(process.hrtime.bigint() - start) / n / 1000;
        const previous = best.get(name) ?? { wall: Infinity, cpu: Infinity };
        best.set(name, { wall: Math.min(previous.wall, wall), cpu: Math.min(previous.cpu, (cpu.user + cpu.system) / n) });
      }
    }
    const cells = stores.map(([name]) => {
      const b = best.get(name)!;
      return `${name} ${b.wall.toFixed(1).padStart(6)} / ${b.cpu.toFixed(1).padStart(6)}`;
    });
    console.log(`${label.padEnd(9)} ${cells.join('   ')}`);
  }

  const rows = connection
    .prepare('select id, email, name, attributes, version, created_at, updated_at from users order by id limit 50')
    .all() as Parameters<typeof fromUserRow>[0][];
  // The same mapping with V8's generic date parser, as sqliteDialect.fromTime() was before kit/iso-time.ts.
  const genericDates = { ...sqliteDialect, fromTime: (value: unknown) => new Date(value as string) };
  let sink = 0;
  for (const [label, dialect] of [
    ['fromUserRow', sqliteDialect],
    ['fromUserRow, new Date()', genericDates],
  ] as const) {
    const best: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < 10_000; i++) for (const row of rows) sink += fromUserRow(row, dialect).version;
      best.push(Number(process.hrtime.bigint() - start) / (10_000 * rows.length) / 1000);
    }
    console.log(`${label.padEnd(24)} ${Math.min(...best).toFixed(3)} µs/row${sink < 0 ? '!' : ''}`);
  }
} finally {
  await database.close();
  rmSync(dir, { recursive: true, force: true });
}
