// The dispatcher against loopback sinks that fail in every way the issue lists, on both
// dialects. Every delivered request is verified with the official standardwebhooks library.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventsService } from '../../src/events/service.js';
import { SqlEventStore } from '../../src/events/sql-store.js';
import { BreakerRegistry } from '../../src/webhooks/breaker.js';
import type { WebhookEndpoint } from '../../src/webhooks/model.js';
import { AllowList } from '../../src/kit/allow-list.js';
import { webhookMetrics } from '../../src/webhooks/metrics.js';
import { Registry } from 'prom-client';
import { RetryBudget } from '../../src/webhooks/retry-budget.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { bench, eventually, LOOPBACK, resolver, verifyAll, type Bench } from './harness.js';
import type { DeliveryStore } from '../../src/webhooks/delivery-store.js';
import { WebhookHttpClient, type DeliveryRequest } from '../../src/webhooks/http-client.js';
import { startSink, type Sink, type SinkHandler } from './sink.js';

const ok: SinkHandler = (_req, res) => res.writeHead(204).end();

/**
 * `inner` with its reads of the newest sequence counted, and one of them held on demand: after
 * holdNext(), the next maxSequence() reads the database at once but answers only at release().
 * Also counts the due-replay reads that returned (each worker's first read of a claim).
 */
function heldReads(inner: DeliveryStore) {
  let reads = 0;
  let replays = 0;
  let holdNext = false;
  let held = false;
  let open: () => void = () => undefined;
  const store: DeliveryStore = {
    claim: (...args) => inner.claim(...args),
    countDue: (...args) => inner.countDue(...args),
    eventsAfter: (...args) => inner.eventsAfter(...args),
    settle: (...args) => inner.settle(...args),
    release: (...args) => inner.release(...args),
    releaseAll: (...args) => inner.releaseAll(...args),
    async dueReplays(...args) {
      const due = await inner.dueReplays(...args);
      replays++;
      return due;
    },
    async maxSequence(signal) {
      reads++;
      const hold = holdNext;
      holdNext = false;
      const gate = hold ? new Promise<void>((resolve) => (open = resolve)) : undefined;
      const value = await inner.maxSequence(signal);
      if (gate !== undefined) {
        held = true;
        await gate;
        held = false;
      }
      return value;
    },
  };
  return {
    store,
    count: () => reads,
    replaysRead: () => replays,
    holdNext: () => void (holdNext = true),
    holding: () => held,
    release: () => open(),
  };
}

/** `inner` with some of its methods replaced (each replacement may call `inner`'s own). */
function overriding(inner: DeliveryStore, overrides: Partial<DeliveryStore>): DeliveryStore {
  return new Proxy(inner, {
    get(target, key) {
      const replaced: unknown = Reflect.get(overrides, key);
      if (replaced !== undefined) return replaced;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`the webhook dispatcher on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let b: Bench;
    before(async () => {
      testDb = await open();
      b = await bench(testDb);
    });
    after(async () => {
      await b?.close();
      await testDb?.cleanup();
    });

    async function endpointTo(t: TestContext, handler: SinkHandler, settings: Record<string, unknown> = {}) {
      const sink = await startSink(handler);
      t.after(() => sink.close());
      const { endpoint, secret } = await b.webhooks.create({ url: sink.url(), ...settings });
      // Each test's endpoint is alone: earlier tests' endpoints are disabled so they take no worker.
      t.after(() => b.webhooks.update(endpoint.id, { enabled: false }));
      return { sink, endpoint, secret };
    }
    /** A dispatcher for this test only, stopped when it ends. */
    function run(t: TestContext, options: Parameters<Bench['dispatcher']>[0] = {}) {
      const dispatcher = b.dispatcher(options);
      dispatcher.start();
      t.after(() => dispatcher.stop(1_000));
      return dispatcher;
    }
    const sequences = (sink: Sink, secret: string) => verifyAll(sink.requests, secret).map((body) => body.sequence);
    const log = (endpoint: WebhookEndpoint) => b.webhooks.deliveries(endpoint.id, undefined, 200);
    const feed = () => new EventsService({ store: new SqlEventStore(testDb.database.db, testDb.database.dialect) });

    test('healthy: every event once, in sequence order, signed; the cursor and the log follow', async (t) => {
      const { sink, endpoint, secret } = await endpointTo(t, ok);
      run(t);
      await b.createUsers(5);
      await eventually('5 deliveries', () => sink.requests.length >= 5);
      const seqs = sequences(sink, secret);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
      );
      assert.equal(new Set(seqs).size, 5);
      const bodies = verifyAll(sink.requests, secret) as unknown as { type: string; data: { user: { version: number } } }[];
      assert.ok(bodies.every((body) => body.type === 'user.created' && body.data.user.version === 1));
      await eventually('the log', async () => (await log(endpoint)).length === 5);
      const attempts = await log(endpoint);
      assert.ok(attempts.every((a) => a.outcome === 'success' && a.status === 204 && a.attempt === 1 && !a.replay));
      await eventually('the cursor', async () => (await b.webhooks.get(endpoint.id)).cursor === Math.max(...seqs));
    });

    test('metrics: attempts by outcome, commit-to-attempt latency, workers and the queue depth', async (t) => {
      const registry = new Registry();
      const { sink } = await endpointTo(t, ok);
      run(t, { metrics: webhookMetrics(registry) });
      await b.createUsers(3);
      await eventually('3 deliveries', () => sink.requests.length >= 3);
      await eventually('the attempts counted', async () =>
        (await registry.metrics()).includes('roster_webhook_attempts_total{outcome="success"} 3'),
      );
      const text = await registry.metrics();
      assert.match(text, /roster_webhook_delivery_latency_seconds_count 3/);
      assert.match(text, /roster_webhook_workers\{state="busy"\} \d/);
      assert.match(text, /roster_webhook_workers\{state="idle"\} \d/);
      assert.match(text, /roster_webhook_endpoints_due \d/);
      assert.match(text, /roster_webhook_breakers\{state="open"\} 0/);
    });

    test('a type filter: other events are skipped, and the cursor still moves past them', async (t) => {
      const { sink, endpoint } = await endpointTo(t, ok, { event_types: ['user.deleted'] });
      run(t);
      await b.createUsers(3);
      const max = await b.deliveries.maxSequence();
      await eventually('the cursor past filtered events', async () => (await b.webhooks.get(endpoint.id)).cursor === max);
      assert.equal(sink.requests.length, 0);
    });

    test('500: retried on the durable schedule, and nothing behind it overtakes (ordered)', async (t) => {
      let failures = 2;
      const { sink, endpoint, secret } = await endpointTo(t, (_req, res) => {
        if (failures-- > 0) res.writeHead(500).end('on fire');
        else res.writeHead(200).end();
      });
      run(t);
      await b.createUsers(2);
      await eventually('4 requests', () => sink.requests.length >= 4);
      const seqs = sequences(sink, secret);
      assert.equal(seqs[0], seqs[1]);
      assert.equal(seqs[0], seqs[2]);
      assert.ok(seqs[3]! > seqs[0]!);
      await eventually('the log', async () => (await log(endpoint)).length === 4);
      const attempts = (await log(endpoint)).reverse();
      assert.deepEqual(
        attempts.map((a) => [a.attempt, a.outcome, a.status]),
        [
          [1, 'retryable', 500],
          [2, 'retryable', 500],
          [3, 'success', 200],
          [1, 'success', 200],
        ],
      );
      assert.equal(attempts[0]!.responseBody, 'on fire');
      // The timestamp is the attempt's, so a late retry never verifies as "too old".
      const stamps = sink.requests.map((r) => Number(r.headers['webhook-timestamp']));
      assert.ok(stamps.every((s) => Math.abs(s - Date.now() / 1000) < 60));
      assert.equal((await b.webhooks.get(endpoint.id)).failingSince, null);
    });

    for (const [name, fault, code] of [
      ['timing out (no headers)', () => undefined, 'headers-timeout'],
      [
        'hanging after the headers',
        (res: Parameters<SinkHandler>[1]) => {
          res.writeHead(200);
          res.flushHeaders();
          res.write('part');
        },
        'body-timeout',
      ],
      [
        'closing the connection',
        (_res: Parameters<SinkHandler>[1], socket: Parameters<SinkHandler>[2]) => socket.destroy(),
        'connection-reset',
      ],
    ] as const) {
      test(`an endpoint ${name}: recorded as ${code}, retried until it answers`, async (t) => {
        let failures = 1;
        const { sink, endpoint, secret } = await endpointTo(t, (_req, res, socket) => {
          if (failures-- > 0) fault(res, socket);
          else res.writeHead(200).end();
        });
        run(t);
        await b.createUsers(1);
        await eventually('the retry', () => sink.requests.length >= 2);
        const [first, second] = sequences(sink, secret);
        assert.equal(first, second);
        await eventually('the log', async () => (await log(endpoint)).length === 2);
        const [success, failure] = await log(endpoint);
        assert.equal(failure!.outcome, 'retryable');
        assert.equal(failure!.errorCode, code);
        assert.equal(success!.outcome, 'success');
        assert.equal(success!.attempt, 2);
      });
    }

    test('429 with Retry-After: the next attempt waits at least that long', async (t) => {
      let failures = 1;
      const { sink, endpoint } = await endpointTo(t, (_req, res) => {
        if (failures-- > 0) res.writeHead(429, { 'retry-after': '1' }).end();
        else res.writeHead(200).end();
      });
      const times: number[] = [];
      const handler = sink.requests;
      run(t);
      await b.createUsers(1);
      await eventually('the retry', () => handler.length >= 2, 5_000);
      await eventually('both attempts logged', async () => (await log(endpoint)).length >= 2);
      const [first, second] = await log(endpoint).then((a) => a.reverse());
      times.push(first!.attemptedAt.getTime(), second!.attemptedAt.getTime());
      assert.ok(times[1]! - times[0]! >= 1_000, `waited ${times[1]! - times[0]!} ms`);
      assert.equal(first!.status, 429);
    });

    test('410 Gone: the endpoint is disabled at once, with a webhook_endpoint.disabled event', async (t) => {
      const { sink, endpoint } = await endpointTo(t, (_req, res) => res.writeHead(410).end());
      run(t);
      await b.createUsers(3);
      await eventually('disabled', async () => !(await b.webhooks.get(endpoint.id)).enabled);
      const disabled = await b.webhooks.get(endpoint.id);
      assert.equal(disabled.disabledReason, 'the endpoint answered 410 Gone');
      assert.equal(sink.requests.length, 1, 'nothing more is sent');
      // On PostgreSQL the event is in the feed once numbered, just after the disabling commit.
      const disabledEvent = async () =>
        (await feed().feed({ limit: 1000, type: 'webhook_endpoint.disabled' })).events.find((e) => e.subjectId === endpoint.id);
      await eventually('the disabled event', async () => (await disabledEvent()) !== undefined);
      const event = await disabledEvent();
      assert.equal(event?.actor, 'system:webhooks');
      assert.equal(event.data.reason, 'gone');
      assert.equal((await log(endpoint))[0]!.outcome, 'gone');
    });

    test('failing for the whole horizon: disabled with its event; sporadic failures never disable', async (t) => {
      const { endpoint } = await endpointTo(t, (_req, res) => res.writeHead(503).end());
      run(t, { pastHorizon: (since, now) => now.getTime() - since.getTime() >= 300 });
      await b.createUsers(1);
      await eventually('disabled', async () => !(await b.webhooks.get(endpoint.id)).enabled);
      assert.equal((await b.webhooks.get(endpoint.id)).disabledReason, 'every delivery failed for the whole retry horizon');
      const disabledEvent = async () =>
        (await feed().feed({ limit: 1000, type: 'webhook_endpoint.disabled' })).events.find((e) => e.subjectId === endpoint.id);
      await eventually('the disabled event', async () => (await disabledEvent()) !== undefined);
      assert.equal((await disabledEvent())?.data.reason, 'horizon');
      assert.ok((await log(endpoint)).length >= 2);
    });

    test('a name that does not resolve (NXDOMAIN): refused for good, not retried; the cursor moves on', async (t) => {
      const { endpoint } = await b.webhooks.create({ url: 'http://no-such-host.test:9/hook' });
      t.after(() => b.webhooks.update(endpoint.id, { enabled: false }));
      run(t, { resolve: resolver({}) });
      await b.createUsers(2);
      await eventually('two attempts', async () => (await log(endpoint)).length === 2);
      const attempts = await log(endpoint);
      assert.ok(attempts.every((a) => a.outcome === 'permanent' && a.errorCode === 'dns-not-found' && a.attempt === 1));
    });

    test('a DNS failure for now (EAI_AGAIN, SERVFAIL): retried, then delivered once the name resolves', async (t) => {
      const sink = await startSink(ok);
      t.after(() => sink.close());
      const { endpoint, secret } = await b.webhooks.create({ url: `http://flaky-dns.test:${sink.port}/hook` });
      t.after(() => b.webhooks.update(endpoint.id, { enabled: false }));
      let failures = 1;
      run(t, {
        resolve: async (hostname) => {
          if (failures-- > 0) throw Object.assign(new Error(`getaddrinfo EAI_AGAIN ${hostname}`), { code: 'EAI_AGAIN' });
          return [{ address: '127.0.0.1', family: 4 }];
        },
        allowList: AllowList.parse('flaky-dns.test'),
      });
      await b.createUsers(1);
      await eventually('the delivery', () => sink.requests.length === 1);
      verifyAll(sink.requests, secret);
      await eventually('the log', async () => (await log(endpoint)).length === 2);
      const [success, failure] = await log(endpoint);
      assert.equal(failure!.errorCode, 'dns-unavailable');
      assert.equal(failure!.outcome, 'retryable');
      assert.equal(success!.attempt, 2);
    });

    test('the retry budget: when it is spent, retries are postponed (counted), not sent and not dropped', async (t) => {
      const registry = new Registry();
      const metrics = webhookMetrics(registry);
      const { sink, endpoint } = await endpointTo(t, (_req, res) => res.writeHead(503).end());
      run(t, { metrics, budget: new RetryBudget({ ratio: 0, minPerSecond: 0 }), budgetPostponeMs: 20 });
      await b.createUsers(1);
      await eventually(
        'retries postponed',
        async () => Number(/^roster_webhook_retries_postponed_total (\d+)$/m.exec(await registry.metrics())?.[1] ?? 0) >= 2,
      );
      assert.equal(sink.requests.length, 1, 'only the first attempt went out');
      const state = await b.webhooks.get(endpoint.id);
      assert.equal(state.attempt, 2, 'the retry is still due');
      assert.ok(state.nextAttemptAt.getTime() <= Date.now() + 1_000);
    });

    test('SSRF at delivery: a name that resolves to loopback is refused without an allow-list entry', async (t) => {
      const sink = await startSink(ok);
      t.after(() => sink.close());
      const { endpoint } = await b.webhooks.create({ url: `http://rebind.test:${sink.port}/hook` });
      t.after(() => b.webhooks.update(endpoint.id, { enabled: false }));
      run(t, { resolve: resolver({ 'rebind.test': '127.0.0.1' }), allowList: AllowList.none });
      await b.createUsers(1);
      await eventually('the refusal', async () => (await log(endpoint)).length === 1);
      const [attempt] = await log(endpoint);
      assert.equal(attempt!.errorCode, 'target-forbidden');
      assert.equal(attempt!.outcome, 'permanent');
      assert.equal(sink.requests.length, 0);
    });

    test('unordered: a failed event is parked for retry and the ones behind it go on', async (t) => {
      let failFirst = true;
      const { sink, endpoint, secret } = await endpointTo(
        t,
        (_req, res) => {
          if (failFirst) {
            failFirst = false;
            res.writeHead(500).end();
          } else res.writeHead(200).end();
        },
        { ordered: false },
      );
      // All three events exist before the dispatcher starts: created while it ran, a third one
      // written after the retry came due (a busy machine) was rightly sent after that retry.
      await b.createUsers(3);
      run(t, { schedule: ({ now }) => new Date(now.getTime() + 1000) });
      await eventually('four requests', () => sink.requests.length >= 4);
      const seqs = sequences(sink, secret);
      // The first event failed, the two after it went before its retry.
      assert.equal(seqs[3], seqs[0]);
      assert.ok(seqs[1]! > seqs[0]! && seqs[2]! > seqs[1]!);
      await eventually('the parked retry logged', async () => (await log(endpoint)).some((a) => a.attempt === 2 && !a.replay));
    });

    test('replay of one event and of everything since a time: sent again with the same webhook-id', async (t) => {
      const { sink, endpoint, secret } = await endpointTo(t, ok);
      run(t);
      const since = new Date();
      await b.createUsers(2);
      await eventually('2 deliveries', () => sink.requests.length >= 2);
      const [first] = verifyAll(sink.requests, secret);
      await b.webhooks.replay(endpoint.id, { eventId: first!.id });
      await eventually('the replay', () => sink.requests.length >= 3);
      assert.equal(sink.requests[2]!.headers['webhook-id'], first!.id);
      assert.deepEqual(await b.webhooks.replay(endpoint.id, { since: since.toISOString() }), { enqueued: 2 });
      await eventually('the replay since', () => sink.requests.length >= 5);
      verifyAll(sink.requests, secret);
      // The sink records a request before answering it: the log row follows the answer.
      await eventually('3 replays logged', async () => (await log(endpoint)).filter((a) => a.replay).length === 3);
    });

    test('one dead endpoint among healthy ones: its breaker opens and the healthy ones keep their pace', async (t) => {
      const healthy = await Promise.all([1, 2, 3].map(() => endpointTo(t, ok)));
      const dead = await endpointTo(t, () => undefined); // never answers: each attempt costs a timeout
      run(t, { breakers: new BreakerRegistry({ failureThreshold: 2, initialCooldownMs: 60_000 }) });
      const started = Date.now();
      await b.createUsers(20);
      for (const { sink } of healthy) await eventually('healthy deliveries', () => sink.requests.length >= 20, 15_000);
      const elapsed = Date.now() - started;
      // 20 events to 3 healthy endpoints on a loopback: a second or two, not 20 timeouts.
      assert.ok(elapsed < 10_000, `healthy endpoints took ${elapsed} ms`);
      // The dead one was tried until its breaker opened, then left alone.
      assert.ok(dead.sink.requests.length <= 3, `dead endpoint got ${dead.sink.requests.length} attempts`);
      for (const { sink, secret } of healthy) assert.equal(new Set(sequences(sink, secret)).size, 20);
    });

    test('workers that ask for the newest sequence together, with no commit announced between, share one read', async (t) => {
      const reads = heldReads(b.deliveries);
      const endpoints = await Promise.all([1, 2, 3].map(() => endpointTo(t, ok)));
      await b.createUsers(1);
      reads.holdNext();
      run(t, { store: reads.store, leaseMs: 60_000 });
      // Each worker reads its due replays, then (with no I/O between) asks for the newest sequence.
      await eventually('three workers past their replays', () => reads.replaysRead() >= 3);
      assert.equal(reads.count(), 1, 'one read serves the three workers');
      reads.release();
      for (const { sink } of endpoints) await eventually('the event at each endpoint', () => sink.requests.length === 1);
      assert.equal(reads.count(), 1);
    });

    test('a read of the newest sequence started before a commit was announced never serves a worker that asks after it', async (t) => {
      const reads = heldReads(b.deliveries);
      const fast = await endpointTo(t, ok);
      const slow = await endpointTo(t, ok);
      const client = new WebhookHttpClient({ allowList: LOOPBACK });
      t.after(() => client.close());
      // The slow endpoint's first attempt waits (before it is sent) until the test lets it go.
      let slowStarted = false;
      let letSlowGo!: () => void;
      const slowGate = new Promise<void>((resolve) => (letSlowGo = resolve));
      const gated = {
        async deliver(request: DeliveryRequest) {
          if (String(request.url) === slow.sink.url() && !slowStarted) {
            slowStarted = true;
            await slowGate;
          }
          return client.deliver(request);
        },
      };
      run(t, { store: reads.store, client: gated, leaseMs: 60_000 });
      await b.createUsers(1);
      await eventually(
        'the first event at the fast endpoint, the slow one holding it',
        () => fast.sink.requests.length === 1 && slowStarted,
      );
      // The next read (the fast endpoint's, for the second event) is held...
      reads.holdNext();
      await b.createUsers(1);
      await eventually('a read held', () => reads.holding());
      // ...and a third commit is announced while it is in flight.
      await b.createUsers(1);
      letSlowGo();
      // The slow endpoint's worker saw the announcement: its next round must not take the held
      // read (which may predate the third event); it reads for itself and delivers both.
      await eventually('three events at the slow endpoint while the older read is held', () => slow.sink.requests.length === 3);
      assert.equal(fast.sink.requests.length, 1);
      reads.release();
      await eventually('three events at the fast endpoint', () => fast.sink.requests.length === 3);
      for (const { sink, secret } of [fast, slow]) {
        const seqs = sequences(sink, secret);
        assert.deepEqual(
          seqs,
          [...seqs].sort((x, y) => x - y),
        );
        assert.equal(new Set(seqs).size, 3);
      }
    });

    test('a settlement may skip its flush wait only within a quarter of a lease of the claim or the previous settlement', async (t) => {
      // The first attempt is slow (longer than a quarter of the 2 s lease), the others answer at once.
      let answered = 0;
      const { sink } = await endpointTo(t, (_req, res) => {
        if (answered++ === 0) setTimeout(() => res.writeHead(204).end(), 700);
        else res.writeHead(204).end();
      });
      await b.createUsers(3);
      const skipped: boolean[] = [];
      const store = overriding(b.deliveries, {
        settle: (owner, id, settlement, leaseUntil) => {
          skipped.push(settlement.skipFlushWait === true);
          return b.deliveries.settle(owner, id, settlement, leaseUntil);
        },
      });
      run(t, { store, leaseMs: 2_000 });
      await eventually('3 deliveries', () => sink.requests.length >= 3);
      await eventually('settled', () => skipped.length >= 2);
      assert.equal(skipped[0], false, 'the settlement after the slow attempt waits for its flush');
      assert.equal(skipped.at(-1), true, 'the next one, soon after it, need not');
    });

    /** b.deliveries with its settlements counted and the first one held until `release()` (or, given, `fallbackMs`). */
    function firstSettlementHeld(fallbackMs?: number) {
      let calls = 0;
      let running = 0;
      let mostAtOnce = 0;
      let held = false;
      let releasedAt = Infinity;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const timer = fallbackMs === undefined ? undefined : setTimeout(() => release(), fallbackMs);
      const release = () => {
        if (releasedAt === Infinity) releasedAt = performance.now();
        clearTimeout(timer);
        open();
      };
      const store = overriding(b.deliveries, {
        async settle(owner, id, settlement, leaseUntil) {
          mostAtOnce = Math.max(mostAtOnce, ++running);
          try {
            if (calls++ === 0) {
              held = true;
              await gate;
              held = false;
            }
            return await b.deliveries.settle(owner, id, settlement, leaseUntil);
          } finally {
            running--;
          }
        },
      });
      return { store, release, holding: () => held, releasedAt: () => releasedAt, mostAtOnce: () => mostAtOnce };
    }

    test("a group's settlement runs behind the next deliveries; the one after it waits for its answer", async (t) => {
      const { sink, endpoint, secret } = await endpointTo(t, ok);
      const settlements = firstSettlementHeld();
      t.after(() => settlements.release());
      await b.createUsers(6);
      run(t, { store: settlements.store, settleEvery: 2, settleIntervalMs: 60_000 });
      // Events 1–2 are settled behind; 3–4 go out meanwhile; the settlement of 3–4 waits for the first.
      await eventually('4 deliveries while the first settlement is held', () => sink.requests.length === 4 && settlements.holding());
      settlements.release();
      await eventually('6 deliveries', () => sink.requests.length === 6);
      const seqs = sequences(sink, secret);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
      );
      assert.equal(new Set(seqs).size, 6);
      await eventually('6 log rows', async () => (await log(endpoint)).length === 6);
      await eventually('the cursor', async () => (await b.webhooks.get(endpoint.id)).cursor === Math.max(...seqs));
      assert.equal(settlements.mostAtOnce(), 1, "an endpoint's settlements never overlap");
    });

    test('behind a settlement, no attempt starts once an eighth of the lease has passed since the last confirmed one', async (t) => {
      const { sink } = await endpointTo(t, ok);
      const client = new WebhookHttpClient({ allowList: LOOPBACK });
      t.after(() => client.close());
      // Should the machine be too slow for the third attempt to start within an eighth of the lease,
      // that attempt waits for the held settlement: the fallback lets it go, and the test still holds.
      const settlements = firstSettlementHeld(5_000);
      t.after(() => settlements.release());
      const started: number[] = [];
      // The dispatcher's monotonic clock, which the third attempt moves on instead of sleeping.
      let skipped = 0;
      const monotonic = () => performance.now() + skipped;
      const slow = {
        async deliver(request: DeliveryRequest) {
          started.push(performance.now());
          // The third attempt outlasts an eighth of the 4 s lease (counted from the claim).
          if (started.length === 3) skipped += 1_000;
          const result = await client.deliver(request);
          // Released a turn of the event loop later: a fourth attempt started behind the settlement
          // would start before that, straight after this one returns (no I/O between them).
          if (started.length === 3) setImmediate(() => settlements.release());
          return result;
        },
      };
      await b.createUsers(4);
      run(t, { store: settlements.store, client: slow, monotonic, leaseMs: 4_000, settleEvery: 2, settleIntervalMs: 60_000 });
      await eventually('4 deliveries', () => sink.requests.length === 4);
      assert.ok(started[3]! >= settlements.releasedAt(), "the fourth attempt started before the first settlement's answer");
    });

    test('after a full batch the next one is read while it is delivered; a retry drops that read and order holds', async (t) => {
      let failures = 1;
      const { sink, secret } = await endpointTo(t, (_req, res) => {
        if (failures-- > 0) res.writeHead(500).end();
        else res.writeHead(204).end();
      });
      await b.createUsers(5);
      const steps: string[] = [];
      const store = overriding(b.deliveries, {
        eventsAfter: (after, ...rest) => {
          steps.push(`read after ${after}`);
          return b.deliveries.eventsAfter(after, ...rest);
        },
      });
      const client = new WebhookHttpClient({ allowList: LOOPBACK });
      t.after(() => client.close());
      const logged = {
        async deliver(request: DeliveryRequest) {
          const result = await client.deliver(request);
          steps.push(`delivered ${(JSON.parse(String(request.body)) as { sequence: number }).sequence} ${result.outcome}`);
          return result;
        },
      };
      run(t, { store, client: logged, batchSize: 2 });
      await eventually('5 events delivered', () => new Set(sequences(sink, secret)).size === 5);
      const delivered = sequences(sink, secret).filter((seq, i, all) => all.indexOf(seq) === i);
      assert.deepEqual(
        delivered,
        [...delivered].sort((x, y) => x - y),
        'in order, the retried first event before the rest',
      );
      // A serve that brought a full batch read the next one before its first attempt answered.
      const [first, second] = [delivered[1]!, delivered[3]!];
      const readAhead = steps.indexOf(`read after ${second}`);
      assert.ok(readAhead >= 0 && readAhead < steps.indexOf(`delivered ${second - 1} success`), steps.join('\n'));
      assert.ok(steps.indexOf(`read after ${first}`) >= 0, steps.join('\n'));
    });

    test('stop: attempts in flight finish, nothing stays leased, and a new dispatcher carries on', async (t) => {
      const { sink, endpoint, secret } = await endpointTo(t, (_req, res) => {
        setTimeout(() => res.writeHead(200).end(), 200);
      });
      const first = b.dispatcher();
      first.start();
      await b.createUsers(3);
      await eventually('a request in flight', () => sink.requests.length >= 1);
      await first.stop(2_000);
      const leased = await testDb.database.db.selectFrom('webhook_endpoints').select('id').where('lease_owner', 'is not', null).execute();
      assert.deepEqual(leased, []);
      const logged = (await log(endpoint)).length;
      assert.ok(logged >= 1, 'the attempt in flight finished and was recorded');
      const delivered = sink.requests.length;
      run(t);
      await eventually('the rest', () => new Set(sequences(sink, secret)).size === 3);
      assert.ok(sink.requests.length <= delivered + 3);
    });
  });
}
