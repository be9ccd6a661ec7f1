// Property tests with hostile input against the real app and a real database: arbitrary JSON
// (prototype keys, huge strings, control characters, lone surrogates, deep nesting) POSTed and
// PATCHed, arbitrary query strings and path ids. Whatever arrives, the server never answers
// 5xx, every 4xx is a catalogued problem+json document, and rejected requests change nothing.
//
// Runs are bounded (HOSTILE_RUNS per property) and seeded: the same inputs every run, so a failure
// reproduces. Set FC_SEED=<n> to explore other inputs; fast-check prints the seed and the
// shrunk counterexample of any failure.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialects } from '../helpers/databases.js';
import {
  anyCodePoint,
  headerText,
  hostileJson,
  hostileParameters,
  hostileString,
  jsonContentType,
  StatusTally,
} from '../helpers/hostile.js';
import { UUID_V7, type PageJson, type UserJson } from '../helpers/http.js';

// Stand-ins for "the real cursor" and "the real cursor with one character replaced", resolved
// at run time (the arbitraries are built before the cursor exists).
const cursorPlaceholder = '\u0000cursor';
const mutatePlaceholder = '\u0000mutate:';
const params = hostileParameters;

const { key: hostileKey, value: hostileValue, object: hostileObject } = hostileJson(['email', 'name', 'attributes', 'id', 'version']);

const someEmail = fc.oneof(
  fc.constantFrom('hostile@example.com', 'HOSTILE@example.com', 'other@example.org', 'a@b.co', 'x@localhost', 'q@1.2.3.4'),
  fc.emailAddress(),
  hostileString,
);

/** Objects shaped like a user, so the business rules (not only the schema) see hostile values. */
const userish = fc.record(
  {
    email: someEmail,
    name: fc.oneof(hostileString, fc.constantFrom('Ada Lovelace', '  Grace  ')),
    attributes: fc.oneof(hostileObject, hostileValue),
    extra: hostileValue,
  },
  { requiredKeys: [] },
);

/** Bodies the rules should mostly accept, carrying hostile text into names and attributes. */
const plausibleUser = fc.record(
  {
    email: fc.oneof(
      fc.nat().map((n) => `fuzz.${n}@example.com`),
      fc.emailAddress(),
    ),
    name: fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), hostileString),
    attributes: fc.dictionary(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
      fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        hostileString.filter((x) => x.length < 2000),
      ),
      { maxKeys: 5 },
    ),
  },
  { requiredKeys: ['email', 'name'] },
);

/** Patches the rules should mostly accept: renames and attribute merges with removals. */
const plausiblePatch = fc.record(
  {
    name: fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), hostileString),
    email: fc.nat().map((n) => `patched.${n}@example.com`),
    attributes: fc.oneof(
      fc.constant(null),
      fc.dictionary(fc.constantFrom('a', 'b', 'c', 'nested'), fc.oneof(fc.constant(null), fc.jsonValue({ maxDepth: 2 })), { maxKeys: 4 }),
    ),
  },
  { requiredKeys: [] },
);

/** Request bodies as text: valid JSON of every shape, broken JSON, and prototype-poisoning JSON. */
const jsonText = fc.oneof(
  { weight: 4, arbitrary: plausibleUser.map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: plausiblePatch.map((v) => JSON.stringify(v)) },
  { weight: 4, arbitrary: userish.map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: hostileObject.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.anything().map((v) => JSON.stringify(v) ?? String(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"__proto__":{"admin":true},"email":"p@example.com","name":"P"}',
      '{"constructor":{"prototype":{"admin":true}},"email":"c@example.com","name":"C"}',
      '{"email":"d@example.com","name":"D","attributes":{"__proto__":{"x":1}}}',
      '{"email":"e@example.com","name":"E","email":"f@example.com"}',
      '{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
      '\u0000',
      '',
      'null',
      '[]',
      '"string"',
    ),
  },
);

for (const [dialect, open, skip] of await dialects()) {
  describe(`hostile input on ${dialect}`, { skip }, () => {
    let t: TestApp;
    let target: UserJson;
    let cursor: string;

    before(async () => {
      t = await buildTestApp(open);
      for (let i = 0; i < 5; i++) {
        const res = await t.app.inject(post(JSON.stringify({ email: `seed${i}@example.com`, name: `Seed ${i}` })));
        assert.equal(res.statusCode, 201, res.body);
        target = res.json<UserJson>();
      }
      const page = await t.app.inject({ method: 'GET', url: '/v1/users?limit=2' });
      cursor = page.json<PageJson>().next_cursor!;
      assert.ok(cursor);
    });
    after(async () => t?.close());

    function post(payload: string, headers: Record<string, string> = {}): InjectOptions {
      return { method: 'POST', url: '/v1/users', headers: { 'content-type': 'application/json', ...headers }, payload };
    }

    async function countUsers(): Promise<number> {
      const row = await t.testDb.database.db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    const tally = new StatusTally();

    test('POST arbitrary bodies: never 5xx, 4xx is problem+json, only a 201 adds a user', async (ctx) => {
      const body = jsonText;
      await fc.assert(
        fc.asyncProperty(body, jsonContentType, fc.option(headerText, { nil: undefined }), async (payload, contentType, key) => {
          const before = await countUsers();
          const headers: Record<string, string> = { 'content-type': contentType };
          if (key !== undefined) headers['idempotency-key'] = key;
          const res = await t.app.inject(post(payload, headers));
          tally.assertSafe(res);
          const added = (await countUsers()) - before;
          if (res.statusCode === 201) {
            const user = res.json<UserJson>();
            assert.match(user.id, UUID_V7);
            assert.equal(added, res.headers['idempotent-replayed'] === 'true' ? 0 : 1);
          } else {
            assert.equal(added, 0, `a rejected request (${res.statusCode}) changed the user count`);
          }
        }),
        params,
      );
      tally.assertExercised(ctx, 201);
    });

    test('PATCH arbitrary bodies: never 5xx, 4xx is problem+json and leaves the user as it was', async (ctx) => {
      const body = jsonText;
      const ifMatch = fc.oneof(
        { weight: 3, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.oneof(fc.constantFrom('"1"', '*', 'W/"1"', '"999999999999999999999"'), headerText) },
      );
      const contentType = fc.oneof(
        { weight: 8, arbitrary: fc.constant('application/merge-patch+json') },
        { weight: 1, arbitrary: jsonContentType },
      );
      await fc.assert(
        fc.asyncProperty(body, contentType, ifMatch, async (payload, type, precondition) => {
          const before = await t.app.inject({ method: 'GET', url: `/v1/users/${target.id}` });
          const count = await countUsers();
          const headers: Record<string, string> = { 'content-type': type };
          if (precondition !== undefined) headers['if-match'] = precondition;
          const res = await t.app.inject({ method: 'PATCH', url: `/v1/users/${target.id}`, headers, payload });
          tally.assertSafe(res);
          const after = await t.app.inject({ method: 'GET', url: `/v1/users/${target.id}` });
          assert.equal(after.statusCode, 200);
          if (res.statusCode === 200) {
            assert.deepEqual(after.json(), res.json(), 'the stored user is the one the PATCH returned');
            const version = res.json<UserJson>().version;
            const was = before.json<UserJson>().version;
            assert.ok(version === was || version === was + 1, `version went from ${was} to ${version}`);
          } else {
            assert.deepEqual(after.json(), before.json(), `a rejected PATCH (${res.statusCode}) changed the user`);
          }
          assert.equal(await countUsers(), count);
        }),
        params,
      );
      tally.assertExercised(ctx, 200);
    });

    test('GET /v1/users with arbitrary query strings: never 5xx, 200 is a page, 4xx is problem+json', async (ctx) => {
      const value = fc.oneof(
        hostileString.filter((s) => s.length < 3000),
        fc.integer({ min: -5, max: 500 }).map(String),
        fc.constantFrom('1e1', '0x10', '+5', '-0', 'NaN', 'Infinity', '[]', '{}'),
        fc.constant(cursorPlaceholder),
        fc.tuple(fc.nat(200), anyCodePoint).map(([at, ch]) => `${mutatePlaceholder}${at}:${ch}`),
      );
      const pairs = fc.array(
        fc.tuple(
          fc.oneof(fc.constantFrom('limit', 'cursor', 'email', 'q'), fc.constantFrom('sort', '__proto__', 'constructor'), hostileKey),
          value,
        ),
        { maxLength: 5 },
      );
      const raw = fc.string({
        unit: fc.constantFrom('%', '&', '=', '+', ';', '?', '[', ']', 'a', '1', 'limit', 'q', '%00', '%zz', '%ff'),
        maxLength: 20,
      });
      const limit = fc.option(
        fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 200 }).map(String) }, { weight: 1, arbitrary: value }),
        { nil: undefined, freq: 5 },
      );
      const query = fc.oneof(
        {
          weight: 4,
          arbitrary: fc
            .tuple(limit, pairs)
            .map(([l, p]) => ({ pairs: l === undefined ? p : [['limit', l] as [string, string], ...p], raw: undefined })),
        },
        { weight: 1, arbitrary: raw.map((r) => ({ pairs: undefined, raw: r })) },
      );
      const count = await countUsers();
      await fc.assert(
        fc.asyncProperty(query, async ({ pairs: given, raw: rawQuery }) => {
          let qs: string;
          if (given) {
            const resolved = given.map(([k, v]): [string, string] => [k, resolveCursor(v, cursor)]);
            qs = new URLSearchParams(resolved).toString();
          } else {
            qs = rawQuery ?? '';
          }
          const res = await t.app.inject({ method: 'GET', url: `/v1/users?${qs}` });
          tally.assertSafe(res);
          if (res.statusCode === 200) {
            const page = res.json<PageJson>();
            assert.ok(Array.isArray(page.data) && page.data.length <= 200);
            assert.ok(page.next_cursor === null || typeof page.next_cursor === 'string');
          } else {
            assert.ok(res.statusCode >= 400, `unexpected status ${res.statusCode}`);
          }
        }),
        params,
      );
      tally.assertExercised(ctx, 200);
      assert.equal(await countUsers(), count);
    });

    test('arbitrary path ids on GET, PATCH and DELETE: never 5xx, always problem+json, nothing deleted', async (ctx) => {
      const id = fc.oneof(
        hostileString.filter((s) => s.isWellFormed()),
        fc.constantFrom(
          '..',
          '.',
          '',
          ' ',
          uuidv7().toUpperCase(),
          `${uuidv7()} `,
          `${uuidv7()}/x`,
          '00000000-0000-7000-8000-000000000000',
        ),
      );
      const method = fc.constantFrom('GET' as const, 'PATCH' as const, 'DELETE' as const);
      const count = await countUsers();
      await fc.assert(
        fc.asyncProperty(id, method, async (given, verb) => {
          const request: InjectOptions = { method: verb, url: `/v1/users/${encodeURIComponent(given)}` };
          if (verb === 'PATCH') {
            request.headers = { 'content-type': 'application/merge-patch+json' };
            request.payload = '{"name":"Renamed By Fuzz"}';
          }
          const res = await t.app.inject(request);
          tally.assertSafe(res);
          assert.ok(res.statusCode >= 400, `an arbitrary id was accepted: ${res.statusCode} for ${JSON.stringify(given)}`);
        }),
        params,
      );
      tally.report(ctx);
      assert.equal(await countUsers(), count);
      assert.equal((await t.app.inject({ method: 'GET', url: `/v1/users/${target.id}` })).statusCode, 200);
    });

    // Text PostgreSQL cannot store (U+0000, unpaired surrogates) is refused by the rules on every dialect.
    const unstorable: [string, () => InjectOptions][] = [
      ['create with NUL in an attribute value', () => post('{"email":"nul-value@example.com","name":"N","attributes":{"k":"\\u0000"}}')],
      ['create with NUL in an attribute key', () => post('{"email":"nul-key@example.com","name":"N","attributes":{"\\u0000":"v"}}')],
      [
        'create with an unpaired surrogate in an attribute',
        () => post('{"email":"lone@example.com","name":"N","attributes":{"k":"\\ud800"}}'),
      ],
      [
        'patch with NUL in an attribute value',
        () => ({
          method: 'PATCH',
          url: `/v1/users/${target.id}`,
          headers: { 'content-type': 'application/merge-patch+json' },
          payload: '{"attributes":{"k":"a\\u0000b"}}',
        }),
      ],
      ['list with NUL in q', () => ({ method: 'GET', url: '/v1/users?limit=5&q=a%00b' })],
      ['list with NUL in email', () => ({ method: 'GET', url: '/v1/users?limit=5&email=a%00b%40example.com' })],
    ];
    for (const [name, request] of unstorable) {
      test(`never 5xx: ${name}`, async () => {
        tally.assertSafe(await t.app.inject(request()));
      });
    }
  });
}

/** Swaps the placeholders for the real cursor, or the real cursor with one character replaced. */
function resolveCursor(value: string, cursor: string): string {
  if (value === cursorPlaceholder) return cursor;
  if (!value.startsWith(mutatePlaceholder)) return value;
  const spec = value.slice(mutatePlaceholder.length);
  const colon = spec.indexOf(':');
  const i = Number(spec.slice(0, colon)) % cursor.length;
  const ch = spec.slice(colon + 1);
  return `${cursor.slice(0, i)}${ch}${cursor.slice(i + 1)}`;
}
