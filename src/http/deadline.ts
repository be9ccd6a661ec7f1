import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../kit/errors.js';
import { Deadline } from '../kit/deadline.js';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.js';

/** The request ran past its deadline; whatever it was doing has been told to stop. */
export class RequestDeadlineError extends AppError {
  readonly code = 'deadline-exceeded';
}

/** The client went away before the answer; the work for it is told to stop. */
export class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
}

/**
 * What the work of a request whose client went away did in the end. `whileAnswering`: the client
 * left after the handler settled, while its answer was being written.
 */
export type ClientGoneOutcome = (
  { readonly completed: true; readonly status: number } | { readonly completed: false; readonly error: unknown }
) & { readonly whileAnswering?: true };

/** The client did not send the whole request body in time (a slow or stalled client). */
export class RequestBodyTimeoutError extends AppError {
  readonly code = 'request-timeout';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A route that reads its own (large, streamed) body under its own timeouts declares how
     * long that may take: its deadline grows by this much, and the slow-body guard leaves it alone.
     */
    bodyTimeoutMs?: number;
  }
  interface FastifyRequest {
    /**
     * Aborts when the request passes its deadline or the client goes away. Handlers pass it to
     * the services, which pass it to the stores: work stops at the next step. It is a
     * Cancellation (kit/deadline.ts): its AbortSignal (`.signal`) is made only when read, so a
     * request whose work only checks `aborted` never pays for one. Set when the route's handler
     * starts: hooks that run before it (onRequest, preHandler) have none.
     */
    deadline: Deadline;
  }
}

/**
 * Gives every route registered after this call one deadline, created here at the edge. At the
 * deadline the client gets a 504 problem at once, even if the work below ignores the signal;
 * PostgreSQL statements are bounded by the same figure server-side (statement_timeout, see
 * db/database.ts), so no query keeps running for a request nobody waits for.
 */
export function enforceDeadlines(
  app: FastifyInstance,
  timeoutMs: number,
  onExceeded: (route: string) => void,
  onClientGone: (request: FastifyRequest, reply: FastifyReply, outcome: ClientGoneOutcome) => void,
): void {
  app.decorateRequest('deadline', null as unknown as Deadline);
  app.addHook('onRoute', (route) => {
    const handler = route.handler;
    const what = `${route.method.toString()} ${route.url}`;
    const ms = timeoutMs + (route.config?.bodyTimeoutMs ?? 0);
    route.handler = async function withDeadline(request, reply) {
      const deadline = new Deadline(ms, () => {
        onExceeded(route.url);
        return new RequestDeadlineError(`${what} did not finish within ${ms} ms; it was stopped.`);
      });
      // One controller serves both causes: Fastify's own request.signal would be a second
      // AbortController per request (visible in the GET-by-id profile).
      // The response's 'close' before it finished is the connection going away. Not the
      // request's 'close': Node emits that as soon as the body has been read, which for a route
      // that reads its own body (an upload) happens while the client is still waiting.
      // A client that goes away only aborts the signal: the race goes on until the work settles
      // (or the deadline passes), so what it did is known and logged once. A write past its
      // last check commits although nobody hears of it; one that honours the signal rolls back.
      let gone = false;
      // Set once the handler settled. The answer is still being written then, and the client
      // can go before it finishes: Fastify runs onResponse on 'finish' only, and onRequestAbort
      // only for a request whose body was cut short, so without this the request would get no
      // line at all. 'close' is emitted once per response, so the listener stays until then.
      let settled: ClientGoneOutcome | undefined;
      const onClose = () => {
        if (reply.raw.writableFinished) return;
        if (settled !== undefined) {
          const outcome = settled.completed ? { completed: true as const, status: reply.statusCode } : settled;
          onClientGone(request, reply, { ...outcome, whileAnswering: true });
          return;
        }
        gone = true;
        deadline.abort(new ClientGoneError('The client closed the connection.'));
      };
      // on(), not once(): once() wraps it anew per request.
      reply.raw.on('close', onClose);
      // Gone before the handler started (a hook or the body parser waited long enough).
      if (request.raw.socket?.destroyed === true) onClose();
      request.deadline = deadline;
      try {
        const result: unknown = await deadline.race(Promise.resolve(handler.call(this, request, reply)));
        settled = { completed: true, status: 0 };
        if (!gone) return result;
        onClientGone(request, reply, { completed: true, status: reply.statusCode });
      } catch (error) {
        settled = { completed: false, error };
        if (!gone) throw error;
        onClientGone(request, reply, { completed: false, error });
      } finally {
        deadline.dispose();
        if (gone || reply.raw.writableFinished) reply.raw.off('close', onClose);
      }
      // Nobody can read an answer: Fastify must not try to send one (a second send is what
      // logged "Reply was already sent").
      if (!reply.sent) reply.hijack();
      return undefined;
    };
  });
}

/**
 * The slow-body guard: a request must have arrived whole (headers and body) within
 * `timeoutMs` of its start (ROSTER_HTTP_REQUEST_TIMEOUT_MS), or it is answered 408
 * `request-timeout` and its connection closed, so slow clients cannot hold sockets and parser
 * state. Node's own `requestTimeout` did this for every route, but it cannot exempt one route,
 * and uploads (routes declaring `bodyTimeoutMs`) legitimately take minutes; so Node's limit is
 * raised to cover them (http/app.ts) and every other route is held to `timeoutMs` here.
 * Requests without a body, or whose body has arrived (`complete`), are never touched: a long
 * streamed response is the deadline's business, not this guard's.
 */
export function guardSlowBodies(app: FastifyInstance, timeoutMs: number): void {
  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw;
    // Headers have arrived (Node's headersTimeout saw to that); a request without a body has
    // nothing slow left to send, so the common GET costs no timer.
    const length = raw.headers['content-length'];
    const hasBody = raw.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!hasBody || request.routeOptions.config.bodyTimeoutMs !== undefined || raw.complete) return done();
    const timer = setTimeout(() => {
      if (raw.complete || reply.sent || raw.destroyed) return;
      const body = toProblem(new RequestBodyTimeoutError(`The request was not received whole within ${timeoutMs} ms.`), request.id);
      // Answered on the raw response, like Node's own 408: the body parser may still be waiting
      // for bytes, so the connection is closed after the answer and nothing more is read.
      const res = reply.raw;
      if (!res.headersSent) {
        res.writeHead(408, { 'content-type': PROBLEM_CONTENT_TYPE, connection: 'close', 'x-request-id': request.id });
        res.end(JSON.stringify(body), () => raw.socket?.destroy());
      } else raw.socket?.destroy();
    }, timeoutMs);
    timer.unref();
    const clear = () => clearTimeout(timer);
    raw.once('end', clear);
    raw.once('close', clear);
    reply.raw.once('finish', clear);
    done();
  });
}
