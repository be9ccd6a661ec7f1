// API tests for /v1/users: the real app (real routes, schemas, error mapping, service and SQL
// store) over a real SQLite file, driven with app.inject. Tables are named by endpoint and
// status, like ardanlabs' create_test.go: create201, create409, get304, ...
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import type { buildApp } from '../../src/http/app.js';
import type { ProblemCode } from '../../src/http/problem.js';
import { CursorCodec } from '../../src/kit/cursor.js';
import { compareKeys } from '../../src/users/search.js';
import type { UserStore } from '../../src/users/service.js';
import { UsersService } from '../../src/users/service.js';
import { appOver, buildTestApp, testAuth, withCredentials, type TestApp } from '../helpers/app.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { assertProblem, fromInject, UUID_V7, type PageJson, type ProblemExpectation, type UserJson } from '../helpers/http.js';
import { capturedLogs } from '../helpers/logs.js';

type Reply = Awaited<ReturnType<TestApp['app']['inject']>>;

/** One row of an endpoint's table. */
interface Case {
  readonly name: string;
  /** Arranges whatever state the case needs and returns the request under test. */
  readonly request: () => Promise<InjectOptions> | InjectOptions;
  readonly status: number;
  /** For error responses: the catalogued problem and the fields it must name. */
  readonly problem?: { readonly code: ProblemCode } & ProblemExpectation;
  /** Further assertions on the response (and on the state it left behind). */
  readonly check?: (res: Reply) => Promise<void> | void;
}

let t: TestApp;
before(async () => {
  t = await buildTestApp();
});
after(async () => t?.close());

function runTable(cases: readonly Case[]): void {
  for (const c of cases) {
    test(c.name, async () => {
      const res = await t.app.inject(await c.request());
      assert.equal(res.statusCode, c.status, `${c.name}: ${res.body.slice(0, 800)}`);
      if (c.problem) {
        const { code, ...fields } = c.problem;
        assertProblem(fromInject(res), code, fields);
      }
      await c.check?.(res);
    });
  }
}

let sequence = 0;
/** A unique, valid email whose local part starts with `tag`. */
function uniqueEmail(tag = 'user', domain = 'example.com'): string {
  sequence += 1;
  return `${tag}.${sequence}.${process.pid}@${domain}`;
}

function postUser(body: unknown, headers: Record<string, string> = {}): InjectOptions {
  return { method: 'POST', url: '/v1/users', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(body) };
}

function patchUser(id: string, body: unknown, headers: Record<string, string> = {}): InjectOptions {
  return {
    method: 'PATCH',
    url: `/v1/users/${id}`,
    headers: { 'content-type': 'application/merge-patch+json', ...headers },
    payload: JSON.stringify(body),
  };
}

/** Creates a user through the API and returns its JSON. */
async function createUser(fields: { email?: string; name?: string; attributes?: Record<string, unknown> } = {}): Promise<UserJson> {
  const res = await t.app.inject(postUser({ email: fields.email ?? uniqueEmail(), name: fields.name ?? 'Test User', ...fields }));
  assert.equal(res.statusCode, 201, res.body);
  return res.json<UserJson>();
}

async function getUser(id: string): Promise<Reply> {
  return t.app.inject({ method: 'GET', url: `/v1/users/${id}` });
}

async function listPage(query: Record<string, string | number>): Promise<PageJson> {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  const res = await t.app.inject({ method: 'GET', url: `/v1/users?${qs.toString()}` });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<PageJson>();
}

/** Follows next_cursor to the end; returns every page. */
async function walk(query: Record<string, string | number>): Promise<PageJson[]> {
  const pages: PageJson[] = [];
  let cursor: string | null = null;
  do {
    const page = await listPage(cursor === null ? query : { ...query, cursor });
    pages.push(page);
    cursor = page.next_cursor;
    assert.ok(pages.length < 10_000, 'the cursor walk does not end');
  } while (cursor !== null);
  return pages;
}

async function countUsers(): Promise<number> {
  const row = await t.testDb.database.db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function usersWithEmail(email: string): Promise<UserJson[]> {
  return (await listPage({ limit: 200, email })).data;
}

const USER_FIELDS = [
  'active',
  'attributes',
  'created_at',
  'email',
  'external_id',
  'family_name',
  'given_name',
  'id',
  'name',
  'profile',
  'updated_at',
  'version',
];

describe('POST /v1/users', () => {
  const state = { email: '', body: {} as Record<string, unknown>, first: undefined as unknown as UserJson, location: '', etag: '' };

  runTable([
    {
      name: 'create201',
      request: () => {
        state.email = uniqueEmail('Ada.Lovelace', 'Example.COM');
        state.body = {
          email: state.email,
          name: '  Ada Lovelace\t ',
          attributes: {
            team: 'core',
            level: 3,
            tags: ['a', 'b'],
            ok: true,
            none: null,
            d2: { d3: { d4: { leaf: 'at the depth limit' } } },
          },
        };
        return postUser(state.body);
      },
      status: 201,
      check: async (res) => {
        assert.match(String(res.headers['content-type']), /^application\/json/);
        const user = res.json<UserJson>();
        assert.deepEqual(Object.keys(user).sort(), USER_FIELDS);
        assert.match(user.id, UUID_V7);
        assert.equal(user.email, state.email, 'the email is stored as given, case included');
        assert.equal(user.name, 'Ada Lovelace', 'the name is trimmed');
        assert.deepEqual(user.attributes, state.body.attributes);
        assert.equal(user.version, 1);
        assert.equal(new Date(user.created_at).toISOString(), user.created_at);
        assert.equal(user.updated_at, user.created_at);
        assert.equal(res.headers.location, `/v1/users/${user.id}`);
        assert.equal(res.headers.etag, '"1"');
        assert.equal(res.headers['idempotent-replayed'], undefined);
        const again = await t.app.inject({ method: 'GET', url: `/v1/users/${user.id}` });
        assert.equal(again.statusCode, 200);
        assert.deepEqual(again.json(), user);
      },
    },
    {
      name: 'create201AttributesDefaultToEmpty',
      request: () => postUser({ email: uniqueEmail(), name: 'No Attributes' }),
      status: 201,
      check: (res) => assert.deepEqual(res.json<UserJson>().attributes, {}),
    },
    {
      name: 'create201NameNfcNormalised',
      request: () => postUser({ email: uniqueEmail(), name: 'Cafe\u0301 Ame\u0301lie' }),
      status: 201,
      check: (res) => assert.equal(res.json<UserJson>().name, 'Caf\u00e9 Am\u00e9lie'),
    },
    {
      name: 'create201NameOf200CodePoints',
      // 200 astral characters are 400 UTF-16 units: the limit counts code points.
      request: () => postUser({ email: uniqueEmail(), name: '\u{1F600}'.repeat(200) }),
      status: 201,
      check: (res) => assert.equal([...res.json<UserJson>().name].length, 200),
    },
    {
      name: 'create201Replayed',
      request: async () => {
        const key = `key-${uuidv7()}`;
        const body = { email: uniqueEmail('replay'), name: 'Replay Me', attributes: { a: 1, b: [1, 2] } };
        const first = await t.app.inject(postUser(body, { 'idempotency-key': key }));
        assert.equal(first.statusCode, 201, first.body);
        assert.equal(first.headers['idempotent-replayed'], undefined);
        state.first = first.json<UserJson>();
        state.location = String(first.headers.location);
        state.etag = String(first.headers.etag);
        state.email = body.email;
        // Same body, fields in another order: still the same request.
        return postUser({ attributes: { b: [1, 2], a: 1 }, name: 'Replay Me', email: body.email }, { 'idempotency-key': key });
      },
      status: 201,
      check: async (res) => {
        assert.equal(res.headers['idempotent-replayed'], 'true');
        assert.deepEqual(res.json(), state.first, 'the replay returns the first response body, same id');
        assert.equal(res.headers.location, state.location);
        assert.equal(res.headers.etag, state.etag);
        assert.equal((await usersWithEmail(state.email)).length, 1, 'exactly one user was created');
      },
    },
    {
      name: 'create409',
      request: async () => {
        const email = uniqueEmail('Grace.Hopper', 'Example.com');
        await createUser({ email });
        state.email = email;
        return postUser({ email: email.toLowerCase().replace('example.com', 'EXAMPLE.COM'), name: 'Another Grace' });
      },
      status: 409,
      problem: { code: 'email-taken' },
      check: async () => {
        const same = await usersWithEmail(state.email);
        assert.equal(same.length, 1);
        assert.equal(same[0]!.email, state.email, 'the first user is untouched');
      },
    },
    {
      name: 'create422',
      request: async () => {
        const key = `key-${uuidv7()}`;
        await createUser({ email: uniqueEmail('first') }); // unrelated noise
        const first = await t.app.inject(postUser({ email: uniqueEmail('keyed'), name: 'Keyed' }, { 'idempotency-key': key }));
        assert.equal(first.statusCode, 201, first.body);
        state.email = uniqueEmail('other-body');
        return postUser({ email: state.email, name: 'Keyed' }, { 'idempotency-key': key });
      },
      status: 422,
      problem: { code: 'idempotency-key-reused' },
      check: async () => assert.deepEqual(await usersWithEmail(state.email), [], 'the second body created nothing'),
    },
    {
      name: 'create400BusinessRulesTogether',
      request: () => postUser({ email: 'no-at-sign', name: '   ', attributes: { a: { b: { c: { d: { e: 1 } } } } } }),
      status: 400,
      problem: { code: 'validation', pointers: ['/email', '/name', '/attributes'] },
    },
    {
      name: 'create400EveryFieldErrorTogether',
      // Issue 3: "All field errors of a request are reported together." The schema rejects the
      // unknown field first and the business rules never run, so only /nickname is reported.
      request: () => postUser({ email: 'not-an-email', name: 'Bad\u0000Name', nickname: 'x' }),
      status: 400,
      problem: { code: 'validation', pointers: ['/email', '/name', '/nickname'] },
    },
    {
      name: 'create400MissingFields',
      request: () => postUser({}),
      status: 400,
      problem: { code: 'validation', pointers: ['/email', '/name'] },
    },
    {
      name: 'create400WrongTypes',
      request: () => postUser({ email: 5, name: null, attributes: ['not', 'an', 'object'] }),
      status: 400,
      problem: { code: 'validation', pointers: ['/email', '/name', '/attributes'] },
    },
    {
      name: 'create400UnknownField',
      request: () => postUser({ email: uniqueEmail(), name: 'Fine', nickname: 'x' }),
      status: 400,
      problem: { code: 'validation', pointers: ['/nickname'] },
    },
    ...(
      [
        ['Nul', 'Ada\u0000Lovelace'],
        ['Newline', 'Ada\nLovelace'],
        ['Bell', '\u0007Ada'],
        ['Delete', 'Ada\u007f'],
        ['LineSeparator', 'Ada\u2028Lovelace'],
      ] as const
    ).map(([what, name]): Case => ({
      name: `create400NameControlChar${what}`,
      request: () => postUser({ email: uniqueEmail(), name }),
      status: 400,
      problem: { code: 'validation', pointers: ['/name'] },
    })),
    {
      name: 'create400NameOf201CodePoints',
      request: () => postUser({ email: uniqueEmail(), name: '\u{1F600}'.repeat(201) }),
      status: 400,
      problem: { code: 'validation', pointers: ['/name'] },
    },
    {
      name: 'create400NameLoneSurrogate',
      request: () => postUser({ email: uniqueEmail(), name: 'Ada \ud800' }),
      status: 400,
      problem: { code: 'validation', pointers: ['/name'] },
    },
    {
      name: 'create400EmailLocalPartTooLong',
      request: () => postUser({ email: `${'a'.repeat(65)}@example.com`, name: 'Long Local' }),
      status: 400,
      problem: { code: 'validation', pointers: ['/email'] },
    },
    {
      name: 'create400AttributesTooBig',
      // 17 KiB of attributes inside a body well under the 64 KiB limit: the attributes cap answers.
      request: () => postUser({ email: uniqueEmail(), name: 'Big', attributes: { blob: 'x'.repeat(17 * 1024) } }),
      status: 400,
      problem: { code: 'validation', pointers: ['/attributes'] },
    },
    {
      name: 'create400AttributesTooDeep',
      request: () => postUser({ email: uniqueEmail(), name: 'Deep', attributes: { l2: { l3: { l4: { l5: {} } } } } }),
      status: 400,
      problem: { code: 'validation', pointers: ['/attributes'] },
    },
    {
      name: 'create400BadIdempotencyKey',
      request: () => postUser({ email: uniqueEmail(), name: 'Key' }, { 'idempotency-key': 'has spaces in it' }),
      status: 400,
      problem: { code: 'validation', parameters: ['idempotency-key'] },
    },
    {
      name: 'create400MalformedJson',
      request: () => ({ method: 'POST', url: '/v1/users', headers: { 'content-type': 'application/json' }, payload: '{"email":' }),
      status: 400,
      problem: { code: 'malformed-json' },
    },
    {
      name: 'create400EmptyJsonBody',
      request: () => ({ method: 'POST', url: '/v1/users', headers: { 'content-type': 'application/json' }, payload: '' }),
      status: 400,
      problem: { code: 'malformed-json' },
    },
    {
      name: 'create400ProtoPoisoning',
      request: () => ({
        method: 'POST',
        url: '/v1/users',
        headers: { 'content-type': 'application/json' },
        payload: `{"email":"${uniqueEmail()}","name":"Proto","__proto__":{"admin":true}}`,
      }),
      status: 400,
      problem: { code: 'malformed-json' },
    },
    {
      name: 'create400JsonArray',
      request: () => ({ method: 'POST', url: '/v1/users', headers: { 'content-type': 'application/json' }, payload: '[]' }),
      status: 400,
      problem: { code: 'validation' },
    },
    {
      name: 'create415',
      request: () => ({ method: 'POST', url: '/v1/users', headers: { 'content-type': 'text/plain' }, payload: 'email=a@b.co' }),
      status: 415,
      problem: { code: 'unsupported-media-type' },
    },
    {
      name: 'create415Xml',
      request: () => ({ method: 'POST', url: '/v1/users', headers: { 'content-type': 'application/xml' }, payload: '<user/>' }),
      status: 415,
      problem: { code: 'unsupported-media-type' },
    },
    {
      name: 'create415MergePatch',
      request: () => ({
        method: 'POST',
        url: '/v1/users',
        headers: { 'content-type': 'application/merge-patch+json' },
        payload: JSON.stringify({ email: uniqueEmail(), name: 'Wrong Type' }),
      }),
      status: 415,
      problem: { code: 'unsupported-media-type' },
    },
    {
      name: 'create413',
      request: () => postUser({ email: uniqueEmail(), name: 'Huge', attributes: { blob: 'x'.repeat(70 * 1024) } }),
      status: 413,
      problem: { code: 'body-too-large' },
    },
  ]);

  test('rejected creates leave the user count unchanged', async () => {
    const before = await countUsers();
    for (const request of [
      postUser({ email: 'bad', name: '' }),
      postUser({ email: uniqueEmail(), name: 'x', nickname: 1 }),
      postUser({ email: uniqueEmail(), name: 'Huge', attributes: { blob: 'x'.repeat(70 * 1024) } }),
    ]) {
      const res = await t.app.inject(request);
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, res.body);
    }
    assert.equal(await countUsers(), before);
  });
});

describe('GET /v1/users/:id', () => {
  let user: UserJson;
  before(async () => {
    user = await createUser({ name: 'Gettable', attributes: { k: 'v' } });
  });

  runTable([
    {
      name: 'get200',
      request: () => ({ method: 'GET', url: `/v1/users/${user.id}` }),
      status: 200,
      check: (res) => {
        assert.equal(res.headers.etag, '"1"');
        assert.match(String(res.headers['content-type']), /^application\/json/);
        assert.deepEqual(res.json(), user);
      },
    },
    {
      name: 'get200StaleIfNoneMatch',
      request: () => ({ method: 'GET', url: `/v1/users/${user.id}`, headers: { 'if-none-match': '"7"' } }),
      status: 200,
      check: (res) => assert.deepEqual(res.json(), user),
    },
    {
      name: 'get304',
      request: () => ({ method: 'GET', url: `/v1/users/${user.id}`, headers: { 'if-none-match': '"1"' } }),
      status: 304,
      check: (res) => {
        assert.equal(res.headers.etag, '"1"');
        assert.equal(res.body, '');
      },
    },
    {
      name: 'get304WeakTagInList',
      request: () => ({ method: 'GET', url: `/v1/users/${user.id}`, headers: { 'if-none-match': '"5", W/"1"' } }),
      status: 304,
      check: (res) => assert.equal(res.body, ''),
    },
    {
      name: 'get304Star',
      request: () => ({ method: 'GET', url: `/v1/users/${user.id}`, headers: { 'if-none-match': '*' } }),
      status: 304,
    },
    {
      name: 'get404',
      request: () => ({ method: 'GET', url: `/v1/users/${uuidv7()}` }),
      status: 404,
      problem: { code: 'user-not-found' },
    },
    ...(
      [
        ['Garbage', 'not-a-uuid'],
        ['UuidV4', uuidv4()],
        ['UpperCase', uuidv7().toUpperCase()],
        ['SqlInjection', encodeURIComponent("' or 1=1 --")],
        ['Nul', '%00'],
      ] as const
    ).map(([what, id]): Case => ({
      name: `get400BadId${what}`,
      request: () => ({ method: 'GET', url: `/v1/users/${id}` }),
      status: 400,
      problem: { code: 'validation', parameters: ['id'] },
    })),
    {
      name: 'get400BadIdMalformedEscape',
      request: () => ({ method: 'GET', url: '/v1/users/%zz' }),
      status: 400,
      problem: { code: 'bad-request' },
    },
    {
      name: 'get414IdLongerThanMaxParamLength',
      request: () => ({ method: 'GET', url: `/v1/users/${'a'.repeat(300)}` }),
      status: 414,
      problem: { code: 'uri-too-long' },
    },
  ]);
});

describe('GET /v1/users', () => {
  const seeded: UserJson[] = [];
  const tag = `zq${process.pid}`;
  const created = { ids: [] as string[] };
  before(async () => {
    // Enough users that the default page size is exceeded whatever the other tests created.
    for (let i = 0; i < 60; i++) seeded.push(await createUser({ email: uniqueEmail(`${tag}-seed`), name: `Seed ${i}` }));
  });

  runTable([
    {
      name: 'list200WalkAllPages',
      request: () => ({ method: 'GET', url: '/v1/users?limit=7' }),
      status: 200,
      check: async (res) => {
        const first = res.json<PageJson>();
        assert.equal(first.data.length, 7);
        assert.equal(typeof first.next_cursor, 'string');
        const pages = await walk({ limit: 7 });
        for (const page of pages.slice(0, -1)) assert.equal(page.data.length, 7, 'only the last page may be short');
        assert.equal(pages.at(-1)!.next_cursor, null);
        const ids = pages.flatMap((p) => p.data.map((u) => u.id));
        assert.deepEqual(ids, [...ids].sort(), 'users come in id order');
        assert.equal(new Set(ids).size, ids.length, 'no user appears twice');
        assert.equal(ids.length, await countUsers(), 'no user is skipped');
        for (const u of seeded) assert.ok(ids.includes(u.id), `seeded user ${u.id} is missing`);
        assert.deepEqual(pages[0]!.data, first.data);
      },
    },
    {
      name: 'list200LimitMax',
      request: () => ({ method: 'GET', url: '/v1/users?limit=200' }),
      status: 200,
      check: async (res) => {
        const page = res.json<PageJson>();
        assert.equal(page.data.length, Math.min(200, await countUsers()));
      },
    },
    {
      name: 'list200DefaultLimit',
      request: () => ({ method: 'GET', url: '/v1/users' }),
      status: 200,
      check: (res) => {
        const page = res.json<PageJson>();
        assert.equal(page.data.length, 50);
        assert.equal(typeof page.next_cursor, 'string');
      },
    },
    {
      name: 'list200EmailExactCaseInsensitive',
      request: async () => {
        const email = uniqueEmail('Mixed.Case', 'Example.ORG');
        seeded.push(await createUser({ email, name: 'Mixed Case' }));
        await createUser({ email: `x${email}`, name: 'Suffix Of The Other' });
        return { method: 'GET', url: `/v1/users?limit=10&email=${encodeURIComponent(email.toUpperCase())}` };
      },
      status: 200,
      check: (res) => {
        const page = res.json<PageJson>();
        assert.deepEqual(
          page.data.map((u) => u.email),
          [seeded.at(-1)!.email],
        );
        assert.equal(page.next_cursor, null);
      },
    },
    {
      name: 'list200EmailIsNotAPrefixMatch',
      request: () => ({ method: 'GET', url: `/v1/users?limit=10&email=${encodeURIComponent(seeded[0]!.email.slice(0, 10))}` }),
      status: 200,
      check: (res) => assert.deepEqual(res.json<PageJson>().data, []),
    },
    {
      name: 'list200QPrefixOfNameOrEmail',
      request: async () => {
        const q = `Qp${process.pid}x`;
        const matching = [
          await createUser({ name: `${q} Alpha` }),
          await createUser({ name: `${q.toUpperCase()} Beta` }),
          await createUser({ email: uniqueEmail(q.toLowerCase()), name: 'Gamma By Email' }),
        ];
        await createUser({ name: `Delta ${q}` }); // contains q, but not as a prefix
        // Key order: "qp…x alpha" < "qp…x beta" < "qp…x.n.pid@example.com" (a space sorts before a dot).
        created.ids = matching.map((u) => u.id);
        return { method: 'GET', url: `/v1/users?limit=50&q=${q.toLowerCase()}` };
      },
      status: 200,
      check: (res) =>
        assert.deepEqual(
          res.json<PageJson>().data.map((u) => u.id),
          created.ids,
        ),
    },
    {
      name: 'list200QWalkKeepsTheFilter',
      request: () => ({ method: 'GET', url: `/v1/users?limit=7&q=${tag}-SEED` }),
      status: 200,
      check: async () => {
        const pages = await walk({ limit: 7, q: `${tag}-SEED` });
        const ids = pages.flatMap((p) => p.data.map((u) => u.id));
        const expected = seeded
          .filter((u) => u.email.startsWith(`${tag}-seed`))
          .sort((a, b) => compareKeys(a.email.toLowerCase(), b.email.toLowerCase()))
          .map((u) => u.id);
        assert.deepEqual(ids, expected, 'in email key order');
      },
    },
    {
      name: 'list200QWalkEmitsEachUserOnceAtItsFirstKey',
      request: async () => {
        const q = `qw${process.pid}`;
        const users: { id: string; key: string }[] = [];
        // Both keys match: each user must come once, at the smaller key. Then some match by one key only.
        for (let i = 0; i < 12; i++) {
          const both = await createUser({ email: `${q}.${i}.both@example.com`, name: `${q} ${i % 3} Both` });
          users.push({ id: both.id, key: `${q} ${i % 3} both` });
        }
        for (let i = 0; i < 4; i++) {
          const emailFirst = await createUser({ email: `${q}+${i}@example.com`, name: `${q}zz ${i}` });
          users.push({ id: emailFirst.id, key: `${q}+${i}@example.com` });
        }
        for (let i = 0; i < 5; i++) {
          const byEmail = await createUser({ email: `${q}-${i}@example.com`, name: 'Not A Match' });
          users.push({ id: byEmail.id, key: `${q}-${i}@example.com` });
          const byName = await createUser({ name: `${q.toUpperCase()}Z ${i}` });
          users.push({ id: byName.id, key: `${q}z ${i}` });
        }
        created.ids = users.sort((a, b) => compareKeys(a.key, b.key) || compareKeys(a.id, b.id)).map((u) => u.id);
        return { method: 'GET', url: `/v1/users?limit=3&q=${q}` };
      },
      status: 200,
      check: async () => {
        const pages = await walk({ limit: 3, q: `qw${process.pid}` });
        const ids = pages.flatMap((p) => p.data.map((u) => u.id));
        assert.deepEqual(ids, created.ids, 'every user once, in key order');
        assert.ok(
          pages.every((p) => p.data.length <= 3),
          'no page is longer than the limit',
        );
      },
    },
    {
      name: 'list200QWithEmailIsThatUserIfEitherKeyMatches',
      request: async () => {
        const user = await createUser({ email: uniqueEmail('qe'), name: `Qe Name ${process.pid}` });
        created.ids = [user.id];
        return { method: 'GET', url: `/v1/users?limit=5&email=${encodeURIComponent(user.email)}&q=qe%20NAME` };
      },
      status: 200,
      check: async (res) => {
        assert.deepEqual(res.json(), { data: [(await getUser(created.ids[0]!)).json()], next_cursor: null });
        const email = (await getUser(created.ids[0]!)).json<UserJson>().email;
        assert.deepEqual((await listPage({ limit: 5, email, q: 'QE.' })).data.length, 1, 'by its email key');
        assert.deepEqual((await listPage({ limit: 5, email, q: 'qe name x' })).data, [], 'neither key starts with q');
      },
    },
    {
      name: 'list200QWildcardsAreLiteral',
      request: async () => {
        created.ids = [(await createUser({ name: '%_literal wildcard name' })).id];
        return { method: 'GET', url: `/v1/users?limit=200&q=${encodeURIComponent('%_')}` };
      },
      status: 200,
      check: (res) => {
        const page = res.json<PageJson>();
        assert.deepEqual(
          page.data.map((u) => u.id),
          created.ids,
          '% and _ match only themselves',
        );
      },
    },
    {
      name: 'list200QNoMatch',
      request: () => ({ method: 'GET', url: `/v1/users?limit=5&q=${encodeURIComponent("nobody' or '1'='1")}` }),
      status: 200,
      check: (res) => assert.deepEqual(res.json(), { data: [], next_cursor: null }),
    },
    {
      name: 'list400BadCursorGarbage',
      request: () => ({ method: 'GET', url: '/v1/users?limit=5&cursor=garbage' }),
      status: 400,
      problem: { code: 'invalid-cursor' },
    },
    {
      name: 'list400BadCursorTamperedSignature',
      request: async () => {
        const cursor = (await listPage({ limit: 5 })).next_cursor!;
        const [body, mac] = cursor.split('.') as [string, string];
        // Change the first MAC character: the last one carries padding bits only.
        const tampered = `${body}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
        return { method: 'GET', url: `/v1/users?limit=5&cursor=${encodeURIComponent(tampered)}` };
      },
      status: 400,
      problem: { code: 'invalid-cursor' },
    },
    {
      name: 'list400BadCursorForgedPosition',
      request: async () => {
        const cursor = (await listPage({ limit: 5 })).next_cursor!;
        const [body, mac] = cursor.split('.') as [string, string];
        const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, string>;
        const forged = Buffer.from(JSON.stringify({ ...payload, after: seeded[30]!.id })).toString('base64url');
        return { method: 'GET', url: `/v1/users?limit=5&cursor=${encodeURIComponent(`${forged}.${mac}`)}` };
      },
      status: 400,
      problem: { code: 'invalid-cursor' },
    },
    {
      name: 'list400BadCursorFromAnotherKey',
      request: () => {
        const foreign = new CursorCodec(Buffer.alloc(32, 7)).encode({ after: seeded[0]!.id, filter: 'x' });
        return { method: 'GET', url: `/v1/users?limit=5&cursor=${encodeURIComponent(foreign)}` };
      },
      status: 400,
      problem: { code: 'invalid-cursor' },
    },
    {
      name: 'list400BadCursorReusedWithOtherFilters',
      request: async () => {
        const cursor = (await listPage({ limit: 5, q: `${tag}-seed` })).next_cursor!;
        return { method: 'GET', url: `/v1/users?limit=5&cursor=${encodeURIComponent(cursor)}` };
      },
      status: 400,
      problem: { code: 'invalid-cursor' },
    },
    {
      name: 'list400BadCursorReusedWithOtherQ',
      request: async () => {
        const cursor = (await listPage({ limit: 5, q: `${tag}-seed` })).next_cursor!;
        return { method: 'GET', url: `/v1/users?limit=5&q=${tag}&cursor=${encodeURIComponent(cursor)}` };
      },
      status: 400,
      problem: { code: 'invalid-cursor' },
    },
    {
      name: 'list400BadCursorTooLong',
      request: () => ({ method: 'GET', url: `/v1/users?limit=5&cursor=${'a'.repeat(5000)}` }),
      status: 400,
      problem: { code: 'validation', parameters: ['cursor'] },
    },
    ...(
      [
        ['LimitZero', 'limit=0', ['limit']],
        ['Limit201', 'limit=201', ['limit']],
        ['LimitNotANumber', 'limit=abc', ['limit']],
        ['LimitRepeated', 'limit=1&limit=2', ['limit']],
        ['UnknownParameter', 'limit=5&sort=name', ['sort']],
        ['EmptyQ', 'limit=5&q=', ['q']],
      ] as const
    ).map(([what, query, parameters]): Case => ({
      name: `list400${what}`,
      request: () => ({ method: 'GET', url: `/v1/users?${query}` }),
      status: 400,
      problem: { code: 'validation', parameters },
    })),
    ...(
      [
        ['LimitFraction', 'limit=2.5'],
        ['LimitExponent', 'limit=1e1'],
      ] as const
    ).map(([what, query]): Case => ({
      name: `list400${what}`,
      request: () => ({ method: 'GET', url: `/v1/users?${query}` }),
      status: 400,
      problem: { code: 'validation', parameters: ['limit'] },
    })),
  ]);
});

describe('PATCH /v1/users/:id', () => {
  const state = { user: undefined as unknown as UserJson, other: undefined as unknown as UserJson };
  const fresh = async (attributes: Record<string, unknown> = { team: 'core', level: 3, nested: { a: 1, b: 2 } }) => {
    state.user = await createUser({ name: 'Patchable', attributes });
    return state.user;
  };
  const unchanged = async () => {
    const res = await getUser(state.user.id);
    assert.deepEqual(res.json(), state.user, 'a rejected patch changes nothing');
    assert.equal(res.headers.etag, '"1"');
  };

  runTable([
    {
      name: 'patch200',
      request: async () => {
        const user = await fresh();
        return patchUser(
          user.id,
          { name: '  Renamed  ', email: uniqueEmail('Renamed'), attributes: { level: null, nested: { b: null, c: 3 }, added: [1] } },
          { 'if-match': '"1"' },
        );
      },
      status: 200,
      check: async (res) => {
        const user = res.json<UserJson>();
        assert.equal(res.headers.etag, '"2"');
        assert.equal(user.version, 2);
        assert.equal(user.name, 'Renamed');
        assert.match(user.email, /^Renamed\./);
        assert.deepEqual(user.attributes, { team: 'core', nested: { a: 1, c: 3 }, added: [1] });
        assert.equal(user.id, state.user.id);
        assert.equal(user.created_at, state.user.created_at);
        assert.ok(user.updated_at >= state.user.updated_at);
        const now = await getUser(user.id);
        assert.equal(now.headers.etag, '"2"');
        assert.deepEqual(now.json(), user);
      },
    },
    {
      name: 'patch200WithoutIfMatch',
      request: async () => patchUser((await fresh()).id, { name: 'No Precondition' }),
      status: 200,
      check: (res) => {
        assert.equal(res.json<UserJson>().name, 'No Precondition');
        assert.equal(res.headers.etag, '"2"');
      },
    },
    {
      // A generic JSON client (one generated from the document) sends application/json: read as
      // the same merge patch, null clearing a key.
      name: 'patch200PlainJson',
      request: async () => ({
        ...patchUser((await fresh({ team: 'core' })).id, { name: 'Plain JSON', attributes: { team: null } }),
        headers: { 'content-type': 'application/json', 'if-match': '"1"' },
      }),
      status: 200,
      check: (res) => {
        assert.equal(res.json<UserJson>().name, 'Plain JSON');
        assert.deepEqual(res.json<UserJson>().attributes, {});
        assert.equal(res.json<UserJson>().version, 2);
      },
    },
    {
      name: 'patch200AttributesNullClearsAll',
      request: async () => patchUser((await fresh()).id, { attributes: null }, { 'if-match': '"1"' }),
      status: 200,
      check: (res) => {
        assert.deepEqual(res.json<UserJson>().attributes, {});
        assert.equal(res.json<UserJson>().version, 2);
      },
    },
    {
      name: 'patch200NoChange',
      request: async () => {
        const user = await fresh();
        return patchUser(user.id, { name: user.name, email: user.email, attributes: { team: 'core' } }, { 'if-match': '"1"' });
      },
      status: 200,
      check: async (res) => {
        assert.equal(res.headers.etag, '"1"');
        assert.deepEqual(res.json(), state.user, 'version and updated_at are unchanged');
        await unchanged();
      },
    },
    {
      name: 'patch200EmptyPatch',
      request: async () => patchUser((await fresh()).id, {}),
      status: 200,
      check: async (res) => {
        assert.equal(res.json<UserJson>().version, 1);
        await unchanged();
      },
    },
    {
      name: 'patch412',
      request: async () => {
        const user = await fresh();
        const first = await t.app.inject(patchUser(user.id, { name: 'First Writer' }, { 'if-match': '"1"' }));
        assert.equal(first.statusCode, 200, first.body);
        state.user = first.json<UserJson>();
        return patchUser(user.id, { name: 'Second Writer' }, { 'if-match': '"1"' });
      },
      status: 412,
      problem: { code: 'version-mismatch' },
      check: async () => assert.equal((await getUser(state.user.id)).json<UserJson>().name, 'First Writer'),
    },
    {
      name: 'patch412WeakTag',
      request: async () => patchUser((await fresh()).id, { name: 'Weak' }, { 'if-match': 'W/"1"' }),
      status: 412,
      problem: { code: 'version-mismatch' },
      check: unchanged,
    },
    {
      name: 'patch409',
      request: async () => {
        state.other = await createUser({ email: uniqueEmail('Taken', 'Example.com') });
        const user = await fresh();
        return patchUser(user.id, { email: state.other.email.toUpperCase() }, { 'if-match': '"1"' });
      },
      status: 409,
      problem: { code: 'email-taken' },
      check: unchanged,
    },
    {
      name: 'patch415',
      request: async () => ({
        method: 'PATCH',
        url: `/v1/users/${(await fresh()).id}`,
        headers: { 'content-type': 'text/plain' },
        payload: JSON.stringify({ name: 'Wrong Media Type' }),
      }),
      status: 415,
      problem: { code: 'unsupported-media-type' },
      check: unchanged,
    },
    {
      name: 'patch400EmailNull',
      request: async () => patchUser((await fresh()).id, { email: null }),
      status: 400,
      problem: { code: 'validation', pointers: ['/email'] },
      check: async (res) => {
        const problem = res.json<{ errors: { pointer: string; message: string }[] }>();
        assert.equal(problem.errors[0]!.message, 'cannot be removed');
        await unchanged();
      },
    },
    {
      name: 'patch400NameNull',
      request: async () => patchUser((await fresh()).id, { name: null }),
      status: 400,
      problem: { code: 'validation', pointers: ['/name'] },
      check: unchanged,
    },
    {
      name: 'patch400UnknownField',
      request: async () => patchUser((await fresh()).id, { nickname: 'x' }),
      status: 400,
      problem: { code: 'validation', pointers: ['/nickname'] },
      check: unchanged,
    },
    {
      name: 'patch400BadFieldsTogether',
      request: async () => patchUser((await fresh()).id, { email: 'nope', name: '\u0000', attributes: { a: { b: { c: { d: {} } } } } }),
      status: 400,
      problem: { code: 'validation', pointers: ['/email', '/name', '/attributes'] },
      check: unchanged,
    },
    {
      name: 'patch400AttributesTooBigAfterMerge',
      request: async () => {
        const user = await fresh({ half: 'x'.repeat(9 * 1024) });
        return patchUser(user.id, { attributes: { other: 'y'.repeat(9 * 1024) } });
      },
      status: 400,
      problem: { code: 'validation', pointers: ['/attributes'] },
      check: unchanged,
    },
    {
      name: 'patch400MalformedJson',
      request: async () => ({
        method: 'PATCH',
        url: `/v1/users/${(await fresh()).id}`,
        headers: { 'content-type': 'application/merge-patch+json' },
        payload: '{"name": ',
      }),
      status: 400,
      problem: { code: 'malformed-json' },
      check: unchanged,
    },
    {
      name: 'patch400NotAnObject',
      request: async () => patchUser((await fresh()).id, ['name']),
      status: 400,
      problem: { code: 'validation' },
      check: unchanged,
    },
    {
      name: 'patch400BadId',
      request: () => patchUser('nope', { name: 'x' }),
      status: 400,
      problem: { code: 'validation', parameters: ['id'] },
    },
    {
      name: 'patch404',
      request: () => patchUser(uuidv7(), { name: 'Nobody' }),
      status: 404,
      problem: { code: 'user-not-found' },
    },
  ]);
});

describe('DELETE /v1/users/:id', () => {
  const state = { user: undefined as unknown as UserJson };

  runTable([
    {
      name: 'delete204',
      request: async () => {
        state.user = await createUser({ name: 'Deletable' });
        return { method: 'DELETE', url: `/v1/users/${state.user.id}`, headers: { 'if-match': '"1"' } };
      },
      status: 204,
      check: async (res) => {
        assert.equal(res.body, '');
        assertProblem(fromInject(await getUser(state.user.id)), 'user-not-found');
        const again = await t.app.inject({ method: 'DELETE', url: `/v1/users/${state.user.id}` });
        assertProblem(fromInject(again), 'user-not-found');
      },
    },
    {
      name: 'delete204FreesTheEmail',
      request: async () => {
        state.user = await createUser({ name: 'Deletable' });
        return { method: 'DELETE', url: `/v1/users/${state.user.id}` };
      },
      status: 204,
      check: async () => {
        const reborn = await createUser({ email: state.user.email.toUpperCase(), name: 'Reborn' });
        assert.notEqual(reborn.id, state.user.id);
      },
    },
    {
      name: 'delete412',
      request: async () => {
        state.user = await createUser({ name: 'Guarded' });
        return { method: 'DELETE', url: `/v1/users/${state.user.id}`, headers: { 'if-match': '"9"' } };
      },
      status: 412,
      problem: { code: 'version-mismatch' },
      check: async () => assert.equal((await getUser(state.user.id)).statusCode, 200, 'the user survives a failed precondition'),
    },
    {
      name: 'delete404',
      request: () => ({ method: 'DELETE', url: `/v1/users/${uuidv7()}` }),
      status: 404,
      problem: { code: 'user-not-found' },
    },
    {
      name: 'delete400BadId',
      request: () => ({ method: 'DELETE', url: '/v1/users/12345' }),
      status: 400,
      problem: { code: 'validation', parameters: ['id'] },
    },
  ]);
});

describe('routing and request ids', () => {
  runTable([
    {
      name: 'unknownRoute404',
      request: () => ({ method: 'GET', url: '/v2/users?limit=1' }),
      status: 404,
      problem: { code: 'route-not-found' },
      check: (res) => assert.doesNotMatch(res.json<{ detail: string }>().detail, /limit=1/, 'the query string is not echoed'),
    },
    {
      name: 'unknownMethod404',
      request: () => ({ method: 'PUT', url: `/v1/users/${uuidv7()}`, headers: { 'content-type': 'application/json' }, payload: '{}' }),
      status: 404,
      problem: { code: 'route-not-found' },
    },
    {
      name: 'requestIdEchoed',
      request: () => ({ method: 'GET', url: `/v1/users/${uuidv7()}`, headers: { 'x-request-id': 'Req-123.abc:DEF_9' } }),
      status: 404,
      problem: { code: 'user-not-found' },
      check: (res) => {
        assert.equal(res.headers['x-request-id'], 'Req-123.abc:DEF_9');
        assert.equal(res.json<{ request_id: string }>().request_id, 'Req-123.abc:DEF_9');
      },
    },
    {
      name: 'requestIdEchoedOnSuccess',
      request: () => ({ method: 'GET', url: '/v1/users?limit=1', headers: { 'x-request-id': 'ok-1' } }),
      status: 200,
      check: (res) => assert.equal(res.headers['x-request-id'], 'ok-1'),
    },
    ...(
      [
        ['WithSpaces', 'has spaces in it'],
        ['TooLong', 'x'.repeat(300)],
        ['WithSlash', 'a/b'],
        ['WithNewlineInjection', 'abc%0d%0aSet-Cookie:x'],
      ] as const
    ).map(([what, given]): Case => ({
      name: `requestIdReplaced${what}`,
      request: () => ({ method: 'GET', url: `/v1/users/${uuidv7()}`, headers: { 'x-request-id': given } }),
      status: 404,
      problem: { code: 'user-not-found' },
      check: (res) => {
        const id = String(res.headers['x-request-id']);
        assert.notEqual(id, given);
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a fresh UUID replaces it');
      },
    })),
  ]);

  test('every request gets its own generated id', async () => {
    const a = await t.app.inject({ method: 'GET', url: '/livez' });
    const b = await t.app.inject({ method: 'GET', url: '/livez' });
    assert.ok(a.headers['x-request-id']);
    assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
  });
});

describe('internal errors', () => {
  const SECRET = 'secret internal detail';
  /** A store whose every method fails with text no client may see. */
  const brokenStore: UserStore = {
    create: () => Promise.reject(new Error(SECRET)),
    findIdempotency: () => Promise.reject(new Error(SECRET)),
    get: () => Promise.reject(new Error(SECRET)),
    getJson: () => Promise.reject(new Error(SECRET)),
    list: () => Promise.reject(new Error(SECRET)),
    listJson: () => Promise.reject(new Error(SECRET)),
    skip: () => Promise.reject(new Error(SECRET)),
    search: () => Promise.reject(new Error(SECRET)),
    searchJson: () => Promise.reject(new Error(SECRET)),
    update: () => Promise.reject(new Error(SECRET)),
    delete: () => Promise.reject(new Error(SECRET)),
    purgeIdempotency: () => Promise.reject(new Error(SECRET)),
  };
  const { logger, lines: logLines } = capturedLogs();
  let app: Awaited<ReturnType<typeof buildApp>>;
  let keysDb: TestDatabase;
  before(async () => {
    keysDb = await sqliteTestDatabase();
    const auth = await testAuth(keysDb.database);
    app = await appOver(keysDb.database, {
      logger,
      users: new UsersService({
        store: brokenStore,
        cursors: new CursorCodec(Buffer.alloc(32, 1)),
        newId: uuidv7,
        idempotencyTtlMs: 60_000,
      }),
      apiKeys: auth.apiKeys,
      authenticator: auth.authenticator,
    });
    withCredentials(app, auth.adminKey);
  });
  after(async () => {
    await app?.close();
    await keysDb?.cleanup();
  });

  const requests: [string, InjectOptions][] = [
    ['get500', { method: 'GET', url: `/v1/users/${uuidv7()}`, headers: { 'x-request-id': 'trace-get-500' } }],
    ['list500', { method: 'GET', url: '/v1/users?limit=5', headers: { 'x-request-id': 'trace-list-500' } }],
    [
      'create500',
      {
        ...postUser({ email: 'ok@example.com', name: 'Ok' }),
        headers: { 'content-type': 'application/json', 'x-request-id': 'trace-create-500' },
      },
    ],
    [
      'patch500',
      {
        ...patchUser(uuidv7(), { name: 'x' }),
        headers: { 'content-type': 'application/merge-patch+json', 'x-request-id': 'trace-patch-500' },
      },
    ],
    ['delete500', { method: 'DELETE', url: `/v1/users/${uuidv7()}`, headers: { 'x-request-id': 'trace-delete-500' } }],
  ];
  for (const [name, request] of requests) {
    test(name, async () => {
      const res = await app.inject(request);
      assert.equal(res.statusCode, 500);
      assert.doesNotMatch(res.body, /secret|internal detail|Error:|at .*\.js/);
      assertProblem(fromInject(res), 'internal');
      const requestId = String(res.headers['x-request-id']);
      const logged = logLines.find((l) => l.request_id === requestId && l.level === 'error');
      assert.ok(logged, `the cause is logged with request id ${requestId}`);
      assert.match(JSON.stringify(logged), /secret internal detail/);
    });
  }
});
