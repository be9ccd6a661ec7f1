import { EVENT_TYPES } from '../../events/model.js';
import type { WebhookEndpoint } from '../../webhooks/model.js';
import { CsrfField, FieldError, Layout, Notice, type Viewer } from './layout.js';
import { Pager } from './pager.js';

/** The create form as it is shown again after a refusal, with each field's message. */
export interface EndpointForm {
  readonly url: string;
  readonly description: string;
  readonly eventTypes: readonly string[];
  readonly ordered: boolean;
  readonly errors?: Readonly<Partial<Record<'url' | 'description' | 'eventTypes' | 'ordered', string>>>;
}

export interface EndpointsListView {
  readonly endpoints: readonly WebhookEndpoint[];
  /** Query strings of the neighbouring pages (paging.ts). */
  readonly previous?: string | undefined;
  readonly next?: string | undefined;
}

const EMPTY_FORM: EndpointForm = { url: '', description: '', eventTypes: [], ordered: true };

/** The webhook endpoints screen: a just-created endpoint's secret (shown this once), the create form, and the list. */
export function WebhooksPage(props: {
  viewer: Viewer;
  list: EndpointsListView;
  created?: { endpoint: WebhookEndpoint; secret: string } | undefined;
  form?: EndpointForm | undefined;
  notice?: string | undefined;
}): JSX.Element {
  const { viewer, list, created } = props;
  return (
    <Layout title="Webhooks" section="webhooks" viewer={viewer}>
      <h1>Webhook endpoints</h1>
      <Notice kind="ok" message={props.notice} />
      {created === undefined ? (
        ''
      ) : (
        <SecretCard heading={`Endpoint ${created.endpoint.url} created`} secret={created.secret} endpointId={created.endpoint.id} />
      )}
      <h2>Endpoints</h2>
      {list.endpoints.length === 0 ? (
        <p>No endpoints{list.previous === undefined ? ' yet' : ' on this page'}.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Webhook endpoints</caption>
            <thead>
              <tr>
                <th scope="col">URL</th>
                <th scope="col">Description</th>
                <th scope="col">Events</th>
                <th scope="col">Order</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {list.endpoints.map((endpoint) => (
                <tr>
                  <td>
                    <a href={`/console/webhooks/${endpoint.id}`} safe>
                      {endpoint.url}
                    </a>
                  </td>
                  <td safe>{endpoint.description}</td>
                  <td safe>{eventTypesText(endpoint)}</td>
                  <td>{endpoint.ordered ? 'ordered' : 'unordered'}</td>
                  <td safe>{healthText(endpoint)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager path="/console/webhooks" previous={list.previous} next={list.next} />
      <CreateForm viewer={viewer} form={props.form ?? EMPTY_FORM} />
    </Layout>
  );
}

function CreateForm(props: { viewer: Viewer; form: EndpointForm }): JSX.Element {
  const { form } = props;
  const errors = form.errors ?? {};
  return (
    <>
      <h2 id="create-heading">Add an endpoint</h2>
      <form method="post" action="/console/webhooks" aria-labelledby="create-heading">
        <CsrfField token={props.viewer.csrfToken} />
        <label for="endpoint-url">URL</label>
        <input
          id="endpoint-url"
          name="url"
          type="text"
          inputmode="url"
          autocomplete="off"
          value={form.url}
          required
          maxlength="2048"
          aria-describedby={errors.url ? 'endpoint-url-error' : 'endpoint-url-hint'}
          aria-invalid={errors.url ? 'true' : undefined}
        />
        <p id="endpoint-url-hint" class="muted">
          Deliveries are POSTed here, signed with the endpoint's secret (Standard Webhooks).
        </p>
        <FieldError id="endpoint-url-error" message={errors.url} />
        <label for="endpoint-description">Description (optional)</label>
        <input
          id="endpoint-description"
          name="description"
          type="text"
          value={form.description}
          maxlength="500"
          aria-describedby={errors.description ? 'endpoint-description-error' : undefined}
          aria-invalid={errors.description ? 'true' : undefined}
        />
        <FieldError id="endpoint-description-error" message={errors.description} />
        <fieldset aria-describedby={errors.eventTypes ? 'event-types-error' : 'event-types-hint'}>
          <legend>Event types</legend>
          <p id="event-types-hint" class="muted">
            None checked: every type, including types added later.
          </p>
          {EVENT_TYPES.map((type) => (
            <label>
              <input type="checkbox" name="event_types" value={type} checked={form.eventTypes.includes(type)} />
              <span>{type}</span>
            </label>
          ))}
        </fieldset>
        <FieldError id="event-types-error" message={errors.eventTypes} />
        <fieldset aria-describedby={errors.ordered ? 'ordered-error' : undefined}>
          <legend>Delivery order</legend>
          <label>
            <input type="radio" name="ordered" value="true" checked={form.ordered} />
            <span>Ordered: one event at a time, in sequence (a failing event holds back the rest)</span>
          </label>
          <label>
            <input type="radio" name="ordered" value="false" checked={!form.ordered} />
            <span>Unordered: a failing event is retried on the side while later ones go on</span>
          </label>
        </fieldset>
        <FieldError id="ordered-error" message={errors.ordered} />
        <button type="submit">Add endpoint</button>
      </form>
    </>
  );
}

/** A signing secret shown the one time it exists in a response, with a copy button (console script). */
export function SecretCard(props: {
  heading: string;
  secret: string;
  endpointId?: string | undefined;
  note?: string | undefined;
}): JSX.Element {
  return (
    <section class="card" aria-labelledby="secret-heading">
      <h2 id="secret-heading" safe>
        {props.heading}
      </h2>
      <p role="status">Copy the signing secret now: it is shown this once and cannot be shown again.</p>
      {props.note === undefined ? (
        ''
      ) : (
        <p class="muted" safe>
          {props.note}
        </p>
      )}
      <label for="new-secret">The signing secret</label>
      <input id="new-secret" class="secret" type="text" readonly value={props.secret} />
      <button type="button" class="secondary" data-copy-target="new-secret" hidden>
        Copy the secret
      </button>
      {props.endpointId === undefined ? (
        ''
      ) : (
        <p>
          <a href={`/console/webhooks/${props.endpointId}`}>The endpoint and its delivery log</a>
        </p>
      )}
    </section>
  );
}

export function eventTypesText(endpoint: WebhookEndpoint): string {
  return endpoint.eventTypes === null ? 'every type' : endpoint.eventTypes.join(', ');
}

/** Enabled or not, and whether deliveries are failing, in a few words. */
export function healthText(endpoint: WebhookEndpoint): string {
  if (!endpoint.enabled) {
    const when = endpoint.disabledAt === null ? '' : ` ${endpoint.disabledAt.toISOString()}`;
    return `disabled${when}${endpoint.disabledReason === null ? '' : ` (${endpoint.disabledReason})`}`;
  }
  if (endpoint.failingSince !== null) {
    return `enabled, failing since ${endpoint.failingSince.toISOString()}; next attempt ${endpoint.nextAttemptAt.toISOString()}`;
  }
  return 'enabled, delivering';
}
