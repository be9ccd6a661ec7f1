// Groups: 10,000 members added in batches of 1,000 through GroupsService (validation, the group's
// lock, existence checks, the kept count, one event per batch), then read back by cursor in pages
// of 1,000, against a same-run baseline: the raw INSERT of the same rows in the same batches, and
// the same keyset SELECT, through the driver directly. Both databases, interleaved rounds.
// `npx tsc -p tsconfig.json && node dist/bench/groups.js` (ROSTER_BENCH_MEMBERS, ROSTER_BENCH_ROUNDS).
//
// Figures: wall time, and CPU time: this process's (process.cpuUsage) plus, on PostgreSQL, the
// server backends' of the bench database (utime + stime from /proc/<pid>/stat), since the
// machine is shared and wall time also counts waiting for a core.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { groupStoreFor } from '../src/compose/users.js';
import { openDatabase, type Database } from '../src/db/database.js';
import { SQLITE_LIMIT } from '../src/db/sqlite-steps.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { GroupsService } from '../src/groups/service.js';
import { CursorCodec } from '../src/kit/cursor.js';

const MEMBERS = Number(process.env.ROSTER_BENCH_MEMBERS ?? 10_000);
const BATCH = 1_000;
const ROUNDS = Number(process.env.ROSTER_BENCH_ROUNDS ?? 3);
const POSTGRES_URL = process.env.ROSTER_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Cost {
  wall: number;
  cpu: number;
}

/** The kernel's CPU ticks (user + system) of these processes, in ms; 0 for one that is gone or unreadable. */
function ticksMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // a backend that ended meanwhile
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

async function measure(serverPids: () => Promise<number[]>, work: () => Promise<void>): Promise<Cost> {
  const pids = await serverPids();
  const serverBefore = ticksMs(pids);
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  await work();
  const wall = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  return { wall, cpu: (cpu.user + cpu.system) / 1000 + (ticksMs(pids) - serverBefore) };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The raw path: what the service's statements amount to without it, through the driver. */
interface Raw {
  insertGroup(id: string): Promise<void>;
  insertMembers(groupId: string, userIds: readonly string[]): Promise<void>;
  page(groupId: string, after: string, limit: number): Promise<string[]>;
  seedUsers(ids: readonly string[]): Promise<void>;
}

function rawFor(database: Database): Raw {
  const now = new Date().toISOString();
  const driver = database.driver;
  if (driver.kind === 'sqlite') {
    const c = driver.connection;
    const user = c.prepare(
      `insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at) values (?, ?, ?, ?, ?, '{}', 1, ?, ?)`,
    );
    const group = c.prepare(
      `insert into groups (id, display_name, display_name_key, external_id, attributes, member_count, version, created_at, updated_at) values (?, ?, ?, null, '{}', 0, 1, ?, ?)`,
    );
    const member = c.prepare('insert into group_members (group_id, user_id, added_at) values (?, ?, ?)');
    const page = c.prepare(
      `select u.id, u.email, u.name, m.added_at from group_members m join users u on u.id = m.user_id where m.group_id = ? and m.user_id > ? order by m.user_id ${SQLITE_LIMIT}`,
    );
    const insertMembers = c.transaction((groupId: string, ids: readonly string[]) => {
      for (const id of ids) member.run(groupId, id, now);
    });
    return {
      async seedUsers(ids) {
        c.transaction(() =>
          ids.forEach((id, i) => user.run(id, `m${i}@example.com`, `m${i}@example.com`, `Member ${i}`, `member ${i}`, now, now)),
        )();
      },
      async insertGroup(id) {
        group.run(id, id, id, now, now);
      },
      async insertMembers(groupId, ids) {
        insertMembers.immediate(groupId, ids);
      },
      async page(groupId, after, limit) {
        return (page.all(groupId, after, limit) as { id: string }[]).map((r) => r.id);
      },
    };
  }
  const pool = driver.pool;
  return {
    async seedUsers(ids) {
      await pool.query(
        `insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at)
         select id, 'm' || n || '@example.com', 'm' || n || '@example.com', 'Member ' || n, 'member ' || n, '{}', 1, now(), now()
         from unnest($1::uuid[]) with ordinality as t(id, n)`,
        [ids],
      );
    },
    async insertGroup(id) {
      await pool.query(
        `insert into groups (id, display_name, display_name_key, external_id, attributes, member_count, version, created_at, updated_at)
         values ($1::uuid, $1::text, $1::text, null, '{}', 0, 1, now(), now())`,
        [id],
      );
    },
    async insertMembers(groupId, ids) {
      await pool.query({
        name: 'bench.raw-members',
        text: 'insert into group_members (group_id, user_id, added_at) select $1, u, $3 from unnest($2::uuid[]) as u',
        values: [groupId, ids, now],
      });
    },
    async page(groupId, after, limit) {
      const { rows } = await pool.query({
        name: 'bench.raw-page',
        text: `select u.id, u.email, u.name, m.added_at from group_members m join users u on u.id = m.user_id
               where m.group_id = $1 and m.user_id > $2 order by m.user_id limit $3`,
        values: [groupId, after, limit],
      });
      return rows.map((r: { id: string }) => r.id);
    },
  };
}

async function benchOne(label: string, database: Database, serverPids: () => Promise<number[]>): Promise<void> {
  await migrateToLatest(database.db, database.dialect.name);
  const raw = rawFor(database);
  const userIds = Array.from({ length: MEMBERS }, () => uuidv7());
  await raw.seedUsers(userIds);
  const sorted = [...userIds].sort();
  const service = new GroupsService({ store: groupStoreFor(database), cursors: new CursorCodec(randomBytes(32)), newId: uuidv7 });
  const batches = chunks(userIds, BATCH);

  const costs = { serviceAdd: [] as Cost[], rawAdd: [] as Cost[], serviceRead: [] as Cost[], rawRead: [] as Cost[] };
  for (let round = 0; round < ROUNDS; round++) {
    const serviceFirst = round % 2 === 0;
    const runService = async () => {
      const { group } = await service.create({ display_name: `bench ${uuidv7()}` });
      costs.serviceAdd.push(
        await measure(serverPids, async () => {
          for (const batch of batches) await service.addMembers(group.id, batch, undefined);
        }),
      );
      let read = 0;
      costs.serviceRead.push(
        await measure(serverPids, async () => {
          let cursor: string | undefined;
          do {
            const page = await service.members(group.id, { limit: BATCH, cursor });
            read += page.items.length;
            cursor = page.nextCursor ?? undefined;
          } while (cursor !== undefined);
        }),
      );
      if (read !== MEMBERS) throw new Error(`service read ${read} members`);
      await service.delete(group.id, undefined);
    };
    const runRaw = async () => {
      const groupId = uuidv7();
      await raw.insertGroup(groupId);
      costs.rawAdd.push(
        await measure(serverPids, async () => {
          for (const batch of batches) await raw.insertMembers(groupId, batch);
        }),
      );
      let read = 0;
      costs.rawRead.push(
        await measure(serverPids, async () => {
          let after = database.dialect.name === 'postgres' ? '00000000-0000-0000-0000-000000000000' : '';
          for (;;) {
            const ids = await raw.page(groupId, after, BATCH + 1);
            read += Math.min(ids.length, BATCH);
            if (ids.length <= BATCH) break;
            after = ids[BATCH - 1]!;
          }
        }),
      );
      if (read !== MEMBERS) throw new Error(`raw read ${read} members`);
      if (sorted.length !== MEMBERS) throw new Error('unreachable');
    };
    for (const run of serviceFirst ? [runService, runRaw] : [runRaw, runService]) await run();
  }
  const median = (xs: Cost[], key: keyof Cost) => [...xs.map((x) => x[key])].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const row = (what: string, service: Cost[], baseline: Cost[]) => {
    const [sw, bw, sc, bc] = [median(service, 'wall'), median(baseline, 'wall'), median(service, 'cpu'), median(baseline, 'cpu')];
    console.log(
      `${label.padEnd(10)} ${what.padEnd(34)} service ${sw.toFixed(0).padStart(6)} ms wall ${sc.toFixed(0).padStart(6)} ms CPU | raw ${bw
        .toFixed(0)
        .padStart(6)} ms wall ${bc.toFixed(0).padStart(6)} ms CPU | ×${(sw / bw).toFixed(2)} wall ×${(sc / bc).toFixed(2)} CPU`,
    );
  };
  row(`add ${MEMBERS} in batches of ${BATCH}`, costs.serviceAdd, costs.rawAdd);
  row(`read ${MEMBERS} by cursor (pages of ${BATCH})`, costs.serviceRead, costs.rawRead);
}

console.log(`median of ${ROUNDS} interleaved rounds; CPU = this process + (PostgreSQL) the database's backends`);
const dir = mkdtempSync(join(tmpdir(), 'roster-bench-groups-'));
const sqlite = openDatabase(join(dir, 'roster.db'));
try {
  await benchOne('sqlite', sqlite, async () => []);
} finally {
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
}

const name = `roster_bench_groups_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: POSTGRES_URL });
await admin.connect();
try {
  await admin.query(`create database ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  const postgres = openDatabase(url.toString(), { poolSize: 4 });
  try {
    const backends = async () =>
      (await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [name])).rows.map((r) => r.pid);
    await benchOne('postgres', postgres, backends);
  } finally {
    await postgres.close();
  }
} finally {
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
