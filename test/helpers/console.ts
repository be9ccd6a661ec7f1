// Signing in to the console over app.inject, for the console's API-level tests.
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

export const ORIGIN = 'http://localhost:80';
export const FORM = { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' };

export function cookieOf(response: LightMyRequestResponse): string {
  const header = response.headers['set-cookie'];
  assert.equal(typeof header, 'string', 'one Set-Cookie');
  return (header as string).split(';')[0]!;
}

let addresses = 0;

/**
 * Each sign-in from an address of its own: sign-in is limited per client IP (its own test is
 * the last one), and these tests sign in more often than that budget.
 */
export async function signIn(
  app: FastifyInstance,
  key: string,
  headers: Record<string, string> = {},
  remoteAddress = `10.0.${Math.floor(++addresses / 250)}.${addresses % 250}`,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/console/sign-in',
    headers: { ...FORM, ...headers },
    payload: `key=${encodeURIComponent(key)}`,
    remoteAddress,
  });
}

/** A signed-in session: its cookie and the CSRF token from a page of it. */
export async function session(app: FastifyInstance, key: string): Promise<{ cookie: string; csrf: string }> {
  const response = await signIn(app, key);
  assert.equal(response.statusCode, 303, response.body);
  const cookie = cookieOf(response);
  const page = await app.inject({ method: 'GET', url: '/console', headers: { cookie } });
  assert.equal(page.statusCode, 200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(csrf, 'the page carries a CSRF token');
  return { cookie, csrf };
}
