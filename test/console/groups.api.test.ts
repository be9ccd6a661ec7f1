// The console's groups screens and the user page's groups, events and deactivation, over the real
// app on a real SQLite file, without a browser: scopes, keyset pages, the version conflict,
// members added by email and id, and what each refusal says.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { GROUPS_PAGE_SIZE } from '../../src/console/groups.routes.js';

const ORIGIN = 'http://localhost:80';
const FORM = { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' };
let addresses = 0;

async function session(app: FastifyInstance, key: string): Promise<{ cookie: string; csrf: string }> {
  const response = await app.inject({
    method: 'POST',
    url: '/console/sign-in',
    headers: FORM,
    payload: `key=${encodeURIComponent(key)}`,
    remoteAddress: `10.1.0.${++addresses}`,
  });
  assert.equal(response.statusCode, 303, response.body);
  const cookie = (response.headers['set-cookie'] as string).split(';')[0]!;
  const page = await app.inject({ method: 'GET', url: '/console', headers: { cookie } });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(csrf);
  return { cookie, csrf };
}

describe('console groups screens and the user page', () => {
  let t: TestApp;
  let admin: { cookie: string; csrf: string };
  const get = (url: string, who = admin) => t.app.inject({ method: 'GET', url, headers: { cookie: who.cookie } });
  const post = (url: string, fields: Record<string, string>, who = admin): Promise<LightMyRequestResponse> =>
    t.app.inject({
      method: 'POST',
      url,
      headers: { ...FORM, cookie: who.cookie },
      payload: new URLSearchParams({ _csrf: who.csrf, ...fields }).toString(),
    });
  const groupIdOf = (response: LightMyRequestResponse) =>
    /^\/console\/groups\/([0-9a-f-]{36})\?done=created$/.exec(response.headers.location as string)?.[1];

  before(async () => {
    t = await buildTestApp();
    admin = await session(t.app, t.auth.adminKey);
  });
  after(() => t?.close());

  test('create, rename by version (a conflict shows both), add by email and id, remove, delete', async () => {
    const ada = (await t.users.create({ email: 'ada@example.com', name: 'Ada' }, undefined)).user;
    const bob = (await t.users.create({ email: 'bob@example.com', name: '<b>Bob</b>' }, undefined)).user;
    const created = await post('/console/groups', { display_name: 'Engineers' });
    assert.equal(created.statusCode, 303, created.body);
    const id = groupIdOf(created)!;
    assert.ok(id);
    const page = await get(`/console/groups/${id}?done=created`);
    assert.match(page.body, /The group was created\./);
    assert.match(page.body, /<h1>Engineers<\/h1>/);

    const taken = await post('/console/groups', { display_name: 'engineers' });
    assert.equal(taken.statusCode, 400);
    assert.match(taken.body, /Another group has this name\./);
    assert.match(taken.body, /aria-invalid="true"/);
    assert.equal((await post('/console/groups', { display_name: '' })).statusCode, 400);

    const added = await post(`/console/groups/${id}/members`, { add: `ADA@example.com\n${bob.id}\n` });
    assert.equal(added.statusCode, 303, added.body);
    const members = await get(`/console/groups/${id}`);
    assert.ok(members.body.includes(`href="/console/users/${ada.id}"`));
    assert.ok(members.body.includes(`href="/console/users/${bob.id}"`));
    assert.ok(!members.body.includes('<b>Bob'), 'member names are escaped');
    assert.match(members.body, /<dt>Members<\/dt><dd>2<\/dd>/);

    const unknown = await post(`/console/groups/${id}/members`, { add: 'nobody@example.com\nada@example.com' });
    assert.equal(unknown.statusCode, 400);
    assert.match(unknown.body, /No user has this email: nobody@example\.com\./);
    const unknownId = await post(`/console/groups/${id}/members`, { add: '0190a000-0000-7000-8000-000000000000' });
    assert.equal(unknownId.statusCode, 400);
    assert.match(unknownId.body, /No user has this id/);
    const tooMany = await post(`/console/groups/${id}/members`, {
      add: Array.from({ length: 101 }, (_, i) => `u${i}@example.com`).join('\n'),
    });
    assert.equal(tooMany.statusCode, 400);
    assert.match(tooMany.body, /at most 100/);

    const removed = await post(`/console/groups/${id}/members/${bob.id}/remove`, {});
    assert.equal(removed.statusCode, 303);
    assert.ok(!(await get(`/console/groups/${id}`)).body.includes(`href="/console/users/${bob.id}"`));
    assert.equal((await post(`/console/groups/${id}/members/${bob.id}/remove`, {})).statusCode, 303, 'removing again is no error');

    const version = Number(/name="version" value="(\d+)"/.exec((await get(`/console/groups/${id}`)).body)![1]);
    await t.app.inject({
      method: 'PATCH',
      url: `/v1/groups/${id}`,
      headers: { authorization: `Bearer ${t.auth.adminKey}`, 'content-type': 'application/merge-patch+json' },
      payload: { display_name: 'Platform' },
    });
    const conflict = await post(`/console/groups/${id}`, { display_name: 'Mine', version: String(version) });
    assert.equal(conflict.statusCode, 409);
    assert.match(conflict.body, /Someone else changed this group/);
    assert.match(conflict.body, /<dd>Mine<\/dd>/);
    assert.match(conflict.body, /<dd>Platform<\/dd>/);
    const keepMine = await post(`/console/groups/${id}`, { display_name: 'Mine', version: String(version + 1) });
    assert.equal(keepMine.statusCode, 303);
    assert.match((await get(`/console/groups/${id}`)).body, /<h1>Mine<\/h1>/);

    const staleDelete = await post(`/console/groups/${id}/delete`, { version: String(version) });
    assert.equal(staleDelete.statusCode, 409);
    assert.match(staleDelete.body, /Not deleted/);
    const deleted = await post(`/console/groups/${id}/delete`, { version: String(version + 2) });
    assert.equal(deleted.statusCode, 303);
    assert.equal((await get(`/console/groups/${id}`)).statusCode, 404);
  });

  test('the list searches by name prefix and pages by keyset, forward and back', async () => {
    for (let i = 0; i < GROUPS_PAGE_SIZE + 3; i++) {
      assert.equal((await post('/console/groups', { display_name: `Paged ${String(i).padStart(2, '0')}` })).statusCode, 303);
    }
    const first = await get('/console/groups?q=paged');
    const names = (html: string) => [...html.matchAll(/>(Paged \d+)<\/a>/g)].map((m) => m[1]);
    assert.equal(names(first.body).length, GROUPS_PAGE_SIZE);
    const next = /href="\/console\/groups\?([^"]+)" rel="next"/.exec(first.body)![1]!.replaceAll('&amp;', '&');
    const second = await get(`/console/groups?${next}`);
    assert.deepEqual(names(second.body), ['Paged 25', 'Paged 26', 'Paged 27']);
    const previous = /href="\/console\/groups\?([^"]+)" rel="prev"/.exec(second.body)![1]!.replaceAll('&amp;', '&');
    assert.deepEqual(names((await get(`/console/groups?${previous}`)).body), names(first.body));
    const stale = await get('/console/groups?q=other&cursor=abc.def');
    assert.equal(stale.statusCode, 200);
    assert.match(stale.body, /no longer valid/);
  });

  test('scopes: groups:read looks but has no forms; without it the screens are refused; email lookup needs users:read', async () => {
    const group = (await post('/console/groups', { display_name: 'Scoped' })).headers.location as string;
    const reader = await session(t.app, (await t.auth.keyWith(['groups:read'])).key);
    const page = await get(group.replace(/\?.*/, ''), reader);
    assert.equal(page.statusCode, 200);
    assert.ok(!page.body.includes('name="version"'), 'no rename form');
    assert.ok(!page.body.includes('Add members'));
    assert.equal((await post('/console/groups', { display_name: 'Nope' }, reader)).statusCode, 403);
    const usersOnly = await session(t.app, (await t.auth.keyWith(['users:read'])).key);
    assert.equal((await get('/console/groups', usersOnly)).statusCode, 403);
    assert.ok(!(await get('/console', usersOnly)).body.includes('/console/groups'), 'no Groups link in the nav');
    const writer = await session(t.app, (await t.auth.keyWith(['groups:read', 'groups:write'])).key);
    const byEmail = await post(`${group.replace(/\?.*/, '')}/members`, { add: 'ada@example.com' }, writer);
    assert.equal(byEmail.statusCode, 403);
  });

  test('the user page: deactivate and reactivate by version, its groups and its latest events', async () => {
    const { user } = await t.users.create({ email: 'carol@example.com', name: 'Carol' }, undefined);
    const groupId = groupIdOf(await post('/console/groups', { display_name: 'Carol’s team' }))!;
    assert.equal((await post(`/console/groups/${groupId}/members`, { add: user.id })).statusCode, 303);
    const page = await get(`/console/users/${user.id}`);
    assert.ok(page.body.includes(`href="/console/groups/${groupId}"`), 'its groups');
    assert.match(page.body, /<td>user\.created<\/td>/);
    assert.match(page.body, /<dt>State<\/dt><dd>Active<\/dd>/);

    const deactivated = await post(`/console/users/${user.id}/active`, { active: 'false', version: String(user.version) });
    assert.equal(deactivated.statusCode, 303);
    const after = await get(deactivated.headers.location as string);
    assert.match(after.body, /The user was deactivated\./);
    assert.match(after.body, /<dd>Deactivated<\/dd>/);
    assert.match(after.body, /<td>user\.updated<\/td><td>active<\/td>/, 'the newest event first, naming what changed');
    assert.equal((await t.users.get(user.id)).active, false);
    const stale = await post(`/console/users/${user.id}/active`, { active: 'true', version: String(user.version) });
    assert.equal(stale.statusCode, 409);
    assert.match(stale.body, /Not reactivated/);
    assert.equal((await post(`/console/users/${user.id}/active`, { active: 'true', version: String(user.version + 1) })).statusCode, 303);
    assert.equal((await t.users.get(user.id)).active, true);

    const usersOnly = await session(t.app, (await t.auth.keyWith(['users:read'])).key);
    const plain = await get(`/console/users/${user.id}`, usersOnly);
    assert.ok(!plain.body.includes('groups-heading') && !plain.body.includes('Latest events'), 'sections need their scopes');
    assert.equal((await post(`/console/users/${user.id}/active`, { active: 'false' }, usersOnly)).statusCode, 403);

    const subject = await get(`/console/events?subject=${user.id}&after=0`);
    assert.ok(!subject.body.includes('<td>group.'), 'only this subject’s events');
    const following = await get('/console/events?follow=1');
    const sequences = [...following.body.matchAll(/<tr><td>(\d+)<\/td>/g)].map((m) => Number(m[1]));
    assert.ok(sequences.length > 2);
    assert.deepEqual(
      sequences,
      [...sequences].sort((a, b) => b - a),
      'following shows the newest first',
    );
  });
});
