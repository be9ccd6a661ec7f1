// API tests for the probes and the API description: /livez, /readyz, /openapi.json, /docs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { assertProblem, fromInject } from '../helpers/http.js';

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<
    string,
    Record<string, { requestBody?: unknown; responses?: Record<string, unknown>; parameters?: { name: string; in: string }[] }>
  >;
}

describe('probes on a healthy instance', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp();
  });
  after(async () => t?.close());

  test('livez200', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/livez' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
    assert.ok(res.headers['x-request-id'], 'probes get a request id too');
  });

  test('readyz200', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ready' });
  });

  test('readyz503WhileDraining, and 200 again when it stops', async () => {
    t.draining = true;
    try {
      const res = await t.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(res.statusCode, 503);
      assert.deepEqual(res.json(), { status: 'draining' });
      const live = await t.app.inject({ method: 'GET', url: '/livez' });
      assert.equal(live.statusCode, 200, 'a draining instance is still alive');
    } finally {
      t.draining = false;
    }
    assert.equal((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  });

  test('while draining, API requests are still served; once closing, they get 503 unavailable with Connection: close', async () => {
    t.draining = true;
    try {
      assert.equal((await t.app.inject({ method: 'GET', url: '/v1/users' })).statusCode, 200, 'served during the drain delay');
      t.closing = true;
      const res = await t.app.inject({ method: 'GET', url: '/v1/users' });
      assertProblem(fromInject(res), 'unavailable');
      assert.equal(res.headers.connection, 'close');
      assert.equal(res.headers['retry-after'], '1');
      assert.equal((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503, 'probes still answer');
      assert.equal((await t.app.inject({ method: 'GET', url: '/livez' })).statusCode, 200);
    } finally {
      t.draining = false;
      t.closing = false;
    }
  });

  test('openapi200 describes /v1/users and /v1/users/{id}', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const doc = res.json<OpenApiDocument>();
    assert.match(doc.openapi, /^3\./);
    assert.equal(doc.info.title, 'Roster API');
    const users = doc.paths['/v1/users'];
    const user = doc.paths['/v1/users/{id}'];
    assert.ok(users, `paths: ${Object.keys(doc.paths).join(', ')}`);
    assert.ok(user, `paths: ${Object.keys(doc.paths).join(', ')}`);
    assert.deepEqual(Object.keys(users).sort(), ['get', 'post']);
    assert.deepEqual(Object.keys(user).sort(), ['delete', 'get', 'patch']);
    assert.ok(users.post!.requestBody, 'POST documents its body');
    assert.ok(users.post!.responses?.['201'], 'POST documents its 201');
    assert.ok(user.patch!.requestBody, 'PATCH documents its body');
    const listParams = (users.get!.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    for (const name of ['limit', 'cursor', 'email', 'q']) assert.ok(listParams.includes(name), `list documents ?${name}`);
    assert.ok(
      (user.get!.parameters ?? []).some((p) => p.in === 'path' && p.name === 'id'),
      'the id path parameter is documented',
    );
    assert.equal(doc.paths['/openapi.json'], undefined, 'the document does not describe itself');
  });

  test('docs200 renders HTML', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.match(res.body, /<html/i);
    assert.match(res.body, /swagger-ui/);
  });
});

describe('probes when the database is gone', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp();
    await t.testDb.database.close();
  });
  after(async () => t?.close());

  test('readyz503 when the database does not answer', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(res.json(), { status: 'database unavailable' });
  });

  test('livez200 does not depend on the database', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/livez' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
  });

  test('api503 while the database is gone, never a 500', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/users?limit=1' });
    assert.equal(res.statusCode, 503, res.body);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    assert.equal(res.json<{ type: string }>().type, 'urn:roster:problem:unavailable');
  });
});
