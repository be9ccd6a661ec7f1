// The admin console in a real browser (Debian's chromium through playwright-core) against a
// real `roster serve` on SQLite and on PostgreSQL: sign in; find one user among 10,000; page
// through them; edit the user; make a conflict from a second page and resolve it; create a key,
// copy it, revoke it; follow the event feed live; sign out, and check the session row is gone and its cookie is worthless.
// On every screen: axe-core finds no serious or critical violation, the browser reports no CSP
// violation, and a screenshot is written to test-artifacts/console/. One browser for the file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext } from 'playwright-core';
import type { TestDatabase } from '../helpers/databases.js';
import { pollFor, ServerProcess } from '../helpers/server.js';
import { chromiumUnavailable, DIALECTS, launchBrowser, Screens } from './console/harness.js';

const USERS = 10_000;
/** Ports of this file's servers (its own range, so no other test's server takes them). */
const PORTS = { sqlite: 26100, postgres: 26101 } as const;

const noBrowser = chromiumUnavailable();
let browser: Browser | undefined;

before(async () => {
  if (noBrowser === undefined) browser = await launchBrowser();
});
after(async () => browser?.close());

/** A CSV of `USERS` users; exactly one of them is findable by the prefix "needle". */
function usersCsv(): string {
  const lines = ['email,name', 'needle.lovelace@example.com,Ada Needle'];
  for (let i = 1; i < USERS; i++) lines.push(`user-${String(i).padStart(5, '0')}@example.com,User ${String(i).padStart(5, '0')}`);
  return `${lines.join('\n')}\n`;
}

for (const [dialect, open, unavailable] of DIALECTS) {
  describe(`the console in chromium on ${dialect}`, { skip: noBrowser ?? (await unavailable()) }, () => {
    let testDb: TestDatabase;
    let server: ServerProcess;
    let context: BrowserContext;
    let screens: Screens;

    before(async () => {
      testDb = await open();
      server = await ServerProcess.start({ databaseUrl: testDb.url, env: { PORT: String(PORTS[dialect]) } });
      const upload = await fetch(`${server.url}/v1/imports`, {
        method: 'POST',
        headers: { ...server.auth, 'content-type': 'text/csv' },
        body: usersCsv(),
      });
      assert.equal(upload.status, 202, await upload.clone().text());
      const { id } = (await upload.json()) as { id: string };
      await pollFor(
        `the import of ${USERS} users`,
        async () => {
          const job = (await (await fetch(`${server.url}/v1/imports/${id}`, { headers: server.auth })).json()) as { status: string };
          assert.ok(job.status !== 'failed' && job.status !== 'cancelled', JSON.stringify(job));
          return job.status === 'succeeded';
        },
        { ms: 120_000, everyMs: 100 },
      );
      context = await browser!.newContext({ viewport: { width: 1280, height: 900 }, permissions: ['clipboard-read', 'clipboard-write'] });
      context.setDefaultTimeout(30_000);
      screens = new Screens(dialect);
    });
    after(async () => {
      await context?.close();
      await server?.stop();
      await testDb?.cleanup();
    });

    test('sign in, find, page, edit, resolve a conflict, create and revoke a key, sign out', async () => {
      const page = await context.newPage();
      screens.watch(page);
      const base = server.url;

      // Sign in.
      await page.goto(`${base}/console`);
      await page.waitForURL(/\/console\/sign-in$/);
      await screens.check(page, 'sign-in');
      await page.getByLabel('API key').fill('rk_not_a_key');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('That key is not valid').first().waitFor();
      await screens.check(page, 'sign-in-refused');
      await page.getByLabel('API key').fill(server.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/console$/);
      await screens.check(page, 'home');

      // Find one user among 10,000 with the live search (htmx), then by the plain form.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
      await page.waitForURL(/\/console\/users$/);
      await screens.check(page, 'users');
      await page.getByLabel('Search by email or name prefix').pressSequentially('needle', { delay: 20 });
      await page.waitForURL(/q=needle/);
      await page.getByRole('link', { name: 'Ada Needle' }).waitFor();
      assert.equal(await page.locator('#results tbody tr').count(), 1, 'exactly the one user');
      await screens.check(page, 'users-search');
      await page.setViewportSize({ width: 360, height: 800 });
      assert.ok(Number(await page.evaluate('document.documentElement.scrollWidth')) <= 360, 'no sideways scrolling at 360 px');
      await screens.check(page, 'users-search-360px');
      await page.setViewportSize({ width: 1280, height: 900 });

      // Keyset paging, forward and back, with no count anywhere.
      await page.goto(`${base}/console/users`);
      const firstRow = () => page.locator('#results tbody tr').first().innerText();
      const page1 = await firstRow();
      const follow = async (name: string) => {
        const from = page.url();
        await page.getByRole('link', { name }).click();
        await page.waitForURL((url) => url.href !== from);
        return firstRow();
      };
      const page2 = await follow('Next page');
      assert.match(page.url(), /cursor=/);
      assert.notEqual(page2, page1);
      const page3 = await follow('Next page');
      assert.notEqual(page3, page2);
      assert.equal(await follow('Previous page'), page2);
      assert.equal(await follow('Previous page'), page1);
      assert.ok(!page.url().includes('cursor='), 'back on the first page');
      await screens.check(page, 'users-paged');

      // The user; an edit.
      await page.goto(`${base}/console/users?q=needle`);
      await page.getByRole('link', { name: 'Ada Needle' }).click();
      await page.waitForURL(/\/console\/users\/[0-9a-f-]{36}$/);
      const userUrl = page.url();
      const userId = userUrl.split('/').at(-1)!;
      await screens.check(page, 'user');
      await page.getByLabel('Name').fill('Ada Needle-King');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.waitForURL(/saved=1/);
      await page.getByText('Saved.').waitFor();
      await page.getByRole('heading', { level: 1, name: 'Ada Needle-King' }).waitFor();
      await page.setViewportSize({ width: 360, height: 800 });
      assert.ok(Number(await page.evaluate('document.documentElement.scrollWidth')) <= 360, 'the user page fits 360 px');
      await screens.check(page, 'user-saved-360px');
      await page.setViewportSize({ width: 1280, height: 900 });

      // A conflict: a second page saves first; the first page's save meets it and chooses its own edit.
      const other = await context.newPage();
      screens.watch(other);
      await other.goto(userUrl);
      await page.goto(userUrl);
      await other.getByLabel('Name').fill('First Writer');
      await other.getByRole('button', { name: 'Save' }).click();
      await other.waitForURL(/saved=1/);
      await page.getByLabel('Name').fill('Second Writer');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('heading', { name: 'Someone else changed this user' }).waitFor();
      assert.ok(await page.getByText('First Writer').isVisible(), 'the current version is shown');
      assert.ok(await page.getByText('Second Writer').isVisible(), 'and the edit');
      await screens.check(page, 'user-conflict');
      await page.getByRole('button', { name: 'Keep my edit' }).click();
      await page.waitForURL(/saved=1/);
      await page.getByRole('heading', { level: 1, name: 'Second Writer' }).waitFor();
      const stored = (await (await fetch(`${base}/v1/users/${userId}`, { headers: server.auth })).json()) as {
        name: string;
        version: number;
      };
      assert.deepEqual([stored.name, stored.version], ['Second Writer', 4]);
      await other.close();

      // A key: created, shown once, copied, revoked.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).click();
      await page.waitForURL(/\/console\/keys$/);
      await screens.check(page, 'keys');
      await page.getByLabel('Name').fill('browser-made');
      await page.getByLabel('users:read').check();
      await page.getByRole('button', { name: 'Create key' }).click();
      const secret = await page.getByLabel('The new key').inputValue();
      assert.match(secret, /^rk_[0-9a-f]{16}_/);
      await page.getByRole('button', { name: 'Copy the key' }).click();
      await page.locator('#announcer', { hasText: 'Copied' }).waitFor();
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), secret);
      await screens.check(page, 'keys-created');
      const withNewKey = () => fetch(`${base}/v1/users?limit=1`, { headers: { authorization: `Bearer ${secret}` } });
      assert.equal((await withNewKey()).status, 200);
      page.once('dialog', (dialog) => void dialog.accept());
      await page.getByRole('button', { name: 'Revoke key browser-made' }).click();
      await page.waitForURL(/revoked=/);
      await page.getByText('The key was revoked.').waitFor();
      await screens.check(page, 'keys-revoked');
      assert.equal((await withNewKey()).status, 401);

      // The event feed, followed live: newest first, and a change made elsewhere appears at the top without a reload.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events' }).click();
      await page.waitForURL(/\/console\/events$/);
      await page.getByLabel('Follow new events as they arrive').check();
      await page.getByRole('button', { name: 'Show' }).click();
      await page.waitForURL(/follow=1/);
      await page.getByRole('heading', { name: /Newest events first/ }).waitFor();
      const created = await fetch(`${base}/v1/users`, {
        method: 'POST',
        headers: { ...server.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'live@example.com', name: 'Live One' }),
      });
      const { id: liveId } = (await created.json()) as { id: string };
      await page.locator(`#events tbody tr:first-child a[href="/console/users/${liveId}"]`).waitFor();
      await screens.check(page, 'events-following');

      // Sign out: the row goes and the cookie is worthless.
      const cookie = (await context.cookies()).find((c) => c.name === 'roster_console');
      assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict' && cookie.path === '/console', JSON.stringify(cookie));
      assert.equal((await testDb.database.db.selectFrom('console_sessions').select('id').execute()).length, 1);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(/\/console\/sign-in$/);
      assert.equal((await testDb.database.db.selectFrom('console_sessions').select('id').execute()).length, 0, 'the session row is gone');
      const replayed = await fetch(`${base}/console/users`, { headers: { cookie: `roster_console=${cookie.value}` }, redirect: 'manual' });
      assert.equal(replayed.status, 303);
      assert.equal(replayed.headers.get('location'), '/console/sign-in');

      assert.deepEqual(screens.cspViolations, [], 'no CSP violation on any screen');
      assert.deepEqual(screens.problems, [], 'no serious or critical axe violation, no page error');
    });
  });
}
