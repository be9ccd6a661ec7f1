/**
 * A PostgreSQL failover under load: every backend of the instance's database is terminated
 * (what a restart, a managed database's failover or a pooler recycling connections does) five
 * times while 8 clients read and write, the webhook dispatcher delivers and an import runs.
 * The process must stay up, every answer must be 2xx, 503 or 504, the pools must recover
 * without a restart, and every acknowledged write must be there with its event.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import pg from 'pg';
import { POSTGRES_URL, postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.js';
import { pollFor, ServerProcess } from '../helpers/server.js';
import { generatedFile } from '../imports/generated-users.js';
import { startSink, type Sink } from '../webhooks/sink.js';

const CLIENTS = 8;
const KILLS = 5;
/** Each client stops after this many requests, whatever happens: the test is count-bounded. */
const MAX_REQUESTS_PER_CLIENT = 600;
const IMPORT_ROWS = 40_000;

const skip = await postgresUnavailable();

describe('PostgreSQL failover under mixed load', { skip }, () => {
  let t: TestDatabase;
  let server: ServerProcess;
  let sink: Sink;
  let admin: pg.Client;
  let spool: string;
  before(async () => {
    t = await postgresTestDatabase();
    spool = await mkdtemp(join(os.tmpdir(), 'roster-failover-'));
    sink = await startSink((_req, res) => res.writeHead(204).end());
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    server = await ServerProcess.start({
      databaseUrl: t.url,
      env: {
        ROSTER_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        ROSTER_WEBHOOK_POLL_INTERVAL_MS: '20',
        ROSTER_IMPORT_DIR: spool,
        // Short leases: a run whose lease renewal or end was lost to the outage resumes soon.
        ROSTER_IMPORT_LEASE_MS: '3000',
        ROSTER_WEBHOOK_LEASE_MS: '3000',
      },
    });
  });
  after(async () => {
    await server?.kill();
    await sink?.close();
    await admin?.end().catch(() => undefined);
    await t?.cleanup();
    if (spool) await rm(spool, { recursive: true, force: true });
  });

  /** Terminates every backend connected to this test's own database (never another's). */
  const terminateAll = async (): Promise<number> => {
    const { rowCount } = await admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [new URL(t.url).pathname.slice(1)],
    );
    return rowCount ?? 0;
  };

  it('stays up, answers only 2xx/503/504, and keeps every acknowledged write with its event', async (ctx) => {
    const auth = server.auth;
    const json = { ...auth, 'content-type': 'application/json' };
    const endpoint = await fetch(`${server.url}/v1/webhook-endpoints`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ url: sink.url() }),
    });
    assert.equal(endpoint.status, 201, await endpoint.clone().text());
    const upload = await fetch(`${server.url}/v1/imports`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'text/csv' },
      body: await buffer(generatedFile(IMPORT_ROWS, 'csv', 12)),
    });
    assert.equal(upload.status, 202, await upload.clone().text());
    const importId = ((await upload.json()) as { id: string }).id;

    const statuses = new Map<number, number>();
    const unexpected: string[] = [];
    const acknowledged: string[] = [];
    let answered = 0;
    let stop = false;
    const clients = Array.from({ length: CLIENTS }, async (_, c) => {
      const mine: string[] = [];
      for (let i = 0; i < MAX_REQUESTS_PER_CLIENT && !stop; i++) {
        const write = i % 2 === 0 || mine.length === 0;
        let res: Response;
        let body: string;
        try {
          res = write
            ? await fetch(`${server.url}/v1/users`, {
                method: 'POST',
                headers: json,
                body: JSON.stringify({ email: `failover-${c}-${i}@example.com`, name: `Failover ${c} ${i}` }),
              })
            : await fetch(`${server.url}/v1/users/${mine[i % mine.length]}`, { headers: auth });
          body = await res.text();
        } catch (error) {
          unexpected.push(`no answer: ${String((error as Error).cause ?? error)}`);
          return; // the server is gone
        }
        answered++;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (!(res.status < 300 || res.status === 503 || res.status === 504)) unexpected.push(`${res.status} ${body}`);
        if (res.status === 503) assert.ok(res.headers.get('retry-after'), `a 503 says when to retry: ${body}`);
        if (write && res.status === 201) {
          const id = (JSON.parse(body) as { id: string }).id;
          mine.push(id);
          acknowledged.push(id);
        }
      }
    });

    try {
      // The first termination hits the import mid-run.
      await pollFor(
        'the import to commit a first batch',
        async () => {
          const res = await fetch(`${server.url}/v1/imports/${importId}`, { headers: auth });
          const job = (await res.json()) as { committed_line?: number; status?: string };
          return (job.committed_line ?? 0) > 0 || job.status === 'succeeded';
        },
        { ms: 60_000, everyMs: 20 },
      );
      for (let kill = 0; kill < KILLS; kill++) {
        const before = answered;
        await pollFor('requests between terminations', () => answered >= before + 10 || server.exit !== undefined, {
          ms: 60_000,
          everyMs: 10,
        });
        if (server.exit !== undefined) break;
        await terminateAll();
      }
      // The pools recover without a restart: fresh successes after the last termination.
      const okBefore = acknowledged.length;
      await pollFor(
        'writes to succeed again after the last termination',
        () => acknowledged.length >= okBefore + 10 || server.exit !== undefined,
        {
          ms: 60_000,
          everyMs: 10,
        },
      );
    } finally {
      stop = true;
      await Promise.all(clients);
    }

    const died = server.logs.find((l) => l.level === 'fatal');
    assert.equal(server.exit, undefined, `the server died: ${JSON.stringify(died)}\n${server.stderr}`);
    assert.ok(!server.logs.some((l) => /uncaught exception|unhandled promise rejection/.test(l.msg ?? '')), server.logText().slice(-4000));
    assert.deepEqual(unexpected, [], `answers other than 2xx/503/504: ${JSON.stringify([...statuses])}`);
    assert.ok(acknowledged.length > 0);
    ctx.diagnostic(`answers by status: ${JSON.stringify(Object.fromEntries(statuses))}`);

    // Every acknowledged write is there, with its event.
    const ids = [...acknowledged];
    const users = await t.database.db.selectFrom('users').select('id').where('id', 'in', ids).execute();
    assert.equal(users.length, ids.length, 'every 201 is a stored user');
    const events = await t.database.db
      .selectFrom('events')
      .select('subject_id')
      .where('type', '=', 'user.created')
      .where('subject_id', 'in', ids)
      .execute();
    assert.deepEqual(new Set(events.map((e) => e.subject_id)), new Set(ids), 'every 201 has its user.created event');

    // The background loops resumed: the import ends, and the dispatcher delivers new events.
    const job = await pollFor(
      'the import to finish',
      async () => {
        const res = await fetch(`${server.url}/v1/imports/${importId}`, { headers: auth });
        const body = (await res.json()) as { status: string; error: string | null };
        return ['succeeded', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
      },
      { ms: 120_000, everyMs: 100 },
    );
    assert.equal(job.status, 'succeeded', `import ended ${job.status}: ${job.error}`);
    const deliveredBefore = sink.requests.length;
    const probe = await fetch(`${server.url}/v1/users`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email: 'failover-after@example.com', name: 'After' }),
    });
    assert.equal(probe.status, 201);
    await pollFor('the dispatcher to deliver after the outage', () => sink.requests.length > deliveredBefore, { ms: 60_000 });
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  });
});
