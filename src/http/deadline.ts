import type { FastifyInstance } from 'fastify';
import { AppError } from '../kit/errors.js';
import { runWithDeadline } from '../kit/deadline.js';

/** The request ran past its deadline; whatever it was doing has been told to stop. */
export class RequestDeadlineError extends AppError {
  readonly code = 'deadline-exceeded';
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
    route.handler = function withDeadline(request, reply) {
      return runWithDeadline(
        timeoutMs,
        request.signal,
        () => {
          onExceeded(route.url);
          return new RequestDeadlineError(`${what} did not finish within ${timeoutMs} ms; it was stopped.`);
        },
        (signal) => {
          request.deadline = signal;
          return Promise.resolve(handler.call(this, request, reply));
        },
      );
    };
  });
}
