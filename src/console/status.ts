/**
 * What the status screen shows and where it comes from (the composition root wires it: the
 * package version, the database dialect, the /readyz checks and the process's metrics registry).
 * Never the database URL: it may hold a password.
 */
export interface StatusSource {
  readonly version: string;
  readonly commit: string;
  readonly dialect: 'sqlite' | 'postgres';
  /** The same answer /readyz gives. */
  readiness(): Promise<ReadinessState>;
  metrics(): Promise<MetricsSummary>;
}

export type ReadinessState = 'ready' | 'draining' | 'database unavailable';

/** The main figures of this instance since it started, as numbers (the metrics registry's sums). */
export interface MetricsSummary {
  readonly requests: { readonly total: number; readonly clientErrors: number; readonly serverErrors: number };
  /** Over every route; quantiles are the upper bound of the histogram bucket they fall in (Infinity: past the last). */
  readonly latency: {
    readonly count: number;
    readonly meanMs: number | null;
    readonly p50Ms: number | null;
    readonly p99Ms: number | null;
  };
  /** Enabled webhook endpoints with deliveries due now: the backlog of events still to deliver. */
  readonly endpointsDue: number;
  /** Delivery attempts by outcome (success, retryable, permanent, gone). */
  readonly deliveries: Readonly<Record<string, number>>;
  readonly importsRunning: number;
}
