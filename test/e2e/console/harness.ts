// What every console browser test shares: Debian's chromium through playwright-core (one browser
// per test file), the checks each screen is held to (axe-core, CSP, page errors, a screenshot
// in test-artifacts/console/), the two databases, and signing in. Each test file starts its own
// servers on its own ports.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { postgresUnavailable, postgresTestDatabase, sqliteTestDatabase, type TestDatabase } from '../../helpers/databases.js';

export const CHROMIUM = process.env.ROSTER_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Why the browser tests cannot run here, or undefined. Under CI=true a missing chromium fails. */
export function chromiumUnavailable(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `chromium is not installed at ${CHROMIUM} (apt-get install chromium)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`);
  process.stderr.write(`\n*** SKIPPING console browser tests: ${reason}. ***\n\n`);
  return reason;
}

/** A headless chromium with a fresh temporary profile (Playwright passes --user-data-dir). */
export async function launchBrowser(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export type Dialect = 'sqlite' | 'postgres';

/** Each database, how to open a fresh one, and why it cannot be used here (undefined: it can). */
export const DIALECTS: readonly [Dialect, () => Promise<TestDatabase>, () => Promise<string | undefined>][] = [
  ['sqlite', sqliteTestDatabase, async () => undefined],
  ['postgres', postgresTestDatabase, postgresUnavailable],
];

/** What every screen is held to; problems are collected, not thrown, so all screens are seen. */
export class Screens {
  readonly cspViolations: string[] = [];
  readonly problems: string[] = [];
  /** `prefix` names this file's screenshots (e.g. "sqlite" or "sqlite-webhooks"). */
  constructor(private readonly prefix: string) {}

  watch(page: Page): void {
    page.on('console', (message) => {
      if (/Content[- ]Security[- ]Policy/i.test(message.text())) this.cspViolations.push(message.text());
    });
    page.on('pageerror', (error) => this.problems.push(`page error: ${error.message}`));
  }

  /** axe-core on the page as it is, then a full-page screenshot. */
  async check(page: Page, screen: string): Promise<void> {
    // Evaluated through the DevTools protocol, which the page's CSP does not govern (it would
    // refuse an injected <script>): the page is tested under its real policy.
    await page.evaluate(AXE_SOURCE);
    const violations = await page.evaluate(async () => {
      const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe;
      const result = await axe.run();
      return result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    });
    for (const v of violations) this.problems.push(`${screen}: ${v}`);
    await page.screenshot({ path: join(ARTIFACTS, `${this.prefix}-${screen}.png`), fullPage: true });
  }

  /** The page at 360 px wide scrolls only vertically; checked, then back to the desktop size. */
  async checkNarrow(page: Page, screen: string): Promise<void> {
    const size = page.viewportSize();
    await page.setViewportSize({ width: 360, height: 800 });
    const width = Number(await page.evaluate('document.documentElement.scrollWidth'));
    if (width > 360) this.problems.push(`${screen}: ${width} px wide at a 360 px viewport`);
    await this.check(page, `${screen}-360px`);
    if (size !== null) await page.setViewportSize(size);
  }
}

interface AxeViolation {
  id: string;
  impact?: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Signs in with `apiKey` through the form and waits for the home page. */
export async function signIn(page: Page, baseUrl: string, apiKey: string): Promise<void> {
  await page.goto(`${baseUrl}/console/sign-in`);
  await page.getByLabel('API key').fill(apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console$/);
}
