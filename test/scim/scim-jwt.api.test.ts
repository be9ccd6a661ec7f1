// A provider authenticating with a JWT whose `scope` lists `scim` (a JWKS on loopback, the app
// with the SCIM plugin over the in-memory directory): accepted; without the scope, 403 as a SCIM error.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { Authenticator } from '../../src/auth/authenticator.js';
import { JwtVerifier } from '../../src/auth/jwt.js';
import { ApiKeysService } from '../../src/auth/service.js';
import { SqlApiKeyStore } from '../../src/auth/sql-store.js';
import { appOver } from '../helpers/app.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { MemoryDirectory } from './memory-directory.js';

const ISSUER = 'https://issuer.test/';
const AUDIENCE = 'roster-api';

let jwks: Server;
let testDb: TestDatabase;
let app: FastifyInstance;
let privateKey: CryptoKey;

before(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'scim-1', alg: 'RS256', use: 'sig' };
  jwks = createServer((_request, response) =>
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
  );
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  testDb = await sqliteTestDatabase();
  const { database } = testDb;
  const apiKeys = new ApiKeysService({ store: new SqlApiKeyStore(database.db, database.dialect), cacheTtlMs: 0 });
  const verifier = new JwtVerifier({ jwksUrl: url, issuer: ISSUER, audience: AUDIENCE, jwksCooldownMs: 0, jwksTimeoutMs: 5000 });
  app = await appOver(database, { apiKeys, authenticator: new Authenticator(apiKeys, verifier), scim: new MemoryDirectory() });
});

after(async () => {
  await app.close();
  await testDb.cleanup();
  await new Promise<void>((resolve) => jwks.close(() => resolve()));
});

const token = (scope: string) =>
  new SignJWT({ scope })
    .setProtectedHeader({ alg: 'RS256', kid: 'scim-1', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('okta-provisioning')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);

test('a JWT with scope scim provisions; one without it is 403 as a SCIM error', async () => {
  const allowed = await app.inject({
    method: 'POST',
    url: '/scim/v2/Users',
    headers: { authorization: `Bearer ${await token('openid scim')}`, 'content-type': 'application/scim+json' },
    payload: JSON.stringify({ userName: 'jwt@example.com' }),
  });
  assert.equal(allowed.statusCode, 201, allowed.body);
  const denied = await app.inject({
    method: 'GET',
    url: '/scim/v2/Users',
    headers: { authorization: `Bearer ${await token('users:read')}` },
  });
  assert.equal(denied.statusCode, 403);
  assert.equal(denied.json<{ status: string }>().status, '403');
  assert.match(String(denied.headers['content-type']), /^application\/scim\+json/);
});
