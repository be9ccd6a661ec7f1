import type { StoredEvent } from '../../events/model.js';
import type { Group } from '../../groups/model.js';
import type { User } from '../../users/model.js';
import { CsrfField, FieldError, Layout, Notice, type Viewer } from './layout.js';
import { VersionConflictPage } from './conflict.js';
import { Pager } from './pager.js';

export interface UsersListView {
  readonly q: string;
  readonly users: readonly User[];
  /** Query string of the next page, or undefined on the last one. */
  readonly next?: string | undefined;
  /** Query string of the previous page, or undefined on the first one. */
  readonly previous?: string | undefined;
  readonly error?: string | undefined;
}

/** The users screen: a prefix search and one keyset page of results (no count: it would not scale). */
export function UsersPage(props: { viewer: Viewer; list: UsersListView }): JSX.Element {
  const { list } = props;
  return (
    <Layout title="Users" section="users" viewer={props.viewer}>
      <h1>Users</h1>
      <form method="get" action="/console/users" role="search">
        <label for="q">Search by email or name prefix</label>
        <input
          id="q"
          name="q"
          type="search"
          value={list.q}
          autocomplete="off"
          hx-get="/console/users"
          hx-trigger="input changed delay:300ms, search"
          hx-target="#results"
          hx-select="#results"
          hx-swap="outerHTML"
          hx-push-url="true"
        />
        <button type="submit">Search</button>
      </form>
      <UsersResults list={list} />
    </Layout>
  );
}

export function UsersResults(props: { list: UsersListView }): JSX.Element {
  const { list } = props;
  return (
    <section id="results" aria-labelledby="results-heading">
      <h2 id="results-heading">{list.q === '' ? 'All users' : 'Matching users'}</h2>
      <Notice kind="error" message={list.error} />
      {list.users.length === 0 ? (
        <p>No user matches.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Users, one page</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {list.users.map((user) => (
                <tr>
                  <td>
                    <a href={`/console/users/${user.id}`} safe>
                      {user.name}
                    </a>
                  </td>
                  <td safe>{user.email}</td>
                  <td>
                    <time datetime={user.updatedAt.toISOString()} safe>
                      {user.updatedAt.toISOString().slice(0, 19).replace('T', ' ')}
                    </time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager path="/console/users" previous={list.previous} next={list.next} />
    </section>
  );
}

/** What the edit form holds when it is shown again (after a refusal), and what went wrong per field. */
export interface UserForm {
  readonly name: string;
  readonly email: string;
  readonly errors?: Readonly<Partial<Record<'name' | 'email', string>>>;
}

/** A user's groups, one keyset page (query strings of the pages around it). */
export interface UserGroupsView {
  readonly groups: readonly Group[];
  readonly next?: string | undefined;
  readonly previous?: string | undefined;
  readonly error?: string | undefined;
}

export interface UserPageProps {
  viewer: Viewer;
  user: User;
  canWrite: boolean;
  /** Undefined: the key may not read groups, and the section is left out. */
  groups?: UserGroupsView | undefined;
  /** The user's latest events, newest first; undefined: the key may not read events. */
  events?: readonly StoredEvent[] | undefined;
  form?: UserForm | undefined;
  notice?: string | undefined;
  error?: string | undefined;
}

export function UserPage(props: UserPageProps): JSX.Element {
  const { user, viewer } = props;
  const form = props.form ?? { name: user.name, email: user.email };
  const errors = form.errors ?? {};
  return (
    <Layout title={user.name} section="users" viewer={viewer}>
      <p>
        <a href="/console/users">All users</a>
      </p>
      <h1 safe>{user.name}</h1>
      <Notice kind="ok" message={props.notice} />
      <Notice kind="error" message={props.error} />
      <dl>
        <dt>Email</dt>
        <dd safe>{user.email}</dd>
        <dt>Id</dt>
        <dd>
          <code safe>{user.id}</code>
        </dd>
        <dt>State</dt>
        <dd>{user.active ? 'Active' : 'Deactivated'}</dd>
        <dt>Version</dt>
        <dd>{user.version}</dd>
        <dt>Created</dt>
        <dd safe>{user.createdAt.toISOString()}</dd>
        <dt>Updated</dt>
        <dd safe>{user.updatedAt.toISOString()}</dd>
        <dt>Attributes</dt>
        <dd>
          <pre safe>{JSON.stringify(user.attributes, null, 2)}</pre>
        </dd>
      </dl>
      {props.canWrite ? (
        <>
          <h2>Edit</h2>
          <form method="post" action={`/console/users/${user.id}`}>
            <CsrfField token={viewer.csrfToken} />
            {/* The version read with the page: the write is refused if someone changed the user since. */}
            <input type="hidden" name="version" value={String(user.version)} />
            <label for="name">Name</label>
            <input
              id="name"
              name="name"
              type="text"
              value={form.name}
              required
              aria-describedby={errors.name ? 'name-error' : undefined}
              aria-invalid={errors.name ? 'true' : undefined}
            />
            <FieldError id="name-error" message={errors.name} />
            <label for="email">Email</label>
            <input
              id="email"
              name="email"
              type="email"
              value={form.email}
              required
              aria-describedby={errors.email ? 'email-error' : undefined}
              aria-invalid={errors.email ? 'true' : undefined}
            />
            <FieldError id="email-error" message={errors.email} />
            <button type="submit">Save</button>
          </form>
          <h2>{user.active ? 'Deactivate' : 'Reactivate'}</h2>
          <form method="post" action={`/console/users/${user.id}/active`}>
            <CsrfField token={viewer.csrfToken} />
            <input type="hidden" name="version" value={String(user.version)} />
            <input type="hidden" name="active" value={user.active ? 'false' : 'true'} />
            <p class="muted">
              {user.active
                ? 'A deactivated user stays readable and keeps its groups; identity providers see it as inactive.'
                : 'The user becomes active again.'}
            </p>
            <button type="submit" class={user.active ? 'secondary' : undefined}>
              {user.active ? 'Deactivate user' : 'Reactivate user'}
            </button>
          </form>
          <h2>Delete</h2>
          <form method="post" action={`/console/users/${user.id}/delete`} data-confirm="Delete this user? This cannot be undone.">
            <CsrfField token={viewer.csrfToken} />
            <input type="hidden" name="version" value={String(user.version)} />
            <button type="submit" class="danger">
              Delete user
            </button>
          </form>
        </>
      ) : (
        <p class="muted">This key may read users but not change them (it lacks users:write).</p>
      )}
      {props.groups === undefined ? '' : <UserGroups userId={user.id} view={props.groups} />}
      {props.events === undefined ? '' : <UserEvents userId={user.id} events={props.events} />}
    </Layout>
  );
}

function UserGroups(props: { userId: string; view: UserGroupsView }): JSX.Element {
  const { view } = props;
  return (
    <section aria-labelledby="groups-heading">
      <h2 id="groups-heading">Groups</h2>
      <Notice kind="error" message={view.error} />
      {view.groups.length === 0 ? (
        <p>{view.previous === undefined ? 'In no group.' : 'No more groups.'}</p>
      ) : (
        <ul>
          {view.groups.map((group) => (
            <li>
              <a href={`/console/groups/${group.id}`} safe>
                {group.displayName}
              </a>
            </li>
          ))}
        </ul>
      )}
      <Pager path={`/console/users/${props.userId}`} previous={view.previous} next={view.next} label="Group pages" />
    </section>
  );
}

function UserEvents(props: { userId: string; events: readonly StoredEvent[] }): JSX.Element {
  return (
    <section aria-labelledby="events-heading">
      <h2 id="events-heading">Latest events</h2>
      {props.events.length === 0 ? (
        <p>No events are kept for this user.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">This user's events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Sequence</th>
                <th scope="col">Type</th>
                <th scope="col">Changed</th>
                <th scope="col">Actor</th>
                <th scope="col">When</th>
              </tr>
            </thead>
            <tbody>
              {props.events.map((event) => (
                <tr>
                  <td>{event.sequence}</td>
                  <td>{event.type}</td>
                  <td safe>{changedOf(event)}</td>
                  <td safe>{event.actor ?? ''}</td>
                  <td safe>{event.occurredAt.toISOString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p>
        <a href={`/console/events?${new URLSearchParams({ subject: props.userId, after: '0' }).toString()}`}>All of this user's events</a>
      </p>
    </section>
  );
}

/** The fields a user.updated event names as changed, e.g. "name, active". */
function changedOf(event: StoredEvent): string {
  const changed = event.data.changed;
  return Array.isArray(changed) ? changed.filter((c) => typeof c === 'string').join(', ') : '';
}

/** A save that met a newer version of the user: the edit and the current version side by side. */
export function ConflictPage(props: { viewer: Viewer; current: User; mine: { name: string; email: string } }): JSX.Element {
  const { current, mine } = props;
  return VersionConflictPage({
    viewer: props.viewer,
    section: 'users',
    noun: 'user',
    name: current.name,
    href: `/console/users/${current.id}`,
    version: current.version,
    edited: [
      { label: 'Name', name: 'name', mine: mine.name },
      { label: 'Email', name: 'email', mine: mine.email },
    ],
    current: [
      { label: 'Name', value: current.name },
      { label: 'Email', value: current.email },
    ],
  });
}
