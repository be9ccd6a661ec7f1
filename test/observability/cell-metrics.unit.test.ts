import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { CellCounter, CellHistogram } from '../../src/observability/cell-metrics.js';
import { LATENCY_BUCKETS } from '../../src/observability/metrics.js';

type Label = 'method' | 'route';
const LABELS: readonly Label[] = ['method', 'route'];

/** A label value as requests give them: route templates, methods, and values that need escaping. */
const labelValue = fc.oneof(
  fc.constantFrom('GET', 'POST', '/v1/users/:id', '/v1/users', 'unmatched'),
  fc.string({ maxLength: 6 }),
  fc.constantFrom('a"b', 'back\\slash', 'new\nline'),
);
const observation = fc.record({
  method: labelValue,
  route: labelValue,
  // Exactly on bounds, between them, above the last, zero and tiny values.
  value: fc.oneof(fc.constantFrom(...LATENCY_BUCKETS, 0, 10.5, 1e-9), fc.double({ min: 0, max: 20, noNaN: true })),
  by: fc.constantFrom(1, 2, 0.5),
});

async function both(observations: readonly { method: string; route: string; value: number; by: number }[]) {
  const theirs = new Registry();
  const ours = new Registry();
  const counter = new Counter({ name: 'c_total', help: 'count', labelNames: LABELS, registers: [theirs] });
  const histogram = new Histogram({ name: 'h_seconds', help: 'time', labelNames: LABELS, buckets: LATENCY_BUCKETS, registers: [theirs] });
  const cellCounter = new CellCounter<Label>('c_total', 'count', LABELS, ours);
  const cellHistogram = new CellHistogram<Label>('h_seconds', 'time', LABELS, LATENCY_BUCKETS, ours);
  for (const { method, route, value, by } of observations) {
    counter.inc({ method, route }, by);
    histogram.observe({ method, route }, value);
    cellCounter.inc({ method, route }, by);
    cellHistogram.observe({ method, route }, value);
  }
  return { theirs, ours, cellCounter, cellHistogram };
}

describe('cell metrics', () => {
  test('expose what prom-client’s Counter and Histogram expose for the same calls (text and JSON)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(observation, { maxLength: 40 }), async (observations) => {
        const { theirs, ours } = await both(observations);
        assert.equal(await ours.metrics(), await theirs.metrics());
        // As a consumer reads it (prom-client's samples carry some keys set to undefined).
        const json = async (registry: Registry) => JSON.parse(JSON.stringify(await registry.getMetricsAsJSON())) as unknown;
        assert.deepEqual(await json(ours), await json(theirs));
      }),
      { numRuns: 200 },
    );
  });

  test('a label set is one series, whatever object names it', async () => {
    const { ours, cellHistogram } = await both([]);
    const labels = { method: 'GET', route: '/v1/users' };
    cellHistogram.observe(labels, 0.002);
    labels.route = '/v1/users/:id';
    cellHistogram.observe({ route: '/v1/users', method: 'GET' }, 0.003);
    const counts = (await cellHistogram.get()).values.filter((v) => v.metricName === 'h_seconds_count');
    assert.deepEqual(counts, [{ value: 2, labels: { method: 'GET', route: '/v1/users' }, metricName: 'h_seconds_count' }]);
    assert.match(await ours.metrics(), /h_seconds_sum\{method="GET",route="\/v1\/users"\} 0\.005/);
  });

  test('refuse what prom-client refuses: a counter going down, a value that is not a finite number', async () => {
    const { cellCounter, cellHistogram } = await both([]);
    assert.throws(() => cellCounter.inc({ method: 'GET', route: '/' }, -1), TypeError);
    assert.throws(() => cellCounter.inc({ method: 'GET', route: '/' }, Number.NaN), TypeError);
    assert.throws(() => cellHistogram.observe({ method: 'GET', route: '/' }, Number.POSITIVE_INFINITY), TypeError);
    assert.equal((await cellCounter.get()).values.length, 0, 'nothing was counted');
  });

  test('reset() empties them, as the Registry’s resetMetrics() does', async () => {
    const { ours, cellCounter } = await both([{ method: 'GET', route: '/', value: 0.1, by: 1 }]);
    ours.resetMetrics();
    assert.equal((await cellCounter.get()).values.length, 0);
    cellCounter.inc({ method: 'GET', route: '/' });
    assert.equal((await cellCounter.get()).values[0]!.value, 1);
  });
});
