// `roster keys` against the same database a running server uses: create, use, revoke.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, ServerProcess, tempSqlite } from '../helpers/server.js';

describe('roster keys', () => {
  const db = tempSqlite();
  let server: ServerProcess;
  let readKey: string;
  let readKeyId: string;

  before(async () => {
    // Commands other than serve and migrate never create a database.
    const migrated = await runCli(['migrate', 'up'], { ROSTER_DATABASE_URL: db.url });
    assert.equal(migrated.code, 0, migrated.stderr);
    const created = await runCli(['keys', 'create', '--name', 'reader', '--scope', 'users:read', '--expires-in', '30d'], {
      ROSTER_DATABASE_URL: db.url,
    });
    assert.equal(created.code, 0, created.stderr);
    const lines = created.stdout.trim().split('\n');
    readKey = lines.at(-1)!;
    assert.match(readKey, /^rk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/, 'the key is alone on the last line');
    readKeyId = readKey.slice(3, 19);
    server = await ServerProcess.start({ databaseUrl: db.url, env: { ROSTER_BOOTSTRAP_KEY: 'off', ROSTER_AUTH_CACHE_TTL_MS: '0' } });
  });
  after(async () => {
    await server?.stop();
    db.cleanup();
  });

  const call = (method: string, path: string, key: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });

  test('no bootstrap key is printed when keys exist or it is turned off', () => {
    assert.doesNotMatch(server.stderr, /rk_[0-9a-f]{16}_/);
  });

  test('a users:read key reads but cannot write', async () => {
    assert.equal((await call('GET', '/v1/users', readKey)).status, 200);
    const denied = await call('POST', '/v1/users', readKey, { email: 'w@example.com', name: 'W' });
    assert.equal(denied.status, 403);
    assert.match(((await denied.json()) as { detail: string }).detail, /users:write/);
  });

  test('list shows the key without its secret; revoke makes it fail at once', async () => {
    const listed = await runCli(['keys', 'list'], { ROSTER_DATABASE_URL: db.url });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${readKeyId}\\treader\\tusers:read\\t`, 'm'));
    assert.ok(!listed.stdout.includes(readKey.slice(20)), 'the secret is never listed');
    const revoked = await runCli(['keys', 'revoke', readKeyId], { ROSTER_DATABASE_URL: db.url });
    assert.equal(revoked.code, 0, revoked.stderr);
    const res = await call('GET', '/v1/users', readKey);
    assert.equal(res.status, 401);
    assert.match(String(res.headers.get('www-authenticate')), /^Bearer/);
  });

  test('bad input is a clear message and exit 2', async () => {
    const bad = await runCli(['keys', 'create', '--name', 'x', '--scope', 'everything'], { ROSTER_DATABASE_URL: db.url });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^roster: database sqlite:\S+\nroster: invalid input: scopes\/0 must be one of/);
    const missing = await runCli(['keys', 'create', '--scope', 'admin'], { ROSTER_DATABASE_URL: db.url });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--name/);
    const duration = await runCli(['keys', 'create', '--name', 'x', '--scope', 'admin', '--expires-in', 'forever'], {
      ROSTER_DATABASE_URL: db.url,
    });
    assert.equal(duration.code, 2);
    assert.match(duration.stderr, /--expires-in/);
  });
});
