import type { UnknownVariable } from '../config.js';

/** A command-line mistake: printed as one line with the usage hint, exit 2. */
export class UsageError extends Error {}

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
