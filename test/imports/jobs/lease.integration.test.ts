/**
 * Import job leases on both dialects: claiming (free, expired, dead holder on this host, held
 * by a live one), renewal and release; a run whose lease is taken over mid-run stops at its
 * next batch with nothing of that batch committed; two concurrent runs of one job (two
 * "processes": services with their own owners) → exactly one runs; and the runner resuming
 * an abandoned upload after a restart while leaving CLI jobs alone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { dialects, type TestDatabase } from '../../helpers/databases.js';
import { pollFor, sleep } from '../../helpers/server.js';
import { generatedFile } from '../generated-users.js';
import { count, importService, runImport, spec } from '../harness.js';
import { ImportLeaseHeldError, LeaseLostError } from '../../../src/imports/errors.js';
import { SqlImportJobStore } from '../../../src/imports/jobs/sql-job-store.js';
import { ImportRunner } from '../../../src/imports/jobs/runner.js';
import type { RunResult } from '../../../src/imports/service.js';
import { isOwnerGoneHere } from '../../../src/kit/lease-owner.js';

const ROWS = 6_000;
let dir: string;
let file: string;
/** A pid that existed on this host and no longer does: a holder killed with -9. */
let deadPid: number;
before(async () => {
  dir = await mkdtemp(join(os.tmpdir(), 'roster-import-lease-'));
  file = join(dir, 'users.csv');
  await pipeline(generatedFile(ROWS, 'csv', 5), createWriteStream(file));
  deadPid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const host = os.hostname();
/** An owner naming a live process on this host (this one), as another service in it would. */
const liveOwner = `${host}:${process.pid}:live0000`;

for (const [name, open, skip] of await dialects()) {
  describe(`import leases on ${name}`, { skip }, () => {
    let t: TestDatabase;
    let store: SqlImportJobStore;
    before(async () => {
      t = await open();
      store = new SqlImportJobStore(t.database.db, t.database.dialect);
    });
    after(async () => {
      await t?.cleanup();
    });
    const reset = async () => {
      for (const table of ['import_row_errors', 'import_jobs', 'events', 'users'] as const) await t.database.db.deleteFrom(table).execute();
    };
    const lease = async (id: string) => {
      const job = await store.get(id);
      return { owner: job?.leaseOwner, until: job?.leaseExpiresAt };
    };
    const setLease = (id: string, owner: string | null, until: Date | null) =>
      t.database.db
        .updateTable('import_jobs')
        .set({ lease_owner: owner, lease_expires_at: until === null ? null : t.database.dialect.toTime(until) })
        .where('id', '=', id)
        .execute();

    it('claims a free lease, renews and releases it; refuses a live holder; takes an expired one', async () => {
      await reset();
      const job = await importService(t.database).create(spec());
      const now = new Date();
      const until = new Date(now.getTime() + 30_000);
      const claimed = await store.claim(job.id, 'me:1:a', now, until);
      assert.equal(claimed?.leaseOwner, 'me:1:a');
      assert.equal(claimed?.leaseExpiresAt?.getTime(), until.getTime());
      assert.equal((await store.claim(job.id, 'me:1:a', now, until))?.leaseOwner, 'me:1:a', 'already mine');
      assert.equal(await store.claim(job.id, 'other:2:b', now, until), undefined, 'held and not expired');
      assert.equal(await store.renew(job.id, 'me:1:a', new Date(now.getTime() + 60_000)), true);
      assert.equal((await lease(job.id)).until?.getTime(), now.getTime() + 60_000);
      assert.equal(await store.renew(job.id, 'other:2:b', until), false, 'only the holder renews');
      const later = new Date(now.getTime() + 61_000);
      assert.equal((await store.claim(job.id, 'other:2:b', later, new Date(later.getTime() + 30_000)))?.leaseOwner, 'other:2:b', 'expired');
      await store.release(job.id, 'me:1:a');
      assert.equal((await lease(job.id)).owner, 'other:2:b', 'a former holder cannot release');
      await store.release(job.id, 'other:2:b');
      assert.deepEqual(await lease(job.id), { owner: undefined, until: undefined });
    });

    it('a run refuses a job held by a live process, and takes over at once from a dead one on this host', async () => {
      await reset();
      const service = importService(t.database);
      const job = await service.create(spec());
      await setLease(job.id, liveOwner, new Date(Date.now() + 60_000));
      await assert.rejects(
        runImport(service, 'email,name\na@example.com,A\n', {}, { job }),
        (error: unknown) =>
          error instanceof ImportLeaseHeldError &&
          error.owner === liveOwner &&
          new RegExp(`import job ${job.id} is being run by ${liveOwner} until \\d{4}-`).test(error.message),
      );
      assert.equal(await count(t.database, 'users'), 0, 'nothing was written');
      assert.equal((await store.get(job.id))?.status, 'pending');

      const dead = `${host}:${deadPid}:dead0000`;
      assert.equal(isOwnerGoneHere(dead), true, `pid ${deadPid} is gone`);
      assert.equal(isOwnerGoneHere(liveOwner), false);
      assert.equal(isOwnerGoneHere(`another-host.invalid:${deadPid}:x`), false, 'other hosts are freed by expiry only');
      await setLease(job.id, dead, new Date(Date.now() + 60_000));
      const { job: done } = await runImport(service, 'email,name\na@example.com,A\n', {}, { job });
      assert.equal(done.status, 'succeeded');
      assert.equal(done.leaseOwner, undefined, 'released at the end');
      assert.equal(await count(t.database, 'users'), 1);
    });

    it('a run whose lease is taken over stops at its next batch: that batch commits nothing, no end is recorded', async () => {
      await reset();
      const service = importService(t.database, { batch: { maxRows: 1000 } });
      const job = await service.create(spec({ source: file }));
      let batches = 0;
      await assert.rejects(
        runImport(
          service,
          { file },
          {},
          {
            job,
            onCommitted: async () => {
              // Another process takes the job over between two batches (its lease had expired).
              if (++batches === 2) await setLease(job.id, 'thief:1:x', new Date(Date.now() + 60_000));
            },
          },
        ),
        LeaseLostError,
      );
      assert.equal(batches, 2, 'the third batch did not commit');
      const after = await store.get(job.id);
      assert.equal(after?.status, 'running', 'not marked finished: the job is the thief’s');
      assert.equal(after?.committedLine, 2001);
      assert.equal(after?.counts.created, 2000);
      assert.equal(after?.leaseOwner, 'thief:1:x');
      assert.equal(await count(t.database, 'users'), 2000);
      assert.equal(await count(t.database, 'events'), 2000);
    });

    it('the heartbeat renews the lease while a run goes on; a renewal that finds it taken stops the run', async () => {
      await reset();
      let renewals = 0;
      const service = importService(t.database, {
        leases: { leaseMs: 300, onRenewError: (error) => assert.fail(error as Error) },
        batch: { maxRows: 500 },
      });
      const job = await service.create(spec({ source: file }));
      const seen = new Set<number>();
      const result = await runImport(
        service,
        { file },
        {},
        {
          job,
          onCommitted: async () => {
            const { until } = await lease(job.id);
            if (until !== undefined) seen.add(until.getTime());
            if (seen.size > renewals) renewals = seen.size;
            await sleep(40);
          },
        },
      );
      assert.equal(result.job.status, 'succeeded');
      assert.ok(renewals >= 3, `the expiry moved ${renewals} times`);
      assert.equal(result.job.leaseOwner, undefined);

      await reset();
      const stolen = await service.create(spec({ source: file }));
      let taken = false;
      await assert.rejects(
        runImport(
          service,
          { file },
          {},
          {
            job: stolen,
            onCommitted: async () => {
              if (!taken) await setLease(stolen.id, 'thief:1:x', new Date(Date.now() + 60_000));
              taken = true;
              // Long enough for a heartbeat (every 100 ms) to find the lease gone.
              await sleep(250);
            },
          },
        ),
        LeaseLostError,
      );
      assert.equal(await count(t.database, 'users'), 500, 'only the batch before the takeover');
    });

    it('two concurrent runs of one job: exactly one runs, every row once', async () => {
      await reset();
      // Two services with owners of their own: two processes on one database.
      const a = importService(t.database, { batch: { maxRows: 1000 } });
      const b = importService(t.database, { batch: { maxRows: 1000 } });
      const job = await a.create(spec({ source: file }));
      const results = await Promise.allSettled([runImport(a, { file }, {}, { job }), runImport(b, { file }, {}, { job })]);
      const won = results.filter((r): r is PromiseFulfilledResult<RunResult> => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(won.length, 1, JSON.stringify(lost.map((r) => String(r.reason))));
      assert.ok(lost[0]!.reason instanceof ImportLeaseHeldError, String(lost[0]!.reason));
      assert.equal(won[0]!.value.job.status, 'succeeded');
      assert.equal(won[0]!.value.job.counts.created, ROWS);
      assert.equal(await count(t.database, 'users'), ROWS);
      assert.equal(await count(t.database, 'events'), ROWS);
      // And within one service, a second run of a job it is running is refused the same way.
      const again = await a.create(spec({ source: file }));
      const first = runImport(a, { file }, {}, { job: again });
      await assert.rejects(runImport(a, { file }, {}, { job: again }), ImportLeaseHeldError);
      assert.equal((await first).job.status, 'succeeded');
    });

    it('after a restart the runner resumes a running upload whose lease expired, and leaves CLI jobs alone', async () => {
      await reset();
      const spoolDir = await mkdtemp(join(dir, 'spool-'));
      const spoolPath = join(spoolDir, 'upload.csv');
      await copyFile(file, spoolPath);
      // The instance that ran it: two batches committed, then it died holding the lease (on another host).
      const before = importService(t.database, { batch: { maxRows: 1000 } });
      const upload = await before.create(spec({ source: 'upload', spoolPath }));
      let batches = 0;
      const crash = new AbortController();
      await runImport(
        before,
        { file: spoolPath },
        {},
        { job: upload, signal: crash.signal, onCommitted: () => void (++batches === 2 && crash.abort()) },
      );
      await t.database.db
        .updateTable('import_jobs')
        .set({ status: 'running', finished_at: null, error: null })
        .where('id', '=', upload.id)
        .execute();
      await setLease(upload.id, 'gone-host:123:x', new Date(Date.now() - 1000));
      // A CLI job left running (no spooled file), and an upload that finished: neither is picked up.
      const cli = await before.create(spec({ source: file }));
      await t.database.db.updateTable('import_jobs').set({ status: 'running' }).where('id', '=', cli.id).execute();
      const done = await before.create(spec({ source: 'upload', spoolPath: join(spoolDir, 'gone.csv') }));
      await t.database.db.updateTable('import_jobs').set({ status: 'succeeded' }).where('id', '=', done.id).execute();
      // A running upload whose live holder still has the lease is not picked up either.
      const heldSpool = join(spoolDir, 'held.csv');
      await copyFile(file, heldSpool);
      const held = await before.create(spec({ source: 'upload', spoolPath: heldSpool }));
      await t.database.db.updateTable('import_jobs').set({ status: 'running' }).where('id', '=', held.id).execute();
      await setLease(held.id, liveOwner, new Date(Date.now() + 60_000));
      assert.equal(await count(t.database, 'users'), 2000);

      const service = importService(t.database, { batch: { maxRows: 1000 } });
      const finished: RunResult[] = [];
      const runner = new ImportRunner({ service, concurrency: 1, queueLimit: 4, onFinished: (r) => finished.push(r) });
      runner.start();
      try {
        await pollFor('the resumed import', () => finished.length > 0, { ms: 60_000 });
        assert.equal(finished.length, 1);
        const job = finished[0]!.job;
        assert.equal(job.id, upload.id);
        assert.equal(job.status, 'succeeded');
        assert.equal(job.counts.created, ROWS, 'the counts of both runs');
        assert.equal(job.counts.read, ROWS);
        assert.equal(await count(t.database, 'users'), ROWS, 'every row exactly once');
        assert.equal(await count(t.database, 'events'), ROWS);
        assert.equal(existsSync(spoolPath), false, 'the spooled file of a job that succeeded is removed');
        assert.equal((await store.get(cli.id))?.status, 'running', 'the CLI job was not touched');
        assert.equal((await store.get(held.id))?.leaseOwner, liveOwner);
        assert.equal(await runner.scan(), 0, 'nothing else to resume');
      } finally {
        await runner.stop();
      }
    });

    it('a shutdown puts a running upload back to pending with its lease released; the next runner finishes it', async () => {
      await reset();
      const spoolPath = join(await mkdtemp(join(dir, 'spool-')), 'upload.csv');
      await copyFile(file, spoolPath);
      const first = importService(t.database, { batch: { maxRows: 500 } });
      const job = await first.create(spec({ source: 'upload', spoolPath }));
      const runner = new ImportRunner({ service: first, concurrency: 1, queueLimit: 4 });
      runner.submit(job);
      await pollFor('a first batch', async () => ((await store.get(job.id))?.committedLine ?? 0) > 0, { ms: 30_000, everyMs: 5 });
      await runner.stop();
      const stopped = await store.get(job.id);
      assert.equal(stopped?.status, 'pending');
      assert.equal(stopped?.leaseOwner, undefined);
      assert.ok(stopped.committedLine > 0 && stopped.committedLine < ROWS + 1, `stopped at line ${stopped?.committedLine}`);

      const finished: RunResult[] = [];
      const next = new ImportRunner({
        service: importService(t.database),
        concurrency: 1,
        queueLimit: 4,
        onFinished: (r) => finished.push(r),
      });
      next.start();
      try {
        await pollFor('the resumed import', () => finished.length > 0, { ms: 60_000 });
        assert.equal(finished[0]!.job.status, 'succeeded');
        assert.equal(finished[0]!.job.counts.created, ROWS);
        assert.equal(await count(t.database, 'users'), ROWS);
      } finally {
        await next.stop();
      }
    });
  });
}
