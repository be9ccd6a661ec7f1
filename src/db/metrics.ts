import { Gauge, type Registry } from 'prom-client';
import { CellHistogram } from '../observability/cell-metrics.js';
import { LATENCY_BUCKETS } from '../observability/metrics.js';

// The database's instruments, apart from the observers that feed them (instrumentation.ts): a
// process without a metrics registry (a one-off command) never loads prom-client.

export interface PoolStats {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

export function databaseMetrics(registry: Registry) {
  // Moved by every statement: cells (observability/cell-metrics.ts), not prom-client's labelled calls.
  const duration = new CellHistogram(
    'roster_db_query_duration_seconds',
    'Database query duration by operation (select, insert, update, delete, other) and outcome (ok, error).',
    ['operation', 'outcome'],
    LATENCY_BUCKETS,
    registry,
  );
  /** Registers the pool gauges; only a pooled database (PostgreSQL) calls it. */
  function watchPool(read: () => PoolStats): void {
    const gauge = (name: string, help: string, pick: (s: PoolStats) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(pick(read()));
        },
      });
    gauge(
      'roster_db_pool_connections_in_use',
      'PostgreSQL pool connections checked out by queries or transactions.',
      (s) => s.total - s.idle,
    );
    gauge('roster_db_pool_connections_idle', 'PostgreSQL pool connections open and idle.', (s) => s.idle);
    gauge(
      'roster_db_pool_waiting',
      'Callers waiting for a PostgreSQL pool connection (sustained > 0: pool too small or queries too slow).',
      (s) => s.waiting,
    );
  }
  return { duration, watchPool };
}
export type DatabaseMetrics = ReturnType<typeof databaseMetrics>;
