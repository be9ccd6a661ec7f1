// The console's templates: every text a user or key controls is escaped in text and attributes
// (@kitajs/html escapes attributes by default but not children; the templates mark each
// child `safe`, and `xss-scan` in npm run lint refuses one that is not), and the forms are
// labelled for screen readers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ApiKeyRecord } from '../../src/auth/service.js';
import type { User } from '../../src/users/model.js';
import { KeysPage } from '../../src/console/views/keys.js';
import { ErrorPage, SignInPage } from '../../src/console/views/pages.js';
import { ConflictPage, UserPage, UsersPage } from '../../src/console/views/users.js';
import type { Viewer } from '../../src/console/views/layout.js';
import { GroupConflictPage, GroupPage, GroupsPage } from '../../src/console/views/groups.js';
import { EventsPage } from '../../src/console/views/events.js';
import type { Group } from '../../src/groups/model.js';
import type { StoredEvent } from '../../src/events/model.js';

const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "' onmouseover='alert(1)",
  '</textarea><script>x</script>',
  '&lt;already&gt; & <b>bold</b>',
];

const viewer: Viewer = { canReadUsers: true, canManageKeys: true, canReadEvents: true, csrfToken: 'tok"en<', actor: 'key:<evil>' };

function user(name: string, email = 'a@example.com'): User {
  const at = new Date('2026-01-01T00:00:00Z');
  return {
    id: '0190a0a0-0000-7000-8000-000000000000',
    name,
    email,
    attributes: { note: name },
    version: 3,
    createdAt: at,
    updatedAt: at,
  } as unknown as User;
}

function group(name: string): Group {
  const at = new Date('2026-01-01T00:00:00Z');
  return {
    id: '0190a000-0000-7000-8000-0000000000aa',
    displayName: name,
    externalId: name,
    attributes: {},
    memberCount: 1,
    version: 3,
    createdAt: at,
    updatedAt: at,
  } as Group;
}

function event(text: string): StoredEvent {
  return {
    id: 'e',
    type: 'user.updated',
    sequence: 7,
    occurredAt: new Date('2026-01-01T00:00:00Z'),
    actor: text,
    requestId: text,
    subjectId: '0190a000-0000-7000-8000-0000000000bb',
    data: { changed: [text] },
  };
}

function key(name: string): ApiKeyRecord {
  return {
    id: 'abcdef0123456789',
    name,
    scopes: ['users:read'],
    secretHash: 'x',
    createdAt: new Date(),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
  };
}

/**
 * The markup's skeleton as a browser's tokenizer sees it: each tag and each attribute name, in
 * order. Text that is escaped right changes only text and attribute values, never this.
 */
function skeleton(html: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) break;
    const tag = /^<\/?(?:[a-zA-Z][a-zA-Z0-9-]*|!doctype)/.exec(html.slice(lt, lt + 40));
    if (tag === null) {
      i = lt + 1;
      continue;
    }
    out.push(tag[0].toLowerCase());
    let j = lt + tag[0].length;
    for (;;) {
      while (/\s/.test(html[j] ?? '')) j++;
      if (j >= html.length || html[j] === '>' || html.startsWith('/>', j)) break;
      const name = /^[^\s=>/]+/.exec(html.slice(j))?.[0] ?? html[j]!;
      out.push(`@${name}`);
      j += name.length;
      if (html[j] === '=') {
        j++;
        if (html[j] === '"' || html[j] === "'") j = html.indexOf(html[j]!, j + 1) + 1;
        else while (j < html.length && !/[\s>]/.test(html[j]!)) j++;
      }
    }
    i = j + 1;
  }
  return out;
}

/** `text` rendered everywhere leaves the same skeleton as a harmless word does: no tag opened, no attribute added. */
function assertInert(text: string): void {
  const expected = render('PLACEHOLDER');
  render(text).forEach(([where, html], index) => {
    assert.deepEqual(skeleton(html), skeleton(expected[index]![1]), `${where}: ${JSON.stringify(text)} changed the markup`);
  });
}

const render = (name: string): [string, string][] => [
  ['users list', UsersPage({ viewer, list: { q: name, users: [user(name, `${name.length}@example.com`)] } }) as string],
  ['user page', UserPage({ viewer, user: user(name), canWrite: true, notice: name, error: name }) as string],
  [
    'user page with form errors',
    UserPage({ viewer, user: user('ok'), canWrite: true, form: { name, email: name, errors: { name, email: name } } }) as string,
  ],
  ['conflict', ConflictPage({ viewer, current: user(name), mine: { name, email: name } }) as string],
  [
    'keys',
    KeysPage({ viewer, keys: [key(name)], created: { record: key(name), plaintext: 'rk_x' }, form: { name, scopes: [name] } }) as string,
  ],
  ['error', ErrorPage({ status: 400, title: name, detail: name, requestId: name, viewer }) as string],
  [
    'user page with groups and events',
    UserPage({ viewer, user: user(name), canWrite: true, groups: { groups: [group(name)], error: name }, events: [event(name)] }) as string,
  ],
  [
    'groups list',
    GroupsPage({
      viewer,
      canWrite: true,
      list: { q: name, groups: [group(name)], error: name },
      form: { displayName: name, error: name },
    }) as string,
  ],
  [
    'group page',
    GroupPage({
      viewer,
      group: group(name),
      canWrite: true,
      members: { members: [{ userId: '0190a000-0000-7000-8000-0000000000bb' as never, email: name, name, addedAt: new Date(0) }] },
      forms: { displayName: name, nameError: name, add: name, addError: name },
      notice: name,
      error: name,
    }) as string,
  ],
  ['group conflict', GroupConflictPage({ viewer, current: group(name), mine: { displayName: name } }) as string],
  ['events following', EventsPage({ viewer, view: { after: 0, type: '', follow: true, events: [event(name)] } }) as string],
  ['sign-in', SignInPage({ error: name }) as string],
];

test('hostile names, emails, queries and messages are escaped in text and in attributes', () => {
  for (const name of HOSTILE) assertInert(name);
  // And the check itself notices an unescaped child.
  assert.notDeepEqual(skeleton('<p><script>x</script></p>'), skeleton('<p>&lt;script>x&lt;/script></p>'));
});

test('any text is inert wherever the templates put it (property)', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => `${s}<i x="1">`),
      (text) => assertInert(text),
    ),
    { numRuns: 200 },
  );
});

test('the viewer’s CSRF token and actor are escaped too', () => {
  const html = UsersPage({ viewer, list: { q: '', users: [] } }) as string;
  assert.ok(html.includes('value="tok&#34;en<"'), 'the token in the hidden field cannot close its attribute');
  assert.ok(html.includes('key:&lt;evil>'));
});

test('every input of every form has a label, and errors are tied to their fields', () => {
  const pages = [
    SignInPage({ error: 'bad' }) as string,
    UsersPage({ viewer, list: { q: '', users: [] } }) as string,
    UserPage({ viewer, user: user('x'), canWrite: true, form: { name: '', email: '', errors: { name: 'required' } } }) as string,
    KeysPage({ viewer, keys: [key('k')], created: { record: key('k'), plaintext: 'rk_x' } }) as string,
  ];
  for (const html of pages) {
    const labelled = new Set([...html.matchAll(/<label for="([^"]+)"/g)].map((m) => m[1]));
    for (const input of html.matchAll(/<input ([^>]*)>/g)) {
      const attrs = input[1]!;
      if (/type="hidden"/.test(attrs)) continue;
      const id = /\bid="([^"]+)"/.exec(attrs)?.[1];
      // A checkbox sits inside its label instead.
      if (/type="checkbox"/.test(attrs)) continue;
      assert.ok(id !== undefined && labelled.has(id), `input without a label: <input ${attrs}>`);
    }
  }
  const withError = pages[2]!;
  assert.match(withError, /aria-describedby="name-error"/);
  assert.match(withError, /id="name-error"/);
  assert.match(withError, /aria-invalid="true"/);
});

test('the page is English, has a viewport for 360 px screens, a skip link, landmarks and one h1', () => {
  const html = UsersPage({ viewer, list: { q: '', users: [user('x')] } }) as string;
  assert.match(html, /^<!doctype html><html lang="en">/);
  assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1"\/>/);
  assert.match(html, /<a class="skip" href="#main">/);
  assert.match(html, /<nav aria-label="Main">/);
  assert.match(html, /<main id="main"/);
  assert.equal(html.match(/<h1[ >]/g)?.length, 1);
  assert.match(html, /<a href="\/console\/users" aria-current="page">/);
});

test('the nav shows only what the key’s scopes open', () => {
  const readOnly = UsersPage({ viewer: { ...viewer, canManageKeys: false }, list: { q: '', users: [] } }) as string;
  assert.ok(!readOnly.includes('/console/keys'));
  const page = UserPage({ viewer, user: user('x'), canWrite: false }) as string;
  assert.ok(!page.includes('Delete user'), 'no delete without users:write');
  assert.ok(!page.includes('name="version"'), 'no edit form without users:write');
});

test('no inline script or style: scripts and the stylesheet are files from the console', () => {
  const html = UsersPage({ viewer, list: { q: '', users: [] } }) as string;
  for (const m of html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)) {
    assert.match(m[1]!, /src="\/console\/assets\//);
    assert.equal(m[2], '', 'a script element carries no inline code');
  }
  assert.ok(!/<style|\sstyle="|\son[a-z]+="/.test(html), 'no style element, style attribute or event handler attribute');
});
