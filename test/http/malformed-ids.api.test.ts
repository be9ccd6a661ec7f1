// Every route that takes an id (in the path, the query or the body) answers a malformed one with
// the problem it documents, on both databases. On PostgreSQL the ids are uuid columns (migration
// 0010): a string that is not a UUID must never be sent as one, or the cast fails (22P02) and the
// caller gets a 500. Ids that are UUIDs but name nothing (another version, nil, max) do reach the
// database, and are a plain 404.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import type { ProblemCode } from '../../src/http/problem.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialects } from '../helpers/databases.js';
import { assertProblem, fromInject } from '../helpers/http.js';

/** Strings PostgreSQL's uuid input would refuse, or take and hand back changed (upper case, braces, no hyphens). */
const MALFORMED = [
  'not-a-uuid',
  uuidv7().toUpperCase(),
  `{${uuidv7()}}`,
  uuidv7().replaceAll('-', ''),
  uuidv7().slice(0, 35),
  `${uuidv7()}0`,
  encodeURIComponent("' or 1=1 --"),
  encodeURIComponent('00000000-0000-7000-8000-00000000000g'),
];

/** Well-formed UUIDs no row has; `anyVersion` ones pass the routes that take any UUID. */
const ABSENT_V7 = uuidv7();
const ABSENT_ANY_VERSION = [uuidv4(), '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff'];

interface Case {
  readonly name: string;
  readonly request: InjectOptions;
  readonly problem: ProblemCode;
}

function json(method: 'POST' | 'PATCH', url: string, body: unknown): InjectOptions {
  const type = method === 'PATCH' && url.startsWith('/v1/users/') ? 'application/merge-patch+json' : 'application/json';
  return { method, url, headers: { 'content-type': type }, payload: JSON.stringify(body) };
}

/** The id-taking routes with `id` in the place of the id, and what a malformed one answers. */
function malformedCases(id: string, endpoint: string): Case[] {
  const ep = `/v1/webhook-endpoints/${endpoint}`;
  return [
    { name: `GET /v1/users/${id}`, request: { method: 'GET', url: `/v1/users/${id}` }, problem: 'validation' },
    { name: `PATCH /v1/users/${id}`, request: json('PATCH', `/v1/users/${id}`, { name: 'X' }), problem: 'validation' },
    { name: `DELETE /v1/users/${id}`, request: { method: 'DELETE', url: `/v1/users/${id}` }, problem: 'validation' },
    { name: `GET /v1/webhook-endpoints/${id}`, request: { method: 'GET', url: `/v1/webhook-endpoints/${id}` }, problem: 'validation' },
    {
      name: `PATCH /v1/webhook-endpoints/${id}`,
      request: json('PATCH', `/v1/webhook-endpoints/${id}`, { description: 'x' }),
      problem: 'validation',
    },
    {
      name: `DELETE /v1/webhook-endpoints/${id}`,
      request: { method: 'DELETE', url: `/v1/webhook-endpoints/${id}` },
      problem: 'validation',
    },
    {
      name: `POST /v1/webhook-endpoints/${id}/rotate-secret`,
      request: { method: 'POST', url: `/v1/webhook-endpoints/${id}/rotate-secret` },
      problem: 'validation',
    },
    {
      name: `GET /v1/webhook-endpoints/${id}/deliveries`,
      request: { method: 'GET', url: `/v1/webhook-endpoints/${id}/deliveries` },
      problem: 'validation',
    },
    {
      name: `POST /v1/webhook-endpoints/${id}/replay`,
      request: json('POST', `/v1/webhook-endpoints/${id}/replay`, { event_id: uuidv7() }),
      problem: 'validation',
    },
    {
      name: `GET /v1/webhook-endpoints?after=${id}`,
      request: { method: 'GET', url: `/v1/webhook-endpoints?after=${id}` },
      problem: 'validation',
    },
    { name: `GET ${ep}/deliveries?before=${id}`, request: { method: 'GET', url: `${ep}/deliveries?before=${id}` }, problem: 'validation' },
    // The event of a replay is looked up, not validated by the schema: a malformed id names no event.
    {
      name: `POST ${ep}/replay {event_id: ${id}}`,
      request: json('POST', `${ep}/replay`, { event_id: decodeURIComponent(id) }),
      problem: 'event-not-found',
    },
    { name: `GET /v1/imports/${id}`, request: { method: 'GET', url: `/v1/imports/${id}` }, problem: 'validation' },
    { name: `DELETE /v1/imports/${id}`, request: { method: 'DELETE', url: `/v1/imports/${id}` }, problem: 'validation' },
    { name: `GET /v1/imports/${id}/errors`, request: { method: 'GET', url: `/v1/imports/${id}/errors` }, problem: 'validation' },
    { name: `DELETE /v1/api-keys/${id}`, request: { method: 'DELETE', url: `/v1/api-keys/${id}` }, problem: 'validation' },
    { name: `GET /v1/events?after=${id}`, request: { method: 'GET', url: `/v1/events?after=${id}` }, problem: 'validation' },
  ];
}

/** Well-formed ids that name nothing: each route's not-found problem. */
function absentCases(anyVersion: string, endpoint: string): Case[] {
  const ep = `/v1/webhook-endpoints/${endpoint}`;
  return [
    { name: `GET /v1/users/${ABSENT_V7}`, request: { method: 'GET', url: `/v1/users/${ABSENT_V7}` }, problem: 'user-not-found' },
    { name: `PATCH /v1/users/${ABSENT_V7}`, request: json('PATCH', `/v1/users/${ABSENT_V7}`, { name: 'X' }), problem: 'user-not-found' },
    { name: `DELETE /v1/users/${ABSENT_V7}`, request: { method: 'DELETE', url: `/v1/users/${ABSENT_V7}` }, problem: 'user-not-found' },
    { name: `GET /v1/imports/${ABSENT_V7}`, request: { method: 'GET', url: `/v1/imports/${ABSENT_V7}` }, problem: 'import-not-found' },
    {
      name: `GET /v1/webhook-endpoints/${anyVersion}`,
      request: { method: 'GET', url: `/v1/webhook-endpoints/${anyVersion}` },
      problem: 'webhook-endpoint-not-found',
    },
    {
      name: `DELETE /v1/webhook-endpoints/${anyVersion}`,
      request: { method: 'DELETE', url: `/v1/webhook-endpoints/${anyVersion}` },
      problem: 'webhook-endpoint-not-found',
    },
    {
      name: `PATCH /v1/webhook-endpoints/${anyVersion}`,
      request: json('PATCH', `/v1/webhook-endpoints/${anyVersion}`, { description: 'x' }),
      problem: 'webhook-endpoint-not-found',
    },
    {
      name: `POST ${ep}/replay {event_id: ${anyVersion}}`,
      request: json('POST', `${ep}/replay`, { event_id: anyVersion }),
      problem: 'event-not-found',
    },
  ];
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`malformed and absent ids on ${dialect}`, { skip }, () => {
    let t: TestApp;
    let endpoint: string;
    before(async () => {
      t = await buildTestApp(open);
      const created = await t.app.inject(json('POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.com/roster' }));
      assert.equal(created.statusCode, 201, created.body);
      endpoint = created.json<{ id: string }>().id;
    });
    after(async () => t?.close());

    test('a malformed id is the documented 400 or 404, never a 5xx', async () => {
      for (const id of MALFORMED) {
        for (const c of malformedCases(id, endpoint)) {
          const res = await t.app.inject(c.request);
          assertProblem(fromInject(res), c.problem);
          assert.ok(res.statusCode < 500, `${c.name}: ${res.statusCode} ${res.body}`);
        }
      }
    });

    test('a well-formed id that names nothing is a 404', async () => {
      for (const id of ABSENT_ANY_VERSION) {
        for (const c of absentCases(id, endpoint)) assertProblem(fromInject(await t.app.inject(c.request)), c.problem);
      }
    });

    test('ids read back as lower-case canonical text', async () => {
      const created = await t.app.inject(json('POST', '/v1/users', { email: `ids.${dialect}@example.com`, name: 'Ids' }));
      assert.equal(created.statusCode, 201, created.body);
      const { id } = created.json<{ id: string }>();
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal((await t.app.inject({ method: 'GET', url: `/v1/users/${id}` })).json<{ id: string }>().id, id);
      const page = await t.app.inject({ method: 'GET', url: `/v1/users?email=IDS.${dialect}@EXAMPLE.COM` });
      assert.deepEqual(
        page.json<{ data: { id: string }[] }>().data.map((u) => u.id),
        [id],
      );
      const feed = await t.app.inject({ method: 'GET', url: '/v1/events?type=user.created' });
      const event = feed.json<{ data: { id: string; subject_id: string; data: { user: { id: string } } }[] }>().data.at(-1)!;
      assert.equal(event.subject_id, id);
      assert.equal(event.data.user.id, id);
      assert.match(event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const endpoints = await t.app.inject({ method: 'GET', url: '/v1/webhook-endpoints' });
      assert.deepEqual(
        endpoints.json<{ data: { id: string }[] }>().data.map((e) => e.id),
        [endpoint],
      );
    });
  });
}
