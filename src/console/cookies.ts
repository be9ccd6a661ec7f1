/** The cookie that carries a console session's token. Path-scoped to the console, so the API never sees it. */
export const SESSION_COOKIE = 'roster_console';

/** The value of cookie `name` in a Cookie header, or undefined. The first one wins, as browsers send the most specific path first. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Set-Cookie for the session: HttpOnly (no script reads it), SameSite=Strict (no other site's
 * page sends it), Path=/console, Secure whenever the browser reached us over TLS.
 */
export function sessionCookie(token: string, options: { maxAgeSeconds: number; secure: boolean }): string {
  return [
    `${SESSION_COOKIE}=${token}`,
    'Path=/console',
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

/** Set-Cookie that removes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie('', { maxAgeSeconds: 0, secure });
}
