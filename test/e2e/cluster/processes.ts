// The cluster test's own servers besides Roster: HAProxy (from its committed template) and a
// redis-server of the test's own, so killing it never touches the machine's shared Redis.
// Every child is killed when the test process exits, whatever happened.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pollFor, within } from '../../helpers/server.js';
import { HAPROXY_TEMPLATE, renderHaproxyConfig } from './haproxy-config.js';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * A port free on loopback, picked below the kernel's ephemeral range (32768–60999 by default).
 * The servers here get fixed ports (HAProxy's backends, an instance restarted on its own port),
 * so the port is free when checked and bound a moment later: a kernel-chosen port lives in the
 * range every outgoing connection of the other tests draws from, and one of them took it once
 * in CI (EADDRINUSE). Below the range only an explicit bind can take it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = FIXED_PORTS_FROM + Math.floor(Math.random() * FIXED_PORTS_COUNT);
    if (handedOut.has(port)) continue;
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${FIXED_PORTS_FROM}–${FIXED_PORTS_FROM + FIXED_PORTS_COUNT - 1} after 200 tries`);
}

const FIXED_PORTS_FROM = 20_000;
const FIXED_PORTS_COUNT = 12_000;
/** Ports this process handed out already: two calls in a row never return the same one. */
const handedOut = new Set<number>();

/** A child process of the test, its output kept for failure messages. */
class Child {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output = '';
  #done = false;

  constructor(command: string, args: readonly string[]) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString('utf8')).slice(-20_000));
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code) => {
        this.#done = true;
        live.delete(this.child);
        resolve(code);
      }),
    );
    // A missing binary is reported through the exit above (code null), not as a crash.
    this.child.once('error', (error) => (this.output += `\n${String(error)}`));
  }

  get running(): boolean {
    return !this.#done;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.#done) this.child.kill(signal);
    await within(10_000, `${this.child.spawnfile} to exit`, this.exited);
  }
}

const run = promisify(execFile);

/** Why HAProxy cannot be used here, or undefined when `haproxy -v` answers. */
export async function haproxyUnavailable(): Promise<string | undefined> {
  try {
    await run('haproxy', ['-v']);
    return undefined;
  } catch (error) {
    const reason = `haproxy is not installed (${(error as Error).message.split('\n')[0]}); .ci/run installs Debian's package`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`, { cause: error });
    process.stderr.write(`\n*** SKIPPING the cluster e2e test: ${reason}. apt-get install haproxy to run it. ***\n\n`);
    return reason;
  }
}

export interface Backend {
  readonly name: string;
  readonly port: number;
}

export interface HaproxyOptions {
  readonly dir: string;
  readonly backends: readonly Backend[];
  /** Health-check interval, e.g. '250ms'. */
  readonly inter: string;
  readonly fall: number;
}

/** What the stats page says of one server of the `roster` backend: UP, DOWN, MAINT, or a transition (e.g. 'UP 1/2'). */
export type ServerStatus = string;

export class Haproxy {
  private constructor(
    private readonly process: Child,
    readonly url: string,
    private readonly statsUrl: string,
    readonly config: string,
  ) {}

  /** Writes the configuration from the template, checks it with `haproxy -c`, starts it in the foreground. */
  static async start(options: HaproxyOptions): Promise<Haproxy> {
    const [frontendPort, statsPort] = [await freePort(), await freePort()];
    const values: Record<string, string> = {
      BIND: '127.0.0.1',
      STATS_BIND: '127.0.0.1',
      FRONTEND_PORT: String(frontendPort),
      STATS_PORT: String(statsPort),
      INTER: options.inter,
      FALL: String(options.fall),
      SERVERS: options.backends.map((b) => `    server ${b.name} 127.0.0.1:${b.port}`).join('\n'),
    };
    const config = renderHaproxyConfig(await readFile(HAPROXY_TEMPLATE, 'utf8'), values);
    const path = join(options.dir, 'haproxy.cfg');
    await writeFile(path, config);
    await run('haproxy', ['-c', '-q', '-f', path]).catch((error: Error & { stderr?: string }) => {
      throw new Error(`haproxy refused its configuration: ${error.stderr ?? error.message}\n${config}`, { cause: error });
    });
    const child = new Child('haproxy', ['-db', '-f', path]);
    const haproxy = new Haproxy(child, `http://127.0.0.1:${frontendPort}`, `http://127.0.0.1:${statsPort}/stats;csv`, config);
    await pollFor(
      'haproxy to answer its stats page',
      async () => {
        if (!child.running) throw new Error(`haproxy exited: ${child.output}`);
        return (await haproxy.statuses().catch(() => undefined)) !== undefined;
      },
      { ms: 30_000, everyMs: 50 },
    );
    return haproxy;
  }

  /** The health-check status of every server of the `roster` backend, by name. */
  async statuses(): Promise<Map<string, ServerStatus>> {
    const res = await fetch(this.statsUrl);
    if (!res.ok) throw new Error(`haproxy stats: ${res.status}`);
    const [header, ...rows] = (await res.text()).trim().split('\n');
    const columns = header!.replace(/^# /, '').split(',');
    const [px, sv, status] = ['pxname', 'svname', 'status'].map((c) => columns.indexOf(c));
    const out = new Map<string, ServerStatus>();
    for (const row of rows) {
      const cells = row.split(',');
      if (cells[px!] === 'roster' && cells[sv!] !== 'BACKEND' && cells[sv!] !== 'FRONTEND') out.set(cells[sv!]!, cells[status!]!);
    }
    return out;
  }

  /** Waits until the named server's health checks have put it in `status` ('UP' or 'DOWN'). */
  async waitFor(name: string, status: 'UP' | 'DOWN', ms = 60_000): Promise<void> {
    await pollFor(`haproxy to see ${name} ${status}`, async () => (await this.statuses()).get(name) === status, { ms, everyMs: 25 });
  }

  get output(): string {
    return this.process.output;
  }

  stop(): Promise<void> {
    return this.process.kill('SIGKILL');
  }
}

/** A redis-server of the test's own on a spare loopback port, without persistence. */
export class RedisServer {
  private constructor(
    private readonly process: Child,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts on `port` (a restart on the same address), or on a free one. */
  static async start(port?: number): Promise<RedisServer> {
    port ??= await freePort();
    const child = new Child('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
    const server = new RedisServer(child, port);
    await pollFor(
      `redis-server on port ${port} to answer PING`,
      async () => {
        if (!child.running) throw new Error(`redis-server exited: ${child.output}`);
        return server.ping();
      },
      { ms: 30_000, everyMs: 50 },
    );
    return server;
  }

  /** True when the server answers PING. */
  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      let reply = '';
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(2000, () => done(false));
      socket.on('error', () => done(false));
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (chunk) => {
        reply += chunk.toString('latin1');
        if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
      });
    });
  }

  /** kill -9: Redis going away without a goodbye. */
  kill(): Promise<void> {
    return this.process.kill('SIGKILL');
  }
}
