import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

export interface Readiness {
  /** True once shutdown has begun: /readyz answers 503 so load balancers stop sending traffic; requests are still served. */
  isDraining(): boolean;
  /** True once the drain delay is over and the listener closes: requests that still arrive get 503 `unavailable`. */
  isClosing(): boolean;
  /** Rejects when the database does not answer a trivial query in time. */
  ping(): Promise<void>;
}

const Status = Type.Object({ status: Type.String() });

/** Liveness never touches dependencies (a restart would not fix them); readiness does. */
export function healthRoutes(readiness: Readiness) {
  return async function register(app: FastifyInstance): Promise<void> {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    const schema = { tags: ['health'], response: { 200: Status, 503: Status } };
    // Probes are never rate limited: an orchestrator polling them must not be told 429.
    const config = { access: 'public' as const, rateLimit: false as const };
    r.get('/livez', { config: { ...config, alwaysServe: true }, schema: { ...schema, summary: 'The process is alive' } }, () => ({
      status: 'ok',
    }));
    r.get('/readyz', { config, schema: { ...schema, summary: 'The instance can serve traffic' } }, async (request, reply) => {
      if (readiness.isDraining()) return reply.code(503).send({ status: 'draining' });
      try {
        await readiness.ping();
        return { status: 'ready' };
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed: database did not answer');
        return reply.code(503).send({ status: 'database unavailable' });
      }
    });
  };
}
