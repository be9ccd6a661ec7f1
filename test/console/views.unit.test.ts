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
import { assertInert, HOSTILE, skeleton, viewer } from './markup.js';
import { ImportsPage, JobPage } from '../../src/console/views/imports.js';
import { StatusPage } from '../../src/console/views/status.js';
import type { ImportJob } from '../../src/imports/jobs/job.js';
import { GroupConflictPage, GroupPage, GroupsPage } from '../../src/console/views/groups.js';
import { EventsPage } from '../../src/console/views/events.js';
import type { Group } from '../../src/groups/model.js';
import type { StoredEvent } from '../../src/events/model.js';

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

function job(text: string, status: ImportJob['status'] = 'running'): ImportJob {
  const at = new Date('2026-01-01T00:00:00Z');
  return {
    id: '0190a0a0-0000-7000-8000-000000000001',
    status,
    format: 'csv',
    mode: 'create',
    events: 'per-user',
    dryRun: false,
    options: {},
    source: 'upload',
    totalBytes: 1000,
    actor: text,
    counts: { read: 10, created: 8, updated: 0, skipped: 0, failed: 2 },
    errorsKept: 2,
    committedLine: 11,
    error: text,
    createdAt: at,
    updatedAt: at,
  };
}

const METRICS = {
  requests: { total: 1234, clientErrors: 5, serverErrors: 1 },
  latency: { count: 1234, meanMs: 2.5, p50Ms: 1, p99Ms: 25 },
  endpointsDue: 3,
  deliveries: { success: 40, retryable: 2 },
  importsRunning: 1,
};

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
  [
    'imports',
    ImportsPage({ viewer, view: { jobs: [job(name)], olderBefore: job(name).id, paged: true, error: name, maxBytes: 1 } }) as string,
  ],
  [
    'import job',
    JobPage({
      viewer,
      view: {
        job: job(name),
        live: { bytes: 500, read: 10, failed: 2 },
        errors: [
          { line: 3, field: 'email', reason: name },
          { line: 4, reason: name },
        ],
        errorsAfter: 2,
        nextErrorsAfter: 4,
        notice: name,
      },
    }) as string,
  ],
  [
    'status',
    StatusPage({
      viewer,
      view: {
        version: name,
        commit: name,
        dialect: 'sqlite',
        readiness: 'ready',
        metrics: { ...METRICS, deliveries: { [name.length > 3 ? 'a' : 'b']: 1 } },
      },
    }) as string,
  ],
];

test('hostile names, emails, queries and messages are escaped in text and in attributes', () => {
  for (const name of HOSTILE) assertInert(render, name);
  // And the check itself notices an unescaped child.
  assert.notDeepEqual(skeleton('<p><script>x</script></p>'), skeleton('<p>&lt;script>x&lt;/script></p>'));
});

test('any text is inert wherever the templates put it (property)', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => `${s}<i x="1">`),
      (text) => assertInert(render, text),
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
    ImportsPage({ viewer, view: { jobs: [job('x')], paged: false, maxBytes: 1024 } }) as string,
    JobPage({ viewer, view: { job: job('x'), live: { bytes: 1, read: 1, failed: 0 }, errors: [], errorsAfter: 0 } }) as string,
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

test('the imports screens: the token precedes the file, a running job polls its fragment and offers cancel, a finished one neither', () => {
  const list = ImportsPage({ viewer, view: { jobs: [], paged: false, maxBytes: 64 * 1024 * 1024 } }) as string;
  assert.match(list, /enctype="multipart\/form-data"/);
  assert.ok(list.indexOf('name="_csrf"') < list.indexOf('type="file"'), 'the CSRF field comes before the file part');
  assert.match(list, /At most 64\.0 MiB/);
  const running = JobPage({ viewer, view: { job: job('x'), errors: [], errorsAfter: 0 } }) as string;
  assert.match(running, /hx-get="\/console\/imports\/0190a0a0-0000-7000-8000-000000000001\/progress"/);
  assert.match(running, /hx-trigger="every 1s"/);
  assert.match(running, /Cancel the import/);
  const done = JobPage({ viewer, view: { job: job('x', 'succeeded'), errors: [], errorsAfter: 0 } }) as string;
  assert.ok(!done.includes('hx-trigger'), 'a finished job is not polled');
  assert.ok(!done.includes('Cancel the import'));
  assert.match(done, /No row errors\./);
});

test('the status screen shows numbers, the dialect by name, and readiness that is not ready stands out', () => {
  const html = StatusPage({
    viewer,
    view: { version: '1.2.3', commit: 'abc', dialect: 'postgres', readiness: 'database unavailable', metrics: METRICS },
  }) as string;
  assert.match(html, /<td>PostgreSQL<\/td>/);
  assert.match(html, /<strong class="field-error">database unavailable<\/strong>/);
  assert.match(html, /<td>1,234<\/td>/);
  assert.match(html, /≤ 25 ms/);
  assert.match(html, /Delivery attempts: retryable<\/th><td>2<\/td>/);
  const idle = StatusPage({
    viewer,
    view: {
      version: '1',
      commit: 'c',
      dialect: 'sqlite',
      readiness: 'ready',
      metrics: { ...METRICS, latency: { count: 0, meanMs: null, p50Ms: null, p99Ms: null }, deliveries: {} },
    },
  }) as string;
  assert.match(idle, /no requests yet/);
});
