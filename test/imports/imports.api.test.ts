/**
 * The import routes through the real app: upload → 202 → progress → succeeded, row errors as
 * CSV and NDJSON, cancel, hostile files (a 10 MB line, UTF-16, ragged rows, NULs, duplicate
 * emails differing in case) ending as row errors or one clear file error, the size cap, and
 * the streamed export.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import type { FastifyInstance } from 'fastify';
import { appOver, buildTestApp, importsOver, withCredentials, type TestApp } from '../helpers/app.js';
import { assertProblem, fromInject } from '../helpers/http.js';
import { sleep } from '../helpers/server.js';
import { generatedFile } from './generated-users.js';
import { count } from './harness.js';

interface JobJson {
  id: string;
  status: string;
  counts: { read: number; created: number; updated: number; skipped: number; failed: number };
  committed_line: number;
  error: string | null;
  progress: { bytes_read: number; rows_read: number } | null;
}

let t: TestApp;
before(async () => {
  t = await buildTestApp();
});
after(async () => {
  await t?.close();
});
const reset = async () => {
  for (const table of ['import_row_errors', 'import_jobs', 'events', 'users'] as const)
    await t.testDb.database.db.deleteFrom(table).execute();
};

async function upload(body: string | Buffer, contentType = 'text/csv', query = '', app: FastifyInstance = t.app) {
  return app.inject({ method: 'POST', url: `/v1/imports${query}`, headers: { 'content-type': contentType }, payload: body });
}

async function finished(id: string): Promise<JobJson> {
  for (let i = 0; i < 1000; i++) {
    const job = (await t.app.inject({ method: 'GET', url: `/v1/imports/${id}` })).json<JobJson>();
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
    await sleep(20);
  }
  throw new Error(`import ${id} did not finish`);
}

async function importText(body: string | Buffer, contentType = 'text/csv', query = ''): Promise<JobJson> {
  const res = await upload(body, contentType, query);
  assert.equal(res.statusCode, 202, res.body);
  return finished(res.json<JobJson>().id);
}

describe('POST /v1/imports', () => {
  it('reads its boolean options as true or false: a dry run with unknown columns ignored writes nothing; another spelling is a 400 naming it', async () => {
    await reset();
    const job = await importText('email,name,team\nada@example.com,Ada,research\n', 'text/csv', '?dry_run=true&ignore_unknown=true');
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.equal(job.counts.read, 1, JSON.stringify(job));
    assert.equal(await count(t.testDb.database, 'users'), 0);
    for (const query of ['?dry_run=1', '?dry_run=TRUE', '?dry_run=', '?ignore_unknown=yes']) {
      assertProblem(fromInject(await upload('email,name\nada@example.com,Ada\n', 'text/csv', query)), 'validation', {
        parameters: [query.slice(1).split('=')[0]!],
      });
    }
  });

  it('answers 202 with the job and its Location, runs it, and serves its row errors as CSV or NDJSON', async () => {
    await reset();
    const res = await upload('email,name\nada@example.com,Ada\nnope,Bad\ngrace@example.com,Grace\n');
    assert.equal(res.statusCode, 202, res.body);
    const job = res.json<JobJson>();
    assert.equal(res.headers.location, `/v1/imports/${job.id}`);
    assert.ok(['pending', 'running', 'succeeded'].includes(job.status));
    const done = await finished(job.id);
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(done.counts, { read: 3, created: 2, updated: 0, skipped: 0, failed: 1 });
    const csv = await t.app.inject({ method: 'GET', url: `/v1/imports/${job.id}/errors` });
    assert.equal(csv.statusCode, 200);
    assert.match(String(csv.headers['content-type']), /^text\/csv/);
    assert.match(csv.body, /^line,field,reason\r\n3,email,/);
    const ndjson = await t.app.inject({ method: 'GET', url: `/v1/imports/${job.id}/errors`, headers: { accept: 'application/x-ndjson' } });
    assert.deepEqual(
      ndjson.body
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { line: number; field: string }).line),
      [3],
    );
  });

  it('upserts NDJSON with summary events when asked', async () => {
    await reset();
    const done = await importText('{"email":"a@example.com","name":"A"}\n', 'application/x-ndjson', '?mode=upsert&events=summary');
    assert.equal(done.status, 'succeeded');
    assert.equal(await count(t.testDb.database, 'events'), 1);
  });

  it('DELETE cancels a running import: committed batches stay, the rest is not written', async () => {
    await reset();
    const file = await buffer(generatedFile(150_000, 'csv', 3));
    const res = await upload(file);
    assert.equal(res.statusCode, 202);
    const { id } = res.json<JobJson>();
    for (let i = 0; i < 500; i++) {
      const job = (await t.app.inject({ method: 'GET', url: `/v1/imports/${id}` })).json<JobJson>();
      if (job.committed_line > 0) {
        assert.ok(job.progress === null || job.progress.bytes_read > 0);
        break;
      }
      await sleep(5);
    }
    const cancelled = await t.app.inject({ method: 'DELETE', url: `/v1/imports/${id}` });
    assert.equal(cancelled.statusCode, 200);
    const job = cancelled.json<JobJson>();
    assert.equal(job.status, 'cancelled');
    assert.ok(job.committed_line < 150_001, 'stopped before the end');
    // Every row is valid and new, so the users are exactly the committed lines (line 1 is the header).
    assert.equal(await count(t.testDb.database, 'users'), job.committed_line - 1);
  });

  it('unknown jobs are 404 problems', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/imports/01890a5d-ac96-774b-bcce-b302099a8057' });
    assertProblem(fromInject(res), 'import-not-found');
  });

  it('a JSON body is refused: the file must be CSV or NDJSON', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/imports', headers: { 'content-type': 'application/json' }, payload: '{}' });
    assertProblem(fromInject(res), 'unsupported-media-type');
  });

  it('a file over ROSTER_IMPORT_MAX_BYTES is a 413 and leaves no job', async () => {
    const app = await appOver(t.testDb.database, {
      apiKeys: t.auth.apiKeys,
      authenticator: t.auth.authenticator,
      imports: await importsOver(t.testDb.database, { maxBytes: 2048 }),
    });
    withCredentials(app, t.auth.adminKey);
    try {
      await reset();
      const res = await upload(`email,name\n${'x@example.com,X\n'.repeat(500)}`, 'text/csv', '', app);
      assertProblem(fromInject(res), 'body-too-large');
      assert.equal(await count(t.testDb.database, 'users'), 0);
    } finally {
      await app.close();
    }
  });
});

describe('hostile files through POST /v1/imports', () => {
  it('a 10 MB single line: one clear file error, nothing written', async () => {
    await reset();
    const job = await importText(`email,name\na@example.com,${'A'.repeat(10 * 1024 * 1024)}\n`);
    assert.equal(job.status, 'failed');
    assert.match(job.error ?? '', /line 2: the line is longer than/);
    assert.equal(await count(t.testDb.database, 'users'), 0);
  });

  it('UTF-16: one clear encoding error', async () => {
    await reset();
    const job = await importText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('email,name\na@example.com,A\n', 'utf16le')]));
    assert.equal(job.status, 'failed');
    assert.match(job.error ?? '', /UTF-16/);
  });

  it('ragged rows, NULs and emails repeated in another case are row errors; the good rows are imported', async () => {
    await reset();
    const job = await importText(
      'email,name\na@example.com,A\nb@example.com\nc@example.com,C,extra\nd@example.com,D\u0000\nA@EXAMPLE.COM,Again\ne@example.com,E\n',
    );
    assert.equal(job.status, 'succeeded');
    assert.deepEqual(job.counts, { read: 6, created: 2, updated: 0, skipped: 0, failed: 4 });
    assert.equal(await count(t.testDb.database, 'users'), 2);
  });
});

describe('GET /v1/users/export', () => {
  it('streams every user, formula cells escaped in CSV, as NDJSON on request', async () => {
    await reset();
    const job = await importText('email,name\nada@example.com,"=HYPERLINK(""x"")"\nbob@example.com,Bob\n');
    assert.equal(job.status, 'succeeded', job.error ?? '');
    const csv = await t.app.inject({ method: 'GET', url: '/v1/users/export' });
    assert.equal(csv.statusCode, 200);
    assert.match(String(csv.headers['content-disposition']), /attachment; filename="users.csv"/);
    assert.match(csv.body, /^id,email,name,given_name,family_name,external_id,active,attributes,profile\r\n/);
    assert.match(csv.body, /,ada@example.com,"'=HYPERLINK\(""x""\)",,,,true,\{\},\{\}\r\n/);
    const ndjson = await t.app.inject({ method: 'GET', url: '/v1/users/export?format=ndjson' });
    const lines = ndjson.body.trim().split('\n');
    assert.equal(lines.length, 2);
    const names = lines.map((l) => (JSON.parse(l) as { name: string }).name).sort();
    assert.deepEqual(names, ['=HYPERLINK("x")', 'Bob']);
  });
});
