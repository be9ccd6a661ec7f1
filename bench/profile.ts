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
    const shown = nm >= 0 ? path.slice(nm + '/node_modules/'.length) : path.startsWith(repoRoot) ? path.slice(repoRoot.length + 1) : path;
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
