// The console's imports and status screens in a real browser (Debian's chromium through
// playwright-core) against a real `roster serve` on SQLite and on PostgreSQL: sign in, upload a
// CSV of a few thousand users with one bad row through the file input, watch the job's progress
// (polled by htmx) reach "succeeded", see the row error, start a bigger import and cancel it,
// open the status page. Every screen: axe-core clean, CSP clean, a screenshot, and 360 px wide.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext } from 'playwright-core';
import type { TestDatabase } from '../helpers/databases.js';
import { ServerProcess } from '../helpers/server.js';
import { chromiumUnavailable, DIALECTS, launchBrowser, Screens, signIn } from './console/harness.js';

/** Ports of this file's servers (its own range). */
const PORTS = { sqlite: 26120, postgres: 26121 } as const;
const USERS = 3_000;
/** The bad row: its email is not one; it is line BAD_AT + 2 of the file (after the header). */
const BAD_AT = 1_234;
/** Big enough to still be running when the cancel button is pressed, on a fast machine too. */
const BIG_USERS = 400_000;

const noBrowser = chromiumUnavailable();
let browser: Browser | undefined;

before(async () => {
  if (noBrowser === undefined) browser = await launchBrowser();
});
after(async () => browser?.close());

function csv(count: number, prefix: string, badAt?: number): Buffer {
  const lines = ['email,name'];
  for (let i = 0; i < count; i++) lines.push(i === badAt ? 'not-an-email,Bad <b>Row</b>' : `${prefix}-${i}@example.com,User ${i}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}

for (const [dialect, open, unavailable] of DIALECTS) {
  describe(`console imports and status in chromium on ${dialect}`, { skip: noBrowser ?? (await unavailable()) }, () => {
    let testDb: TestDatabase;
    let server: ServerProcess;
    let context: BrowserContext;
    let screens: Screens;

    before(async () => {
      testDb = await open();
      server = await ServerProcess.start({ databaseUrl: testDb.url, env: { PORT: String(PORTS[dialect]) } });
      context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
      context.setDefaultTimeout(60_000);
      screens = new Screens(`${dialect}-imports`);
    });
    after(async () => {
      await context?.close();
      await server?.stop();
      await testDb?.cleanup();
    });

    test('upload, watch it finish, see the row error, cancel a bigger one, open the status page', async () => {
      const page = await context.newPage();
      screens.watch(page);
      const base = server.url;
      await signIn(page, base, server.apiKey);

      // The imports screen, and an upload through the file input.
      await page.getByRole('link', { name: 'Imports' }).click();
      await page.waitForURL(/\/console\/imports$/);
      await screens.check(page, 'list-empty');
      await screens.checkNarrow(page, 'list');
      await page
        .getByLabel('File', { exact: true })
        .setInputFiles({ name: 'users.csv', mimeType: 'text/csv', buffer: csv(USERS, dialect, BAD_AT) });
      await page.getByRole('button', { name: 'Upload and import' }).click();
      await page.waitForURL(/\/console\/imports\/[0-9a-f-]{36}$/);
      const jobUrl = page.url();

      // Progress is polled while it runs; once finished the page reloads with the row errors.
      await page.locator('[data-status="succeeded"]').waitFor();
      await page.getByRole('cell', { name: String(BAD_AT + 2), exact: true }).waitFor();
      const counts = await page.locator('#job-progress dl').innerText();
      assert.match(counts, new RegExp(`Rows read\\s+${USERS}`));
      assert.match(counts, new RegExp(`Created\\s+${USERS - 1}`));
      assert.match(counts, /Failed\s+1/);
      assert.equal(await page.getByRole('button', { name: 'Cancel the import' }).count(), 0, 'a finished job has no cancel');
      await screens.check(page, 'job-succeeded');
      await screens.checkNarrow(page, 'job-succeeded');

      // A bigger one, cancelled while it runs.
      await page.goto(`${base}/console/imports`);
      await page
        .getByLabel('File', { exact: true })
        .setInputFiles({ name: 'big.csv', mimeType: 'text/csv', buffer: csv(BIG_USERS, `${dialect}-big`) });
      await page.getByRole('button', { name: 'Upload and import' }).click();
      await page.waitForURL(/\/console\/imports\/[0-9a-f-]{36}$/);
      assert.notEqual(page.url(), jobUrl);
      await page.locator('#job-progress[hx-trigger="every 1s"]').waitFor();
      await screens.check(page, 'job-running');
      page.once('dialog', (dialog) => void dialog.accept());
      await page.getByRole('button', { name: 'Cancel the import' }).click();
      await page.waitForURL(/cancelled=1$/, { timeout: 180_000 });
      await page.getByText('The import was cancelled.').waitFor();
      await page.locator('[data-status="cancelled"]').waitFor();
      await screens.check(page, 'job-cancelled');

      // The list shows both, newest first.
      await page.goto(`${base}/console/imports`);
      const statuses = await page.locator('tbody tr td:nth-child(2)').allInnerTexts();
      assert.deepEqual(statuses, ['cancelled', 'succeeded']);
      await screens.check(page, 'list');

      // The status page.
      await page.getByRole('link', { name: 'Status' }).click();
      await page.waitForURL(/\/console\/status$/);
      await page.getByText(dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL', { exact: true }).waitFor();
      const instance = await page.locator('main').innerText();
      assert.match(instance, /Readiness\s+ready/);
      assert.ok(!instance.includes(testDb.url), 'never the database URL');
      await screens.check(page, 'status');
      await screens.checkNarrow(page, 'status');

      assert.deepEqual(screens.cspViolations, [], 'no CSP violation on any screen');
      assert.deepEqual(screens.problems, [], 'no serious or critical axe violation, no page error');
    });
  });
}
