// How long one list, search or export holds the event loop on SQLite at 1M users (better-sqlite3
// is synchronous: a query blocks every other request while it runs). Each route's statement is
// timed through UsersService (the store, both scans, the merge) beside the same SQL stepped
// directly on better-sqlite3 (the floor), and the search beside the statement it replaced (one
// LIKE over both keys in id order). Rounds are interleaved; figures are ms per call, median and
// max over the rounds, and the longest the event loop went without a turn (loopProbe()).
//
// `npm run bench:search-stall` (rewrites the bench:search-stall section of bench/RESULTS.md), or
// `npx tsc -p tsconfig.json && node dist/bench/search-stall.js` to print only (ROSTER_BENCH_WRITE=1
// to write; ROSTER_BENCH_USERS to change the size).
import { PROVISIONING_DEFAULTS } from '../src/users/model.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { userStoreFor } from '../src/compose/users.js';
import { openDatabase } from '../src/db/database.js';
import { databaseMetrics } from '../src/db/metrics.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { SQLITE_LIMIT } from '../src/db/sqlite-steps.js';
import { exportUsers } from '../src/imports/export/export.js';
import { formatUsers, type ExportedUser } from '../src/imports/export/export-format.js';
import { CursorCodec } from '../src/kit/cursor.js';
import { foldKey, type Attributes, type Email, type UserId, type UserName } from '../src/users/model.js';
import { prefixRange } from '../src/users/search.js';
import { UsersService } from '../src/users/service.js';
import { listStatementOf, listText, searchStatementOf, searchText } from '../src/users/sqlite-statements.js';
import { writeResultsSection } from './results-file.js';

const USERS = Number(process.env.ROSTER_BENCH_USERS ?? 1_000_000);
const ROUNDS = 5;
const EXPORT_ROUNDS = 2;
const FIRST = ['ada', 'alan', 'grace', 'john', 'joan', 'linus', 'margaret', 'ken', 'barbara', 'edsger', 'donald', 'frances'];
const LAST = [
  'lovelace',
  'turing',
  'hopper',
  'smith',
  'clarke',
  'torvalds',
  'hamilton',
  'thompson',
  'liskov',
  'dijkstra',
  'knuth',
  'allen',
];
const COLUMNS = 'id, email, name, attributes, version, created_at, updated_at';
/** The list statement before issue 15 (its shape with a prefix and no cursor). */
const LIKE_SEARCH = `select ${COLUMNS} from users where (name_key like ? escape '\\' or email_key like ? escape '\\') order by id ${SQLITE_LIMIT}`;

/**
 * The longest the event loop went without a turn: a setImmediate chain notes the CPU time (this
 * process, all threads) and the wall time between consecutive turns. CPU time leaves out the
 * time the process waited for a core on a loaded machine.
 */
function loopProbe() {
  let stopped: ((gaps: { cpu: number; wall: number }) => void) | undefined;
  let maxCpu = 0;
  let maxWall = 0;
  let lastCpu = process.cpuUsage();
  let lastWall = performance.now();
  const turn = () => {
    const cpu = process.cpuUsage();
    const wall = performance.now();
    maxCpu = Math.max(maxCpu, (cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000);
    maxWall = Math.max(maxWall, wall - lastWall);
    lastCpu = cpu;
    lastWall = wall;
    if (stopped) stopped({ cpu: maxCpu, wall: maxWall });
    else setImmediate(turn);
  };
  setImmediate(turn);
  return { stop: () => new Promise<{ cpu: number; wall: number }>((resolve) => (stopped = resolve)) };
}

const dir = mkdtempSync(join(tmpdir(), 'roster-bench-stall-'));
const file = join(dir, 'roster.db');
const database = openDatabase(file, { metrics: databaseMetrics(new Registry()) });
try {
  await migrateToLatest(database.db, 'sqlite');
  if (database.driver.kind !== 'sqlite') throw new Error('SQLite only');
  const connection = database.driver.connection;
  const loadStarted = performance.now();
  const insert = connection.prepare(
    `insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at)
     values (?, ?, ?, ?, ?, '{"team":"core"}', 1, ?, ?)`,
  );
  const ids: string[] = [];
  connection.transaction(() => {
    const at = new Date().toISOString();
    for (let i = 0; i < USERS; i++) {
      const first = FIRST[i % FIRST.length]!;
      const last = LAST[Math.floor(i / FIRST.length) % LAST.length]!;
      const id = uuidv7();
      ids.push(id);
      const email = `${first}.${last}.${i}@example.com`;
      const name = `${first[0]!.toUpperCase()}${first.slice(1)} ${last[0]!.toUpperCase()}${last.slice(1)} ${i}`;
      insert.run(id, email, foldKey(email), name, foldKey(name), at, at);
    }
  })();
  const loadSeconds = (performance.now() - loadStarted) / 1000;

  const cursors = new CursorCodec(randomBytes(32));
  const users = new UsersService({
    store: userStoreFor(database),
    cursors,
    newId: uuidv7,
    idempotencyTtlMs: 60_000,
  });
  const deep = ids[Math.floor(USERS * 0.9)]!;
  // A plain list's cursor moved to 90% of the id order (same filters, so the same filter tag).
  const firstCursor = cursors.decode((await users.list({ limit: 1 })).nextCursor!);
  const deepCursor = cursors.encode({ ...firstCursor, after: deep });
  const walkCursor = async (q: string, pages: number) => {
    let cursor: string | undefined;
    for (let i = 0; i < pages; i++) cursor = (await users.list({ limit: 50, q, cursor })).nextCursor ?? undefined;
    return cursor;
  };
  const commonDeep = await walkCursor('jo', 20);

  /** Runs the SQL directly: the floor for the same statement. */
  const direct = (text: string, params: unknown[]) => {
    const statement = connection.prepare(text);
    return () => statement.all(...params).length;
  };
  const searchFloor = (q: string, limit: number) => {
    const range = prefixRange(foldKey(q));
    const scans = (['email', 'name'] as const).map((key) => {
      const { shape, params } = searchStatementOf({ key, after: { key: range.from, id: '' }, below: range.below, limit: limit + 1 });
      return direct(searchText(shape), params);
    });
    return () => scans.reduce((n, scan) => n + scan(), 0);
  };
  const listFloor = (afterId: string | undefined, limit: number) => {
    const { shape, params } = listStatementOf({ limit: limit + 1, ...(afterId === undefined ? {} : { afterId: afterId as never }) });
    return direct(listText(shape), params);
  };
  const likeSearch = (q: string, limit: number) => {
    const pattern = `${foldKey(q)}%`;
    return direct(LIKE_SEARCH, [pattern, pattern, limit + 1]);
  };

  type Call = () => unknown;
  const cases: { label: string; calls: [string, Call][] }[] = [
    {
      label: 'q rare prefix (`zq`), limit 50',
      calls: [
        ['UsersService.list', () => users.list({ limit: 50, q: 'zq' })],
        ['same SQL, better-sqlite3', searchFloor('zq', 50)],
        ['before: LIKE in id order', likeSearch('zq', 50)],
      ],
    },
    {
      label: 'q common prefix (`jo`), limit 50',
      calls: [
        ['UsersService.list', () => users.list({ limit: 50, q: 'jo' })],
        ['same SQL, better-sqlite3', searchFloor('jo', 50)],
        ['before: LIKE in id order', likeSearch('jo', 50)],
      ],
    },
    {
      label: 'q common prefix, page 21',
      calls: [['UsersService.list', () => users.list({ limit: 50, q: 'jo', cursor: commonDeep })]],
    },
    {
      label: 'q 1-in-12 prefix (`grace`), limit 200',
      calls: [
        ['UsersService.list', () => users.list({ limit: 200, q: 'grace' })],
        ['same SQL, better-sqlite3', searchFloor('grace', 200)],
        ['before: LIKE in id order', likeSearch('grace', 200)],
      ],
    },
    {
      label: 'list, limit 200, at 90%',
      calls: [
        ['UsersService.list (2nd page)', () => users.list({ limit: 200, cursor: deepCursor })],
        ['same SQL, better-sqlite3', listFloor(deep, 200)],
      ],
    },
  ];

  const lines: string[] = [];
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  lines.push(
    `${USERS.toLocaleString('en')} users in a SQLite file (loaded in ${loadSeconds.toFixed(1)} s, one prepared insert in one transaction); ` +
      `${ROUNDS} interleaved rounds; load average at start ${load()} (2 cores, shared).`,
    '',
    'A call on SQLite runs synchronously from start to end, so its time is how long it holds the event loop. CPU time is the figure',
    'to compare on this shared machine (wall time also counts waiting for a core). The last column is the most CPU time spent between',
    'two consecutive turns of the event loop (a setImmediate probe) over all rounds of that path.',
    '',
    '| query | path | CPU ms per call, median | max | wall ms, median | longest hold of the event loop, CPU ms |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  );
  const cpuMs = (since: NodeJS.CpuUsage) => {
    const used = process.cpuUsage(since);
    return (used.user + used.system) / 1000;
  };
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  // One unrecorded call of each first: statement preparation, JIT, and the collection of the load's garbage.
  for (const { calls } of cases) for (const [, call] of calls) await call();
  for (const { label, calls } of cases) {
    const wall = new Map<string, number[]>();
    const cpu = new Map<string, number[]>();
    const stalls = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? calls : [...calls].reverse();
      for (const [path, call] of order) {
        const probe = loopProbe();
        await new Promise((resolve) => setImmediate(resolve));
        const cpuStarted = process.cpuUsage();
        const started = performance.now();
        await call();
        wall.set(path, [...(wall.get(path) ?? []), performance.now() - started]);
        cpu.set(path, [...(cpu.get(path) ?? []), cpuMs(cpuStarted)]);
        const gaps = await probe.stop();
        stalls.set(path, Math.max(stalls.get(path) ?? 0, gaps.cpu));
      }
    }
    for (const [path] of calls) {
      const c = cpu.get(path)!;
      lines.push(
        `| ${label} | ${path} | ${median(c).toFixed(2)} | ${Math.max(...c).toFixed(2)} | ${median(wall.get(path)!).toFixed(2)} | ${stalls.get(path)!.toFixed(1)} |`,
      );
    }
  }

  // The export: the longest the event loop went without a turn while the whole directory was
  // read through exportUsers() (keyset pages), beside the statement it replaced iterated with
  // `since` matching nobody (one step of that iterator walks the table before its first row).
  const never = () => new Date(Date.now() + 86_400_000);
  /** The SQLite export before issue 15: one statement iterated to the end, a turn of the loop every 1,000 rows. */
  async function* before(since?: Date): AsyncGenerator<ExportedUser> {
    const statement = connection.prepare(
      `select id, email, name, attributes from users ${since === undefined ? '' : 'where updated_at >= ?'} order by id`,
    );
    let n = 0;
    const rows = (since === undefined ? statement.iterate() : statement.iterate(since.toISOString())) as IterableIterator<{
      id: string;
      email: string;
      name: string;
      attributes: string;
    }>;
    for (const row of rows) {
      if (++n % 1000 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      yield {
        id: row.id as UserId,
        email: row.email as Email,
        name: row.name as UserName,
        attributes: JSON.parse(row.attributes) as Attributes,
        ...PROVISIONING_DEFAULTS,
      };
    }
  }
  lines.push(
    '',
    `Export, ${EXPORT_ROUNDS} interleaved rounds: the fastest whole run, and the longest hold of the event loop over all rounds.`,
    '',
    '| export | whole run, s (best) | longest hold of the event loop, CPU ms | wall ms |',
    '| --- | ---: | ---: | ---: |',
  );
  const exports = [
    ['exportUsers(), all users, ndjson', () => exportUsers(database, { format: 'ndjson' })],
    ['before: one iterated statement, all users, ndjson', () => formatUsers('ndjson')(before(), {})],
    ['exportUsers(), since matching nobody', () => exportUsers(database, { format: 'ndjson', since: never() })],
    ['before: one iterated statement, since matching nobody', () => formatUsers('ndjson')(before(never()), {})],
  ] as const;
  const exportResults = new Map<string, { ms: number; cpu: number; wall: number }>();
  for (let round = 0; round < EXPORT_ROUNDS; round++) {
    for (const [label, rows] of round % 2 === 0 ? exports : [...exports].reverse()) {
      const probe = loopProbe();
      const started = performance.now();
      for await (const chunk of rows()) void chunk;
      const ms = performance.now() - started;
      const gaps = await probe.stop();
      const previous = exportResults.get(label) ?? { ms: Infinity, cpu: 0, wall: 0 };
      exportResults.set(label, {
        ms: Math.min(previous.ms, ms),
        cpu: Math.max(previous.cpu, gaps.cpu),
        wall: Math.max(previous.wall, gaps.wall),
      });
    }
  }
  for (const [label] of exports) {
    const r = exportResults.get(label)!;
    lines.push(`| ${label} | ${(r.ms / 1000).toFixed(2)} | ${r.cpu.toFixed(1)} | ${r.wall.toFixed(1)} |`);
  }
  lines.push('', `Load average at end: ${load()}.`);
  const markdown = `## Event-loop stalls on SQLite (\`node dist/bench/search-stall.js\`)\n\n${lines.join('\n')}`;
  console.log(markdown);
  if (process.env.ROSTER_BENCH_WRITE === '1') await writeResultsSection('bench/RESULTS.md', 'search-stall', markdown);
} finally {
  await database.close();
  rmSync(dir, { recursive: true, force: true });
}
