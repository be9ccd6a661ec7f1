import type { Registry } from 'prom-client';
import type { MetricsSummary } from '../console/status.js';

/** The series the console's status screen reads (each capability's own instruments). */
const NAMES = {
  requests: 'roster_http_requests_total',
  duration: 'roster_http_request_duration_seconds',
  endpointsDue: 'roster_webhook_endpoints_due',
  attempts: 'roster_webhook_attempts_total',
  importsRunning: 'roster_import_jobs_running',
} as const;

/** One sample as prom-client's get() gives it (histograms name their _bucket, _sum and _count samples). */
interface Sample {
  readonly value: number;
  readonly labels: Readonly<Record<string, string | number | undefined>>;
  readonly metricName?: string;
}
type Values = readonly Sample[];

/**
 * Reads the main figures from the process's registry, as the /metrics scrape would (a gauge's
 * collect() runs: the endpoints-due count is one database query). A series the process does not
 * register (no dispatcher, say) reads as zero.
 */
export async function summarizeMetrics(registry: Registry): Promise<MetricsSummary> {
  const read = async (name: string): Promise<Values> => {
    const metric = registry.getSingleMetric(name);
    return metric === undefined ? [] : (await metric.get()).values;
  };
  const [requests, duration, due, attempts, running] = await Promise.all([
    read(NAMES.requests),
    read(NAMES.duration),
    read(NAMES.endpointsDue),
    read(NAMES.attempts),
    read(NAMES.importsRunning),
  ]);
  return summarize({ requests, duration, due, attempts, running });
}

/** The summary of the series' values (pure: the unit tests feed it values). */
export function summarize(series: { requests: Values; duration: Values; due: Values; attempts: Values; running: Values }): MetricsSummary {
  const byStatus = (statusClass: string) => sum(series.requests.filter((v) => v.labels.status_class === statusClass));
  const deliveries: Record<string, number> = {};
  for (const v of series.attempts) {
    const outcome = String(v.labels.outcome ?? 'unknown');
    deliveries[outcome] = (deliveries[outcome] ?? 0) + v.value;
  }
  return {
    requests: { total: sum(series.requests), clientErrors: byStatus('4xx'), serverErrors: byStatus('5xx') },
    latency: latency(series.duration),
    endpointsDue: sum(series.due),
    deliveries,
    importsRunning: sum(series.running),
  };
}

function sum(values: Values): number {
  return values.reduce((total, v) => total + v.value, 0);
}

/** Mean and bucket-bound quantiles of a histogram summed over all its label sets. */
function latency(values: Values): MetricsSummary['latency'] {
  const count = sum(values.filter((v) => v.metricName?.endsWith('_count')));
  if (count === 0) return { count: 0, meanMs: null, p50Ms: null, p99Ms: null };
  const seconds = sum(values.filter((v) => v.metricName?.endsWith('_sum')));
  const cumulative = new Map<number, number>();
  for (const v of values) {
    if (!v.metricName?.endsWith('_bucket')) continue;
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    cumulative.set(le, (cumulative.get(le) ?? 0) + v.value);
  }
  const bounds = [...cumulative.entries()].sort(([a], [b]) => a - b);
  const quantile = (q: number): number | null => {
    const bound = bounds.find(([, n]) => n >= q * count)?.[0];
    // Past the last finite bucket the quantile is known only to be beyond it: Infinity.
    return bound === undefined ? null : bound * 1000;
  };
  return { count, meanMs: (seconds / count) * 1000, p50Ms: quantile(0.5), p99Ms: quantile(0.99) };
}
