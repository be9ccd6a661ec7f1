// The dispatcher wakes when events commit: in process at once, across instances through
// PostgreSQL's LISTEN/NOTIFY, never for a rolled-back transaction; polling stays the safety net.
// Poll intervals of an hour make sure only a wake-up can deliver where the test says so.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sql } from 'kysely';
import { EventCommits } from '../../src/events/commits.js';
import { EVENTS_CHANNEL, PostgresCommitListener } from '../../src/events/sql-commit-listener.js';
import { createLogger } from '../../src/observability/logger.js';
import type { Wakeups } from '../../src/webhooks/dispatcher.js';
import type { DeliveryStore } from '../../src/webhooks/delivery-store.js';
import { dialects, postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.js';
import { bench, eventually, inProcessWakeups, type Bench } from './harness.js';
import { startSink } from './sink.js';

const HOUR = 3_600_000;

/**
 * The dispatcher's store, counting finished claims: once the first one is counted the
 * dispatcher is asleep until a wake-up or its poll, so what it delivers after a write made then
 * was found by that wake-up or that poll, not by its first claim.
 */
function countingClaims(store: DeliveryStore): { store: DeliveryStore; claims: () => number } {
  let claims = 0;
  const counted = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (key !== 'claim') return (value as (...a: unknown[]) => unknown).bind(target);
      return async (...args: Parameters<DeliveryStore['claim']>) => {
        const claimed = await store.claim(...args);
        claims++;
        return claimed;
      };
    },
  });
  return { store: counted, claims: () => claims };
}
const silent = createLogger('silent');

for (const [dialect, open, skip] of await dialects()) {
  describe(`webhook wake-ups on ${dialect}`, { skip }, () => {
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

    async function endpoint(t: TestContext) {
      const sink = await startSink((_req, res) => res.writeHead(204).end());
      t.after(() => sink.close());
      const { endpoint: created } = await b.webhooks.create({ url: sink.url() });
      t.after(() => b.webhooks.update(created.id, { enabled: false }));
      return sink;
    }
    const subjects = (sink: { requests: { body: Buffer }[] }) =>
      sink.requests.map((r) => (JSON.parse(r.body.toString()) as { data: { user: { email: string } } }).data.user.email);

    // A regression bound, not a duration check: before the fix, stop() during a claim waited out the hour-long poll.
    test('stop() while a claim is in flight ends the loop, with the poll an hour away', { timeout: 120_000 }, async () => {
      let entered!: () => void;
      const claimEntered = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const claimReleased = new Promise<void>((resolve) => (release = resolve));
      let claims = 0;
      const store = new Proxy(b.deliveries, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver) as unknown;
          if (typeof value !== 'function') return value;
          if (key !== 'claim') return (value as (...a: unknown[]) => unknown).bind(target);
          return async (...args: Parameters<DeliveryStore['claim']>) => {
            claims++;
            entered();
            await claimReleased;
            return target.claim(...args);
          };
        },
      });
      const dispatcher = b.dispatcher({ store, pollIntervalMs: HOUR, idlePollIntervalMs: HOUR });
      dispatcher.start();
      await claimEntered;
      // stop() finds the loop inside the claim, with no wait to cut short yet.
      const stopped = dispatcher.stop(1_000);
      release();
      await stopped;
      assert.equal(claims, 1, 'the loop made no second claim after the stop');
    });

    test('a committed event is delivered at once, with the poll an hour away', async (t) => {
      const sink = await endpoint(t);
      const counting = countingClaims(b.deliveries);
      const dispatcher = b.dispatcher({ store: counting.store, pollIntervalMs: HOUR, idlePollIntervalMs: HOUR });
      dispatcher.start();
      t.after(() => dispatcher.stop(1_000));
      await eventually('the first claim is done', () => counting.claims() > 0);
      await b.users.create({ email: 'woken@example.com', name: 'Woken' }, undefined);
      await eventually('the event is delivered by the wake-up', () => sink.requests.length === 1);
      // A burst: each commit wakes, the dispatcher claims in a few rounds and delivers all in order.
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => b.users.create({ email: `burst-${i}@example.com`, name: 'Burst' }, undefined)),
      );
      await eventually('the burst is delivered', () => sink.requests.length === 51);
    });

    test('a rolled-back change announces nothing and delivers nothing', async (t) => {
      const sink = await endpoint(t);
      let announced = 0;
      const unsubscribe = b.commits.subscribe(() => announced++);
      t.after(unsubscribe);
      const counting = countingClaims(b.deliveries);
      const dispatcher = b.dispatcher({ store: counting.store, pollIntervalMs: HOUR, idlePollIntervalMs: HOUR });
      dispatcher.start();
      t.after(() => dispatcher.stop(1_000));
      await eventually('the first claim is done', () => counting.claims() > 0);
      await b.users.create({ email: 'taken@example.com', name: 'First' }, undefined);
      assert.equal(announced, 1);
      await assert.rejects(b.users.create({ email: 'taken@example.com', name: 'Second' }, undefined), { code: 'email-taken' });
      const { user } = await b.users.create({ email: 'third@example.com', name: 'Third' }, undefined);
      // An update that changes nothing writes no event and announces nothing either.
      await b.users.update(user.id, { name: 'Third' }, undefined);
      assert.equal(announced, 2, 'only the two commits were announced');
      await eventually('both committed events are delivered', () => sink.requests.length === 2);
      assert.deepEqual(subjects(sink), ['taken@example.com', 'third@example.com']);
    });

    test('notifications lost: the idle poll still delivers', async (t) => {
      const sink = await endpoint(t);
      // Announcements that never come, while claiming to be live: only the safety-net poll can deliver.
      const deaf: Wakeups = { live: true, start: () => undefined, stop: () => Promise.resolve() };
      const counting = countingClaims(b.deliveries);
      const dispatcher = b.dispatcher({ store: counting.store, pollIntervalMs: HOUR, idlePollIntervalMs: 200, wakeups: deaf });
      dispatcher.start();
      t.after(() => dispatcher.stop(1_000));
      await eventually('the first claim is done', () => counting.claims() > 0);
      await b.users.create({ email: 'polled@example.com', name: 'Polled' }, undefined);
      await eventually('the poll delivers it', () => sink.requests.length === 1);
    });

    test('wake-ups not live (the listener reconnecting): the short poll delivers', async (t) => {
      const sink = await endpoint(t);
      const down: Wakeups = { live: false, start: () => undefined, stop: () => Promise.resolve() };
      const counting = countingClaims(b.deliveries);
      const dispatcher = b.dispatcher({ store: counting.store, pollIntervalMs: 50, idlePollIntervalMs: HOUR, wakeups: down });
      dispatcher.start();
      t.after(() => dispatcher.stop(1_000));
      await eventually('the first claim is done', () => counting.claims() > 0);
      await b.users.create({ email: 'short-poll@example.com', name: 'Short' }, undefined);
      await eventually('the short poll delivers it', () => sink.requests.length === 1);
    });
  });
}

describe('PostgreSQL LISTEN/NOTIFY', { skip: await postgresUnavailable() }, () => {
  let testDb: TestDatabase;
  let b: Bench;
  before(async () => {
    testDb = await postgresTestDatabase();
    b = await bench(testDb);
  });
  after(async () => {
    await b?.close();
    await testDb?.cleanup();
  });

  function listener(t: TestContext, onCommit: () => void): PostgresCommitListener {
    const l = new PostgresCommitListener({ url: testDb.url, onCommit, logger: silent, reconnect: { baseMs: 20, maxMs: 200 } });
    l.start();
    t.after(() => l.stop());
    return l;
  }
  const notify = (client: pg.ClientBase) => client.query(`select pg_notify('${EVENTS_CHANNEL}', current_schema())`);

  test("a writer's commit is heard by another instance's listener; a transaction that failed sends nothing", async (t) => {
    let heard = 0;
    const l = listener(t, () => heard++);
    await eventually('listening', () => l.listening);
    const afterConnect = heard; // the listener calls once after connecting, for what it missed
    await b.users.create({ email: 'first@example.com', name: 'First' }, undefined);
    await eventually('the commit is heard', () => heard > afterConnect);
    const settled = heard;
    // b.users is wired as src/compose wires it: a create that fails (the email is taken) rolls
    // back, announces nothing and so notifies nothing; the marker's notification, sent after,
    // arrives after any the failure could have sent.
    await assert.rejects(b.users.create({ email: 'first@example.com', name: 'Again' }, undefined));
    await notifyFrom(t);
    await eventually('the marker is heard', () => heard > settled);
    assert.equal(heard, settled + 1, 'only the marker was heard after the failed create');
  });

  async function notifyFrom(t: TestContext): Promise<void> {
    const client = new pg.Client({ connectionString: testDb.url });
    await client.connect();
    t.after(() => client.end());
    await notify(client);
  }

  test('a commit through instance A wakes the dispatcher of instance B', async (t) => {
    const sink = await startSink((_req, res) => res.writeHead(204).end());
    t.after(() => sink.close());
    const { endpoint } = await b.webhooks.create({ url: sink.url() });
    t.after(() => b.webhooks.update(endpoint.id, { enabled: false }));
    // Instance B: its own commit feed, fed only by its listening connection, and an hour-long poll.
    const commitsOfB = new EventCommits();
    const l = listener(t, commitsOfB.announce);
    await eventually('B listens', () => l.listening);
    const counting = countingClaims(b.deliveries);
    const dispatcherOfB = b.dispatcher({
      store: counting.store,
      pollIntervalMs: HOUR,
      idlePollIntervalMs: HOUR,
      wakeups: inProcessWakeups(commitsOfB),
    });
    dispatcherOfB.start();
    t.after(() => dispatcherOfB.stop(1_000));
    await eventually('the first claim is done', () => counting.claims() > 0);
    // Instance A: b.users, whose commits are announced in its own process (where no dispatcher
    // runs) and notified through PostgreSQL, as src/compose wires them.
    await b.users.create({ email: 'across@example.com', name: 'Across' }, undefined);
    await eventually('B delivers the event A committed', () => sink.requests.length === 1);
  });

  test('the listening connection killed (pg_terminate_backend): it reconnects and hears commits again', async (t) => {
    let heard = 0;
    const l = listener(t, () => heard++);
    await eventually('listening', () => l.listening);
    const { db } = testDb.database;
    const pids = async () =>
      (
        await sql<{ pid: number }>`select pid from pg_stat_activity
          where application_name = 'roster-events-listener' and datname = current_database()`.execute(db)
      ).rows.map((r) => r.pid);
    const [before] = await pids();
    assert.ok(before !== undefined);
    await sql`select pg_terminate_backend(${before})`.execute(db);
    await eventually('listening again on a new connection', async () => {
      const now = await pids();
      return l.listening && now.length === 1 && now[0] !== before;
    });
    const reconnected = heard;
    const client = new pg.Client({ connectionString: testDb.url });
    await client.connect();
    t.after(() => client.end());
    await notify(client);
    await eventually('the notification after the reconnect is heard', () => heard === reconnected + 1);
  });
});
