// API tests for /v1/api-keys (admin only): the key is shown once, never listed, revocation
// takes effect at once on this instance, and the caller's identity reaches the request log
// and the idempotency scope.
import { SCOPES } from '../../src/auth/model.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { Authenticator } from '../../src/auth/authenticator.js';
import { ApiKeysService } from '../../src/auth/service.js';
import { SqlApiKeyStore } from '../../src/auth/sql-store.js';
import { createLogger } from '../../src/observability/logger.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { appOver } from '../helpers/app.js';
import { assertProblem, fromInject, type ApiKeyJson, type UserJson } from '../helpers/http.js';

const KEY_FORMAT = /^rk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

let testDb: TestDatabase;
let app: FastifyInstance;
let apiKeys: ApiKeysService;
let adminKey: string;
const logLines: Record<string, unknown>[] = [];
let rawLog = '';

before(async () => {
  testDb = await sqliteTestDatabase();
  const { database } = testDb;
  // A long verification cache, as in production: revocation must still bite at once here.
  apiKeys = new ApiKeysService({ store: new SqlApiKeyStore(database.db, database.dialect), cacheTtlMs: 60_000 });
  adminKey = (await apiKeys.create({ name: 'admin', scopes: ['admin'] })).plaintext;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = chunk.toString('utf8');
      rawLog += text;
      for (const line of text.split('\n')) if (line.trim() !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  app = await appOver(database, { logger: createLogger('info', sink), apiKeys, authenticator: new Authenticator(apiKeys) });
});
after(async () => {
  await app?.close();
  await testDb?.cleanup();
});

const as = (key: string) => ({ authorization: `Bearer ${key}` });

function createKey(body: unknown, key = adminKey): InjectOptions {
  return {
    method: 'POST',
    url: '/v1/api-keys',
    headers: { ...as(key), 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  };
}

async function newKey(scopes: string[], name = `key ${scopes.join(' ')}`): Promise<ApiKeyJson & { key: string }> {
  const res = await app.inject(createKey({ name, scopes }));
  assert.equal(res.statusCode, 201, res.body);
  return res.json<ApiKeyJson & { key: string }>();
}

describe('POST /v1/api-keys', () => {
  test('create201: the key is shown once, in the documented format, not cached', async () => {
    const res = await app.inject(createKey({ name: 'ci deploy', scopes: ['users:read', 'users:write'], expires_in_seconds: 3600 }));
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = res.json<ApiKeyJson>();
    assert.match(body.key ?? '', KEY_FORMAT);
    assert.ok(body.key!.startsWith(`rk_${body.id}_`), 'the key carries its id');
    assert.equal(body.name, 'ci deploy');
    assert.deepEqual(body.scopes, ['users:read', 'users:write']);
    assert.equal(body.revoked_at, null);
    assert.equal(body.last_used_at, null);
    assert.equal(Date.parse(body.expires_at!) - Date.parse(body.created_at), 3600 * 1000);
    assert.equal(Object.hasOwn(body, 'secret_hash'), false);
    // The key works at once, with the scopes it was given.
    assert.equal((await app.inject({ method: 'GET', url: '/v1/users', headers: as(body.key!) })).statusCode, 200);
  });

  test('create201: duplicate scopes are stored once; a name is trimmed', async () => {
    const res = await app.inject(createKey({ name: '  spaced  ', scopes: ['users:read', 'users:read'] }));
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json<ApiKeyJson>();
    assert.deepEqual(body.scopes, ['users:read']);
    assert.equal(body.name, 'spaced');
  });

  const invalid: [string, unknown, string[]][] = [
    ['unknown scope', { name: 'x', scopes: ['users:admin'] }, ['/scopes/0']],
    ['empty scopes', { name: 'x', scopes: [] }, ['/scopes']],
    ['missing scopes', { name: 'x' }, ['/scopes']],
    ['unknown field', { name: 'x', scopes: ['admin'], owner: 'me' }, ['/owner']],
    ['empty name', { name: '', scopes: ['admin'] }, ['/name']],
    ['blank name', { name: '   ', scopes: ['admin'] }, ['/name']],
    ['name with a control character', { name: 'a\u0007b', scopes: ['admin'] }, ['/name']],
    ['name too long', { name: 'n'.repeat(101), scopes: ['admin'] }, ['/name']],
    ['name not a string', { name: 42, scopes: ['admin'] }, ['/name']],
    ['zero lifetime', { name: 'x', scopes: ['admin'], expires_in_seconds: 0 }, ['/expires_in_seconds']],
    ['fractional lifetime', { name: 'x', scopes: ['admin'], expires_in_seconds: 1.5 }, ['/expires_in_seconds']],
  ];
  for (const [name, body, pointers] of invalid) {
    test(`create400: ${name}`, async () => {
      const before = (await apiKeys.list()).length;
      const res = await app.inject(createKey(body));
      const problem = assertProblem(fromInject(res), 'validation');
      assert.ok(
        pointers.every((p) => problem.errors?.some((e) => e.pointer === p)),
        `expected pointers ${pointers.join(', ')}: ${res.body}`,
      );
      assert.equal(res.body.includes('rk_'), false, 'no key in an error');
      assert.equal((await apiKeys.list()).length, before, 'nothing created');
    });
  }

  test('create400: an unknown scope is reported once, naming the allowed ones', async () => {
    const res = await app.inject(createKey({ name: 'x', scopes: ['users:read', 'bogus'] }));
    const problem = assertProblem(fromInject(res), 'validation');
    assert.deepEqual(problem.errors, [{ pointer: '/scopes/1', message: `must be one of: ${SCOPES.join(', ')}` }]);
  });

  test('create415: not JSON', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { ...as(adminKey), 'content-type': 'text/plain' },
      payload: 'x',
    });
    assertProblem(fromInject(res), 'unsupported-media-type');
  });
});

describe('GET /v1/api-keys', () => {
  test('list200: every key, never its secret or hash', async () => {
    const created = await newKey(['users:read'], 'listed');
    const res = await app.inject({ method: 'GET', url: '/v1/api-keys', headers: as(adminKey) });
    assert.equal(res.statusCode, 200, res.body);
    const { data } = res.json<{ data: ApiKeyJson[] }>();
    const listed = data.find((k) => k.id === created.id);
    assert.ok(listed, 'the new key is listed');
    const { key: _shownOnce, ...withoutKey } = created;
    assert.deepEqual(listed, withoutKey);
    const secret = created.key.slice('rk_0123456789abcdef_'.length);
    assert.equal(res.body.includes(created.key), false, 'the key is never listed');
    assert.equal(res.body.includes(secret), false, 'the secret is never listed');
    assert.equal(res.body.includes('rk_'), false);
    for (const k of data) {
      assert.deepEqual(Object.keys(k).sort(), ['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'revoked_at', 'scopes']);
    }
    const stored = await apiKeys.list();
    for (const record of stored) assert.equal(res.body.includes(record.secretHash), false, 'the hash is never listed');
  });
});

describe('DELETE /v1/api-keys/:id', () => {
  test('revoke200: the key is refused at once, despite the verification cache', async () => {
    const victim = await newKey(['users:read']);
    // Used (and so cached) before the revocation.
    assert.equal((await app.inject({ method: 'GET', url: '/v1/users', headers: as(victim.key) })).statusCode, 200);
    const res = await app.inject({ method: 'DELETE', url: `/v1/api-keys/${victim.id}`, headers: as(adminKey) });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<ApiKeyJson>();
    assert.equal(body.id, victim.id);
    assert.ok(body.revoked_at !== null && !Number.isNaN(Date.parse(body.revoked_at)));
    assert.equal(Object.hasOwn(body, 'key'), false);
    const after = await app.inject({ method: 'GET', url: '/v1/users', headers: as(victim.key) });
    assertProblem(fromInject(after), 'unauthenticated');
    assert.match(String(after.headers['www-authenticate']), /^Bearer/);
  });

  test('revoke200 twice keeps the first revocation time', async () => {
    const victim = await newKey(['users:read']);
    const first = await app.inject({ method: 'DELETE', url: `/v1/api-keys/${victim.id}`, headers: as(adminKey) });
    const second = await app.inject({ method: 'DELETE', url: `/v1/api-keys/${victim.id}`, headers: as(adminKey) });
    assert.equal(first.statusCode, 200);
    assert.equal(second.statusCode, 200);
    assert.equal(second.json<ApiKeyJson>().revoked_at, first.json<ApiKeyJson>().revoked_at);
  });

  test('revoke404: no such key', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/v1/api-keys/0123456789abcdef', headers: as(adminKey) });
    assertProblem(fromInject(res), 'api-key-not-found');
  });

  test('revoke400: an id of the wrong shape', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/v1/api-keys/not-an-id', headers: as(adminKey) });
    assertProblem(fromInject(res), 'validation', { parameters: ['id'] });
  });

  test('an admin key can revoke itself, and is refused afterwards', async () => {
    const self = await newKey(['admin']);
    const res = await app.inject({ method: 'DELETE', url: `/v1/api-keys/${self.id}`, headers: as(self.key) });
    assert.equal(res.statusCode, 200, res.body);
    const again = await app.inject({ method: 'GET', url: '/v1/api-keys', headers: as(self.key) });
    assertProblem(fromInject(again), 'unauthenticated');
  });
});

describe('non-admin keys', () => {
  test('403 on all three routes for users:write (and users:read + users:write)', async () => {
    const victim = await newKey(['users:read']);
    for (const scopes of [['users:write'], ['users:read', 'users:write']]) {
      const { key } = await newKey(scopes);
      const requests: InjectOptions[] = [
        createKey({ name: 'escalate', scopes: ['admin'] }, key),
        { method: 'GET', url: '/v1/api-keys', headers: as(key) },
        { method: 'DELETE', url: `/v1/api-keys/${victim.id}`, headers: as(key) },
      ];
      for (const request of requests) {
        const res = await app.inject(request);
        const problem = assertProblem(fromInject(res), 'forbidden');
        assert.match(problem.detail, /\badmin\b/, `${String(request.method)} ${JSON.stringify(request.url)}: ${problem.detail}`);
      }
    }
    const stored = (await apiKeys.list()).find((k) => k.id === victim.id);
    assert.equal(stored?.revokedAt, null, 'the victim was not revoked');
    assert.equal(
      (await apiKeys.list()).some((k) => k.name === 'escalate'),
      false,
      'no key was created',
    );
  });
});

describe('actors', () => {
  test('the actor is on the request log line, and no key is ever logged', async () => {
    const writer = await newKey(['users:write']);
    const requestId = `actor-${Date.now()}`;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: { ...as(writer.key), 'content-type': 'application/json', 'x-request-id': requestId },
      payload: JSON.stringify({ email: `actor-${Date.now()}@example.com`, name: 'Actor' }),
    });
    assert.equal(res.statusCode, 201, res.body);
    const line = logLines.find((l) => l.msg === 'request' && l.request_id === requestId);
    assert.ok(line, `no request log line for ${requestId}`);
    assert.equal(line.actor, `key:${writer.id}`);
    assert.equal(line.route, '/v1/users');
    assert.equal(line.status, 201);
    // The failed attempt of an unknown key has no actor; a forbidden one does.
    const forbiddenId = `forbidden-${Date.now()}`;
    const reader = await newKey(['users:read']);
    await app.inject({
      method: 'DELETE',
      url: `/v1/users/${uuidv7()}`,
      headers: { ...as(reader.key), 'x-request-id': forbiddenId },
    });
    const forbiddenLine = logLines.find((l) => l.msg === 'request' && l.request_id === forbiddenId);
    assert.equal(forbiddenLine?.status, 403);
    assert.equal(forbiddenLine?.actor, `key:${reader.id}`, 'a refused caller is still identified');
    for (const key of [adminKey, writer.key, reader.key]) {
      assert.equal(rawLog.includes(key), false, 'a key appeared in the log');
      assert.equal(rawLog.includes(key.slice('rk_0123456789abcdef_'.length)), false, 'a secret appeared in the log');
    }
  });

  test('Idempotency-Key is scoped per actor: two keys, one Idempotency-Key, two users', async () => {
    const a = await newKey(['users:write']);
    const b = await newKey(['users:write']);
    const idem = `shared-${Date.now()}`;
    const post = (key: string, email: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/users',
        headers: { ...as(key), 'content-type': 'application/json', 'idempotency-key': idem },
        payload: JSON.stringify({ email, name: 'Same Idem' }),
      });
    const stamp = Date.now();
    const first = await post(a.key, `idem-a-${stamp}@example.com`);
    const second = await post(b.key, `idem-b-${stamp}@example.com`);
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(second.statusCode, 201, second.body);
    assert.equal(second.headers['idempotent-replayed'], undefined);
    assert.notEqual(first.json<UserJson>().id, second.json<UserJson>().id);
    // The same actor retrying is a replay of its own user.
    const replay = await post(a.key, `idem-a-${stamp}@example.com`);
    assert.equal(replay.statusCode, 201, replay.body);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.json<UserJson>().id, first.json<UserJson>().id);
  });
});
