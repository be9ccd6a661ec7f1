import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The security headers helmet would set for `options`, computed once. @fastify/helmet builds
 * helmet's middleware anew on every request (≈ 6% of the GET-by-id CPU profile, see
 * bench/RESULTS.md); Roster's headers never vary by request, so they are taken from helmet
 * itself once, at start-up, and set from a plain object.
 */
export function securityHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    failure = error;
  });
  if (failure !== undefined) throw new Error('helmet rejected the security header options', { cause: failure });
  return Object.freeze(headers);
}

/** The deny-all CSP of the JSON API (pages that serve HTML replace it with their own). */
const API_CSP = {
  useDefaults: false,
  directives: { defaultSrc: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"], frameAncestors: ["'none'"] },
};

/**
 * The headers a browser heeds only on an HTML document (a top-level page): the opener policy,
 * origin-keyed agent clusters, referrer policy, DNS prefetch, IE8's download option, Flash's
 * cross-domain policies and the retired XSS auditor. A JSON answer is never such a document,
 * so the API sends the rest only (OWASP's REST Security Cheat Sheet lists the same set); each
 * header costs its validation and formatting in Node's writeHead, and these seven were about 4%
 * of a GET by id (bench/RESULTS.md, issue 14, sixth pass). HTML routes (console, /docs) add them.
 */
const DOCUMENT_ONLY = {
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
} as const satisfies HelmetOptions;

/** Every API answer's security headers: helmet's, less those only an HTML document heeds. */
export const API_SECURITY_HEADERS = securityHeaders({ contentSecurityPolicy: API_CSP, ...DOCUMENT_ONLY });

/** What an HTML document adds to the API's headers: helmet's defaults that only a page heeds. */
export const DOCUMENT_SECURITY_HEADERS: Readonly<Record<string, string>> = (() => {
  const all = securityHeaders({ contentSecurityPolicy: API_CSP });
  return Object.freeze(Object.fromEntries(Object.entries(all).filter(([name]) => !(name in API_SECURITY_HEADERS))));
})();
