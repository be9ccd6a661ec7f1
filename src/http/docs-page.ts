import type { FastifyInstance } from 'fastify';
import swaggerUi from '@fastify/swagger-ui';
import { DOCUMENT_SECURITY_HEADERS } from './security-headers.js';

/** The wordmark in the page's top bar and its favicon: self-contained, so the page works offline. */
const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="150" height="40" viewBox="0 0 150 40">
<rect x="2" y="6" width="28" height="28" rx="6" fill="#2f6f4f"/>
<path d="M10 14h12M10 20h12M10 26h8" stroke="#fff" stroke-width="3" stroke-linecap="round"/>
<text x="40" y="28" font-family="Helvetica, Arial, sans-serif" font-size="22" font-weight="700" fill="#ffffff">Roster API</text>
</svg>`;

const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="6" fill="#2f6f4f"/>
<path d="M8 10h16M8 16h16M8 22h10" stroke="#fff" stroke-width="3" stroke-linecap="round"/>
</svg>`;

/** Only Roster's colours in the top bar; everything else is swagger-ui's own stylesheet. */
const THEME_CSS = `.swagger-ui .topbar { background-color: #1f2a24; }
.swagger-ui .topbar .download-url-wrapper .select-label { color: #e8efe9; }
.swagger-ui .topbar .download-url-wrapper .select-label select { border-color: #2f6f4f; }`;

/** Where the document is served; the page reads it there rather than from a copy of its own. */
export const OPENAPI_PATH = '/openapi.json';

/**
 * /docs: swagger-ui over /openapi.json, titled and marked as Roster's. swagger-ui is served
 * from this package's own files (no CDN), so the page works on an offline host, and its "Try
 * it out" and "Authorize" (a bearer credential, kept across reloads) call the API directly.
 * /docs/json, the plugin's copy of the document, redirects to /openapi.json: one address.
 */
export async function registerDocsPage(app: FastifyInstance): Promise<void> {
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    // Its CSP would also upgrade the page's own http:// asset URLs, breaking /docs on a plain-HTTP
    // port (local use, TLS ended at the proxy): the proxy's HSTS is the place for that.
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, ''),
    uiConfig: {
      // With `urls` the top bar loads this document instead of the plugin's ./json.
      urls: [{ url: OPENAPI_PATH, name: 'Roster API' }],
      persistAuthorization: true,
      displayOperationId: true,
      displayRequestDuration: true,
      docExpansion: 'list',
      defaultModelsExpandDepth: 1,
      filter: true,
      tryItOutEnabled: false,
    },
    uiHooks: {
      onRequest: (request, reply, done) => {
        if (request.url.split('?')[0] === '/docs/json') void reply.redirect(OPENAPI_PATH, 308);
        else {
          // The page is an HTML document: the headers only a document heeds (http/security-headers.ts).
          void reply.headers(DOCUMENT_SECURITY_HEADERS);
          done();
        }
      },
    },
    logo: { type: 'image/svg+xml', content: Buffer.from(LOGO_SVG), href: '/docs', target: '_self' },
    theme: {
      title: 'Roster API',
      favicon: [{ filename: 'roster.svg', rel: 'icon', sizes: 'any', type: 'image/svg+xml', content: Buffer.from(FAVICON_SVG) }],
      css: [{ filename: 'roster.css', content: THEME_CSS }],
    },
  });
}
