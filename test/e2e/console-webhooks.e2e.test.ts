// The console's webhook screens in a real browser (Debian's chromium through playwright-core)
// against a real `roster serve` on SQLite and on PostgreSQL, delivering to a receiver on
// loopback (node:http; the server allows 127.0.0.1 as the webhook e2e tests do): sign in; add
// an endpoint by keyboard and copy its secret; a user made over REST is delivered and shows in
// the log as 200; the receiver refuses (400) and the log shows it, its body escaped; a replay
// of that event is delivered; disable, then enable (what happened meanwhile arrives); rotate
// the secret (new deliveries verify with it); delete. On every screen: axe-core, CSP, a screenshot.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { TestDatabase } from '../helpers/databases.js';
import { pollFor, ServerProcess } from '../helpers/server.js';
import { startSink, type Sink } from '../webhooks/sink.js';
import { verifyAll } from '../webhooks/harness.js';
import { chromiumUnavailable, DIALECTS, launchBrowser, Screens, signIn } from './console/harness.js';

/** Ports of this file's servers (its own range, so no other test's server takes them). */
const PORTS = { sqlite: 26110, postgres: 26111 } as const;
/** Loopback receivers allowed, and a quick poll so deliveries follow writes closely. */
const WEBHOOK_ENV = { ROSTER_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', ROSTER_WEBHOOK_POLL_INTERVAL_MS: '10' };
/** Deliveries, page loads and polls on a machine ten times slower than a quiet one. */
const PATIENCE = { ms: 60_000, everyMs: 250 };
/** What the receiver answers when it refuses: markup, which the log must show as text. */
const REFUSAL = '<b id="injected">not today</b>';

const noBrowser = chromiumUnavailable();
let browser: Browser | undefined;

before(async () => {
  if (noBrowser === undefined) browser = await launchBrowser();
});
after(async () => browser?.close());

for (const [dialect, open, unavailable] of DIALECTS) {
  describe(`the console's webhook screens in chromium on ${dialect}`, { skip: noBrowser ?? (await unavailable()) }, () => {
    let testDb: TestDatabase;
    let server: ServerProcess;
    let sink: Sink;
    let refusing = false;
    let context: BrowserContext;
    let screens: Screens;

    before(async () => {
      testDb = await open();
      sink = await startSink((_request, res) => {
        if (refusing) res.writeHead(400, { 'content-type': 'text/html' }).end(REFUSAL);
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
      server = await ServerProcess.start({ databaseUrl: testDb.url, env: { PORT: String(PORTS[dialect]), ...WEBHOOK_ENV } });
      context = await browser!.newContext({ viewport: { width: 1280, height: 900 }, permissions: ['clipboard-read', 'clipboard-write'] });
      context.setDefaultTimeout(30_000);
      screens = new Screens(`${dialect}-webhooks`);
    });
    after(async () => {
      await context?.close();
      await server?.stop();
      await sink?.close();
      await testDb?.cleanup();
    });

    /** A user made over REST: its user.created event is what gets delivered. */
    async function createUser(name: string): Promise<string> {
      const response = await fetch(`${server.url}/v1/users`, {
        method: 'POST',
        headers: { ...server.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ email: `${name.toLowerCase().replaceAll(' ', '.')}@example.com`, name }),
      });
      assert.equal(response.status, 201, await response.clone().text());
      return ((await response.json()) as { id: string }).id;
    }

    /** The sequence of the event the receiver got for `userId`, once it got one; its requests verified with `secret`. */
    async function deliveredSequence(userId: string, secret: string, from = 0): Promise<number> {
      return pollFor(
        `the receiver gets the event of user ${userId}`,
        () => {
          const requests = sink.requests.slice(from).filter((r) => r.body.toString().includes(userId));
          return requests.length === 0 ? undefined : verifyAll(requests, secret)[0]!.sequence;
        },
        PATIENCE,
      );
    }

    /** Reloads the endpoint page until its log has a row of event `sequence` matching `text`. */
    async function logRow(page: Page, sequence: number, text: RegExp) {
      const row = page.locator('#log article', { hasText: `Event #${sequence}, attempt` }).filter({ hasText: text });
      await pollFor(
        `a log row of event ${sequence} matching ${text}`,
        async () => {
          await page.reload();
          return (await row.count()) > 0;
        },
        PATIENCE,
      );
      return row.first();
    }

    test('add an endpoint, see deliveries and a failure in the log, replay it, disable, enable, rotate, delete', async () => {
      const page = await context.newPage();
      screens.watch(page);
      await signIn(page, server.url, server.apiKey);

      // The list, then an endpoint added with the keyboard only.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks' }).click();
      await page.waitForURL(/\/console\/webhooks$/);
      await page.getByText('No endpoints yet.').waitFor();
      await screens.check(page, 'list-empty');
      await page.getByLabel('URL').focus();
      await page.keyboard.type(sink.url('/roster'));
      await page.keyboard.press('Tab');
      await page.keyboard.type('Browser <test>');
      await page.getByLabel('user.created', { exact: true }).focus();
      await page.keyboard.press('Space');
      await page.getByLabel('URL').focus();
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: /^Endpoint http:\/\/127\.0\.0\.1:\d+\/roster created$/ }).waitFor();
      const secret = await page.getByLabel('The signing secret').inputValue();
      assert.match(secret, /^whsec_/);
      await page.getByRole('button', { name: 'Copy the secret' }).click();
      await page.locator('#announcer', { hasText: 'Copied' }).waitFor();
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), secret);
      assert.ok(await page.getByRole('cell', { name: 'Browser <test>' }).isVisible(), 'the description, as text');
      await screens.check(page, 'created');

      // A delivery: a user made over REST reaches the receiver and the log says 200.
      await page.getByRole('link', { name: 'The endpoint and its delivery log' }).click();
      await page.waitForURL(/\/console\/webhooks\/[0-9a-f-]{36}$/);
      const endpointUrl = page.url();
      await page.getByText('No attempts yet.').waitFor();
      const delivered = await deliveredSequence(await createUser('Hook One'), secret);
      const ok = await logRow(page, delivered, /success/);
      assert.match(await ok.innerText(), /\b200\b[\s\S]*\d+ ms[\s\S]*\{"ok":true\}/);
      await screens.check(page, 'delivered');

      // A refusal: the log shows the 400 and the receiver's markup as text.
      refusing = true;
      const refused = await deliveredSequence(await createUser('Hook Two'), secret);
      const failed = await logRow(page, refused, /permanent/);
      assert.match(await failed.innerText(), /\b400\b/);
      assert.ok((await failed.innerText()).includes(REFUSAL), 'the response as text');
      assert.equal(await page.locator('#injected').count(), 0, 'not as markup');
      await screens.check(page, 'refused');

      // The receiver is fixed; the refused event is replayed and delivered.
      refusing = false;
      const before = sink.requests.length;
      await failed.getByRole('button', { name: `Replay event ${refused}` }).click();
      await page.waitForURL(/replayed=1$/);
      await page.getByText('1 delivery queued for replay').waitFor();
      const replayed = await logRow(page, refused, /\(replay\)[\s\S]*success/);
      assert.match(await replayed.innerText(), /\b200\b/);
      assert.equal(verifyAll(sink.requests.slice(before), secret).at(-1)?.sequence, refused, 'the receiver got it again');
      await screens.check(page, 'replayed');
      await screens.checkNarrow(page, 'endpoint');

      // Disabled, a change waits; enabled again, it is delivered.
      await page.getByRole('button', { name: 'Disable' }).click();
      await page.waitForURL(/changed=disabled$/);
      await page.getByText('The endpoint was disabled').waitFor();
      assert.match(await page.locator('dl').first().innerText(), /disabled .*\(disabled by an API caller\)/);
      await screens.check(page, 'disabled');
      const waiting = await createUser('Hook Three');
      await page.getByRole('button', { name: 'Enable' }).click();
      await page.waitForURL(/changed=enabled$/);
      await page.getByText('The endpoint was enabled').waitFor();
      await logRow(page, await deliveredSequence(waiting, secret), /success/);

      // A new secret, shown once; later deliveries verify with it.
      page.once('dialog', (dialog) => void dialog.accept());
      await page.getByRole('button', { name: 'Rotate the secret' }).click();
      await page.getByRole('heading', { name: 'New signing secret' }).waitFor();
      const rotated = await page.getByLabel('The signing secret').inputValue();
      assert.match(rotated, /^whsec_/);
      assert.notEqual(rotated, secret);
      await page.getByText('The previous secret keeps signing alongside it until').waitFor();
      await screens.check(page, 'rotated');
      const from = sink.requests.length;
      await deliveredSequence(await createUser('Hook Four'), rotated, from);

      // Deleted: back to the list, which says so; the endpoint is gone from the API too.
      await page.goto(endpointUrl);
      page.once('dialog', (dialog) => void dialog.accept());
      await page.getByRole('button', { name: 'Delete endpoint' }).click();
      await page.waitForURL(/\/console\/webhooks\?deleted=1$/);
      await page.getByText('The endpoint was deleted.').waitFor();
      await screens.check(page, 'deleted');
      const id = endpointUrl.split('/').at(-1)!;
      assert.equal((await fetch(`${server.url}/v1/webhook-endpoints/${id}`, { headers: server.auth })).status, 404);

      assert.deepEqual(screens.cspViolations, [], 'no CSP violation on any screen');
      assert.deepEqual(screens.problems, [], 'no serious or critical axe violation, no page error');
    });
  });
}
