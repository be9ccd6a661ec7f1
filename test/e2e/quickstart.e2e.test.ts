// End to end: the README quick start over real HTTP against the built CLI (`roster serve` on a
// free port, SQLite file), then `roster migrate status` on the same file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, fromFetch, UUID_V7, type PageJson, type UserJson } from '../helpers/http.js';
import { runCli, ServerProcess, tempSqlite } from '../helpers/server.js';

describe('quick start against the built server', () => {
  const db = tempSqlite();
  let server: ServerProcess;
  before(async () => {
    server = await ServerProcess.start({ databaseUrl: db.url });
  });
  after(async () => {
    await server?.kill();
    db.cleanup();
  });

  async function call(method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...server.auth, ...init.headers };
    if (init.body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    return { res, text, json: <T>() => JSON.parse(text) as T };
  }

  test('the server logs where it listens and that it migrated the file', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(server.port > 0);
    assert.ok(
      server.logs.some((l) => l.msg === 'migration applied' && l.migration === '0001_users'),
      server.logText(),
    );
    const listening = server.logs.find((l) => l.msg === 'listening')!;
    assert.match(String(listening.database), /^sqlite:/);
  });

  test('livez and readyz answer', async () => {
    const live = await call('GET', '/livez');
    assert.equal(live.res.status, 200);
    assert.deepEqual(live.json(), { status: 'ok' });
    const ready = await call('GET', '/readyz');
    assert.equal(ready.res.status, 200);
    assert.deepEqual(ready.json(), { status: 'ready' });
  });

  test('create, get, list, patch, delete', async () => {
    const created = await call('POST', '/v1/users', {
      body: { email: 'Ada@Example.com', name: ' Ada Lovelace ', attributes: { team: 'analytical engine' } },
      headers: { 'idempotency-key': 'quickstart-1' },
    });
    assert.equal(created.res.status, 201, created.text);
    const ada = created.json<UserJson>();
    assert.match(ada.id, UUID_V7);
    assert.equal(ada.name, 'Ada Lovelace');
    assert.equal(created.res.headers.get('location'), `/v1/users/${ada.id}`);
    assert.equal(created.res.headers.get('etag'), '"1"');

    const replay = await call('POST', '/v1/users', {
      body: { email: 'Ada@Example.com', name: ' Ada Lovelace ', attributes: { team: 'analytical engine' } },
      headers: { 'idempotency-key': 'quickstart-1' },
    });
    assert.equal(replay.res.status, 201);
    assert.equal(replay.res.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(replay.json(), ada);

    const got = await call('GET', `/v1/users/${ada.id}`);
    assert.equal(got.res.status, 200);
    assert.deepEqual(got.json(), ada);
    const cached = await call('GET', `/v1/users/${ada.id}`, { headers: { 'if-none-match': '"1"' } });
    assert.equal(cached.res.status, 304);

    const grace = await call('POST', '/v1/users', { body: { email: 'grace@example.com', name: 'Grace Hopper' } });
    assert.equal(grace.res.status, 201, grace.text);
    const list = await call('GET', '/v1/users?limit=1');
    assert.equal(list.res.status, 200);
    const first = list.json<PageJson>();
    assert.equal(first.data.length, 1);
    assert.ok(first.next_cursor);
    const second = await call('GET', `/v1/users?limit=1&cursor=${encodeURIComponent(first.next_cursor)}`);
    const rest = second.json<PageJson>();
    assert.deepEqual([...first.data, ...rest.data].map((u) => u.email).sort(), ['Ada@Example.com', 'grace@example.com']);
    const byEmail = await call('GET', '/v1/users?limit=10&email=ADA%40EXAMPLE.COM');
    assert.deepEqual(
      byEmail.json<PageJson>().data.map((u) => u.id),
      [ada.id],
    );
    const byPrefix = await call('GET', '/v1/users?limit=10&q=gra');
    assert.deepEqual(
      byPrefix.json<PageJson>().data.map((u) => u.email),
      ['grace@example.com'],
    );

    const patched = await call('PATCH', `/v1/users/${ada.id}`, {
      body: { name: 'Augusta Ada King', attributes: { team: null, title: 'Countess' } },
      headers: { 'content-type': 'application/merge-patch+json', 'if-match': '"1"' },
    });
    assert.equal(patched.res.status, 200, patched.text);
    assert.equal(patched.res.headers.get('etag'), '"2"');
    assert.deepEqual(patched.json<UserJson>().attributes, { title: 'Countess' });
    const stale = await call('PATCH', `/v1/users/${ada.id}`, {
      body: { name: 'Lost Update' },
      headers: { 'content-type': 'application/merge-patch+json', 'if-match': '"1"' },
    });
    assertProblem(fromFetch(stale.res, stale.text), 'version-mismatch');

    const deleted = await call('DELETE', `/v1/users/${ada.id}`, { headers: { 'if-match': '"2"' } });
    assert.equal(deleted.res.status, 204);
    const gone = await call('GET', `/v1/users/${ada.id}`);
    assertProblem(fromFetch(gone.res, gone.text), 'user-not-found');
  });

  test('every request is logged once with its request id, route, status and duration', async () => {
    const res = await call('GET', '/livez', { headers: { 'x-request-id': 'e2e-log-check' } });
    assert.equal(res.res.headers.get('x-request-id'), 'e2e-log-check');
    const line = await server.waitForLog((l) => l.msg === 'request' && l.request_id === 'e2e-log-check', 'the request log line');
    assert.equal(line.route, '/livez');
    assert.equal(line.status, 200);
    assert.equal(line.method, 'GET');
    assert.equal(typeof line.duration_ms, 'number');
    assert.equal(server.logs.filter((l) => l.request_id === 'e2e-log-check').length, 1);
  });

  test('roster migrate status on the same file lists the applied migration', async () => {
    const result = await runCli(['migrate', 'status'], { ROSTER_DATABASE_URL: db.url });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^0001_users\tapplied \d{4}-\d{2}-\d{2}T[\d:.]+Z$/m);
    assert.doesNotMatch(result.stdout, /pending/);
  });
});
