// The groups screens and the user page's groups, events and deactivation, in Debian's chromium
// against a real Roster on a SQLite file and on PostgreSQL: create a group, add two members,
// remove one, rename it across a conflict made from the API, see a user's groups and events on
// its page, deactivate the user. Every screen: axe clean, CSP clean, a screenshot, and 360 px wide.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext } from 'playwright-core';
import type { TestDatabase } from '../helpers/databases.js';
import { ServerProcess } from '../helpers/server.js';
import { chromiumUnavailable, DIALECTS, launchBrowser, Screens, signIn } from './console/harness.js';

/** Ports of this file's servers (the congroups range 26130–26139). */
const PORTS = { sqlite: 26130, postgres: 26131 } as const;

const noBrowser = chromiumUnavailable();
let browser: Browser | undefined;

before(async () => {
  if (noBrowser === undefined) browser = await launchBrowser();
});
after(async () => browser?.close());

for (const [dialect, open, unavailable] of DIALECTS) {
  describe(`the console's groups in chromium on ${dialect}`, { skip: noBrowser ?? (await unavailable()) }, () => {
    let testDb: TestDatabase;
    let server: ServerProcess;
    let context: BrowserContext;
    const screens = new Screens(`${dialect}-groups`);

    before(async () => {
      testDb = await open();
      server = await ServerProcess.start({ databaseUrl: testDb.url, env: { PORT: String(PORTS[dialect]) } });
      context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
      context.setDefaultTimeout(30_000);
    });
    after(async () => {
      await context?.close();
      await server?.stop();
      await testDb?.cleanup();
    });

    const api = async (method: string, path: string, body?: unknown, type = 'application/json') => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { ...server.auth, ...(body === undefined ? {} : { 'content-type': type }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text) as { id: string };
    };

    test('create a group, add two members, remove one, rename across a conflict; the user page', async () => {
      const ada = await api('POST', '/v1/users', { email: 'ada@example.com', name: 'Ada Lovelace' });
      const bob = await api('POST', '/v1/users', { email: 'bob@example.com', name: 'Bob Builder' });
      const page = await context.newPage();
      screens.watch(page);
      await signIn(page, server.url, server.apiKey);

      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Groups' }).click();
      await page.waitForURL(/\/console\/groups$/);
      await page.getByLabel('Name', { exact: true }).fill('Analytical Engines');
      await page.getByRole('button', { name: 'Create group' }).click();
      await page.getByText('The group was created.').waitFor();
      await screens.check(page, 'group-created');
      const groupUrl = page.url().replace(/\?.*$/, '');

      await page.getByLabel('Emails or user ids, one a line').fill(`ada@example.com\n${bob.id}`);
      await page.getByRole('button', { name: 'Add members' }).click();
      await page.getByText('The members were added.').waitFor();
      await page.getByRole('link', { name: 'Bob Builder' }).waitFor();
      await screens.check(page, 'group-members');
      await screens.checkNarrow(page, 'group-members');

      await page.getByRole('button', { name: 'Remove bob@example.com' }).click();
      await page.getByText('The member was removed.').waitFor();
      assert.equal(await page.getByRole('link', { name: 'Bob Builder' }).count(), 0);
      await page.getByRole('link', { name: 'Ada Lovelace' }).waitFor();

      // A rename from the API after the page was read: saving shows both versions; keep mine.
      await api(
        'PATCH',
        `/v1/groups/${groupUrl.split('/').at(-1)}`,
        { display_name: 'Difference Engines' },
        'application/merge-patch+json',
      );
      await page.getByLabel('Name', { exact: true }).fill('Engines of Ada');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('heading', { name: 'Someone else changed this group' }).waitFor();
      await page.getByText('Difference Engines').waitFor();
      await screens.check(page, 'group-conflict');
      await screens.checkNarrow(page, 'group-conflict');
      await page.getByRole('button', { name: 'Keep my edit' }).click();
      await page.getByText('Saved.').waitFor();
      await page.getByRole('heading', { name: 'Engines of Ada', level: 1 }).waitFor();

      await page.goto(`${server.url}/console/groups?q=engines`);
      await page.getByRole('link', { name: 'Engines of Ada' }).waitFor();
      await screens.check(page, 'groups-search');
      await screens.checkNarrow(page, 'groups-search');

      // The user page: its group, its events, and deactivation.
      await page.goto(groupUrl);
      await page.getByRole('link', { name: 'Ada Lovelace' }).click();
      await page.waitForURL(new RegExp(`/console/users/${ada.id}$`));
      await page.getByRole('region', { name: 'Groups' }).getByRole('link', { name: 'Engines of Ada' }).waitFor();
      await page.getByRole('region', { name: 'Latest events' }).getByRole('cell', { name: 'user.created' }).waitFor();
      await page.getByRole('button', { name: 'Deactivate user' }).click();
      await page.getByText('The user was deactivated.').waitFor();
      await page.getByRole('button', { name: 'Reactivate user' }).waitFor();
      await page
        .getByRole('region', { name: 'Latest events' })
        .locator('tbody tr:first-child')
        .getByText('active', { exact: true })
        .waitFor();
      await screens.check(page, 'user-deactivated');
      await screens.checkNarrow(page, 'user-deactivated');
      const user = (await (await fetch(`${server.url}/v1/users/${ada.id}`, { headers: server.auth })).json()) as { active: boolean };
      assert.equal(user.active, false);

      assert.deepEqual(screens.cspViolations, [], 'no CSP violation on any screen');
      assert.deepEqual(screens.problems, [], 'no serious or critical axe violation, no page error, nothing wider than 360 px');
    });
  });
}
