#!/usr/bin/env node
// First, so that a command's V8 heap policy (`roster import`, `roster serve`) is set before any
// other module is loaded.
import './cli/heap-policy.js';
import { parseArgs } from 'node:util';
import { CONFIG_KEYS, ConfigError, loadConfig, unknownVariables, type Config } from './config.js';
import { MigrationError } from './db/migrator.js';
import { CommandUsageError, describeUnknown, EXIT_TEMPFAIL, isClosedPipe, print, UsageError } from './cli/output.js';
import { COMMANDS, isCommand, usage, type CommandName } from './cli/commands.js';
import { packageVersion } from './version.js';
import { ApiKeyNotFoundError } from './auth/errors.js';
import { ValidationError } from './kit/errors.js';
import { describeOutage } from './db/outage.js';
import { DatabaseNotFoundError, describeDatabaseUrl } from './db/database.js';

/** The command being run, once known: usage errors point at its help. */
let current: CommandName | undefined;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command.startsWith('-')) {
    const { values } = parseArgs({
      args: argv,
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
    });
    return print(values.version && !values.help ? `${packageVersion()}\n` : usage());
  }
  if (command === 'help') {
    const [topic] = rest;
    return print(topic !== undefined && isCommand(topic) ? COMMANDS[topic].help : usage());
  }
  if (!isCommand(command)) throw new UsageError(`unknown command "${command}"`);
  current = command;
  const spec = COMMANDS[command];
  const { values, positionals } = parseArgs({
    args: rest,
    options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return print(spec.help);
  if (command === 'serve' && positionals.length > 0) throw new UsageError(`serve takes no arguments, got "${positionals.join(' ')}"`);
  const config = loadConfig();
  const unknown = unknownVariables();
  if (command === 'serve') {
    return (await import('./cli/serve.js')).serve(config, { unknownVariables: unknown });
  }
  for (const variable of unknown) process.stderr.write(`roster: warning: ${describeUnknown(variable)}\n`);
  if (!spec.createsDatabase) nameTheDatabase(config);
  return run(command, positionals, values, config);
}

async function run(command: Exclude<CommandName, 'serve'>, positionals: string[], values: Record<string, unknown>, config: Config) {
  switch (command) {
    case 'migrate':
      return (await import('./cli/migrate.js')).migrate(positionals, config);
    case 'keys':
      return (await import('./cli/keys.js')).keys(positionals, values, config);
    case 'import': {
      if (positionals.length !== 1) throw new UsageError('import takes one FILE (or - for stdin)');
      if (values.groups === true) return (await import('./cli/groups.js')).importGroupsCommand(positionals[0]!, config);
      return (await import('./cli/import-export.js')).importCommand(positionals[0]!, values, config);
    }
    case 'export': {
      if (positionals.length > 0) throw new UsageError('export takes options only');
      if (values.groups === true) {
        if (values.format !== undefined || values.since !== undefined) throw new UsageError('export --groups takes --out only (NDJSON)');
        return (await import('./cli/groups.js')).exportGroupsCommand(values.out as string | undefined, config);
      }
      return (await import('./cli/import-export.js')).exportCommand(values, config);
    }
  }
}

/** One line on stderr naming the database a command works on: a wrong directory or a wrong variable shows at once. */
function nameTheDatabase(config: Config): void {
  const byDefault = config.database.url === CONFIG_KEYS.find((spec) => spec.env === 'ROSTER_DATABASE_URL')?.default;
  process.stderr.write(
    `roster: database ${describeDatabaseUrl(config.database.url)}${byDefault ? ' (default ROSTER_DATABASE_URL)' : ''}\n`,
  );
}

function fail(message: string, code: number): void {
  process.stderr.write(`roster: ${message}\n`);
  process.exitCode = code;
}

// A reader that went away (`roster keys list | head -1`) ends the output, not the command with a stack trace.
process.stdout.on('error', (error) => {
  if (!isClosedPipe(error)) throw error;
});

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
      return fail(`${(error as Error).message} (see roster ${current === undefined ? '' : `${current} `}--help)`, 2);
    }
    if (error instanceof DatabaseNotFoundError) {
      return fail(
        `no database at ${error.file} (${current ?? 'this command'} never creates one): run it where the server runs ` +
          '(a relative ROSTER_DATABASE_URL is resolved from the working directory), set ROSTER_DATABASE_URL, ' +
          'or create the database with `roster migrate up`',
        2,
      );
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
