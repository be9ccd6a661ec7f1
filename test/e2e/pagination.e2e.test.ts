// End to end: walking every page while other clients insert, delete and update users must
// never return a user twice and never skip one that existed throughout. Against the built
// server on a SQLite file and on PostgreSQL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dialects } from '../helpers/databases.js';
import type { PageJson, UserJson } from '../helpers/http.js';
import { inParallel, serverForSuite } from '../helpers/server.js';

const SEEDED = 300;
const PAGE = 7;

for (const [dialect, open, skip] of await dialects()) {
  describe(`pagination under concurrent writes on ${dialect}`, { skip }, () => {
    const suite = serverForSuite(open);

    async function send(method: string, path: string, body?: unknown, contentType = 'application/json') {
      const res = await fetch(`${suite.server.url}${path}`, {
        method,
        headers: body === undefined ? suite.server.auth : { ...suite.server.auth, 'content-type': contentType },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      return { status: res.status, text };
    }

    async function create(email: string, name: string): Promise<UserJson> {
      const { status, text } = await send('POST', '/v1/users', { email, name });
      assert.equal(status, 201, text);
      return JSON.parse(text) as UserJson;
    }

    test(`a limit=${PAGE} walk over ${SEEDED} users sees every survivor once while others write`, async () => {
      const seeded = await inParallel(
        Array.from({ length: SEEDED }, (_, i) => i),
        8,
        (i) => create(`seed-${i}@example.com`, `Seed ${i}`),
      );
      // Every sixth seeded user may be deleted during the walk; the rest must all be seen.
      const victims = seeded.filter((_, i) => i % 6 === 0);
      const survivors = seeded.filter((_, i) => i % 6 !== 0);
      // Delete from both ends of the id order, so deletions land ahead of and behind the cursor.
      const byId = [...victims].sort((a, b) => (a.id < b.id ? -1 : 1));
      const deletionOrder: UserJson[] = [];
      while (byId.length > 0) deletionOrder.push(...[byId.pop(), byId.shift()].filter((u): u is UserJson => u !== undefined));

      const known = new Set(seeded.map((u) => u.id));
      const churn: UserJson[] = [];
      let inserted = 0;
      let deleted = 0;
      let updated = 0;

      const insert = async () => {
        const user = await create(`churn-${inserted++}@example.com`, 'Churn');
        known.add(user.id);
        churn.push(user);
      };
      const remove = async () => {
        // Alternate between a seeded victim and a user inserted during the walk.
        const target = deleted % 2 === 0 ? (deletionOrder.shift() ?? churn.shift()) : (churn.shift() ?? deletionOrder.shift());
        if (!target) return;
        deleted++;
        const { status, text } = await send('DELETE', `/v1/users/${target.id}`);
        assert.equal(status, 204, text);
      };
      const update = async () => {
        const target = survivors[(updated++ * 37) % survivors.length]!;
        const { status, text } = await send(
          'PATCH',
          `/v1/users/${target.id}`,
          { name: `Renamed ${updated}` },
          'application/merge-patch+json',
        );
        assert.equal(status, 200, text);
      };

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        // Each page is fetched while two inserts, two deletes and an update are in flight.
        const query: string = cursor === null ? `limit=${PAGE}` : `limit=${PAGE}&cursor=${encodeURIComponent(cursor)}`;
        const [page] = await Promise.all([
          send('GET', `/v1/users?${query}`).then(({ status, text }) => {
            assert.equal(status, 200, text);
            return JSON.parse(text) as PageJson;
          }),
          insert(),
          insert(),
          remove(),
          remove(),
          update(),
        ]);
        assert.ok(page.data.length <= PAGE);
        seen.push(...page.data.map((u) => u.id));
        cursor = page.next_cursor;
        pages++;
        assert.ok(pages < 1000, 'the walk does not end');
      } while (cursor !== null);

      assert.equal(new Set(seen).size, seen.length, 'a user was returned twice');
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i - 1]! < seen[i]!, `ids out of order at ${i}`);
      const seenSet = new Set(seen);
      const missing = survivors.filter((u) => !seenSet.has(u.id));
      assert.deepEqual(
        missing.map((u) => u.email),
        [],
        'users that existed throughout were skipped',
      );
      for (const id of seen) assert.ok(known.has(id), `the walk returned an unknown id ${id}`);
      assert.ok(
        inserted >= pages * 2 && deleted > 0 && updated > 0,
        `writes happened: ${inserted} inserted, ${deleted} deleted, ${updated} updated`,
      );

      // Quiet now: one more walk sees exactly what the database holds.
      const after: string[] = [];
      let next: string | null = null;
      do {
        const query: string = next === null ? 'limit=200' : `limit=200&cursor=${encodeURIComponent(next)}`;
        const { status, text } = await send('GET', `/v1/users?${query}`);
        assert.equal(status, 200, text);
        const page = JSON.parse(text) as PageJson;
        after.push(...page.data.map((u) => u.id));
        next = page.next_cursor;
      } while (next !== null);
      const row = await suite.testDb.database.db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(after.length, Number(row.n));
      assert.equal(after.length, SEEDED + inserted - deleted);
    });
  });
}
