// API tests for abuse protection: rate limits (in memory and shared through Redis, failing open
// when Redis is gone), the client IP behind trusted proxies, security headers and CORS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { Registry } from 'prom-client';
import { httpMetrics } from '../../src/observability/metrics.js';
import { closeRedis, openRedis, type RedisLog } from '../../src/kit/redis.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { capturedLogs } from '../helpers/logs.js';
import type { TestDatabase } from '../helpers/databases.js';
import { deleteNamespace, ready, REDIS_URL, redisUnavailable, uniqueNamespace } from '../helpers/redis.js';
import { API_SECURITY_HEADERS, DOCUMENT_SECURITY_HEADERS } from '../../src/http/security-headers.js';

const LIST = '/v1/users?limit=1';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const none = { authorization: undefined };
/** A well-formed key that no database holds. */
const randomKey = () => `rk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url').slice(0, 43)}`;

/** Each test sends from an address of its own, so tests sharing an app share no counter. */
let nextHost = 1;
const freshAddress = () => `198.51.100.${nextHost++}`;

function assertRateLimited(res: LightMyRequestResponse, limit: number): void {
  assert.equal(res.statusCode, 429, res.body);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json<{ type: string; status: number; title: string; detail: string; request_id: string }>();
  assert.equal(body.type, 'urn:roster:problem:rate-limited');
  assert.equal(body.status, 429);
  assert.equal(body.request_id, res.headers['x-request-id']);
  assert.match(body.detail, new RegExp(`limit is ${limit} a minute`));
  const retryAfter = Number(res.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `Retry-After: ${res.headers['retry-after']}`);
  assert.equal(res.headers['ratelimit-limit'], String(limit));
  assert.equal(res.headers['ratelimit-remaining'], '0');
  assert.ok(Number(res.headers['ratelimit-reset']) > 0, `RateLimit-Reset: ${String(res.headers['ratelimit-reset'])}`);
}

/** Sends `count` requests one after another; returns the status codes. */
async function statuses(t: TestApp, count: number, options: () => InjectOptions): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await t.app.inject(options())).statusCode);
  return out;
}

const repeat = <T>(value: T, n: number): T[] => Array.from({ length: n }, () => value);

describe('rate limits in memory', () => {
  const PER_KEY = 5;
  const PER_IP = 3;
  let t: TestApp;
  before(async () => {
    t = await buildTestApp(undefined, { rateLimits: { perCredentialPerMinute: PER_KEY, perIpPerMinute: PER_IP } });
  });
  after(async () => t?.close());

  test('a credential gets its budget, then a 429 problem with Retry-After and RateLimit headers', async () => {
    const { key } = await t.auth.keyWith(['users:read']);
    const remoteAddress = freshAddress();
    for (let i = 1; i <= PER_KEY; i++) {
      const res = await t.app.inject({ method: 'GET', url: LIST, headers: bearer(key), remoteAddress });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['ratelimit-limit'], String(PER_KEY), 'authenticated requests get the per-credential limit');
      assert.equal(res.headers['ratelimit-remaining'], String(PER_KEY - i));
    }
    assertRateLimited(await t.app.inject({ method: 'GET', url: LIST, headers: bearer(key), remoteAddress }), PER_KEY);
  });

  test('one credential spending its budget leaves other credentials and the IP budget alone', async () => {
    const a = await t.auth.keyWith(['users:read']);
    const b = await t.auth.keyWith(['users:read']);
    const remoteAddress = freshAddress();
    const fromA = () => ({ method: 'GET' as const, url: LIST, headers: bearer(a.key), remoteAddress });
    assert.deepEqual(await statuses(t, PER_KEY + 2, fromA), [...repeat(200, PER_KEY), 429, 429]);
    const otherKey = await t.app.inject({ method: 'GET', url: LIST, headers: bearer(b.key), remoteAddress });
    assert.equal(otherKey.statusCode, 200, 'another credential from the same address is unaffected');
    assert.equal(otherKey.headers['ratelimit-remaining'], String(PER_KEY - 1));
    const anonymous = await t.app.inject({ method: 'GET', url: LIST, headers: none, remoteAddress });
    assert.equal(anonymous.statusCode, 401, 'authenticated traffic is not charged to the IP');
  });

  test('requests without credentials are limited per IP (401 until the budget is spent, then 429)', async () => {
    const remoteAddress = freshAddress();
    const anonymous = () => ({ method: 'GET' as const, url: LIST, headers: none, remoteAddress });
    assert.deepEqual(await statuses(t, PER_IP, anonymous), repeat(401, PER_IP));
    const limited = await t.app.inject(anonymous());
    assertRateLimited(limited, PER_IP);
    assert.equal(limited.headers['www-authenticate'], undefined, 'a 429 is not an authentication challenge');
    const elsewhere = await t.app.inject({ ...anonymous(), remoteAddress: freshAddress() });
    assert.equal(elsewhere.statusCode, 401, 'another address has its own budget');
  });

  test('a flood of random keys from one IP is limited like anonymous traffic', async () => {
    const remoteAddress = freshAddress();
    const flood = await statuses(t, 20, () => ({ method: 'GET', url: LIST, headers: bearer(randomKey()), remoteAddress }));
    assert.deepEqual(flood, [...repeat(401, PER_IP), ...repeat(429, 20 - PER_IP)]);
    const malformed = await t.app.inject({ method: 'GET', url: LIST, headers: { authorization: 'Basic abc' }, remoteAddress });
    assert.equal(malformed.statusCode, 429, 'malformed credentials share the same per-IP budget');
  });

  test("a forged key with another caller's key id spends the forger's IP budget, not the victim's", async () => {
    const victim = await t.auth.keyWith(['users:read']);
    const forged = `rk_${victim.id}_${randomBytes(32).toString('base64url').slice(0, 43)}`;
    assert.notEqual(forged, victim.key);
    const attacker = freshAddress();
    const flood = await statuses(t, 10, () => ({ method: 'GET', url: LIST, headers: bearer(forged), remoteAddress: attacker }));
    assert.deepEqual(flood, [...repeat(401, PER_IP), ...repeat(429, 10 - PER_IP)]);
    const res = await t.app.inject({ method: 'GET', url: LIST, headers: bearer(victim.key), remoteAddress: freshAddress() });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['ratelimit-remaining'], String(PER_KEY - 1), "the victim's budget is untouched");
  });

  test('wrong-scope requests are counted against the credential (403, then 429)', async () => {
    const { key } = await t.auth.keyWith(['users:read']);
    const remoteAddress = freshAddress();
    const write = () => ({
      method: 'POST' as const,
      url: '/v1/users',
      headers: bearer(key),
      payload: { email: 'x@example.com', name: 'X' },
      remoteAddress,
    });
    assert.deepEqual(await statuses(t, PER_KEY + 1, write), [...repeat(403, PER_KEY), 429]);
  });

  test('probes are never limited', async () => {
    const remoteAddress = freshAddress();
    for (const url of ['/livez', '/readyz']) {
      const codes = await statuses(t, PER_IP * 3, () => ({ method: 'GET', url, headers: none, remoteAddress }));
      assert.deepEqual(codes, repeat(200, PER_IP * 3), url);
      const res = await t.app.inject({ method: 'GET', url, headers: none, remoteAddress });
      assert.equal(res.headers['ratelimit-limit'], undefined, `${url} carries no rate-limit headers`);
    }
  });

  test('scanning for unknown URLs is limited per IP', async () => {
    const remoteAddress = freshAddress();
    const codes = await statuses(t, PER_IP + 1, () => ({ method: 'GET', url: `/v1/scan-${nextHost++}`, remoteAddress }));
    assert.deepEqual(codes, [...repeat(404, PER_IP), 429]);
  });

  test('public routes other than the probes are limited per IP', async () => {
    const remoteAddress = freshAddress();
    const codes = await statuses(t, PER_IP + 1, () => ({ method: 'GET', url: '/openapi.json', headers: none, remoteAddress }));
    assert.deepEqual(codes, [...repeat(200, PER_IP), 429]);
  });
});

/** A silent log that keeps what the Redis client reports. */
function recordingLog(): RedisLog & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return {
    warnings,
    infos,
    warn: (_fields, message) => warnings.push(message),
    info: (_fields, message) => infos.push(message),
  };
}

describe('rate limits shared through Redis', async () => {
  const skip = await redisUnavailable();
  const PER_KEY = 4;
  const PER_IP = 3;
  const namespace = uniqueNamespace();
  let first: TestApp;
  let second: TestApp;
  let clients: Redis[] = [];
  before(async () => {
    if (skip) return;
    clients = [openRedis(REDIS_URL, recordingLog()), openRedis(REDIS_URL, recordingLog())];
    await Promise.all(clients.map((c) => ready(c)));
    const rateLimits = (redis: Redis) => ({ perCredentialPerMinute: PER_KEY, perIpPerMinute: PER_IP, redis, namespace });
    first = await buildTestApp(undefined, { rateLimits: rateLimits(clients[0]!) });
    // The second instance serves the same database, as instances behind one load balancer do.
    const shared: TestDatabase = { ...first.testDb, cleanup: async () => undefined };
    second = await buildTestApp(() => Promise.resolve(shared), { rateLimits: rateLimits(clients[1]!) });
  });
  after(async () => {
    await second?.close();
    await first?.close();
    if (clients[0]) await deleteNamespace(clients[0], namespace).catch(() => undefined);
    for (const client of clients) await closeRedis(client);
  });

  test('two instances enforce one combined per-credential limit', { skip }, async () => {
    const { key } = await first.auth.keyWith(['users:read']);
    const codes: number[] = [];
    for (let i = 0; i < PER_KEY + 2; i++) {
      const instance = i % 2 === 0 ? first : second;
      codes.push((await instance.app.inject({ method: 'GET', url: LIST, headers: bearer(key) })).statusCode);
    }
    assert.deepEqual(codes, [...repeat(200, PER_KEY), 429, 429]);
    assertRateLimited(await first.app.inject({ method: 'GET', url: LIST, headers: bearer(key) }), PER_KEY);
    assertRateLimited(await second.app.inject({ method: 'GET', url: LIST, headers: bearer(key) }), PER_KEY);
    const keys = await clients[0]!.keys(`${namespace}*`);
    assert.ok(keys.length > 0, 'the counters live in Redis under the namespace');
  });

  test('two instances enforce one combined per-IP limit', { skip }, async () => {
    const remoteAddress = freshAddress();
    const codes: number[] = [];
    for (let i = 0; i < PER_IP + 2; i++) {
      const instance = i % 2 === 0 ? first : second;
      codes.push((await instance.app.inject({ method: 'GET', url: LIST, headers: none, remoteAddress })).statusCode);
    }
    assert.deepEqual(codes, [...repeat(401, PER_IP), 429, 429]);
  });
});

describe('rate limits when Redis is unreachable', () => {
  const PER_KEY = 2;
  let t: TestApp;
  let client: Redis;
  const log = recordingLog();
  const metrics = httpMetrics(new Registry());
  let errors = 0;
  before(async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    client = openRedis(`redis://127.0.0.1:${port}`, log);
    client.on('error', () => {
      errors += 1;
    });
    t = await buildTestApp(undefined, {
      rateLimits: { perCredentialPerMinute: PER_KEY, perIpPerMinute: PER_KEY, redis: client },
      metrics,
    });
  });
  after(async () => {
    await t?.close();
    if (client) await closeRedis(client);
  });

  test('requests are still served (fail open), beyond the limit', async () => {
    const codes = await statuses(t, PER_KEY * 3, () => ({ method: 'GET', url: LIST }));
    assert.deepEqual(codes, repeat(200, PER_KEY * 3));
    const created = await t.app.inject({ method: 'POST', url: '/v1/users', payload: { email: 'open@example.com', name: 'Open' } });
    assert.equal(created.statusCode, 201, created.body);
    // Every request let through unchecked is counted, so the fail-open state is visible on a dashboard.
    const [failOpen] = (await metrics.rateLimitFailOpen.get()).values;
    assert.equal(failOpen?.value, PER_KEY * 3 + 1);
  });

  test('the outage is logged, throttled: one line for many connection failures', async () => {
    // Bounded wait for the client's reconnect attempts to fail a few times.
    for (let waited = 0; errors < 3 && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.ok(errors >= 3, `only ${errors} connection failures seen`);
    assert.equal(log.warnings.length, 1, log.warnings.join('\n'));
    assert.match(log.warnings[0]!, /Redis is unreachable: requests are still served, without rate limits/);
  });
});

/** A port nothing listened on a moment ago. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('rate limits when a connected Redis stops answering', async () => {
  // A Redis server of this test's own, so stopping it (SIGSTOP: the connection stays up, commands
  // go unanswered past the client's 500 ms timeout) disturbs nobody else's counters. This is what
  // Redis coming back looks like to the limiter when it is still loading or overloaded: the
  // client is 'ready', so the Redis client logs nothing, yet every check fails open.
  const skip = await redisUnavailable();
  const PER_KEY = 2;
  let server: ChildProcess | undefined;
  let client: Redis | undefined;
  let t: TestApp;
  const logs = capturedLogs();
  const metrics = httpMetrics(new Registry());
  before(async () => {
    if (skip) return;
    const port = await freePort();
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    client = openRedis(`redis://127.0.0.1:${port}`, recordingLog());
    await ready(client, 10_000);
    t = await buildTestApp(undefined, {
      rateLimits: { perCredentialPerMinute: PER_KEY, perIpPerMinute: PER_KEY, redis: client },
      metrics,
      logger: logs.logger,
    });
  });
  after(async () => {
    server?.kill('SIGCONT');
    await t?.close();
    if (client) await closeRedis(client);
    server?.kill('SIGKILL');
  });

  test('unchecked requests are logged once, throttled, while the client stays connected', { skip }, async () => {
    const limited = await statuses(t, PER_KEY + 1, () => ({ method: 'GET', url: LIST }));
    assert.deepEqual(limited, [...repeat(200, PER_KEY), 429], 'enforced while Redis answers');
    server!.kill('SIGSTOP');
    const codes = await statuses(t, 3, () => ({ method: 'GET', url: LIST }));
    assert.deepEqual(codes, repeat(200, 3), 'served unchecked (fail open)');
    assert.equal(client!.status, 'ready', 'the connection never dropped');
    const [failOpen] = (await metrics.rateLimitFailOpen.get()).values;
    assert.equal(failOpen?.value, 3);
    const lines = logs.lines.filter((line) => String(line.msg).startsWith('rate limit not checked'));
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0]!.level, 'warn');
    assert.equal(lines[0]!.unchecked_since_last_line, 0);
  });
});

describe('client IP behind proxies', () => {
  const PER_IP = 2;
  const build = (env: Record<string, string>) =>
    buildTestApp(undefined, {
      rateLimits: { perCredentialPerMinute: 100, perIpPerMinute: PER_IP },
      trustProxy: loadConfig(env).http.trustProxy,
    });
  const anonymousVia = (forwardedFor: string) => ({
    method: 'GET' as const,
    url: LIST,
    headers: { ...none, 'x-forwarded-for': forwardedFor },
    remoteAddress: '10.0.0.2', // the proxy
  });

  for (const [name, env] of [
    ['a trusted proxy address', { ROSTER_TRUST_PROXY: '10.0.0.0/8' }],
    ['a hop count', { ROSTER_TRUST_PROXY: '1' }],
    ['true', { ROSTER_TRUST_PROXY: 'true' }],
  ] as const) {
    test(`with ROSTER_TRUST_PROXY as ${name}, the per-IP limit keys on the X-Forwarded-For client`, async () => {
      const t = await build(env);
      try {
        const client = '203.0.113.7';
        assert.deepEqual(await statuses(t, PER_IP + 1, () => anonymousVia(client)), [...repeat(401, PER_IP), 429]);
        const other = await t.app.inject(anonymousVia('203.0.113.8'));
        assert.equal(other.statusCode, 401, 'another client behind the same proxy has its own budget');
      } finally {
        await t.close();
      }
    });
  }

  test('without ROSTER_TRUST_PROXY, X-Forwarded-For is ignored (rotating it does not escape the limit)', async () => {
    const t = await build({});
    try {
      const codes = await statuses(t, PER_IP + 2, () => anonymousVia(`203.0.113.${nextHost++}`));
      assert.deepEqual(codes, [...repeat(401, PER_IP), 429, 429]);
    } finally {
      await t.close();
    }
  });

  test('a trusted-proxy list does not trust a client that reaches the port directly', async () => {
    const t = await build({ ROSTER_TRUST_PROXY: '10.0.0.0/8' });
    try {
      const direct = () => ({ ...anonymousVia(`203.0.113.${nextHost++}`), remoteAddress: '192.0.2.50' });
      assert.deepEqual(await statuses(t, PER_IP + 1, direct), [...repeat(401, PER_IP), 429]);
    } finally {
      await t.close();
    }
  });
});

describe('security headers and CORS', () => {
  const ALLOWED = 'https://admin.example.com';
  let off: TestApp;
  let on: TestApp;
  before(async () => {
    off = await buildTestApp();
    on = await buildTestApp(undefined, { corsOrigins: loadConfig({ ROSTER_CORS_ORIGINS: ALLOWED }).http.corsOrigins });
  });
  after(async () => {
    await off?.close();
    await on?.close();
  });

  test('API responses carry helmet security headers and a deny-all CSP', async () => {
    for (const res of [
      await off.app.inject({ method: 'GET', url: LIST }),
      await off.app.inject({ method: 'GET', url: LIST, headers: none }),
      await off.app.inject({ method: 'GET', url: '/no-such-route' }),
    ]) {
      assert.equal(res.headers['x-content-type-options'], 'nosniff', `${res.statusCode}`);
      assert.match(String(res.headers['strict-transport-security']), /max-age=\d+/);
      assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
      assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
      assert.match(String(res.headers['content-security-policy']), /frame-ancestors 'none'/);
      assert.equal(res.headers['x-powered-by'], undefined);
      for (const name of Object.keys(DOCUMENT_SECURITY_HEADERS)) {
        assert.equal(res.headers[name], undefined, `${name} is for HTML documents, not a JSON answer`);
      }
    }
  });

  test('the headers only an HTML document heeds are the seven of helmet that the API leaves out', () => {
    assert.deepEqual(Object.keys(DOCUMENT_SECURITY_HEADERS).sort(), [
      'cross-origin-opener-policy',
      'origin-agent-cluster',
      'referrer-policy',
      'x-dns-prefetch-control',
      'x-download-options',
      'x-permitted-cross-domain-policies',
      'x-xss-protection',
    ]);
    for (const name of Object.keys(DOCUMENT_SECURITY_HEADERS)) assert.equal(API_SECURITY_HEADERS[name], undefined, name);
  });

  test('the /docs page gets a CSP that lets swagger-ui load its own scripts and styles', async () => {
    const res = await off.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(res.statusCode, 200);
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /style-src 'self'/);
    assert.doesNotMatch(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /upgrade-insecure-requests/, 'the docs must work on a plain-HTTP port');
    for (const [name, value] of Object.entries(DOCUMENT_SECURITY_HEADERS)) assert.equal(res.headers[name], value, name);
    const asset = await off.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    assert.equal(asset.statusCode, 200);
  });

  test('what a browser would enforce: every inline block of /docs is allowed by its CSP hash, every asset is same-origin and loads', async () => {
    const res = await off.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(res.statusCode, 200);
    const html = res.body;
    const directives = new Map(
      String(res.headers['content-security-policy'])
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .filter((parts) => parts[0])
        .map(([name, ...values]) => [name!, values]),
    );
    const allowed = (directive: 'script-src' | 'style-src', content: string) => {
      const hash = `'sha256-${createHash('sha256').update(content).digest('base64')}'`;
      const values = directives.get(directive) ?? directives.get('default-src') ?? [];
      return values.includes(hash) || values.includes("'unsafe-inline'");
    };
    const inlineScripts = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    const inlineStyles = [...html.matchAll(/<style[^>]*>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    for (const script of inlineScripts) assert.ok(allowed('script-src', script), `inline script not allowed: ${script.slice(0, 80)}`);
    for (const style of inlineStyles) assert.ok(allowed('style-src', style), `inline style not allowed: ${style.slice(0, 80)}`);
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers (a hash cannot allow them)');
    const assets = [...html.matchAll(/<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.length >= 3, `assets: ${assets.join(', ')}`);
    for (const asset of assets) {
      assert.doesNotMatch(asset, /^(https?:)?\/\//, `${asset} must come from this origin ('self')`);
      const loaded = await off.app.inject({ method: 'GET', url: new URL(asset, 'http://roster.test/docs/').pathname });
      assert.equal(loaded.statusCode, 200, asset);
    }
    // The page's script fetches the API description (/openapi.json, the first of its `urls`) from this
    // origin too (connect-src falls back to 'self').
    const initializer = await off.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    const specUrl = /"urls":\[\{"url":"([^"]+)"/.exec(initializer.body)?.[1];
    assert.ok(specUrl !== undefined && !/^(https?:)?\/\//.test(specUrl), `spec url ${specUrl}`);
    assert.equal((await off.app.inject({ method: 'GET', url: new URL(specUrl, 'http://roster.test/docs/').pathname })).statusCode, 200);
  });

  test('CORS is off by default: no Access-Control-Allow-Origin for any origin', async () => {
    const res = await off.app.inject({ method: 'GET', url: LIST, headers: { origin: ALLOWED } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const preflight = await off.app.inject({
      method: 'OPTIONS',
      url: '/v1/users',
      headers: { ...none, origin: ALLOWED, 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  });

  test('with an allow-list, an allowed origin is echoed and any other is not', async () => {
    const allowed = await on.app.inject({ method: 'GET', url: LIST, headers: { origin: ALLOWED } });
    assert.equal(allowed.statusCode, 200);
    assert.equal(allowed.headers['access-control-allow-origin'], ALLOWED);
    assert.match(String(allowed.headers['access-control-expose-headers']), /ratelimit-remaining/);
    assert.equal(allowed.headers['access-control-allow-credentials'], undefined, 'bearer tokens, no cookies');
    const other = await on.app.inject({ method: 'GET', url: LIST, headers: { origin: 'https://evil.example.com' } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);

    const preflight = await on.app.inject({
      method: 'OPTIONS',
      url: '/v1/users/abc',
      headers: { ...none, origin: ALLOWED, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization' },
    });
    assert.equal(preflight.statusCode, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], ALLOWED);
    assert.match(String(preflight.headers['access-control-allow-methods']), /PATCH/);
    assert.match(String(preflight.headers['access-control-allow-headers']), /authorization/);
  });
});
