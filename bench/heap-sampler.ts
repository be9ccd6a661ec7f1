/**
 * Samples a process's memory while it runs, for finding where a peak comes from: loaded before
 * the program with `node --import ./dist/bench/heap-sampler.js dist/src/cli.js import …`. Every
 * HEAP_SAMPLE_MS (default 100) it reads RSS, the V8 heap's spaces (size and used) and external
 * memory; at exit it writes to stderr the sample with the highest RSS, the highest of each
 * figure, and, with HEAP_SAMPLES_FILE set, every sample as JSON lines there.
 */
import { appendFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

const INTERVAL_MS = Number(process.env.HEAP_SAMPLE_MS ?? 100);
const FILE = process.env.HEAP_SAMPLES_FILE;
const MB = 1024 * 1024;

type Sample = Record<string, number>;

function sample(): Sample {
  const memory = process.memoryUsage();
  const s: Sample = {
    t: Math.round(performance.now()),
    rss: memory.rss / MB,
    heapTotal: memory.heapTotal / MB,
    heapUsed: memory.heapUsed / MB,
    external: memory.external / MB,
    arrayBuffers: memory.arrayBuffers / MB,
  };
  for (const space of getHeapSpaceStatistics()) {
    s[`${space.space_name}.size`] = space.space_size / MB;
    s[`${space.space_name}.used`] = space.space_used_size / MB;
  }
  return s;
}

let top: Sample | undefined;
const maxima: Sample = {};
const timer = setInterval(() => {
  const s = sample();
  if (FILE !== undefined) appendFileSync(FILE, `${JSON.stringify(s)}\n`);
  if (top === undefined || s.rss! > top.rss!) top = s;
  for (const [key, value] of Object.entries(s)) maxima[key] = Math.max(maxima[key] ?? 0, value);
}, INTERVAL_MS);
timer.unref();

const round = (s: Sample | undefined) =>
  Object.fromEntries(Object.entries(s ?? {}).map(([key, value]) => [key, Math.round(value * 10) / 10]));
process.on('exit', () => {
  process.stderr.write(`heap-sampler: at the highest RSS ${JSON.stringify(round(top))}\n`);
  process.stderr.write(`heap-sampler: maxima ${JSON.stringify(round(maxima))}\n`);
});
