/**
 * Reading callgrind's output format (valgrind.org/docs/manual/cl-format.html) for
 * bench/instructions.ts: the total, and each function's own instructions. No npm package reads
 * this format, and callgrind_annotate cannot name JIT code, which is most of a Node.js server.
 */

/** The dump's total instruction count (its `totals:` or `summary:` line). */
export function totalInstructions(dump: string): number {
  const line = /^(?:totals|summary): (\d+)/m.exec(dump);
  if (line === null) throw new Error('no totals in the callgrind dump');
  return Number(line[1]);
}

/** `address size name` lines of V8's /tmp/perf-PID.map, searchable by address. */
function jitNames(perfMap: string): (address: number) => string | undefined {
  const rows = perfMap
    .split('\n')
    .map((line) => /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ start: parseInt(m[1]!, 16), size: parseInt(m[2]!, 16), name: m[3]! }))
    .sort((a, b) => a.start - b.start);
  return (address) => {
    let low = 0;
    let high = rows.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const row = rows[mid]!;
      if (address < row.start) high = mid - 1;
      else if (address >= row.start + row.size) low = mid + 1;
      else return row.name;
    }
    return undefined;
  };
}

const COST_LINE = /^[0-9+\-*]/;
const NAMED = /^(c?fn|c?ob)=\((\d+)\)(?: (.*))?$/;

/**
 * A dump read once: each function's own instructions (by `object\tfunction`), what the calls it
 * made cost (inclusive, by the same key), how often each function was called, and, for each
 * function called (by name), what its calls cost inclusive from each caller (by the caller's key).
 */
export interface Dump {
  readonly self: ReadonlyMap<string, number>;
  readonly callees: ReadonlyMap<string, number>;
  readonly calls: ReadonlyMap<string, number>;
  readonly callers: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

/** Reads a dump's name compression (`fn=(id) name`, later `fn=(id)`) and its cost and call lines. */
export function readDump(dump: string): Dump {
  const names = new Map<string, string>();
  const objects = new Map<string, string>();
  const self = new Map<string, number>();
  const callees = new Map<string, number>();
  const calls = new Map<string, number>();
  const callers = new Map<string, Map<string, number>>();
  let current = '?';
  let object = '';
  let callee = '?';
  // The cost line after `calls=` is what the call cost (inclusive), not the caller's own.
  let afterCall = false;
  for (const line of dump.split('\n')) {
    const named = NAMED.exec(line);
    if (named !== null) {
      const [, key, id, name] = named;
      const table = key!.endsWith('fn') ? names : objects;
      if (name !== undefined) table.set(id!, name);
      if (key === 'fn') current = names.get(id!) ?? '?';
      if (key === 'ob') object = objects.get(id!) ?? '';
      if (key === 'cfn') callee = names.get(id!) ?? '?';
      continue;
    }
    if (line.startsWith('calls=')) {
      afterCall = true;
      calls.set(callee, (calls.get(callee) ?? 0) + Number(line.slice(6).split(' ')[0]));
      continue;
    }
    if (!COST_LINE.test(line)) continue;
    const cost = Number(line.split(' ')[1] ?? 0);
    const key = `${object.split('/').pop() ?? ''}\t${current}`;
    const table = afterCall ? callees : self;
    if (afterCall) {
      const from = callers.get(callee) ?? new Map<string, number>();
      callers.set(callee, from.set(key, (from.get(key) ?? 0) + cost));
    }
    afterCall = false;
    table.set(key, (table.get(key) ?? 0) + cost);
  }
  return { self, callees, calls, callers };
}

/**
 * The `top` functions by instructions of their own per request, one line each. A function
 * callgrind knows only by address (JIT code) is named from the perf map when it is there.
 */
export function selfCostTable(dump: Dump, perfMap: string, requests: number, top: number): string {
  return costTable(dump.self, dump, jitNames(perfMap), requests, top);
}

/**
 * The `top` JavaScript functions by inclusive instructions per request: their own and those of
 * everything they called. Read it for functions that return before the next stage runs (the
 * request line's writer, a store's read, the logger's clock). Fastify's hooks call the next
 * stage from their done() callback, so a hook's figure holds everything after it too. Approximate
 * besides: a recursive function counts its inner calls twice, and callgrind follows JIT code's
 * calls and returns as well as V8's frames let it.
 */
export function inclusiveCostTable(dump: Dump, perfMap: string, requests: number, top: number): string {
  const jitName = jitNames(perfMap);
  const inclusive = new Map<string, number>();
  for (const [key, own] of dump.self) {
    const name = nameOf(key, jitName).name;
    if (name.startsWith('JS:')) inclusive.set(key, own + (dump.callees.get(key) ?? 0));
  }
  return costTable(inclusive, dump, jitName, requests, top);
}

/**
 * Who called the functions whose name contains `callee` (a builtin such as
 * `KeyedLoadIC_Megamorphic`, which the other tables show only as a total), with the inclusive
 * instructions of those calls per request, the `top` callers first, JIT callers named from the
 * perf map. The same approximations as the inclusive table's.
 */
export function callersTable(dump: Dump, perfMap: string, requests: number, callee: string, top: number): string {
  const byCaller = new Map<string, number>();
  for (const [name, from] of dump.callers) {
    if (!name.includes(callee)) continue;
    for (const [key, cost] of from) byCaller.set(key, (byCaller.get(key) ?? 0) + cost);
  }
  return costTable(byCaller, dump, jitNames(perfMap), requests, top);
}

function nameOf(key: string, jitName: (address: number) => string | undefined): { file: string; name: string } {
  const [file, fn] = key.split('\t') as [string, string];
  const address = /^0x([0-9a-f]+)/.exec(fn);
  return { file, name: address === null ? fn : (jitName(parseInt(address[1]!, 16)) ?? fn) };
}

function costTable(
  costs: ReadonlyMap<string, number>,
  dump: Dump,
  jitName: (address: number) => string | undefined,
  requests: number,
  top: number,
): string {
  const total = [...dump.self.values()].reduce((a, b) => a + b, 0);
  return [...costs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, cost]) => {
      const { file, name } = nameOf(key, jitName);
      const perRequest = (cost / requests / 1000).toFixed(2).padStart(7);
      return `${perRequest} k  ${((100 * cost) / total).toFixed(1).padStart(4)}%  ${file.padEnd(12).slice(0, 12)} ${name.slice(0, 110)}`;
    })
    .join('\n');
}

/** How many times functions whose name contains `name` were called, per request. */
export function callsPerRequest(dump: Dump, name: string, requests: number): number {
  let calls = 0;
  for (const [callee, n] of dump.calls) if (callee.includes(name)) calls += n;
  return calls / requests;
}
