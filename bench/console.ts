/**
 * The console's users screen against the REST list it sits beside, in one process on one SQLite
 * file (issue 19's bench, first cut): the first page and the 100th page of 25 users, each as
 * GET /v1/users (JSON, the baseline) and GET /console/users (HTML), through app.inject so the
 * figures are Roster's own work (routing, hooks, session or key check, query, render). Rounds
 * alternate A and B; CPU time per request from process.cpuUsage() and latency percentiles.
 * Usage: npm run build && node dist/bench/console.js [users=100000] [rounds=20] [perRound=50]
 * With ROSTER_BENCH_POSTGRES=postgres://…/test (an admin URL), the same on PostgreSQL: a database
 * of its own is created, filled and dropped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { buildServices, httpDependencies } from '../src/compose/services.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { buildApp } from '../src/http/app.js';
import { createLogger } from '../src/observability/logger.js';
import { createPostgresDatabase, dropPostgresDatabase, seedPostgres, seedSqlite, seedUsers } from './seed.js';

const [users = 100_000, rounds = 20, perRound = 50] = process.argv.slice(2).map(Number);
const postgresAdmin = process.env.ROSTER_BENCH_POSTGRES;
const pgName = `roster_bench_console_${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'roster-bench-console-'));
let url = join(dir, 'roster.db');
if (postgresAdmin === undefined) await seedSqlite(url, seedUsers(users));
else {
  url = await createPostgresDatabase(postgresAdmin, pgName);
  await seedPostgres(url, seedUsers(users));
}
console.log(`database: ${postgresAdmin === undefined ? 'SQLite' : 'PostgreSQL'}`);
const config = loadConfig({ ROSTER_DATABASE_URL: url, ROSTER_WEBHOOK_WORKERS: '0', ROSTER_MIGRATE_ON_START: 'false' });
const logger = createLogger('silent');
const database = openDatabase(url);
const services = await buildServices(config, logger, { database, registry: new Registry() });
const app = await buildApp({
  ...httpDependencies(config, services, logger, {
    readiness: { isDraining: () => false, isClosing: () => false, ping: () => database.ping(1000) },
  }),
  rateLimits: { perCredentialPerMinute: 1e9, perIpPerMinute: 1e9 },
  shedding: { eventLoopDelayMs: 0, heapUsedMb: 1e6, eventLoopUtilization: 0 },
});
const { plaintext: key } = await services.apiKeys.create({ name: 'bench', scopes: ['admin'] });
const signIn = await app.inject({
  method: 'POST',
  url: '/console/sign-in',
  headers: { origin: 'http://localhost:80', 'content-type': 'application/x-www-form-urlencoded' },
  payload: `key=${encodeURIComponent(key)}`,
});
const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
const bearer = { authorization: `Bearer ${key}` };

/** The URLs of page `n` (1-based) for both, by following each one's own next links. */
async function pageUrls(n: number): Promise<{ rest: string; console: string }> {
  let rest = '/v1/users?limit=25';
  let page = '/console/users';
  for (let i = 1; i < n; i++) {
    const json = (await app.inject({ method: 'GET', url: rest, headers: bearer })).json<{ next_cursor: string }>();
    rest = `/v1/users?limit=25&cursor=${encodeURIComponent(json.next_cursor)}`;
    const html = (await app.inject({ method: 'GET', url: page, headers: { cookie } })).body;
    page = `/console/users?${/href="\/console\/users\?([^"]+)" rel="next"/.exec(html)![1]!.replaceAll('&amp;', '&')}`;
  }
  return { rest, console: page };
}

interface Sample {
  cpuUs: number[];
  wallMs: number[];
}

async function round(url: string, headers: Record<string, string>, into: Sample): Promise<void> {
  for (let i = 0; i < perRound; i++) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    const response = await app.inject({ method: 'GET', url, headers });
    into.wallMs.push(performance.now() - start);
    const used = process.cpuUsage(cpu);
    into.cpuUs.push(used.user + used.system);
    if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode}`);
  }
}

const pct = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;
const median = (values: number[]) => pct(values, 50);

for (const n of [1, 100]) {
  const urls = await pageUrls(n);
  const rest: Sample = { cpuUs: [], wallMs: [] };
  const html: Sample = { cpuUs: [], wallMs: [] };
  await round(urls.rest, bearer, { cpuUs: [], wallMs: [] });
  await round(urls.console, { cookie }, { cpuUs: [], wallMs: [] });
  for (let r = 0; r < rounds; r++) {
    await round(urls.rest, bearer, rest);
    await round(urls.console, { cookie }, html);
  }
  const line = (name: string, s: Sample) =>
    `${name.padEnd(22)} cpu median ${(median(s.cpuUs) / 1000).toFixed(3)} ms  wall p50 ${median(s.wallMs).toFixed(3)} ms  p99 ${pct(s.wallMs, 99).toFixed(3)} ms`;
  console.log(`page ${n} of ${users} users (${rounds} rounds x ${perRound}, interleaved)`);
  console.log(line('REST /v1/users', rest));
  console.log(line('console /console/users', html));
  console.log(
    `console p99 - REST p99 = ${(pct(html.wallMs, 99) - pct(rest.wallMs, 99)).toFixed(3)} ms (target: <= 10 ms); CPU ratio ${(median(html.cpuUs) / median(rest.cpuUs)).toFixed(2)}`,
  );
}
await app.close();
await services.close();
await database.close();
rmSync(dir, { recursive: true, force: true });
if (postgresAdmin !== undefined) await dropPostgresDatabase(postgresAdmin, pgName);
