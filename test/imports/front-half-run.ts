/**
 * Runs the whole front half over one file in a process of its own, started with --expose-gc
 * by front-half.integration.test.ts, and prints what it measured as one JSON line:
 * `node front-half-run.js FILE FORMAT`. A fresh process gives the measurement a clean
 * baseline; the forced collections every 100 batches measure what is really retained, which,
 * unlike RSS, does not depend on when V8 chooses to collect.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Batch } from '../../src/imports/read/batch.js';
import { importBatches } from '../../src/imports/read/front-half.js';
import { ImportCounters } from '../../src/imports/jobs/report.js';

export interface FrontHalfRun {
  readonly rows: number;
  readonly rejected: number;
  readonly batches: number;
  readonly read: number;
  readonly failed: number;
  readonly seconds: number;
  /** Peak RSS over the run minus RSS before it. */
  readonly rssGrowthMb: number;
  /** Peak of heap + external memory right after a full collection, minus the same before. */
  readonly retainedGrowthMb: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
const retained = () => {
  gc!();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
};

const [, , file, format] = process.argv;
if (gc === undefined || file === undefined || (format !== 'csv' && format !== 'ndjson')) {
  throw new Error('usage: node --expose-gc front-half-run.js FILE csv|ndjson');
}
const counters = new ImportCounters();
const rssBefore = process.memoryUsage().rss;
const retainedBefore = retained();
let peakRss = rssBefore;
let peakRetained = retainedBefore;
const sample = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 25);
let rows = 0;
let rejected = 0;
let batches = 0;
const started = performance.now();
await pipeline(createReadStream(file), importBatches({ format, counters }), async (source: AsyncIterable<Batch>) => {
  for await (const batch of source) {
    rows += batch.rows.length;
    rejected += batch.rejected.length;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (++batches % 100 === 0) peakRetained = Math.max(peakRetained, retained());
  }
});
const seconds = (performance.now() - started) / 1000;
clearInterval(sample);
const mb = (bytes: number) => bytes / 2 ** 20;
const run: FrontHalfRun = {
  rows,
  rejected,
  batches,
  read: counters.read,
  failed: counters.failed,
  seconds,
  rssGrowthMb: mb(peakRss - rssBefore),
  retainedGrowthMb: mb(peakRetained - retainedBefore),
};
process.stdout.write(`${JSON.stringify(run)}\n`);
