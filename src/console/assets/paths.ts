import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CONSOLE_SCRIPT } from './script.js';
import { CONSOLE_CSS } from './styles.js';

export interface Asset {
  readonly path: string;
  readonly type: string;
  readonly body: Buffer;
}

const require = createRequire(import.meta.url);
const htmxVersion = (require('htmx.org/package.json') as { version: string }).version;

/** A content hash in the URL: cached for good, and a changed file is a new URL. */
function hashed(name: string, ext: string, body: Buffer): string {
  return `/console/assets/${name}-${createHash('sha256').update(body).digest('hex').slice(0, 12)}.${ext}`;
}

const script = Buffer.from(CONSOLE_SCRIPT);
// Without an icon of its own a browser asks for /favicon.ico, outside the console.
const icon = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1d5a3e"/>' +
    '<path d="M8 10h16M8 16h16M8 22h10" stroke="#fff" stroke-width="3" stroke-linecap="round"/></svg>',
);
const styles = Buffer.from(CONSOLE_CSS);

/** htmx from the pinned package (no CDN), named by its version. */
export const HTMX_PATH = `/console/assets/htmx-${htmxVersion}.min.js`;
export const SCRIPT_PATH = hashed('console', 'js', script);
export const STYLES_PATH = hashed('console', 'css', styles);
export const ICON_PATH = hashed('icon', 'svg', icon);

/** Every asset the console serves, read once at start-up. */
export function consoleAssets(): Asset[] {
  return [
    { path: HTMX_PATH, type: 'text/javascript; charset=utf-8', body: readFileSync(require.resolve('htmx.org/dist/htmx.min.js')) },
    { path: SCRIPT_PATH, type: 'text/javascript; charset=utf-8', body: script },
    { path: STYLES_PATH, type: 'text/css; charset=utf-8', body: styles },
    { path: ICON_PATH, type: 'image/svg+xml', body: icon },
  ];
}
