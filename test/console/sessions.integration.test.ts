// ConsoleSessions over the real SQL store on SQLite and PostgreSQL: only the token's hash is
// stored, idle and absolute expiry, the idle expiry moved on at most once a minute, sign-out,
// and pruning of expired rows at sign-in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsoleSessions, csrfMatches, sessionId } from '../../src/console/sessions.js';
import { SqlSessionStore } from '../../src/console/sql-session-store.js';
import type { Database } from '../../src/db/database.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';

class Clock {
  ms = Date.parse('2100-01-01T00:00:00.000Z');
  now = () => new Date(this.ms);
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

const POLICY = { idleMs: 30 * 60_000, absoluteMs: 2 * 3_600_000 };

for (const [dialect, open, skip] of await dialects()) {
  describe(`console sessions on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let db: Database;
    before(async () => {
      testDb = await open();
      db = testDb.database;
    });
    after(async () => testDb?.cleanup());

    const sessions = (clock: Clock) =>
      new ConsoleSessions({ store: new SqlSessionStore(db.db, db.dialect), policy: POLICY, now: clock.now });
    const rows = () => db.db.selectFrom('console_sessions').selectAll().execute();

    test('the row holds the SHA-256 of the token, never the token; resume finds it by the token', async () => {
      const clock = new Clock();
      const { token, session } = await sessions(clock).start('key-a');
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      const stored = (await rows()).find((r) => r.key_id === 'key-a');
      assert.ok(stored);
      assert.equal(stored.id, sessionId(token));
      assert.ok(!JSON.stringify(stored).includes(token), 'the token itself is not stored');
      const resumed = await sessions(clock).resume(token);
      assert.equal(resumed?.record.keyId, 'key-a');
      assert.equal(resumed?.csrfToken, session.csrfToken, 'every instance derives the same CSRF token');
      assert.ok(csrfMatches(resumed, session.csrfToken));
      assert.ok(!csrfMatches(resumed, `${session.csrfToken.slice(0, -1)}x`));
      assert.ok(!csrfMatches(resumed, undefined));
    });

    test('malformed and unknown tokens resume nothing', async () => {
      const clock = new Clock();
      for (const token of [undefined, '', 'short', 'x'.repeat(43), `${'a'.repeat(42)}!`]) {
        assert.equal(await sessions(clock).resume(token), undefined, String(token));
      }
    });

    test('idle expiry ends a session and deletes its row; use within a minute writes nothing, later moves it on', async () => {
      const clock = new Clock();
      const { token } = await sessions(clock).start('key-idle');
      const id = sessionId(token);
      const idleOf = async () => db.dialect.fromTime((await rows()).find((r) => r.id === id)!.idle_expires_at).getTime();
      const first = await idleOf();
      clock.advance(30);
      assert.ok(await sessions(clock).resume(token));
      assert.equal(await idleOf(), first, 'no write within a minute of the last');
      clock.advance(20 * 60);
      assert.ok(await sessions(clock).resume(token));
      assert.equal(await idleOf(), clock.ms + POLICY.idleMs, 'moved on from this use');
      clock.advance(30 * 60);
      assert.equal(await sessions(clock).resume(token), undefined, 'idle for the whole idle time: ended');
      assert.equal((await rows()).filter((r) => r.id === id).length, 0, 'the expired row is gone');
    });

    test('absolute expiry ends a busy session; the idle expiry never passes it', async () => {
      const clock = new Clock();
      const { token } = await sessions(clock).start('key-busy');
      for (let minutes = 0; minutes < 115; minutes += 5) {
        clock.advance(5 * 60);
        assert.ok(await sessions(clock).resume(token), `still live after ${minutes + 5} minutes of use`);
      }
      const row = (await rows()).find((r) => r.id === sessionId(token))!;
      assert.ok(db.dialect.fromTime(row.idle_expires_at) <= db.dialect.fromTime(row.absolute_expires_at));
      clock.advance(5 * 60 + 1);
      assert.equal(await sessions(clock).resume(token), undefined);
    });

    test('sign-out deletes the row at once', async () => {
      const clock = new Clock();
      const { token } = await sessions(clock).start('key-out');
      await sessions(clock).end(token);
      assert.equal(await sessions(clock).resume(token), undefined);
      assert.equal((await rows()).filter((r) => r.id === sessionId(token)).length, 0);
    });

    test('a sign-in prunes expired sessions, and only those', async () => {
      const clock = new Clock();
      const stale = await Promise.all([1, 2, 3].map(() => sessions(clock).start('key-stale')));
      clock.advance(POLICY.idleMs / 1000 + 1);
      const fresh = await sessions(clock).start('key-fresh');
      const left = (await rows()).map((r) => r.id);
      for (const s of stale) assert.ok(!left.includes(sessionId(s.token)), 'expired sessions went');
      assert.ok(left.includes(sessionId(fresh.token)));
    });
  });
}
