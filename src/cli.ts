#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, configHelp, loadConfig } from './config.js';
import { MigrationError } from './db/migrator.js';
import { print, UsageError } from './cli/output.js';
import { packageVersion } from './version.js';
import { ApiKeyNotFoundError } from './auth/errors.js';
import { ValidationError } from './kit/errors.js';
import { CommandUsageError, EXIT_TEMPFAIL } from './cli/import-export.js';
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
      return (await import('./cli/serve.js')).serve(loadConfig());
    case 'migrate':
      return (await import('./cli/migrate.js')).migrate(rest, loadConfig());
    case 'keys':
      return (await import('./cli/keys.js')).keys(rest, values, loadConfig());
    case 'import': {
      if (rest.length !== 1) throw new UsageError('import takes one FILE (or - for stdin)');
      const { importCommand } = await import('./cli/import-export.js');
      return importCommand(rest[0]!, values, loadConfig());
    }
    case 'export': {
      if (rest.length > 0) throw new UsageError('export takes options only');
      const { exportCommand } = await import('./cli/import-export.js');
      return exportCommand(values, loadConfig());
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
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
