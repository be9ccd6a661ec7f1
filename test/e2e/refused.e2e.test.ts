/**
 * A PostgreSQL database that refuses connections (`ALTER DATABASE … ALLOW_CONNECTIONS false`,
 * what an operator or a managed service does during maintenance): the API answers 503
 * `unavailable` with Retry-After, the CLI says so in one line and exits 75, and once the
 * database accepts connections again the same server answers 2xx, without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { POSTGRES_URL, postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.js';
import { pollFor, runCli, ServerProcess } from '../helpers/server.js';

const skip = await postgresUnavailable();

describe('a PostgreSQL database that refuses connections', { skip }, () => {
  let t: TestDatabase;
  let server: ServerProcess;
  let admin: pg.Client;
  let name: string;
  before(async () => {
    t = await postgresTestDatabase();
    name = new URL(t.url).pathname.slice(1);
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    server = await ServerProcess.start({ databaseUrl: t.url, env: { ROSTER_AUTH_CACHE_TTL_MS: '0' } });
  });
  after(async () => {
    await server?.kill();
    // Only this test's own database; cleanup drops it.
    if (name) await admin?.query(`alter database ${name} allow_connections true`).catch(() => undefined);
    await admin?.end().catch(() => undefined);
    await t?.cleanup();
  });

  /** Refuses new connections to this test's database and ends the ones it has. */
  const refuse = async () => {
    await admin.query(`alter database ${name} allow_connections false`);
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
  };

  it('503 with Retry-After over HTTP and exit 75 with one line from the CLI; 2xx again once it accepts connections', async () => {
    const json = { ...server.auth, 'content-type': 'application/json' };
    const created = await fetch(`${server.url}/v1/users`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email: 'before@example.com', name: 'Before' }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };

    await refuse();
    for (const [method, path, body] of [
      ['GET', `/v1/users/${id}`, undefined],
      ['GET', '/v1/users?limit=5', undefined],
      ['POST', '/v1/users', { email: 'during@example.com', name: 'During' }],
      ['GET', '/v1/events', undefined],
    ] as const) {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: body === undefined ? server.auth : json,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      assert.equal(res.status, 503, `${method} ${path}: ${text}`);
      assert.equal((JSON.parse(text) as { type: string }).type, 'urn:roster:problem:unavailable');
      assert.ok(Number(res.headers.get('retry-after')) > 0, `${method} ${path} has Retry-After`);
    }
    assert.equal((await fetch(`${server.url}/readyz`)).status, 503);

    const cli = await runCli(['keys', 'list'], { ROSTER_DATABASE_URL: t.url });
    assert.equal(cli.code, 75, cli.stderr);
    assert.match(
      cli.stderr,
      /^roster: database postgres:\/\/\S+\nroster: the database is unavailable \(PostgreSQL refused the connection: database "\w+" is not currently accepting connections\); retry later\n$/,
    );

    await admin.query(`alter database ${name} allow_connections true`);
    const res = await pollFor(
      'the API to answer 200 again',
      async () => {
        const r = await fetch(`${server.url}/v1/users/${id}`, { headers: server.auth });
        await r.body?.cancel();
        return r.status === 200 ? r : undefined;
      },
      { ms: 30_000, everyMs: 50 },
    );
    assert.equal(res.status, 200);
    const after = await fetch(`${server.url}/v1/users`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email: 'after@example.com', name: 'After' }),
    });
    assert.equal(after.status, 201);
    assert.equal(server.exit, undefined);
  });
});
