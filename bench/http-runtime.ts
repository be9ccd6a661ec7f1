/**
 * One runtime's part of the HTTP benchmark: start every server under that Node.js, check each
 * answers, run the rounds, profile Roster's routes, stop the servers. A failure to start leaves
 * the runtime with no figures and says why; a failed run leaves that run out and says why.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Settings } from './http.js';
import { featureBreakdown, summariseProfile } from './profile.js';
import { TARGETS, fmtInt, fmtMs, median, type ProfileResult, type Row, type RuntimeResult } from './report.js';
import { measure, profiled, rssOf, startServerChild, stopServerChild, type Runtime, type ServerChild } from './runner.js';
import {
  DATABASE_TITLES,
  sanityCheck,
  scenarios,
  type DatabaseName,
  type DatabaseServers,
  type Scenario,
  type ServerSet,
} from './scenarios.js';

export const PROFILE_INTERVAL_US = 250;

/** The database each server set runs on: a SQLite file, a PostgreSQL URL. */
export type Databases = Partial<Record<DatabaseName, string>>;

export async function measureRuntime(
  runtime: Runtime,
  databases: Databases,
  ids: string[],
  settings: Settings,
  dir: string,
): Promise<RuntimeResult> {
  await mkdir(dir, { recursive: true });
  const started: ServerChild[] = [];
  const start = async (...args: Parameters<typeof startServerChild> extends [Runtime, ...infer R] ? R : never) => {
    const server = await startServerChild(runtime, ...args);
    started.push(server);
    return server;
  };
  const startRss = new Map<string, number>();
  const idleRss = new Map<string, number>();
  const rows: Row[] = [];
  const profiles: ProfileResult[] = [];
  let nodeVersion = 'unknown';
  try {
    const bare = await start('bare', `${runtime.label} A`, JSON.stringify({ id: ids[0] }));
    nodeVersion = bare.nodeVersion;
    const sets: DatabaseServers[] = [];
    for (const [database, target] of Object.entries(databases) as [DatabaseName, string][]) {
      const db = DATABASE_TITLES[database];
      sets.push({
        database,
        baseline: await start(database === 'sqlite' ? 'fastify-sqlite' : 'fastify-postgres', `${runtime.label} ${db} B`, target),
        roster: await start('roster', `${runtime.label} ${db} Roster`, target, join(dir, `${database}-roster.log`)),
        stub: await start('roster-no-auth', `${runtime.label} ${db} Roster (auth stubbed)`, target, join(dir, `${database}-stub.log`)),
      });
    }
    for (const server of started) startRss.set(server.label, server.idleRssBytes);
    // V8 keeps the young generation it grew to during start-up until a scavenge finds allocation
    // slow, 25-40 s into idle for Roster: the reading 1 s after start is the start-up peak, this
    // one what an idle instance holds.
    await new Promise((resolve) => setTimeout(resolve, settings.idleS * 1000));
    for (const server of started) idleRss.set(server.label, await rssOf(server));
    const servers: ServerSet = { bare, databases: sets };
    await sanityCheck(servers, ids[0]!);
    console.log(`${runtime.label} ${nodeVersion}: ${started.length} servers ready`);

    const all = scenarios(ids, servers);
    rows.push(...all.map((scenario) => ({ scenario, runs: [], errors: [] })));
    for (let round = 0; round < settings.rounds; round++) {
      // Rotate the order each round so no scenario always follows the same one.
      for (let k = 0; k < rows.length; k++) {
        const row = rows[(k + round) % rows.length]!;
        try {
          const run = await measure(row.scenario.server, row.scenario.spec, settings);
          row.runs[round] = run;
          console.log(
            `${runtime.label} round ${round + 1}/${settings.rounds}  ${row.scenario.title.padEnd(58)} ${fmtInt(run.reqPerSec).padStart(7)} req/s  p99 ${fmtMs(run.p99Ms)} ms  ${run.cpuUsPerRequest.toFixed(0)} µs/req${run.failures ? `  ⚠ ${run.failures}` : ''}`,
          );
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          row.runs[round] = undefined;
          row.errors.push(`round ${round + 1}: ${message}`);
          console.error(`${runtime.label} round ${round + 1}/${settings.rounds}  ${row.scenario.title}: FAILED: ${message}`);
        }
      }
    }
    profiles.push(...(await profileRoutes(runtime, rows, settings, dir)));
  } catch (error) {
    const failure = error instanceof Error ? error.message : String(error);
    console.error(`${runtime.label}: FAILED: ${failure}`);
    return { runtime, nodeVersion, rows, startRss, idleRss, profiles, failure };
  } finally {
    for (const server of started) await stopServerChild(server);
  }
  return { runtime, nodeVersion, rows, startRss, idleRss, profiles, failure: undefined };
}

/**
 * CPU-profiles Roster's three routes (and B's GET by id, for comparison) on each database, one
 * more run each after the measured rounds, so profiling never disturbs them.
 */
async function profileRoutes(runtime: Runtime, rows: Row[], settings: Settings, dir: string): Promise<ProfileResult[]> {
  if (settings.profile === 'never') return [];
  const results: ProfileResult[] = [];
  for (const database of new Set(rows.flatMap((r) => (r.scenario.database ? [r.scenario.database] : [])))) {
    const find = (side: Scenario['side'], route: Scenario['route']) =>
      rows.find((r) => r.scenario.database === database && r.scenario.side === side && r.scenario.route === route);
    const rps = (side: Scenario['side']) => median((find(side, 'get')?.runs ?? []).map((r) => r?.reqPerSec ?? Number.NaN));
    const getRatio = rps('roster') / rps('baseline');
    if (settings.profile === 'auto' && getRatio >= TARGETS.get.rps) continue;
    for (const [side, route] of [
      ['roster', 'get'],
      ['roster', 'list'],
      ['roster', 'post'],
      ['baseline', 'get'],
    ] as const) {
      const row = find(side, route);
      if (!row) continue;
      const { scenario } = row;
      const file = join(dir, `${database}-${side}-${route}.cpuprofile`);
      try {
        const run = await profiled(scenario.server, file, PROFILE_INTERVAL_US, () =>
          measure(scenario.server, scenario.spec, { ...settings, warmupS: 0 }),
        );
        const summary = await summariseProfile(file, runtime.appRoot);
        const breakdown = await featureBreakdown(file, runtime.appRoot);
        results.push({ database, side, route, summary, breakdown, run });
        console.log(`${runtime.label} profiled ${scenario.title}: ${file}`);
        console.log(breakdown.features.map((f) => `  ${(100 * f.share).toFixed(1).padStart(5)}%  ${f.feature}`).join('\n'));
      } catch (error) {
        console.error(`${runtime.label} profiling ${scenario.title} FAILED: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return results;
}
