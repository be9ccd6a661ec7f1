import type { FastifyInstance } from 'fastify';
import { sendPage, signedIn, viewerOf } from './context.js';
import type { StatusSource } from './status.js';
import { StatusPage } from './views/status.js';

/**
 * The status screen: version, database dialect, readiness and the main metrics of the instance
 * that answers. Any signed-in key may see it, whatever its scopes: it shows what /readyz (public)
 * and /metrics (the admin listener) already tell an operator, as totals, and no data of anyone.
 */
export function statusRoutes(status: StatusSource) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const page = { config: { access: 'public' as const, console: 'signed-in' as const }, schema: { hide: true } };

    app.get('/status', page, async (request, reply) => {
      const state = signedIn(request);
      const [readiness, metrics] = await Promise.all([status.readiness(), status.metrics()]);
      const view = { version: status.version, commit: status.commit, dialect: status.dialect, readiness, metrics };
      return sendPage(reply, StatusPage({ viewer: viewerOf(state), view }) as string);
    });
  };
}
