/** A command-line mistake: printed as one line with the usage hint, exit 2. */
export class UsageError extends Error {}

/** Writes a command's output to stdout; returns the exit code 0 for `return print(…)`. */
export function print(text: string): number {
  process.stdout.write(text);
  return 0;
}
