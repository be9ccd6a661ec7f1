// The authorisation matrix, generated from the app's own route table (app.routeTable): every
// non-public route × every kind of credential → the expected status. A route added to the app
// is covered here without editing this file; a route that declares no scope cannot be added
// at all (see src/http/auth.ts), and a public one must be on the allow-list below.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { SCOPES, allows, type Principal, type Scope } from '../../src/auth/model.js';
import { ApiKeysService } from '../../src/auth/service.js';
import { SqlApiKeyStore } from '../../src/auth/sql-store.js';
import { buildTestApp } from '../helpers/app.js';
import { assertProblem, fromInject } from '../helpers/http.js';

const t = await buildTestApp();
after(async () => t.close());

/**
 * The only routes anyone may call without credentials. The console's pages carry no bearer
 * credential: they check their own session cookie (src/console/plugin.ts), and
 * test/console/console.api.test.ts holds them to it.
 */
const PUBLIC_ALLOW_LIST = [/^\/livez$/, /^\/readyz$/, /^\/openapi\.json$/, /^\/docs$/, /^\/docs\/.*$/, /^\/console(\/.*)?$/];
const isAllowedPublic = (url: string) => PUBLIC_ALLOW_LIST.some((re) => re.test(url));

/** SCIM's routes: their errors are SCIM errors (RFC 7644 §3.12) and they are left out of /openapi.json (SCIM has its own discovery). */
const isScim = (url: string) => url.startsWith('/scim/v2');

/**
 * The refusal a route gives: problem+json with this code, or on a SCIM route a SCIM Error of the
 * same status; its detail either way.
 */
function assertRefused(res: LightMyRequestResponse, url: string, code: 'unauthenticated' | 'forbidden'): { detail: string } {
  if (!isScim(url)) return assertProblem(fromInject(res), code);
  const status = code === 'unauthenticated' ? 401 : 403;
  assert.equal(res.statusCode, status, res.body.slice(0, 300));
  assert.match(String(res.headers['content-type']), /^application\/scim\+json/);
  const body = res.json<{ schemas: string[]; status: string; detail: string }>();
  assert.deepEqual(body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
  assert.equal(body.status, String(status));
  assert.equal(typeof body.detail, 'string');
  return body;
}

/** A valid-looking value for each path parameter, chosen by the resource the route serves. */
function fillPath(url: string): string {
  return url.replace(/:([A-Za-z_]+)/g, (_, name: string) => {
    if (name === 'id' && url.startsWith('/v1/api-keys')) return 'abcdef0123456789';
    if (name === 'id' && url.startsWith('/v1/users')) return uuidv7();
    return uuidv7(); // an unknown resource: auth runs before validation, so any value will do
  });
}

function requestFor(method: string, url: string, authorization: string | undefined): InjectOptions {
  const withBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
  return {
    method,
    url: fillPath(url),
    // `authorization: undefined` sends no header at all (withCredentials adds the admin key otherwise).
    headers: {
      authorization,
      ...(withBody ? { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' } : {}),
    },
    ...(withBody ? { payload: '{}' } : {}),
  };
}

/** Full paths from Fastify's printRoutes tree (4 characters of drawing per level). */
function routesOf(printed: string): string[] {
  const stack: string[] = [];
  const urls: string[] = [];
  for (const line of printed.split('\n')) {
    const m = /^([│├└─ ]*)(\S.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack[depth - 1] = m[2]!;
    if (m[3] !== undefined) urls.push(stack.join(''));
  }
  return urls;
}

// ---- credentials, one of each kind ---------------------------------------------------------

const keys = t.auth;
const rightKeys = new Map<Scope, string>();
const wrongKeys = new Map<Scope, { key: string; scopes: Scope[] }>();
for (const scope of SCOPES) {
  rightKeys.set(scope, (await keys.keyWith([scope])).key);
  const wrong = SCOPES.filter((s) => s !== scope && s !== 'admin');
  if (wrong.length > 0) wrongKeys.set(scope, { key: (await keys.keyWith(wrong)).key, scopes: wrong });
}
const revoked = await keys.keyWith(['admin']);
await keys.apiKeys.revoke(revoked.id);
// Expired without waiting: the same database, a service whose clock is two hours behind.
const pastService = new ApiKeysService({
  store: new SqlApiKeyStore(t.testDb.database.db, t.testDb.database.dialect),
  cacheTtlMs: 0,
  now: () => new Date(Date.now() - 2 * 3_600_000),
});
const expired = (await pastService.create({ name: 'expired admin', scopes: ['admin'], expiresInSeconds: 60 })).plaintext;
const live = await keys.keyWith(['admin']);
const wrongSecret = `${live.key.slice(0, 20)}${'A'.repeat(43)}`;
const unknown = `rk_0123456789abcdef_${'x'.repeat(43)}`;

/** Credentials that must all get the same 401, whatever the route. */
const UNAUTHENTICATED: readonly [string, string | undefined][] = [
  ['no credentials', undefined],
  ['malformed: Bearer alone', 'Bearer'],
  ['malformed: Basic', 'Basic xyz'],
  ['malformed: Bearer rk_short', 'Bearer rk_short'],
  ['malformed: JWT-shaped without JWT configured', 'Bearer aaa.bbb.ccc'],
  ['malformed: key with trailing junk', `Bearer ${live.key}x`],
  ['unknown key', `Bearer ${unknown}`],
  ['known id, wrong secret', `Bearer ${wrongSecret}`],
  ['revoked key', `Bearer ${revoked.key}`],
  ['expired key', `Bearer ${expired}`],
];

// ---- the matrix ------------------------------------------------------------------------------

const table = t.app.routeTable;
const guarded = table.filter((r) => r.access !== 'public');
let casesRun = 0;

describe('route table', () => {
  test('lists the known routes (sanity: the table is not empty or partial)', () => {
    const seen = new Set(table.map((r) => `${r.method} ${r.url}`));
    for (const known of [
      'GET /livez',
      'GET /readyz',
      'GET /openapi.json',
      'POST /v1/users',
      'GET /v1/users',
      'GET /v1/users/:id',
      'PATCH /v1/users/:id',
      'DELETE /v1/users/:id',
      'POST /v1/api-keys',
      'GET /v1/api-keys',
      'DELETE /v1/api-keys/:id',
    ]) {
      assert.ok(seen.has(known), `${known} missing from the route table: ${[...seen].join(', ')}`);
    }
  });

  test('every route is public and on the allow-list, or declares a known scope', () => {
    for (const route of table) {
      if (route.access === 'public') {
        assert.ok(isAllowedPublic(route.url), `${route.method} ${route.url} is public but not on the allow-list`);
      } else {
        assert.ok((SCOPES as readonly string[]).includes(route.access), `${route.method} ${route.url}: unknown scope ${route.access}`);
      }
    }
  });

  test('routes outside the table (registered before enforcement) are only the docs', () => {
    // printRoutes shows every route Fastify knows, including the swagger-ui ones that were
    // registered before the access hook and so are not in the table.
    const printed = t.app.printRoutes({ commonPrefix: false });
    const urls = routesOf(printed);
    const inTable = new Set(table.map((r) => r.url));
    // Every URL of the table is printed (the tree has one line per URL, however many methods).
    for (const url of inTable) assert.ok(urls.includes(url), `${url} is in the table but not printed:\n${printed}`);
    for (const url of urls) {
      if (inTable.has(url)) continue;
      // Fastify also routes a prefix's trailing slash (/console/) to the plugin's '/' route.
      if (url === '/console/') continue;
      assert.ok(/^\/docs(\/|$)/.test(url), `route ${url} is not in the route table and is not documentation:\n${printed}`);
    }
  });

  test('public routes answer without credentials', async () => {
    for (const url of [...table.filter((r) => r.access === 'public' && r.method === 'GET').map((r) => r.url), '/docs/']) {
      const res = await t.app.inject({ method: 'GET', url, headers: { authorization: undefined } });
      // A console page without a session sends the browser to its sign-in form.
      if (res.statusCode === 303 && url.startsWith('/console')) assert.equal(res.headers.location, '/console/sign-in', url);
      else assert.equal(res.statusCode, 200, `${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
    }
  });

  test('the OpenAPI document names each guarded route’s scope', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
    }>();
    for (const route of guarded) {
      if (isScim(route.url)) continue;
      const path = route.url.replace(/:([A-Za-z_]+)/g, '{$1}');
      const op = doc.paths[path]?.[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${path} is not documented`);
      assert.deepEqual(op.security, [{ bearer: [route.access] }], `${route.method} ${path}`);
    }
  });

  test('admin implies every scope; no other scope implies another', () => {
    const principal = (scopes: string[]): Principal => ({ actor: 'test', kind: 'api_key', scopes: new Set(scopes) });
    for (const needed of SCOPES) {
      assert.ok(allows(principal(['admin']), needed), `admin allows ${needed}`);
      for (const held of SCOPES) {
        if (held !== 'admin') assert.equal(allows(principal([held]), needed), held === needed, `${held} allows ${needed}?`);
      }
      assert.equal(allows(principal([]), needed), false);
    }
  });
});

for (const route of guarded) {
  const access = route.access as Scope;
  describe(`${route.method} ${route.url} (needs ${access})`, () => {
    for (const [name, authorization] of UNAUTHENTICATED) {
      test(`${name} → 401`, async () => {
        const res = await t.app.inject(requestFor(route.method, route.url, authorization));
        const body = assertRefused(res, route.url, 'unauthenticated');
        assert.match(String(res.headers['www-authenticate']), /^Bearer\b/, `${name}: www-authenticate`);
        assert.doesNotMatch(body.detail, /revok|expir|unknown|not found|secret/i, `the detail gives no hint: ${body.detail}`);
        casesRun++;
      });
    }

    test('the 401s for unknown, wrong-secret, revoked and expired keys are indistinguishable', async () => {
      const seen = new Set<string>();
      for (const key of [unknown, wrongSecret, revoked.key, expired]) {
        const res = await t.app.inject(requestFor(route.method, route.url, `Bearer ${key}`));
        const { request_id: _ignored, ...rest } = isScim(route.url)
          ? { request_id: '', ...res.json<Record<string, unknown>>() }
          : res.json<Record<string, unknown>>();
        seen.add(JSON.stringify([res.statusCode, res.headers['www-authenticate'], rest]));
      }
      assert.equal(seen.size, 1, [...seen].join('\n'));
      casesRun++;
    });

    const wrong = wrongKeys.get(access);
    if (wrong) {
      test(`wrong scope (${wrong.scopes.join(' ')}) → 403 naming ${access}`, async () => {
        const res = await t.app.inject(requestFor(route.method, route.url, `Bearer ${wrong.key}`));
        const body = assertRefused(res, route.url, 'forbidden');
        assert.ok(body.detail.includes(access), `detail names the scope: ${body.detail}`);
        assert.match(String(res.headers['www-authenticate']), /^Bearer .*error="insufficient_scope"/);
        casesRun++;
      });
    }

    for (const [label, key] of [
      [`right scope (${access})`, rightKeys.get(access)!],
      ['admin', rightKeys.get('admin')!],
      ['right scope, lower-case "bearer"', rightKeys.get(access)!],
    ] as const) {
      test(`${label} → neither 401 nor 403`, async () => {
        const scheme = label.includes('lower-case') ? 'bearer' : 'Bearer';
        const res = await t.app.inject(requestFor(route.method, route.url, `${scheme} ${key}`));
        assert.ok(res.statusCode !== 401 && res.statusCode !== 403, `${res.statusCode} ${res.body.slice(0, 300)}`);
        assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body.slice(0, 300)}`);
        casesRun++;
      });
    }
  });
}

test('matrix size', () => {
  const perRoute = UNAUTHENTICATED.length + 1 + 3;
  const expected = guarded.reduce((n, r) => n + perRoute + (wrongKeys.has(r.access as Scope) ? 1 : 0), 0);
  console.log(`authorisation matrix: ${guarded.length} guarded routes, ${casesRun} cases run`);
  assert.ok(guarded.length >= 8, `guarded routes: ${guarded.length}`);
  assert.equal(casesRun, expected);
});
