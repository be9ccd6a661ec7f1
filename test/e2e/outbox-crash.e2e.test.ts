// "No change without its event, no event without its change — including when the process dies between."
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pollFor, ServerProcess } from '../helpers/server.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const [dialect, open, skip] of await dialects()) {
  describe(`SIGKILL during a burst of writes on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase | undefined;
    const servers: ServerProcess[] = [];
    after(async () => {
      for (const s of servers) await s.kill();
      await testDb?.cleanup();
    });

    test('after a restart, users and their events match one for one', async () => {
      testDb = await open();
      const first = await ServerProcess.start({ databaseUrl: testDb.url });
      servers.push(first);
      const key = first.apiKey;
      const auth = { authorization: `Bearer ${key}` };
      let stop = false;
      let acknowledged = 0;
      const writers = Array.from({ length: 16 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          try {
            const res = await fetch(`${first.url}/v1/users`, {
              method: 'POST',
              headers: { ...auth, 'content-type': 'application/json' },
              body: JSON.stringify({ email: `crash-${w}-${i}@example.com`, name: `Crash ${w}` }),
            });
            if (res.status === 201) acknowledged++;
            else await res.body?.cancel();
          } catch {
            return; // the server is gone
          }
        }
      });
      // Kill mid-burst: once some writes are acknowledged (bounded wait on a loaded machine).
      for (let waited = 0; acknowledged < 20 && waited < 10_000; waited += 20) await sleep(20);
      await first.kill(); // SIGKILL: no drain, transactions cut wherever they were
      stop = true;
      await Promise.all(writers);
      assert.ok(acknowledged > 0, 'some writes were acknowledged before the kill');

      const second = await ServerProcess.start({ databaseUrl: testDb.url, env: { ROSTER_BOOTSTRAP_KEY: 'off' } });
      servers.push(second);
      const userIds = new Set<string>();
      for (let cursor: string | null = ''; cursor !== null;) {
        const page = (await (
          await fetch(`${second.url}/v1/users?limit=200${cursor ? `&cursor=${cursor}` : ''}`, { headers: auth })
        ).json()) as {
          data: { id: string }[];
          next_cursor: string | null;
        };
        for (const u of page.data) userIds.add(u.id);
        cursor = page.next_cursor;
      }
      const createdSubjects = async () => {
        const subjects: string[] = [];
        for (let after = '0'; ;) {
          const page = (await (await fetch(`${second.url}/v1/events?after=${after}&limit=1000`, { headers: auth })).json()) as {
            data: { type: string; subject_id: string }[];
            next_after: string;
          };
          if (page.data.length === 0) return subjects;
          for (const e of page.data) if (e.type === 'user.created') subjects.push(e.subject_id);
          after = page.next_after;
        }
      };
      // On PostgreSQL an event committed by a writer killed before its numbering pass reaches the
      // feed from the restarted server's safety net (every second, events/sql-sequencer.ts): wait
      // for it rather than read once.
      const eventSubjects = await pollFor(
        'a user.created event in the feed for every stored user',
        async () => {
          const subjects = await createdSubjects();
          return subjects.length >= userIds.size && subjects;
        },
        { ms: 30_000, everyMs: 200 },
      );
      assert.ok(userIds.size >= acknowledged, `${userIds.size} users stored, ${acknowledged} acknowledged`);
      assert.equal(eventSubjects.length, userIds.size, 'one user.created event per stored user');
      assert.deepEqual(new Set(eventSubjects), userIds, 'the same users on both sides');
    });
  });
}
