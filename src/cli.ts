#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, configHelp, loadConfig, type Config } from './config.js';
import type { Database } from './db/database.js';
import { MigrationError, migrateDown, migrateToLatest, migrationStatus, openKeyConflicts } from './db/migrator.js';
import { createLogger } from './observability/logger.js';
import { packageVersion } from './version.js';
import { ApiKeyNotFoundError } from './auth/errors.js';
import { ValidationError } from './kit/errors.js';
import { CommandUsageError, EXIT_TEMPFAIL } from './imports/cli-commands.js';
import { describeOutage } from './db/outage.js';

const USAGE = `Usage: roster <command> [options]

Commands:
  serve                 run the HTTP API (migrates the database first unless ROSTER_MIGRATE_ON_START=false)
  migrate up            apply every pending migration
  migrate down          revert the last applied migration
  migrate status        list migrations and when each was applied
  keys create --name N --scope S [--scope S...] [--expires-in 30d]
                        create an API key; the key is printed once, alone on the last line
  keys list             list API keys (never their secrets)
  keys revoke ID        revoke an API key
  import FILE|- [--format csv|ndjson] [--mode create|upsert] [--dry-run] [--events per-user|summary]
         [--map col=field]... [--ignore-unknown] [--resume JOB] [--errors FILE]
                        import users; prints the job as JSON; exit 0 done, 1 failed, 75 job run by another process, 130 cancelled
  export [--format csv|ndjson] [--since ISO] [--out FILE]
                        write a consistent snapshot of the users (stdout by default)

Options:
  -h, --help            show help for a command
  -v, --version         print the version

Exit status: 0 done, 1 failed, 2 usage or configuration error,
  75 temporary failure: the database is unavailable (or, for import, the job is run elsewhere); retry later

Configuration (environment variables):
${configHelp()}
`;

/** A command-line mistake: printed as one line with the usage hint, exit 2. */
class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      name: { type: 'string' },
      scope: { type: 'string', multiple: true },
      'expires-in': { type: 'string' },
      format: { type: 'string' },
      mode: { type: 'string' },
      'dry-run': { type: 'boolean' },
      events: { type: 'string' },
      map: { type: 'string', multiple: true },
      'ignore-unknown': { type: 'boolean' },
      resume: { type: 'string' },
      errors: { type: 'string' },
      since: { type: 'string' },
      out: { type: 'string' },
    },
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
    case 'keys':
      return keys(rest, values, loadConfig());
    case 'import': {
      if (rest.length !== 1) throw new UsageError('import takes one FILE (or - for stdin)');
      const { importCommand } = await import('./imports/cli-commands.js');
      return importCommand(rest[0]!, values, loadConfig());
    }
    case 'export': {
      if (rest.length > 0) throw new UsageError('export takes options only');
      const { exportCommand } = await import('./imports/cli-commands.js');
      return exportCommand(values, loadConfig());
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function serve(config: Config): Promise<number> {
  // Tracing starts before the app's modules are loaded, so every tracer they take is the SDK's.
  const { startTracing } = await import('./observability/tracing.js');
  const tracing = startTracing(config.observability.tracing, packageVersion());
  const logger = createLogger(config.observability.logLevel);
  // Loaded here so `--help`, `migrate` and config errors do not pay for the whole HTTP stack.
  const { startServer } = await import('./main.js');
  const server = await startServer(config, logger, { tracing });
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
  // Loaded here, like the server, so `--help` and config errors do not pay for every capability.
  const { openConfiguredDatabase } = await import('./compose.js');
  const database = openConfiguredDatabase(config, createLogger('silent'), { command: { poolSize: 1 } });
  try {
    if (direction === 'status') {
      for (const m of await migrationStatus(database.db, database.dialect.name)) {
        print(`${m.name}\t${m.executedAt ? `applied ${m.executedAt.toISOString()}` : 'pending'}\n`);
      }
      await printKeyConflicts(database);
      return 0;
    }
    const run = direction === 'up' ? migrateToLatest : migrateDown;
    const { results = [] } = await run(database.db, database.dialect.name);
    if (results.length === 0) print(direction === 'up' ? 'already up to date\n' : 'nothing to revert\n');
    for (const r of results) print(`${r.migrationName}\t${r.direction === 'Up' ? 'applied' : 'reverted'}\n`);
    if (direction === 'up') await printKeyConflicts(database);
    return 0;
  } finally {
    await database.close();
  }
}

/** Users whose email folds onto another user's (migration 0008), until an operator resolves them. */
async function printKeyConflicts(database: Database): Promise<void> {
  const conflicts = await openKeyConflicts(database.db, database.dialect.name);
  if (conflicts.length === 0) return;
  print(
    `\n${conflicts.length} user(s) kept their old email key: their email now matches another user's under the fold ` +
      `(table user_key_conflicts). Change one email of each pair, or merge the users:\n`,
  );
  for (const c of conflicts) print(`user ${c.userId} <${c.email}>\tfolds to ${c.foldedKey}, held by user ${c.holderId}\n`);
}

async function keys(args: string[], options: { name?: string; scope?: string[]; 'expires-in'?: string }, config: Config): Promise<number> {
  const [action, ...extra] = args;
  if (!['create', 'list', 'revoke'].includes(action ?? '') || extra.length > (action === 'revoke' ? 1 : 0)) {
    throw new UsageError('keys takes one of: create --name N --scope S, list, revoke ID');
  }
  const { buildServices } = await import('./compose.js');
  const services = await buildServices(config, createLogger('silent'), { command: { poolSize: 1 } });
  try {
    const service = services.apiKeys;
    if (action === 'list') {
      const rows = (await service.list()).map((k) => [
        k.id,
        k.name,
        k.scopes.join(','),
        k.createdAt.toISOString(),
        k.expiresAt?.toISOString() ?? '-',
        k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active',
        k.lastUsedAt?.toISOString() ?? 'never',
      ]);
      print(['id\tname\tscopes\tcreated\texpires\tstatus\tlast used', ...rows.map((r) => r.join('\t'))].join('\n') + '\n');
      return 0;
    }
    if (action === 'revoke') {
      const id = extra[0];
      if (id === undefined) throw new UsageError('keys revoke needs the key id (see roster keys list)');
      const record = await service.revoke(id);
      print(`revoked ${record.id} (${record.name})\n`);
      return 0;
    }
    if (options.name === undefined || options.scope === undefined)
      throw new UsageError('keys create needs --name and at least one --scope');
    const expiresInSeconds = options['expires-in'] === undefined ? undefined : parseDuration(options['expires-in']);
    const { record, plaintext } = await service.create({ name: options.name, scopes: options.scope, expiresInSeconds });
    print(
      `created API key ${record.id} "${record.name}" with scopes ${record.scopes.join(', ')}` +
        `${record.expiresAt ? `, expiring ${record.expiresAt.toISOString()}` : ''}.\n` +
        'The key is shown only this once; store it now:\n' +
        `${plaintext}\n`,
    );
    return 0;
  } finally {
    await services.close();
  }
}

/** `90s`, `15m`, `12h`, `30d` → seconds. */
function parseDuration(text: string): number {
  const match = /^([1-9][0-9]{0,5})([smhd])$/.exec(text);
  if (!match) throw new UsageError(`--expires-in "${text}" must look like 90s, 15m, 12h or 30d`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
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
    if (
      error instanceof UsageError ||
      error instanceof CommandUsageError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      return fail(`${(error as Error).message} (see roster --help)`, 2);
    }
    if (error instanceof ValidationError) {
      return fail(`invalid input: ${error.errors.map((e) => `${e.pointer.replace(/^\//, '')} ${e.message}`).join('; ')}`, 2);
    }
    if (error instanceof ApiKeyNotFoundError) return fail(error.message, 1);
    // Before MigrationError: a migration that could not reach the database is an outage too.
    const outage = describeOutage(error);
    if (outage !== undefined) return fail(`the database is unavailable (${outage}); retry later`, EXIT_TEMPFAIL);
    if (error instanceof MigrationError) return fail(`${error.message}: ${String((error.cause as Error | undefined)?.message)}`, 1);
    const cause = (error as Error).cause as Error | undefined;
    fail(`${(error as Error).message ?? String(error)}${cause ? ` (cause: ${cause.message})` : ''}`, 1);
  },
);
