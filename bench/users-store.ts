// µs per UserStore call of SqliteUserStore on a SQLite file of 100k users (the Kysely store it
// replaced measured 217/26/187 µs wall for create/get/list(50) in this bench, bench/RESULTS.md):
// `npx tsc -p tsconfig.json && node dist/bench/users-store.js` (ROSTER_BENCH_USERS to change the size).
// Also what fromUserRow() costs a row, the part of get/list that is the mapping.
// Two kinds of user, interleaved in each round: `plain` (no provisioning fields: the row as it
// was before migration 0011 but for its defaults) and `provisioned` (every provisioning field
// set, a ~400-byte profile as identity providers send): the same-run cost of the wider row.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { userStoreFor } from '../src/compose/users.js';
import { openDatabase } from '../src/db/database.js';
import { sqliteDialect } from '../src/db/dialect.js';
import { databaseMetrics } from '../src/db/metrics.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { userCreated } from '../src/users/events.js';
import {
  PROVISIONING_DEFAULTS,
  type Attributes,
  type Email,
  type ExternalId,
  type Profile,
  type User,
  type UserId,
  type UserName,
} from '../src/users/model.js';
import type { UserStore } from '../src/users/service.js';
import { INSERT_COLUMNS, SQLITE_INSERT_PLACEHOLDERS, USER_COLUMNS, fromUserRow, insertValues, toUserRow } from '../src/users/sql-row.js';

const USERS = Number(process.env.ROSTER_BENCH_USERS ?? 100_000);
const ROUNDS = 5;

type Kind = 'plain' | 'provisioned';

const PROFILE = {
  title: 'Senior Analyst',
  department: 'Research',
  organization: 'Example Ltd',
  cost_center: 'CC-1815',
  employee_number: '1815',
  manager_id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e00',
  user_type: 'Employee',
  preferred_language: 'en-GB',
  locale: 'en-GB',
  timezone: 'Europe/London',
  emails: [{ value: 'ada@home.example', type: 'home' }],
  phone_numbers: [{ value: '+44 20 7946 0000', type: 'work', primary: true }],
  addresses: [{ street_address: '12 St James Sq', locality: 'London', postal_code: 'SW1Y 4JH', country: 'GB', type: 'work' }],
} as Profile;

function newUser(i: number | string, kind: Kind): User {
  const now = new Date();
  return {
    id: uuidv7() as UserId,
    email: `bench-${kind}-${i}@example.com` as Email,
    name: `Bench User ${i}` as UserName,
    attributes: { team: 'core', level: 3, tags: ['a', 'b'] } as unknown as Attributes,
    ...PROVISIONING_DEFAULTS,
    ...(kind === 'provisioned'
      ? {
          givenName: 'Bench' as UserName,
          familyName: `User ${i}` as UserName,
          externalId: `00u-${kind}-${i}` as ExternalId,
          profile: PROFILE,
        }
      : {}),
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
  const insert = connection.prepare(`insert into users (${INSERT_COLUMNS}) values (${SQLITE_INSERT_PLACEHOLDERS})`);
  const ids: Record<Kind, UserId[]> = { plain: [], provisioned: [] };
  connection.transaction(() => {
    for (let i = 0; i < USERS; i++) {
      const kind = i % 2 === 0 ? 'plain' : 'provisioned';
      const r = toUserRow(newUser(`seed-${i}`, kind), sqliteDialect);
      insert.run(...insertValues(r));
      ids[kind].push(r.id as UserId);
    }
  })();
  for (const kind of ['plain', 'provisioned'] as const) ids[kind].sort();

  const store = userStoreFor(database);
  const stores: [Kind, UserStore][] = [
    ['plain', store],
    ['provisioned', store],
  ];
  let created = 0;
  // `list(50)` pages start inside each kind's half of the ids; a page mixes both kinds (ids interleave).
  const operations: [string, number, (kind: Kind, i: number) => Promise<unknown>][] = [
    [
      'create',
      2_000,
      (kind) => {
        const user = newUser(`new-${created++}`, kind);
        return store.create(user, undefined, userCreated(uuidv7(), user, { actor: 'bench' }));
      },
    ],
    ['get', 20_000, (kind, i) => store.get(ids[kind][(i * 7919) % ids[kind].length]!)],
    ['list(50)', 2_000, (kind, i) => store.list({ limit: 50, afterId: ids[kind][(i * 7919) % ids[kind].length]! })],
  ];

  // CPU time (user + system, this process) is the figure to compare on a shared machine: wall
  // time also counts waiting for a core.
  console.log(`${USERS} users, best of ${ROUNDS} rounds, µs per awaited call: wall / CPU`);
  for (const [label, n, call] of operations) {
    const best = new Map<string, { wall: number; cpu: number }>();
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? stores : [...stores].reverse();
      for (const [name] of order) {
        const start = process.hrtime.bigint();
        const cpuStart = process.cpuUsage();
        for (let i = 0; i < n; i++) await call(name, i + round * n);
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

  const rows = connection.prepare(`select ${USER_COLUMNS} from users order by id limit 50`).all() as Parameters<typeof fromUserRow>[0][];
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
