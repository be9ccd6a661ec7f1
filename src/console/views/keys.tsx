import type { ApiKeyRecord } from '../../auth/service.js';
import { SCOPES } from '../../auth/model.js';
import { CsrfField, FieldError, Layout, Notice, type Viewer } from './layout.js';

export interface KeyForm {
  readonly name: string;
  readonly scopes: readonly string[];
  readonly errors?: Readonly<Partial<Record<'name' | 'scopes' | 'expires', string>>>;
}

/** The API keys screen: a just-created key's secret (shown this once), the create form, and the list with revoke. */
export function KeysPage(props: {
  viewer: Viewer;
  keys: readonly ApiKeyRecord[];
  created?: { record: ApiKeyRecord; plaintext: string } | undefined;
  form?: KeyForm | undefined;
  notice?: string | undefined;
}): JSX.Element {
  const { viewer, created } = props;
  const form = props.form ?? { name: '', scopes: [] };
  const errors = form.errors ?? {};
  return (
    <Layout title="API keys" section="keys" viewer={viewer}>
      <h1>API keys</h1>
      <Notice kind="ok" message={props.notice} />
      {created === undefined ? (
        ''
      ) : (
        <section class="card" aria-labelledby="created-heading">
          <h2 id="created-heading" safe>
            {`Key “${created.record.name}” created`}
          </h2>
          <p role="status">Copy the key now: it is shown this once and cannot be shown again.</p>
          <label for="new-secret">The new key</label>
          <input id="new-secret" class="secret" type="text" readonly value={created.plaintext} />
          <button type="button" class="secondary" data-copy-target="new-secret" hidden>
            Copy the key
          </button>
        </section>
      )}
      <h2>Create a key</h2>
      <form method="post" action="/console/keys">
        <CsrfField token={viewer.csrfToken} />
        <label for="key-name">Name</label>
        <input
          id="key-name"
          name="name"
          type="text"
          value={form.name}
          required
          maxlength="100"
          aria-describedby={errors.name ? 'key-name-error' : undefined}
        />
        <FieldError id="key-name-error" message={errors.name} />
        <fieldset aria-describedby={errors.scopes ? 'scopes-error' : undefined}>
          <legend>Scopes</legend>
          {SCOPES.map((scope) => (
            <label>
              <input type="checkbox" name="scopes" value={scope} checked={form.scopes.includes(scope)} />
              <span>{scope}</span>
            </label>
          ))}
        </fieldset>
        <FieldError id="scopes-error" message={errors.scopes} />
        <label for="key-expires">Expires after (days, optional)</label>
        <input
          id="key-expires"
          name="expires_in_days"
          type="number"
          min="1"
          max="3650"
          aria-describedby={errors.expires ? 'key-expires-error' : undefined}
        />
        <FieldError id="key-expires-error" message={errors.expires} />
        <button type="submit">Create key</button>
      </form>
      <h2>Keys</h2>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Scopes</th>
              <th scope="col">State</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {props.keys.map((key) => (
              <tr>
                <td safe>{key.name}</td>
                <td>
                  <code safe>{key.id}</code>
                </td>
                <td safe>{key.scopes.join(', ')}</td>
                <td safe>{keyState(key)}</td>
                <td>
                  {key.revokedAt === null ? (
                    <form
                      method="post"
                      action={`/console/keys/${key.id}/revoke`}
                      data-confirm="Revoke this key? Every caller using it is refused from now on."
                    >
                      <CsrfField token={viewer.csrfToken} />
                      <button type="submit" class="danger" aria-label={`Revoke key ${key.name}`}>
                        Revoke
                      </button>
                    </form>
                  ) : (
                    ''
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>
  );
}

function keyState(key: ApiKeyRecord): string {
  if (key.revokedAt !== null) return `revoked ${key.revokedAt.toISOString()}`;
  if (key.expiresAt !== null) return key.expiresAt <= new Date() ? 'expired' : `active, expires ${key.expiresAt.toISOString()}`;
  return 'active';
}
