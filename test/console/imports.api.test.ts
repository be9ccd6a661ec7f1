// The console's imports and status screens over the real app on SQLite and PostgreSQL, without a
// browser: a multipart upload from a plain form (CSRF token as a field before the file, or the
// htmx header; Origin), scopes, the job page and its polled fragment, row errors paged and
// escaped, cancel (CSRF), the jobs list newest first, and the status screen.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialects } from '../helpers/databases.js';
import { FORM, ORIGIN, session } from './session.js';
import { pollFor } from '../helpers/server.js';
import { ROW_ERRORS_PAGE_SIZE } from '../../src/console/imports.routes.js';

const BOUNDARY = '----roster-test-boundary';

/** A multipart/form-data body as a browser sends it: the fields in order, then the file (when given). */
function multipart(fields: [string, string][], file?: { name: string; type: string; content: string }): string {
  const parts = fields.map(([name, value]) => `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  if (file !== undefined) {
    parts.push(
      `--${BOUNDARY}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: ${file.type}\r\n\r\n${file.content}\r\n`,
    );
  }
  return `${parts.join('')}--${BOUNDARY}--\r\n`;
}

const MULTIPART = { origin: ORIGIN, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

function csvOf(count: number, prefix: string, bad?: { at: number; email: string }): string {
  const lines = ['email,name'];
  for (let i = 0; i < count; i++) lines.push(i === bad?.at ? `${bad.email},Bad Row` : `${prefix}-${i}@example.com,User ${i}`);
  return `${lines.join('\n')}\n`;
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`console imports and status on ${dialect}`, { skip }, () => {
    let t: TestApp;
    let admin: { cookie: string; csrf: string };
    before(async () => {
      t = await buildTestApp(open);
      admin = await session(t.app, t.auth.adminKey);
    });
    after(async () => t?.close());

    const upload = (who: { cookie: string }, body: string, headers: Record<string, string> = MULTIPART) =>
      t.app.inject({ method: 'POST', url: '/console/imports', headers: { ...headers, cookie: who.cookie }, payload: body });
    const get = (who: { cookie: string }, url: string, headers: Record<string, string> = {}) =>
      t.app.inject({ method: 'GET', url, headers: { ...headers, cookie: who.cookie } });
    const jobIdOf = (response: LightMyRequestResponse) => {
      assert.equal(response.statusCode, 303, response.body);
      const id = /^\/console\/imports\/([0-9a-f-]{36})$/.exec(String(response.headers.location))?.[1];
      assert.ok(id, `redirected to the job page: ${response.headers.location}`);
      return id;
    };
    const finished = (id: string) =>
      pollFor(`import ${id} finished`, async () => {
        const job = await t.app.inject({ method: 'GET', url: `/v1/imports/${id}` });
        const status = job.json<{ status: string }>().status;
        return status === 'succeeded' || status === 'failed' || status === 'cancelled' ? status : undefined;
      });

    test('a plain form upload (token field before the file) imports the file; its page shows counts and escaped row errors', async () => {
      const hostile = '<script>alert(1)</script>@x';
      const csv = csvOf(30, `${dialect}-form`, { at: 7, email: hostile });
      const response = await upload(
        admin,
        multipart(
          [
            ['_csrf', admin.csrf],
            ['mode', 'create'],
          ],
          { name: 'users.csv', type: 'text/csv', content: csv },
        ),
      );
      const id = jobIdOf(response);
      assert.equal(await finished(id), 'succeeded');
      const job = await t.app.inject({ method: 'GET', url: `/v1/imports/${id}` });
      const doc = job.json<{ counts: { read: number; created: number; failed: number }; source: string }>();
      assert.deepEqual([doc.counts.read, doc.counts.created, doc.counts.failed, doc.source], [30, 29, 1, 'upload']);
      const page = await get(admin, `/console/imports/${id}`);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /data-status="succeeded"/);
      assert.ok(!page.body.includes('<script>alert'), 'row data never reaches the page unescaped');
      assert.match(page.body, /<td>9<\/td>/, 'the bad row is line 9 (header is line 1)');
      assert.ok(!page.body.includes('hx-trigger="every 1s"'), 'a finished job is not polled');
      assert.ok(!page.body.includes(`/console/imports/${id}/cancel`), 'nor offered for cancelling');
      const fragment = await get(admin, `/console/imports/${id}/progress`, { 'hx-request': 'true' });
      assert.equal(fragment.headers['hx-refresh'], 'true', 'a poll that sees the job finished reloads the page');
      assert.ok(!fragment.body.includes('<html'), 'the fragment is not a whole page');
      const list = await get(admin, '/console/imports');
      assert.ok(list.body.includes(`href="/console/imports/${id}"`));
    });

    test('the upload needs the CSRF token before the file (or the htmx header) and this Origin', async () => {
      const file = { name: 'x.csv', type: 'text/csv', content: csvOf(2, `${dialect}-csrf`) };
      const refused: [string, string, Record<string, string>][] = [
        ['no token', multipart([], file), MULTIPART],
        ['a wrong token', multipart([['_csrf', `${admin.csrf.slice(0, -2)}AA`]], file), MULTIPART],
        [
          'the token after the file',
          `${multipart([], file).slice(0, -`--${BOUNDARY}--\r\n`.length)}--${BOUNDARY}\r\ncontent-disposition: form-data; name="_csrf"\r\n\r\n${admin.csrf}\r\n--${BOUNDARY}--\r\n`,
          MULTIPART,
        ],
        ['another Origin', multipart([['_csrf', admin.csrf]], file), { ...MULTIPART, origin: 'https://evil.example' }],
      ];
      for (const [what, body, headers] of refused) {
        const response = await upload(admin, body, headers);
        assert.equal(response.statusCode, 403, what);
        assert.match(response.body, /refused/, what);
      }
      const jobs = await t.testDb.database.db.selectFrom('import_jobs').select('id').where('source', '=', 'upload').execute();
      const viaHeader = await upload(admin, multipart([], file), { ...MULTIPART, 'x-csrf-token': admin.csrf });
      jobIdOf(viaHeader);
      const after = await t.testDb.database.db.selectFrom('import_jobs').select('id').where('source', '=', 'upload').execute();
      assert.equal(after.length, jobs.length + 1, 'only the accepted upload made a job');
    });

    test('bad forms are a 400 page with the reason; a url-encoded post is a 415', async () => {
      const noFile = await upload(admin, multipart([['_csrf', admin.csrf]]));
      assert.equal(noFile.statusCode, 400);
      assert.match(noFile.body, /Choose a file/);
      const badMode = await upload(
        admin,
        multipart(
          [
            ['_csrf', admin.csrf],
            ['mode', 'replace'],
          ],
          { name: 'a.csv', type: 'text/csv', content: 'email\n' },
        ),
      );
      assert.equal(badMode.statusCode, 400);
      assert.match(badMode.body, /create or upsert/);
      const form = await upload(admin, `_csrf=${admin.csrf}`, FORM);
      assert.equal(form.statusCode, 415);
    });

    test('imports need imports:write; the status screen any signed-in key', async () => {
      const { key } = await t.auth.keyWith(['users:read']);
      const reader = await session(t.app, key);
      assert.equal((await get(reader, '/console/imports')).statusCode, 403);
      const refused = await upload(reader, multipart([['_csrf', reader.csrf]], { name: 'a.csv', type: 'text/csv', content: 'email\n' }));
      assert.equal(refused.statusCode, 403);
      assert.ok(!(await get(reader, '/console/users')).body.includes('href="/console/imports"'), 'no Imports link in the nav');
      const status = await get(reader, '/console/status');
      assert.equal(status.statusCode, 200);
      assert.match(status.body, /Readiness/);
      assert.match(status.body, /<strong[^>]*>ready<\/strong>/);
      assert.match(status.body, dialect === 'sqlite' ? /SQLite/ : /PostgreSQL/);
      assert.ok(!/postgres:\/\/|\.sqlite|\.db\b/.test(status.body), 'never the database URL');
      t.draining = true;
      try {
        assert.match((await get(reader, '/console/status')).body, /<strong[^>]*>draining<\/strong>/);
      } finally {
        t.draining = false;
      }
      assert.equal((await t.app.inject({ method: 'GET', url: '/console/status' })).statusCode, 303, 'signed out: to the sign-in page');
    });

    test('cancel needs the CSRF token; it cancels a job that has not finished', async () => {
      // A big upload, cancelled as soon as it is accepted (it may be queued or running by then).
      const response = await upload(
        admin,
        multipart([['_csrf', admin.csrf]], { name: 'big.csv', type: 'text/csv', content: csvOf(200_000, `${dialect}-big`) }),
      );
      const id = jobIdOf(response);
      const cancel = (payload: string, headers: Record<string, string> = FORM) =>
        t.app.inject({ method: 'POST', url: `/console/imports/${id}/cancel`, headers: { ...headers, cookie: admin.cookie }, payload });
      assert.equal((await cancel('')).statusCode, 403, 'no token');
      assert.equal((await cancel(`_csrf=${admin.csrf}`, { ...FORM, origin: 'https://evil.example' })).statusCode, 403, 'another Origin');
      const done = await cancel(`_csrf=${admin.csrf}`);
      assert.equal(done.statusCode, 303);
      assert.equal(done.headers.location, `/console/imports/${id}?cancelled=1`);
      const status = await finished(id);
      // It may have finished before the cancel reached it on a fast machine; it must not have failed.
      assert.ok(status === 'cancelled' || status === 'succeeded', status);
      const page = await get(admin, `/console/imports/${id}?cancelled=1`);
      assert.match(page.body, /The import was cancelled/);
      assert.equal((await get(admin, '/console/imports/0190a0a0-0000-7000-8000-000000000000')).statusCode, 404);
      assert.equal((await get(admin, '/console/imports/not-an-id')).statusCode, 404);
    });

    test('row errors are paged without splitting a line; jobs are listed newest first', async () => {
      const lines = ['email,name'];
      for (let i = 0; i < ROW_ERRORS_PAGE_SIZE + 20; i++) lines.push(`not-an-email-${i},Bad ${i}`);
      const id = jobIdOf(
        await upload(admin, multipart([['_csrf', admin.csrf]], { name: 'bad.csv', type: 'text/csv', content: `${lines.join('\n')}\n` })),
      );
      assert.equal(await finished(id), 'succeeded');
      const first = await get(admin, `/console/imports/${id}`);
      const next = /href="\/console\/imports\/[0-9a-f-]+\?errors_after=(\d+)"/.exec(first.body)?.[1];
      assert.ok(next, 'a link to more row errors');
      const firstLines = [...first.body.matchAll(/<tr><td>(\d+)<\/td>/g)].map((m) => Number(m[1]));
      assert.ok(firstLines.length >= ROW_ERRORS_PAGE_SIZE, `${firstLines.length} errors on the first page`);
      const second = await get(admin, `/console/imports/${id}?errors_after=${next}`);
      const secondLines = [...second.body.matchAll(/<tr><td>(\d+)<\/td>/g)].map((m) => Number(m[1]));
      assert.ok(secondLines.length > 0);
      assert.ok(Math.min(...secondLines) > Math.max(...firstLines), 'the second page starts after the first');
      assert.equal(new Set([...firstLines, ...secondLines]).size, ROW_ERRORS_PAGE_SIZE + 20, 'every line once');
      const list = await get(admin, '/console/imports');
      const ids = [...list.body.matchAll(/href="\/console\/imports\/([0-9a-f-]{36})"/g)].map((m) => m[1]!);
      assert.equal(ids[0], id, 'the newest job first');
      assert.deepEqual(ids, [...ids].sort().reverse());
    });
  });
}
