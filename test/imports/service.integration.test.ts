/**
 * The import's back half on both dialects: one transaction per batch (users, events, row
 * errors, progress), create and upsert modes, per-user or summary events, dry runs, resume
 * after a cancel, and a PostgreSQL connection killed mid-batch.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { generatedFile } from './generated-users.js';
import { count, importService, runImport, users } from './harness.js';
import { ROW_ERROR_REASONS, type BatchWriter } from '../../src/imports/write/writer.js';
import { batchWriterFor, importFrontHalf } from '../../src/compose/imports.js';
import { PostgresBatchWriter } from '../../src/imports/write/postgres-writer.js';
import { PostgresUserBatchWriter } from '../../src/users/postgres-batch-writer.js';
import { newUuidV7 } from '../../src/kit/uuid.js';
import { importMetrics } from '../../src/imports/metrics.js';
import { Registry } from 'prom-client';

const GENERATED_ROWS = 12_000;
let dir: string;
let bigFile: string;
before(async () => {
  dir = await mkdtemp(join(os.tmpdir(), 'roster-import-svc-'));
  bigFile = join(dir, 'users.csv');
  await pipeline(generatedFile(GENERATED_ROWS, 'csv'), createWriteStream(bigFile));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

for (const [name, open, skip] of await dialects()) {
  describe(`import service on ${name}`, { skip }, () => {
    let t: TestDatabase;
    before(async () => {
      t = await open();
    });
    after(async () => {
      await t?.cleanup();
    });
    const reset = async () => {
      for (const table of ['import_row_errors', 'import_jobs', 'events', 'users'] as const) await t.database.db.deleteFrom(table).execute();
    };

    // ROSTER_IMPORT_SQLITE_WORKER: on SQLite the rows then come from a worker thread, encoded (users/sqlite-batch-rows.ts).
    for (const [how, options] of [
      ['', {}],
      [', the file read in a worker thread', { frontHalf: importFrontHalf }],
    ] as const)
      it(`create mode writes users with their events and reports bad rows, taken emails and taken ids${how}`, async () => {
        await reset();
        const service = importService(t.database, options);
        await runImport(service, 'email,name\nold@example.com,Old\n');
        const [old] = await users(t.database);
        const text = [
          'id,email,name,attributes',
          `,ada@example.com,Ada,"{""team"":""eng""}"`,
          ',not-an-email,Bad,',
          ',OLD@example.com,Taken,',
          `${old!.id},new@example.com,Same id,`,
          ',ADA@EXAMPLE.COM,Repeat,',
          ',grace@example.com,Grace,',
        ].join('\n');
        const { job } = await runImport(service, text);
        assert.equal(job.status, 'succeeded');
        assert.deepEqual(job.counts, { read: 6, created: 2, updated: 0, skipped: 0, failed: 4 });
        assert.equal(job.committedLine, 7);
        assert.equal(await count(t.database, 'users'), 3);
        assert.equal(await count(t.database, 'events', sql`type = 'user.created'`), 3);
        const errors = [];
        for await (const e of service.rowErrors(job.id)) errors.push(e);
        assert.deepEqual(
          errors.map((e) => [e.line, e.field]),
          [
            [3, 'email'],
            [4, 'email'],
            [5, 'id'],
            [6, 'email'],
          ],
        );
        assert.match(errors[1]!.reason, new RegExp(`already exists \\(${old!.id}\\)`));
        const ada = (await users(t.database)).find((u) => u.email === 'ada@example.com');
        assert.deepEqual(ada?.attributes, { team: 'eng' });
      });

    it('create mode: a row carrying an existing user id and email is refused, not counted as created', async () => {
      // The PostgreSQL writer tells the rows its insert wrote from those an existing user holds
      // by more than id and email (NOT_INSERTED): this row matches an existing user on both.
      await reset();
      const service = importService(t.database);
      await runImport(service, 'email,name\nold@example.com,Old\n');
      const [old] = await users(t.database);
      const { job } = await runImport(service, `id,email,name\n${old!.id},old@example.com,Old again\n,new@example.com,New\n`);
      assert.deepEqual(job.counts, { read: 2, created: 1, updated: 0, skipped: 0, failed: 1 });
      assert.equal(await count(t.database, 'events', sql`type = 'user.created'`), 2);
      const errors = [];
      for await (const e of service.rowErrors(job.id)) errors.push(e);
      assert.deepEqual(
        errors.map((e) => [e.line, e.field]),
        [[2, 'email']],
      );
      assert.equal((await users(t.database)).find((u) => u.id === old!.id)?.name, 'Old');
    });

    it('upsert mode updates changed users (version and event), skips unchanged ones, creates new ones', async () => {
      await reset();
      const service = importService(t.database);
      await runImport(service, 'email,name,attributes\nada@example.com,Ada,{}\ngrace@example.com,Grace,"{""a"":1}"\n');
      const { job } = await runImport(
        service,
        'email,name,attributes\nADA@example.com,Ada Lovelace,{}\ngrace@example.com,Grace,"{""a"":1}"\nalan@example.com,Alan,{}\n',
        { mode: 'upsert' },
      );
      assert.deepEqual(job.counts, { read: 3, created: 1, updated: 1, skipped: 1, failed: 0 });
      const after = await users(t.database);
      const ada = after.find((u) => u.email === 'ADA@example.com');
      assert.equal(ada?.name, 'Ada Lovelace');
      assert.equal(ada?.version, 2);
      assert.equal(after.find((u) => u.email === 'grace@example.com')?.version, 1);
      const updated = await t.database.db.selectFrom('events').select(['subject_id', 'data']).where('type', '=', 'user.updated').execute();
      assert.equal(updated.length, 1);
      const data = t.database.dialect.fromJson(updated[0]!.data) as {
        changed: string[];
        previous: Record<string, unknown>;
        user: { version: number };
      };
      assert.equal(updated[0]!.subject_id, ada.id);
      assert.deepEqual([...data.changed].sort(), ['email', 'name']);
      assert.deepEqual(data.previous, { email: 'ada@example.com', name: 'Ada' });
      assert.equal(data.user.version, 2);
    });

    for (const maxRows of [1, 10]) {
      it(`upsert past the exact dedupe tier: a repeat of an email whose first row changed nothing is a duplicate, not an update (${maxRows === 1 ? 'across batches' : 'in one batch'})`, async () => {
        await reset();
        // Two emails remembered exactly; everything after them only in the filter, so the repeat
        // on line 5 reaches the writer as "maybe a duplicate" and the database must settle it.
        const service = importService(t.database, { batch: { maxRows }, dedupe: { exactLimit: 2, filterBits: 1024 } });
        await runImport(service, 'email,name\ncarol@example.com,Carol\n');
        const { job } = await runImport(
          service,
          'email,name\nada@example.com,Ada\ngrace@example.com,Grace\ncarol@example.com,Carol\nCAROL@example.com,Caroline\n',
          { mode: 'upsert' },
        );
        assert.deepEqual(job.counts, { read: 4, created: 2, updated: 0, skipped: 1, failed: 1 });
        const errors = [];
        for await (const e of service.rowErrors(job.id)) errors.push(e);
        assert.deepEqual(
          errors.map((e) => [e.line, e.field, e.reason]),
          [[5, 'email', ROW_ERROR_REASONS.duplicateInFile]],
        );
        const carol = (await users(t.database)).find((u) => u.email === 'carol@example.com');
        assert.equal(carol?.name, 'Carol', 'the repeat did not update the user');
        assert.equal(carol?.version, 1, 'marking the unchanged user with the job moved neither its version…');
        assert.equal(await count(t.database, 'events', sql`type = 'user.updated'`), 0, '…nor wrote an event');
      });
    }

    it('moves the import metrics: rows by outcome, batch durations, jobs running back to 0', async () => {
      await reset();
      const registry = new Registry();
      const metrics = importMetrics(registry);
      const service = importService(t.database, { metrics, batch: { maxRows: 2 } });
      await runImport(service, 'email,name\na@example.com,A\nbad,B\nc@example.com,C\n');
      const text = await registry.metrics();
      assert.match(text, /roster_import_rows_total\{outcome="created"\} 2/);
      assert.match(text, /roster_import_rows_total\{outcome="failed"\} 1/);
      assert.match(text, /roster_import_batch_duration_seconds_count 2/);
      assert.match(text, /roster_import_jobs_running 0/);
    });

    it('summary events: one users.imported event per run and no per-user events', async () => {
      await reset();
      const service = importService(t.database);
      const { job } = await runImport(service, 'email,name\na@example.com,A\nb@example.com,B\n', { events: 'summary' });
      assert.equal(await count(t.database, 'users'), 2);
      assert.equal(await count(t.database, 'events'), 1);
      const event = await t.database.db.selectFrom('events').select(['type', 'subject_id', 'data']).executeTakeFirstOrThrow();
      assert.equal(event.type, 'users.imported');
      assert.equal(event.subject_id, job.id);
      assert.deepEqual(t.database.dialect.fromJson(event.data), {
        import_id: job.id,
        status: 'succeeded',
        mode: 'create',
        created: 2,
        updated: 0,
      });
    });

    it('a dry run validates everything, stores the row errors and writes no user or event', async () => {
      await reset();
      const service = importService(t.database);
      const { job } = await runImport(service, 'email,name\na@example.com,A\nbad,B\n', { dryRun: true });
      assert.deepEqual(job.counts, { read: 2, created: 0, updated: 0, skipped: 1, failed: 1 });
      assert.equal(await count(t.database, 'users'), 0);
      assert.equal(await count(t.database, 'events'), 0);
      assert.equal(await count(t.database, 'import_row_errors'), 1);
    });

    it('a whole-file error fails the job before any row is written', async () => {
      await reset();
      const { job } = await runImport(importService(t.database), 'mail,name\na@example.com,A\n');
      assert.equal(job.status, 'failed');
      assert.match(job.error ?? '', /mail/);
      assert.equal(await count(t.database, 'users'), 0);
    });

    it('a cancelled run keeps whole batches only, and resuming it imports the rest: none lost, none duplicated', async () => {
      await reset();
      const service = importService(t.database, { batch: { maxRows: 1000 } });
      const cancel = new AbortController();
      let batches = 0;
      const first = await runImport(
        service,
        { file: bigFile },
        {},
        {
          signal: cancel.signal,
          onCommitted: () => {
            if (++batches === 3) cancel.abort(new Error('test cancel'));
          },
        },
      );
      assert.equal(first.job.status, 'cancelled');
      assert.equal(first.job.committedLine, 3001);
      assert.equal(await count(t.database, 'users'), 3000);
      const second = await runImport(service, { file: bigFile }, {}, { job: first.job });
      assert.equal(second.job.status, 'succeeded');
      assert.equal(second.job.counts.created, GENERATED_ROWS);
      assert.equal(second.job.counts.read, GENERATED_ROWS);
      assert.equal(await count(t.database, 'users'), GENERATED_ROWS);
      assert.equal(await count(t.database, 'events'), GENERATED_ROWS);
      // Running it once more changes nothing: every line is behind the resume point.
      const third = await runImport(service, { file: bigFile }, {}, { job: second.job });
      assert.equal(third.job.counts.created, GENERATED_ROWS);
      assert.equal(await count(t.database, 'users'), GENERATED_ROWS);
    });

    it('a failed batch is retried whole when the error is transient', async () => {
      await reset();
      let failures = 0;
      const real = batchWriterFor(t.database);
      const service = importService(t.database, {
        batch: { maxRows: 2 },
        writerFor: (job) => {
          const writer = real(job);
          const flaky: BatchWriter = {
            overlapsReading: writer.overlapsReading,
            async write(batch, signal) {
              if (batch.firstLine === 4 && failures++ < 2) throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
              return writer.write(batch, signal);
            },
            close: () => writer.close(),
          };
          return flaky;
        },
        isTransient: (error) => (error as { code?: string }).code === 'SQLITE_BUSY',
      });
      const { job } = await runImport(service, 'email,name\na@example.com,A\nb@example.com,B\nc@example.com,C\nd@example.com,D\n');
      assert.equal(job.status, 'succeeded');
      assert.equal(failures, 3);
      assert.equal(await count(t.database, 'users'), 4);
    });

    for (const overlapsReading of [false, true]) {
      it(`a permanent failure fails the job with that error, after the batches before it (${overlapsReading ? 'reading ahead' : 'one batch at a time'})`, async () => {
        await reset();
        const real = batchWriterFor(t.database);
        let started = 0;
        const service = importService(t.database, {
          batch: { maxRows: 2 },
          writerFor: (job) => {
            const writer = real(job);
            return {
              overlapsReading,
              async write(batch, signal) {
                started++;
                if (batch.firstLine === 6) throw new Error('disk full (injected)');
                return writer.write(batch, signal);
              },
              close: () => writer.close(),
            };
          },
        });
        const file = 'email,name\n' + Array.from({ length: 12 }, (_, i) => `u${i}@example.com,U${i}\n`).join('');
        const { job } = await runImport(service, file);
        assert.equal(job.status, 'failed');
        assert.match(job.error ?? '', /^disk full \(injected\)/);
        assert.equal(job.committedLine, 5, 'the two batches before the failing one committed');
        assert.equal(await count(t.database, 'users'), 4);
        assert.equal(started, 3, 'no batch is written after the failing one');
      });
    }

    if (name === 'postgres') {
      it('a connection killed mid-batch: the batch is retried whole on a new connection, never half-written', async () => {
        await reset();
        const admin = new pg.Client({ connectionString: t.url });
        await admin.connect();
        let retries = 0;
        let killed = 0;
        if (t.database.driver.kind !== 'postgres') throw new Error('a PostgreSQL database was expected');
        const pool = t.database.driver.pool;
        let inserts = 0;
        // The writer's pooled connection, with its backend terminated from another session
        // right before the second batch's insert: after BEGIN and the COPY, before COMMIT.
        const faultyPool = {
          async connect() {
            const client = await pool.connect();
            const query = client.query.bind(client) as (...args: unknown[]) => unknown;
            // Synchronous for everything else: COPY hands back its stream, not a promise.
            (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
              if (typeof args[0] === 'string' && args[0].trimStart().startsWith('with inserted') && ++inserts === 2) {
                const pid = (client as unknown as { processID: number }).processID;
                return admin.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [pid]).then(async ({ rows }) => {
                  if (rows[0]!.ok) killed++;
                  // Let the termination reach the socket before the statement is sent.
                  await new Promise((resolve) => setTimeout(resolve, 50));
                  return query(...args);
                });
              }
              return query(...args);
            };
            return client;
          },
        } as unknown as pg.Pool;
        const service = importService(t.database, {
          batch: { maxRows: 3000 },
          onRetry: () => retries++,
          writerFor: (job) =>
            new PostgresBatchWriter({ job, users: (run) => new PostgresUserBatchWriter({ pool: faultyPool, run, newId: newUuidV7 }) }),
        });
        try {
          const { job } = await runImport(service, { file: bigFile });
          assert.ok(killed >= 1, 'the writer connection was terminated');
          assert.ok(retries >= 1, `the batch was retried (${job.status}: ${job.error ?? ''})`);
          assert.equal(job.status, 'succeeded');
          assert.equal(await count(t.database, 'users'), GENERATED_ROWS);
          assert.equal(await count(t.database, 'events'), GENERATED_ROWS);
        } finally {
          await admin.end();
        }
      });
    }
  });
}
