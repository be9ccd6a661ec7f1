import type { FastifyInstance } from 'fastify';
import { parseKey } from '../auth/keys.js';
import { UnauthenticatedError } from '../auth/errors.js';
import type { ConsoleDependencies } from './plugin.js';
import { formText, seeOther, sendPage, signedIn, viewerOf } from './context.js';
import { clearedSessionCookie, readCookie, SESSION_COOKIE, sessionCookie } from './cookies.js';
import { HomePage, SignInPage } from './views/pages.js';

export const SIGN_IN_PER_MINUTE_DEFAULT = 10;

/** Sign-in (an API key for a session), sign-out, and the console's home page. */
export function sessionRoutes(deps: ConsoleDependencies) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const signInLimit = deps.signInPerMinute ?? SIGN_IN_PER_MINUTE_DEFAULT;

    app.get('/', { config: { access: 'public', console: 'signed-in' }, schema: { hide: true } }, (request, reply) =>
      sendPage(reply, HomePage({ viewer: viewerOf(signedIn(request)) }) as string),
    );

    app.get('/sign-in', { config: { access: 'public', console: 'anonymous' }, schema: { hide: true } }, (_request, reply) =>
      sendPage(reply, SignInPage({}) as string),
    );

    app.post(
      '/sign-in',
      {
        // Its own budget per client IP, far below the API's: guessing keys through this form is
        // slower than through the API, and an attempt costs a hash and a database read.
        config: { access: 'public', console: 'anonymous', rateLimit: { max: signInLimit, timeWindow: 60_000 } },
        schema: { hide: true },
      },
      async (request, reply) => {
        const presented = formText(request.body, 'key')?.trim() ?? '';
        const parsed = parseKey(presented);
        try {
          if (parsed === undefined) throw new UnauthenticatedError('malformed key');
          const principal = await deps.apiKeys.authenticate(presented);
          if (principal.kind !== 'api_key') throw new UnauthenticatedError('not an API key');
        } catch (error) {
          if (!(error instanceof UnauthenticatedError)) throw error;
          // One message for every reason, as the API gives: telling them apart helps whoever probes for keys.
          return sendPage(
            reply,
            SignInPage({ error: 'That key is not valid: it is unknown, revoked, expired or mistyped.' }) as string,
            401,
          );
        }
        // A sign-in over an existing session replaces it rather than leaving it live behind a lost cookie.
        await deps.sessions.end(readCookie(request.headers.cookie, SESSION_COOKIE), request.deadline.signal);
        const { token } = await deps.sessions.start(parsed.id, request.deadline.signal);
        const secure = request.protocol === 'https';
        reply.header('set-cookie', sessionCookie(token, { maxAgeSeconds: deps.sessions.policy.absoluteMs / 1000, secure }));
        return seeOther(reply, '/console');
      },
    );

    app.post('/sign-out', { config: { access: 'public', console: 'signed-in' }, schema: { hide: true } }, async (request, reply) => {
      await deps.sessions.end(signedIn(request).token, request.deadline.signal);
      reply.header('set-cookie', clearedSessionCookie(request.protocol === 'https'));
      return seeOther(reply, '/console/sign-in');
    });
  };
}
