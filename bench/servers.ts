/**
 * One benchmark server per child process, started by bench/http.ts with `fork`, so a server never
 * shares its event loop with the load generator. Usage (IPC channel required):
 *
 *   node dist/bench/servers.js bare <fixed JSON body>
 *   node dist/bench/servers.js fastify-sqlite <sqlite file>
 *   node dist/bench/servers.js fastify-postgres <postgres url>
 *   node dist/bench/servers.js scale-sqlite <sqlite file>        (bench/scale-baseline.ts)
 *   node dist/bench/servers.js scale-postgres <postgres url>
 *   node dist/bench/servers.js roster <sqlite file or postgres url>
 *   node dist/bench/servers.js roster-no-auth <sqlite file or postgres url>
 *
 * Every server listens on 127.0.0.1 on a free port, settles, and reports `{type: 'ready', url,
 * idleRssBytes}`. It answers
 * the commands in bench/ipc.ts, exits when told to stop, and exits when the parent goes away.
 */
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { Session } from 'node:inspector/promises';
import type { Principal } from '../src/auth/model.js';
import type { Baseline } from './baselines.js';
import type { Command, Reply, ServerKind } from './ipc.js';

const HOST = '127.0.0.1';

interface Started {
  readonly url: string;
  readonly authorization?: string;
  close(): Promise<void>;
}

function send(reply: Reply): void {
  if (process.connected) process.send!(reply);
}

/** Baseline A: node:http, a fixed body, nothing else. */
async function startBare(body: string): Promise<Started> {
  const payload = Buffer.from(body);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length });
    res.end(payload);
  });
  const url = await listen(server);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://${HOST}:${port}`);
    });
  });
}

/** Baseline B on either database (bench/baselines.ts), or the scale bench's (bench/scale-baseline.ts). */
async function startBaseline(
  kind: 'fastify-sqlite' | 'fastify-postgres' | 'scale-sqlite' | 'scale-postgres',
  target: string,
): Promise<Started> {
  const { fastifySqlite, fastifyPostgres } = await import('./baselines.js');
  const { scaleSqlite, scalePostgres } = await import('./scale-baseline.js');
  // The same pool size Roster runs with (its default unless ROSTER_DB_POOL_SIZE passes through).
  const poolSize = async () => {
    const { loadConfig } = await import('../src/config.js');
    return loadConfig({ ROSTER_DB_POOL_SIZE: process.env.ROSTER_DB_POOL_SIZE }).database.poolSize;
  };
  let baseline: Baseline;
  if (kind === 'fastify-sqlite') baseline = await fastifySqlite(target);
  else if (kind === 'scale-sqlite') baseline = await scaleSqlite(target);
  else if (kind === 'scale-postgres') baseline = await scalePostgres(target, await poolSize());
  else baseline = await fastifyPostgres(target, await poolSize());
  const url = await baseline.app.listen({ host: HOST, port: 0 });
  return { url, close: () => baseline.close() };
}

/**
 * Roster exactly as `roster serve` runs it: V8's heap policy for serving, config from an env-shaped object, the production
 * logger at info writing JSON lines to stdout (which the parent points at a file), and the
 * composition root in src/main.ts.
 */
async function startRoster(database: string, settings: Record<string, string> = {}): Promise<Started> {
  // V8's policy for `roster serve` (cli/heap-policy.ts), before the app's modules are loaded.
  const { applyHeapPolicy } = await import('../src/cli/heap-policy.js');
  applyHeapPolicy('serve');
  const { loadConfig } = await import('../src/config.js');
  // ROSTER_* and OTEL_* settings from the benchmark's environment pass through; where and how
  // loudly it serves is the benchmark's choice.
  const passed = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => (name.startsWith('ROSTER_') && !name.startsWith('ROSTER_DATABASE_URL')) || name.startsWith('OTEL_'),
    ),
  );
  // Rate limiting stays on (its cost is part of the figure) with budgets a load generator cannot
  // spend; ROSTER_RATE_LIMIT_* in the environment override them.
  const limits = { ROSTER_RATE_LIMIT_PER_MINUTE: '1000000', ROSTER_RATE_LIMIT_ANON_PER_MINUTE: '1000000' };
  const config = loadConfig({
    ...limits,
    ...passed,
    ...settings,
    ROSTER_DATABASE_URL: database,
    HOST,
    PORT: '0',
    ROSTER_ADMIN_PORT: '0',
    LOG_LEVEL: 'info',
  });
  // As cli.ts does: tracing first (on only if OTEL_EXPORTER_OTLP_ENDPOINT is set), then the
  // app's modules; metrics are always on.
  const { startTracing } = await import('../src/observability/tracing.js');
  const { packageVersion } = await import('../src/version.js');
  const tracing = await startTracing(config.observability.tracing, packageVersion());
  const { startServer } = await import('../src/main.js');
  const { createServiceLogger } = await import('../src/observability/logger.js');
  // The logger `roster serve` builds (cli/serve.ts): stdout is a file here, so JSON lines gathered
  // into batched writes. pino's default destination (a write(2) per line) is not what runs.
  const logger = createServiceLogger(config.observability);
  const bootstrap = captureBootstrapKey();
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, logger, { tracing });
  } finally {
    bootstrap.restore();
  }
  const key = bootstrap.key();
  return {
    url: server.url,
    ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
    async close() {
      const outcome = await server.shutdown.run('benchmark finished');
      if (outcome !== 'clean') throw new Error(`Roster shutdown ended ${outcome}`);
    },
  };
}

/**
 * Roster as above, except that authentication costs nothing: every request is the same admin
 * principal, without parsing the header, hashing the secret or looking in the key cache. It
 * gives the "without authentication" figure that GET by id with an API key is compared with.
 * Access cannot be switched off per route and startServer builds its own Authenticator, so this
 * process (and only this one) replaces the method on the class before startServer makes one:
 * everything else (the hooks, rate limiting and the log line, both keyed by the actor) runs as
 * in the measured server. It makes no bootstrap key; the real Roster on the same file does.
 */
async function startRosterWithoutAuth(database: string): Promise<Started> {
  const { Authenticator } = await import('../src/auth/authenticator.js');
  const admin: Principal = { actor: 'key:benchmark', kind: 'api_key', scopes: new Set(['admin']) };
  Authenticator.prototype.authenticate = () => Promise.resolve(admin);
  return startRoster(database, { ROSTER_BOOTSTRAP_KEY: 'off' });
}

/**
 * On a new database Roster prints a bootstrap admin API key to stderr, alone on its line, for
 * the operator (and scripts) to take. The benchmark takes it the same way so it can call an API
 * that requires credentials, and keeps it off the console. Nothing is captured when Roster
 * announces no key (authentication not wired, or the database already has keys).
 */
function captureBootstrapKey(): { key(): string | undefined; restore(): void } {
  const stderr = process.stderr;
  const own = Object.getOwnPropertyDescriptor(stderr, 'write');
  const write = stderr.write.bind(stderr) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  let key: string | undefined;
  stderr.write = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const found = /^(rk_\S+)$/m.exec(text);
    if (!found) return write(chunk, ...rest);
    key = found[1];
    return write(text.replace(found[0], '(key taken by the benchmark)'), ...rest);
  };
  return {
    key: () => key,
    restore: () => {
      if (own) Object.defineProperty(stderr, 'write', own);
      else delete (stderr as { write?: unknown }).write;
    },
  };
}

/** CPU profiling of this process through the inspector, started and stopped by the parent. */
class Profiler {
  #session: Session | undefined;

  async start(intervalUs: number): Promise<void> {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await session.post('Profiler.start');
    this.#session = session;
  }

  async stop(file: string): Promise<void> {
    const session = this.#session;
    if (!session) throw new Error('the profiler was not started');
    const { profile } = await session.post('Profiler.stop');
    this.#session = undefined;
    session.disconnect();
    await writeFile(file, JSON.stringify(profile));
  }
}

/**
 * RSS once start-up garbage is gone: 1 s idle (timers and lazy initialisation run), then a full
 * GC when the parent exposed it (--expose-gc), so servers are compared by what they keep.
 */
async function settledRss(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return process.memoryUsage.rss();
}

async function main(): Promise<void> {
  const [kind, arg] = process.argv.slice(2) as [ServerKind | undefined, string | undefined];
  if (!process.send) throw new Error('bench/servers.js must be started by bench/http.js (it needs an IPC channel)');
  if (arg === undefined) throw new Error('usage: servers.js bare|fastify-sqlite|fastify-postgres|roster|roster-no-auth <arg>');
  // The parent died or closed the channel: nothing will ever stop this server, so stop now.
  process.on('disconnect', () => process.exit(2));

  const started =
    kind === 'bare'
      ? await startBare(arg)
      : kind === 'fastify-sqlite' || kind === 'fastify-postgres' || kind === 'scale-sqlite' || kind === 'scale-postgres'
        ? await startBaseline(kind, arg)
        : kind === 'roster'
          ? await startRoster(arg)
          : kind === 'roster-no-auth'
            ? await startRosterWithoutAuth(arg)
            : undefined;
  if (!started) throw new Error(`unknown server kind ${String(kind)}`);

  const profiler = new Profiler();
  process.on('message', (command: Command) => {
    void handle(command).catch((error: unknown) =>
      send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
    );
  });
  async function handle(command: Command): Promise<void> {
    switch (command.type) {
      case 'usage': {
        const cpu = process.cpuUsage();
        send({ type: 'usage', cpuMicros: cpu.user + cpu.system, rssBytes: process.memoryUsage.rss() });
        return;
      }
      case 'profile-start':
        await profiler.start(command.intervalUs);
        send({ type: 'profile-started' });
        return;
      case 'profile-stop':
        await profiler.stop(command.file);
        send({ type: 'profile-stopped', file: command.file });
        return;
      case 'stop':
        await started!.close();
        process.exit(0);
    }
  }
  const idleRssBytes = await settledRss();
  send({
    type: 'ready',
    url: started.url,
    ...(started.authorization === undefined ? {} : { authorization: started.authorization }),
    idleRssBytes,
    nodeVersion: process.version,
  });
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  send({ type: 'failed', message });
  process.stderr.write(`bench server failed: ${message}\n`);
  process.exit(1);
});
