/**
 * The HTTP benchmark's tables and targets, from the runs of one runtime (Node.js 20 or 24). A
 * figure is printed only when it was measured in this run; a scenario that failed says so.
 */
import type { FeatureBreakdown, ProfileSummary } from './profile.js';
import type { Run, Runtime } from './runner.js';
import { DATABASE_TITLES, ROUTE_TITLES, scenarioKey, type DatabaseName, type Route, type Scenario, type Side } from './scenarios.js';

export interface Row {
  readonly scenario: Scenario;
  /** One entry per round; undefined where the round's run failed. */
  readonly runs: (Run | undefined)[];
  readonly errors: string[];
}

export interface ProfileResult {
  readonly database: DatabaseName;
  readonly side: Side;
  readonly route: Route;
  readonly summary: ProfileSummary;
  readonly breakdown: FeatureBreakdown;
  /** The run taken while profiling (profiler overhead included). */
  readonly run: Run;
}

export interface RuntimeResult {
  readonly runtime: Runtime;
  readonly nodeVersion: string;
  readonly rows: Row[];
  /** RSS by server label 1 s after start and a full GC (the start-up peak). */
  readonly startRss: Map<string, number>;
  /** RSS by server label after BENCH_IDLE seconds idle, before any load. */
  readonly idleRss: Map<string, number>;
  readonly profiles: ProfileResult[];
  /** Set when the runtime could not be measured at all (servers failed to start, ...). */
  readonly failure: string | undefined;
}

/** Issue 14's targets. */
export const TARGETS = {
  get: { rps: 0.6, p99: 1.5 },
  list: { rps: 0.5, p99: undefined },
  post: { rps: 0.5, p99: 3 },
  withKeyOfStubbed: 0.95,
  idleRss: 1.5,
} as const;

export const median = (values: number[]): number => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const NA = 'n/a';
export const fmtInt = (n: number) => (Number.isNaN(n) ? NA : Math.round(n).toLocaleString('en-US'));
export const fmtMs = (n: number) => (Number.isNaN(n) ? NA : n.toFixed(2));
export const fmtPct = (ratio: number) => (Number.isNaN(ratio) ? NA : `${(100 * ratio).toFixed(1)}%`);
const fmtX = (ratio: number) => (Number.isNaN(ratio) ? NA : `${ratio.toFixed(2)}×`);
const fmtUs = (n: number) => (Number.isNaN(n) ? NA : n.toFixed(0));
const fmtMiB = (bytes: number | undefined) => (bytes === undefined ? NA : (bytes / 2 ** 20).toFixed(1));

const measured = (row: Row | undefined) => (row?.runs ?? []).filter((r): r is Run => r !== undefined);
const med = (row: Row | undefined, pick: (r: Run) => number) => median(measured(row).map(pick));

/** The rows of one runtime, by scenario key. */
class Figures {
  constructor(private readonly rows: Row[]) {}
  row(database: DatabaseName | undefined, side: Side, route: Route): Row | undefined {
    return this.rows.find((r) => r.scenario.key === scenarioKey(database, side, route));
  }
  rps = (db: DatabaseName, side: Side, route: Route) => med(this.row(db, side, route), (r) => r.reqPerSec);
  p99 = (db: DatabaseName, side: Side, route: Route) => med(this.row(db, side, route), (r) => r.p99Ms);
  cpu = (db: DatabaseName, side: Side, route: Route) => med(this.row(db, side, route), (r) => r.cpuUsPerRequest);
  /** Per-round ratio of req/s, only for rounds where both runs succeeded. */
  paired(a: Row | undefined, b: Row | undefined): number[] {
    if (!a || !b) return [];
    return a.runs.flatMap((run, i) => {
      const other = b.runs[i];
      return run && other ? [run.reqPerSec / other.reqPerSec] : [];
    });
  }
  /** Why a figure is missing: the errors of the rows it needs. */
  missing(...rows: (Row | undefined)[]): string {
    const errors = rows.flatMap((r) => (r ? r.errors.map((e) => `${r.scenario.title}: ${e}`) : []));
    return errors.length > 0 ? `not measured (${errors.join('; ')})` : 'not measured';
  }
}

/** The database names present in the rows, in run order. */
function databasesOf(rows: Row[]): DatabaseName[] {
  return [...new Set(rows.flatMap((r) => (r.scenario.database ? [r.scenario.database] : [])))];
}

export function scenarioTable(result: RuntimeResult): string {
  const f = new Figures(result.rows);
  const header =
    '| Scenario | req/s (median) | req/s range | p50 ms | p99 ms | bytes/resp | server CPU | server CPU µs/req | autocannon CPU | vs its B |\n' +
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const lines = result.rows.map((row) => {
    const { scenario } = row;
    const runs = measured(row);
    const rps = med(row, (r) => r.reqPerSec);
    const range =
      runs.length > 1 ? `${fmtInt(Math.min(...runs.map((r) => r.reqPerSec)))}–${fmtInt(Math.max(...runs.map((r) => r.reqPerSec)))}` : '–';
    const base =
      scenario.database && scenario.side !== 'baseline' && scenario.side !== 'bare'
        ? f.rps(scenario.database, 'baseline', scenario.route)
        : Number.NaN;
    const vsB = scenario.side === 'baseline' ? '100%' : scenario.side === 'bare' ? '' : fmtPct(rps / base);
    const warnings = [...runs.flatMap((r) => (r.failures ? [r.failures] : [])), ...row.errors.map((e) => `FAILED: ${e}`)];
    const note = warnings.length > 0 ? ` ⚠ ${warnings.join('; ')}` : '';
    return `| ${scenario.title}${note} | ${fmtInt(rps)} | ${range} | ${fmtMs(med(row, (r) => r.p50Ms))} | ${fmtMs(med(row, (r) => r.p99Ms))} | ${fmtInt(med(row, (r) => r.bytesPerResponse))} | ${runs.length > 0 ? `${med(row, (r) => r.serverCpuPct).toFixed(0)}%` : NA} | ${fmtUs(med(row, (r) => r.cpuUsPerRequest))} | ${runs.length > 0 ? `${med(row, (r) => r.loadCpuPct).toFixed(0)}%` : NA} | ${vsB} |`;
  });
  return [header, ...lines].join('\n');
}

/** Roster against its own baseline, route by route, on the same database. */
export function ratioTable(result: RuntimeResult): string {
  const f = new Figures(result.rows);
  const header =
    '| Database | Roster scenario | against | req/s ratio (medians) | paired per round | p99 ratio | Roster CPU µs/req | its B CPU µs/req | B/Roster by CPU |\n' +
    '|---|---|---|--:|--:|--:|--:|--:|--:|';
  const lines: string[] = [];
  for (const db of databasesOf(result.rows)) {
    const pairs: [Side, Route, Side, string][] = [
      ['roster', 'get', 'baseline', 'B GET by id'],
      ['roster', 'list', 'baseline', 'B first 50'],
      ['roster', 'post', 'baseline', 'B insert user + event'],
      ['roster', 'get', 'stub', 'Roster GET, auth stubbed'],
    ];
    for (const [side, route, otherSide, against] of pairs) {
      const otherRoute = route;
      const a = f.row(db, side, route);
      const b = f.row(db, otherSide, otherRoute);
      const rpsA = med(a, (r) => r.reqPerSec);
      const rpsB = med(b, (r) => r.reqPerSec);
      const cpuA = med(a, (r) => r.cpuUsPerRequest);
      const cpuB = med(b, (r) => r.cpuUsPerRequest);
      lines.push(
        `| ${DATABASE_TITLES[db]} | ${ROUTE_TITLES[route]}${otherSide === 'stub' ? ' with API key' : ''} | ${against} | ${fmtPct(rpsA / rpsB)} | ${f.paired(a, b).map(fmtPct).join(', ') || NA} | ${fmtX(med(a, (r) => r.p99Ms) / med(b, (r) => r.p99Ms))} | ${fmtUs(cpuA)} | ${fmtUs(cpuB)} | ${fmtPct(cpuB / cpuA)} |`,
      );
    }
  }
  return [header, ...lines].join('\n');
}

export function rssTable(
  result: RuntimeResult,
  labels: { roster: string; stub: string; baseline: string; db: DatabaseName }[],
  bare: string,
): string {
  const header =
    '| Database | Roster MiB | Roster (auth stubbed) MiB | B (fastify + driver) MiB | Roster / B | 1 s after start: Roster / B MiB |\n|---|--:|--:|--:|--:|--:|';
  const lines = labels.map(({ roster, stub, baseline, db }) => {
    const r = result.idleRss.get(roster);
    const b = result.idleRss.get(baseline);
    const atStart = `${fmtMiB(result.startRss.get(roster))} / ${fmtMiB(result.startRss.get(baseline))}`;
    return `| ${DATABASE_TITLES[db]} | ${fmtMiB(r)} | ${fmtMiB(result.idleRss.get(stub))} | ${fmtMiB(b)} | ${r !== undefined && b !== undefined ? fmtX(r / b) : NA} | ${atStart} |`;
  });
  return [header, ...lines, `| (A: bare node:http) | | | ${fmtMiB(result.idleRss.get(bare))} | | |`].join('\n');
}

/** One line per target per database: measured value and met / NOT met, or why it is missing. */
export function targets(result: RuntimeResult, rssLabels: { roster: string; baseline: string; db: DatabaseName }[]): string {
  const f = new Figures(result.rows);
  const verdict = (ok: boolean) => (ok ? 'met' : '**NOT met**');
  const lines: string[] = [];
  for (const db of databasesOf(result.rows)) {
    const name = DATABASE_TITLES[db];
    const routeLine = (route: Route, label: string, target: { rps: number; p99: number | undefined }) => {
      const a = f.row(db, 'roster', route);
      const b = f.row(db, 'baseline', route);
      const ratio = f.rps(db, 'roster', route) / f.rps(db, 'baseline', route);
      if (Number.isNaN(ratio)) return `- ${name} ${label} ≥ ${fmtPct(target.rps)} of B: ${f.missing(a, b)}`;
      let line = `- ${name} ${label} ≥ ${fmtPct(target.rps)} of B: ${fmtPct(ratio)} — ${verdict(ratio >= target.rps)}`;
      if (target.p99 !== undefined) {
        const p99 = f.p99(db, 'roster', route) / f.p99(db, 'baseline', route);
        line += `; p99 ≤ ${target.p99}× B: ${fmtX(p99)} — ${verdict(p99 <= target.p99)}`;
      }
      const failures = [...measured(a), ...measured(b)].filter((r) => r.failures !== undefined);
      return failures.length > 0 ? `${line} (⚠ runs with errors, see the table)` : line;
    };
    lines.push(routeLine('get', 'GET by id', TARGETS.get));
    lines.push(routeLine('list', 'GET ?limit=50', TARGETS.list));
    lines.push(routeLine('post', 'POST', TARGETS.post));
    const withKey = f.rps(db, 'roster', 'get') / f.rps(db, 'stub', 'get');
    lines.push(
      Number.isNaN(withKey)
        ? `- ${name} GET by id with an API key ≥ ${fmtPct(TARGETS.withKeyOfStubbed)} of auth stubbed: ${f.missing(f.row(db, 'roster', 'get'), f.row(db, 'stub', 'get'))}`
        : `- ${name} GET by id with an API key ≥ ${fmtPct(TARGETS.withKeyOfStubbed)} of auth stubbed: ${fmtPct(withKey)} — ${verdict(withKey >= TARGETS.withKeyOfStubbed)} (by CPU µs/req: ${fmtUs(f.cpu(db, 'roster', 'get'))} vs ${fmtUs(f.cpu(db, 'stub', 'get'))})`,
    );
    const rss = rssLabels.find((l) => l.db === db);
    const r = rss && result.idleRss.get(rss.roster);
    const b = rss && result.idleRss.get(rss.baseline);
    lines.push(
      r !== undefined && b !== undefined
        ? `- ${name} idle RSS ≤ ${TARGETS.idleRss}× B: ${fmtMiB(r)} MiB vs ${fmtMiB(b)} MiB = ${fmtX(r / b)} — ${verdict(r / b <= TARGETS.idleRss)}`
        : `- ${name} idle RSS ≤ ${TARGETS.idleRss}× B: not measured`,
    );
  }
  return lines.join('\n');
}

/** Request log lines per 2xx response of every Roster scenario (1.000 = one line per request). */
export function logLines(result: RuntimeResult): string {
  return result.rows
    .filter((r) => r.scenario.side === 'roster' || r.scenario.side === 'stub')
    .map((r) => `${r.scenario.title}: ${med(r, (x) => x.logLinesPerRequest ?? Number.NaN).toFixed(3)}`)
    .join('; ');
}

/**
 * Cost by feature for one database: each feature's share of the profile's non-idle samples times
 * the server CPU µs/req of the same scenario's measured rounds (median), so a column sums to it.
 */
export function featureTable(result: RuntimeResult, db: DatabaseName): string | undefined {
  const f = new Figures(result.rows);
  const profiles = (['get', 'list', 'post'] as const)
    .map((route) => ({ route, profile: result.profiles.find((p) => p.database === db && p.side === 'roster' && p.route === route) }))
    .filter((p): p is { route: Route; profile: ProfileResult } => p.profile !== undefined);
  if (profiles.length === 0) return undefined;
  const features = [...new Set(profiles.flatMap((p) => p.profile.breakdown.features.map((x) => x.feature)))];
  const cpu = new Map(profiles.map((p) => [p.route, f.cpu(db, 'roster', p.route)]));
  const usOf = (p: ProfileResult, route: Route, feature: string) => {
    const share = p.breakdown.features.find((x) => x.feature === feature)?.share ?? 0;
    return { share, us: share * (cpu.get(route) ?? Number.NaN) };
  };
  features.sort((x, y) => usOf(profiles[0]!.profile, profiles[0]!.route, y).us - usOf(profiles[0]!.profile, profiles[0]!.route, x).us);
  const header = `| Feature | ${profiles.map((p) => `${p.route === 'get' ? 'GET by id' : p.route === 'list' ? 'list' : 'POST'} µs/req | share`).join(' | ')} |\n|---|${profiles.map(() => '--:|--:').join('|')}|`;
  const lines = features.map((feature) => {
    const cells = profiles.map((p) => {
      const { share, us } = usOf(p.profile, p.route, feature);
      return `${Number.isNaN(us) ? NA : us.toFixed(1)} | ${(100 * share).toFixed(1)}%`;
    });
    return `| ${feature} | ${cells.join(' | ')} |`;
  });
  const total = `| **total (server CPU µs/req, measured rounds)** | ${profiles.map((p) => `**${fmtUs(cpu.get(p.route) ?? Number.NaN)}** | 100%`).join(' | ')} |`;
  const samples = `| (non-idle samples in the profile) | ${profiles.map((p) => `${p.profile.breakdown.nonIdleSamples.toLocaleString('en-US')} |`).join(' | ')} |`;
  return [header, ...lines, total, samples].join('\n');
}

export function profileSection(title: string, profile: ProfileResult, intervalUs: number, full: boolean): string {
  const { summary, run, breakdown } = profile;
  const rows = (frames: { frame: string; origin: string; percent: number }[]) =>
    frames.map((f) => `| ${f.percent.toFixed(1)}% | ${f.origin} | \`${f.frame.replace(/\|/g, '\\|')}\` |`).join('\n');
  const parts = [
    `#### ${title}`,
    `${summary.samples.toLocaleString('en-US')} samples over ${(summary.durationMs / 1000).toFixed(1)} s at ${intervalUs} µs; ${fmtInt(run.reqPerSec)} req/s while profiled (profiler overhead included), server CPU ${run.serverCpuPct.toFixed(0)}%.`,
    '',
    `Top ${full ? summary.topSelf.length : 12} frames by self time:`,
    '',
    '| self | origin | frame |\n|--:|---|---|',
    rows(full ? summary.topSelf : summary.topSelf.slice(0, 12)),
  ];
  if (full) {
    parts.push(
      '',
      'Roster functions by total time (self + callees):',
      '',
      '| total | origin | frame |\n|--:|---|---|',
      rows(summary.rosterTotal.slice(0, 15)),
    );
    parts.push(
      '',
      'Cost by feature: the frames that decided the most samples of each feature (share of that feature):',
      '',
      '| feature | share | deciding frames |\n|---|--:|---|',
      breakdown.features
        .map(
          (f) =>
            `| ${f.feature} | ${(100 * f.share).toFixed(1)}% | ${f.topFrames.map((t) => `${(100 * t.share).toFixed(0)}% \`${t.frame.replace(/\|/g, '\\|')}\``).join(', ')} |`,
        )
        .join('\n'),
    );
  }
  return parts.join('\n');
}

export function runtimeTitle(result: RuntimeResult): string {
  return `${result.runtime.label} (${result.nodeVersion})`;
}

/**
 * The same scenarios under each runtime side by side. The runtimes run one after the other, not
 * interleaved, so drift on the machine between them shows here: compare the ratios to B first.
 */
export function runtimeComparison(results: RuntimeResult[]): string | undefined {
  const measuredResults = results.filter((r) => r.rows.length > 0);
  if (measuredResults.length < 2) return undefined;
  const names = measuredResults.map((r) => r.runtime.label);
  const header =
    `| Scenario | ${names.map((n) => `${n} req/s`).join(' | ')} | ${names.map((n) => `${n} CPU µs/req`).join(' | ')} | ${names.map((n) => `${n} vs its B`).join(' | ')} |\n` +
    `|---|${names.map(() => '--:').join('|')}|${names.map(() => '--:').join('|')}|${names.map(() => '--:').join('|')}|`;
  const lines = measuredResults[0]!.rows.map(({ scenario }) => {
    const cells = measuredResults.map((result) => {
      const f = new Figures(result.rows);
      const row = f.row(scenario.database, scenario.side, scenario.route);
      const rps = med(row, (r) => r.reqPerSec);
      const base =
        scenario.database && (scenario.side === 'roster' || scenario.side === 'stub')
          ? f.rps(scenario.database, 'baseline', scenario.route)
          : Number.NaN;
      return { rps: fmtInt(rps), cpu: fmtUs(med(row, (r) => r.cpuUsPerRequest)), vsB: Number.isNaN(base) ? '' : fmtPct(rps / base) };
    });
    return `| ${scenario.title} | ${cells.map((c) => c.rps).join(' | ')} | ${cells.map((c) => c.cpu).join(' | ')} | ${cells.map((c) => c.vsB).join(' | ')} |`;
  });
  const rssLines = measuredResults[0]!.rows
    .flatMap((r) => (r.scenario.side === 'roster' || r.scenario.side === 'baseline' ? [r.scenario.server.label] : []))
    .filter((label, i, all) => all.indexOf(label) === i)
    .map((label) => {
      const suffix = label.slice(measuredResults[0]!.runtime.label.length);
      const values = measuredResults.map((result) => result.idleRss.get(`${result.runtime.label}${suffix}`));
      return `| idle RSS MiB:${suffix} | ${values.map(fmtMiB).join(' | ')} | ${names.map(() => '').join(' | ')} | ${names.map(() => '').join(' | ')} |`;
    });
  return [header, ...lines, ...rssLines].join('\n');
}
