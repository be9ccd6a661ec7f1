/**
 * The log as a person reads it on a terminal: one line per entry, `07:41:13.123 INFO  listening
 * url=http://127.0.0.1:8080`, errors with their stack below. pino writes its JSON line here and
 * this rewrites it, so the fields are exactly those of the JSON log (which stays the format for
 * files, pipes and log shippers). A few dozen lines instead of pino-pretty and its dependencies;
 * its cost only matters on a terminal, where a person reads every line anyway.
 */

const LEVEL_COLOURS: Record<string, string> = {
  fatal: '\u001b[41m\u001b[97m',
  error: '\u001b[31m',
  warn: '\u001b[33m',
  info: '\u001b[32m',
  debug: '\u001b[36m',
  trace: '\u001b[90m',
};
const RESET = '\u001b[0m';
const DIM = '\u001b[2m';

/** Shown in the line's head, or not at all (`service` is the same on every line). */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'service']);

export interface PrettyOptions {
  /** ANSI colours for the level and the time. */
  readonly colour: boolean;
}

/** One JSON log line → one readable line (plus a stack, indented, for an `err`); other text is returned as is. */
export function formatLogLine(json: string, options: PrettyOptions): string {
  let entry: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(json);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return json.endsWith('\n') ? json : `${json}\n`;
    entry = parsed as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const level = typeof entry.level === 'string' ? entry.level : 'info';
  const time = typeof entry.time === 'string' ? (/T(\d\d:\d\d:\d\d(\.\d+)?)/.exec(entry.time)?.[1] ?? entry.time) : '';
  const label = level.toUpperCase().padEnd(5);
  const head = options.colour ? `${DIM}${time}${RESET} ${LEVEL_COLOURS[level] ?? ''}${label}${RESET}` : `${time} ${label}`;
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [key, value] of Object.entries(entry)) {
    if (HEAD_FIELDS.has(key) || value === undefined) continue;
    if (key === 'err' && typeof value === 'object' && value !== null) {
      const err = value as { message?: unknown; stack?: unknown };
      fields.push(`err=${renderValue(typeof err.message === 'string' ? err.message : '')}`);
      if (typeof err.stack === 'string') stack = err.stack;
      continue;
    }
    fields.push(`${key}=${renderValue(value)}`);
  }
  const message = typeof entry.msg === 'string' ? entry.msg : '';
  const line = [head, message, ...fields].filter((part) => part !== '').join(' ');
  const below = stack === undefined ? '' : `${stack.replace(/^/gm, '    ')}\n`;
  return `${line}\n${below}`;
}

/** Bare when it reads unambiguously (`8080`, `sqlite:/data/roster.db`), JSON otherwise. */
function renderValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s="'\\]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value);
}

/** A pino destination that writes each line to `out` in the readable form. */
export function prettyDestination(out: { write(text: string): unknown }, options: PrettyOptions): { write(line: string): void } {
  return {
    write(line: string) {
      out.write(formatLogLine(line.endsWith('\n') ? line.slice(0, -1) : line, options));
    },
  };
}
