/**
 * What the webhook benchmarks share (bench/webhooks.ts, bench/webhooks-drain.ts): loopback sinks,
 * fresh SQLite and PostgreSQL databases, the services and the dispatcher wired as src/compose
 * wires them, the undici ceiling, and the drain of a backlog. Nothing here asserts.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { Agent, request } from 'undici';
import { EventCommits } from '../src/events/commits.js';
import { PostgresCommitListener } from '../src/events/sql-commit-listener.js';
import type { Wakeups } from '../src/webhooks/dispatcher.js';
import { openDatabase, sharedSecret, type Database } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { CursorCodec } from '../src/kit/cursor.js';
import { newUuidV7 } from '../src/kit/uuid.js';
import { createLogger } from '../src/observability/logger.js';
import { userStoreFor } from '../src/compose/users.js';
import { UsersService } from '../src/users/service.js';
import { Dispatcher } from '../src/webhooks/dispatcher.js';
import { WebhookHttpClient } from '../src/webhooks/http-client.js';
import { WebhooksService } from '../src/webhooks/service.js';
import { SqlDeliveryStore } from '../src/webhooks/sql-delivery-store.js';
import { SqlWebhookStore } from '../src/webhooks/sql-store.js';
import { AllowList } from '../src/kit/allow-list.js';

export const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const LOOPBACK = AllowList.parse('127.0.0.1');

export interface Sink {
  url: string;
  received: number;
  /** Arrival time (performance.now()) of each user's first delivery, by user id. */
  arrivals: Map<string, number>;
  close(): Promise<void>;
}

/** How a sink answers: at once, never (a dead endpoint), or after this many milliseconds (a slow one). */
export type SinkAnswer = 'now' | 'never' | number;

export async function startSink(answer: SinkAnswer = 'now', raw = false): Promise<Sink> {
  const sink: Sink = { url: '', received: 0, arrivals: new Map(), close: async () => undefined };
  const late = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (answer === 'never') return;
      if (typeof answer === 'number') {
        const timer = setTimeout(() => {
          late.delete(timer);
          res.writeHead(204).end();
        }, answer);
        late.add(timer);
        return;
      }
      if (raw) {
        // The ceiling's sinks parse the body as the dispatcher's do, and count it.
        JSON.parse(Buffer.concat(chunks).toString());
        sink.received++;
        res.writeHead(204).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { subject_id: string };
      sink.received++;
      if (!sink.arrivals.has(body.subject_id)) sink.arrivals.set(body.subject_id, performance.now());
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  sink.close = async () => {
    for (const timer of late) clearTimeout(timer);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return sink;
}

export interface Target {
  readonly name: string;
  open(): Promise<OpenedTarget>;
}

export interface OpenedTarget {
  readonly database: Database;
  readonly url: string;
  cleanup(): Promise<void>;
}

export const sqliteTarget: Target = {
  name: 'SQLite',
  async open() {
    const dir = await mkdtemp(join(os.tmpdir(), 'roster-bench-webhooks-'));
    const database = openDatabase(join(dir, 'roster.db'));
    await migrateToLatest(database.db, database.dialect.name);
    return {
      database,
      url: join(dir, 'roster.db'),
      cleanup: async () => {
        await database.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

export const postgresTarget: Target = {
  name: 'PostgreSQL',
  async open() {
    const name = `roster_bench_${Date.now().toString(36)}_${process.pid}`;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${name}`;
    const database = openDatabase(url.toString(), { poolSize: 20 });
    await migrateToLatest(database.db, database.dialect.name);
    return {
      database,
      url: url.toString(),
      cleanup: async () => {
        await database.close();
        await admin.query(`drop database if exists ${name} with (force)`);
        await admin.end();
      },
    };
  },
};

/** A slow endpoint's answer time: well inside the client's 10 s timeout, so its breaker never opens. */
export const SLOW_ENDPOINT_MS = 2_000;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let made = 0;
/** A number no other user of this process's benchmarks has had (for unique emails). */
export function nextUserNumber(): number {
  return ++made;
}

export async function services(database: Database) {
  const commits = new EventCommits();
  const users = new UsersService({
    store: userStoreFor(database, { onEventsCommitted: commits.announce }),
    cursors: new CursorCodec(await sharedSecret(database.db, 'cursor_hmac_key')),
    newId: newUuidV7,
    idempotencyTtlMs: 3_600_000,
  });
  const store = new SqlWebhookStore(database.db, database.dialect);
  const webhooks = new WebhooksService({ store, newId: newUuidV7, allowList: LOOPBACK, secretGraceMs: 3_600_000 });
  return { users, store, webhooks, commits };
}

/** As src/compose wires them: this process's commits, and on PostgreSQL a LISTEN connection. */
export function wakeupsFor(opened: { database: Database; url: string }, commits: EventCommits): Wakeups {
  const listener =
    opened.database.dialect.name === 'postgres'
      ? new PostgresCommitListener({ url: opened.url, onCommit: commits.announce, logger: createLogger('silent') })
      : undefined;
  let unsubscribe: (() => void) | undefined;
  return {
    start(wake) {
      unsubscribe = commits.subscribe(wake);
      listener?.start();
    },
    get live() {
      return listener?.listening ?? true;
    },
    async stop() {
      unsubscribe?.();
      await listener?.stop();
    },
  };
}

/** A ~600-byte event document, as the dispatcher sends them. */
const SAMPLE_BODY = JSON.stringify({
  id: '0193a5c2-6f1e-7d3a-9b2c-4e5f6a7b8c9d',
  type: 'user.created',
  sequence: 123456,
  occurred_at: '2026-12-05T08:00:00.000Z',
  actor: 'key:0193a5c2-6f1e-7d3a-9b2c-4e5f6a7b8c9e',
  request_id: '0193a5c2-6f1e-7d3a-9b2c-4e5f6a7b8c9f',
  subject_id: '0193a5c2-6f1e-7d3a-9b2c-4e5f6a7b8ca0',
  data: {
    user: {
      id: '0193a5c2-6f1e-7d3a-9b2c-4e5f6a7b8ca0',
      email: 'bench-123456@example.com',
      name: 'Bench 123456',
      attributes: { team: 'platform', locale: 'en-GB', plan: 'pro' },
      version: 1,
      created_at: '2026-12-05T08:00:00.000Z',
      updated_at: '2026-12-05T08:00:00.000Z',
    },
  },
});

/** The size of a run: `events` written, delivered to `endpoints` sinks (the ceiling posts as many). */
export interface RunSize {
  readonly events: number;
  readonly endpoints: number;
}

/** The ceiling: 16 undici workers POSTing SAMPLE_BODY to the sinks, events × endpoints posts in all; posts/s and CPU µs per post. */
export async function ceiling({ events, endpoints }: RunSize, hooks: DrainHooks = {}): Promise<{ perSecond: number; cpuUs: number }> {
  const sinks: Sink[] = [];
  for (let i = 0; i < endpoints; i++) sinks.push(await startSink('now', true));
  const agent = new Agent({ connections: 16 });
  try {
    const total = events * endpoints;
    let next = 0;
    await hooks.started?.();
    const started = performance.now();
    const cpu = process.cpuUsage();
    await Promise.all(
      Array.from({ length: 16 }, async (_, worker) => {
        while (next < total) {
          next++;
          const sink = sinks[(worker + next) % sinks.length]!;
          const { body } = await request(sink.url, {
            method: 'POST',
            body: SAMPLE_BODY,
            headers: { 'content-type': 'application/json' },
            dispatcher: agent,
          });
          await body.dump();
        }
      }),
    );
    const used = process.cpuUsage(cpu);
    const perSecond = total / ((performance.now() - started) / 1000);
    await hooks.finished?.();
    return { perSecond, cpuUs: (used.user + used.system) / total };
  } finally {
    await agent.close();
    for (const s of sinks) await s.close();
  }
}

export async function createUsers(users: UsersService, n: number, concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const made = nextUserNumber();
        await users.create({ email: `bench-${made}@example.com`, name: `Bench ${made}` }, undefined);
      }
    }),
  );
}

/**
 * Statements the dispatcher's PostgreSQL pool sent, by kind (the text's opening words, numbers
 * and placeholders removed): each is one round trip, BEGIN and COMMIT included.
 */
export class StatementCounts {
  readonly byKind = new Map<string, number>();
  total = 0;

  /** Counts every query sent by `pool`'s clients from now on (clients connected later included). */
  watch(pool: pg.Pool): void {
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const first = args[0];
        const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '?');
        this.count(text);
        return query(...args);
      };
    });
  }

  count(text: string): void {
    const kind = text
      .replace(/\$\d+|\?/g, '')
      .replace(/\s+/g, ' ')
      .trim()
      .split(' ')
      .slice(0, 7)
      .join(' ')
      .toLowerCase();
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
    this.total++;
  }

  reset(): void {
    this.byKind.clear();
    this.total = 0;
  }
}

export function dispatcherFor(opened: { database: Database; url: string }, wakeups?: Wakeups, counts?: StatementCounts) {
  // As in src/main.ts: on PostgreSQL, deliveries use a pool of their own.
  const own = opened.database.dialect.name === 'postgres' ? openDatabase(opened.url, { poolSize: 8 }) : undefined;
  if (own?.driver.kind === 'postgres' && counts !== undefined) counts.watch(own.driver.pool);
  // An experiment, not production's setting (bench/RESULTS.md, issue 16 fifth pass): the
  // dispatcher's commits stop waiting for their WAL flush, which they share with the writers'.
  if (own?.driver.kind === 'postgres' && process.env.BENCH_DISPATCHER_ASYNC_COMMIT === '1')
    own.driver.pool.on('connect', (client) => void client.query('set synchronous_commit = off').catch(() => undefined));
  const db = own ?? opened.database;
  const store = new SqlDeliveryStore(db.db, db.dialect);
  // Production settings: 16 workers, default client timeouts (a dead endpoint costs 10 s per attempt).
  const client = new WebhookHttpClient({ allowList: LOOPBACK });
  const dispatcher = new Dispatcher({ store, client, logger: createLogger('silent'), newId: newUuidV7, ...(wakeups ? { wakeups } : {}) });
  return {
    dispatcher,
    /** The dispatcher's own PostgreSQL pool (undefined on SQLite). */
    pool: own?.driver.kind === 'postgres' ? own.driver.pool : undefined,
    async stop() {
      await dispatcher.stop(500);
      await client.close();
      await own?.close();
    },
  };
}

/** What happens while the dispatcher drains, or the ceiling posts (a profiler, say): started just before, ended once every post arrived. */
export interface DrainHooks {
  started?(): Promise<void>;
  finished?(): Promise<void>;
}

let ticksPerSecond: number | undefined;

/** A backend's CPU time (user + system, µs) and its kind (pg_stat_activity's backend_type). */
interface BackendCpu {
  readonly us: number;
  readonly kind: string;
}

/**
 * CPU time of each PostgreSQL backend connected to `opened`'s database, by pid, from /proc (the
 * server runs on this machine): the share of a delivery's cost that this process's cpuUsage()
 * does not see. undefined on SQLite, or when /proc cannot be read.
 */
export async function backendCpu(opened: OpenedTarget): Promise<Map<number, BackendCpu> | undefined> {
  if (opened.database.dialect.name !== 'postgres') return undefined;
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
  const name = new URL(opened.url).pathname.slice(1);
  const { rows } = await sql<{ pid: number; kind: string }>`select pid, backend_type as kind from pg_stat_activity
    where datname = ${name}`.execute(opened.database.db);
  const cpu = new Map<number, BackendCpu>();
  for (const { pid, kind } of rows) {
    try {
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu.set(pid, { us: ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond, kind });
    } catch {
      return undefined; // not this machine's server, or not readable
    }
  }
  return cpu;
}

/** What the drain cost PostgreSQL's backends, in µs by kind (a backend that started during it counts from 0). */
export function backendCpuSpent(
  before: Map<number, BackendCpu> | undefined,
  after: Map<number, BackendCpu> | undefined,
): Map<string, number> | undefined {
  if (before === undefined || after === undefined) return undefined;
  const spent = new Map<string, number>();
  for (const [pid, { us, kind }] of after) {
    const earlier = before.get(pid);
    // Backends opened during the drain: the dispatcher's pool and its LISTEN connection.
    const key = `${kind}${earlier === undefined ? ' (opened during the drain)' : ''}`;
    spent.set(key, (spent.get(key) ?? 0) + us - (earlier?.us ?? 0));
  }
  return spent;
}

/**
 * Opens the dispatcher pool's 8 connections and has each plan the tables the dispatcher reads and
 * writes, as a running service's pool would have: otherwise the drain's server CPU includes nine
 * backends starting on a database created a second before and building their catalog caches
 * (10–20 ms each, a third of the server's share of a 2,000-event drain).
 */
async function warmPool(pool: pg.Pool): Promise<void> {
  const clients = await Promise.all(Array.from({ length: 8 }, () => pool.connect()));
  try {
    await Promise.all(
      clients.map(async (client) => {
        await client.query('select max(seq) from events');
        await client.query('select seq from events where seq > $1 and seq <= $2 order by seq limit $3', [0, 0, 1]);
        await client.query('select * from events where seq in ($1)', [0]);
        await client.query('select e.id from webhook_endpoints e join webhook_replays r on r.endpoint_id = e.id limit 0');
        await client.query('select * from webhook_attempts where endpoint_id = $1 limit 0', ['00000000-0000-0000-0000-000000000000']);
      }),
    );
  } finally {
    for (const client of clients) client.release();
  }
}

/**
 * N events first, then the dispatcher drains them to every endpoint (plus, with `unhealthy`, one
 * that never answers or answers each delivery only after SLOW_ENDPOINT_MS): healthy deliveries/s, this process's CPU µs per delivery, on PostgreSQL also the
 * database's backends' CPU µs per delivery (`serverCpuUs`, and by backend type; backends that
 * exited during the drain are missed; autovacuum workers are counted: the drain's writes cause them) and, with `counts`, the dispatcher's statements.
 */
export async function throughput(
  target: Target,
  unhealthy: 'dead' | 'slow' | undefined,
  { events, endpoints }: RunSize,
  hooks: DrainHooks = {},
  counts?: StatementCounts,
): Promise<{ perSecond: number; seconds: number; cpuUs: number; serverCpuUs: number | undefined; serverByKind: Map<string, number> }> {
  const opened = await target.open();
  const { database } = opened;
  const sinks: Sink[] = [];
  try {
    const { users, webhooks, commits } = await services(database);
    for (let i = 0; i < endpoints; i++) {
      const sink = await startSink();
      sinks.push(sink);
      await webhooks.create({ url: sink.url });
    }
    if (unhealthy !== undefined) {
      const bad = await startSink(unhealthy === 'dead' ? 'never' : SLOW_ENDPOINT_MS);
      sinks.push(bad);
      await webhooks.create({ url: bad.url });
    }
    await createUsers(users, events, 8);
    const running = dispatcherFor(opened, wakeupsFor(opened, commits), counts);
    const { dispatcher } = running;
    const healthy = sinks.slice(0, endpoints);
    const total = events * endpoints;
    if (running.pool !== undefined && process.env.BENCH_COLD_POOL !== '1') await warmPool(running.pool);
    counts?.reset();
    const serverBefore = await backendCpu(opened);
    await hooks.started?.();
    const started = performance.now();
    const cpu = process.cpuUsage();
    dispatcher.start();
    while (healthy.reduce((n, s) => n + s.received, 0) < total) await sleep(5);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    await hooks.finished?.();
    // Before stop(): its pool's backends exit with it. The last settlements may still be in flight.
    const serverSpent = backendCpuSpent(serverBefore, await backendCpu(opened));
    await running.stop();
    return {
      perSecond: total / seconds,
      seconds,
      cpuUs: (used.user + used.system) / total,
      serverCpuUs: serverSpent === undefined ? undefined : [...serverSpent.values()].reduce((a, b) => a + b, 0) / total,
      serverByKind: new Map([...(serverSpent ?? [])].map(([kind, us]) => [kind, us / total])),
    };
  } finally {
    for (const s of sinks) await s.close();
    await opened.cleanup();
  }
}

export async function postgresAvailable(): Promise<boolean> {
  if (POSTGRES_URL === 'off') return false;
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
