/**
 * The benchmark's server children and the load: every child is tracked and killed if this process
 * ends for any reason; autocannon runs in this process and records latency per response.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, openSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { createHistogram } from 'node:perf_hooks';
import autocannon, { type RequestSpec } from 'autocannon';
import { ask, awaitReply, type ServerKind } from './ipc.js';

const CHILD_START_TIMEOUT_MS = 60_000;
const CHILD_STOP_TIMEOUT_MS = 15_000;
const IPC_TIMEOUT_MS = 10_000;

/** Where and how server children run: the Node.js binary and the build it loads. */
export interface Runtime {
  readonly label: string;
  /** The Node.js binary for the servers; undefined: this process's own. */
  readonly execPath: string | undefined;
  /** bench/servers.js of the build the servers run. */
  readonly serversJs: string;
  /** The root of that build (holds dist/ and node_modules/), for reading profiles. */
  readonly appRoot: string;
  /** More Node.js/V8 flags for the servers (bench/ab.ts's AB_GC: `--trace-gc-nvp`). */
  readonly nodeFlags?: readonly string[];
}

const children = new Set<ChildProcess>();
let currentLoad: { stop(): void } | undefined;

export function killChildren(): void {
  for (const child of children) child.kill('SIGKILL');
}
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the benchmark and its servers`);
    killChildren();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

export interface ServerChild {
  readonly kind: ServerKind;
  readonly label: string;
  readonly process: ChildProcess;
  readonly url: string;
  /** The `Authorization` value the server wants (Roster's bootstrap admin key, once auth is on). */
  readonly authorization: string | undefined;
  /** Where the server's stdout goes (Roster's request log), if anywhere. */
  readonly stdoutFile: string | undefined;
  readonly idleRssBytes: number;
  readonly nodeVersion: string;
  stopping: boolean;
  /** Why the process ended while it should have been serving. */
  exited: string | undefined;
}

export async function startServerChild(
  runtime: Runtime,
  kind: ServerKind,
  label: string,
  arg: string,
  stdoutFile?: string,
): Promise<ServerChild> {
  const out = stdoutFile === undefined ? 'ignore' : openSync(stdoutFile, 'a');
  let child: ChildProcess;
  try {
    child = fork(runtime.serversJs, [kind, arg], {
      stdio: ['ignore', out, 'inherit', 'ipc'],
      // --expose-gc only lets the child collect garbage before it reports its idle RSS.
      execArgv: ['--expose-gc', ...(runtime.nodeFlags ?? [])],
      ...(runtime.execPath === undefined ? {} : { execPath: runtime.execPath }),
    });
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
  children.add(child);
  const state: { stopping: boolean; exited: string | undefined } = { stopping: false, exited: undefined };
  child.once('exit', (code, signal) => {
    children.delete(child);
    if (!state.stopping) {
      state.exited = `${label} (pid ${child.pid}) exited unexpectedly (code ${code}, signal ${signal})`;
      console.error(state.exited);
      currentLoad?.stop();
    }
  });
  const ready = await awaitReply(child, 'ready', CHILD_START_TIMEOUT_MS);
  return Object.assign(state, {
    kind,
    label,
    process: child,
    url: ready.url,
    authorization: ready.authorization,
    stdoutFile,
    idleRssBytes: ready.idleRssBytes,
    nodeVersion: ready.nodeVersion,
  });
}

export async function stopServerChild(server: ServerChild): Promise<void> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return;
  server.stopping = true;
  const exited = new Promise<void>((resolve) => server.process.once('exit', () => resolve()));
  try {
    server.process.send({ type: 'stop' });
  } catch {
    server.process.kill('SIGKILL');
  }
  const timer = setTimeout(() => {
    console.error(`${server.label} did not stop within ${CHILD_STOP_TIMEOUT_MS} ms; killing it`);
    server.process.kill('SIGKILL');
  }, CHILD_STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** The server's RSS now, in bytes. */
export async function rssOf(server: ServerChild): Promise<number> {
  return (await ask(server.process, { type: 'usage' }, 'usage', IPC_TIMEOUT_MS)).rssBytes;
}

async function cpuMicros(server: ServerChild): Promise<number> {
  return (await ask(server.process, { type: 'usage' }, 'usage', IPC_TIMEOUT_MS)).cpuMicros;
}

export async function profiled<T>(server: ServerChild, file: string, intervalUs: number, work: () => Promise<T>): Promise<T> {
  await ask(server.process, { type: 'profile-start', intervalUs }, 'profile-started', IPC_TIMEOUT_MS);
  const result = await work();
  await ask(server.process, { type: 'profile-stop', file }, 'profile-stopped', 60_000);
  return result;
}

export interface Run {
  readonly reqPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly bytesPerResponse: number;
  /** CPU the server used per wall second, in percent of one core. */
  readonly serverCpuPct: number;
  /** Server CPU time (all its threads) per 2xx response: less sensitive to other load on the machine than req/s. */
  readonly cpuUsPerRequest: number;
  /** CPU this process (autocannon) used per wall second, in percent of one core. */
  readonly loadCpuPct: number;
  readonly ok: number;
  /** Errors, timeouts and non-2xx answers during the run, if any: its figures are then suspect. */
  readonly failures: string | undefined;
  /** Request log lines per 2xx response (Roster only; ~1.00 means every request was logged). */
  readonly logLinesPerRequest: number | undefined;
}

export interface LoadSettings {
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
}

async function runLoad(
  url: string,
  spec: RequestSpec,
  seconds: number,
  connections: number,
  onResponse?: (status: number, ms: number) => void,
) {
  const instance = autocannon({ url, connections, duration: seconds, timeout: 10, requests: [spec] });
  currentLoad = instance;
  if (onResponse) instance.on('response', (_client, status, _bytes, ms) => onResponse(status, ms));
  try {
    return await instance;
  } finally {
    currentLoad = undefined;
  }
}

/** Warm-up, then one measured run. Throws when the server is gone or ends during the run. */
export async function measure(server: ServerChild, spec: RequestSpec, settings: LoadSettings): Promise<Run> {
  if (server.exited !== undefined) throw new Error(server.exited);
  if (settings.warmupS > 0) await runLoad(server.url, spec, settings.warmupS, settings.connections);
  if (server.stdoutFile !== undefined) await truncate(server.stdoutFile, 0);
  const latencyUs = createHistogram();
  const cpuBefore = await cpuMicros(server);
  const loadBefore = process.cpuUsage();
  const result = await runLoad(server.url, spec, settings.durationS, settings.connections, (status, ms) => {
    if (status >= 200 && status < 300) latencyUs.record(Math.max(1, Math.round(ms * 1000)));
  });
  const load = process.cpuUsage(loadBefore);
  if (server.exited !== undefined) throw new Error(server.exited);
  const cpuAfter = await cpuMicros(server);
  const ok = result['2xx'];
  const wallUs = result.duration * 1e6;
  const problems = [
    result.errors > 0 ? `${result.errors} errors` : '',
    result.timeouts > 0 ? `${result.timeouts} timeouts` : '',
    result.non2xx > 0 ? `${result.non2xx} non-2xx (${JSON.stringify(result.statusCodeStats)})` : '',
    ok === 0 ? 'no 2xx response' : '',
  ].filter((s) => s !== '');
  let logLinesPerRequest: number | undefined;
  if (server.stdoutFile !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the async log writer drain
    logLinesPerRequest = (await countLines(server.stdoutFile)) / Math.max(1, ok);
  }
  return {
    reqPerSec: ok / result.duration,
    p50Ms: latencyUs.count > 0 ? latencyUs.percentile(50) / 1000 : Number.NaN,
    p99Ms: latencyUs.count > 0 ? latencyUs.percentile(99) / 1000 : Number.NaN,
    bytesPerResponse: ok > 0 ? result.throughput.total / ok : Number.NaN,
    serverCpuPct: (100 * (cpuAfter - cpuBefore)) / wallUs,
    cpuUsPerRequest: ok > 0 ? (cpuAfter - cpuBefore) / ok : Number.NaN,
    loadCpuPct: (100 * (load.user + load.system)) / wallUs,
    ok,
    failures: problems.length > 0 ? problems.join(', ') : undefined,
    logLinesPerRequest,
  };
}

async function countLines(file: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(file)) {
    const buffer = chunk as Buffer;
    for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) lines++;
  }
  return lines;
}
