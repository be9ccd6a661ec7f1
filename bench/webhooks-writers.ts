/**
 * The writers at a steady rate (`node dist/bench/webhooks-writers.js`): what bench/webhooks.ts's
 * latency run does (users created on a 10 ms tick, at most 64 in flight, past that a write is
 * skipped), with and without the dispatcher delivering them to 2 endpoints, so that what limits
 * the writers can be seen: how many writes were skipped, each create's own latency, this process's
 * and the database backends' CPU per event, the writers' pool queue, and a sample every 20 ms of
 * what the database's client backends wait on (pg_stat_activity: the advisory lock that orders
 * the sequence, WAL, the client, the CPU), and the writers' statements per event. Reports, never
 * asserts.
 *
 *   --database sqlite|postgres   (postgres)
 *   --rates 500,700              events/s to try (500)
 *   --seconds N                  per run (10)
 *   --rounds N                   each rate and mode alternated N times (2)
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openDatabase } from '../src/db/database.js';
import {
  backendCpu,
  backendCpuSpent,
  dispatcherFor,
  nextUserNumber,
  postgresTarget,
  services,
  sleep,
  sqliteTarget,
  startSink,
  StatementCounts,
  wakeupsFor,
  type Target,
} from './webhooks-setup.js';

const { values } = parseArgs({
  options: {
    database: { type: 'string', default: 'postgres' },
    rates: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
  },
});
const target: Target = values.database === 'sqlite' ? sqliteTarget : postgresTarget;
const rates = values.rates.split(',').map(Number);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Samples what the database's client backends are doing, every `everyMs`, until stop(): counts by state/wait event. */
function waitSampler(url: string, everyMs: number) {
  const name = new URL(url).pathname.slice(1);
  const client = new pg.Client({ connectionString: url });
  const tally = new Map<string, number>();
  let samples = 0;
  let stopping = false;
  const loop = (async () => {
    await client.connect();
    while (!stopping) {
      const { rows } = await client.query<{ what: string }>(
        `select case when state = 'active' then 'active: ' || coalesce(wait_event_type || '/' || wait_event, 'on CPU') ` +
          `else coalesce(state, '?') end as what from pg_stat_activity ` +
          `where datname = $1 and backend_type = 'client backend' and pid <> pg_backend_pid() and state <> 'idle'`,
        [name],
      );
      samples++;
      for (const { what } of rows) tally.set(what, (tally.get(what) ?? 0) + 1);
      await sleep(everyMs);
    }
    await client.end();
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      return { samples, tally };
    },
  };
}

async function run(rate: number, withDispatcher: boolean) {
  const opened = await target.open();
  const sinks = [await startSink(), await startSink()];
  // PostgreSQL: the writers on a pool of their own (as the service's main pool, 20 connections),
  // whose statements are counted.
  const counts = new StatementCounts();
  const writersDb = opened.database.dialect.name === 'postgres' ? openDatabase(opened.url, { poolSize: 20 }) : undefined;
  if (writersDb?.driver.kind === 'postgres') counts.watch(writersDb.driver.pool);
  try {
    const { users, webhooks, commits } = await services(writersDb ?? opened.database);
    let running: ReturnType<typeof dispatcherFor> | undefined;
    if (withDispatcher) {
      for (const sink of sinks) await webhooks.create({ url: sink.url });
      running = dispatcherFor(opened, wakeupsFor(opened, commits));
      running.dispatcher.start();
    }
    // Warm the writers' pool and the server's caches, as a running service would have them.
    for (let i = 0; i < 64; i++) await users.create({ email: `warm-${nextUserNumber()}@example.com`, name: 'Warm' }, undefined);
    const pool = writersDb?.driver.kind === 'postgres' ? writersDb.driver.pool : undefined;
    counts.reset();
    const sampler = opened.database.dialect.name === 'postgres' ? waitSampler(opened.url, 20) : undefined;
    const serverBefore = await backendCpu(opened);
    const cpu = process.cpuUsage();
    const tickMs = 10;
    const perTick = (rate * tickMs) / 1000;
    const started = performance.now();
    const writes: Promise<void>[] = [];
    const createMs: number[] = [];
    const committed = new Map<string, number>();
    let inFlight = 0;
    let skipped = 0;
    let poolWaitingMax = 0;
    let poolWaitingSum = 0;
    let ticks = 0;
    for (let tick = 0; performance.now() - started < seconds * 1000; tick++) {
      if (pool !== undefined) {
        poolWaitingMax = Math.max(poolWaitingMax, pool.waitingCount);
        poolWaitingSum += pool.waitingCount;
      }
      ticks++;
      for (let i = 0; i < perTick; i++) {
        if (inFlight >= 64) {
          skipped++;
          continue;
        }
        inFlight++;
        const made = nextUserNumber();
        const at = performance.now();
        writes.push(
          users.create({ email: `w-${made}@example.com`, name: `Writer ${made}` }, undefined).then(({ user }) => {
            const now = performance.now();
            createMs.push(now - at);
            committed.set(user.id, now);
            inFlight--;
          }),
        );
      }
      const wait = started + (tick + 1) * tickMs - performance.now();
      if (wait > 0) await sleep(wait);
    }
    await Promise.all(writes);
    const elapsed = (performance.now() - started) / 1000;
    if (running !== undefined) while (sinks.some((s) => s.received < writes.length + 64)) await sleep(5);
    const used = process.cpuUsage(cpu);
    const server = backendCpuSpent(serverBefore, await backendCpu(opened));
    const waits = await sampler?.stop();
    await running?.stop();
    const sorted = [...createMs].sort((a, b) => a - b);
    const arrivals = sinks.flatMap((s) =>
      [...s.arrivals].flatMap(([id, at]) => (committed.has(id) ? [Math.max(0, at - committed.get(id)!)] : [])),
    );
    arrivals.sort((a, b) => a - b);
    const n = writes.length;
    return {
      achieved: n / elapsed,
      skipped,
      createP50: percentile(sorted, 50),
      createP99: percentile(sorted, 99),
      deliveryP99: percentile(arrivals, 99),
      cpuUs: (used.user + used.system) / n,
      serverUs: server === undefined ? undefined : [...server.values()].reduce((a, b) => a + b, 0) / n,
      poolWaiting: { max: poolWaitingMax, mean: poolWaitingSum / ticks },
      waits,
      statements: new Map([...counts.byKind].map(([kind, k]) => [kind, k / n])),
      statementsPerEvent: counts.total / n,
    };
  } finally {
    for (const s of sinks) await s.close();
    await writersDb?.close();
    await opened.cleanup();
  }
}

const f0 = (x: number) => x.toFixed(0);
for (let round = 1; round <= rounds; round++) {
  for (const rate of rates) {
    for (const withDispatcher of [false, true]) {
      const r = await run(rate, withDispatcher);
      console.log(
        `${target.name} round ${round}, ${rate}/s, ${withDispatcher ? 'with the dispatcher' : 'writers alone'}: achieved ${f0(r.achieved)}/s, ` +
          `skipped ${r.skipped}; create p50 ${f0(r.createP50)} / p99 ${f0(r.createP99)} ms` +
          (withDispatcher ? `; commit → first attempt p99 ${f0(r.deliveryP99)} ms` : '') +
          `; CPU µs per event: process ${f0(r.cpuUs)}` +
          (r.serverUs === undefined ? '' : `, server ${f0(r.serverUs)}`) +
          `; writers' pool waiting mean ${r.poolWaiting.mean.toFixed(1)}, max ${r.poolWaiting.max}`,
      );
      if (r.waits !== undefined) {
        const per = (n: number) => (n / r.waits!.samples).toFixed(2);
        const parts = [...r.waits.tally].sort((a, b) => b[1] - a[1]).map(([what, n]) => `${what} ${per(n)}`);
        console.log(`  busy backends per sample (${r.waits.samples} samples): ${parts.join(', ')}`);
      }
      if (r.statementsPerEvent > 0) {
        const parts = [...r.statements].sort((a, b) => b[1] - a[1]).map(([kind, k]) => `${k.toFixed(2)} ${kind}`);
        console.log(`  writers' statements per event ${r.statementsPerEvent.toFixed(2)}: ${parts.join(' | ')}`);
      }
    }
  }
}
