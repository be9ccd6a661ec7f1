/**
 * `roster import` and `roster export` as a user runs them: counts and row errors, a dry run,
 * usage errors, Ctrl-C and resume, and `kill -9` mid-import then resume (none lost, none
 * duplicated) on SQLite and PostgreSQL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { CLI_PATH, pollFor, runCli, within } from '../helpers/server.js';
import { generatedFile } from '../imports/generated-users.js';
import { count } from '../imports/harness.js';

const ROWS = 100_000;
let dir: string;
let bigFile: string;
before(async () => {
  dir = await mkdtemp(join(os.tmpdir(), 'roster-import-e2e-'));
  bigFile = join(dir, 'users.csv');
  await pipeline(generatedFile(ROWS, 'csv', 11), createWriteStream(bigFile));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface JobLine {
  id: string;
  status: string;
  counts: { read: number; created: number; updated: number; skipped: number; failed: number };
  committed_line: number;
}

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as JobLine;

/** Starts `roster import` as a child; resolves once a batch has committed, with the child and its job id. */
async function importUntilFirstCommit(t: TestDatabase, env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI_PATH, 'import', bigFile], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const job = await pollFor(
    'a first committed batch',
    () =>
      t.database.db
        .selectFrom('import_jobs')
        .select(['id', 'committed_line'])
        .where('committed_line', '>', 0)
        .executeTakeFirst()
        .catch(() => undefined),
    { ms: 60_000, everyMs: 10 },
  );
  return { child, job, exited, stderr: () => stderr };
}

for (const [name, open, skip] of await dialects()) {
  describe(`roster import on ${name}`, { skip }, () => {
    let t: TestDatabase;
    let env: Record<string, string>;
    before(async () => {
      t = await open();
      env = { ROSTER_DATABASE_URL: t.url, ROSTER_BOOTSTRAP_KEY: 'off', LOG_LEVEL: 'silent' };
    });
    after(async () => {
      await t?.cleanup();
    });
    const reset = async () => {
      for (const table of ['import_row_errors', 'import_jobs', 'events', 'users'] as const) await t.database.db.deleteFrom(table).execute();
    };

    it('imports with row errors counted and written to --errors, exit 0; then exports what it imported', async () => {
      await reset();
      const file = join(dir, 'small.csv');
      const errors = join(dir, 'errors.csv');
      await writeFile(
        file,
        'email,name,attributes\nada@example.com,Ada,{}\nnope,Bad,{}\ngrace@example.com,=Grace,"{""x"":1}"\nADA@example.com,Again,{}\n',
      );
      const result = await runCli(['import', file, '--errors', errors], env);
      assert.equal(result.code, 0, result.stderr);
      const job = lastJson(result.stdout);
      assert.equal(job.status, 'succeeded');
      assert.deepEqual(job.counts, { read: 4, created: 2, updated: 0, skipped: 0, failed: 2 });
      const report = await readFile(errors, 'utf8');
      assert.match(report, /^line,field,reason\r\n3,email,/);
      assert.match(report, /\r\n5,email,/);
      const exported = await runCli(['export', '--format', 'csv'], env);
      assert.equal(exported.code, 0, exported.stderr);
      assert.match(exported.stdout, /^id,email,name,given_name,family_name,external_id,active,attributes,profile\r\n/);
      assert.match(exported.stdout, /,grace@example.com,'=Grace,,,,true,"{""x"":1}",\{\}\r\n/, 'formula cells are escaped');
    });

    it('a dry run reports and writes nothing', async () => {
      await reset();
      const file = join(dir, 'dry.ndjson');
      await writeFile(file, '{"email":"a@example.com","name":"A"}\n{"email":"b","name":"B"}\n');
      const result = await runCli(['import', file, '--dry-run'], env);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(lastJson(result.stdout).counts, { read: 2, created: 0, updated: 0, skipped: 1, failed: 1 });
      assert.equal(await count(t.database, 'users'), 0);
    });

    it('usage errors exit 2 and a file error exits 1', async () => {
      const usage = await runCli(['import', bigFile, '--mode', 'merge'], env);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /--mode must be one of create, upsert/);
      // Not a UUID: no job has it, and PostgreSQL is never asked (a uuid cast of it would fail).
      const unknownJob = await runCli(['import', bigFile, '--resume', 'not-a-job'], env);
      assert.equal(unknownJob.code, 2, unknownJob.stderr);
      assert.match(unknownJob.stderr, /no import job not-a-job/);
      const file = join(dir, 'bad-header.csv');
      await writeFile(file, 'mail,name\na@example.com,A\n');
      const failed = await runCli(['import', file], env);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /import failed/);
    });

    it('kill -9 mid-import, then --resume: every row exactly once', async () => {
      await reset();
      const run = await importUntilFirstCommit(t, env);
      run.child.kill('SIGKILL');
      await run.exited;
      const before = await count(t.database, 'users');
      assert.ok(before < ROWS, 'killed before the end');
      const resumed = await runCli(['import', bigFile, '--resume', run.job.id], env, 120_000);
      assert.equal(resumed.code, 0, resumed.stderr);
      const job = lastJson(resumed.stdout);
      assert.equal(job.status, 'succeeded');
      assert.equal(job.counts.created, ROWS);
      assert.equal(await count(t.database, 'users'), ROWS);
      assert.equal(await count(t.database, 'events'), ROWS);
    });

    if (name === 'sqlite') {
      it('Ctrl-C cancels the run at once, prints the resume command and exits 130', async () => {
        await reset();
        const run = await importUntilFirstCommit(t, env);
        const sent = performance.now();
        run.child.kill('SIGINT');
        // About 0.1 s on a quiet machine (the open batch rolls back); the bound holds at 10x slower.
        const exit = await within(30_000, 'the import to stop', run.exited);
        const tookMs = Math.round(performance.now() - sent);
        assert.ok(tookMs < 10_000, `stopped in ${tookMs} ms`);
        assert.equal(exit.code, 130, run.stderr());
        // Stopped, not finished: the rows after the open batch were never written.
        const stopped = await t.database.db
          .selectFrom('import_jobs')
          .select(['status', 'committed_line'])
          .where('id', '=', run.job.id)
          .executeTakeFirstOrThrow();
        assert.ok(stopped.committed_line < ROWS, JSON.stringify(stopped));
        assert.match(run.stderr(), new RegExp(`resume with: roster import .* --resume ${run.job.id}`));
        const resumed = await runCli(['import', bigFile, '--resume', run.job.id], env, 120_000);
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.equal(await count(t.database, 'users'), ROWS);
      });
    }
  });
}
