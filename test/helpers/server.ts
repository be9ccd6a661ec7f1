// Runs the BUILT CLI (dist/src/cli.js) as a child process for end-to-end tests: start it on a
// free port, find its URL in the JSON log, signal it, wait for it to exit. Every wait has a
// deadline, and every child is killed when its test file ends (or, failing that, when the
// test process exits), so a failing test never leaks a server.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before } from 'node:test';
import type { TestDatabase } from './databases.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled CLI: this helper is dist/test/helpers/server.js, the CLI is dist/src/cli.js. */
export const CLI_PATH = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** One parsed line of the server's JSON log (non-JSON lines are kept as `raw`). */
export interface LogLine {
  readonly level?: string;
  readonly msg?: string;
  readonly raw?: string;
  readonly [field: string]: unknown;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Settles like `promise`, or rejects naming `what` once `ms` have passed. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

const BOOTSTRAP_KEY = /^(rk_[0-9a-f]{16}_[A-Za-z0-9_-]{43})$/m;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` every `everyMs` until it returns something other than `undefined` or `false`,
 * and returns that; fails naming `what` once `ms` have passed.
 */
export async function pollFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  options: { ms?: number; everyMs?: number } = {},
): Promise<Exclude<T, undefined | false>> {
  const { ms = 10_000, everyMs = 20 } = options;
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as Exclude<T, undefined | false>;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * The environment a child gets: this process's (PATH and the like) without anything that
 * would configure Roster or the test runner behind the test's back, plus `overrides`.
 */
export function childEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (
      key.startsWith('ROSTER_') ||
      key.startsWith('OTEL_') ||
      ['PORT', 'HOST', 'LOG_LEVEL', 'NODE_TEST_CONTEXT', 'NODE_OPTIONS'].includes(key)
    )
      continue;
    env[key] = value;
  }
  return { ...env, ...overrides };
}

export interface CliResult extends Exit {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `roster <args>` (in `cwd`, default this process's) to completion (killed past `timeoutMs`) and returns what it printed. */
export async function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
  cwd?: string,
): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'], cwd });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  try {
    const exit = await within(timeoutMs, `roster ${args.join(' ')} to exit`, exited);
    return { ...exit, stdout, stderr };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`${(error as Error).message}; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`, { cause: error });
  } finally {
    live.delete(child);
  }
}

/** A fresh directory for a SQLite file; `cleanup` removes it. */
export function tempSqlite(): { url: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'roster-e2e-'));
  return { url: join(dir, 'roster.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface StartOptions {
  /** ROSTER_DATABASE_URL: a SQLite path or a postgres:// URL. */
  readonly databaseUrl: string;
  /** More environment variables (ROSTER_SHUTDOWN_TIMEOUT_MS, ...). */
  readonly env?: Record<string, string>;
  /** How long the server may take to log "listening". */
  readonly startTimeoutMs?: number;
  /**
   * Whether start() waits for the bootstrap admin key on stderr; default: unless
   * ROSTER_BOOTSTRAP_KEY=off. Instances sharing a database print it only on the first start.
   */
  readonly awaitBootstrapKey?: boolean;
}

/** A running `roster serve` child process. */
export class ServerProcess {
  readonly child: ChildProcess;
  /** Every line the server logged so far, parsed. */
  readonly logs: LogLine[] = [];
  /** Resolves when the process has exited (its stdio closed). */
  readonly exited: Promise<Exit>;
  #url = '';
  #adminUrl: string | undefined;
  #apiKey: string | undefined;
  #stderr = '';
  #exit: Exit | undefined;
  readonly #waiters = new Set<{ test: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();

  private constructor(options: StartOptions) {
    this.child = spawn(process.execPath, [CLI_PATH, 'serve'], {
      env: childEnv({
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        // Parallel test servers must not race for the default admin port.
        ROSTER_ADMIN_PORT: '0',
        // Test files share two cores: a scheduling stall must not make a server shed a test's
        // request (shedding is tested on its own, in test/http/deadline-shedding.api.test.ts).
        ROSTER_SHED_EVENT_LOOP_DELAY_MS: '0',
        // A short drain delay (5 s by default) keeps every graceful stop of a test server quick.
        ROSTER_SHUTDOWN_DRAIN_DELAY_MS: '100',
        ROSTER_DATABASE_URL: options.databaseUrl,
        ...options.env,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.child);
    let pending = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        this.#onLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.exited = new Promise<Exit>((resolve) =>
      this.child.once('close', (code, signal) => {
        if (pending.trim() !== '') this.#onLine(pending);
        live.delete(this.child);
        this.#exit = { code, signal };
        resolve(this.#exit);
      }),
    );
  }

  /** Spawns `roster serve` and resolves once it logs "listening" (rejects if it exits first). */
  static async start(options: StartOptions): Promise<ServerProcess> {
    const server = new ServerProcess(options);
    const listening = server.waitForLog((l) => l.msg === 'listening', 'the "listening" log line', options.startTimeoutMs ?? 120_000);
    const died = server.exited.then((exit) => {
      throw new Error(`roster serve exited (${JSON.stringify(exit)}) before listening; stderr: ${server.stderr}; log: ${server.logText()}`);
    });
    try {
      const line = await Promise.race([listening, died]);
      server.#url = String(line.url);
      server.#adminUrl = server.logs.find((l) => l.msg === 'admin listener serving /metrics')?.url as string | undefined;
      if (options.awaitBootstrapKey ?? options.env?.ROSTER_BOOTSTRAP_KEY !== 'off') {
        // Printed to stderr before listening; the two pipes may be read in either order.
        await within(
          10_000,
          'the bootstrap admin key on stderr',
          (async () => {
            while (!BOOTSTRAP_KEY.test(server.#stderr)) await sleep(20);
          })(),
        );
        server.#apiKey = BOOTSTRAP_KEY.exec(server.#stderr)![1]!;
      }
      return server;
    } catch (error) {
      await server.kill();
      throw error;
    } finally {
      died.catch(() => undefined);
    }
  }

  /** The bootstrap admin key if this process printed one on stderr (so far). */
  printedKey(): string | undefined {
    return BOOTSTRAP_KEY.exec(this.#stderr)?.[1];
  }

  /** The admin key the server printed on first start (stderr). */
  get apiKey(): string {
    if (this.#apiKey === undefined) throw new Error('this server printed no bootstrap key');
    return this.#apiKey;
  }

  /** `Authorization` header carrying the bootstrap admin key. */
  get auth(): { authorization: string } {
    return { authorization: `Bearer ${this.apiKey}` };
  }

  /** Where the server listens, e.g. http://127.0.0.1:41234 (from its "listening" log line). */
  get url(): string {
    return this.#url;
  }

  /** Where GET /metrics answers (the admin listener), unless it was turned off. */
  get adminUrl(): string {
    if (this.#adminUrl === undefined) throw new Error('this server has no admin listener');
    return this.#adminUrl;
  }

  get port(): number {
    return Number(new URL(this.#url).port);
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Set once the process has exited. */
  get exit(): Exit | undefined {
    return this.#exit;
  }

  /** The log so far, one line per entry, for assertion messages. */
  logText(): string {
    return this.logs.map((l) => l.raw ?? JSON.stringify(l)).join('\n');
  }

  /** Resolves with the first log line (already seen or still to come) that passes `test`. */
  waitForLog(test: (line: LogLine) => boolean, what: string, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.logs.find(test);
    if (seen) return Promise.resolve(seen);
    let waiter: { test: (line: LogLine) => boolean; resolve: (line: LogLine) => void } | undefined;
    const found = new Promise<LogLine>((resolve) => {
      waiter = { test, resolve };
      this.#waiters.add(waiter);
    });
    return within(timeoutMs, what, found)
      .catch((error: unknown) => {
        throw new Error(`${(error as Error).message}; log so far:\n${this.logText()}\nstderr: ${this.stderr}`, { cause: error });
      })
      .finally(() => this.#waiters.delete(waiter!));
  }

  /** Sends a signal (SIGTERM by default) to the server process. */
  signal(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#exit === undefined) this.child.kill(signal);
  }

  /** Resolves with the exit status, or rejects past `timeoutMs` (the process is left running). */
  waitForExit(timeoutMs = 20_000): Promise<Exit> {
    return within(timeoutMs, 'the server to exit', this.exited);
  }

  /** Graceful stop: SIGTERM and wait; SIGKILL if it does not exit in time. */
  async stop(timeoutMs = 20_000): Promise<Exit> {
    this.signal('SIGTERM');
    try {
      return await this.waitForExit(timeoutMs);
    } catch {
      return this.kill();
    }
  }

  /** Kills the process if it still runs and waits for it to go: for `after` hooks. */
  async kill(): Promise<Exit> {
    if (this.#exit) return this.#exit;
    this.child.kill('SIGKILL');
    return within(10_000, 'the killed server to exit', this.exited);
  }

  #onLine(text: string): void {
    if (text.trim() === '') return;
    let line: LogLine;
    try {
      const parsed: unknown = JSON.parse(text);
      line = typeof parsed === 'object' && parsed !== null ? (parsed as LogLine) : { raw: text };
    } catch {
      line = { raw: text };
    }
    this.logs.push(line);
    for (const waiter of this.#waiters) if (waiter.test(line)) waiter.resolve(line);
  }
}

/** Runs `work` with at most `limit` of the `items` in flight at once. */
export async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * A suite's server: registers the `before` that opens a fresh database with `open` and starts
 * `roster serve` on it, and the `after` that kills the server and drops the database. Call it
 * inside a `describe`; read `server` and `testDb` from the result in the tests.
 */
export function serverForSuite(
  open: () => Promise<TestDatabase>,
  env?: Record<string, string>,
): { readonly server: ServerProcess; readonly testDb: TestDatabase } {
  let server: ServerProcess | undefined;
  let testDb: TestDatabase | undefined;
  before(async () => {
    testDb = await open();
    server = await ServerProcess.start({ databaseUrl: testDb.url, ...(env ? { env } : {}) });
  });
  after(async () => {
    await server?.kill();
    await testDb?.cleanup();
  });
  return {
    get server() {
      if (server === undefined) throw new Error('the suite server is not started (use it inside a test)');
      return server;
    },
    get testDb() {
      if (testDb === undefined) throw new Error('the suite database is not open (use it inside a test)');
      return testDb;
    },
  };
}
