import type { Group } from '../../groups/model.js';
import type { Member } from '../../groups/service.js';
import { CsrfField, FieldError, Layout, Notice, type Viewer } from './layout.js';
import { VersionConflictPage } from './conflict.js';
import { Pager } from './pager.js';

export interface GroupsListView {
  readonly q: string;
  readonly groups: readonly Group[];
  readonly next?: string | undefined;
  readonly previous?: string | undefined;
  readonly error?: string | undefined;
}

/** The create form shown again after a refusal, with its message. */
export interface NewGroupForm {
  readonly displayName: string;
  readonly error?: string | undefined;
}

/** The groups screen: a name-prefix search, one keyset page (no count), and the create form. */
export function GroupsPage(props: {
  viewer: Viewer;
  list: GroupsListView;
  canWrite: boolean;
  form?: NewGroupForm | undefined;
}): JSX.Element {
  const { list } = props;
  const form = props.form ?? { displayName: '' };
  return (
    <Layout title="Groups" section="groups" viewer={props.viewer}>
      <h1>Groups</h1>
      <form method="get" action="/console/groups" role="search">
        <label for="q">Search by name prefix</label>
        <input
          id="q"
          name="q"
          type="search"
          value={list.q}
          autocomplete="off"
          hx-get="/console/groups"
          hx-trigger="input changed delay:300ms, search"
          hx-target="#results"
          hx-select="#results"
          hx-swap="outerHTML"
          hx-push-url="true"
        />
        <button type="submit">Search</button>
      </form>
      <section id="results" aria-labelledby="results-heading">
        <h2 id="results-heading">{list.q === '' ? 'All groups' : 'Matching groups'}</h2>
        <Notice kind="error" message={list.error} />
        {list.groups.length === 0 ? (
          <p>No group matches.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Groups, one page</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Members</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {list.groups.map((group) => (
                  <tr>
                    <td>
                      <a href={`/console/groups/${group.id}`} safe>
                        {group.displayName}
                      </a>
                    </td>
                    <td>{group.memberCount}</td>
                    <td>
                      <time datetime={group.updatedAt.toISOString()} safe>
                        {shortTime(group.updatedAt)}
                      </time>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager path="/console/groups" previous={list.previous} next={list.next} />
      </section>
      {props.canWrite ? (
        <>
          <h2>New group</h2>
          <form method="post" action="/console/groups">
            <CsrfField token={props.viewer.csrfToken} />
            <label for="display_name">Name</label>
            <input
              id="display_name"
              name="display_name"
              type="text"
              value={form.displayName}
              required
              aria-describedby={form.error ? 'display_name-error' : undefined}
              aria-invalid={form.error ? 'true' : undefined}
            />
            <FieldError id="display_name-error" message={form.error} />
            <button type="submit">Create group</button>
          </form>
        </>
      ) : (
        ''
      )}
    </Layout>
  );
}

export interface MembersView {
  readonly members: readonly Member[];
  readonly next?: string | undefined;
  readonly previous?: string | undefined;
}

/** What the page's forms hold when shown again after a refusal. */
export interface GroupForms {
  /** The name edit and its error. */
  readonly displayName?: string | undefined;
  readonly nameError?: string | undefined;
  /** The add-members text and what was wrong with it. */
  readonly add?: string | undefined;
  readonly addError?: string | undefined;
}

/** One group: its fields, rename (by version) and delete, its members page by page, add and remove. */
export function GroupPage(props: {
  viewer: Viewer;
  group: Group;
  members: MembersView;
  canWrite: boolean;
  forms?: GroupForms | undefined;
  notice?: string | undefined;
  error?: string | undefined;
}): JSX.Element {
  const { group, viewer, members } = props;
  const forms = props.forms ?? {};
  const base = `/console/groups/${group.id}`;
  return (
    <Layout title={group.displayName} section="groups" viewer={viewer}>
      <p>
        <a href="/console/groups">All groups</a>
      </p>
      <h1 safe>{group.displayName}</h1>
      <Notice kind="ok" message={props.notice} />
      <Notice kind="error" message={props.error} />
      <dl>
        <dt>Id</dt>
        <dd>
          <code safe>{group.id}</code>
        </dd>
        <dt>External id</dt>
        <dd safe>{group.externalId ?? '—'}</dd>
        <dt>Members</dt>
        <dd>{group.memberCount}</dd>
        <dt>Version</dt>
        <dd>{group.version}</dd>
        <dt>Updated</dt>
        <dd safe>{group.updatedAt.toISOString()}</dd>
      </dl>
      {props.canWrite ? (
        <>
          <h2>Rename</h2>
          <form method="post" action={base}>
            <CsrfField token={viewer.csrfToken} />
            {/* The version read with the page: the write is refused if someone changed the group since. */}
            <input type="hidden" name="version" value={String(group.version)} />
            <label for="display_name">Name</label>
            <input
              id="display_name"
              name="display_name"
              type="text"
              value={forms.displayName ?? group.displayName}
              required
              aria-describedby={forms.nameError ? 'display_name-error' : undefined}
              aria-invalid={forms.nameError ? 'true' : undefined}
            />
            <FieldError id="display_name-error" message={forms.nameError} />
            <button type="submit">Save</button>
          </form>
        </>
      ) : (
        <p class="muted">This key may read groups but not change them (it lacks groups:write).</p>
      )}
      <section aria-labelledby="members-heading">
        <h2 id="members-heading">Members</h2>
        {members.members.length === 0 ? (
          <p>No members{members.previous === undefined ? '' : ' on this page'}.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Members, one page</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Added</th>
                  {props.canWrite ? <th scope="col">Remove</th> : ''}
                </tr>
              </thead>
              <tbody>
                {members.members.map((member) => (
                  <tr>
                    <td>
                      <a href={`/console/users/${member.userId}`} safe>
                        {member.name}
                      </a>
                    </td>
                    <td safe>{member.email}</td>
                    <td>
                      <time datetime={member.addedAt.toISOString()} safe>
                        {shortTime(member.addedAt)}
                      </time>
                    </td>
                    {props.canWrite ? (
                      <td>
                        <form method="post" action={`${base}/members/${member.userId}/remove`} class="inline">
                          <CsrfField token={viewer.csrfToken} />
                          <button type="submit" class="link" aria-label={`Remove ${member.email}`}>
                            Remove
                          </button>
                        </form>
                      </td>
                    ) : (
                      ''
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager path={base} previous={members.previous} next={members.next} label="Member pages" />
      </section>
      {props.canWrite ? (
        <>
          <h2>Add members</h2>
          <form method="post" action={`${base}/members`}>
            <CsrfField token={viewer.csrfToken} />
            <label for="add">Emails or user ids, one a line</label>
            <textarea
              id="add"
              name="add"
              rows="4"
              required
              spellcheck="false"
              aria-describedby={forms.addError ? 'add-hint add-error' : 'add-hint'}
              aria-invalid={forms.addError ? 'true' : undefined}
              safe
            >
              {forms.add ?? ''}
            </textarea>
            <p id="add-hint" class="muted">
              At most {ADD_MEMBERS_MAX} a time. Users already in the group are left as they are.
            </p>
            <FieldError id="add-error" message={forms.addError} />
            <button type="submit">Add members</button>
          </form>
          <h2>Delete</h2>
          <form method="post" action={`${base}/delete`} data-confirm="Delete this group? Its users stay; only the group goes.">
            <CsrfField token={viewer.csrfToken} />
            <input type="hidden" name="version" value={String(group.version)} />
            <button type="submit" class="danger">
              Delete group
            </button>
          </form>
        </>
      ) : (
        ''
      )}
    </Layout>
  );
}

/** Lines one add-members form may hold: each email is one lookup, made while the person waits. */
export const ADD_MEMBERS_MAX = 100;

/** A rename that met a newer version of the group: both names side by side, as the user page's conflict does. */
export function GroupConflictPage(props: { viewer: Viewer; current: Group; mine: { displayName: string } }): JSX.Element {
  const { current } = props;
  return VersionConflictPage({
    viewer: props.viewer,
    section: 'groups',
    noun: 'group',
    name: current.displayName,
    href: `/console/groups/${current.id}`,
    version: current.version,
    edited: [{ label: 'Name', name: 'display_name', mine: props.mine.displayName }],
    current: [
      { label: 'Name', value: current.displayName },
      { label: 'Members', value: String(current.memberCount) },
    ],
  });
}

function shortTime(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}
