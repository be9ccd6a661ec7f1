// The status screen's figures from a real prom-client registry: sums over label sets, the
// histogram's mean and bucket-bound quantiles, absent series as zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { httpMetrics } from '../../src/observability/metrics.js';
import { importMetrics } from '../../src/imports/metrics.js';
import { webhookMetrics } from '../../src/webhooks/metrics.js';
import { summarizeMetrics } from '../../src/observability/metrics-summary.js';

test('an empty registry reads as zeros and no latency', async () => {
  const summary = await summarizeMetrics(new Registry());
  assert.deepEqual(summary, {
    requests: { total: 0, clientErrors: 0, serverErrors: 0 },
    latency: { count: 0, meanMs: null, p50Ms: null, p99Ms: null },
    endpointsDue: 0,
    deliveries: {},
    importsRunning: 0,
  });
});

test('requests, latency, deliveries and running imports are summed over their labels', async () => {
  const registry = new Registry();
  const http = httpMetrics(registry);
  const imports = importMetrics(registry);
  const webhooks = webhookMetrics(registry);
  http.requests.inc({ method: 'GET', route: '/v1/users', status_class: '2xx' }, 90);
  http.requests.inc({ method: 'POST', route: '/v1/users', status_class: '4xx' }, 9);
  http.requests.inc({ method: 'GET', route: '/v1/users/:id', status_class: '5xx' }, 1);
  for (let i = 0; i < 98; i++) http.duration.observe({ method: 'GET', route: '/v1/users' }, 0.0008);
  http.duration.observe({ method: 'POST', route: '/v1/users' }, 0.2);
  http.duration.observe({ method: 'POST', route: '/v1/users' }, 30);
  for (let i = 0; i < 5; i++) webhooks.attempts.inc('success');
  for (let i = 0; i < 2; i++) webhooks.attempts.inc('retryable');
  imports.jobsRunning.inc();
  imports.jobsRunning.inc();
  const summary = await summarizeMetrics(registry);
  assert.deepEqual(summary.requests, { total: 100, clientErrors: 9, serverErrors: 1 });
  assert.equal(summary.latency.count, 100);
  assert.ok(Math.abs(summary.latency.meanMs! - (98 * 0.8 + 200 + 30_000) / 100) < 1e-6);
  assert.equal(summary.latency.p50Ms, 1, 'the median is in the 1 ms bucket');
  assert.equal(summary.latency.p99Ms, 250, 'the 99th is in the 250 ms bucket');
  assert.deepEqual(summary.deliveries, { success: 5, retryable: 2 });
  assert.equal(summary.importsRunning, 2);
  assert.equal(summary.endpointsDue, 0, 'no dispatcher: nothing due');
});

test('a quantile past the last bucket is Infinity, not a number it is not', async () => {
  const registry = new Registry();
  const http = httpMetrics(registry);
  http.duration.observe({ method: 'GET', route: '/' }, 60);
  const summary = await summarizeMetrics(registry);
  assert.equal(summary.latency.p99Ms, Infinity);
});
