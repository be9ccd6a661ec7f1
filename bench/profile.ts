import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The parts of a V8 `.cpuprofile` (inspector Profiler.Profile) the summary reads. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
}

export interface FrameCost {
  /** `function file:line`, paths relative to the repo or to node_modules. */
  readonly frame: string;
  /** Where it comes from: `roster`, a package name, `node` (core JS), or `(native/vm)`. */
  readonly origin: string;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly samples: number;
  readonly durationMs: number;
  /** Busiest frames by self time (the samples taken while that very function ran). */
  readonly topSelf: FrameCost[];
  /** Self time summed by origin. */
  readonly byOrigin: FrameCost[];
  /** Roster's own functions by total time (themselves plus everything they called). */
  readonly rosterTotal: FrameCost[];
  /** Named library entry points by total time. */
  readonly libraryTotal: FrameCost[];
}

const META_FRAMES = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

/** Summarises a `.cpuprofile`: self time per frame and per origin, total time of Roster's functions. */
export async function summariseProfile(file: string, repoRoot: string, top = 25): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfSamples = new Map<number, number>();
  for (const id of profile.samples) selfSamples.set(id, (selfSamples.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const pct = (n: number) => (100 * n) / Math.max(1, total);

  const describe = (node: CpuProfile['nodes'][number]): { frame: string; origin: string } => {
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    if (url === '') return { frame: name, origin: META_FRAMES.has(name) ? name : '(native/vm)' };
    const path = url.startsWith('file://') ? fileURLToPath(url) : url;
    const origin = originOf(path, repoRoot);
    const nm = path.lastIndexOf('/node_modules/');
    const shown = path.startsWith(`${repoRoot}/dist/`)
      ? path.slice(repoRoot.length + 1)
      : nm >= 0
        ? path.slice(nm + '/node_modules/'.length)
        : path;
    return { frame: `${name} ${shown}:${lineNumber + 1}`, origin };
  };

  const self = new Map<string, { origin: string; samples: number }>();
  const origins = new Map<string, number>();
  for (const [id, count] of selfSamples) {
    const { frame, origin } = describe(byId.get(id)!);
    const entry = self.get(frame) ?? { origin, samples: 0 };
    entry.samples += count;
    self.set(frame, entry);
    origins.set(origin, (origins.get(origin) ?? 0) + count);
  }

  // Total (inclusive) time per frame, counted once per stack even when the frame recurses.
  const inclusive = new Map<string, { origin: string; samples: number }>();
  const onStack = new Map<string, number>();
  const visit = (id: number): number => {
    const node = byId.get(id)!;
    const { frame, origin } = describe(node);
    onStack.set(frame, (onStack.get(frame) ?? 0) + 1);
    let sum = selfSamples.get(id) ?? 0;
    for (const child of node.children ?? []) sum += visit(child);
    const depth = onStack.get(frame)!;
    if (depth === 1) {
      const entry = inclusive.get(frame) ?? { origin, samples: 0 };
      entry.samples += sum;
      inclusive.set(frame, entry);
      onStack.delete(frame);
    } else {
      onStack.set(frame, depth - 1);
    }
    return sum;
  };
  const root = profile.nodes.find((n) => n.callFrame.functionName === '(root)') ?? profile.nodes[0]!;
  visit(root.id);

  const ranked = (entries: Iterable<[string, { origin: string; samples: number }]>) =>
    [...entries].sort((a, b) => b[1].samples - a[1].samples).map(([frame, e]) => ({ frame, origin: e.origin, percent: pct(e.samples) }));
  const isLibrary = (origin: string) => !['roster', 'node', '(native/vm)', 'bench', ...META_FRAMES].includes(origin);
  return {
    samples: total,
    durationMs: (profile.endTime - profile.startTime) / 1000,
    topSelf: ranked(self).slice(0, top),
    byOrigin: [...origins].sort((a, b) => b[1] - a[1]).map(([origin, n]) => ({ frame: origin, origin, percent: pct(n) })),
    rosterTotal: ranked(inclusive)
      .filter((f) => f.origin === 'roster')
      .slice(0, top),
    libraryTotal: ranked(inclusive)
      .filter((f) => isLibrary(f.origin))
      .slice(0, top),
  };
}

function originOf(path: string, repoRoot: string): string {
  // The build's own files first: the Node.js 24 copy of the build lives inside a node_modules folder.
  if (path.startsWith(`${repoRoot}/dist/src/`) || path.startsWith(`${repoRoot}/src/`)) return 'roster';
  if (path.startsWith(`${repoRoot}/dist/bench/`)) return 'bench';
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const [scope, name] = path.slice(nm + '/node_modules/'.length).split('/');
    return scope?.startsWith('@') ? `${scope}/${name}` : (scope ?? 'unknown');
  }
  if (path.startsWith('node:')) return 'node';
  if (path.startsWith(`${repoRoot}/dist/src/`) || path.startsWith(`${repoRoot}/src/`)) return 'roster';
  if (path.startsWith(`${repoRoot}/dist/bench/`)) return 'bench';
  return 'other';
}

// ---------------------------------------------------------------------------------------------
// Cost by feature: every sample goes to the innermost frame on its stack that belongs to a known
// feature. Frames of no feature of their own (native builtins, generic Node.js internals such as
// events and async_hooks, small shared utilities) pass their samples to their caller's feature.

/** A feature's share of the profile's non-idle samples. */
export interface FeatureCost {
  readonly feature: string;
  readonly samples: number;
  /** Of the non-idle samples (everything but `(idle)`). */
  readonly share: number;
  /** The frames that decided the most samples for this feature, busiest first, with their share of the feature. */
  readonly topFrames: { frame: string; share: number }[];
}

export interface FeatureBreakdown {
  readonly nonIdleSamples: number;
  readonly features: FeatureCost[];
}

const NEUTRAL = Symbol('neutral');
type Classification = string | typeof NEUTRAL;

/** Packages that only help their caller: the caller's feature pays for them. */
const NEUTRAL_PACKAGES = new Set(['toad-cache', 'secure-json-parse', 'fast-querystring', 'fast-decode-uri-component', 'rfdc']);

const PACKAGE_FEATURES: [RegExp, string][] = [
  [/^@opentelemetry\//, 'tracing'],
  [
    /^(pino|sonic-boom|pino-std-serializers|fast-redact|@pinojs\/redact|quick-format-unescaped|atomic-sleep|thread-stream|on-exit-leak-free)$/,
    'request log',
  ],
  [/^(prom-client|tdigest|bintrees)$/, 'metrics'],
  [/^@fastify\/rate-limit$/, 'rate limit'],
  [/^@fastify\/under-pressure$/, 'load shedding'],
  [/^(fast-json-stringify|@fastify\/fast-json-stringify-compiler|json-schema-ref-resolver)$/, 'serialization'],
  [/^(ajv.*|typebox|@sinclair\/typebox|@fastify\/ajv-compiler|@fastify\/type-provider-typebox|fast-uri)$/, 'validation'],
  [/^uuid$/, 'ID generation (uuid)'],
  [
    /^(better-sqlite3|pg|pg-pool|pg-protocol|pg-types|pg-connection-string|pg-int8|postgres-array|postgres-bytea|postgres-date|postgres-interval|buffer-writer|packet-reader|pgpass|split2)$/,
    'database',
  ],
  [/^helmet$/, 'security headers'],
  [/^(fastify|find-my-way|light-my-request|avvio|@fastify\/.*|fastq|abstract-logging|process-warning|safe-regex2|ret)$/, 'framework'],
];

/** Roster's files (paths under src/, without the extension) and the feature each belongs to. */
const ROSTER_FEATURES: [RegExp, string][] = [
  [/^(http\/tracing|kit\/trace|db\/instrumentation|observability\/tracing)$/, 'tracing'],
  [/^(observability\/logger|http\/request-logger)$/, 'request log'],
  [/^observability\/(metrics|cell-metrics)$/, 'metrics'],
  [/^http\/rate-limit$/, 'rate limit'],
  [/^(auth\/.*|http\/auth)$/, 'auth'],
  [/^http\/load-shedding$/, 'load shedding'],
  [/^(http\/deadline|kit\/deadline)$/, 'deadline'],
  [/^http\/validation$/, 'validation'],
  [/^db\/database$/, 'database'],
  [/^users\/sql-row$/, 'row mapping'],
  [/^http\/etag$/, 'ETag'],
  [/^http\/security-headers$/, 'security headers'],
  [/^kit\/uuid$/, 'ID generation (uuid)'],
];
/** Row mapping wherever it lives: the user mappers, and the dialect's time and JSON conversions they call. */
const ROW_MAPPING_FUNCTIONS = new Set(['fromUserRow', 'toUserRow', 'toUserDocument', 'toTime', 'fromTime', 'toJson', 'fromJson']);

/** Node.js internals that are the HTTP server and its sockets. */
const HTTP_INTERNALS = /^node:(_http_\w+|http|net|internal\/(http|stream_base_commons|js_stream_socket|net|streams\/.*))$/;

function classify(callFrame: CpuProfile['nodes'][number]['callFrame'], appRoot: string): Classification {
  const { functionName, url } = callFrame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(program)') return '(program): V8 and native code outside JavaScript';
    if (functionName === '(idle)') return '(idle)';
    return NEUTRAL;
  }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  // The app's own files first: the Node.js 24 copy of the build lives inside a node_modules folder.
  for (const root of [`${appRoot}/dist/src/`, `${appRoot}/src/`]) {
    if (!path.startsWith(root)) continue;
    if (ROW_MAPPING_FUNCTIONS.has(functionName)) return 'row mapping';
    const file = path.slice(root.length).replace(/\.[jt]s$/, '');
    return ROSTER_FEATURES.find(([pattern]) => pattern.test(file))?.[1] ?? 'Roster code (routes, services, stores, app)';
  }
  if (path.startsWith(`${appRoot}/dist/bench/`)) return 'benchmark harness (IPC)';
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length);
    const [scope, name] = rest.split('/');
    const pkg = scope?.startsWith('@') ? `${scope}/${name}` : (scope ?? '');
    if (NEUTRAL_PACKAGES.has(pkg)) return NEUTRAL;
    // Kysely's drivers call the database driver; the rest of Kysely builds and compiles queries.
    if (pkg === 'kysely') return /\/dialect\/[^/]+\/[^/]+-driver\.js$/.test(rest) ? 'database' : 'query building';
    return PACKAGE_FEATURES.find(([pattern]) => pattern.test(pkg))?.[1] ?? 'other';
  }
  if (path.startsWith('node:')) return HTTP_INTERNALS.test(path) ? 'HTTP/socket' : NEUTRAL;
  return 'other';
}

/** Attributes every sample of the `.cpuprofile` to a feature (see the rules above). */
export async function featureBreakdown(file: string, appRoot: string): Promise<FeatureBreakdown> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const feature = new Map<number, string>();
  /** The frame that gave each node its feature (itself, or the innermost caller with a feature). */
  const decidedBy = new Map<number, number>();
  const root = profile.nodes.find((n) => n.callFrame.functionName === '(root)') ?? profile.nodes[0]!;
  // Top-down: a node's feature is its own, else its caller's, which is "innermost wins" per stack.
  const stack: [number, string, number][] = [[root.id, 'other', root.id]];
  while (stack.length > 0) {
    const [id, inherited, inheritedFrom] = stack.pop()!;
    const node = byId.get(id)!;
    const own = classify(node.callFrame, appRoot);
    const mine = own === NEUTRAL ? inherited : own;
    const from = own === NEUTRAL ? inheritedFrom : id;
    feature.set(id, mine);
    decidedBy.set(id, from);
    for (const child of node.children ?? []) stack.push([child, mine, from]);
  }
  const counts = new Map<string, number>();
  const frames = new Map<string, Map<string, number>>();
  for (const id of profile.samples) {
    const name = feature.get(id) ?? 'other';
    counts.set(name, (counts.get(name) ?? 0) + 1);
    const { functionName, url, lineNumber } = byId.get(decidedBy.get(id) ?? id)!.callFrame;
    const shown = url.startsWith(`file://${appRoot}/`)
      ? url.slice(`file://${appRoot}/`.length)
      : url.replace(/^file:\/\/.*\/node_modules\//, '');
    const frame = `${functionName || '(anonymous)'}${shown ? ` ${shown}:${lineNumber + 1}` : ''}`;
    const perFeature = frames.get(name) ?? new Map<string, number>();
    perFeature.set(frame, (perFeature.get(frame) ?? 0) + 1);
    frames.set(name, perFeature);
  }
  const idle = counts.get('(idle)') ?? 0;
  counts.delete('(idle)');
  const nonIdleSamples = profile.samples.length - idle;
  return {
    nonIdleSamples,
    features: [...counts]
      .sort((a, b) => b[1] - a[1])
      .map(([name, samples]) => ({
        feature: name,
        samples,
        share: samples / Math.max(1, nonIdleSamples),
        topFrames: [...(frames.get(name) ?? [])]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 4)
          .map(([frame, n]) => ({ frame, share: n / samples })),
      })),
  };
}
