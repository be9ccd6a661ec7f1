// Webhooks through the built CLI: endpoints created over the API, events made by real user
// writes, delivered to loopback sinks; then the process is killed, stopped, or doubled.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { ServerProcess, sleep, tempSqlite } from '../helpers/server.js';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.js';
import { startSink, type Sink, type SinkHandler } from '../webhooks/sink.js';
import { eventually } from '../webhooks/harness.js';

/** A crashed instance's claims expire in 2 s instead of a minute. */
const SHORT_LEASE = { ROSTER_WEBHOOK_LEASE_MS: '2000' };
const WEBHOOK_ENV = { ROSTER_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', ROSTER_WEBHOOK_POLL_INTERVAL_MS: '10' };

async function call(server: ServerProcess, method: string, path: string, body?: unknown, key = server.apiKey): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function createEndpoint(server: ServerProcess, sink: Sink, key?: string): Promise<{ id: string; secret: string }> {
  const res = await call(server, 'POST', '/v1/webhook-endpoints', { url: sink.url() }, key);
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as { id: string; secret: string };
}

async function createUsers(server: ServerProcess, n: number, prefix: string, key?: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await call(server, 'POST', '/v1/users', { email: `${prefix}-${i}@example.com`, name: `${prefix} ${i}` }, key);
    assert.equal(res.status, 201);
    await res.body?.cancel();
  }
}

/** Sequences received, each request verified with the official library. */
function received(sink: Sink, secret: string): number[] {
  const webhook = new Webhook(secret);
  return sink.requests.map(
    (r) => (webhook.verify(r.body.toString(), r.headers as Record<string, string>) as { sequence: number }).sequence,
  );
}

/** A sink that answers after `delayMs` and counts deliveries of one webhook-id that overlap in time. */
async function overlapSink(delayMs: number): Promise<Sink & { overlaps(): number }> {
  const inFlight = new Set<string>();
  let overlaps = 0;
  const handler: SinkHandler = (req, res) => {
    const id = String(req.headers['webhook-id']);
    if (inFlight.has(id)) overlaps++;
    inFlight.add(id);
    setTimeout(() => {
      inFlight.delete(id);
      res.writeHead(200).end();
    }, delayMs);
  };
  const sink = await startSink(handler);
  return Object.assign(sink, { overlaps: () => overlaps });
}

describe('webhooks end to end', () => {
  const servers: ServerProcess[] = [];
  const sinks: Sink[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const s of servers) await s.kill();
    for (const s of sinks) await s.close();
    for (const c of cleanups) await c();
  });

  test('SIGKILL mid-delivery, then a restart: every event delivered at least once, duplicates bounded by what was in flight', async () => {
    const db = tempSqlite();
    cleanups.push(() => db.cleanup());
    const sink = await overlapSink(30);
    sinks.push(sink);
    const first = await ServerProcess.start({ databaseUrl: db.url, env: { ...WEBHOOK_ENV, ...SHORT_LEASE, ROSTER_WEBHOOK_WORKERS: '4' } });
    servers.push(first);
    const key = first.apiKey;
    const { secret } = await createEndpoint(first, sink);
    await createUsers(first, 40, 'kill', key);
    // Deliveries take 30 ms each: some are done, one is in flight, most are still due.
    await eventually('a few deliveries', () => sink.requests.length >= 3);
    await first.kill();
    const beforeRestart = new Set(received(sink, secret));
    assert.ok(beforeRestart.size < 40, 'the kill came mid-delivery');

    // The dead process's lease must expire before another instance takes the endpoint over.
    const second = await ServerProcess.start({
      databaseUrl: db.url,
      env: { ...WEBHOOK_ENV, ...SHORT_LEASE, ROSTER_BOOTSTRAP_KEY: 'off' },
    });
    servers.push(second);
    await eventually('all 40 events after the restart', () => new Set(received(sink, secret)).size === 40, 30_000);
    const seqs = received(sink, secret);
    const duplicates = seqs.length - new Set(seqs).size;
    // One endpoint is delivered one event at a time, and successes are settled at least every
    // 200 ms (Dispatcher settleIntervalMs): with 30 ms per delivery, what can be sent again is the
    // attempt in flight plus at most 200 / 30 ≈ 7 delivered but not yet settled (the dispatcher's
    // absolute bound is 100 per endpoint).
    assert.ok(duplicates <= 8, `${duplicates} duplicates`);
    // After the restart delivery resumes from the stored cursor, so the unsettled tail is sent
    // again (3, 4, 3, 4, 5…); the first delivery of each event still comes in sequence order.
    const firsts = seqs.filter((seq, i) => seqs.indexOf(seq) === i);
    assert.deepEqual(
      firsts,
      [...firsts].sort((a, b) => a - b),
      'first deliveries in sequence order across the crash',
    );
    await second.stop();
  });

  test('SIGTERM drains the dispatcher: the attempt in flight finishes and no lease is left behind', async () => {
    const db = tempSqlite();
    cleanups.push(() => db.cleanup());
    const sink = await overlapSink(300);
    sinks.push(sink);
    const server = await ServerProcess.start({ databaseUrl: db.url, env: WEBHOOK_ENV });
    servers.push(server);
    const { id, secret } = await createEndpoint(server, sink);
    await createUsers(server, 5, 'drain');
    await eventually('a delivery in flight', () => sink.requests.length >= 1);
    const exit = await server.stop();
    assert.equal(exit.code, 0, server.logText());
    assert.ok(server.logs.some((l) => l.msg === 'webhook dispatcher stopped'));
    // A new instance sees the endpoint free at once (no lease to wait out), and the log has the drained attempt.
    const again = await ServerProcess.start({ databaseUrl: db.url, env: { ...WEBHOOK_ENV, ROSTER_BOOTSTRAP_KEY: 'off' } });
    servers.push(again);
    const started = Date.now();
    await eventually('the rest delivered', () => new Set(received(sink, secret)).size === 5, 10_000);
    assert.ok(Date.now() - started < 5_000, 'no lease had to expire');
    const log = async () =>
      (
        (await (await call(again, 'GET', `/v1/webhook-endpoints/${id}/deliveries`, undefined, server.apiKey)).json()) as {
          data: { outcome: string }[];
        }
      ).data;
    await eventually('5 successes in the delivery log', async () => (await log()).filter((a) => a.outcome === 'success').length >= 5);
    assert.ok(
      (await log()).every((a) => a.outcome === 'success'),
      'the drained attempt was recorded as a success, not cut',
    );
    await again.stop();
  });

  test('two Roster processes on one PostgreSQL database: no attempt is sent twice at the same time', async (t) => {
    const reason = await postgresUnavailable();
    if (reason !== undefined) {
      t.skip(reason);
      return;
    }
    const testDb: TestDatabase = await postgresTestDatabase();
    cleanups.push(() => testDb.cleanup());
    const a = await ServerProcess.start({ databaseUrl: testDb.url, env: { ...WEBHOOK_ENV, ROSTER_WEBHOOK_WORKERS: '3' } });
    servers.push(a);
    const b = await ServerProcess.start({
      databaseUrl: testDb.url,
      env: { ...WEBHOOK_ENV, ROSTER_WEBHOOK_WORKERS: '3', ROSTER_BOOTSTRAP_KEY: 'off' },
    });
    servers.push(b);
    const endpoints: { sink: Sink & { overlaps(): number }; secret: string }[] = [];
    for (let i = 0; i < 6; i++) {
      const sink = await overlapSink(5);
      sinks.push(sink);
      endpoints.push({ sink, secret: (await createEndpoint(a, sink)).secret });
    }
    // Writes through both instances, interleaved.
    await Promise.all([createUsers(a, 30, 'pg-a'), createUsers(b, 30, 'pg-b', a.apiKey)]);
    for (const { sink, secret } of endpoints) {
      await eventually('60 events at each endpoint', () => new Set(received(sink, secret)).size === 60, 30_000);
      assert.equal(sink.overlaps(), 0);
      const seqs = received(sink, secret);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        'each endpoint in sequence order',
      );
    }
    await Promise.all([a.stop(), b.stop()]);
    await sleep(10);
  });
});
