import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Span } from '@opentelemetry/api';
import type { FastifyServerOptions } from 'fastify';
import { tracingRegistered } from '../kit/trace.js';
import { DrainingServer } from './drain.js';
import { REQUEST_ID_LOG_LABEL, RequestLogger } from './request-logger.js';

const tracer = trace.getTracer('roster.http');
const spans = new WeakMap<IncomingMessage, Span>();

export interface ServerTimeouts {
  /** Time a client has to send the request headers (slow-loris guard). */
  readonly headersTimeoutMs: number;
  /** Time a client has to send the whole request. */
  readonly requestTimeoutMs: number;
  /** Idle keep-alive sockets are closed after this; above the load balancer's idle timeout. */
  readonly keepAliveTimeoutMs: number;
}

/**
 * How often Node looks for connections past their headers or request timeout. Node checks only
 * then (every 30 s by default), so a 1 s headers timeout was enforced at about 30 s: the check
 * runs every tenth of the shorter timeout instead, so a timeout fires at most 10% late, but
 * not more often than every 250 ms nor less often than Node's default. A pass walks the
 * open connections: measured ~0.6 ms for 4,000 idle keep-alive connections, so even at 250 ms
 * it costs about 0.25% of a core (docs/operations.md).
 */
export function connectionsCheckingIntervalMs(timeouts: Pick<ServerTimeouts, 'headersTimeoutMs' | 'requestTimeoutMs'>): number {
  const shorter = Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs);
  return Math.min(30_000, Math.max(250, Math.round(shorter / 10)));
}

/**
 * Fastify's `serverFactory`: a node:http server whose timeouts are set deliberately and which,
 * when tracing is on (an SDK registered before the app is built), opens one SERVER span per
 * request, continuing an incoming `traceparent`, and makes it the active context for everything
 * the request does (hooks, handler, service, database), its body and response events included.
 * With tracing off the handler runs as it is: no span, no context.
 *
 * Written here rather than taken from @opentelemetry/instrumentation-http because that package
 * works by patching `node:http` through module-loader hooks, which for an ESM service means a
 * loader flag on every start and breaks silently when import order changes; the server span is
 * the only part we need, and it is this one function.
 */
export function tracingServerFactory(timeouts: ServerTimeouts) {
  return (handler: RequestListener): Server => {
    const traced = tracingRegistered();
    // Drains without resetting requests (http/drain.ts).
    const server = new DrainingServer(
      {
        headersTimeout: timeouts.headersTimeoutMs,
        requestTimeout: timeouts.requestTimeoutMs,
        keepAliveTimeout: timeouts.keepAliveTimeoutMs,
        connectionsCheckingInterval: connectionsCheckingIntervalMs(timeouts),
      },
      (req: IncomingMessage, res: ServerResponse) => {
        if (!traced) {
          handler(req, res);
          return;
        }
        const parent = propagation.extract(ROOT_CONTEXT, req.headers);
        const span = tracer.startSpan(req.method ?? 'HTTP', { kind: SpanKind.SERVER }, parent);
        if (!span.isRecording()) {
          context.with(trace.setSpan(parent, span), () => handler(req, res));
          return;
        }
        span.setAttribute('http.request.method', req.method ?? '');
        spans.set(req, span);
        res.once('close', () => {
          span.setAttribute('http.response.status_code', res.statusCode);
          if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          if (!res.writableFinished) span.setAttribute('http.aborted', true);
          span.end();
        });
        const active = trace.setSpan(parent, span);
        context.bind(active, req);
        context.bind(active, res);
        context.with(active, () => handler(req, res));
      },
    );
    server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
    return server;
  };
}

/** Names the request's span after its route template once the router has matched it. */
export function nameRequestSpan(req: IncomingMessage, method: string, route: string): void {
  const span = spans.get(req);
  if (span === undefined) return;
  span.updateName(`${method} ${route}`);
  span.setAttribute('http.route', route);
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;
const INVALID_TRACE_ID = '0'.repeat(32);

/**
 * The trace id of an incoming W3C `traceparent`, when it is well formed: what log lines carry
 * when tracing is off, so they still correlate with the caller's trace. Only the header's
 * shape is checked (no span, no context): a string test on requests that send one.
 */
export function callerTraceId(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const traceId = TRACEPARENT.exec(header)?.[1];
  return traceId === INVALID_TRACE_ID ? undefined : traceId;
}

/**
 * Fastify's `childLoggerFactory`: each request's logger, whose pino child is made only if
 * something logs through it (http/request-logger.ts). When a span is active (tracing on) the
 * logger's mixin names the trace and span (observability/logger.ts); otherwise the request's
 * lines carry the caller's trace id from its `traceparent`, if it sent one.
 */
export const requestLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger, bindings, options, req) => {
  const traceId = trace.getActiveSpan() === undefined ? callerTraceId(req.headers.traceparent) : undefined;
  return new RequestLogger(logger, String(bindings[REQUEST_ID_LOG_LABEL]), traceId, options);
};
