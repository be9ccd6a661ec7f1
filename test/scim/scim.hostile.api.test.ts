// Hostile input to /scim/v2 (filters, bodies, PATCH operations, paging and projection
// parameters): never a 5xx, every refusal a SCIM Error, and the generators reach both outcomes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { appOver, testAuth } from '../helpers/app.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { hostileJson, hostileParameters, hostileString, nastyUnit } from '../helpers/hostile.js';
import { MemoryDirectory } from './memory-directory.js';

let testDb: TestDatabase;
let app: FastifyInstance;
let key: string;
let userId: string;
let groupId: string;

before(async () => {
  testDb = await sqliteTestDatabase();
  const directory = new MemoryDirectory();
  app = await appOver(testDb.database, { scim: directory });
  key = (await (await testAuth(testDb.database)).keyWith(['scim'])).key;
  userId = (await send('POST', '/scim/v2/Users', { userName: 'hostile@example.com' })).json<{ id: string }>().id;
  groupId = (await send('POST', '/scim/v2/Groups', { displayName: 'Hostile', members: [{ value: userId }] })).json<{ id: string }>().id;
});

after(async () => {
  await app.close();
  await testDb.cleanup();
});

function send(method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, body?: unknown): Promise<LightMyRequestResponse> {
  return app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

/** Counts the outcomes, and holds every answer to the SCIM rules. */
class Tally {
  ok = 0;
  refused = 0;
  check(response: LightMyRequestResponse): void {
    assert.ok(response.statusCode < 500, `${response.statusCode}: ${response.body.slice(0, 300)}`);
    assert.match(String(response.headers['content-type']), /^application\/scim\+json/);
    if (response.statusCode >= 400) {
      const body = response.json<{ schemas: string[]; status: string; detail: string }>();
      assert.deepEqual(body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
      assert.equal(body.status, String(response.statusCode));
      this.refused++;
    } else {
      this.ok++;
    }
  }
  reachedBoth(): void {
    assert.ok(this.ok > 0 && this.refused > 0, `ok ${this.ok}, refused ${this.refused}`);
  }
}

const filterText = fc.oneof(
  hostileString,
  fc
    .array(
      fc.oneof(
        fc.constantFrom(
          'userName',
          'externalId',
          'emails',
          'emails[value eq "a@b.co"]',
          'id',
          'eq',
          'and',
          'or',
          'not',
          '(',
          ')',
          '"a@b.co"',
          'pr',
          'meta.lastModified',
          'gt',
          '"2020-01-01T00:00:00Z"',
        ),
        nastyUnit,
      ),
      { maxLength: 12 },
    )
    .map((parts) => parts.join(' ')),
);

const SCIM_FIELDS = [
  'userName',
  'displayName',
  'name',
  'active',
  'emails',
  'externalId',
  'members',
  'schemas',
  'Operations',
  'op',
  'path',
  'value',
];
const json = hostileJson(SCIM_FIELDS);

describe('hostile SCIM input', () => {
  test('filters, paging and projection parameters', async () => {
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(
        filterText,
        fc.option(hostileString),
        fc.option(hostileString),
        fc.constantFrom('Users', 'Groups'),
        async (filter, start, attributes, endpoint) => {
          const query = new URLSearchParams({
            filter,
            ...(start === null ? {} : { startIndex: start }),
            ...(attributes === null ? {} : { excludedAttributes: attributes }),
          });
          tally.check(await send('GET', `/scim/v2/${endpoint}?${query.toString()}`));
        },
      ),
      hostileParameters,
    );
    tally.reachedBoth();
  });

  test('POST and PUT bodies', async () => {
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(json.object, fc.boolean(), async (body, user) => {
        const candidate = user ? { userName: `${Math.random().toString(36).slice(2)}@example.com`, ...body } : body;
        tally.check(await send('POST', `/scim/v2/${user ? 'Users' : 'Groups'}`, candidate));
        tally.check(
          await send('PUT', user ? `/scim/v2/Users/${userId}` : `/scim/v2/Groups/${groupId}`, {
            userName: 'hostile@example.com',
            displayName: 'Hostile',
            ...body,
          }),
        );
      }),
      hostileParameters,
    );
    tally.reachedBoth();
  });

  test('PATCH operations', async () => {
    const tally = new Tally();
    const operation = fc.record({
      op: fc.oneof(fc.constantFrom('add', 'Replace', 'REMOVE'), hostileString),
      path: fc.option(
        fc.oneof(
          fc.constantFrom('title', 'members', 'emails[type eq "work"].value', 'name.givenName', 'members[value eq "x"]', 'userName', 'id'),
          hostileString,
        ),
        { nil: undefined },
      ),
      value: json.value,
    });
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 4 }), fc.boolean(), async (operations, user) => {
        const body = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: operations };
        tally.check(await send('PATCH', user ? `/scim/v2/Users/${userId}` : `/scim/v2/Groups/${groupId}`, body));
      }),
      hostileParameters,
    );
    tally.reachedBoth();
  });
});
