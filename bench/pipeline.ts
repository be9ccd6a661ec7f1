/**
 * The per-request cost of Roster's HTTP pipeline, in process: `app.inject()` of GET
 * /v1/users/{id} through the whole app (every hook, production defaults: rate limit in memory,
 * load shedding on, metrics, request log at info to /dev/null), compared between two builds in
 * the same process and the same rounds, with an API key and with authentication stubbed.
 *
 *   node dist/bench/pipeline.js [baseline dist folder]
 *
 * The baseline is another build's dist folder (e.g. a copy of dist made before a change, kept
 * beside node_modules); without one only this build is measured. inject() has no socket, so
 * the absolute figures leave out Node's HTTP parser and writev: read the differences, not
 * the totals. Settings: PIPELINE_REQUESTS (per round, default 4000), PIPELINE_ROUNDS (5).
 * CPU time of this process (user + system), which other load on the machine disturbs less than
 * wall time. Reports and never asserts.
 */
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { pino } from 'pino';
import type { Principal } from '../src/auth/model.js';
import type * as AppModuleNs from '../src/http/app.js';
import type * as ComposeModuleNs from '../src/compose/services.js';
import type * as LoggerModuleNs from '../src/observability/logger.js';
import type * as ConfigModuleNs from '../src/config.js';
import type * as DatabasesModuleNs from '../test/helpers/databases.js';

type AppModule = typeof AppModuleNs;
type ComposeModule = typeof ComposeModuleNs;
type LoggerModule = typeof LoggerModuleNs;
type ConfigModule = typeof ConfigModuleNs;
type DatabasesModule = typeof DatabasesModuleNs;
type FastifyInstance = Awaited<ReturnType<AppModule['buildApp']>>;

const REQUESTS = Number(process.env.PIPELINE_REQUESTS ?? 4000);
const ROUNDS = Number(process.env.PIPELINE_ROUNDS ?? 5);

interface Variant {
  readonly label: string;
  readonly app: FastifyInstance;
  readonly url: string;
  readonly authorization: string;
  close(): Promise<void>;
}

/** The app of the build in `dist`, wired as `serve` wires it (cache TTL as configured by default). */
async function variant(dist: string, label: string, options: { stubAuth: boolean }): Promise<Variant> {
  const { buildApp } = (await import(`${dist}/src/http/app.js`)) as AppModule;
  const { buildServices, httpDependencies } = (await import(`${dist}/src/compose/services.js`)) as ComposeModule;
  const { createLogger } = (await import(`${dist}/src/observability/logger.js`)) as LoggerModule;
  const { loadConfig } = (await import(`${dist}/src/config.js`)) as ConfigModule;
  const { sqliteTestDatabase } = (await import(`${dist}/test/helpers/databases.js`)) as DatabasesModule;
  const config = loadConfig({ ROSTER_MIGRATE_ON_START: 'false', ROSTER_WEBHOOK_WORKERS: '0', ROSTER_BOOTSTRAP_KEY: 'off' });
  const testDb = await sqliteTestDatabase();
  const logger = createLogger('info', pino.destination({ dest: '/dev/null', sync: true }));
  const services = await buildServices(config, logger, { database: testDb.database });
  const readiness = { isDraining: () => false, isClosing: () => false, ping: () => testDb.database.ping(1000) };
  const admin: Principal = { actor: 'key:benchmark', kind: 'api_key', scopes: new Set(['admin']) };
  const stub = { cached: () => undefined, authenticate: () => Promise.resolve(admin) } as unknown as typeof services.authenticator;
  const app = await buildApp({
    ...httpDependencies(config, services, logger, { readiness }),
    // Every injected request comes from one address; the per-credential budget is what is measured.
    rateLimits: { perCredentialPerMinute: 1e9, perIpPerMinute: 1e9 },
    // The check still runs on every request; only a threshold this loop could trip is left out
    // (it keeps the event loop busy by design).
    shedding: { eventLoopDelayMs: 0, heapUsedMb: 1e6, eventLoopUtilization: 0 },
    ...(options.stubAuth ? { authenticator: stub } : {}),
  });
  await app.ready();
  const { plaintext } = await services.apiKeys.create({ name: 'bench', scopes: ['admin'] });
  const { user } = await services.users.create({ email: 'bench@example.com', name: 'Bench', attributes: { team: 'x' } }, undefined);
  return {
    label,
    app,
    url: `/v1/users/${user.id}`,
    authorization: `Bearer ${plaintext}`,
    async close() {
      await app.close();
      await services.close();
      await testDb.cleanup();
    },
  };
}

async function timeRequests(v: Variant, n: number): Promise<number> {
  const headers = { authorization: v.authorization };
  const started = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const response = await v.app.inject({ method: 'GET', url: v.url, headers });
    if (response.statusCode !== 200) throw new Error(`${v.label}: status ${response.statusCode} ${response.body}`);
    // Let timers and I/O run now and then, as a server's event loop would.
    if (i % 100 === 99) await new Promise((done) => setImmediate(done));
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / n;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main() {
  const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const baseline = process.argv[2] === undefined ? undefined : resolve(process.argv[2]);
  const variants: Variant[] = [];
  for (const [dist, name] of [...(baseline ? [[baseline, 'before'] as const] : []), [here, 'after'] as const]) {
    variants.push(await variant(dist, `${name}, API key`, { stubAuth: false }));
    variants.push(await variant(dist, `${name}, auth stubbed`, { stubAuth: true }));
  }
  for (const v of variants) await timeRequests(v, 1000);
  const samples = new Map(variants.map((v) => [v.label, [] as number[]]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) samples.get(v.label)!.push(await timeRequests(v, REQUESTS));
  }
  console.log(`GET /v1/users/{id} through app.inject(), ${ROUNDS} rounds × ${REQUESTS} requests, median CPU µs/request (range)`);
  for (const v of variants) {
    const s = samples.get(v.label)!;
    console.log(`  ${v.label.padEnd(24)} ${median(s).toFixed(1).padStart(7)}  (${Math.min(...s).toFixed(1)}–${Math.max(...s).toFixed(1)})`);
  }
  for (const v of variants) await v.close();
}

await main();
