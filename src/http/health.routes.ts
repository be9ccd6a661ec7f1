import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { component } from './openapi.js';

export interface Readiness {
  /** True once shutdown has begun: /readyz answers 503 so load balancers stop sending traffic; requests are still served. */
  isDraining(): boolean;
  /** True once the drain delay is over and the listener closes: requests that still arrive get 503 `unavailable`. */
  isClosing(): boolean;
  /** Rejects when the database does not answer a trivial query in time. */
  ping(): Promise<void>;
}

const HealthStatus = component(
  'HealthStatus',
  Type.Object({ status: Type.String({ description: 'ok, ready, draining or database unavailable' }) }, { description: 'A probe result' }),
  { status: 'ready' },
);

/** The named schemas these routes reference (added to the app's root by buildApp()). */
export const HEALTH_SCHEMAS = [HealthStatus.schema];

/** The readiness checks (/readyz, the console's status screen): draining, then the database. */
export async function readinessState(
  readiness: Readiness,
  onDatabaseError: (error: unknown) => void,
): Promise<'ready' | 'draining' | 'database unavailable'> {
  if (readiness.isDraining()) return 'draining';
  try {
    await readiness.ping();
    return 'ready';
  } catch (error) {
    onDatabaseError(error);
    return 'database unavailable';
  }
}

/** Liveness never touches dependencies (a restart would not fix them); readiness does. */
export function healthRoutes(readiness: Readiness) {
  return async function register(app: FastifyInstance): Promise<void> {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    const schema = { tags: ['health'], security: [], response: { 200: HealthStatus.ref, 503: HealthStatus.ref } };
    // Probes are never rate limited: an orchestrator polling them must not be told 429.
    const config = { access: 'public' as const, rateLimit: false as const };
    r.get(
      '/livez',
      {
        config: { ...config, alwaysServe: true, docs: { responses: { 200: { description: 'Alive', example: { status: 'ok' } } } } },
        schema: {
          ...schema,
          response: { 200: HealthStatus.ref },
          operationId: 'getLiveness',
          summary: 'The process is alive',
          description: 'Never touches the database: a failure means the process should be restarted.',
        },
      },
      () => ({ status: 'ok' }),
    );
    r.get(
      '/readyz',
      {
        config: {
          ...config,
          docs: {
            responses: {
              200: { description: 'Ready' },
              503: { description: 'Not ready: draining at shutdown, or the database does not answer', example: { status: 'draining' } },
            },
          },
        },
        schema: {
          ...schema,
          operationId: 'getReadiness',
          summary: 'The instance can serve traffic',
          description: 'Checks the database; 503 while the instance drains at shutdown, so load balancers stop sending traffic.',
        },
      },
      async (request, reply) => {
        const status = await readinessState(readiness, (error) =>
          request.log.warn({ err: error }, 'readiness check failed: database did not answer'),
        );
        return status === 'ready' ? { status } : reply.code(503).send({ status });
      },
    );
  };
}
