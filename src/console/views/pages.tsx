import { Layout, Notice, FieldError, type Viewer } from './layout.js';

/** The sign-in form: an API key, exchanged for a session. */
export function SignInPage(props: { error?: string | undefined }): JSX.Element {
  return (
    <Layout title="Sign in" section="sign-in">
      <h1>Sign in</h1>
      <p>Paste an API key. The console acts with that key's scopes and shows only what they allow.</p>
      <Notice kind="error" message={props.error} />
      <form method="post" action="/console/sign-in">
        <label for="key">API key</label>
        <input
          id="key"
          name="key"
          type="password"
          autocomplete="off"
          required
          spellcheck="false"
          aria-describedby={props.error === undefined ? 'key-hint' : 'key-hint sign-in-error'}
        />
        <p id="key-hint" class="muted">
          It starts with <code>rk_</code>. Only a hash of the session is kept; the key itself is not stored.
        </p>
        <FieldError id="sign-in-error" message={props.error} />
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}

/** After sign-in: what this key may open. */
export function HomePage(props: { viewer: Viewer }): JSX.Element {
  const { viewer } = props;
  return (
    <Layout title="Home" section="home" viewer={viewer}>
      <h1>Roster console</h1>
      {viewer.canReadUsers ||
      viewer.canReadGroups ||
      viewer.canManageKeys ||
      viewer.canReadEvents ||
      viewer.canManageWebhooks ||
      viewer.canImport ? (
        <ul>
          {viewer.canReadUsers ? (
            <li>
              <a href="/console/users">Users</a>: search, view, edit and delete.
            </li>
          ) : (
            ''
          )}
          {viewer.canReadGroups ? (
            <li>
              <a href="/console/groups">Groups</a>: search, create, rename, members.
            </li>
          ) : (
            ''
          )}
          {viewer.canReadEvents ? (
            <li>
              <a href="/console/events">Events</a>: the change feed, by type, followed live.
            </li>
          ) : (
            ''
          )}
          {viewer.canManageWebhooks ? (
            <li>
              <a href="/console/webhooks">Webhooks</a>: endpoints, their delivery log, replays.
            </li>
          ) : (
            ''
          )}
          {viewer.canManageKeys ? (
            <li>
              <a href="/console/keys">API keys</a>: create and revoke.
            </li>
          ) : (
            ''
          )}
        </ul>
      ) : (
        <p>This key's scopes open none of the console's screens.</p>
      )}
    </Layout>
  );
}

/** Any failure, as a page: its title, what to do, and the request id to quote; never a stack. */
export function ErrorPage(props: {
  status: number;
  title: string;
  detail?: string | undefined;
  requestId: string;
  viewer?: Viewer | undefined;
}): JSX.Element {
  return (
    <Layout title={props.title} section="error" viewer={props.viewer}>
      <h1 safe>{props.title}</h1>
      {props.detail === undefined ? '' : <p safe>{props.detail}</p>}
      <p class="muted">
        Status {props.status}. Request id <code safe>{props.requestId}</code>.
      </p>
      <p>
        <a href="/console">Back to the console</a>
      </p>
    </Layout>
  );
}
