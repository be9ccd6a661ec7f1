// The console's webhook screens over the real app on SQLite and PostgreSQL, without a browser:
// create (refusals as form errors, the secret once), enable/disable, rotate, replay, delete,
// the delivery log paged newest first with the receiver's text escaped, CSRF and Origin on
// every POST, and scopes (a key without webhooks:manage sees no link and is refused).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { postgresTestDatabase, postgresUnavailable, sqliteTestDatabase } from '../helpers/databases.js';
import { newUuidV7 } from '../../src/kit/uuid.js';
import { SqlDeliveryStore } from '../../src/webhooks/sql-delivery-store.js';
import type { DeliveryAttempt } from '../../src/webhooks/service.js';
import { WEBHOOKS_PAGE_SIZE } from '../../src/console/webhooks.routes.js';
import { skeleton } from './markup.js';
import { FORM, session } from './session.js';

const DIALECTS = [
  ['sqlite', sqliteTestDatabase, async () => undefined],
  ['postgres', postgresTestDatabase, postgresUnavailable],
] as const;

interface EndpointJson {
  id: string;
  url: string;
  description: string;
  event_types: string[] | null;
  enabled: boolean;
  ordered: boolean;
}

const secretIn = (body: string) => /id="new-secret" class="secret" type="text" readonly value="(whsec_[^"]+)"/.exec(body)?.[1];

for (const [dialect, open, unavailable] of DIALECTS) {
  describe(`console webhook screens on ${dialect}`, { skip: await unavailable() }, () => {
    let t: TestApp;
    let admin: { cookie: string; csrf: string };
    before(async () => {
      t = await buildTestApp(open);
      admin = await session(t.app, t.auth.adminKey);
    });
    after(async () => t?.close());

    const get = (url: string, cookie = admin.cookie) => t.app.inject({ method: 'GET', url, headers: { cookie } });
    const post = (url: string, fields: string, as = admin, headers: Record<string, string> = FORM) =>
      t.app.inject({
        method: 'POST',
        url,
        headers: { cookie: as.cookie, ...headers },
        payload: `_csrf=${encodeURIComponent(as.csrf)}&${fields}`,
      });
    const rest = async (url: string): Promise<unknown> => (await t.app.inject({ method: 'GET', url })).json();
    const endpoints = async () => ((await rest('/v1/webhook-endpoints?limit=200')) as { data: EndpointJson[] }).data;
    const create = async (url: string, extra = ''): Promise<{ id: string; response: LightMyRequestResponse }> => {
      const response = await post('/console/webhooks', `url=${encodeURIComponent(url)}${extra}`);
      assert.equal(response.statusCode, 201, response.body);
      const id = /href="\/console\/webhooks\/([0-9a-f-]{36})">The endpoint and its delivery log/.exec(response.body)?.[1];
      assert.ok(id, 'the created card links to the endpoint');
      return { id, response };
    };

    test('create: refusals come back as field errors with the input kept; success shows the secret once', async () => {
      const count = (await endpoints()).length;
      const loopback = await post('/console/webhooks', 'url=http%3A%2F%2F127.0.0.1%2F%22%3E%3Cscript%3E&event_types=user.nope');
      assert.equal(loopback.statusCode, 400);
      assert.match(loopback.body, /id="endpoint-url-error"[^>]*>The URL: [^<]*loopback/);
      assert.match(loopback.body, /id="event-types-error"[^>]*>Event types: unknown event type\(s\): user.nope\./);
      assert.match(loopback.body, /value="http:\/\/127.0.0.1\/&#34;><script>" required/, 'the URL is kept, its quote escaped');
      assert.equal(skeleton(loopback.body).filter((tag) => tag === '<script').length, 2, 'no script but the two assets');
      const missing = await post('/console/webhooks', 'url=');
      assert.equal(missing.statusCode, 400);
      assert.match(missing.body, /The URL: /);
      assert.equal((await endpoints()).length, count, 'nothing was created');

      const { id, response } = await create(
        'https://hooks.example.com/crm',
        '&description=CRM+%3Cb%3Esync%3C%2Fb%3E&event_types=user.created&event_types=user.deleted&ordered=false',
      );
      assert.equal(response.headers['cache-control'], 'no-store');
      assert.match(secretIn(response.body) ?? '', /^whsec_[A-Za-z0-9+/=]{20,}$/);
      assert.match(response.body, /CRM &lt;b>sync&lt;\/b>/);
      const stored = (await rest(`/v1/webhook-endpoints/${id}`)) as EndpointJson;
      assert.deepEqual(
        [stored.url, stored.description, stored.event_types, stored.ordered, stored.enabled],
        ['https://hooks.example.com/crm', 'CRM <b>sync</b>', ['user.created', 'user.deleted'], false, true],
      );
      const list = await get('/console/webhooks');
      assert.equal(list.statusCode, 200);
      assert.ok(list.body.includes(`href="/console/webhooks/${id}"`));
      assert.equal(secretIn(list.body), undefined, 'the secret is not shown again');
      const page = await get(`/console/webhooks/${id}`);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /No attempts yet\./);
      assert.match(page.body, /user.created, user.deleted/);
      assert.equal(secretIn(page.body), undefined);
    });

    test('disable, enable, rotate and delete act through the service and say what they did', async () => {
      const { id, response } = await create('https://hooks.example.com/switch');
      const first = secretIn(response.body);
      const disabled = await post(`/console/webhooks/${id}/enabled`, 'enabled=false');
      assert.equal(disabled.statusCode, 303);
      assert.equal(disabled.headers.location, `/console/webhooks/${id}?changed=disabled`);
      assert.equal(((await rest(`/v1/webhook-endpoints/${id}`)) as EndpointJson).enabled, false);
      const shown = await get(disabled.headers.location);
      assert.match(shown.body, /The endpoint was disabled/);
      assert.match(shown.body, /disabled [0-9T:.Z-]+ \(disabled by an API caller\)/);
      assert.equal((await post(`/console/webhooks/${id}/enabled`, 'enabled=true')).statusCode, 303);
      assert.equal(((await rest(`/v1/webhook-endpoints/${id}`)) as EndpointJson).enabled, true);
      assert.equal((await post(`/console/webhooks/${id}/enabled`, 'enabled=maybe')).statusCode, 400);

      const rotated = await post(`/console/webhooks/${id}/rotate-secret`, '');
      assert.equal(rotated.statusCode, 200);
      assert.equal(rotated.headers['cache-control'], 'no-store');
      const second = secretIn(rotated.body);
      assert.ok(second !== undefined && second !== first, 'a new secret, shown');
      assert.match(rotated.body, /The previous secret keeps signing alongside it until /);

      const deleted = await post(`/console/webhooks/${id}/delete`, '');
      assert.equal(deleted.statusCode, 303);
      assert.equal(deleted.headers.location, '/console/webhooks?deleted=1');
      assert.match((await get(deleted.headers.location)).body, /The endpoint was deleted\./);
      assert.equal((await t.app.inject({ method: 'GET', url: `/v1/webhook-endpoints/${id}` })).statusCode, 404);
      for (const missing of [`/console/webhooks/${id}`, '/console/webhooks/not-an-id']) {
        const response = await get(missing);
        assert.equal(response.statusCode, 404, missing);
        assert.match(String(response.headers['content-type']), /^text\/html/);
      }
      assert.equal((await post(`/console/webhooks/${id}/rotate-secret`, '')).statusCode, 404);
    });

    test('replay: one event, or every event since a time; refusals beside the field or at the top', async () => {
      const { id } = await create('https://hooks.example.com/replay', '&event_types=user.created');
      const { user } = await t.users.create({ email: `replay-${dialect}@example.com`, name: 'Replay' }, undefined);
      const feed = (await rest('/v1/events?type=user.created&limit=200')) as { data: { id: string; subject_id: string }[] };
      const event = feed.data.find((e) => e.subject_id === user.id);
      assert.ok(event, 'the user.created event is in the feed');

      const one = await post(`/console/webhooks/${id}/replay`, `event_id=${event.id}`);
      assert.equal(one.statusCode, 303, one.body);
      assert.equal(one.headers.location, `/console/webhooks/${id}?replayed=1`);
      assert.match((await get(one.headers.location)).body, /1 delivery queued for replay/);
      const since = await post(`/console/webhooks/${id}/replay`, 'since=2000-01-01T00%3A00');
      assert.equal(since.statusCode, 303, since.body);
      assert.ok(Number(/replayed=(\d+)$/.exec(since.headers.location ?? '')?.[1]) >= 1, since.headers.location);

      const unknown = await post(`/console/webhooks/${id}/replay`, `event_id=${newUuidV7()}`);
      assert.equal(unknown.statusCode, 404);
      assert.match(unknown.body, /role="alert"[^>]*>Not replayed: No event [0-9a-f-]{36} is kept in the feed\./);
      assert.equal((await post(`/console/webhooks/${id}/replay`, `event_id=${'x'.repeat(101)}`)).statusCode, 400, 'an overlong id');
      const garbled = await post(`/console/webhooks/${id}/replay`, 'since=yesterday');
      assert.equal(garbled.statusCode, 400);
      assert.match(garbled.body, /id="replay-since-error"[^>]*>Give a date and time/);
      assert.match(garbled.body, /id="replay-since"[^>]*value="yesterday"/);
    });

    test('the delivery log: newest first, keyset pages both ways, the receiver’s text escaped', async () => {
      const { id } = await create('https://hooks.example.com/log');
      await t.users.create({ email: `log-${dialect}@example.com`, name: 'Log' }, undefined);
      // Attempts written as the dispatcher writes them: through the delivery store, under its lease.
      const store = new SqlDeliveryStore(t.testDb.database.db, t.testDb.database.dialect);
      const now = new Date();
      const claimed = await store.claim('console-test', now, new Date(now.getTime() + 60_000), 100);
      assert.ok(
        claimed.some((e) => e.id === id),
        'the endpoint has work and is leased',
      );
      const total = WEBHOOKS_PAGE_SIZE + 5;
      const attempts: DeliveryAttempt[] = Array.from({ length: total }, (_, i) => ({
        id: newUuidV7(),
        endpointId: id,
        eventId: newUuidV7(),
        eventSequence: 1000 + i,
        attempt: 1,
        attemptedAt: new Date(now.getTime() - (total - i) * 1000),
        outcome: i % 2 === 0 ? 'success' : 'permanent',
        status: i % 2 === 0 ? 200 : 400,
        latencyMs: 10 + i,
        errorCode: null,
        errorMessage: null,
        responseBody: `<img src=x onerror=alert(${i})>`,
        replay: false,
      }));
      assert.ok(await store.settle('console-test', id, { attempts }, new Date(now.getTime() + 60_000)));
      await store.releaseAll('console-test');

      const sequences = (body: string) => [...body.matchAll(/#(\d+), attempt 1/g)].map((m) => Number(m[1]));
      const first = await get(`/console/webhooks/${id}`);
      assert.deepEqual(
        sequences(first.body),
        Array.from({ length: WEBHOOKS_PAGE_SIZE }, (_, i) => 1000 + total - 1 - i),
        'newest first',
      );
      assert.ok(!first.body.includes('<img src=x'), 'the response is escaped');
      assert.match(first.body, /&lt;img src=x onerror=alert\(29\)>/);
      const older = /href="(\/console\/webhooks\/[0-9a-f-]{36}\?[^"]+)" rel="next"/.exec(first.body)?.[1];
      assert.ok(older, 'a link to older attempts');
      const second = await get(older.replaceAll('&amp;', '&'));
      assert.deepEqual(sequences(second.body), [1004, 1003, 1002, 1001, 1000]);
      assert.ok(!/rel="next"/.test(second.body), 'the last page');
      const newer = /href="(\/console\/webhooks\/[0-9a-f-]{36}[^"]*)" rel="prev"/.exec(second.body)?.[1];
      assert.ok(newer);
      assert.deepEqual(sequences((await get(newer.replaceAll('&amp;', '&'))).body), sequences(first.body));
      assert.equal((await get(`/console/webhooks/${id}?cursor=${newUuidV7().slice(0, 10)}`)).statusCode, 400, 'a tampered cursor');
    });

    test('every POST needs the session’s CSRF token and this site’s Origin', async () => {
      const count = (await endpoints()).length;
      const body = 'url=https%3A%2F%2Fhooks.example.com%2Fcsrf';
      const cases: [string, string, Record<string, string>][] = [
        ['no token', body, FORM],
        ['a wrong token', `${body}&_csrf=${admin.csrf.slice(0, -2)}AA`, FORM],
        ['another Origin', `${body}&_csrf=${admin.csrf}`, { ...FORM, origin: 'https://evil.example' }],
      ];
      for (const [what, payload, headers] of cases) {
        const response = await t.app.inject({
          method: 'POST',
          url: '/console/webhooks',
          headers: { cookie: admin.cookie, ...headers },
          payload,
        });
        assert.equal(response.statusCode, 403, what);
        assert.match(response.body, /The request was refused/, what);
      }
      const { id } = await create('https://hooks.example.com/guarded');
      for (const action of ['enabled', 'rotate-secret', 'delete', 'replay']) {
        const response = await t.app.inject({
          method: 'POST',
          url: `/console/webhooks/${id}/${action}`,
          headers: { cookie: admin.cookie, ...FORM },
          payload: 'enabled=false&since=2000-01-01T00%3A00',
        });
        assert.equal(response.statusCode, 403, action);
      }
      const stored = (await rest(`/v1/webhook-endpoints/${id}`)) as EndpointJson;
      assert.equal(stored.enabled, true, 'nothing changed');
      assert.equal((await endpoints()).length, count + 1, 'only the one made with a token');
    });

    test('a key without webhooks:manage sees no link and is refused; one with only it sees just webhooks', async () => {
      const { id } = await create('https://hooks.example.com/scoped');
      const reader = await session(t.app, (await t.auth.keyWith(['users:read', 'events:read'])).key);
      const home = await get('/console', reader.cookie);
      assert.ok(!home.body.includes('/console/webhooks'), 'no webhooks link');
      for (const url of ['/console/webhooks', `/console/webhooks/${id}`])
        assert.equal((await get(url, reader.cookie)).statusCode, 403, url);
      for (const [url, fields] of [
        ['/console/webhooks', 'url=https%3A%2F%2Fhooks.example.com%2Fnope'],
        [`/console/webhooks/${id}/enabled`, 'enabled=false'],
        [`/console/webhooks/${id}/rotate-secret`, ''],
        [`/console/webhooks/${id}/delete`, ''],
        [`/console/webhooks/${id}/replay`, 'since=2000-01-01T00%3A00'],
      ] as const) {
        assert.equal((await post(url, fields, reader)).statusCode, 403, url);
      }
      assert.equal(((await rest(`/v1/webhook-endpoints/${id}`)) as EndpointJson).enabled, true);

      const manager = await session(t.app, (await t.auth.keyWith(['webhooks:manage'])).key);
      const own = await get('/console', manager.cookie);
      assert.ok(own.body.includes('href="/console/webhooks"'));
      assert.ok(!own.body.includes('href="/console/users"') && !own.body.includes('href="/console/keys"'));
      assert.equal((await get(`/console/webhooks/${id}`, manager.cookie)).statusCode, 200);
      assert.equal((await post(`/console/webhooks/${id}/enabled`, 'enabled=false', manager)).statusCode, 303);
    });
  });
}
