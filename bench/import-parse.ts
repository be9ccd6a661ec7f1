/**
 * Throughput of the import's front half, stage by stage, over a generated file (reported,
 * never asserted). Writes 1M rows (BENCH_IMPORT_ROWS) of CSV and of NDJSON to a temporary
 * directory, then, each in a fresh child process so peak RSS is its own, reads the file
 * through longer and longer prefixes of the pipeline:
 *
 *   read      fs stream → readSource (UTF-8 checks, line alignment)
 *   parse     … → parseCsv / parseNdjson
 *   validate  … → validateRows (the API's rules)
 *   dedupe    … → dedupeEmails
 *   batch     … → batchRows → a sink that drops the batches (the whole front half, as
 *             importBatches() composes it)
 *
 * Prints rows/s, wall time and peak RSS for each, median of BENCH_IMPORT_ROUNDS (3) runs, and
 * the worst peak RSS of those runs; `batch*` is the whole front half under
 * --max-semi-space-size=4 (see SMALL_YOUNG_GENERATION).
 * Usage: node dist/bench/import-parse.js
 */
import { fork } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { batchRows } from '../src/imports/read/batch.js';
import { dedupeEmails } from '../src/imports/read/dedupe.js';
import { parseRows, type ImportFormat } from '../src/imports/read/parse.js';
import { readSource } from '../src/imports/read/source.js';
import { validateRows } from '../src/imports/read/validate.js';
import { generatedFile } from '../test/imports/generated-users.js';

const STAGES = ['read', 'parse', 'validate', 'dedupe', 'batch'] as const;
type StageName = (typeof STAGES)[number];
/**
 * The whole front half again with V8's young generation capped at 4 MB semi-spaces. By
 * default peak RSS here is bimodal (~110 or ~155 MB, run to run: the young generation grows
 * to 16 MB semi-spaces and batched rows promoted to the old generation wait for a major GC);
 * capped, it stays ~90 MB at the same speed. The flag can only be given at process start.
 */
const SMALL_YOUNG_GENERATION = { stage: 'batch' as const, label: 'batch*', flags: ['--max-semi-space-size=4'] };

interface Measurement {
  readonly items: number;
  readonly seconds: number;
  readonly peakRssMb: number;
}

/**
 * Runs in the child: one prefix of the front half over one file. The stages are composed by
 * direct calls, as importBatches() does (one pipeline() stage for all): giving pipeline()
 * each stage separately wraps each in a Duplex and cost ~25% of the throughput here.
 */
async function measure(file: string, format: ImportFormat, stage: StageName): Promise<Measurement> {
  const depth = STAGES.indexOf(stage);
  const prefix = (input: AsyncIterable<Uint8Array>): AsyncIterable<unknown> => {
    const chunks = readSource()(input);
    if (depth === 0) return chunks;
    const parsed = parseRows(format)(chunks);
    if (depth === 1) return parsed;
    const valid = validateRows()(parsed);
    if (depth === 2) return valid;
    const unique = dedupeEmails()(valid);
    return depth === 3 ? unique : batchRows()(unique);
  };
  let items = 0;
  const started = performance.now();
  await pipeline(createReadStream(file, { highWaterMark: 64 * 1024 }), prefix, async (source: AsyncIterable<unknown>) => {
    for await (const item of source) items += count(item, stage);
  });
  const seconds = (performance.now() - started) / 1000;
  return { items, seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 };
}

/** Rows in what a stage yields: a chunk of bytes (counted as 1), an array of rows, or a batch. */
function count(item: unknown, stage: StageName): number {
  if (stage === 'read') return 1;
  if (stage === 'batch')
    return (item as { rows: unknown[]; rejected: unknown[] }).rows.length + (item as { rejected: unknown[] }).rejected.length;
  return (item as unknown[]).length;
}

async function main(): Promise<void> {
  const rows = Number(process.env['BENCH_IMPORT_ROWS'] ?? 1_000_000);
  const rounds = Number(process.env['BENCH_IMPORT_ROUNDS'] ?? 3);
  const dir = await mkdtemp(join(os.tmpdir(), 'roster-import-bench-'));
  try {
    console.log(`front half of the import, ${rows.toLocaleString('en-US')} generated rows, median of ${rounds}, Node ${process.version}`);
    console.log('format  stage     rows/s      wall s  peak RSS MB  (worst)');
    for (const format of ['csv', 'ndjson'] as const) {
      const file = join(dir, `users.${format}`);
      await pipeline(generatedFile(rows, format), createWriteStream(file));
      const { size } = await stat(file);
      console.log(`${format}: ${(size / 1e6).toFixed(1)} MB`);
      const scenarios = [...STAGES.map((stage) => ({ stage, label: stage, flags: [] as string[] })), SMALL_YOUNG_GENERATION];
      for (const { stage, label, flags } of scenarios) {
        const runs: Measurement[] = [];
        for (let round = 0; round < rounds; round++) runs.push(await inChild(file, format, stage, flags));
        runs.sort((a, b) => a.seconds - b.seconds);
        const median = runs[Math.floor(runs.length / 2)]!;
        const peak = Math.max(...runs.map((r) => r.peakRssMb));
        const perSecond = stage === 'read' ? rows / median.seconds : median.items / median.seconds;
        console.log(
          `${format.padEnd(7)} ${label.padEnd(9)} ${Math.round(perSecond).toLocaleString('en-US').padStart(9)}  ${median.seconds.toFixed(2).padStart(8)}  ${median.peakRssMb.toFixed(0).padStart(11)}  ${peak.toFixed(0).padStart(8)}`,
        );
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function inChild(file: string, format: ImportFormat, stage: StageName, flags: readonly string[]): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child', file, format, stage], {
      execArgv: [...process.execArgv, ...flags],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (message) => resolve(message as Measurement));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the ${format} ${stage} run exited with ${code}`));
    });
  });
}

const [, , mode, file, format, stage] = process.argv;
if (mode === '--child') {
  const result = await measure(file!, format as ImportFormat, stage as StageName);
  process.send!(result, () => process.exit(0));
} else {
  await main();
}
