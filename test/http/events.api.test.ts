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

  test('subject_id keeps one subject’s events, in feed order, resumable by after', async () => {
    const ids: string[] = [];
    for (const email of ['subject-a@example.com', 'subject-b@example.com']) {
      const created = await t.app.inject({
        method: 'POST',
        url: '/v1/users',
        headers: { authorization: `Bearer ${writer.key}` },
        payload: { email, name: 'Subject' },
      });
      assert.equal(created.statusCode, 201);
      ids.push(created.json<{ id: string }>().id);
    }
    const [a, b] = ids as [string, string];
    for (const name of ['A1', 'A2']) {
      const patched = await t.app.inject({
        method: 'PATCH',
        url: `/v1/users/${a}`,
        headers: { authorization: `Bearer ${writer.key}`, 'content-type': 'application/merge-patch+json' },
        payload: { name },
      });
      assert.equal(patched.statusCode, 200);
    }
    const ofA = await feed(`?subject_id=${a}`);
    assert.deepEqual(
      ofA.body!.data.map((e) => [e.type, e.subject_id]),
      [
        ['user.created', a],
        ['user.updated', a],
        ['user.updated', a],
      ],
    );
    const rest = await feed(`?subject_id=${a}&after=${ofA.body!.data[0]!.sequence}&type=user.updated&limit=1`);
    assert.deepEqual(
      rest.body!.data.map((e) => e.sequence),
      [ofA.body!.data[1]!.sequence],
    );
    const ofB = await feed(`?subject_id=${b}`);
    assert.deepEqual(
      ofB.body!.data.map((e) => [e.type, e.subject_id]),
      [['user.created', b]],
    );
    const nobody = await feed('?subject_id=00000000-0000-4000-8000-000000000000');
    assert.deepEqual(nobody.body!.data, []);
  });

  test('bad parameters are named in a 400 problem', async () => {
    for (const [query, parameter] of [
      ['?subject_id=nope', 'subject_id'],
      ['?subject_id=0193A1C2-6A0F-7B3C-9D4E-5F60718293A4', 'subject_id'],
      [`?subject_id=${encodeURIComponent("x' or 1=1 --")}`, 'subject_id'],
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
