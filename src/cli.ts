#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, configHelp, loadConfig, type Config } from './config.js';
import { openDatabase } from './db/database.js';
import { MigrationError, migrateDown, migrateToLatest, migrationStatus } from './db/migrator.js';
import { createLogger } from './observability/logger.js';
import { packageVersion } from './version.js';

const USAGE = `Usage: roster <command> [options]

Commands:
  serve                 run the HTTP API (migrates the database first unless ROSTER_MIGRATE_ON_START=false)
  migrate up            apply every pending migration
  migrate down          revert the last applied migration
  migrate status        list migrations and when each was applied

Options:
  -h, --help            show help for a command
  -v, --version         print the version

Configuration (environment variables):
${configHelp()}
`;

/** A command-line mistake: printed as one line with the usage hint, exit 2. */
class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.version) return print(`${packageVersion()}\n`);
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') return print(USAGE);
  switch (command) {
    case 'serve':
      if (rest.length > 0) throw new UsageError(`serve takes no arguments, got "${rest.join(' ')}"`);
      return serve(loadConfig());
    case 'migrate':
      return migrate(rest, loadConfig());
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function serve(config: Config): Promise<number> {
  const logger = createLogger(config.logLevel);
  // Loaded here so `--help`, `migrate` and config errors do not pay for the whole HTTP stack.
  const { startServer } = await import('./main.js');
  const server = await startServer(config, logger);
  const finish = (reason: string, failed = false) => {
    void server.shutdown.run(reason).then((outcome) => process.exit(outcome === 'clean' && !failed ? 0 : 1));
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (server.shutdown.started) {
        logger.error({ signal }, 'second signal: exiting now without finishing the drain');
        process.exit(130);
      }
      finish(signal);
    });
  }
  // A rejection nobody handled is a bug: drain what is in flight, then exit non-zero.
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection: shutting down');
    finish('unhandledRejection', true);
  });
  // After an uncaught exception the process state is unknown: log it and stop at once.
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception: exiting');
    process.exit(1);
  });
  return new Promise<number>(() => undefined); // runs until a signal ends the process
}

async function migrate(args: string[], config: Config): Promise<number> {
  const [direction = 'up', ...extra] = args;
  if (extra.length > 0 || !['up', 'down', 'status'].includes(direction)) {
    throw new UsageError('migrate takes one of: up, down, status');
  }
  const database = openDatabase(config.databaseUrl, { poolSize: 1, sqliteBusyTimeoutMs: config.sqliteBusyTimeoutMs });
  try {
    if (direction === 'status') {
      for (const m of await migrationStatus(database.db, database.dialect.name)) {
        print(`${m.name}\t${m.executedAt ? `applied ${m.executedAt.toISOString()}` : 'pending'}\n`);
      }
      return 0;
    }
    const run = direction === 'up' ? migrateToLatest : migrateDown;
    const { results = [] } = await run(database.db, database.dialect.name);
    if (results.length === 0) print(direction === 'up' ? 'already up to date\n' : 'nothing to revert\n');
    for (const r of results) print(`${r.migrationName}\t${r.direction === 'Up' ? 'applied' : 'reverted'}\n`);
    return 0;
  } finally {
    await database.close();
  }
}

function print(text: string): number {
  process.stdout.write(text);
  return 0;
}

function fail(message: string, code: number): void {
  process.stderr.write(`roster: ${message}\n`);
  process.exitCode = code;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) return fail(`configuration error: ${error.message}`, 2);
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      return fail(`${(error as Error).message} (see roster --help)`, 2);
    }
    if (error instanceof MigrationError) return fail(`${error.message}: ${String((error.cause as Error | undefined)?.message)}`, 1);
    const cause = (error as Error).cause as Error | undefined;
    fail(`${(error as Error).message ?? String(error)}${cause ? ` (cause: ${cause.message})` : ''}`, 1);
  },
);
