// The OpenAPI document is the contract. From a real listening app: a TypeScript client generated
// from /openapi.json (openapi-typescript) type-checks test/client/every-operation.ts, which calls
// every operation with openapi-fetch, and those calls then succeed against the server with every
// response matching the document; Redocly (recommended, redocly.yaml) and Spectral (spectral:oas)
// find nothing; /docs is Roster's page over /openapi.json. The other API tests hold every response
// they receive to the same document (test/helpers/contract.ts, installed by test/helpers/app.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import openapiTS, { astToString } from 'openapi-typescript';
import createClient from 'openapi-fetch';
import { lintFromString, loadConfig } from '@redocly/openapi-core';
import spectralCore from '@stoplight/spectral-core';
import spectralRulesets from '@stoplight/spectral-rulesets';
import spectralParsers from '@stoplight/spectral-parsers';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { Contract, type OpenApiDocument } from '../helpers/contract.js';
import { within } from '../helpers/server.js';
import { UserListSchema, UserSchema } from '../../src/http/users.routes.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let t: TestApp;
let origin: string;
let source: string;
let document: OpenApiDocument & Record<string, unknown>;

before(async () => {
  t = await buildTestApp();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  origin = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  const response = await fetch(`${origin}/openapi.json`);
  assert.equal(response.status, 200);
  source = await response.text();
  document = JSON.parse(source) as typeof document;
});
after(async () => t?.close());

type Operation = {
  operationId?: string;
  description?: string;
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, { example?: unknown; examples?: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { example?: unknown; examples?: unknown }> }>;
};
function operations(): [string, Operation][] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => [`${method.toUpperCase()} ${path}`, operation as Operation] as [string, Operation]),
  );
}

/** Runs the project's own tsc on `project`; resolves with its output, rejects when it reports errors. */
function tsc(project: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`tsc exited with ${code}:\n${output}`))));
  });
}

describe('a client generated from the served document', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'roster-client-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('type-checks a call of every operation, and each call works against the server', async () => {
    const types = astToString(await openapiTS(JSON.parse(source) as Parameters<typeof openapiTS>[0]));
    await writeFile(join(dir, 'roster-api.d.ts'), types);
    await writeFile(join(dir, 'every-operation.ts'), await readFile(join(ROOT, 'test/client/every-operation.ts')));
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023',
          lib: ['ES2023', 'DOM'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: true,
          types: [],
          outDir: 'out',
        },
        files: ['every-operation.ts'],
      }),
    );
    await within(180_000, 'tsc on the generated client', tsc(join(dir, 'tsconfig.json')));

    const { EVERY_OPERATION } = (await import(pathToFileURL(join(dir, 'out/every-operation.js')).href)) as {
      EVERY_OPERATION: Record<string, (client: unknown, state: object) => Promise<void>>;
    };
    const ids = operations().map(([, o]) => o.operationId);
    assert.deepEqual(Object.keys(EVERY_OPERATION).sort(), [...ids].sort());

    // Every answer the client gets is held to the document too.
    const contract = new Contract(document);
    const seen: string[] = [];
    const checkedFetch = async (request: Request): Promise<Response> => {
      const response = await fetch(request);
      const body = await response.clone().text();
      const url = new URL(request.url);
      seen.push(
        ...contract.violations({
          method: request.method,
          url: url.pathname + url.search,
          status: response.status,
          header: (name) => response.headers.get(name) ?? undefined,
          body,
        }),
      );
      return response;
    };
    const client = createClient({ baseUrl: origin, headers: { authorization: `Bearer ${t.auth.adminKey}` }, fetch: checkedFetch });
    const state = {};
    for (const [id, step] of Object.entries(EVERY_OPERATION)) {
      await within(30_000, id, step(client, state));
    }
    assert.deepEqual(seen, []);
  });
});

describe('the document', () => {
  test('Redocly (recommended, redocly.yaml) reports nothing', async () => {
    const config = await loadConfig({ configPath: join(ROOT, 'redocly.yaml') });
    const problems = await lintFromString({ source, absoluteRef: join(ROOT, 'openapi.json'), config });
    const report = problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? ''}`);
    assert.deepEqual(report, []);
  });

  test('Spectral (spectral:oas) reports no error, and no warning but the scopes of the bearer scheme', async () => {
    const spectral = new spectralCore.Spectral();
    spectral.setRuleset({ extends: [spectralRulesets.oas as never] });
    const results = await spectral.run(new spectralCore.Document(source, spectralParsers.Json));
    const report = results.map((r) => `${r.severity} ${String(r.code)}: ${r.message} at ${r.path.join('.')}`);
    assert.deepEqual(
      report.filter((r) => r.startsWith('0 ')),
      [],
    );
    // OpenAPI 3.1 lets a non-OAuth scheme's requirement list the roles (here: scopes) it needs;
    // Spectral only knows scopes from OAuth flows, which a bearer API key has none of.
    assert.deepEqual(
      report.filter((r) => !r.startsWith('1 oas3-operation-security-defined:')),
      [],
    );
  });

  test('names its schemas, its operations and the scope each operation requires', () => {
    const schemas = Object.keys(document.components?.schemas ?? {});
    for (const name of ['User', 'UserList', 'Problem', 'ApiKey', 'Event', 'WebhookEndpoint', 'DeliveryAttempt', 'ImportJob']) {
      assert.ok(schemas.includes(name), `components.schemas.${name}`);
    }
    const byRoute = new Map(t.app.routeTable.map((r) => [`${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`, r.access]));
    for (const [name, operation] of operations()) {
      assert.match(operation.operationId ?? '', /^[a-z][A-Za-z]+$/, name);
      const access = byRoute.get(name);
      assert.ok(access !== undefined, `${name} is a route`);
      assert.deepEqual(operation.security, access === 'public' ? [] : [{ bearer: [access] }], name);
    }
    const servers = document.servers as unknown[];
    assert.ok(servers.length > 0);
  });

  test('gives every request body and response an example, and every response a description', () => {
    const missing: string[] = [];
    for (const [name, operation] of operations()) {
      for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) {
        if (media.example === undefined && media.examples === undefined) missing.push(`${name} request ${type}`);
      }
      for (const [status, response] of Object.entries(operation.responses)) {
        if (response.description === 'Default Response') missing.push(`${name} ${status} description`);
        for (const [type, media] of Object.entries(response.content ?? {})) {
          if (media.example === undefined && media.examples === undefined) missing.push(`${name} ${status} ${type}`);
        }
      }
    }
    assert.deepEqual(missing, []);
  });

  test('declares problems as application/problem+json', () => {
    for (const [name, operation] of operations()) {
      for (const range of ['4XX', '5XX']) {
        assert.deepEqual(Object.keys(operation.responses[range]?.content ?? {}), ['application/problem+json'], `${name} ${range}`);
      }
    }
  });
});

describe('/docs', () => {
  test('is Roster’s page, reading /openapi.json', async () => {
    const page = await fetch(`${origin}/docs`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Roster API<\/title>/);
    const initializer = await (await fetch(`${origin}/docs/static/swagger-initializer.js`)).text();
    assert.match(initializer, /"url":"\/openapi\.json"/);
    const copy = await fetch(`${origin}/docs/json`, { redirect: 'manual' });
    assert.equal(copy.status, 308);
    assert.equal(copy.headers.get('location'), '/openapi.json');
  });
});

describe('users on the wire', () => {
  // Written by users/document.ts rather than the route's compiled serializer (which would parse
  // and write a stored user's attributes again): the same fields as the User schema, in its order.
  test("GET by id, a page and a create carry exactly the User schema's fields, in its order, as JSON", async () => {
    const local = await buildTestApp();
    try {
      const fields = Object.keys(UserSchema.schema.properties);
      const { user } = await local.users.create({ email: 'serialized@example.com', name: 'Serialized', attributes: { a: [1] } }, undefined);
      const one = await local.app.inject({ method: 'GET', url: `/v1/users/${user.id}` });
      const page = await local.app.inject({ method: 'GET', url: '/v1/users?limit=1' });
      for (const res of [one, page]) {
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
      }
      assert.deepEqual(Object.keys(one.json<object>()), fields);
      assert.deepEqual(Object.keys(page.json<{ data: object[] }>().data[0]!), fields);
      assert.deepEqual(Object.keys(page.json<object>()), Object.keys(UserListSchema.schema.properties));
      assert.deepEqual(one.json<{ attributes: unknown }>().attributes, { a: [1] });
    } finally {
      await local.close();
    }
  });
});
