/**
 * The per-request cost of single features of the HTTP pipeline, each called in a loop as the
 * request path calls it, in two builds in the same process and the same rounds:
 *
 *   node dist/bench/hot-path.js <baseline dist folder>
 *
 * - auth: what the onRequest hook does with a valid, cached API key (http/auth.ts)
 * - metrics: the request counter and latency histogram of one answered request
 * - statement: what the database observer does after one statement (db/instrumentation.ts
 *   observeStatements: its duration sample; no span, as in an unsampled request)
 * - deadline: one request's Deadline (timer, controller, race of a settled handler, dispose)
 * - bookkeeping: what http/app.ts and http/auth.ts keep per request beside it; before, a
 *   WeakSet (request line written) and a WeakMap (authentication failure) of requests, after,
 *   two properties every request has (Fastify decorations). A pattern, the same in both builds.
 *
 * The baseline is another build's dist folder kept beside node_modules (e.g. a copy of dist
 * made before a change). CPU time (user + system) per call, median of PIPELINE_ROUNDS (7)
 * rounds; reports and never asserts.
 */
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { Registry } from 'prom-client';
import type { ApiKeyRecord, ApiKeyStore } from '../src/auth/service.js';
import type * as ServiceModule from '../src/auth/service.js';
import type * as AuthenticatorModule from '../src/auth/authenticator.js';
import type * as MetricsModule from '../src/observability/metrics.js';
import type * as DeadlineModule from '../src/kit/deadline.js';
import type * as InstrumentationModule from '../src/db/instrumentation.js';
import type * as DatabaseMetricsModule from '../src/db/metrics.js';

type Feature = () => unknown;
type AuthModules = [typeof ServiceModule, typeof AuthenticatorModule];

const ROUNDS = Number(process.env.PIPELINE_ROUNDS ?? 7);
const CALLS = 100_000;

function memoryKeyStore(): ApiKeyStore {
  const records = new Map<string, ApiKeyRecord>();
  return {
    insert: (record) => Promise.resolve(void records.set(record.id, record)),
    get: (id) => Promise.resolve(records.get(id)),
    list: () => Promise.resolve([...records.values()]),
    revoke: () => Promise.resolve(undefined),
    touch: () => Promise.resolve(),
    insertBootstrapKey: () => Promise.resolve(false),
  };
}

async function authFeature(dist: string): Promise<Feature> {
  const [{ ApiKeysService }, { Authenticator }] = (await Promise.all([
    import(`${dist}/src/auth/service.js`),
    import(`${dist}/src/auth/authenticator.js`),
  ])) as AuthModules;
  const keys = new ApiKeysService({ store: memoryKeyStore(), cacheTtlMs: 60_000 });
  const authenticator = new Authenticator(keys);
  const { plaintext } = await keys.create({ name: 'bench', scopes: ['admin'] });
  const header = `Bearer ${plaintext}`;
  // The hook's work: the synchronous cache where the build has one, else the async path.
  const cached = (authenticator as { cached?: (h: string) => unknown }).cached?.bind(authenticator);
  return () => cached?.(header) ?? authenticator.authenticate(header);
}

async function statementFeature(dist: string): Promise<Feature> {
  const { observeStatements } = (await import(`${dist}/src/db/instrumentation.js`)) as typeof InstrumentationModule;
  const { databaseMetrics } = (await import(`${dist}/src/db/metrics.js`)) as typeof DatabaseMetricsModule;
  const observe = observeStatements('sqlite', databaseMetrics(new Registry()));
  const statement = { operation: 'select', table: 'users', text: 'select … from users where id = ?' } as const;
  return () => observe(statement, performance.now() - 0.05, undefined);
}

async function metricsFeature(dist: string): Promise<Feature> {
  const metricsModule = (await import(`${dist}/src/observability/metrics.js`)) as typeof MetricsModule;
  const metrics = metricsModule.httpMetrics(new Registry());
  // What http/app.ts does per answered request.
  return () => {
    metrics.requests.inc({ method: 'GET', route: '/v1/users/:id', status_class: '2xx' });
    metrics.duration.observe({ method: 'GET', route: '/v1/users/:id' }, 0.0004);
  };
}

async function deadlineFeature(dist: string): Promise<Feature> {
  const { Deadline } = (await import(`${dist}/src/kit/deadline.js`)) as typeof DeadlineModule;
  return async () => {
    const deadline = new Deadline(10_000, () => new Error('late'));
    void deadline.signal;
    await deadline.race(Promise.resolve(1));
    deadline.dispose();
  };
}

interface FakeRequest {
  recorded: boolean;
  authFailure: unknown;
}

async function bookkeepingFeature(dist: string, before: boolean): Promise<Feature> {
  await Promise.resolve(dist);
  if (before) {
    const recorded = new WeakSet<object>();
    const failures = new WeakMap<object, unknown>();
    return () => {
      const request = {};
      if (failures.has(request)) throw new Error('unexpected');
      if (!recorded.has(request)) recorded.add(request);
    };
  }
  return () => {
    const request: FakeRequest = { recorded: false, authFailure: undefined };
    if (request.authFailure !== undefined) throw new Error('unexpected');
    if (!request.recorded) request.recorded = true;
  };
}

async function cpuMicrosPerCall(feature: Feature): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) {
    const result = feature();
    if (result instanceof Promise) await result;
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / CALLS;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main() {
  const after = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const baseline = process.argv[2];
  if (baseline === undefined) throw new Error('usage: node dist/bench/hot-path.js <baseline dist folder>');
  const before = resolve(baseline);
  const makers = {
    auth: authFeature,
    metrics: metricsFeature,
    statement: statementFeature,
    deadline: deadlineFeature,
    bookkeeping: bookkeepingFeature,
  };
  console.log(`CPU µs per call, median of ${ROUNDS} rounds × ${CALLS.toLocaleString('en')} calls (range); same process, interleaved`);
  for (const [name, make] of Object.entries(makers)) {
    const features = { before: await make(before, true), after: await make(after, false) };
    const samples = { before: [] as number[], after: [] as number[] };
    await cpuMicrosPerCall(features.before);
    await cpuMicrosPerCall(features.after);
    for (let round = 0; round < ROUNDS; round++) {
      samples.before.push(await cpuMicrosPerCall(features.before));
      samples.after.push(await cpuMicrosPerCall(features.after));
    }
    const show = (s: number[]) => `${median(s).toFixed(3)} (${Math.min(...s).toFixed(3)}–${Math.max(...s).toFixed(3)})`;
    console.log(`  ${name.padEnd(9)} before ${show(samples.before)}  after ${show(samples.after)}`);
  }
}

await main();
