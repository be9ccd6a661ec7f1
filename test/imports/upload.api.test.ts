/**
 * Upload limits over a real socket (app.inject cannot send a body slowly): a body that stalls
 * past ROSTER_IMPORT_UPLOAD_IDLE_MS is a 408 `upload-timeout` with no spooled file and no job
 * left; a slow upload that takes longer than the request deadline (and than Node's whole-request
 * limit every other route keeps) succeeds; other routes keep their slow-body protection.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { appOver, importsOver, testAuth } from '../helpers/app.js';
import { sqliteTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { pollFor, sleep, within } from '../helpers/server.js';
import { count } from './harness.js';

/** Small on purpose: the upload below lasts several times each of them. */
const REQUEST_DEADLINE_MS = 300;
const HTTP_REQUEST_TIMEOUT_MS = 1000;
// Far above the 150 ms gaps of the slow-but-alive upload, so a busy machine stretching those
// gaps does not turn it into a stall; the stall test waits this long once.
const UPLOAD_IDLE_MS = 2000;

let testDb: TestDatabase;
let app: FastifyInstance;
let spoolDir: string;
let base: URL;
let authorization: string;
before(async () => {
  testDb = await sqliteTestDatabase();
  spoolDir = await mkdtemp(join(os.tmpdir(), 'roster-upload-'));
  const auth = await testAuth(testDb.database);
  authorization = `Bearer ${auth.adminKey}`;
  app = await appOver(testDb.database, {
    apiKeys: auth.apiKeys,
    authenticator: auth.authenticator,
    requestTimeoutMs: REQUEST_DEADLINE_MS,
    serverTimeouts: { headersTimeoutMs: HTTP_REQUEST_TIMEOUT_MS, requestTimeoutMs: HTTP_REQUEST_TIMEOUT_MS, keepAliveTimeoutMs: 5000 },
    imports: await importsOver(testDb.database, { spoolDir, uploadIdleMs: UPLOAD_IDLE_MS, uploadTimeoutMs: 60_000 }),
  });
  base = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
});
after(async () => {
  await app?.close();
  await testDb?.cleanup();
  await rm(spoolDir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Sends `pieces` as a chunked body with `gapMs` between them; with `stall`, stops sending
 * after the pieces (without ending the body) and waits for whatever answer comes.
 */
function slowRequest(
  method: string,
  path: string,
  contentType: string,
  pieces: readonly string[],
  options: { gapMs: number; stall?: boolean },
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers: { authorization, 'content-type': contentType } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        req.destroy();
      });
    });
    req.on('error', reject);
    void (async () => {
      for (const piece of pieces) {
        if (req.destroyed) return;
        req.write(piece);
        await sleep(options.gapMs);
      }
      if (!options.stall) req.end();
    })();
  });
}

const csvRows = (from: number, n: number) => Array.from({ length: n }, (_, i) => `user${from + i}@example.com,User ${from + i}\n`).join('');

const jobs = async () => testDb.database.db.selectFrom('import_jobs').selectAll().execute();

describe('upload limits of POST /v1/imports', () => {
  it('a body that stalls past the idle timeout is a 408 problem; the partial file is removed and no job is created', async () => {
    const started = performance.now();
    const answer = await within(
      60_000,
      'the 408',
      slowRequest('POST', '/v1/imports', 'text/csv', ['email,name\n', csvRows(0, 50)], { gapMs: 20, stall: true }),
    );
    const elapsed = performance.now() - started;
    assert.equal(answer.status, 408, answer.body);
    assert.match(String(answer.headers['content-type']), /^application\/problem\+json/);
    const problem = JSON.parse(answer.body) as { type: string; detail: string };
    assert.equal(problem.type, 'urn:roster:problem:upload-timeout');
    assert.match(problem.detail, new RegExp(`sent nothing for ${UPLOAD_IDLE_MS} ms`));
    assert.equal(answer.headers.connection, 'close', 'the unread rest of the body cannot be followed by another request');
    assert.ok(elapsed >= UPLOAD_IDLE_MS, `answered after ${Math.round(elapsed)} ms`);
    assert.deepEqual(await readdir(spoolDir), [], 'no spooled file left');
    assert.equal((await jobs()).length, 0);
  });

  it('an upload slower than the request deadline and than the whole-request limit of other routes succeeds', async () => {
    const pieces = ['email,name\n', ...Array.from({ length: 12 }, (_, i) => csvRows(1000 + i * 10, 10))];
    const gapMs = 150;
    const started = performance.now();
    const answer = await within(60_000, 'the 202', slowRequest('POST', '/v1/imports', 'text/csv', pieces, { gapMs }));
    const elapsed = performance.now() - started;
    assert.equal(answer.status, 202, answer.body);
    assert.ok(elapsed > HTTP_REQUEST_TIMEOUT_MS + REQUEST_DEADLINE_MS, `the upload lasted ${Math.round(elapsed)} ms`);
    const { id } = JSON.parse(answer.body) as { id: string };
    await pollFor(
      'the import to finish',
      async () => {
        const job = (await jobs()).find((j) => j.id === id);
        assert.notEqual(job?.status, 'failed', job?.error ?? '');
        return job?.status === 'succeeded';
      },
      { ms: 20_000 },
    );
    assert.equal(await count(testDb.database, 'users'), 120);
  });

  it('other routes keep their slow-body protection: a body not received within the limit is a 408 request-timeout', async () => {
    const answer = await within(
      60_000,
      'the 408',
      slowRequest('POST', '/v1/users', 'application/json', ['{"email": "slow@example.com", '], { gapMs: 20, stall: true }),
    );
    assert.equal(answer.status, 408, answer.body);
    assert.equal((JSON.parse(answer.body) as { type: string }).type, 'urn:roster:problem:request-timeout');
    assert.equal(await count(testDb.database, 'users', undefined), 120, 'nothing created');
  });
});
