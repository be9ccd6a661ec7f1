// The console's session, CSRF and CSP rules over the real app on a real SQLite file, without a
// browser: cookie flags, sign-in and its rate limit, CSRF token and Origin checks on every
// state-changing request, idle expiry, revocation, sign-out, scopes, and a session used on a
// second instance of the same database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appOver, buildTestApp, type TestApp } from '../helpers/app.js';
import { cookieOf, FORM, session, signIn } from './session.js';
import { sessionId } from '../../src/console/sessions.js';
import { CONSOLE_CSP } from '../../src/console/plugin.js';
import { HTMX_PATH, SCRIPT_PATH, STYLES_PATH } from '../../src/console/assets/paths.js';
import type { Scope } from '../../src/auth/model.js';
import { DOCUMENT_SECURITY_HEADERS } from '../../src/http/security-headers.js';

describe('console sessions, CSRF and CSP', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp();
  });
  after(async () => t?.close());
  const sessionRows = () => t.testDb.database.db.selectFrom('console_sessions').selectAll().execute();

  test('pages carry the strict CSP, no-store and no inline script; assets are files from Roster, cached for good', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/console/sign-in' });
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers['content-security-policy'], CONSOLE_CSP);
    assert.match(CONSOLE_CSP, /script-src 'self'(;|$)/);
    assert.ok(!CONSOLE_CSP.includes('unsafe'), 'no unsafe-inline or unsafe-eval');
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.equal(page.headers['x-frame-options'], 'SAMEORIGIN');
    // A page is an HTML document: it gets the headers the JSON API leaves out; its own referrer policy wins.
    for (const [name, value] of Object.entries(DOCUMENT_SECURITY_HEADERS)) {
      assert.equal(page.headers[name], name === 'referrer-policy' ? 'same-origin' : value, name);
    }
    for (const [path, type] of [
      [HTMX_PATH, 'text/javascript'],
      [SCRIPT_PATH, 'text/javascript'],
      [STYLES_PATH, 'text/css'],
    ] as const) {
      assert.ok(page.body.includes(path), `the page loads ${path}`);
      const asset = await t.app.inject({ method: 'GET', url: path });
      assert.equal(asset.statusCode, 200, path);
      assert.ok(asset.headers['content-type']?.toString().startsWith(type), path);
      assert.match(String(asset.headers['cache-control']), /immutable/);
    }
    const htmx = await t.app.inject({ method: 'GET', url: HTMX_PATH });
    assert.match(htmx.body, /htmx/);
  });

  test('unknown console URLs and failures answer an HTML page, never JSON or a stack', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/console/no-such-page' });
    assert.equal(missing.statusCode, 404);
    assert.match(String(missing.headers['content-type']), /^text\/html/);
    assert.equal(missing.headers['content-security-policy'], CONSOLE_CSP);
    const { cookie } = await session(t.app, t.auth.adminKey);
    const malformed = await t.app.inject({ method: 'GET', url: '/console/users/not-an-id', headers: { cookie } });
    assert.equal(malformed.statusCode, 400);
    assert.match(malformed.body, /Request id/);
    assert.ok(!/at .*\.js:\d+/.test(malformed.body), 'no stack trace');
  });

  test('without a session every signed-in page redirects to the sign-in page (htmx: HX-Redirect)', async () => {
    for (const url of ['/console', '/console/users', '/console/keys', '/console/users/0190a0a0-0000-7000-8000-000000000000']) {
      const response = await t.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 303, url);
      assert.equal(response.headers.location, '/console/sign-in');
    }
    const htmx = await t.app.inject({ method: 'GET', url: '/console/users', headers: { 'hx-request': 'true' } });
    assert.equal(htmx.statusCode, 204);
    assert.equal(htmx.headers['hx-redirect'], '/console/sign-in');
    const bogus = await t.app.inject({ method: 'GET', url: '/console/users', headers: { cookie: `roster_console=${'a'.repeat(43)}` } });
    assert.equal(bogus.statusCode, 303);
  });

  test('sign-in sets an HttpOnly, SameSite=Strict cookie on /console; Secure when the proxy says https', async () => {
    const response = await signIn(t.app, t.auth.adminKey);
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, '/console');
    const header = String(response.headers['set-cookie']);
    assert.match(header, /^roster_console=[A-Za-z0-9_-]{43}; /);
    for (const flag of ['Path=/console', 'HttpOnly', 'SameSite=Strict', 'Max-Age=43200'])
      assert.ok(header.includes(flag), `${flag} in ${header}`);
    assert.ok(!header.includes('Secure'), 'plain http: no Secure (the browser would drop it)');
    const token = /roster_console=([^;]+)/.exec(header)![1]!;
    const rows = await sessionRows();
    assert.ok(rows.some((r) => r.id === sessionId(token)));
    assert.ok(!rows.some((r) => r.id === token), 'the token is not stored');

    const behindTls = await buildTestApp(undefined, { trustProxy: ['127.0.0.1'] });
    try {
      const secure = await signIn(
        behindTls.app,
        behindTls.auth.adminKey,
        { origin: 'https://localhost:80', 'x-forwarded-proto': 'https' },
        '127.0.0.1',
      );
      assert.equal(secure.statusCode, 303, secure.body);
      assert.match(String(secure.headers['set-cookie']), /; Secure$/);
    } finally {
      await behindTls.close();
    }
  });

  test('signing in again replaces the session the browser had', async () => {
    const first = await session(t.app, t.auth.adminKey);
    const again = await signIn(t.app, t.auth.adminKey, { cookie: first.cookie });
    assert.equal(again.statusCode, 303);
    assert.notEqual(cookieOf(again), first.cookie);
    assert.equal((await sessionRows()).filter((r) => r.id === sessionId(first.cookie.split('=')[1]!)).length, 0);
    assert.equal((await t.app.inject({ method: 'GET', url: '/console', headers: { cookie: first.cookie } })).statusCode, 303);
  });

  test('a wrong key is refused with one message for every reason, and no cookie', async () => {
    const revoked = await t.auth.keyWith(['admin']);
    await t.auth.apiKeys.revoke(revoked.id);
    for (const key of ['', 'nonsense', `${t.auth.adminKey.slice(0, -2)}xx`, revoked.key]) {
      const response = await signIn(t.app, key);
      assert.equal(response.statusCode, 401, key);
      assert.equal(response.headers['set-cookie'], undefined);
      assert.match(response.body, /That key is not valid: it is unknown, revoked, expired or mistyped\./);
    }
  });

  test('every state-changing request needs the session’s CSRF token (field or header) and this site’s Origin', async () => {
    const { cookie, csrf } = await session(t.app, t.auth.adminKey);
    const post = (headers: Record<string, string>, payload: string) =>
      t.app.inject({ method: 'POST', url: '/console/keys', headers: { cookie, ...headers }, payload });
    const body = 'name=csrf-test&scopes=users%3Aread';
    const cases: [string, Record<string, string>, string][] = [
      ['no token', FORM, body],
      ['a wrong token', FORM, `${body}&_csrf=${csrf.slice(0, -2)}AA`],
      ['another session’s token', FORM, `${body}&_csrf=${(await session(t.app, t.auth.adminKey)).csrf}`],
      ['another Origin', { ...FORM, origin: 'https://evil.example' }, `${body}&_csrf=${csrf}`],
      ['no Origin', { 'content-type': FORM['content-type'] }, `${body}&_csrf=${csrf}`],
    ];
    for (const [what, headers, payload] of cases) {
      const response = await post(headers, payload);
      assert.equal(response.statusCode, 403, what);
      assert.match(response.body, /The request was refused/, what);
    }
    assert.equal((await t.auth.apiKeys.list()).filter((k) => k.name === 'csrf-test').length, 0, 'nothing was created');
    assert.equal((await post(FORM, `${body}&_csrf=${csrf}`)).statusCode, 201, 'the form field');
    assert.equal((await post({ ...FORM, 'x-csrf-token': csrf }, body)).statusCode, 201, 'the htmx header');
    // Sign-out is state-changing too: a cross-site page cannot sign anyone out.
    const out = await t.app.inject({ method: 'POST', url: '/console/sign-out', headers: { cookie, ...FORM }, payload: '' });
    assert.equal(out.statusCode, 403);
    // The sign-in form has no session yet: its guard is the Origin.
    const crossSiteSignIn = await signIn(t.app, t.auth.adminKey, { origin: 'https://evil.example' });
    assert.equal(crossSiteSignIn.statusCode, 403);
  });

  test('an idle-expired session redirects to sign-in and its row is deleted', async () => {
    const { cookie } = await session(t.app, t.auth.adminKey);
    const id = sessionId(cookie.split('=')[1]!);
    const past = t.testDb.database.dialect.toTime(new Date(Date.now() - 1000));
    await t.testDb.database.db.updateTable('console_sessions').set({ idle_expires_at: past }).where('id', '=', id).execute();
    const response = await t.app.inject({ method: 'GET', url: '/console/users', headers: { cookie } });
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, '/console/sign-in');
    assert.equal((await sessionRows()).filter((r) => r.id === id).length, 0);
  });

  test('revoking the key ends its sessions at the next request', async () => {
    const { id, key } = await t.auth.keyWith(['users:read']);
    const { cookie } = await session(t.app, key);
    assert.equal((await t.app.inject({ method: 'GET', url: '/console/users', headers: { cookie } })).statusCode, 200);
    await t.auth.apiKeys.revoke(id);
    const response = await t.app.inject({ method: 'GET', url: '/console/users', headers: { cookie } });
    assert.equal(response.statusCode, 303);
    assert.equal((await sessionRows()).filter((r) => r.key_id === id).length, 0, 'the session went with the key');
  });

  test('sign-out deletes the session row and clears the cookie; the old cookie no longer works', async () => {
    const { cookie, csrf } = await session(t.app, t.auth.adminKey);
    const id = sessionId(cookie.split('=')[1]!);
    const out = await t.app.inject({ method: 'POST', url: '/console/sign-out', headers: { cookie, ...FORM }, payload: `_csrf=${csrf}` });
    assert.equal(out.statusCode, 303);
    assert.equal(out.headers.location, '/console/sign-in');
    assert.match(String(out.headers['set-cookie']), /^roster_console=; Path=\/console; Max-Age=0; HttpOnly; SameSite=Strict/);
    assert.equal((await sessionRows()).filter((r) => r.id === id).length, 0);
    assert.equal((await t.app.inject({ method: 'GET', url: '/console', headers: { cookie } })).statusCode, 303);
  });

  test('the console shows and allows only what the key’s scopes allow', async () => {
    const cases: [Scope[], Record<string, number>][] = [
      [['users:read'], { '/console/users': 200, '/console/keys': 403 }],
      [['events:read'], { '/console/users': 403, '/console/keys': 403, '/console': 200 }],
      [['users:write'], { '/console/users': 403 }],
    ];
    for (const [scopes, expected] of cases) {
      const { key } = await t.auth.keyWith(scopes);
      const { cookie } = await session(t.app, key);
      for (const [url, status] of Object.entries(expected)) {
        const response = await t.app.inject({ method: 'GET', url, headers: { cookie } });
        assert.equal(response.statusCode, status, `${scopes.join(',')} ${url}`);
      }
    }
    const { key } = await t.auth.keyWith(['users:read']);
    const { cookie, csrf } = await session(t.app, key);
    const home = await t.app.inject({ method: 'GET', url: '/console', headers: { cookie } });
    assert.ok(home.body.includes('href="/console/users"'));
    assert.ok(!home.body.includes('href="/console/keys"'), 'no keys link without admin');
    const { user } = await t.users.create({ email: 'scoped@example.com', name: 'Scoped' }, undefined);
    const page = await t.app.inject({ method: 'GET', url: `/console/users/${user.id}`, headers: { cookie } });
    assert.ok(!page.body.includes('Delete user'));
    const edit = await t.app.inject({
      method: 'POST',
      url: `/console/users/${user.id}`,
      headers: { cookie, ...FORM },
      payload: `_csrf=${csrf}&version=1&name=Changed&email=scoped%40example.com`,
    });
    assert.equal(edit.statusCode, 403);
    assert.equal((await t.users.get(user.id)).name, 'Scoped');
  });

  test('delete refuses a stale version (409, the user kept) and deletes the current one', async () => {
    const { cookie, csrf } = await session(t.app, t.auth.adminKey);
    const { user } = await t.users.create({ email: 'doomed@example.com', name: 'Doomed' }, undefined);
    await t.users.update(user.id, { name: 'Doomed Again' }, undefined);
    const remove = (version: number) =>
      t.app.inject({
        method: 'POST',
        url: `/console/users/${user.id}/delete`,
        headers: { cookie, ...FORM },
        payload: `_csrf=${csrf}&version=${version}`,
      });
    const stale = await remove(1);
    assert.equal(stale.statusCode, 409);
    assert.match(stale.body, /Not deleted: someone changed this user/);
    assert.equal((await t.users.get(user.id)).name, 'Doomed Again');
    const current = await remove(2);
    assert.equal(current.statusCode, 303);
    assert.equal(current.headers.location, '/console/users');
    const gone = await t.app.inject({ method: 'GET', url: `/console/users/${user.id}`, headers: { cookie } });
    assert.equal(gone.statusCode, 404);
    assert.match(gone.body, /The user does not exist/);
  });

  test('an edit the rules refuse comes back with the fields’ messages and nothing stored', async () => {
    const { cookie, csrf } = await session(t.app, t.auth.adminKey);
    const { user } = await t.users.create({ email: 'rules@example.com', name: 'Rules' }, undefined);
    await t.users.create({ email: 'taken@example.com', name: 'Taken' }, undefined);
    const edit = (fields: string) =>
      t.app.inject({
        method: 'POST',
        url: `/console/users/${user.id}`,
        headers: { cookie, ...FORM },
        payload: `_csrf=${csrf}&version=1&${fields}`,
      });
    const invalid = await edit('name=&email=not-an-email');
    assert.equal(invalid.statusCode, 400);
    assert.match(invalid.body, /id="name-error"/);
    assert.match(invalid.body, /id="email-error"/);
    const taken = await edit('name=Rules&email=TAKEN%40example.com');
    assert.equal(taken.statusCode, 400);
    assert.match(taken.body, /Another user has this email\./);
    assert.equal((await t.users.get(user.id)).version, 1);
    const keyless = await t.app.inject({
      method: 'POST',
      url: '/console/keys',
      headers: { cookie, ...FORM },
      payload: `_csrf=${csrf}&name=&expires_in_days=0`,
    });
    assert.equal(keyless.statusCode, 400);
    assert.match(keyless.body, /whole number of days/);
  });

  test('the events screen lists the feed by type, pages it, and polls while following (events:read)', async () => {
    const { key } = await t.auth.keyWith(['events:read']);
    const { cookie } = await session(t.app, key);
    const { user } = await t.users.create({ email: 'evented@example.com', name: '<b>Evented</b>' }, undefined);
    await t.users.update(user.id, { name: 'Evented' }, undefined);
    const get = (query: string) => t.app.inject({ method: 'GET', url: `/console/events?${query}`, headers: { cookie } });
    const all = await get('after=0');
    assert.equal(all.statusCode, 200);
    assert.ok(all.body.includes(`href="/console/users/${user.id}"`));
    assert.match(all.body, /user\.updated/);
    assert.ok(!all.body.includes('<b>Evented'), 'event data never reaches the page unescaped');
    const updates = await get('after=0&type=user.updated');
    assert.ok(!updates.body.includes('<td>user.created</td>'));
    assert.match(updates.body, /<td>user\.updated<\/td>/);
    const following = await get('after=0&follow=1');
    assert.match(following.body, /hx-trigger="every 2s"/);
    assert.ok(!(await get('after=0')).body.includes('hx-trigger="every 2s"'), 'no polling unless asked');
    assert.equal((await get('after=-1&type=nonsense')).statusCode, 200, 'bad filters fall back to the whole feed');
    const { key: usersOnly } = await t.auth.keyWith(['users:read']);
    const other = await session(t.app, usersOnly);
    assert.equal((await t.app.inject({ method: 'GET', url: '/console/events', headers: { cookie: other.cookie } })).statusCode, 403);
  });

  test('a session started on one instance works on another over the same database', async () => {
    const { cookie } = await session(t.app, t.auth.adminKey);
    const other = await appOver(t.testDb.database);
    try {
      const response = await other.inject({ method: 'GET', url: '/console/users', headers: { cookie } });
      assert.equal(response.statusCode, 200);
    } finally {
      await other.close();
    }
  });

  test('sign-in attempts are limited per client IP, apart from the API’s budget', async () => {
    const limited = await buildTestApp();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await signIn(limited.app, 'rk_wrong', {}, '10.9.9.9')).statusCode);
      assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
      assert.deepEqual(statuses.slice(10), [429, 429]);
      const page = await signIn(limited.app, limited.auth.adminKey, {}, '10.9.9.9');
      assert.equal(page.statusCode, 429, 'a right key waits too: the budget is the address’s');
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.ok(page.headers['retry-after']);
      // Another address, and the API, are not charged for it.
      assert.equal((await signIn(limited.app, limited.auth.adminKey, {}, '10.9.9.8')).statusCode, 303);
      assert.equal((await limited.app.inject({ method: 'GET', url: '/v1/users', remoteAddress: '10.9.9.9' })).statusCode, 200);
    } finally {
      await limited.close();
    }
  });
});
