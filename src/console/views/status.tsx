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
          <table>
            <tr>
              <th scope="row">Version</th>
              <td safe>{view.version}</td>
            </tr>
            <tr>
              <th scope="row">Commit</th>
              <td>
                <code safe>{view.commit}</code>
              </td>
            </tr>
            <tr>
              <th scope="row">Database</th>
              <td>{DIALECT_NAMES[view.dialect]}</td>
            </tr>
            <tr>
              <th scope="row">Readiness</th>
              <td>
                <strong class={view.readiness === 'ready' ? '' : 'field-error'}>{view.readiness}</strong>
              </td>
            </tr>
          </table>
        </section>
        <section class="card" aria-labelledby="status-requests">
          <h2 id="status-requests">HTTP requests</h2>
          <table>
            <tr>
              <th scope="row">Answered</th>
              <td safe>{count(metrics.requests.total)}</td>
            </tr>
            <tr>
              <th scope="row">Client errors (4xx)</th>
              <td safe>{count(metrics.requests.clientErrors)}</td>
            </tr>
            <tr>
              <th scope="row">Server errors (5xx)</th>
              <td safe>{count(metrics.requests.serverErrors)}</td>
            </tr>
            <tr>
              <th scope="row">Mean latency</th>
              <td safe>{ms(metrics.latency.meanMs)}</td>
            </tr>
            <tr>
              <th scope="row">Median latency</th>
              <td safe>{atMost(metrics.latency.p50Ms)}</td>
            </tr>
            <tr>
              <th scope="row">99th percentile</th>
              <td safe>{atMost(metrics.latency.p99Ms)}</td>
            </tr>
          </table>
        </section>
        <section class="card" aria-labelledby="status-background">
          <h2 id="status-background">Background work</h2>
          <table>
            <tr>
              <th scope="row">Webhook endpoints with deliveries due</th>
              <td safe>{count(metrics.endpointsDue)}</td>
            </tr>
            {deliveries.length === 0 ? (
              <>
                <tr>
                  <th scope="row">Delivery attempts</th>
                  <td>0</td>
                </tr>
              </>
            ) : (
              deliveries.map(([outcome, n]) => (
                <>
                  <tr>
                    <th scope="row" safe>{`Delivery attempts: ${outcome}`}</th>
                    <td safe>{count(n)}</td>
                  </tr>
                </>
              ))
            )}
            <tr>
              <th scope="row">Imports running</th>
              <td safe>{count(metrics.importsRunning)}</td>
            </tr>
          </table>
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
