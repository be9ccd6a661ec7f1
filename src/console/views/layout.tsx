import type { Children } from '@kitajs/html';
import { HTMX_PATH, ICON_PATH, SCRIPT_PATH, STYLES_PATH } from '../assets/paths.js';

/** What the layout needs to know of the signed-in person (absent on the sign-in page). */
export interface Viewer {
  /** Which sections the key's scopes open; the nav shows only those. */
  readonly canReadUsers: boolean;
  readonly canManageKeys: boolean;
  readonly canReadEvents: boolean;
  readonly canManageWebhooks: boolean;
  readonly canImport: boolean;
  /** groups:read (optional: absent reads as false). */
  readonly canReadGroups?: boolean;
  readonly csrfToken: string;
  /** The key the console acts as, e.g. `key:0123…`. */
  readonly actor: string;
}

export type Section = 'users' | 'groups' | 'keys' | 'events' | 'webhooks' | 'imports' | 'status' | 'home' | 'sign-in' | 'error';

/**
 * htmx with what a strict CSP needs: no inline indicator styles, no eval, no script tags from
 * swapped content. Read from this meta tag, so no inline script configures it.
 */
const HTMX_CONFIG = JSON.stringify({ includeIndicatorStyles: false, allowEval: false, allowScriptTags: false, historyCacheSize: 0 });

export function Layout(props: { title: string; section: Section; viewer?: Viewer | undefined; children: Children }): JSX.Element {
  const { viewer } = props;
  return (
    <>
      {'<!doctype html>'}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="htmx-config" content={HTMX_CONFIG} />
          <title safe>{`${props.title} · Roster console`}</title>
          <link rel="icon" href={ICON_PATH} type="image/svg+xml" />
          <link rel="stylesheet" href={STYLES_PATH} />
          <script src={HTMX_PATH} defer></script>
          <script src={SCRIPT_PATH} type="module"></script>
        </head>
        {/* Every htmx request carries the CSRF token as a header; plain forms carry it as a field. */}
        <body hx-headers={viewer ? JSON.stringify({ 'x-csrf-token': viewer.csrfToken }) : undefined}>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="top">
            <a class="brand" href="/console">
              Roster console
            </a>
            {viewer ? <Nav viewer={viewer} section={props.section} /> : ''}
          </header>
          <main id="main" tabindex="-1">
            {props.children}
          </main>
          <div id="announcer" class="visually-hidden" aria-live="polite"></div>
        </body>
      </html>
    </>
  );
}

function Nav(props: { viewer: Viewer; section: Section }): JSX.Element {
  const { viewer, section } = props;
  const current = (s: Section) => (section === s ? 'page' : undefined);
  return (
    <nav aria-label="Main">
      <ul>
        {viewer.canReadUsers ? (
          <li>
            <a href="/console/users" aria-current={current('users')}>
              Users
            </a>
          </li>
        ) : (
          ''
        )}
        {viewer.canReadGroups ? (
          <li>
            <a href="/console/groups" aria-current={current('groups')}>
              Groups
            </a>
          </li>
        ) : (
          ''
        )}
        {viewer.canReadEvents ? (
          <li>
            <a href="/console/events" aria-current={current('events')}>
              Events
            </a>
          </li>
        ) : (
          ''
        )}
        {viewer.canManageWebhooks ? (
          <li>
            <a href="/console/webhooks" aria-current={current('webhooks')}>
              Webhooks
            </a>
          </li>
        ) : (
          ''
        )}
        {viewer.canManageKeys ? (
          <li>
            <a href="/console/keys" aria-current={current('keys')}>
              API keys
            </a>
          </li>
        ) : (
          ''
        )}
        {viewer.canImport ? (
          <li>
            <a href="/console/imports" aria-current={current('imports')}>
              Imports
            </a>
          </li>
        ) : (
          ''
        )}
        <li>
          <a href="/console/status" aria-current={current('status')}>
            Status
          </a>
        </li>
        <li>
          <form method="post" action="/console/sign-out" class="inline">
            <CsrfField token={viewer.csrfToken} />
            <button type="submit" class="link">
              Sign out
            </button>
          </form>
        </li>
      </ul>
      <p class="actor">
        Signed in as <code safe>{viewer.actor}</code>
      </p>
    </nav>
  );
}

/** The synchronizer token as a form field, for forms that work without JavaScript. */
export function CsrfField(props: { token: string }): JSX.Element {
  return <input type="hidden" name="_csrf" value={props.token} />;
}

/** A field's error, linked from its input by aria-describedby. */
export function FieldError(props: { id: string; message: string | undefined }): JSX.Element {
  return props.message === undefined ? (
    ''
  ) : (
    <p class="field-error" id={props.id} safe>
      {props.message}
    </p>
  );
}

/** A status line that screen readers announce. */
export function Notice(props: { kind: 'ok' | 'error'; message: string | undefined }): JSX.Element {
  if (props.message === undefined) return '';
  return (
    <p class={`notice ${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'} safe>
      {props.message}
    </p>
  );
}
