// /v1/webhook-endpoints through the real app over a real SQLite file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTestApp, type TestApp } from '../helpers/app.js';

describe('/v1/webhook-endpoints', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp();
  });
  after(() => t?.close());

  const post = (url: string, payload: unknown) => t.app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> });

  test('create shows the secret once; read, list, update, rotate and delete', async () => {
    const created = await post('/v1/webhook-endpoints', {
      url: 'https://hooks.example.com/roster',
      description: 'crm',
      event_types: ['user.created'],
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.headers['cache-control'], 'no-store');
    const body = created.json<{ id: string; secret: string; ordered: boolean; enabled: boolean; event_types: string[] }>();
    assert.match(body.secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.equal(created.headers.location, `/v1/webhook-endpoints/${body.id}`);
    assert.equal(body.ordered, true);
    assert.deepEqual(body.event_types, ['user.created']);

    const read = await t.app.inject({ method: 'GET', url: `/v1/webhook-endpoints/${body.id}` });
    assert.equal(read.statusCode, 200);
    assert.equal(read.json<Record<string, unknown>>().secret, undefined, 'the secret is never shown again');
    const list = await t.app.inject({ method: 'GET', url: '/v1/webhook-endpoints?limit=10' });
    assert.ok(list.json<{ data: { id: string }[] }>().data.some((e) => e.id === body.id));

    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/webhook-endpoints/${body.id}`,
      payload: { enabled: false, event_types: null },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.equal(patched.json<{ enabled: boolean }>().enabled, false);
    assert.equal(patched.json<{ disabled_reason: string }>().disabled_reason, 'disabled by an API caller');

    const rotated = await post(`/v1/webhook-endpoints/${body.id}/rotate-secret`, undefined);
    assert.equal(rotated.statusCode, 200, rotated.body);
    const fresh = rotated.json<{ secret: string }>().secret;
    assert.match(fresh, /^whsec_/);
    assert.notEqual(fresh, body.secret);

    const deliveries = await t.app.inject({ method: 'GET', url: `/v1/webhook-endpoints/${body.id}/deliveries` });
    assert.deepEqual(deliveries.json(), { data: [], next_before: null });

    const replay = await post(`/v1/webhook-endpoints/${body.id}/replay`, { since: new Date(Date.now() - 60_000).toISOString() });
    assert.equal(replay.statusCode, 202, replay.body);
    const both = await post(`/v1/webhook-endpoints/${body.id}/replay`, { since: new Date().toISOString(), event_id: 'x' });
    assert.equal(both.statusCode, 400);
    const unknownEvent = await post(`/v1/webhook-endpoints/${body.id}/replay`, { event_id: '0190a5b8-0000-7000-8000-000000000000' });
    assert.equal(unknownEvent.statusCode, 404);
    assert.equal(unknownEvent.json<{ type: string }>().type, 'urn:roster:problem:event-not-found');

    assert.equal((await t.app.inject({ method: 'DELETE', url: `/v1/webhook-endpoints/${body.id}` })).statusCode, 204);
    const gone = await t.app.inject({ method: 'GET', url: `/v1/webhook-endpoints/${body.id}` });
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.json<{ type: string }>().type, 'urn:roster:problem:webhook-endpoint-not-found');
  });

  // Without an allow-list (production), none of these may become a target.
  const HOSTILE = [
    'http://127.0.0.1/hook',
    'http://127.1/hook',
    'http://2130706433/hook',
    'http://0177.0.0.1/hook',
    'http://0x7f.0.0.1/hook',
    'http://0.0.0.0/hook',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://[::ffff:7f00:1]/hook',
    'http://10.0.0.5/hook',
    'http://172.16.3.4/hook',
    'http://192.168.1.1/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00::1]/hook',
    'http://[fe80::1]/hook',
    'http://100.64.0.1/hook',
    'http://224.0.0.1/hook',
    'http://255.255.255.255/hook',
    'http://localhost/hook',
    'http://LOCALHOST./hook',
    'http://api.localhost/hook',
    'https://user:pass@example.com/hook',
    'ftp://example.com/hook',
    'file:///etc/passwd',
    'gopher://example.com/',
    'javascript:alert(1)',
    'http://example.com:0/hook',
    `https://example.com/${'a'.repeat(2100)}`,
    'not a url',
  ];
  for (const url of HOSTILE) {
    test(`refuses ${url.slice(0, 60)}`, async () => {
      const res = await post('/v1/webhook-endpoints', { url });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json<{ type: string }>().type, 'urn:roster:problem:validation');
    });
  }

  test('bad ids, bodies and pages are 4xx problems, never 500', async () => {
    const cases: [string, string, unknown, number][] = [
      ['GET', '/v1/webhook-endpoints/not-a-uuid', undefined, 400],
      ['GET', '/v1/webhook-endpoints/0190a5b8-0000-7000-8000-000000000000', undefined, 404],
      ['PATCH', '/v1/webhook-endpoints/0190a5b8-0000-7000-8000-000000000000', { enabled: true }, 404],
      ['PATCH', '/v1/webhook-endpoints/0190a5b8-0000-7000-8000-000000000000', {}, 400],
      ['POST', '/v1/webhook-endpoints', { url: 'https://example.com', secret: 'mine' }, 400],
      ['POST', '/v1/webhook-endpoints', { url: 'https://example.com', event_types: [] }, 400],
      ['POST', '/v1/webhook-endpoints', { url: 'https://example.com', event_types: ['user.exploded'] }, 400],
      ['GET', '/v1/webhook-endpoints?limit=0', undefined, 400],
      ['GET', '/v1/webhook-endpoints?after=zzz', undefined, 400],
      ['POST', '/v1/webhook-endpoints/0190a5b8-0000-7000-8000-000000000000/replay', { since: 'yesterday' }, 400],
      ['POST', '/v1/webhook-endpoints/0190a5b8-0000-7000-8000-000000000000/replay', { since: new Date().toISOString() }, 404],
    ];
    for (const [method, url, payload, status] of cases) {
      const res = await t.app.inject({
        method: method as 'GET',
        url,
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
      assert.equal(res.statusCode, status, `${method} ${url}: ${res.body}`);
    }
  });

  test('a key without webhooks:manage is refused', async () => {
    const { key } = await t.auth.keyWith(['users:write', 'events:read']);
    const res = await t.app.inject({ method: 'GET', url: '/v1/webhook-endpoints', headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.statusCode, 403);
  });
});
