// The routes a directory's clients call most (REST users and groups, the event feed, SCIM) hand
// their request's Deadline down as it is: none of them makes the Deadline's AbortSignal when
// nothing waits on it (bench/RESULTS.md, issue 14, sixth and seventeenth passes: the signal was a
// sixth of a SQLite GET's CPU, and on PostgreSQL it outlived young collections).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Deadline } from '../../src/kit/deadline.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialects } from '../helpers/databases.js';

const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

/** How many times a request's Deadline made or handed out its AbortSignal while `work` ran. */
async function signalReads(work: () => Promise<void>): Promise<number> {
  const getter = Object.getOwnPropertyDescriptor(Deadline.prototype, 'signal');
  // eslint-disable-next-line @typescript-eslint/unbound-method -- a getter, called below with its receiver
  const read = getter?.get as ((this: Deadline) => AbortSignal) | undefined;
  assert.ok(getter !== undefined && read !== undefined, 'Deadline has a signal getter');
  let reads = 0;
  Object.defineProperty(Deadline.prototype, 'signal', {
    ...getter,
    get(this: Deadline): AbortSignal {
      reads++;
      return read.call(this);
    },
  });
  try {
    await work();
  } finally {
    Object.defineProperty(Deadline.prototype, 'signal', getter);
  }
  return reads;
}

for (const [name, open, skip] of await dialects()) {
  describe(`the request's AbortSignal on ${name}`, { skip }, () => {
    let t: TestApp;
    let userId: string;
    let groupId: string;
    before(async () => {
      t = await buildTestApp(open);
      // Only for the spy's own check (the last test): a route that reads its signal.
      t.app.get('/test/waits', { config: { access: 'public', rateLimit: false }, schema: { hide: true } }, (request) => ({
        aborted: request.deadline.signal.aborted,
      }));
      const user = await t.app.inject({ method: 'POST', url: '/v1/users', payload: { email: 'signal@example.com', name: 'Signal' } });
      assert.equal(user.statusCode, 201, user.body);
      userId = user.json<{ id: string }>().id;
      const group = await t.app.inject({ method: 'POST', url: '/v1/groups', payload: { display_name: 'Signals' } });
      assert.equal(group.statusCode, 201, group.body);
      groupId = group.json<{ id: string }>().id;
    });
    after(() => t?.close());

    const reads: [string, string][] = [
      ['a user by id', '/v1/users/{user}'],
      ['a page of users', '/v1/users?limit=10'],
      ['a search', '/v1/users?q=sig'],
      ['a group by id', '/v1/groups/{group}'],
      ['the event feed', '/v1/events?after=0&limit=10'],
      ['a SCIM user', '/scim/v2/Users/{user}'],
      ['a SCIM filter', '/scim/v2/Users?filter=userName%20eq%20%22signal%40example.com%22'],
      ['a SCIM group', '/scim/v2/Groups/{group}'],
    ];
    for (const [what, path] of reads) {
      test(`${what} makes none`, async () => {
        const url = path.replace('{user}', userId).replace('{group}', groupId);
        const made = await signalReads(async () => {
          const res = await t.app.inject({ method: 'GET', url });
          assert.equal(res.statusCode, 200, res.body);
        });
        assert.equal(made, 0);
      });
    }

    test('a SCIM create makes none', async () => {
      const made = await signalReads(async () => {
        const res = await t.app.inject({
          method: 'POST',
          url: '/scim/v2/Users',
          headers: { 'content-type': 'application/scim+json' },
          payload: { schemas: [SCIM_USER], userName: `scim-${name}@example.com` },
        });
        assert.equal(res.statusCode, 201, res.body);
      });
      assert.equal(made, 0);
    });

    test('the spy counts: a route that waits on the signal makes it', async () => {
      const made = await signalReads(async () => {
        const res = await t.app.inject({ method: 'GET', url: '/test/waits' });
        assert.equal(res.statusCode, 200, res.body);
      });
      assert.ok(made >= 1, `made ${made}`);
    });
  });
}
