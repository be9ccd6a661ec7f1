/**
 * The drain alone (`node dist/bench/webhooks-drain.js`): what bench/webhooks.ts measures as
 * "throughput", without the dead endpoint, the writers and the latency runs, so that one change
 * to the dispatcher can be measured by itself, against the same run's ceiling (16 undici workers
 * posting the same ~600-byte body to the same sinks), in a minute rather than ten. Each round is
 * a ceiling then a drain; it prints CPU µs per post, per delivery and their ratio (the × that
 * issue 16's 70% target reads as ≤ ~1.43×). On PostgreSQL it also prints the CPU the database's
 * backends spent per delivery (the server shares the machine: read from /proc), the × with it
 * counted, and the dispatcher's statements (round trips) per 100 deliveries by kind. Reports,
 * never asserts.
 *
 *   --database sqlite|postgres   (sqlite)
 *   --rounds N                   (3; a warm-up drain and ceiling run first)
 *   --profile FILE               a CPU profile (inspector, 200 µs sampling) of the last round's
 *                                drain only, written to FILE and summarised (bench/profile.ts)
 *   --profile-ceiling FILE       the same for the last round's ceiling
 * Settings (environment): BENCH_EVENTS (2000), BENCH_ENDPOINTS (8), BENCH_POSTGRES_URL, BENCH_COLD_POOL=1
 * (the dispatcher's pool not warmed before the drain: its backends' start counted as server CPU).
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summariseProfile } from './profile.js';
import { ceiling, postgresTarget, sqliteTarget, StatementCounts, throughput, type DrainHooks } from './webhooks-setup.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const SIZE = { events: Number(process.env.BENCH_EVENTS ?? 2000), endpoints: Number(process.env.BENCH_ENDPOINTS ?? 8) };

const { values } = parseArgs({
  options: {
    database: { type: 'string', default: 'sqlite' },
    rounds: { type: 'string', default: '3' },
    profile: { type: 'string' },
    'profile-ceiling': { type: 'string' },
  },
});
const target = values.database === 'postgres' ? postgresTarget : sqliteTarget;
const rounds = Number(values.rounds);

/** Starts the inspector's profiler when the drain starts and writes the profile when it ends. */
function profiler(file: string): DrainHooks {
  const session = new Session();
  return {
    async started() {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
    },
    async finished() {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      await writeFile(file, JSON.stringify(profile));
    },
  };
}

const fixed = (x: number) => x.toFixed(1);
// Warm-up, as bench/webhooks.ts does: JIT, connection pools, page cache.
await throughput(target, undefined, SIZE);
await ceiling(SIZE);
const ratios: number[] = [];
const withServer: number[] = [];
const counts = new StatementCounts();
for (let round = 1; round <= rounds; round++) {
  const last = round === rounds;
  const ceilingProfile = values['profile-ceiling'];
  const roof = await ceiling(SIZE, last && ceilingProfile !== undefined ? profiler(ceilingProfile) : {});
  const profiled = values.profile !== undefined && last;
  const drain = await throughput(target, undefined, SIZE, profiled ? profiler(values.profile!) : {}, counts);
  ratios.push(drain.cpuUs / roof.cpuUs);
  const server = drain.serverCpuUs;
  if (server !== undefined) withServer.push((drain.cpuUs + server) / roof.cpuUs);
  console.log(
    `${target.name} round ${round}: CPU µs per post ${fixed(roof.cpuUs)}, per delivery ${fixed(drain.cpuUs)} ` +
      `(${(drain.cpuUs / roof.cpuUs).toFixed(2)}×)` +
      (server === undefined
        ? ''
        : ` + server ${fixed(server)} = ${fixed(drain.cpuUs + server)} (${((drain.cpuUs + server) / roof.cpuUs).toFixed(2)}×)`) +
      `; posts/s ${Math.round(roof.perSecond)}, deliveries/s ${Math.round(drain.perSecond)} ` +
      `(${((100 * drain.perSecond) / roof.perSecond).toFixed(0)}% of ceiling)`,
  );
  if (drain.serverByKind.size > 0)
    console.log(`  server µs per delivery by backend: ${[...drain.serverByKind].map(([kind, us]) => `${kind} ${fixed(us)}`).join(', ')}`);
  if (counts.total > 0) {
    const deliveries = SIZE.events * SIZE.endpoints;
    const per100 = (n: number) => ((100 * n) / deliveries).toFixed(2);
    console.log(`  statements per 100 deliveries: ${per100(counts.total)}`);
    for (const [kind, n] of [...counts.byKind].sort((a, b) => b[1] - a[1])) console.log(`    ${per100(n).padStart(6)}  ${kind}`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
console.log(
  `${target.name}: median × ${median(ratios)}` +
    (withServer.length > 0 ? `, with the server's CPU ${median(withServer)}` : '') +
    ` over ${rounds} rounds`,
);
if (values.profile !== undefined) {
  const summary = await summariseProfile(values.profile, REPO_ROOT, 40);
  const show = (title: string, frames: { frame: string; percent: number }[]) => {
    console.log(`\n${title}`);
    for (const f of frames) console.log(`  ${f.percent.toFixed(1).padStart(5)}%  ${f.frame}`);
  };
  console.log(`\nprofile: ${summary.samples} samples over ${Math.round(summary.durationMs)} ms`);
  show('by origin (self)', summary.byOrigin);
  show('top frames (self)', summary.topSelf);
  show("Roster's functions (total)", summary.rosterTotal);
  show('libraries (total)', summary.libraryTotal);
}
