// Bytes that are not UTF-8, in JSON bodies, query values and path segments: refused with a 400
// `invalid-encoding` problem that says where, never stored as U+FFFD, never looked up as such,
// never a 5xx. Valid UTF-8 goes through unchanged.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialects } from '../helpers/databases.js';
import { hostileParameters, StatusTally } from '../helpers/hostile.js';
import { assertProblem, fromInject, type UserJson } from '../helpers/http.js';

const latin1 = (text: string) => Buffer.from(text, 'latin1');

/** Every byte percent-encoded, as a client that sends raw octets in a URL would. */
const percentEncoded = (bytes: Uint8Array) => [...bytes].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

/** Byte strings of every kind: arbitrary, valid UTF-8, and valid UTF-8 with one byte damaged or inserted. */
const byteStrings = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 16 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), fc.nat(), fc.integer({ min: 0x80, max: 0xff }))
      .map(([s, at, byte]) => {
        const bytes = Buffer.from(s, 'utf8');
        const i = at % (bytes.length + 1);
        return new Uint8Array(Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]));
      }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ...[[0xe9], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf]].map((b) => new Uint8Array(b)),
    ),
  },
);

for (const [dialect, open, skip] of await dialects()) {
  describe(`bytes that are not UTF-8 on ${dialect}`, { skip }, () => {
    let t: TestApp;
    let target: UserJson;
    let webhooks = true;

    before(async () => {
      t = await buildTestApp(open);
      const res = await t.app.inject(post('/v1/users', Buffer.from('{"email":"target@example.com","name":"Target"}')));
      assert.equal(res.statusCode, 201, res.body);
      target = res.json<UserJson>();
      webhooks = t.app.routeTable.some((r) => r.url === '/v1/webhook-endpoints');
    });
    after(async () => t?.close());

    function post(url: string, payload: Buffer, type = 'application/json'): InjectOptions {
      return { method: 'POST', url, headers: { 'content-type': type }, payload };
    }

    async function count(table: 'users' | 'api_keys' | 'webhook_endpoints'): Promise<number> {
      const row = await t.testDb.database.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    test('POST /v1/users with a Latin-1 name: 400 naming the byte, nothing stored', async () => {
      const body = latin1('{"email":"jose@example.com","name":"Jos\u00e9"}');
      const before = await count('users');
      const res = await t.app.inject(post('/v1/users', body));
      const problem = assertProblem(fromInject(res), 'invalid-encoding');
      assert.match(problem.detail, new RegExp(`byte offset ${body.indexOf(0xe9)}\\b`));
      assert.match(problem.detail, /0xE9/);
      assert.equal(await count('users'), before);
      const search = await t.app.inject({ method: 'GET', url: '/v1/users?email=jose%40example.com' });
      assert.deepEqual(search.json<{ data: unknown[] }>().data, []);
    });

    test('POST /v1/users with a Latin-1 attribute key or value: 400, nothing stored', async () => {
      const before = await count('users');
      for (const text of [
        '{"email":"a1@example.com","name":"A","attributes":{"ville":"Gen\u00e8ve"}}',
        '{"email":"a2@example.com","name":"A","attributes":{"r\u00f4le":"x"}}',
      ]) {
        const res = await t.app.inject(post('/v1/users', latin1(text)));
        assertProblem(fromInject(res), 'invalid-encoding');
      }
      assert.equal(await count('users'), before);
    });

    test('PATCH /v1/users/{id} (merge-patch and plain JSON): 400, the user unchanged', async () => {
      for (const type of ['application/merge-patch+json', 'application/json']) {
        const res = await t.app.inject({
          method: 'PATCH',
          url: `/v1/users/${target.id}`,
          headers: { 'content-type': type },
          payload: latin1('{"name":"Ren\u00e9"}'),
        });
        assertProblem(fromInject(res), 'invalid-encoding');
      }
      const now = await t.app.inject({ method: 'GET', url: `/v1/users/${target.id}` });
      assert.deepEqual(now.json(), target);
    });

    test('POST /v1/api-keys and /v1/webhook-endpoints: 400, nothing stored', async () => {
      const keys = await count('api_keys');
      const res = await t.app.inject(post('/v1/api-keys', latin1('{"name":"cl\u00e9","scopes":["users:read"]}')));
      assertProblem(fromInject(res), 'invalid-encoding');
      assert.equal(await count('api_keys'), keys);
      if (webhooks) {
        const endpoints = await count('webhook_endpoints');
        const hook = await t.app.inject(
          post('/v1/webhook-endpoints', latin1('{"url":"https://hooks.example.com/x","description":"\u00e9t\u00e9"}')),
        );
        assertProblem(fromInject(hook), 'invalid-encoding');
        assert.equal(await count('webhook_endpoints'), endpoints);
      }
    });

    test('valid UTF-8 bodies are unaffected, a BOM-less multi-byte name round-trips', async () => {
      const res = await t.app.inject(post('/v1/users', Buffer.from('{"email":"jose.utf8@example.com","name":"José 😀"}', 'utf8')));
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json<UserJson>().name, 'José 😀');
    });

    for (const [url, parameter] of [
      ['/v1/users?q=%E9', 'q'],
      ['/v1/users?limit=5&q=%C3%28', 'q'],
      ['/v1/users?email=a%E9%40example.com', 'email'],
      ['/v1/users?cursor=%FF', 'cursor'],
    ] as const) {
      test(`GET ${url}: 400 naming ${parameter}, not a lookup`, async () => {
        const res = await t.app.inject({ method: 'GET', url });
        assertProblem(fromInject(res), 'invalid-encoding', { parameters: [parameter] });
      });
    }

    test('a route that reads no query ignores an undecodable one, like any other query', async () => {
      const res = await t.app.inject({ method: 'GET', url: `/v1/users/${target.id}?x=%E9&%FF=1` });
      assert.equal(res.statusCode, 200, res.body);
    });

    for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
      for (const segment of ['%E9', '%C3%28', 'ab%ED%A0%80']) {
        test(`${method} /v1/users/${segment}: 400 naming the path parameter id`, async () => {
          const res = await t.app.inject({
            method,
            url: `/v1/users/${segment}`,
            ...(method === 'PATCH' ? { headers: { 'content-type': 'application/merge-patch+json' }, payload: '{"name":"X"}' } : {}),
          });
          const problem = assertProblem(fromInject(res), 'invalid-encoding', { parameters: ['id'] });
          assert.match(problem.detail, /path parameter id/);
        });
      }
    }

    test('malformed percent-encoding in the path stays a plain bad-request', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/v1/users/%zz' });
      assertProblem(fromInject(res), 'bad-request');
    });

    const tally = new StatusTally();

    test('property: arbitrary bytes in a JSON string value: never 5xx; not UTF-8 → 400 invalid-encoding, nothing stored; UTF-8 round-trips', async (ctx) => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(byteStrings, async (bytes) => {
          // Quotes, backslashes and control characters would end or break the JSON string; the
          // point here is the encoding, so they are dropped.
          const value = Buffer.from(bytes.filter((b) => b >= 0x20 && b !== 0x22 && b !== 0x5c));
          const body = Buffer.concat([
            Buffer.from(`{"email":"bytes.${n++}@example.com","name":"B","attributes":{"k":"`),
            value,
            Buffer.from('"}}'),
          ]);
          const before = await count('users');
          const res = await t.app.inject(post('/v1/users', body));
          tally.assertSafe(res);
          if (!isUtf8(body)) {
            assertProblem(fromInject(res), 'invalid-encoding');
            assert.equal(await count('users'), before);
          } else {
            assert.notEqual(res.json<{ type?: string }>().type, 'urn:roster:problem:invalid-encoding', res.body);
            if (res.statusCode === 201) {
              const stored = await t.app.inject({ method: 'GET', url: `/v1/users/${res.json<UserJson>().id}` });
              assert.equal(stored.json<UserJson>().attributes.k, value.toString('utf8'));
            }
          }
        }),
        hostileParameters,
      );
      tally.assertExercised(ctx, 201);
    });

    test('property: arbitrary bytes as a whole body: never 5xx, not UTF-8 → 400 invalid-encoding', async (ctx) => {
      await fc.assert(
        fc.asyncProperty(byteStrings, fc.constantFrom('application/json', 'application/merge-patch+json'), async (bytes, type) => {
          const body = Buffer.from(bytes);
          const res = await t.app.inject(
            type === 'application/json'
              ? post('/v1/users', body)
              : { method: 'PATCH', url: `/v1/users/${target.id}`, headers: { 'content-type': type }, payload: body },
          );
          tally.assertSafe(res);
          if (body.length > 0 && !isUtf8(body)) assertProblem(fromInject(res), 'invalid-encoding');
        }),
        hostileParameters,
      );
      tally.report(ctx);
    });

    test('property: arbitrary bytes as a query value: never 5xx; not UTF-8 → 400 naming it; UTF-8 → never invalid-encoding', async (ctx) => {
      await fc.assert(
        fc.asyncProperty(byteStrings, fc.constantFrom('q', 'email', 'cursor'), async (bytes, name) => {
          const res = await t.app.inject({ method: 'GET', url: `/v1/users?limit=2&${name}=${percentEncoded(bytes)}` });
          tally.assertSafe(res);
          if (!isUtf8(bytes)) assertProblem(fromInject(res), 'invalid-encoding', { parameters: [name] });
          else assert.notEqual(res.json<{ type?: string }>().type, 'urn:roster:problem:invalid-encoding', res.body);
        }),
        hostileParameters,
      );
      tally.assertExercised(ctx, 200);
    });

    test('property: arbitrary bytes as a path id: never 5xx; not UTF-8 → 400 naming id; UTF-8 → never invalid-encoding', async (ctx) => {
      const before = await count('users');
      await fc.assert(
        fc.asyncProperty(byteStrings, fc.constantFrom('GET' as const, 'DELETE' as const), async (bytes, method) => {
          const res = await t.app.inject({ method, url: `/v1/users/${percentEncoded(bytes)}` });
          tally.assertSafe(res);
          assert.ok(res.statusCode >= 400, `${res.statusCode} for ${percentEncoded(bytes)}`);
          if (!isUtf8(bytes)) assertProblem(fromInject(res), 'invalid-encoding', { parameters: ['id'] });
          else assert.notEqual(res.json<{ type?: string }>().type, 'urn:roster:problem:invalid-encoding', res.body);
        }),
        hostileParameters,
      );
      tally.report(ctx);
      assert.equal(await count('users'), before);
    });
  });
}
