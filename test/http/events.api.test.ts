import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { assertProblem, fromInject } from '../helpers/http.js';

interface FeedJson {
  data: {
    id: string;
    type: string;
    sequence: number;
    actor: string | null;
    request_id: string | null;
    subject_id: string;
    data: Record<string, unknown>;
  }[];
  next_after: string;
}

describe('GET /v1/events', () => {
  let t: TestApp;
  let reader: { id: string; key: string };
  let writer: { id: string; key: string };
  before(async () => {
    t = await buildTestApp();
    reader = await t.auth.keyWith(['events:read']);
    writer = await t.auth.keyWith(['users:write', 'users:read']);
  });
  after(() => t?.close());

  const feed = async (query: string, key = reader.key) => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/events${query}`, headers: { authorization: `Bearer ${key}` } });
    return { res, body: res.statusCode === 200 ? res.json<FeedJson>() : undefined };
  };

  test('changes made over the API appear in order with their actor and request id', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: { authorization: `Bearer ${writer.key}`, 'x-request-id': 'create-1' },
      payload: { email: 'feed@example.com', name: 'Feed' },
    });
    assert.equal(created.statusCode, 201);
    const id = created.json<{ id: string }>().id;
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/users/${id}`,
      headers: { authorization: `Bearer ${writer.key}`, 'content-type': 'application/merge-patch+json', 'x-request-id': 'patch-1' },
      payload: { name: 'Fed' },
    });
    assert.equal(patched.statusCode, 200);

    const { body } = await feed('');
    assert.deepEqual(
      body!.data.map((e) => [e.type, e.subject_id, e.actor, e.request_id]),
      [
        ['user.created', id, `key:${writer.id}`, 'create-1'],
        ['user.updated', id, `key:${writer.id}`, 'patch-1'],
      ],
    );
    assert.equal(body!.next_after, String(body!.data[1]!.sequence));
    const more = await feed(`?after=${body!.next_after}`);
    assert.deepEqual([more.body!.data.length, more.body!.next_after], [0, body!.next_after]);
    const onlyCreated = await feed('?type=user.created,user.deleted&limit=5');
    assert.deepEqual(
      onlyCreated.body!.data.map((e) => e.type),
      ['user.created'],
    );
  });

  test('bad parameters are named in a 400 problem', async () => {
    for (const [query, parameter] of [
      ['?after=-1', 'after'],
      ['?after=abc', 'after'],
      ['?type=user.exploded', 'type'],
      ['?limit=0', 'limit'],
      ['?limit=5000', 'limit'],
      ['?cursor=x', 'cursor'],
    ] as const) {
      const { res } = await feed(query);
      const problem = assertProblem(fromInject(res), 'validation');
      assert.ok(
        problem.errors?.some((e) => e.parameter === parameter),
        `${query}: ${JSON.stringify(problem.errors)}`,
      );
    }
  });

  test('users:write alone cannot read the feed', async () => {
    const { res } = await feed('', writer.key);
    assertProblem(fromInject(res), 'forbidden');
  });
});
