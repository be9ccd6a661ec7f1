// Integration tests for JWT bearer tokens: JwtVerifier and the Authenticator against a local
// JWKS server on loopback, then the whole app. Keys come from jose; the server is node:http.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { Authenticator } from '../../src/auth/authenticator.js';
import { UnauthenticatedError } from '../../src/auth/errors.js';
import { JwtVerifier, type JwtOptions } from '../../src/auth/jwt.js';
import { ApiKeysService } from '../../src/auth/service.js';
import { SqlApiKeyStore } from '../../src/auth/sql-store.js';
import { UnavailableError } from '../../src/kit/errors.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { appOver } from '../helpers/app.js';
import { assertProblem, fromInject } from '../helpers/http.js';

const ISSUER = 'https://issuer.test/';
const AUDIENCE = 'roster-api';

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicKey, jwk };
}

/** A JWKS endpoint we control: which keys it serves, whether it fails, how often it was asked. */
class JwksServer {
  keys: JWK[] = [];
  mode: 'ok' | '500' = 'ok';
  fetches = 0;
  readonly #server: Server = createServer((req, res) => {
    this.fetches++;
    if (this.mode === '500') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }));
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** A loopback port with nothing listening on it (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

async function token(
  key: SigningKey,
  claims: JWTPayload = {},
  options: { issuer?: string; audience?: string; expiresAt?: number; subject?: string | null; kid?: string } = {},
): Promise<string> {
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? key.kid, typ: 'JWT' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt();
  if (options.subject !== null) jwt = jwt.setSubject(options.subject ?? 'user-42');
  if (options.expiresAt !== -1) jwt = jwt.setExpirationTime(options.expiresAt ?? nowSeconds() + 300);
  return jwt.sign(key.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function claims(overrides: JWTPayload = {}): JWTPayload {
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-42', iat: nowSeconds(), exp: nowSeconds() + 300, scope: 'users:read', ...overrides };
}

async function rejectsWith(promise: Promise<unknown>, type: typeof UnauthenticatedError | typeof UnavailableError, what: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof type, `${what}: expected ${type.name}, got ${String(error)} (cause: ${String((error as Error).cause)})`);
    return true;
  });
}

const servers: JwksServer[] = [];
async function jwksServer(keys: JWK[]): Promise<JwksServer> {
  const server = new JwksServer();
  server.keys = keys;
  await server.start();
  servers.push(server);
  return server;
}
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

// No test here waits for the JWKS timeout to fire (a dead JWKS is a refused connection or a
// 500), so it is generous: a CI machine at load 27 took over 5 s to answer the local JWKS.
const verifierFor = (url: string, options: Partial<JwtOptions> = {}) =>
  new JwtVerifier({ jwksUrl: url, issuer: ISSUER, audience: AUDIENCE, jwksCooldownMs: 0, jwksTimeoutMs: 60_000, ...options });

describe('JwtVerifier against a local JWKS', () => {
  let keyA: SigningKey;
  let keyB: SigningKey;
  let stranger: SigningKey;
  let jwks: JwksServer;
  let verifier: JwtVerifier;
  before(async () => {
    [keyA, keyB, stranger] = await Promise.all([signingKey('key-a'), signingKey('key-b'), signingKey('key-a')]);
    jwks = await jwksServer([keyA.jwk]);
    verifier = verifierFor(jwks.url);
  });

  test('a valid token → principal with the scopes of `scope` (space-separated)', async () => {
    const principal = await verifier.verify(await token(keyA, { scope: 'users:read  users:write' }));
    assert.equal(principal.actor, 'jwt:user-42');
    assert.equal(principal.kind, 'jwt');
    assert.deepEqual([...principal.scopes].sort(), ['users:read', 'users:write']);
  });

  test('a valid token → scopes from `scp` (array), and none when neither claim is present', async () => {
    const fromScp = await verifier.verify(await token(keyA, { scp: ['users:read', 'admin', 7] }));
    assert.deepEqual([...fromScp.scopes].sort(), ['admin', 'users:read']);
    const none = await verifier.verify(await token(keyA, {}));
    assert.equal(none.scopes.size, 0);
  });

  test('the JWKS is cached: many verifications, one fetch', async () => {
    const fresh = verifierFor(jwks.url);
    const before = jwks.fetches;
    for (let i = 0; i < 10; i++) await fresh.verify(await token(keyA, { scope: 'users:read' }));
    assert.equal(jwks.fetches - before, 1);
  });

  test('key rotation: a token signed with a new kid verifies once the JWKS serves it; the retired key is refused', async () => {
    const rotating = verifierFor(jwks.url);
    await rotating.verify(await token(keyA)); // caches { key-a }
    try {
      jwks.keys = [keyB.jwk];
      const before = jwks.fetches;
      const principal = await rotating.verify(await token(keyB, { scope: 'users:write' }));
      assert.deepEqual([...principal.scopes], ['users:write']);
      assert.equal(jwks.fetches - before, 1, 'the unknown kid triggered one refetch');
      await rotating.verify(await token(keyB)); // from the refreshed cache
      await rejectsWith(rotating.verify(await token(keyA)), UnauthenticatedError, 'retired key');
    } finally {
      jwks.keys = [keyA.jwk];
    }
  });

  test('an unknown kid during the cooldown is refused without refetching', async () => {
    const cautious = verifierFor(jwks.url, { jwksCooldownMs: 60 * 60_000 });
    await cautious.verify(await token(keyA));
    const before = jwks.fetches;
    for (let i = 0; i < 5; i++) await rejectsWith(cautious.verify(await token(keyB)), UnauthenticatedError, 'unknown kid');
    assert.equal(jwks.fetches, before, 'no refetch storm on unknown kids');
  });

  test('expired beyond the 30 s tolerance → UnauthenticatedError; within it → accepted', async () => {
    await rejectsWith(verifier.verify(await token(keyA, {}, { expiresAt: nowSeconds() - 120 })), UnauthenticatedError, 'expired');
    await verifier.verify(await token(keyA, {}, { expiresAt: nowSeconds() - 5 }));
  });

  test('a token without exp or without sub → UnauthenticatedError', async () => {
    await rejectsWith(verifier.verify(await token(keyA, {}, { expiresAt: -1 })), UnauthenticatedError, 'no exp');
    await rejectsWith(verifier.verify(await token(keyA, {}, { subject: null })), UnauthenticatedError, 'no sub');
  });

  test('a token not yet valid (nbf in the future) → UnauthenticatedError', async () => {
    await rejectsWith(verifier.verify(await token(keyA, { nbf: nowSeconds() + 600 })), UnauthenticatedError, 'nbf');
  });

  test('wrong issuer → UnauthenticatedError', async () => {
    await rejectsWith(verifier.verify(await token(keyA, {}, { issuer: 'https://evil.test/' })), UnauthenticatedError, 'issuer');
  });

  test('wrong audience → UnauthenticatedError', async () => {
    await rejectsWith(verifier.verify(await token(keyA, {}, { audience: 'another-api' })), UnauthenticatedError, 'audience');
  });

  test('alg: none (unsigned) → UnauthenticatedError', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64(claims())}.`;
      await rejectsWith(verifier.verify(unsigned), UnauthenticatedError, `alg ${alg}`);
      const withKid = `${b64({ alg, kid: keyA.kid })}.${b64(claims())}.`;
      await rejectsWith(verifier.verify(withKid), UnauthenticatedError, `alg ${alg} with kid`);
    }
  });

  test('HS256 signed with the RSA public key as HMAC secret (algorithm confusion) → UnauthenticatedError', async () => {
    const pem = await exportSPKI(keyA.publicKey);
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const jwkBytes = Buffer.from(JSON.stringify(keyA.jwk));
    for (const secret of [Buffer.from(pem), Buffer.from(`${pem.trim()}`), der, jwkBytes]) {
      const forged = await new SignJWT(claims({ scope: 'admin' }))
        .setProtectedHeader({ alg: 'HS256', kid: keyA.kid, typ: 'JWT' })
        .sign(new Uint8Array(secret));
      await rejectsWith(verifier.verify(forged), UnauthenticatedError, 'HS256 confusion');
    }
  });

  test('signed by a stranger’s key that claims our kid → UnauthenticatedError', async () => {
    await rejectsWith(verifier.verify(await token(stranger, { scope: 'admin' })), UnauthenticatedError, 'stranger');
  });

  test('a tampered payload → UnauthenticatedError', async () => {
    const good = await token(keyA, { scope: 'users:read' });
    const [h, , s] = good.split('.');
    const tampered = `${h}.${b64(claims({ scope: 'admin' }))}.${s}`;
    await rejectsWith(verifier.verify(tampered), UnauthenticatedError, 'tampered');
  });

  test('garbage shaped like a JWT is a bad token (401), never "issuer unavailable" (503) (property)', async () => {
    const segment = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.base64String({ maxLength: 60 }),
      fc.jsonValue({ maxDepth: 3 }).map(b64),
      fc
        .record(
          {
            alg: fc.constantFrom('RS256', 'HS256', 'none', 'ES256', 'PS256', 'EdDSA', 'RSA-OAEP', ''),
            kid: fc.oneof(fc.constant(keyA.kid), fc.string({ maxLength: 10 }), fc.integer()),
            crit: fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }),
            b64: fc.boolean(),
            typ: fc.string({ maxLength: 5 }),
          },
          { requiredKeys: ['alg'] },
        )
        .map(b64),
    );
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(segment, segment, segment, async (h, p, s) => {
        runs++;
        await rejectsWith(verifier.verify(`${h}.${p}.${s}`), UnauthenticatedError, `${h}.${p}.${s}`);
      }),
      { numRuns: 300 },
    );
    assert.equal(runs >= 300, true);
  });

  test('JWKS server unreachable → UnavailableError', async () => {
    const unreachable = verifierFor(`http://127.0.0.1:${await deadPort()}/jwks.json`);
    await rejectsWith(unreachable.verify(await token(keyA)), UnavailableError, 'unreachable');
  });

  test('JWKS server answering 500 → UnavailableError (first fetch, and refetch for a new kid)', async () => {
    const failing = await jwksServer([keyA.jwk]);
    failing.mode = '500';
    await rejectsWith(verifierFor(failing.url).verify(await token(keyA)), UnavailableError, '500 on first fetch');
    failing.mode = 'ok';
    const warm = verifierFor(failing.url);
    await warm.verify(await token(keyA));
    failing.mode = '500';
    await warm.verify(await token(keyA)); // known kid: served from the cache while the server is down
    await rejectsWith(warm.verify(await token(keyB)), UnavailableError, '500 on refetch for a new kid');
  });

  test('the Authenticator sends JWT-shaped bearers to the verifier and rk_ keys to the key service', async () => {
    const db = await sqliteTestDatabase();
    try {
      const apiKeys = new ApiKeysService({ store: new SqlApiKeyStore(db.database.db, db.database.dialect), cacheTtlMs: 0 });
      const { record, plaintext } = await apiKeys.create({ name: 'k', scopes: ['users:read'] });
      const auth = new Authenticator(apiKeys, verifier);
      assert.equal((await auth.authenticate(`Bearer ${await token(keyA)}`)).actor, 'jwt:user-42');
      assert.equal((await auth.authenticate(`Bearer ${plaintext}`)).actor, `key:${record.id}`);
      await rejectsWith(auth.authenticate(undefined), UnauthenticatedError, 'none');
      await rejectsWith(auth.authenticate(`Basic ${await token(keyA)}`), UnauthenticatedError, 'Basic');
      await rejectsWith(auth.authenticate('Bearer not-a-jwt'), UnauthenticatedError, 'opaque');
      await rejectsWith(auth.authenticate('Bearer a.b.c.d'), UnauthenticatedError, 'four segments');
      // Without a verifier, a JWT is just an unknown credential.
      await rejectsWith(new Authenticator(apiKeys).authenticate(`Bearer ${await token(keyA)}`), UnauthenticatedError, 'no JWT config');
    } finally {
      await db.cleanup();
    }
  });
});

describe('JWT through the HTTP API', () => {
  let key: SigningKey;
  let jwks: JwksServer;
  let testDb: TestDatabase;
  const apps: FastifyInstance[] = [];

  async function appWith(verifier: JwtVerifier): Promise<FastifyInstance> {
    const { database } = testDb;
    const apiKeys = new ApiKeysService({ store: new SqlApiKeyStore(database.db, database.dialect), cacheTtlMs: 0 });
    const app = await appOver(database, { apiKeys, authenticator: new Authenticator(apiKeys, verifier) });
    apps.push(app);
    return app;
  }

  before(async () => {
    key = await signingKey('api-key-1');
    jwks = await jwksServer([key.jwk]);
    testDb = await sqliteTestDatabase();
  });
  after(async () => {
    for (const app of apps) await app.close();
    await testDb?.cleanup();
  });

  const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` });

  test('scope users:read: GET /v1/users is 200, POST /v1/users is 403 naming users:write', async () => {
    const app = await appWith(verifierFor(jwks.url));
    const jwt = await token(key, { scope: 'users:read' });
    const list = await app.inject({ method: 'GET', url: '/v1/users', headers: bearer(jwt) });
    assert.equal(list.statusCode, 200, list.body);
    const create = await app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: { ...bearer(jwt), 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'jwt@example.com', name: 'Jwt' }),
    });
    const problem = assertProblem(fromInject(create), 'forbidden');
    assert.match(problem.detail, /users:write/);
    const expired = await app.inject({
      method: 'GET',
      url: '/v1/users',
      headers: bearer(await token(key, { scope: 'users:read' }, { expiresAt: nowSeconds() - 3600 })),
    });
    assertProblem(fromInject(expired), 'unauthenticated');
    assert.match(String(expired.headers['www-authenticate']), /^Bearer/);
  });

  test('scope users:write via scp: POST /v1/users is 201', async () => {
    const app = await appWith(verifierFor(jwks.url));
    const res = await app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: { ...bearer(await token(key, { scp: ['users:write'] })), 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'jwt-writer@example.com', name: 'Jwt Writer' }),
    });
    assert.equal(res.statusCode, 201, res.body);
  });

  test('JWKS down: 503 problem, not 401, not 500', async () => {
    const down = await appWith(verifierFor(`http://127.0.0.1:${await deadPort()}/jwks.json`));
    const res = await down.inject({ method: 'GET', url: '/v1/users', headers: bearer(await token(key, { scope: 'users:read' })) });
    assertProblem(fromInject(res), 'unavailable');

    const failing = await jwksServer([key.jwk]);
    failing.mode = '500';
    const erroring = await appWith(verifierFor(failing.url));
    const res500 = await erroring.inject({ method: 'GET', url: '/v1/users', headers: bearer(await token(key, { scope: 'users:read' })) });
    assertProblem(fromInject(res500), 'unavailable');
    // API keys keep working while the issuer is down.
    const keys = new ApiKeysService({ store: new SqlApiKeyStore(testDb.database.db, testDb.database.dialect), cacheTtlMs: 0 });
    const { plaintext } = await keys.create({ name: 'during outage', scopes: ['users:read'] });
    const withKey = await down.inject({ method: 'GET', url: '/v1/users', headers: bearer(plaintext) });
    assert.equal(withKey.statusCode, 200, withKey.body);
  });
});
