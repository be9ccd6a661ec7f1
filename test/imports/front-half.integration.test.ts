/**
 * The front half of the import on real files: 1M generated rows through source → parse →
 * validate → dedupe → batch into a sink that drops the batches, with peak RSS growth bounded
 * (a behavioural check: memory must not grow with the file), and hostile files end to end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { batchRows, type Batch } from '../../src/imports/batch.js';
import { ImportFileError } from '../../src/imports/errors.js';
import { importBatches } from '../../src/imports/front-half.js';
import { parseRows, type ImportFormat } from '../../src/imports/parse.js';
import { ImportCounters } from '../../src/imports/report.js';
import { readSource } from '../../src/imports/source.js';
import { validateRows } from '../../src/imports/validate.js';
import { generatedFile } from './generated-users.js';

const ROWS = 1_000_000;
/*
 * Measured here: RSS grows 60–80 MB over the run (the dedupe tier's 8.5 MB Map and 16 MiB
 * filter, batches in flight, garbage between collections), the same at 100k and 1M rows once
 * the filter's pages are touched. Buffering the file or its rows would be 300+ MB.
 */
const RSS_GROWTH_BOUND_MB = 120;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(os.tmpdir(), 'roster-import-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  readonly batches: number;
  readonly rows: number;
  readonly rejected: number;
  readonly peakGrowthMb: number;
  readonly seconds: number;
}

async function frontHalf(file: string, format: ImportFormat, signal?: AbortSignal): Promise<Run> {
  const counters = new ImportCounters();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
  let batches = 0;
  let rows = 0;
  let rejected = 0;
  const started = performance.now();
  try {
    await pipeline(
      createReadStream(file),
      importBatches({ format, counters }),
      async (source: AsyncIterable<Batch>) => {
        for await (const batch of source) {
          batches++;
          rows += batch.rows.length;
          rejected += batch.rejected.length;
          peak = Math.max(peak, process.memoryUsage().rss);
        }
      },
      signal === undefined ? {} : { signal },
    );
  } finally {
    clearInterval(sample);
  }
  assert.equal(counters.read, rows + rejected);
  assert.equal(counters.failed, rejected);
  return { batches, rows, rejected, peakGrowthMb: (peak - baseline) / 2 ** 20, seconds: (performance.now() - started) / 1000 };
}

describe('front half over 1M generated rows', () => {
  for (const format of ['csv', 'ndjson'] as const) {
    test(`${format}: every row comes out in bounded batches, and RSS stays flat`, async (t) => {
      const file = join(dir, `users.${format}`);
      await pipeline(generatedFile(ROWS, format), createWriteStream(file));
      const run = await frontHalf(file, format);
      t.diagnostic(
        `${format}: ${Math.round(ROWS / run.seconds).toLocaleString('en-US')} rows/s, peak RSS growth ${run.peakGrowthMb.toFixed(0)} MB`,
      );
      assert.equal(run.rows, ROWS);
      assert.equal(run.rejected, 0);
      assert.equal(run.batches, ROWS / 1000);
      assert.ok(run.peakGrowthMb < RSS_GROWTH_BOUND_MB, `RSS grew ${run.peakGrowthMb.toFixed(0)} MB`);
    });
  }
});

describe('hostile files end to end', () => {
  test('a 10 MB single line is refused after reading about 1 MiB of it, without growing memory', async () => {
    const file = join(dir, 'long-line.csv');
    await writeFile(file, `email,name\nann@example.com,Ann\n${'x'.repeat(10 * 2 ** 20)}\nbob@example.com,Bob\n`);
    const counters = new ImportCounters();
    const baseline = process.memoryUsage().rss;
    await assert.rejects(
      pipeline(
        createReadStream(file),
        readSource({ counters }),
        parseRows('csv'),
        validateRows(),
        async (source: AsyncIterable<unknown>) => {
          for await (const _ of source);
        },
      ),
      (error: unknown) => error instanceof ImportFileError && error.problem === 'too-long' && error.line === 3,
    );
    assert.ok(counters.bytes < 2 * 2 ** 20, `read ${counters.bytes} bytes`);
    assert.ok(process.memoryUsage().rss - baseline < 40 * 2 ** 20);
  });

  test('a UTF-16 file is one clear error and no row', async () => {
    const file = join(dir, 'utf16.csv');
    await writeFile(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('email,name\nann@example.com,Ann\n', 'utf16le')]));
    let rows = 0;
    await assert.rejects(
      pipeline(createReadStream(file), readSource(), parseRows('csv'), async (source: AsyncIterable<unknown[]>) => {
        for await (const items of source) rows += items.length;
      }),
      (error: unknown) => error instanceof ImportFileError && error.problem === 'encoding',
    );
    assert.equal(rows, 0);
  });

  test('duplicates differing in case, ragged rows, NULs and formula cells: row errors, the rest goes through', async () => {
    const file = join(dir, 'mixed.csv');
    await writeFile(
      file,
      'email,name\r\nAnn@Example.com,Ann\r\nann@example.COM,Ann again\r\nshort\r\nbob@example.com,B\u0000b\r\n=cmd@example.com,"=HYPERLINK(""x"")"\r\n',
    );
    const batches: Batch[] = [];
    await pipeline(createReadStream(file), importBatches({ format: 'csv' }), async (source: AsyncIterable<Batch>) => {
      for await (const batch of source) batches.push(batch);
    });
    const [batch] = batches;
    assert.deepEqual(
      batch!.rows.map((r) => [r.line, r.user.email, r.user.name]),
      [
        [2, 'Ann@Example.com', 'Ann'],
        [6, '=cmd@example.com', '=HYPERLINK("x")'],
      ],
    );
    assert.deepEqual(
      batch!.rejected.map((r) => [r.line, r.errors[0]!.field ?? null]),
      [
        [3, 'email'],
        [4, null],
        [5, 'name'],
      ],
    );
  });

  test('an abort stops the pipeline mid-file', async () => {
    const file = join(dir, 'abort.ndjson');
    await pipeline(generatedFile(200_000, 'ndjson'), createWriteStream(file));
    const controller = new AbortController();
    let seen = 0;
    const started = performance.now();
    await assert.rejects(
      pipeline(
        createReadStream(file),
        readSource(),
        parseRows('ndjson'),
        validateRows(),
        batchRows(),
        async (source: AsyncIterable<Batch>) => {
          for await (const _ of source) if (++seen === 5) controller.abort(new Error('cancelled'));
        },
        { signal: controller.signal },
      ),
      (error: unknown) => error instanceof Error && (error.name === 'AbortError' || /cancelled/.test(error.message)),
    );
    assert.equal(seen, 5);
    assert.ok(performance.now() - started < 5000);
  });
});
