import { EVENT_TYPES, type StoredEvent } from '../../events/model.js';
import { Layout, Notice, type Viewer } from './layout.js';

export interface EventsView {
  readonly after: number;
  readonly type: string;
  /** A subject's id, or '' for every subject. */
  readonly subject?: string | undefined;
  /** Following: the newest events first (`after` unused), re-read every 2 s. */
  readonly follow: boolean;
  readonly events: readonly StoredEvent[];
  /** Sequence to continue from when this page is full; undefined while it still has room (never while following). */
  readonly nextAfter?: number | undefined;
  readonly error?: string | undefined;
}

/**
 * The event feed from a sequence, oldest first (the feed's own order), filtered by type and
 * subject. While following, the newest events first, re-read every 2 s (htmx polling): what
 * just happened is at the top.
 */
export function EventsPage(props: { viewer: Viewer; view: EventsView }): JSX.Element {
  const { view } = props;
  return (
    <Layout title="Events" section="events" viewer={props.viewer}>
      <h1>Events</h1>
      <form method="get" action="/console/events">
        <label for="type">Type</label>
        <select id="type" name="type">
          <option value="" selected={view.type === ''}>
            Every type
          </option>
          {EVENT_TYPES.map((type) => (
            <option value={type} selected={view.type === type}>
              {type}
            </option>
          ))}
        </select>
        <label for="after">After sequence</label>
        <input id="after" name="after" type="number" min="0" value={String(view.after)} aria-describedby="after-hint" />
        <p id="after-hint" class="muted">
          Not used while following: that shows the newest events.
        </p>
        {view.subject ? (
          <>
            <label for="subject">Subject id</label>
            <input id="subject" name="subject" type="text" value={view.subject} spellcheck="false" />
          </>
        ) : (
          ''
        )}
        <fieldset>
          <legend>Live</legend>
          <label>
            <input type="checkbox" name="follow" value="1" checked={view.follow} />
            Follow new events as they arrive
          </label>
        </fieldset>
        <button type="submit">Show</button>
      </form>
      <EventsResults view={view} />
    </Layout>
  );
}

function EventsResults(props: { view: EventsView }): JSX.Element {
  const { view } = props;
  const here = query(view.after, view.type, view.subject ?? '', view.follow);
  const polling = view.follow;
  return (
    <section
      id="events"
      aria-labelledby="events-heading"
      hx-get={polling ? `/console/events?${here}` : undefined}
      hx-trigger={polling ? 'every 2s' : undefined}
      hx-select={polling ? '#events' : undefined}
      hx-swap={polling ? 'outerHTML' : undefined}
    >
      <h2 id="events-heading">{polling ? 'Newest events first (following: new ones appear at the top)' : 'Events, oldest first'}</h2>
      <Notice kind="error" message={view.error} />
      {view.events.length === 0 ? (
        <p>
          {view.follow ? 'No events' : 'No events after this sequence'}
          {view.type === '' ? '' : ' of this type'}
          {view.subject ? ' of this subject' : ''} yet.
        </p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">{view.follow ? 'Events, newest first' : 'Events, oldest first'}</caption>
            <thead>
              <tr>
                <th scope="col">Sequence</th>
                <th scope="col">Type</th>
                <th scope="col">Subject</th>
                <th scope="col">Actor</th>
                <th scope="col">When</th>
              </tr>
            </thead>
            <tbody>
              {view.events.map((event) => (
                <tr>
                  <td>{event.sequence}</td>
                  <td>{event.type}</td>
                  <td>
                    {event.type.startsWith('user.') || event.type.startsWith('group.') ? (
                      <a href={`/console/${event.type.startsWith('user.') ? 'users' : 'groups'}/${event.subjectId}`} safe>
                        {event.subjectId}
                      </a>
                    ) : (
                      <code safe>{event.subjectId}</code>
                    )}
                  </td>
                  <td safe>{event.actor ?? ''}</td>
                  <td safe>{event.occurredAt.toISOString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {view.nextAfter === undefined ? (
          ''
        ) : (
          <a href={`/console/events?${query(view.nextAfter, view.type, view.subject ?? '', view.follow)}`}>Next page</a>
        )}
      </nav>
    </section>
  );
}

function query(after: number, type: string, subject: string, follow: boolean): string {
  const params = new URLSearchParams({ after: String(after) });
  if (type !== '') params.set('type', type);
  if (subject !== '') params.set('subject', subject);
  if (follow) params.set('follow', '1');
  return params.toString();
}
