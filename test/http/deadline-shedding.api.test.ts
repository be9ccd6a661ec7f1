import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { httpMetrics } from '../../src/observability/metrics.js';
import { ClientGoneError, RequestDeadlineError } from '../../src/http/deadline.js';
import { request as httpRequest } from 'node:http';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { assertProblem, fromInject } from '../helpers/http.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TEST_ONLY = { access: 'public' as const, rateLimit: false as const };

describe('one deadline per request', () => {
  const TIMEOUT_MS = 200;
  const metrics = httpMetrics(new Registry());
  let t: TestApp;
  let seenReason: unknown;
  before(async () => {
    t = await buildTestApp(undefined, { requestTimeoutMs: TIMEOUT_MS, metrics });
    // Routes that exist only in this test: one ignores its deadline, one waits on it.
    t.app.get('/test/ignores-deadline', { config: TEST_ONLY }, () => new Promise(() => undefined));
    t.app.get('/test/honours-deadline', { config: TEST_ONLY }, (request) => {
      return new Promise((_, reject) =>
        request.deadline.addEventListener('abort', () => {
          seenReason = request.deadline.reason;
          reject(request.deadline.reason as Error);
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
    assert.ok(took >= TIMEOUT_MS - 5 && took < TIMEOUT_MS + 2000, `answered after ${took} ms`);
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
  before(async () => {
    t = await buildTestApp(undefined, { requestTimeoutMs: 60_000 });
    t.app.get('/test/waits', { config: TEST_ONLY }, (request) => {
      return new Promise((_, reject) =>
        request.deadline.addEventListener('abort', () => {
          resolveReason(request.deadline.reason);
          reject(request.deadline.reason as Error);
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
    await sleep(100);
    req.destroy();
    const seen = await Promise.race([reason, sleep(2000).then(() => 'timed out')]);
    assert.ok(seen instanceof ClientGoneError, String(seen));
  });
});

describe('load shedding while the event loop is blocked', () => {
  const metrics = httpMetrics(new Registry());
  let t: TestApp;
  before(async () => {
    t = await buildTestApp(undefined, {
      metrics,
      shedding: { eventLoopDelayMs: 20, heapUsedMb: 0, eventLoopUtilization: 0, sampleIntervalMs: 50 },
    });
    // Exists only in this test: holds the event loop like a runaway computation would.
    t.app.post('/test/block', { config: TEST_ONLY }, () => {
      const until = performance.now() + 500;
      while (performance.now() < until);
      return { blocked: true };
    });
  });
  after(() => t?.close());

  test('new requests get 503 overloaded with Retry-After, /livez still answers, and it recovers', async () => {
    assert.equal((await t.app.inject({ method: 'GET', url: '/v1/users' })).statusCode, 200);
    assert.equal((await t.app.inject({ method: 'POST', url: '/test/block' })).statusCode, 200);
    await sleep(5); // let the overdue sampler read the delay the block caused

    const shed = await t.app.inject({ method: 'GET', url: '/v1/users' });
    assertProblem(fromInject(shed), 'overloaded');
    assert.equal(shed.headers['retry-after'], '1');
    const live = await t.app.inject({ method: 'GET', url: '/livez' });
    assert.equal(live.statusCode, 200);

    let status = 503;
    for (let waited = 0; status === 503 && waited < 3000; waited += 50) {
      await sleep(50);
      status = (await t.app.inject({ method: 'GET', url: '/v1/users' })).statusCode;
    }
    assert.equal(status, 200, 'the instance serves again once the loop is responsive');
    const [counted] = (await metrics.shed.get()).values;
    assert.equal(counted?.labels.reason, 'eventLoopDelay');
    assert.ok((counted?.value ?? 0) >= 1);
  });
});
