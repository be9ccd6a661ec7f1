import type { UnknownVariable } from '../config.js';

/** A command-line mistake: printed as one line with the usage hint, exit 2. */
export class UsageError extends Error {}

/** A mistake in a command's options or files, found by the command itself (exit 2). */
export class CommandUsageError extends Error {
  override readonly name = 'CommandUsageError';
}

/**
 * sysexits' EX_TEMPFAIL: try again later. Every command exits with it when the database is
 * unavailable (src/db/outage.ts), and `import` when another process is running the job.
 */
export const EXIT_TEMPFAIL = 75;

/** The reader of stdout went away (`| head`): EPIPE from the write, or the stream already torn down by it. */
export function isClosedPipe(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}

/** Writes a command's output to stdout; returns the exit code 0 for `return print(…)`. */
export function print(text: string): number {
  process.stdout.write(text);
  return 0;
}

/** `ROSTER_DATABSE_URL is not a Roster variable and is ignored (did you mean ROSTER_DATABASE_URL?)`. */
export function describeUnknown(variable: UnknownVariable): string {
  const hint = variable.suggestion === undefined ? '' : ` (did you mean ${variable.suggestion}?)`;
  return `${variable.name} is not a Roster variable and is ignored${hint}`;
}
