import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../observability/metrics.js';

export type ImportMetrics = ReturnType<typeof importMetrics>;

/** The import capability's instruments (see observability/metrics.ts for the convention). */
export function importMetrics(registry: Registry) {
  return {
    rows: new Counter({
      name: 'roster_import_rows_total',
      help: 'Import rows committed, by outcome (created, updated, skipped, failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    batchDuration: new Histogram({
      name: 'roster_import_batch_duration_seconds',
      help: 'Time to write and commit one import batch (retries included); on SQLite, how long it held the write lock at most',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    batchRetries: new Counter({
      name: 'roster_import_batch_retries_total',
      help: 'Import batches retried after a transient database error',
      registers: [registry],
    }),
    jobsRunning: new Gauge({ name: 'roster_import_jobs_running', help: 'Import jobs running in this process', registers: [registry] }),
  };
}
