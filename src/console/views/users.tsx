import type { User } from '../../users/model.js';
import { CsrfField, FieldError, Layout, Notice, type Viewer } from './layout.js';
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

export function UserPage(props: {
  viewer: Viewer;
  user: User;
  canWrite: boolean;
  form?: UserForm | undefined;
  notice?: string | undefined;
  error?: string | undefined;
}): JSX.Element {
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
      <h2>Events</h2>
      <p class="muted">
        A user's own events are not listed here yet: the event feed cannot be filtered by user. The feed is at <code>GET /v1/events</code>.
      </p>
    </Layout>
  );
}

/**
 * Someone changed the user between reading and saving: both versions side by side, and the
 * person chooses. Keeping theirs discards the edit; keeping mine saves it over the current
 * version (a fresh version check: a third change in between comes back here).
 */
export function ConflictPage(props: { viewer: Viewer; current: User; mine: { name: string; email: string } }): JSX.Element {
  const { current, mine, viewer } = props;
  return (
    <Layout title={`Conflict: ${current.name}`} section="users" viewer={viewer}>
      <h1>Someone else changed this user</h1>
      <p role="alert">The user changed after you opened it (it is now at version {current.version}). Choose which version to keep.</p>
      <div class="columns">
        <section class="card" aria-labelledby="mine-heading">
          <h2 id="mine-heading">Your edit</h2>
          <dl>
            <dt>Name</dt>
            <dd safe>{mine.name}</dd>
            <dt>Email</dt>
            <dd safe>{mine.email}</dd>
          </dl>
          <form method="post" action={`/console/users/${current.id}`}>
            <CsrfField token={viewer.csrfToken} />
            <input type="hidden" name="version" value={String(current.version)} />
            <input type="hidden" name="name" value={mine.name} />
            <input type="hidden" name="email" value={mine.email} />
            <button type="submit">Keep my edit</button>
          </form>
        </section>
        <section class="card" aria-labelledby="theirs-heading">
          <h2 id="theirs-heading">Current version</h2>
          <dl>
            <dt>Name</dt>
            <dd safe>{current.name}</dd>
            <dt>Email</dt>
            <dd safe>{current.email}</dd>
          </dl>
          <a class="button secondary" href={`/console/users/${current.id}`}>
            Keep the current version
          </a>
        </section>
      </div>
    </Layout>
  );
}
