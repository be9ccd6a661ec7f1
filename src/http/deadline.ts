import type { FastifyInstance } from 'fastify';
import { AppError } from '../kit/errors.js';
import { Deadline } from '../kit/deadline.js';

/** The request ran past its deadline; whatever it was doing has been told to stop. */
export class RequestDeadlineError extends AppError {
  readonly code = 'deadline-exceeded';
}

/** The client went away before the answer; the work for it is stopped. */
export class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
}

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Aborts when the request passes its deadline or the client goes away. Handlers pass it to
     * the services, which pass it to the stores: work stops at the next step.
     */
    deadline: AbortSignal;
  }
}

/**
 * Gives every route registered after this call one deadline, created here at the edge. At the
 * deadline the client gets a 504 problem at once, even if the work below ignores the signal;
 * PostgreSQL statements are bounded by the same figure server-side (statement_timeout, see
 * db/database.ts), so no query keeps running for a request nobody waits for.
 */
export function enforceDeadlines(app: FastifyInstance, timeoutMs: number, onExceeded: (route: string) => void): void {
  app.decorateRequest('deadline', null as unknown as AbortSignal);
  app.addHook('onRoute', (route) => {
    const handler = route.handler;
    const what = `${route.method.toString()} ${route.url}`;
    route.handler = async function withDeadline(request, reply) {
      const deadline = new Deadline(timeoutMs, () => {
        onExceeded(route.url);
        return new RequestDeadlineError(`${what} did not finish within ${timeoutMs} ms; it was stopped.`);
      });
      // One controller serves both causes: Fastify's own request.signal would be a second
      // AbortController per request (visible in the GET-by-id profile).
      const onClose = () => deadline.cancel(new ClientGoneError('The client closed the connection.'));
      request.raw.once('close', onClose);
      request.deadline = deadline.signal;
      try {
        return await deadline.race(Promise.resolve(handler.call(this, request, reply)));
      } finally {
        deadline.dispose();
        request.raw.off('close', onClose);
      }
    };
  });
}
