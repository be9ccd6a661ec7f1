import type { WebhookEndpoint } from '../../webhooks/model.js';
import type { DeliveryAttempt } from '../../webhooks/service.js';
import { CsrfField, FieldError, Layout, Notice, type Viewer } from './layout.js';
import { Pager } from './pager.js';
import { eventTypesText, healthText, SecretCard } from './webhooks.js';

/** Characters of a receiver's response shown in the log; the REST log has the whole (truncated) body. */
export const RESPONSE_EXCERPT_CHARS = 300;

export interface DeliveryLogView {
  readonly attempts: readonly DeliveryAttempt[];
  /** Query strings of the neighbouring pages (paging.ts). */
  readonly previous?: string | undefined;
  readonly next?: string | undefined;
}

/** The replay form as shown again after a refusal. */
export interface ReplayForm {
  readonly since: string;
  readonly error?: string | undefined;
}

/**
 * One endpoint: its settings and health, enable/disable, rotate the secret, delete, replay,
 * and its delivery log (newest first, keyset paged).
 */
export function WebhookEndpointPage(props: {
  viewer: Viewer;
  endpoint: WebhookEndpoint;
  log: DeliveryLogView;
  rotated?: string | undefined;
  replay?: ReplayForm | undefined;
  notice?: string | undefined;
  error?: string | undefined;
}): JSX.Element {
  const { viewer, endpoint } = props;
  const base = `/console/webhooks/${endpoint.id}`;
  const previousSecret = endpoint.secrets[1]?.expiresAt;
  return (
    <Layout title={`Webhook ${endpoint.url}`} section="webhooks" viewer={viewer}>
      <p>
        <a href="/console/webhooks">All endpoints</a>
      </p>
      <h1 safe>{endpoint.url}</h1>
      <Notice kind="ok" message={props.notice} />
      <Notice kind="error" message={props.error} />
      {props.rotated === undefined ? (
        ''
      ) : (
        <SecretCard
          heading="New signing secret"
          secret={props.rotated}
          note={
            previousSecret === undefined || previousSecret === null
              ? undefined
              : `The previous secret keeps signing alongside it until ${previousSecret.toISOString()}.`
          }
        />
      )}
      <dl>
        <dt>State</dt>
        <dd safe>{healthText(endpoint)}</dd>
        <dt>Description</dt>
        <dd safe>{endpoint.description === '' ? '—' : endpoint.description}</dd>
        <dt>Events</dt>
        <dd safe>{eventTypesText(endpoint)}</dd>
        <dt>Order</dt>
        <dd>{endpoint.ordered ? 'ordered' : 'unordered'}</dd>
        <dt>Delivered through</dt>
        <dd safe>{`event sequence ${endpoint.cursor}`}</dd>
        <dt>Id</dt>
        <dd>
          <code safe>{endpoint.id}</code>
        </dd>
        <dt>Created</dt>
        <dd safe>{endpoint.createdAt.toISOString()}</dd>
      </dl>
      <h2>Actions</h2>
      <div class="pager">
        <form method="post" action={`${base}/enabled`} class="inline">
          <CsrfField token={viewer.csrfToken} />
          <input type="hidden" name="enabled" value={endpoint.enabled ? 'false' : 'true'} />
          <button type="submit" class="secondary">
            {endpoint.enabled ? 'Disable' : 'Enable'}
          </button>
        </form>
        <form
          method="post"
          action={`${base}/rotate-secret`}
          class="inline"
          data-confirm="Issue a new signing secret? The current one keeps signing for the grace period only."
        >
          <CsrfField token={viewer.csrfToken} />
          <button type="submit" class="secondary">
            Rotate the secret
          </button>
        </form>
        <form
          method="post"
          action={`${base}/delete`}
          class="inline"
          data-confirm="Delete this endpoint with its delivery log? Pending deliveries to it are dropped."
        >
          <CsrfField token={viewer.csrfToken} />
          <button type="submit" class="danger">
            Delete endpoint
          </button>
        </form>
      </div>
      <ReplaySinceForm viewer={viewer} action={`${base}/replay`} form={props.replay} />
      <DeliveryLog viewer={viewer} base={base} log={props.log} />
    </Layout>
  );
}

function ReplaySinceForm(props: { viewer: Viewer; action: string; form: ReplayForm | undefined }): JSX.Element {
  const error = props.form?.error;
  return (
    <>
      <h2 id="replay-heading">Replay</h2>
      <form method="post" action={props.action} aria-labelledby="replay-heading">
        <CsrfField token={props.viewer.csrfToken} />
        <label for="replay-since">Deliver again every event of this endpoint's types since (UTC)</label>
        <input
          id="replay-since"
          name="since"
          type="datetime-local"
          step="1"
          value={props.form?.since ?? ''}
          required
          aria-describedby={error ? 'replay-since-error' : 'replay-since-hint'}
          aria-invalid={error ? 'true' : undefined}
        />
        <p id="replay-since-hint" class="muted">
          One event: use its Replay button in the log below.
        </p>
        <FieldError id="replay-since-error" message={error} />
        <button type="submit">Replay since then</button>
      </form>
    </>
  );
}

/**
 * The log as one card per attempt rather than a table: seven facts an attempt do not fit 360 px
 * as columns, and a card reads the same on a phone and, three abreast, on a desktop.
 */
function DeliveryLog(props: { viewer: Viewer; base: string; log: DeliveryLogView }): JSX.Element {
  const { log } = props;
  return (
    <section id="log" aria-labelledby="log-heading">
      <h2 id="log-heading">Delivery log</h2>
      <p class="muted">
        Every attempt, newest first. <a href={props.base}>Reload for new attempts</a>
      </p>
      {log.attempts.length === 0 ? (
        <p>No attempts{log.previous === undefined ? ' yet' : ' on this page'}.</p>
      ) : (
        <div class="columns">
          {log.attempts.map((attempt) => (
            <article class="card" aria-labelledby={`attempt-${attempt.id}`}>
              <h3 id={`attempt-${attempt.id}`} safe>
                {`Event #${attempt.eventSequence}, attempt ${attempt.attempt}${attempt.replay ? ' (replay)' : ''}`}
              </h3>
              <dl>
                <dt>Time</dt>
                <dd safe>{attempt.attemptedAt.toISOString().replace('T', ' ')}</dd>
                <dt>Result</dt>
                <dd safe>{`${attempt.status === null ? 'no HTTP status' : `HTTP ${attempt.status}`}, ${attempt.outcome}`}</dd>
                <dt>Latency</dt>
                <dd safe>{`${attempt.latencyMs} ms`}</dd>
                <dt>Response</dt>
                <dd>
                  <ResponseExcerpt attempt={attempt} />
                </dd>
                <dt>Event id</dt>
                <dd>
                  <code safe>{attempt.eventId}</code>
                </dd>
              </dl>
              <form method="post" action={`${props.base}/replay`}>
                <CsrfField token={props.viewer.csrfToken} />
                <input type="hidden" name="event_id" value={attempt.eventId} />
                <button type="submit" class="secondary" aria-label={`Replay event ${attempt.eventSequence}`}>
                  Replay
                </button>
              </form>
            </article>
          ))}
        </div>
      )}
      <Pager
        path={props.base}
        previous={log.previous}
        next={log.next}
        label="Delivery log pages"
        previousText="Newer attempts"
        nextText="Older attempts"
      />
    </section>
  );
}

/** The start of what the receiver answered, or why there was no answer. */
function ResponseExcerpt(props: { attempt: DeliveryAttempt }): JSX.Element {
  const { attempt } = props;
  const body = attempt.responseBody;
  const excerpt = body.length > RESPONSE_EXCERPT_CHARS ? `${body.slice(0, RESPONSE_EXCERPT_CHARS)}…` : body;
  return (
    <>
      {attempt.errorMessage === null ? (
        ''
      ) : (
        <p class="field-error" safe>
          {attempt.errorCode === null ? attempt.errorMessage : `${attempt.errorCode}: ${attempt.errorMessage}`}
        </p>
      )}
      {excerpt === '' ? <span class="muted">(empty)</span> : <code safe>{excerpt}</code>}
    </>
  );
}
