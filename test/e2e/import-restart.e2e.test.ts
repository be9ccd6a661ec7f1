/**
 * Uploaded imports survive the server dying: `kill -9` mid-import, start it again, and the job
 * finishes by itself with every row exactly once (SQLite and PostgreSQL). And the lease keeps
 * one job to one process: `roster import --resume JOB` while the server runs that job is
 * refused with a clear message and exit 75, and the server's run is unharmed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { pollFor, runCli, ServerProcess } from '../helpers/server.js';
import { generatedFile } from '../imports/generated-users.js';
import { count } from '../imports/harness.js';

const ROWS = 120_000;
let dir: string;
let file: Buffer;
before(async () => {
  dir = await mkdtemp(join(os.tmpdir(), 'roster-import-restart-'));
  file = await buffer(generatedFile(ROWS, 'csv', 21));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface JobJson {
  id: string;
  status: string;
  counts: { read: number; created: number; failed: number };
  committed_line: number;
  error: string | null;
}

for (const [name, open, skip] of await dialects()) {
  describe(`uploaded imports across a server crash on ${name}`, { skip }, () => {
    let t: TestDatabase;
    let env: Record<string, string>;
    const servers: ServerProcess[] = [];
    let auth: { authorization: string };
    before(async () => {
      t = await open();
      env = { ROSTER_IMPORT_DIR: await mkdtemp(join(dir, `spool-${name}-`)) };
    });
    after(async () => {
      for (const server of servers) await server.kill();
      await t?.cleanup();
    });
    const start = async () => {
      const server = await ServerProcess.start({
        databaseUrl: t.url,
        env: servers.length === 0 ? env : { ...env, ROSTER_BOOTSTRAP_KEY: 'off' },
      });
      if (servers.length === 0) auth = server.auth;
      servers.push(server);
      return server;
    };
    const upload = async (server: ServerProcess): Promise<string> => {
      const res = await fetch(`${server.url}/v1/imports`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'text/csv' },
        body: file,
      });
      const body = await res.text();
      assert.equal(res.status, 202, body);
      return (JSON.parse(body) as JobJson).id;
    };
    const jobRow = (id: string) =>
      t.database.db
        .selectFrom('import_jobs')
        .select(['status', 'committed_line', 'spool_path', 'lease_owner'])
        .where('id', '=', id)
        .executeTakeFirst();
    const committed = (id: string) =>
      pollFor(
        'a first committed batch',
        async () => {
          const row = await jobRow(id).catch(() => undefined);
          return row !== undefined && row.committed_line > 0 ? row : undefined;
        },
        { ms: 60_000, everyMs: 10 },
      );
    const finished = (server: ServerProcess, id: string) =>
      pollFor(
        `import ${id} to finish`,
        async () => {
          const res = await fetch(`${server.url}/v1/imports/${id}`, { headers: auth });
          const job = (await res.json()) as JobJson;
          return ['succeeded', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
        },
        { ms: 180_000, everyMs: 100 },
      );
    const reset = async () => {
      for (const table of ['import_row_errors', 'import_jobs', 'events', 'users'] as const) await t.database.db.deleteFrom(table).execute();
    };

    it('kill -9 mid-import, start again: the job finishes by itself, every row exactly once', async () => {
      const first = await start();
      const id = await upload(first);
      await committed(id);
      await first.kill();
      const before = await count(t.database, 'users');
      assert.ok(before > 0 && before < ROWS, `killed mid-import (${before} rows in)`);
      assert.equal((await jobRow(id))?.status, 'running', 'left running, its lease held by a dead process');

      const second = await start();
      await second.waitForLog((l) => l.msg === 'resuming an abandoned import' && l.import_id === id, 'the resume log line');
      const job = await finished(second, id);
      assert.equal(job.status, 'succeeded', job.error ?? '');
      assert.equal(job.counts.created, ROWS);
      assert.equal(job.counts.read, ROWS);
      assert.equal(await count(t.database, 'users'), ROWS);
      assert.equal(await count(t.database, 'events'), ROWS);
      assert.equal((await jobRow(id))?.lease_owner, null, 'released at the end');
    });

    it('roster import --resume of a job the server is running is refused (exit 75); the server finishes it alone', async () => {
      await reset();
      const server = servers.at(-1)!;
      const id = await upload(server);
      const row = await committed(id);
      // Freeze the server while it holds the lease (alive, not expired), so the CLI surely meets it.
      server.signal('SIGSTOP');
      let cli;
      try {
        cli = await runCli(['import', row.spool_path!, '--resume', id], { ROSTER_DATABASE_URL: t.url, ROSTER_MIGRATE_ON_START: 'false' });
      } finally {
        server.signal('SIGCONT');
      }
      assert.equal(cli.code, 75, cli.stderr);
      assert.match(cli.stderr, new RegExp(`import job ${id} is being run by ${os.hostname()}:${server.child.pid}:\\w+ until \\d{4}-`));
      assert.match(cli.stderr, /retry once it has stopped/);
      const job = await finished(server, id);
      assert.equal(job.status, 'succeeded', job.error ?? '');
      assert.equal(job.counts.created, ROWS);
      assert.equal(await count(t.database, 'users'), ROWS, 'none duplicated, none lost');
      await assert.rejects(readFile(row.spool_path!), 'the spooled file is removed once it succeeded');
    });
  });
}
