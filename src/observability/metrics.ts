import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { CellCounter, CellHistogram } from './cell-metrics.js';

export type { Registry } from 'prom-client';

/**
 * Latency buckets in seconds for a service whose fast paths take a fraction of a millisecond
 * and whose slow paths (a deadline, a slow dependency) take seconds.
 */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * How a capability adds its metrics (the one way): it exports a function that takes the
 * Registry and returns its instruments, each created with `registers: [registry]` and a name
 * prefixed `roster_<capability>_`; the composition root calls it and hands the instruments to
 * the code that moves them. Label values come from closed sets (route templates, outcomes,
 * states), never from request data, so the series count stays bounded. Example:
 *
 *   export function webhookMetrics(registry: Registry) {
 *     return { attempts: new Counter({ name: 'roster_webhook_attempts_total', help: '…', labelNames: ['outcome'], registers: [registry] }) };
 *   }
 *
 * Tests pass a fresh Registry so parallel apps never share series.
 */
export function createMetricsRegistry(build: { version: string; commit: string }): Registry {
  const registry = new Registry();
  // Process CPU/memory/fds, heap spaces, GC durations by kind, event-loop lag percentiles,
  // active handles: prom-client's standard `process_*` and `nodejs_*` series.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  // prom-client also exposes these sums as gauges named *_total, which Prometheus naming (and
  // `promtool check metrics`) reserves for counters; the per-type series beside them remain.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  new Gauge({
    name: 'roster_build_info',
    help: 'Always 1; the labels say which build is running.',
    labelNames: ['version', 'commit', 'node_version'],
    registers: [registry],
  }).set({ version: build.version, commit: build.commit, node_version: process.version }, 1);
  let last = performance.eventLoopUtilization();
  new Gauge({
    name: 'nodejs_eventloop_utilization_ratio',
    help: 'Share of time the event loop was busy since the previous scrape (0–1).',
    registers: [registry],
    collect() {
      const now = performance.eventLoopUtilization();
      this.set(performance.eventLoopUtilization(now, last).utilization);
      last = now;
    },
  });
  return registry;
}

/** RED metrics of the HTTP API, labelled by route template, never by raw URL. */
export function httpMetrics(registry: Registry) {
  return {
    // Moved on every request: cells (observability/cell-metrics.ts), not prom-client's labelled calls.
    requests: new CellCounter(
      'roster_http_requests_total',
      'HTTP requests answered, by method, route template and status class (2xx, 4xx…).',
      ['method', 'route', 'status_class'],
      registry,
    ),
    duration: new CellHistogram(
      'roster_http_request_duration_seconds',
      'Time from request received to response sent, by method and route template.',
      ['method', 'route'],
      LATENCY_BUCKETS,
      registry,
    ),
    shed: new Counter({
      name: 'roster_http_shed_total',
      help: 'Requests refused with 503 because the instance was overloaded, by the signal that tripped.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    rateLimitFailOpen: new Counter({
      name: 'roster_rate_limit_fail_open_total',
      help: 'Requests served without a rate-limit check because the shared counters (Redis) failed.',
      registers: [registry],
    }),
    deadlineExceeded: new Counter({
      name: 'roster_http_deadline_exceeded_total',
      help: 'Requests answered 504 because they passed their deadline, by route template.',
      labelNames: ['route'],
      registers: [registry],
    }),
  };
}
export type HttpMetrics = ReturnType<typeof httpMetrics>;
