import { PROVISIONING_DEFAULTS } from '../../../src/users/model.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { abortable, batchRows, type Batch } from '../../../src/imports/read/batch.js';
import { rejected, type CheckedItem, type ValidRow } from '../../../src/imports/read/rows.js';
import type { Attributes, Email, UserName } from '../../../src/users/model.js';
import { collect } from '../stages.js';

const valid = (line: number, bytes = 10): ValidRow => ({
  kind: 'valid',
  line,
  bytes,
  user: { email: `u${line}@example.com` as Email, name: 'N' as UserName, ...PROVISIONING_DEFAULTS, attributes: {} as Attributes },
  maybeDuplicate: false,
});

async function* of(...chunks: CheckedItem[][]) {
  for (const chunk of chunks) yield chunk;
}

const lines = (batch: Batch) => [...batch.rows, ...batch.rejected].map((i) => i.line).sort((a, b) => a - b);

describe('batchRows', () => {
  test('cuts by count across incoming chunks, keeping order and line ranges', async () => {
    const batches = await collect(
      batchRows({ maxRows: 3 })(of([valid(2), valid(3)], [rejected(4, [{ reason: 'bad' }]), valid(5), valid(7)], [valid(8)])),
    );
    assert.deepEqual(
      batches.map((b) => [b.firstLine, b.lastLine, lines(b)]),
      [
        [2, 4, [2, 3, 4]],
        [5, 8, [5, 7, 8]],
      ],
    );
    assert.equal(batches[0]!.rejected.length, 1);
  });

  test('cuts by bytes; a row larger than the limit makes a batch of its own', async () => {
    const batches = await collect(
      batchRows({ maxRows: 100, maxBytes: 100 })(of([valid(1, 60), valid(2, 30), valid(3, 20), valid(4, 500), valid(5, 1)])),
    );
    assert.deepEqual(batches.map(lines), [[1, 2], [3], [4], [5]]);
  });

  test('property: batches partition the input in order within both bounds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 20 }), { maxLength: 10 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 600 }),
        async (sizes, maxRows, maxBytes) => {
          let line = 0;
          const chunks = sizes.map((chunk) => chunk.map((bytes) => valid(++line, bytes)));
          const batches = await collect(batchRows({ maxRows, maxBytes })(of(...chunks)));
          assert.deepEqual(
            batches.flatMap((b) => b.rows.map((r) => r.line)),
            Array.from({ length: line }, (_, i) => i + 1),
          );
          for (const batch of batches) {
            assert.ok(batch.rows.length >= 1 && batch.rows.length <= maxRows);
            const total = batch.rows.reduce((sum, r) => sum + r.bytes, 0);
            assert.ok(batch.rows.length === 1 || total <= maxBytes, `${total} bytes in ${batch.rows.length} rows`);
            assert.equal(batch.firstLine, batch.rows[0]!.line);
            assert.equal(batch.lastLine, batch.rows.at(-1)!.line);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('stops at once when aborted while the upstream is stalled, and drops the partial batch', async () => {
    const controller = new AbortController();
    async function* stalled() {
      yield [valid(1), valid(2)];
      await new Promise(() => {}); // a client that stopped sending
    }
    const started = performance.now();
    setTimeout(() => controller.abort(new Error('cancelled')), 50);
    const seen: Batch[] = [];
    await assert.rejects(async () => {
      for await (const batch of batchRows({ maxRows: 10 })(stalled(), { signal: controller.signal })) seen.push(batch);
    }, /cancelled/);
    assert.ok(performance.now() - started < 1000, 'a cancel must not wait for the next row');
    assert.deepEqual(seen, [], 'the two rows read before the abort never form a batch');
  });

  test('yields nothing more once aborted between batches', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const batch of batchRows({ maxRows: 2 })(of([valid(1), valid(2), valid(3), valid(4), valid(5)]), {
        signal: controller.signal,
      })) {
        seen.push(batch.firstLine);
        controller.abort(new Error('cancelled'));
      }
    }, /cancelled/);
    assert.deepEqual(seen, [1]);
  });

  test('refuses limits below one', () => {
    assert.throws(() => batchRows({ maxRows: 0 }), RangeError);
    assert.throws(() => batchRows({ maxBytes: 0 }), RangeError);
  });
});

describe('abortable', () => {
  test('passes everything through without a signal, and finishes the upstream when stopped early', async () => {
    let finished = false;
    async function* numbers() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        finished = true;
      }
    }
    for await (const n of abortable(numbers(), new AbortController().signal)) if (n === 3) break;
    assert.equal(finished, true);
    assert.deepEqual(await collect(abortable(of([valid(1)], [valid(2)]), undefined)), [[valid(1)], [valid(2)]]);
  });

  test('throws at once if the signal is already aborted', async () => {
    await assert.rejects(collect(abortable(of([valid(1)]), AbortSignal.abort(new Error('gone')))), /gone/);
  });
});
