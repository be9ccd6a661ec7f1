// The SCIM plugin over the in-memory directory (memory-directory.ts), served on a real port
// (one the kernel picks) with real API keys in a SQLite file: the provider flows of flows.ts,
// then what only this process can see (deltas, the plugin inert without ports, OpenAPI).
// The same flows over the real directory on both databases: real.api.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { appOver, testAuth } from '../helpers/app.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { MemoryDirectory } from './memory-directory.js';
import { assertScimError, call, entraFlow, errorFlow, googleFlow, oktaFlow, type ScimTarget } from './flows.js';

let testDb: TestDatabase;
let app: FastifyInstance;
let directory: MemoryDirectory;
let target: ScimTarget;
let readOnlyKey: string;
let adminKey: string;

before(async () => {
  testDb = await sqliteTestDatabase();
  directory = new MemoryDirectory();
  app = await appOver(testDb.database, { scim: directory });
  const auth = await testAuth(testDb.database);
  const { key } = await auth.keyWith(['scim']);
  readOnlyKey = (await auth.keyWith(['users:read'])).key;
  adminKey = auth.adminKey;
  // A port the kernel picks: free, so suites (and sessions) running at once never collide.
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  target = { base: `${address}/scim/v2`, token: key };
});

after(async () => {
  await app.close();
  await testDb.cleanup();
});

describe('provider flows', () => {
  test("Okta's SCIM 2.0 test flow", () => oktaFlow(target));
  test("Entra ID's provisioning requests", () => entraFlow(target));
  test("Google Workspace's discovery and create", () => googleFlow(target));
  test('errors are SCIM errors with the RFC scimTypes', () => errorFlow(target));
});

describe('credentials', () => {
  test('a key without the scim scope is 403 as a SCIM error; admin implies scim', async () => {
    const denied = await call(target, 'GET', '/Users', { token: readOnlyKey });
    assertScimError(denied, 403);
    assert.match(denied.headers.get('www-authenticate') ?? '', /scope="scim"/);
    assert.equal((await call(target, 'GET', '/Users', { token: adminKey })).status, 200);
  });

  test('a bad token is 401 with a Bearer challenge', async () => {
    const answer = await call(target, 'GET', '/ServiceProviderConfig', { token: 'rk_nope' });
    assertScimError(answer, 401);
    assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer/);
  });
});

describe('group members travel as deltas', () => {
  test('PATCH hands the directory only the change, PUT the difference', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const created = await call(target, 'POST', '/Users', { body: { userName: `delta${i}@example.com` } });
      ids.push(created.body.id);
    }
    const group = await call(target, 'POST', '/Groups', {
      body: { displayName: 'Deltas', members: ids.slice(0, 3).map((value) => ({ value })) },
    });
    assert.equal(group.status, 201);
    directory.deltas.length = 0;
    const patch = {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'add', path: 'members', value: [{ value: ids[3] }] }],
    };
    assert.equal((await call(target, 'PATCH', `/Groups/${group.body.id}`, { body: patch })).status, 200);
    assert.deepEqual(directory.deltas, [{ add: [ids[3]], remove: [] }]);
    const put = await call(target, 'PUT', `/Groups/${group.body.id}`, {
      body: { displayName: 'Deltas', members: [ids[0], ids[4]].map((value) => ({ value })) },
    });
    assert.equal(put.status, 200);
    const last = directory.deltas.at(-1)!;
    assert.deepEqual(last.add, [ids[4]]);
    assert.deepEqual([...last.remove].sort(), [ids[1], ids[2], ids[3]].sort());
    assertScimError(
      await call(target, 'PATCH', `/Groups/${group.body.id}`, {
        body: { ...patch, Operations: [{ op: 'add', path: 'members', value: [{ value: '0190c0de-0000-7000-8000-000000000000' }] }] },
      }),
      400,
      'invalidValue',
    );
    const dup = await call(target, 'POST', '/Groups', { body: { displayName: 'deltas' } });
    assertScimError(dup, 409, 'uniqueness');
  });

  test('concurrent member PATCHes of one group all apply', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await call(target, 'POST', '/Users', { body: { userName: `race${i}@example.com` } })).body.id);
    const group = await call(target, 'POST', '/Groups', { body: { displayName: 'Race' } });
    await Promise.all(
      ids.map((value) =>
        call(target, 'PATCH', `/Groups/${group.body.id}`, {
          body: {
            schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
            Operations: [{ op: 'add', path: 'members', value: [{ value }] }],
          },
        }),
      ),
    );
    const read = await call(target, 'GET', `/Groups/${group.body.id}`);
    assert.equal(read.body.members.length, ids.length);
  });
});

describe('the plugin in the app', () => {
  test('SCIM routes stay out of /openapi.json', async () => {
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.deepEqual(
      Object.keys(document.paths).filter((p) => p.startsWith('/scim')),
      [],
    );
    assert.ok((document.info.description as string).includes('`scim`'));
  });

  test('without ports, /scim/v2 does not exist (a REST problem, not SCIM)', async () => {
    // The composition wires the real directory: an app built without the `scim` key is what this is about.
    const plain = await appOver(testDb.database, { scim: undefined });
    try {
      const answer = await plain.inject({ method: 'GET', url: '/scim/v2/Users', headers: { authorization: `Bearer ${adminKey}` } });
      assert.equal(answer.statusCode, 404);
      assert.match(answer.headers['content-type'] as string, /problem\+json/);
    } finally {
      await plain.close();
    }
  });

  test('a body over the limit is 413 as a SCIM error', async () => {
    const answer = await call(target, 'POST', '/Users', {
      raw: JSON.stringify({ userName: 'big@example.com', title: 'x'.repeat(2_000_000) }),
    });
    assertScimError(answer, 413);
  });
});
