import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { httpMetrics } from '../../src/observability/metrics.js';
import { ClientGoneError, RequestDeadlineError } from '../../src/http/deadline.js';
import { request as httpRequest } from 'node:http';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { assertProblem, fromInject } from '../helpers/http.js';
import { pollFor, within } from '../helpers/server.js';
import { dialects } from '../helpers/databases.js';
import { capturedLogs } from '../helpers/logs.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// Test-only routes stay out of the OpenAPI document (and so out of the contract checks).
const TEST_ONLY = { config: { access: 'public' as const, rateLimit: false as const }, schema: { hide: true } };

describe('one deadline per request', () => {
  const TIMEOUT_MS = 200;
  const metrics = httpMetrics(new Registry());
  let t: TestApp;
  let seenReason: unknown;
  before(async () => {
    t = await buildTestApp(undefined, { requestTimeoutMs: TIMEOUT_MS, metrics });
    // Routes that exist only in this test: one ignores its deadline, one waits on it.
    t.app.get('/test/ignores-deadline', TEST_ONLY, () => new Promise(() => undefined));
    t.app.get('/test/honours-deadline', TEST_ONLY, (request) => {
      return new Promise((_, reject) =>
        request.deadline.signal.addEventListener('abort', () => {
          seenReason = request.deadline.signal.reason;
          reject(request.deadline.signal.reason as Error);
        }),
      );
    });
  });
  after(() => t?.close());

  test('a handler that never settles still answers 504 at the deadline, not a hung socket', async () => {
    const started = performance.now();
    const res = await t.app.inject({ method: 'GET', url: '/test/ignores-deadline' });
    const took = performance.now() - started;
    assertProblem(fromInject(res), 'deadline-exceeded');
    // Not before the deadline; the upper bound only tells "answered" from "hung" (a busy CI
    // machine has delayed this 200 ms timer by over 2 s).
    assert.ok(took >= TIMEOUT_MS - 5 && took < TIMEOUT_MS + 30_000, `answered after ${took} ms`);
  });

  test('the work below is told to stop: the signal it was given aborts with the deadline error', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/test/honours-deadline' });
    assertProblem(fromInject(res), 'deadline-exceeded');
    assert.ok(seenReason instanceof RequestDeadlineError);
  });

  test('ordinary requests finish well within it and are not counted', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/users' });
    assert.equal(res.statusCode, 200);
    const values = (await metrics.deadlineExceeded.get()).values;
    assert.deepEqual(
      values.map((v) => [v.labels.route, v.value]),
      [
        ['/test/ignores-deadline', 1],
        ['/test/honours-deadline', 1],
      ],
    );
  });
});

describe('a client that goes away', () => {
  let t: TestApp;
  let base = '';
  let resolveReason: (reason: unknown) => void = () => undefined;
  const reason = new Promise<unknown>((resolve) => (resolveReason = resolve));
  const entered = signal();
  before(async () => {
    t = await buildTestApp(undefined, { requestTimeoutMs: 60_000 });
    t.app.get('/test/waits', TEST_ONLY, (request) => {
      entered.resolve();
      return new Promise((_, reject) =>
        request.deadline.signal.addEventListener('abort', () => {
          resolveReason(request.deadline.reason);
          reject(request.deadline.signal.reason as Error);
        }),
      );
    });
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => t?.close());

  test('stops the work done for it: the deadline signal aborts with ClientGoneError', async () => {
    const req = httpRequest(`${base}/test/waits`);
    req.on('error', () => undefined);
    req.end();
    await entered.promise;
    req.destroy();
    const seen = await within(30_000, 'the abort', reason);
    assert.ok(seen instanceof ClientGoneError, String(seen));
  });
});

describe('a client that hangs up during a write', () => {
  let t: TestApp;
  let base = '';
  const { logger, lines } = capturedLogs();
  // The current request's handler says when it has started and when its work has settled.
  let entered = signal();
  let settled = signal();
  before(async () => {
    t = await buildTestApp(undefined, { requestTimeoutMs: 60_000, logger });
    // Exist only in this test. A write past its point of no return when the client leaves (the
    // transaction commits anyway), and one that honours the signal (the transaction rolls back).
    t.app.post('/test/commits', TEST_ONLY, async (request, reply) => {
      entered.resolve();
      await new Promise((resolve) => request.deadline.signal.addEventListener('abort', resolve));
      settled.resolve();
      return reply.code(201).send({ committed: true });
    });
    t.app.post('/test/rolls-back', TEST_ONLY, (request) => {
      entered.resolve();
      return new Promise((_, reject) =>
        request.deadline.signal.addEventListener('abort', () => {
          settled.resolve();
          reject(request.deadline.signal.reason as Error);
        }),
      );
    });
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => t?.close());

  /** Sends a POST, hangs up once its handler runs, and returns every log line of that request. */
  const hangUp = async (path: string, id: string) => {
    entered = signal();
    settled = signal();
    const req = httpRequest(`${base}${path}`, { method: 'POST', headers: { 'x-request-id': id } });
    req.on('error', () => undefined);
    req.end();
    await entered.promise;
    req.destroy();
    await settled.promise;
    await pollFor('the request log line', () => lines.some((l) => l.request_id === id && l.msg === 'request'), { ms: 2000 }).catch(() =>
      console.log(JSON.stringify(lines.filter((l) => l.request_id === id))),
    );
    // Anything logged late (a second reply attempt) would come within a few turns of the loop.
    await new Promise((resolve) => setImmediate(resolve));
    return lines.filter((l) => l.request_id === id);
  };
  const closingLines = (about: Record<string, unknown>[]) => about.filter((l) => String(l.msg).startsWith('client closed'));

  test('a write that committed is logged as completed, once, and never as stopped', async () => {
    const about = await hangUp('/test/commits', 'hangup-commits');
    const closing = closingLines(about);
    assert.equal(closing.length, 1, JSON.stringify(about));
    assert.match(String(closing[0]!.msg), /completed/);
    assert.equal(closing[0]!.status, 201);
    assert.equal(about.find((l) => l.msg === 'request')?.status, 499);
    assert.ok(!about.some((l) => /already sent|stopped/i.test(String(l.msg))), JSON.stringify(about));
  });

  test('a write that honoured the signal is logged as stopped, once', async () => {
    const about = await hangUp('/test/rolls-back', 'hangup-rolls-back');
    const closing = closingLines(about);
    assert.equal(closing.length, 1, JSON.stringify(about));
    assert.match(String(closing[0]!.msg), /stopped/);
    assert.equal(about.find((l) => l.msg === 'request')?.status, 499);
    assert.ok(!about.some((l) => /already sent/i.test(String(l.msg))), JSON.stringify(about));
  });
});

const dialectList = await dialects();
describe('clients hanging up during real user creations', () => {
  for (const [name, open, skip] of dialectList) {
    test(`on ${name}: the log says "completed" exactly for the users that exist`, { skip }, async () => {
      const { logger, lines } = capturedLogs();
      const t = await buildTestApp(open, { requestTimeoutMs: 60_000, logger });
      try {
        const started = new Set<string>();
        t.app.addHook('onRequest', async (request) => {
          started.add(request.id);
        });
        const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
        const attempts = 40;
        for (let i = 0; i < attempts; i++) {
          const id = `hangup-real-${i}`;
          const req = httpRequest(`${base}/v1/users`, {
            method: 'POST',
            headers: { 'x-request-id': id, authorization: `Bearer ${t.auth.adminKey}`, 'content-type': 'application/json' },
          });
          req.on('error', () => undefined);
          req.end(JSON.stringify({ email: `hangup-${i}@example.com`, name: `Hang Up ${i}` }));
          // Hang up after a varying number of loop turns, so some land mid-write.
          for (let turn = 0; turn < i % 8; turn++) await new Promise((resolve) => setImmediate(resolve));
          req.destroy();
        }
        // Every request that reached the app gets its one request line, answered or not.
        const logged = () => new Set(lines.filter((l) => l.msg === 'request').map((l) => String(l.request_id)));
        await pollFor('a request line for every request that started', () => [...started].every((id) => logged().has(id)), {
          ms: 30_000,
        });
        let closed = 0;
        for (let i = 0; i < attempts; i++) {
          const about = lines.filter((l) => l.request_id === `hangup-real-${i}`);
          assert.ok(!about.some((l) => /already sent/i.test(String(l.msg))), JSON.stringify(about));
          const closing = about.filter((l) => String(l.msg).startsWith('client closed'));
          assert.ok(closing.length <= 1, JSON.stringify(about));
          const stored = await t.testDb.database.db
            .selectFrom('users')
            .select('id')
            .where('email', '=', `hangup-${i}@example.com`)
            .executeTakeFirst();
          if (closing.length === 1) {
            closed++;
            assert.equal(/completed/.test(String(closing[0]!.msg)), stored !== undefined, JSON.stringify(about));
          }
        }
        process.stdout.write(`# ${name}: ${closed} of ${attempts} requests closed by their client mid-request\n`);
      } finally {
        await t.close();
      }
    });
  }
});

function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('load shedding while the event loop is blocked', () => {
  const metrics = httpMetrics(new Registry());
  let t: TestApp;
  before(async () => {
    t = await buildTestApp(undefined, {
      metrics,
      // Far above what a busy machine's scheduling alone delays the loop by, far below the block.
      shedding: { eventLoopDelayMs: 300, heapUsedMb: 0, eventLoopUtilization: 0, sampleIntervalMs: 50 },
    });
    // Exists only in this test: holds the event loop like a runaway computation would.
    t.app.post('/test/block', TEST_ONLY, () => {
      const until = performance.now() + 2000;
      while (performance.now() < until);
      return { blocked: true };
    });
  });
  after(() => t?.close());

  test('new requests get 503 overloaded with Retry-After, /livez still answers, and it recovers', async () => {
    await pollFor('the instance to serve', async () => (await t.app.inject({ method: 'GET', url: '/v1/users' })).statusCode === 200, {
      ms: 30_000,
    });
    assert.equal((await t.app.inject({ method: 'POST', url: '/test/block' })).statusCode, 200);
    await sleep(5); // let the overdue sampler read the delay the block caused

    const shed = await t.app.inject({ method: 'GET', url: '/v1/users' });
    assertProblem(fromInject(shed), 'overloaded');
    assert.equal(shed.headers['retry-after'], '1');
    const live = await t.app.inject({ method: 'GET', url: '/livez' });
    assert.equal(live.statusCode, 200);

    // The instance serves again once the loop is responsive.
    await pollFor('the instance to serve again', async () => (await t.app.inject({ method: 'GET', url: '/v1/users' })).statusCode === 200, {
      ms: 30_000,
      everyMs: 50,
    });
    const [counted] = (await metrics.shed.get()).values;
    assert.equal(counted?.labels.reason, 'eventLoopDelay');
    assert.ok((counted?.value ?? 0) >= 1);
  });
});
