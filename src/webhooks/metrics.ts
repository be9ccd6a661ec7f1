import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AttemptOutcome } from './http-client.js';

/** What the gauges read at scrape time; set by the dispatcher when it starts. */
export interface WebhookGaugeSource {
  readonly workers: number;
  busyWorkers(): number;
  breakerCounts(): { open: number; halfOpen: number };
  /** Endpoints with work due now (a query; run only at scrape time). */
  countDue(): Promise<number>;
}

/** Delivery latency from commit to first attempt: tens of ms when healthy, up to the poll and retry waits. */
const DELIVERY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The webhook dispatcher's instruments (see observability/metrics.ts for the conventions). */
export function webhookMetrics(registry: Registry) {
  let source: WebhookGaugeSource | undefined;
  // Attempts are counted in plain numbers and added to the counter when it is read: a labelled
  // inc() hashes its labels on every call, once per attempt at full rate.
  const uncounted = new Map<AttemptOutcome, number>();
  new Gauge({
    name: 'roster_webhook_workers',
    help: 'Delivery workers of this instance, by state (busy, idle).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const busy = source?.busyWorkers() ?? 0;
      this.set({ state: 'busy' }, busy);
      this.set({ state: 'idle' }, (source?.workers ?? 0) - busy);
    },
  });
  new Gauge({
    name: 'roster_webhook_endpoints_due',
    help: 'Enabled endpoints with deliveries due now, whoever holds them: the queue depth.',
    registers: [registry],
    async collect() {
      // A database outage must not fail the whole scrape: the gauge keeps its last value.
      const due = await source?.countDue().catch(() => undefined);
      if (due !== undefined || source === undefined) this.set(due ?? 0);
    },
  });
  new Gauge({
    name: 'roster_webhook_breakers',
    help: 'Endpoints whose circuit breaker (in this instance) is open or half-open.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts = source?.breakerCounts() ?? { open: 0, halfOpen: 0 };
      this.set({ state: 'open' }, counts.open);
      this.set({ state: 'half_open' }, counts.halfOpen);
    },
  });
  return {
    /** Called once by the dispatcher so the gauges can read it. */
    observe(gauges: WebhookGaugeSource): void {
      source = gauges;
    },
    attempts: attemptCounter(registry, uncounted),
    deliveryLatency: new Histogram({
      name: 'roster_webhook_delivery_latency_seconds',
      help: 'From the commit of an event to the start of its first delivery attempt to an endpoint.',
      buckets: DELIVERY_BUCKETS,
      registers: [registry],
    }),
    retriesPostponed: new Counter({
      name: 'roster_webhook_retries_postponed_total',
      help: 'Retries pushed back because the global retry budget was spent.',
      registers: [registry],
    }),
    endpointsDisabled: new Counter({
      name: 'roster_webhook_endpoints_disabled_total',
      help: 'Endpoints the dispatcher disabled, by reason (gone, horizon).',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
export type WebhookMetrics = ReturnType<typeof webhookMetrics>;

function attemptCounter(registry: Registry, uncounted: Map<AttemptOutcome, number>) {
  new Counter({
    name: 'roster_webhook_attempts_total',
    help: 'Delivery attempts by outcome (success, retryable, permanent, gone).',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      for (const [outcome, n] of uncounted) this.inc({ outcome }, n);
      uncounted.clear();
    },
  });
  return {
    inc(outcome: AttemptOutcome): void {
      uncounted.set(outcome, (uncounted.get(outcome) ?? 0) + 1);
    },
  };
}
