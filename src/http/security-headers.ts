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
