import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { extname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buildImportCommand, openCommandDatabase } from '../compose/import-command.js';
import type { Config } from '../config.js';
import { exportUsers, type ExportTally } from '../imports/export/export.js';
import type { ExportFormat } from '../imports/export/export-format.js';
import { EVENTS_MODES, IMPORT_MODES, jobDocument, type EventsMode, type ImportJob, type ImportMode } from '../imports/jobs/job.js';
import { IMPORT_FORMATS, parseColumnMap, type ImportFormat } from '../imports/read/parse.js';
import { startProgress } from './progress.js';
import { ImportCounters, RowErrorReport } from '../imports/jobs/report.js';
import { ImportLeaseHeldError, LeaseLostError } from '../imports/errors.js';
import type { ImportService } from '../imports/service.js';
import { CommandUsageError, EXIT_TEMPFAIL, isClosedPipe } from './output.js';

export interface ImportArgs {
  readonly format?: string | undefined;
  readonly mode?: string | undefined;
  readonly 'dry-run'?: boolean | undefined;
  readonly events?: string | undefined;
  readonly map?: string[] | undefined;
  readonly 'ignore-unknown'?: boolean | undefined;
  readonly resume?: string | undefined;
  readonly errors?: string | undefined;
}

export const EXIT_CANCELLED = 130;
/** Another process is running the job (EX_TEMPFAIL: try again once it is done). */
export const EXIT_LEASED = EXIT_TEMPFAIL;

/**
 * `roster import FILE|-`: runs an import job in this process with a progress display on
 * stderr, and prints the job as one JSON line on stdout. Exit 0 when it succeeded (row errors
 * allowed, counted), 1 when it failed, 130 when Ctrl-C cancelled it (the resume command is printed),
 * 75 when another process is running the job (the server's runner, another `--resume`): its
 * lease refused this run, or took the job over from it mid-run (nothing of the open batch committed).
 */
export async function importCommand(file: string, args: ImportArgs, config: Config): Promise<number> {
  const services = await buildImportCommand(config, (line) => process.stderr.write(`${line}\n`));
  const service = services.imports;
  const cancel = new AbortController();
  const onSignal = () => {
    if (cancel.signal.aborted) process.exit(EXIT_CANCELLED);
    process.stderr.write('\ncancelling: the batch in progress is rolled back…\n');
    cancel.abort(new Error('cancelled by signal'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const job = args.resume === undefined ? await service.create(specFrom(file, args)) : await resumable(service, args.resume);
    if (job.status === 'succeeded') {
      process.stdout.write(`${JSON.stringify(jobDocument(job))}\n`);
      return 0;
    }
    const counters = new ImportCounters();
    const progress = startProgress({
      read: () => ({ rows: counters.read, errors: counters.failed, bytes: counters.bytes }),
      out: process.stderr,
      totalBytes: job.totalBytes,
    });
    const report =
      args.errors === undefined
        ? undefined
        : new RowErrorReport(createWriteStream(args.errors, { flags: args.resume === undefined ? 'w' : 'a' }), 'csv');
    const source = file === '-' ? process.stdin : createReadStream(file);
    const result = await whileDisplayed({ progress, report }, async () => {
      try {
        return await service.run(job, source, {
          signal: cancel.signal,
          counters,
          onCommitted: (errors) => report?.add(errors.map((e) => ({ kind: 'rejected', line: e.line, errors: [e] }))),
        });
      } catch (error) {
        if (error instanceof ImportLeaseHeldError || error instanceof LeaseLostError) return error;
        throw error;
      }
    });
    if (result instanceof Error) {
      process.stderr.write(`roster: ${result.message}\n`);
      process.stderr.write(
        `this command imported nothing more; the job stays with that process: retry once it has stopped (or its lease expired)\n`,
      );
      return EXIT_LEASED;
    }
    const { job: done, error } = result;
    process.stdout.write(`${JSON.stringify(jobDocument(done))}\n`);
    const c = done.counts;
    const summary = `import ${done.id}: ${done.status}; read ${c.read}, created ${c.created}, updated ${c.updated}, skipped ${c.skipped}, failed ${c.failed}`;
    process.stderr.write(`${summary}\n`);
    if (done.status === 'cancelled') {
      process.stderr.write(`stopped after line ${done.committedLine}; resume with: roster import ${file} --resume ${done.id}\n`);
      return EXIT_CANCELLED;
    }
    if (done.status === 'failed') {
      process.stderr.write(`roster: import failed: ${done.error ?? String(error)}\n`);
      if (done.committedLine > 0) process.stderr.write(`resume with: roster import ${file} --resume ${done.id}\n`);
      return 1;
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await services.close();
  }
}

/**
 * Runs `work` with the progress display and the error report open, then stops the display and
 * closes the report however it ended: the report is flushed, and the terminal is left clean,
 * even when the work throws. After a throw, a report that fails to close does not hide the error.
 */
export async function whileDisplayed<T>(
  display: { readonly progress: { stop(): void }; readonly report?: { close(): Promise<void> } | undefined },
  work: () => Promise<T>,
): Promise<T> {
  let threw = false;
  try {
    return await work();
  } catch (error) {
    threw = true;
    throw error;
  } finally {
    display.progress.stop();
    await display.report?.close().catch((error: unknown) => {
      if (!threw) throw error;
    });
  }
}

/**
 * `roster export [--format] [--since] [--out FILE]`: the directory as CSV or NDJSON, to stdout or
 * to a file (then a summary on stderr). A reader that stops early (`roster export | head`)
 * closes the pipe: the export stops there, quietly, with exit 0, as other Unix tools do.
 */
export async function exportCommand(
  args: { format?: string | undefined; since?: string | undefined; out?: string | undefined },
  config: Config,
): Promise<number> {
  const format = oneOf<ExportFormat>('--format', args.format ?? 'csv', ['csv', 'ndjson']);
  const since = args.since === undefined ? undefined : new Date(args.since);
  if (since !== undefined && Number.isNaN(since.getTime())) throw new CommandUsageError(`--since "${args.since}" is not an ISO 8601 time`);
  const database = await openCommandDatabase(config);
  try {
    const started = performance.now();
    const tally: ExportTally = { users: 0 };
    const text = Readable.from(exportUsers(database, { format, since, tally }));
    if (args.out === undefined) {
      try {
        await pipeline(text, process.stdout);
      } catch (error) {
        if (!isClosedPipe(error)) throw error;
      }
      return 0;
    }
    const file = createWriteStream(args.out);
    await pipeline(text, file);
    process.stderr.write(
      `${exportSummary({ users: tally.users, bytes: file.bytesWritten, seconds: (performance.now() - started) / 1000, file: args.out })}\n`,
    );
    return 0;
  } finally {
    await database.close();
  }
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `exported 12,345 users (1.2 MB) to users.csv in 0.8 s`. */
export function exportSummary(done: { users: number; bytes: number; seconds: number; file: string }): string {
  return (
    `exported ${integer.format(done.users)} ${done.users === 1 ? 'user' : 'users'} (${formatBytes(done.bytes)}) ` +
    `to ${done.file} in ${done.seconds < 10 ? done.seconds.toFixed(1) : Math.round(done.seconds)} s`
  );
}

/** Decimal units, as `ls -h --si` and file managers show sizes: `532 B`, `1.2 kB`, `45.0 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function specFrom(file: string, args: ImportArgs) {
  const format = oneOf<ImportFormat>('--format', args.format ?? guessFormat(file), IMPORT_FORMATS);
  const mode = oneOf<ImportMode>('--mode', args.mode ?? 'create', IMPORT_MODES);
  const events = oneOf<EventsMode>('--events', args.events ?? 'per-user', EVENTS_MODES);
  const map = parseColumnMap(args.map ?? []);
  let totalBytes: number | undefined;
  if (file !== '-') {
    try {
      totalBytes = statSync(file).size;
    } catch (cause) {
      throw new CommandUsageError(`cannot read ${file}: ${(cause as Error).message}`);
    }
  }
  return {
    format,
    mode,
    events,
    dryRun: args['dry-run'] ?? false,
    options: { map, ignoreUnknown: args['ignore-unknown'] ?? false },
    source: file,
    totalBytes,
    actor: 'system:cli',
  };
}

async function resumable(service: ImportService, id: string): Promise<ImportJob> {
  const job = await service.get(id);
  if (job === undefined) throw new CommandUsageError(`no import job ${id}`);
  return job;
}

function guessFormat(file: string): ImportFormat {
  return ['.ndjson', '.jsonl'].includes(extname(file).toLowerCase()) ? 'ndjson' : 'csv';
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new CommandUsageError(`${flag} must be one of ${allowed.join(', ')}`);
  return value as T;
}
