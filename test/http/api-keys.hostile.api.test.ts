// Property tests with hostile input for /v1/api-keys, against the real app and a real database,
// as test/http/users.hostile.api.test.ts does for the users routes: bodies (wrong types, huge
// and unicode strings, prototype keys, unknown fields, bad scopes and lifetimes), ids in paths,
// query strings, and Authorization (and other) headers on POST, GET and DELETE. Whatever
// arrives: never a 5xx, every 4xx a catalogued problem+json document, a body is accepted exactly
// when the documented rules say so, and the stored keys change only as an accepted request says.
//
// HOSTILE_RUNS runs per property, seeded (FC_SEED=<n> explores other inputs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { SCOPES } from '../../src/auth/model.js';
import type { ApiKeyRecord } from '../../src/auth/service.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialects } from '../helpers/databases.js';
import {
  anyCodePoint,
  headerText,
  hostileJson,
  hostileParameters,
  hostileString,
  jsonContentType,
  nastyUnit,
  StatusTally,
} from '../helpers/hostile.js';
import { assertProblem, fromInject, type ApiKeyJson } from '../helpers/http.js';

/** What the app under test is built with (test/helpers/app.ts). */
const BODY_LIMIT_BYTES = 64 * 1024;
const NAME_MAX = 100;
/** The schema's cap on the untrimmed name, in code points. */
const RAW_NAME_MAX = 1000;
const LONGEST_LIFETIME_S = 10 * 365 * 86_400;
const KEY_FORMAT = /^rk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

/**
 * A stored key as far as a request may change it. last_used_at is left out: the admin key's
 * last use is written in the background at most once a minute, by every authenticated request,
 * rejected or not, so it moves during a long property without anything being wrong.
 */
type StoredKey = Omit<ApiKeyRecord, 'lastUsedAt'>;

/** The documented rules for a creation body (README; src/auth/service.ts): true when it must be accepted. */
function isValidCreateBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const fields = body as Record<string, unknown>;
  if (!Object.keys(fields).every((k) => k === 'name' || k === 'scopes' || k === 'expires_in_seconds')) return false;
  const { name, scopes, expires_in_seconds: lifetime } = fields;
  const trimmed = typeof name === 'string' ? name.trim() : '';
  const nameOk =
    typeof name === 'string' &&
    [...name].length <= RAW_NAME_MAX &&
    trimmed.length >= 1 &&
    trimmed.length <= NAME_MAX &&
    !/\p{Cc}/u.test(trimmed) &&
    trimmed.isWellFormed();
  const scopesOk =
    Array.isArray(scopes) &&
    scopes.length >= 1 &&
    scopes.length <= SCOPES.length &&
    scopes.every((s) => (SCOPES as readonly unknown[]).includes(s));
  const lifetimeOk =
    lifetime === undefined ||
    (typeof lifetime === 'number' && Number.isInteger(lifetime) && lifetime >= 1 && lifetime <= LONGEST_LIFETIME_S);
  return nameOk && scopesOk && lifetimeOk;
}

const isJsonMediaType = (contentType: string) => contentType.split(';')[0]!.trim().toLowerCase() === 'application/json';

// ---- arbitraries ---------------------------------------------------------------------------

const { key: hostileKey, value: hostileValue, object: hostileObject } = hostileJson(['name', 'scopes', 'expires_in_seconds', 'id', 'key']);

const whitespace = fc.string({ unit: fc.constantFrom(' ', '\t', '\u00a0', '\u2028', '\ufeff', '\u3000'), maxLength: 4 });

/** Names: ordinary text, hostile text, padding around the 100 and 1000 limits, wrong types. */
const someName = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }) },
  { weight: 3, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.tuple(whitespace, hostileString, whitespace).map(([a, s, b]) => `${a}${s}${b}`) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 1100 }), fc.integer({ min: 95, max: 105 }))
      .map(([pad, n]) => `${' '.repeat(pad)}${'n'.repeat(n)}`),
  },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\u00a0', '\u2028', 'a\u0085b', 'a\u200bb', '\u202egnp.exe', 'ci deploy') },
  { weight: 1, arbitrary: hostileValue },
);

const someScope = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...SCOPES) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'Admin',
      'ADMIN',
      'admin ',
      ' admin',
      'users:*',
      '*',
      'users',
      'users:admin',
      'events:read',
      '',
      'admin\u0000',
    ),
  },
  { weight: 1, arbitrary: hostileValue },
);

const someScopes = fc.oneof(
  { weight: 6, arbitrary: fc.array(someScope, { minLength: 1, maxLength: SCOPES.length }) },
  { weight: 2, arbitrary: fc.array(someScope, { maxLength: 2 * SCOPES.length }) },
  { weight: 1, arbitrary: fc.constantFrom('admin', 'users:read users:write', ['admin', ['admin']], { 0: 'admin', length: 1 }) },
  { weight: 1, arbitrary: hostileValue },
);

const someLifetime = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: LONGEST_LIFETIME_S }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(0, -0, -1, 1.5, 0.1, LONGEST_LIFETIME_S, LONGEST_LIFETIME_S + 1, 2 ** 31, 2 ** 53, 1e308, -1e308),
  },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom('3600', '30d', '1e3', '', 'Infinity', null, true, [], {}) },
  { weight: 1, arbitrary: hostileValue },
);

/** An absolute expiry is not part of the API (expires_in_seconds is): every one must be refused. */
const someExpiresAt = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2030-01-01T00:00:00Z', '0000-00-00T00:00:00Z', 'tomorrow', '', 0, -1, 1e20, null),
  hostileValue,
);

/** Absent most of the time: fc.option's `freq` is the odds against nil, so these are written out. */
const rarely = <T>(arbitrary: fc.Arbitrary<T>, weight = 1) =>
  fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight, arbitrary });

/** Bodies shaped like a creation request, each field often valid, so the rules (not only the parser) are exercised. */
const createBody = fc
  .record({
    name: fc.option(someName, { freq: 12, nil: undefined }),
    scopes: fc.option(someScopes, { freq: 12, nil: undefined }),
    expires_in_seconds: rarely(someLifetime, 3),
    expires_at: rarely(someExpiresAt),
    extra: rarely(fc.dictionary(hostileKey, hostileValue, { minKeys: 1, maxKeys: 2 })),
  })
  .map(({ extra, ...fields }) => {
    const body: Record<string, unknown> = { ...extra };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) body[k] = v;
    return body;
  });

/** Bodies as text: every JSON shape, broken JSON, prototype poisoning, deep nesting, huge. */
const createText = fc.oneof(
  { weight: 3, arbitrary: createBody.map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: hostileObject.map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.anything().map((v) => JSON.stringify(v) ?? String(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"__proto__":{"admin":true},"name":"p","scopes":["admin"]}',
      '{"name":"p","scopes":["users:read"],"__proto__":{"scopes":["admin"]}}',
      '{"constructor":{"prototype":{"scopes":["admin"]}},"name":"c","scopes":["users:read"]}',
      '{"name":"d","scopes":["users:read"],"scopes":["admin"],"scopes":"x"}',
      '{"name":"e","scopes":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
      `{"name":"${'x'.repeat(BODY_LIMIT_BYTES)}","scopes":["admin"]}`,
      '{"name":"f","scopes":["admin"],"expires_in_seconds":1e400}',
      '{"name":"g","scopes":["admin"],"expires_in_seconds":3600.0}',
      '\ufeff{"name":"h","scopes":["admin"]}',
      '\u0000',
      '',
      'null',
      '[]',
      '"admin"',
    ),
  },
);

/** Query strings: pairs (some naming the key fields, to try to steer the request) and raw junk. */
function someQuery(steer: readonly string[]): fc.Arbitrary<string> {
  const value = fc.oneof(
    hostileString.filter((s) => s.length < 3000),
    fc.constantFrom(...steer, 'admin', '["admin"]', '1', '-1', 'true', '[]', '{}'),
  );
  const pairs = fc.array(
    fc.tuple(fc.oneof(fc.constantFrom('id', 'name', 'scopes', 'scopes[]', 'expires_in_seconds', 'limit', 'cursor'), hostileKey), value),
    { minLength: 1, maxLength: 5 },
  );
  const raw = fc.string({
    unit: fc.constantFrom('%', '&', '=', '+', ';', '?', '#', '[', ']', 'a', '1', 'id', 'scopes', '%00', '%zz', '%ff', '__proto__'),
    maxLength: 20,
  });
  return fc.oneof({ weight: 4, arbitrary: pairs.map((p) => new URLSearchParams(p).toString()) }, { weight: 1, arbitrary: raw });
}

/** Header values as they could arrive: printable ASCII, Latin-1, and sometimes anything at all. */
const headerValue = fc.oneof(
  { weight: 4, arbitrary: headerText },
  { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 40 }) },
  { weight: 1, arbitrary: hostileString.filter((s) => s.length < 10_000) },
);

/** Headers besides Authorization: ones the app reads, ones it must ignore, and made-up ones. */
const otherHeaders = fc.dictionary(
  fc.oneof(
    fc.constantFrom(
      'x-request-id',
      'idempotency-key',
      'if-match',
      'if-none-match',
      'accept',
      'accept-language',
      'origin',
      'x-forwarded-for',
      'forwarded',
      'cookie',
      'x-api-key',
      'proxy-authorization',
      'x-http-method-override',
    ),
    fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
  ),
  fc.oneof(headerValue, fc.constantFrom('request-1', '*', '"1"', 'application/problem+json', '127.0.0.1, 10.0.0.1', '::1')),
  { maxKeys: 4 },
);

// ---- the suite -----------------------------------------------------------------------------

for (const [dialect, open, skip] of await dialects()) {
  describe(`hostile input to /v1/api-keys on ${dialect}`, { skip }, () => {
    let t: TestApp;
    let reader: { id: string; key: string };
    let revoked: { id: string; key: string };
    const tally = new StatusTally();

    before(async () => {
      t = await buildTestApp(open);
      reader = await t.auth.keyWith(['users:read']);
      await t.auth.keyWith(['users:read', 'users:write']);
      revoked = await t.auth.keyWith(['admin']);
      await t.auth.apiKeys.revoke(revoked.id);
    });
    after(async () => t?.close());

    async function storedKeys(): Promise<StoredKey[]> {
      const records = await t.auth.apiKeys.list();
      return records.map(({ lastUsedAt: _moves, ...rest }) => rest).sort((a, b) => (a.id < b.id ? -1 : 1));
    }

    function post(payload: string, headers: Record<string, string | undefined> = {}): InjectOptions {
      return { method: 'POST', url: '/v1/api-keys', headers: { 'content-type': 'application/json', ...headers }, payload };
    }

    /** Asserts a 201 created exactly one key, the one it describes, and the shown key works with its scopes. */
    async function assertCreated(res: Awaited<ReturnType<TestApp['app']['inject']>>, before: StoredKey[]): Promise<ApiKeyJson> {
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      const created = res.json<ApiKeyJson>();
      assert.match(created.key ?? '', KEY_FORMAT);
      assert.equal(KEY_FORMAT.exec(created.key!)?.[1], created.id, 'the key carries its id');
      const after = await storedKeys();
      const added = after.filter((k) => !before.some((b) => b.id === k.id));
      assert.equal(added.length, 1, `one key added, not ${added.length}`);
      assert.deepEqual(
        after.filter((k) => k.id !== created.id),
        before,
        'creating a key changed no other key',
      );
      const stored = added[0]!;
      assert.equal(stored.id, created.id);
      assert.equal(stored.name, created.name, 'the stored name is the one shown');
      assert.deepEqual([...stored.scopes], created.scopes);
      assert.equal(stored.createdAt.toISOString(), created.created_at);
      assert.equal(stored.expiresAt?.toISOString() ?? null, created.expires_at);
      assert.equal(stored.revokedAt, null);
      const principal = await t.auth.apiKeys.authenticate(created.key!);
      assert.equal(principal.actor, `key:${created.id}`);
      assert.deepEqual([...principal.scopes].sort(), [...created.scopes].sort());
      return created;
    }

    test('POST rule-shaped bodies: 201 exactly when the rules allow the body, and only a 201 stores a key', async (ctx) => {
      await fc.assert(
        fc.asyncProperty(createBody, jsonContentType, async (body, contentType) => {
          const payload = JSON.stringify(body);
          const sent = JSON.parse(payload) as unknown; // what the server sees: NaN became null, and so on
          const valid = isJsonMediaType(contentType) && Buffer.byteLength(payload) <= BODY_LIMIT_BYTES && isValidCreateBody(sent);
          const before = await storedKeys();
          const res = await t.app.inject(post(payload, { 'content-type': contentType }));
          tally.assertSafe(res);
          if (!valid) {
            assert.ok(res.statusCode >= 400, `accepted a body the rules refuse: ${res.statusCode} ${payload.slice(0, 300)}`);
            assert.equal(res.body.includes('rk_'), false, 'no key in an error');
            assert.deepEqual(await storedKeys(), before, `a rejected POST (${res.statusCode}) changed the stored keys`);
            return;
          }
          assert.equal(res.statusCode, 201, `refused a body the rules allow: ${res.body.slice(0, 300)} for ${payload.slice(0, 300)}`);
          const created = await assertCreated(res, before);
          const fields = sent as { name: string; scopes: string[]; expires_in_seconds?: number };
          assert.equal(created.name, fields.name.trim());
          assert.deepEqual(created.scopes, [...new Set(fields.scopes)]);
          const lifetimeMs = fields.expires_in_seconds === undefined ? null : fields.expires_in_seconds * 1000;
          const expiresIn = created.expires_at === null ? null : Date.parse(created.expires_at) - Date.parse(created.created_at);
          assert.equal(expiresIn, lifetimeMs);
        }),
        hostileParameters,
      );
      tally.assertExercised(ctx, 201);
    });

    test('POST arbitrary text as any content type: never 5xx, 4xx is problem+json, only a 201 stores a key', async (ctx) => {
      await fc.assert(
        fc.asyncProperty(createText, jsonContentType, async (payload, contentType) => {
          const before = await storedKeys();
          const res = await t.app.inject(post(payload, { 'content-type': contentType }));
          tally.assertSafe(res);
          if (res.statusCode === 201) {
            await assertCreated(res, before);
          } else {
            assert.ok(res.statusCode >= 400, `unexpected status ${res.statusCode}`);
            assert.equal(res.body.includes('rk_'), false, 'no key in an error');
            assert.deepEqual(await storedKeys(), before, `a rejected POST (${res.statusCode}) changed the stored keys`);
          }
        }),
        hostileParameters,
      );
      tally.assertExercised(ctx, 201);
    });

    test('arbitrary ids in the path, with every method: never 5xx, always problem+json, nothing revoked', async (ctx) => {
      const nearMisses = [
        reader.id.toUpperCase(),
        `${reader.id} `,
        ` ${reader.id}`,
        `${reader.id}/`,
        `${reader.id}/x`,
        `${reader.id}%00`,
        `${reader.id}\u0000`,
        reader.id.slice(1),
        `${reader.id}0`,
        `rk_${reader.id}`,
        reader.key,
        `../${reader.id}`,
      ];
      const id = fc.oneof(
        { weight: 3, arbitrary: hostileString.filter((s) => s.isWellFormed()) },
        { weight: 2, arbitrary: fc.constantFrom(...nearMisses, '..', '.', '', ' ', 'null', '0', '%2e%2e') },
        // Well-formed but unknown: the only ids that reach the store.
        { weight: 2, arbitrary: fc.stringMatching(/^[0-9a-f]{16}$/) },
      );
      const method = fc.constantFrom('DELETE', 'DELETE', 'DELETE', 'GET', 'PATCH', 'PUT', 'POST');
      const encode = fc.boolean();
      await fc.assert(
        fc.asyncProperty(id, method, encode, async (given, verb, encoded) => {
          // Encoded, the id is one path segment; raw, it may add segments, dots or a query.
          const path = encoded ? encodeURIComponent(given) : given;
          // inject parses the URL as a WHATWG URL does, dropping leading and trailing C0 controls
          // and spaces and every tab and newline (over real HTTP, Node refuses such a request
          // line): a raw id that becomes a stored key's id that way is not a hostile id.
          const reached = new URL(`/v1/api-keys/${path}`, 'http://localhost').pathname;
          const before = await storedKeys();
          fc.pre(!before.some((k) => reached === `/v1/api-keys/${k.id}`));
          const request: InjectOptions = { method: verb, url: `/v1/api-keys/${path}` };
          if (verb !== 'GET' && verb !== 'DELETE') {
            request.headers = { 'content-type': 'application/json' };
            request.payload = '{"name":"by path","scopes":["admin"]}';
          }
          const res = await t.app.inject(request);
          tally.assertSafe(res);
          assert.ok(res.statusCode >= 400, `an arbitrary id was accepted: ${res.statusCode} for ${verb} ${JSON.stringify(path)}`);
          if (verb === 'DELETE' && encoded && /^[0-9a-f]{16}$/.test(given)) assertProblem(fromInject(res), 'api-key-not-found');
          assert.deepEqual(await storedKeys(), before, `${verb} ${JSON.stringify(path)} (${res.statusCode}) changed the stored keys`);
        }),
        hostileParameters,
      );
      tally.report(ctx);
    });

    test('arbitrary query strings on POST, GET and DELETE: ignored, never steering the request', async (ctx) => {
      const method = fc.constantFrom('POST' as const, 'GET' as const, 'DELETE' as const);
      await fc.assert(
        fc.asyncProperty(method, someQuery([reader.id, revoked.id, 'users:read']), fc.nat(), async (verb, qs, n) => {
          // DELETE aims at a fresh key each run; the query names other keys, trying to redirect it.
          const victim = verb === 'DELETE' ? await t.auth.keyWith(['users:read']) : undefined;
          const before = await storedKeys();
          const base = verb === 'DELETE' ? `/v1/api-keys/${victim!.id}` : '/v1/api-keys';
          const name = `query ${n}`;
          const res = await t.app.inject(
            verb === 'POST'
              ? { ...post(JSON.stringify({ name, scopes: ['users:read'] })), url: `${base}?${qs}` }
              : { method: verb, url: `${base}?${qs}` },
          );
          tally.assertSafe(res);
          if (verb === 'POST') {
            const created = await assertCreated(res, before);
            assert.equal(created.name, name);
            assert.deepEqual(created.scopes, ['users:read'], 'the query did not change the scopes');
          } else if (verb === 'GET') {
            assert.equal(res.statusCode, 200, res.body.slice(0, 300));
            const listed = res.json<{ data: ApiKeyJson[] }>().data;
            assert.deepEqual(listed.map((k) => k.id).sort(), before.map((k) => k.id).sort(), 'the query did not filter the list');
            assert.equal(res.body.includes('rk_'), false, 'no key in a list');
            assert.deepEqual(await storedKeys(), before);
          } else {
            assert.equal(res.statusCode, 200, res.body.slice(0, 300));
            assert.equal(res.json<ApiKeyJson>().id, victim!.id);
            const after = await storedKeys();
            assert.ok(after.find((k) => k.id === victim!.id)?.revokedAt instanceof Date, 'the victim was revoked');
            assert.deepEqual(
              after.filter((k) => k.id !== victim!.id),
              before.filter((k) => k.id !== victim!.id),
              'only the key in the path was revoked',
            );
          }
        }),
        hostileParameters,
      );
      tally.report(ctx);
    });

    test('arbitrary Authorization and other headers: only "Bearer <live admin key>" acts, nothing else changes anything', async (ctx) => {
      const admin = t.auth.adminKey;
      const live = [admin, reader.key];
      const hex = fc.constantFrom(...'0123456789abcdefABCDEF_-'.split(''));
      const credential = fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(admin, reader.key, revoked.key) },
        {
          weight: 3,
          arbitrary: fc
            .tuple(fc.constantFrom(...live), fc.nat(), fc.oneof(hex, nastyUnit, anyCodePoint))
            .map(([key, at, ch]) => `${key.slice(0, at % key.length)}${ch}${key.slice((at % key.length) + 1)}`),
        },
        {
          weight: 1,
          arbitrary: fc.tuple(fc.constantFrom(...live), fc.nat()).map(([key, n]) => key.slice(0, n % key.length)),
        },
        {
          weight: 1,
          arbitrary: fc.tuple(fc.constantFrom(...live), fc.oneof(nastyUnit, headerText)).map(([key, tail]) => `${key}${tail}`),
        },
        { weight: 1, arbitrary: fc.constantFrom(admin.slice(3), `${admin},${admin}`, `${reader.key} ${admin}`, 'rk_', 'a.b.c') },
        { weight: 1, arbitrary: hostileString.filter((s) => s.length < 10_000) },
      );
      const scheme = fc.constantFrom('Bearer', 'Bearer', 'Bearer', 'bearer', 'BEARER', 'bEaReR', 'Basic', 'Token', 'Bearer:', '');
      const gap = fc.constantFrom(' ', ' ', '  ', '', '\t', ' \t', '\u00a0', '\n');
      const edge = fc.constantFrom('', '', '', ' ', '\t', '\r\n');
      const authorization = fc.oneof(
        // Well-formed and live often enough that acceptance is exercised, not only refusal.
        {
          weight: 3,
          arbitrary: fc
            .tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER'), fc.constantFrom(' ', '   '), fc.constantFrom(...live))
            .map((parts) => parts.join('')),
        },
        { weight: 6, arbitrary: fc.tuple(edge, scheme, gap, credential, edge).map((parts) => parts.join('')) },
        { weight: 1, arbitrary: headerValue },
        { weight: 1, arbitrary: fc.constant(undefined) },
      );
      const method = fc.constantFrom('POST' as const, 'GET' as const, 'DELETE' as const);
      /** The README's rule: `Bearer` in any case, one or more spaces, a live key, nothing more. */
      const presentedKey = (header: string | undefined) => (header === undefined ? undefined : /^bearer +(.*)$/is.exec(header)?.[1]);
      await fc.assert(
        fc.asyncProperty(method, authorization, otherHeaders, fc.nat(), async (verb, auth, extra, n) => {
          const victim = verb === 'DELETE' ? await t.auth.keyWith(['users:read']) : undefined;
          const before = await storedKeys();
          const headers: Record<string, string | undefined> = { ...extra, authorization: auth };
          const res = await t.app.inject(
            verb === 'POST'
              ? post(JSON.stringify({ name: `header ${n}`, scopes: ['users:read'] }), headers)
              : { method: verb, url: verb === 'DELETE' ? `/v1/api-keys/${victim!.id}` : '/v1/api-keys', headers },
          );
          tally.assertSafe(res);
          const key = presentedKey(auth);
          if (key === admin) {
            if (verb === 'POST') {
              await assertCreated(res, before);
            } else if (verb === 'GET') {
              assert.equal(res.statusCode, 200, res.body.slice(0, 300));
              assert.deepEqual(await storedKeys(), before);
            } else {
              assert.equal(res.statusCode, 200, res.body.slice(0, 300));
              const after = await storedKeys();
              assert.ok(after.find((k) => k.id === victim!.id)?.revokedAt instanceof Date, 'the victim was revoked');
              assert.deepEqual(
                after.filter((k) => k.id !== victim!.id),
                before.filter((k) => k.id !== victim!.id),
              );
            }
            return;
          }
          if (key === reader.key) {
            assertProblem(fromInject(res), 'forbidden');
          } else {
            assertProblem(fromInject(res), 'unauthenticated');
            assert.match(String(res.headers['www-authenticate']), /^Bearer\b/);
          }
          assert.equal(res.body.includes('rk_'), false, 'no key in an error');
          assert.deepEqual(await storedKeys(), before, `a refused ${verb} (${res.statusCode}) changed the stored keys`);
        }),
        hostileParameters,
      );
      for (const status of [200, 201, 401, 403]) assert.ok(tally.count(status) > 0, `no ${status} seen`);
      tally.report(ctx);
    });

    // Text PostgreSQL cannot store (U+0000, unpaired surrogates) is refused by the rules on every
    // dialect, so no name is stored differently from the one shown at creation.
    const unstorable: [string, string][] = [
      ['NUL in the name', '{"name":"a\\u0000b","scopes":["admin"]}'],
      ['an unpaired high surrogate in the name', '{"name":"a\\ud800b","scopes":["admin"]}'],
      ['an unpaired low surrogate at the end of the name', '{"name":"ab\\udfff","scopes":["admin"]}'],
      ['NUL in a scope', '{"name":"n","scopes":["admin\\u0000"]}'],
    ];
    for (const [name, payload] of unstorable) {
      test(`400, never 5xx: ${name}`, async () => {
        const before = await storedKeys();
        const res = await t.app.inject(post(payload));
        assertProblem(fromInject(res), 'validation');
        assert.deepEqual(await storedKeys(), before);
      });
    }
  });
}
