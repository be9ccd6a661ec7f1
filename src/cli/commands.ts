import type { ParseArgsConfig } from 'node:util';
import { SCOPES } from '../auth/model.js';
import { configHelp } from '../config.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** One `roster <command>`: its help, the options it accepts, and whether it may create a database. */
export interface CommandSpec {
  /** The command and its arguments in `roster --help`'s list. */
  readonly synopsis: string;
  /** What it does, beside the synopsis. */
  readonly summary: string;
  /** `roster <command> --help`. */
  readonly help: string;
  readonly options: Options;
  /**
   * `serve` and `migrate` create a new database (an empty SQLite file, the schema); every other
   * command refuses to run on a database that does not exist, and names the one it uses.
   */
  readonly createsDatabase: boolean;
}

const EXIT_CODES = `Exit status: 0 done, 1 failed, 2 usage or configuration error (a missing database included),
  75 temporary failure: the database is unavailable; retry later`;

const DATABASE_NOTE = `Database: ROSTER_DATABASE_URL (default ./data/roster.db, relative to the working directory);
  the one used is named on stderr. A database that does not exist is refused (exit 2), never
  created: create it with \`roster migrate up\` or \`roster serve\`.`;

export const COMMANDS = {
  serve: {
    synopsis: 'serve',
    summary: 'run the HTTP API (migrates the database first unless ROSTER_MIGRATE_ON_START=false)',
    help: `Usage: roster serve

Runs the HTTP API until SIGTERM or SIGINT (a graceful drain; a second signal exits at once).
Creates the database if it does not exist and applies pending migrations first
(ROSTER_MIGRATE_ON_START). On a database that has never had an API key it creates an admin key
and prints it once on stderr (ROSTER_BOOTSTRAP_KEY).

Logs go to stdout: readable lines on a terminal, JSON lines otherwise (LOG_FORMAT).

${EXIT_CODES}

Configuration (environment variables):
${configHelp()}
`,
    options: {},
    createsDatabase: true,
  },
  migrate: {
    synopsis: 'migrate up|down|status',
    summary: 'apply pending migrations, revert the last one, or list them',
    help: `Usage: roster migrate [up | down | status]

  up       apply every pending migration (the default; creates a new SQLite file if needed)
  down     revert the last applied migration
  status   list migrations and when each was applied
\`up\` and \`status\` also list users whose email key conflicts with another's (migration 0008).

Database: ROSTER_DATABASE_URL (default ./data/roster.db).

${EXIT_CODES}
`,
    options: {},
    createsDatabase: true,
  },
  keys: {
    synopsis: 'keys create|list|revoke',
    summary: 'manage API keys (lost the admin key? roster keys create --name admin --scope admin)',
    help: `Usage: roster keys create --name NAME --scope SCOPE [--scope SCOPE]... [--expires-in 30d]
       roster keys list
       roster keys revoke ID

  create   create an API key; the key is printed once, alone on the last line of stdout
           --name NAME        what the key is for (shown by list)
           --scope SCOPE      one of ${SCOPES.join(', ')};
                              repeat it for several (admin implies every scope)
           --expires-in D     a lifetime such as 90s, 15m, 12h or 30d (default: none)
  list     list API keys: id, name, scopes, created, expires, status, last used (never secrets)
  revoke   revoke the key with this id (see list); it fails everywhere within ROSTER_AUTH_CACHE_TTL_MS

Lost the admin key? On a host that reaches the database: roster keys create --name admin --scope admin

${DATABASE_NOTE}

${EXIT_CODES}
`,
    options: {
      name: { type: 'string' },
      scope: { type: 'string', multiple: true },
      'expires-in': { type: 'string' },
    },
    createsDatabase: false,
  },
  import: {
    synopsis: 'import FILE|-',
    summary: 'import users from CSV or NDJSON; prints the job as JSON',
    help: `Usage: roster import FILE|- [options]

Imports users from FILE (or stdin) in this process, with progress on stderr, and prints the
job as one JSON line on stdout. Ctrl-C rolls back the batch in progress and prints how to resume.

  --format csv|ndjson           default: from the extension (.ndjson, .jsonl), else csv
  --mode create|upsert          create (default): an existing email is a row error; upsert updates it
  --dry-run                     check every row, write nothing
  --events per-user|summary     one event per user written (default), or one per run
  --map COLUMN=FIELD            read a column under another name (repeatable), e.g. --map mail=email
  --ignore-unknown              skip columns that are not user fields instead of failing
  --resume JOB                  continue a cancelled or failed job after its last committed line
  --errors FILE                 write the row errors (line, field, reason) as CSV
  --groups                      FILE is a groups file (export --groups): each line's group created
                                or replaced by id with its whole member list (the users first);
                                failed lines on stderr, the tally on stdout; no other option applies

${DATABASE_NOTE}

Exit status: 0 done (row errors allowed, counted), 1 failed, 2 usage or configuration error,
  75 another process runs the job or the database is unavailable, 130 cancelled
`,
    options: {
      format: { type: 'string' },
      mode: { type: 'string' },
      'dry-run': { type: 'boolean' },
      events: { type: 'string' },
      map: { type: 'string', multiple: true },
      'ignore-unknown': { type: 'boolean' },
      resume: { type: 'string' },
      errors: { type: 'string' },
      groups: { type: 'boolean' },
    },
    createsDatabase: false,
  },
  export: {
    synopsis: 'export',
    summary: 'write a consistent snapshot of the users as CSV or NDJSON (stdout or --out FILE)',
    help: `Usage: roster export [--format csv|ndjson] [--since ISO] [--out FILE]
       roster export --groups [--out FILE]

Writes every user (id, email, name, given_name, family_name, external_id, active, attributes, profile) from one consistent snapshot.
every group as NDJSON, one per line with its member ids (each group consistent on its own).

  --format csv|ndjson   default csv
  --since ISO           only users changed at or after this time, e.g. 2026-01-31T00:00:00Z
  --out FILE            write to FILE and print a summary (users, bytes, time) on stderr;
                        default: stdout (a reader that stops early, like head, ends it quietly)

${DATABASE_NOTE}

${EXIT_CODES}
`,
    options: {
      format: { type: 'string' },
      since: { type: 'string' },
      out: { type: 'string' },
      groups: { type: 'boolean' },
    },
    createsDatabase: false,
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** `roster --help`. */
export function usage(): string {
  const specs: readonly CommandSpec[] = Object.values(COMMANDS);
  const width = Math.max(...specs.map((spec) => spec.synopsis.length));
  const commands = specs.map((spec) => `  ${spec.synopsis.padEnd(width)}  ${spec.summary}`);
  return `Usage: roster <command> [options]
       roster <command> --help      the command's own options

Commands:
${commands.join('\n')}

Options:
  -h, --help            show this help, or a command's help
  -v, --version         print the version

${EXIT_CODES}; 130 cancelled

Configuration (environment variables; a ROSTER_* name Roster does not know is warned about):
${configHelp()}
`;
}
