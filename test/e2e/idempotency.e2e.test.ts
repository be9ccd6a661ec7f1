// End to end: concurrent creates through the built suite.server. One Idempotency-Key sent by 20
// clients at once makes exactly one user; so does one email sent without a key. Against a
// SQLite file and PostgreSQL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dialects } from '../helpers/databases.js';
import { assertProblem, fromFetch, type PageJson, type UserJson } from '../helpers/http.js';
import { serverForSuite } from '../helpers/server.js';

const CLIENTS = 20;

interface Sent {
  readonly status: number;
  readonly replayed: string | null;
  readonly text: string;
  readonly res: Response;
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`concurrent creates on ${dialect}`, { skip }, () => {
    const suite = serverForSuite(open);

    async function post(body: unknown, key?: string): Promise<Sent> {
      const res = await fetch(`${suite.server.url}/v1/users`, {
        method: 'POST',
        headers: { ...suite.server.auth, 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      return { status: res.status, replayed: res.headers.get('idempotent-replayed'), text: await res.text(), res };
    }

    async function usersWithEmail(email: string): Promise<UserJson[]> {
      const res = await fetch(`${suite.server.url}/v1/users?limit=10&email=${encodeURIComponent(email)}`, {
        headers: suite.server.auth,
        signal: AbortSignal.timeout(30_000),
      });
      assert.equal(res.status, 200);
      return ((await res.json()) as PageJson).data;
    }

    test(`${CLIENTS} concurrent POSTs with one Idempotency-Key and one body create exactly one user`, async () => {
      const body = { email: 'once@example.com', name: 'Exactly Once', attributes: { attempt: 'any' } };
      const responses = await Promise.all(Array.from({ length: CLIENTS }, () => post(body, 'one-key-for-all')));
      for (const r of responses) assert.equal(r.status, 201, r.text);
      const users = responses.map((r) => JSON.parse(r.text) as UserJson);
      assert.equal(new Set(users.map((u) => u.id)).size, 1, 'every response names the same user');
      for (const u of users) assert.deepEqual(u, users[0], 'every response has the same body');
      assert.equal(responses.filter((r) => r.replayed !== 'true').length, 1, 'exactly one response is the original');
      const stored = await usersWithEmail(body.email);
      assert.deepEqual(stored, [users[0]]);
    });

    test(`${CLIENTS} concurrent POSTs with one key and two bodies: one user; the other body gets 422`, async () => {
      const a = { email: 'body-a@example.com', name: 'Body A' };
      const b = { email: 'body-b@example.com', name: 'Body B' };
      const responses = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => post(i % 2 === 0 ? a : b, 'one-key-two-bodies')));
      const created = responses.filter((r) => r.status === 201);
      const winner = JSON.parse(created[0]!.text) as UserJson;
      const winnerBody = winner.email === a.email ? a : b;
      for (const [i, r] of responses.entries()) {
        const sentWinner = (i % 2 === 0 ? a : b) === winnerBody;
        if (sentWinner) {
          assert.equal(r.status, 201, r.text);
          assert.equal((JSON.parse(r.text) as UserJson).id, winner.id);
        } else {
          assertProblem(fromFetch(r.res, r.text), 'idempotency-key-reused');
        }
      }
      assert.equal((await usersWithEmail(a.email)).length + (await usersWithEmail(b.email)).length, 1);
    });

    test(`${CLIENTS} concurrent POSTs of one email without a key: one 201, the rest 409`, async () => {
      const responses = await Promise.all(
        Array.from({ length: CLIENTS }, (_, i) =>
          post({ email: i % 2 === 0 ? 'Race@Example.com' : 'race@example.COM', name: `Racer ${i}` }),
        ),
      );
      const created = responses.filter((r) => r.status === 201);
      assert.equal(created.length, 1, responses.map((r) => r.status).join(','));
      for (const r of responses.filter((x) => x.status !== 201)) assertProblem(fromFetch(r.res, r.text), 'email-taken');
      const stored = await usersWithEmail('RACE@example.com');
      assert.equal(stored.length, 1);
      assert.equal(stored[0]!.id, (JSON.parse(created[0]!.text) as UserJson).id);
    });
  });
}
