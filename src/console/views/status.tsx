import type { MetricsSummary, ReadinessState } from '../status.js';
import { Layout, type Viewer } from './layout.js';

export interface StatusView {
  readonly version: string;
  readonly commit: string;
  readonly dialect: 'sqlite' | 'postgres';
  readonly readiness: ReadinessState;
  readonly metrics: MetricsSummary;
}

const DIALECT_NAMES = { sqlite: 'SQLite', postgres: 'PostgreSQL' } as const;

/** The instance's version, database, readiness and main figures since it started, as numbers. */
export function StatusPage(props: { viewer: Viewer; view: StatusView }): JSX.Element {
  const { view } = props;
  const { metrics } = view;
  const deliveries = Object.entries(metrics.deliveries).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Layout title="Status" section="status" viewer={props.viewer}>
      <h1>Status</h1>
      <p class="muted">This instance, since it started. Reload the page for fresh figures.</p>
      <div class="columns">
        <section class="card" aria-labelledby="status-instance">
          <h2 id="status-instance">Instance</h2>
          <dl>
            <dt>Version</dt>
            <dd safe>{view.version}</dd>
            <dt>Commit</dt>
            <dd>
              <code safe>{view.commit}</code>
            </dd>
            <dt>Database</dt>
            <dd>{DIALECT_NAMES[view.dialect]}</dd>
            <dt>Readiness</dt>
            <dd>
              <strong class={view.readiness === 'ready' ? '' : 'field-error'}>{view.readiness}</strong>
            </dd>
          </dl>
        </section>
        <section class="card" aria-labelledby="status-requests">
          <h2 id="status-requests">HTTP requests</h2>
          <dl>
            <dt>Answered</dt>
            <dd safe>{count(metrics.requests.total)}</dd>
            <dt>Client errors (4xx)</dt>
            <dd safe>{count(metrics.requests.clientErrors)}</dd>
            <dt>Server errors (5xx)</dt>
            <dd safe>{count(metrics.requests.serverErrors)}</dd>
            <dt>Mean latency</dt>
            <dd safe>{ms(metrics.latency.meanMs)}</dd>
            <dt>Median latency</dt>
            <dd safe>{atMost(metrics.latency.p50Ms)}</dd>
            <dt>99th percentile</dt>
            <dd safe>{atMost(metrics.latency.p99Ms)}</dd>
          </dl>
        </section>
        <section class="card" aria-labelledby="status-background">
          <h2 id="status-background">Background work</h2>
          <dl>
            <dt>Webhook endpoints with deliveries due</dt>
            <dd safe>{count(metrics.endpointsDue)}</dd>
            {deliveries.length === 0 ? (
              <>
                <dt>Delivery attempts</dt>
                <dd>0</dd>
              </>
            ) : (
              deliveries.map(([outcome, n]) => (
                <>
                  <dt safe>{`Delivery attempts: ${outcome}`}</dt>
                  <dd safe>{count(n)}</dd>
                </>
              ))
            )}
            <dt>Imports running</dt>
            <dd safe>{count(metrics.importsRunning)}</dd>
          </dl>
        </section>
      </div>
    </Layout>
  );
}

function count(n: number): string {
  return Math.round(n).toLocaleString('en');
}

function ms(value: number | null): string {
  return value === null ? 'no requests yet' : `${value.toFixed(1)} ms`;
}

/** A histogram quantile is only known to its bucket's upper bound. */
function atMost(value: number | null): string {
  if (value === null) return 'no requests yet';
  if (value === Infinity) return 'past the largest latency bucket';
  return `≤ ${value >= 1 ? value.toFixed(0) : value.toFixed(1)} ms`;
}
