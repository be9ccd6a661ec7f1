import { SpanKind, SpanStatusCode, context, propagation, trace, type Context } from '@opentelemetry/api';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import type { Agent, Dispatcher } from 'undici';
import { ForbiddenTargetError, InvalidTargetUrlError, TargetDnsUnavailableError, TargetNotFoundError } from './errors.js';
import { classifyStatus, honoursRetryAfter, parseRetryAfter, type StatusClass } from './schedule.js';
import { assertAllowedAddress, guardedLookup, parseTargetUrl, type HostResolver } from './ssrf.js';
import { AllowList } from '../kit/allow-list.js';
import { AttemptDeadlines } from './attempt-deadlines.js';
import { tracingRegistered } from '../kit/trace.js';

// The outbound side of webhook delivery: one undici Agent used only for webhooks, so its
// short timeouts, bounded pools and SSRF-checked connections apply to nothing else, and
// nothing else's defaults (300 s timeouts, redirects) apply to webhooks.

const tracer = trace.getTracer('roster.webhooks');

export interface WebhookHttpClientOptions {
  /** Targets the SSRF guard lets through anyway (development, tests). Default: none. */
  readonly allowList?: AllowList;
  /** Name resolution; the default is the system's (`dns.lookup`). Tests inject failures here. */
  readonly resolve?: HostResolver;
  /** TCP (and TLS) connection set-up, name resolution included. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** From the request sent to the response's headers. Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Longest silence between two chunks of the response body. Default 10 s. */
  readonly bodyTimeoutMs?: number;
  /** The whole attempt, whatever it is waiting for. Default 30 s. */
  readonly attemptTimeoutMs?: number;
  /** Open connections to one origin at most; further attempts queue in undici. Default 8. */
  readonly connectionsPerOrigin?: number;
  /** Bytes of response body kept; the rest is not read. Default 64 KiB. */
  readonly responseBodyLimitBytes?: number;
  /** Sent unless the caller's headers carry their own. */
  readonly userAgent?: string;
}

export interface DeliveryRequest {
  /** The endpoint's URL; checked by the SSRF guard on every attempt. */
  readonly url: string | URL;
  /** The `webhook-*` headers and any others; `content-type` defaults to JSON. */
  readonly headers: Readonly<Record<string, string>>;
  /** Exactly the bytes that were signed. */
  readonly body: string | Uint8Array;
  /** The caller's cancellation (shutdown). When it fires, deliver() rejects with its reason. */
  readonly signal?: AbortSignal;
}

export type AttemptOutcome = StatusClass;

/** Why an attempt failed without a usable response; stable, for the delivery log and metrics. */
export type AttemptErrorCode =
  | 'invalid-url'
  | 'target-forbidden'
  | 'dns-not-found'
  | 'dns-unavailable'
  | 'connect-refused'
  | 'connect-timeout'
  | 'unreachable'
  | 'tls'
  | 'connection-reset'
  | 'headers-timeout'
  | 'body-timeout'
  | 'response-headers-too-large'
  | 'deadline-exceeded'
  | 'redirect-not-followed'
  | 'invalid-request'
  | 'network';

export interface AttemptResult {
  readonly outcome: AttemptOutcome;
  /** The response status, when one arrived. */
  readonly status?: number;
  /** From the start of the attempt to its end (response read, or failure). */
  readonly latencyMs: number;
  readonly error?: { readonly code: AttemptErrorCode; readonly message: string };
  /** The first `responseBodyLimitBytes` of the response as UTF-8 text ('' when none). */
  readonly responseBody: string;
  /** Whether the response body was longer than what was kept. */
  readonly responseTruncated: boolean;
  /** The receiver's Retry-After on 429/503, bounded (see parseRetryAfter). */
  readonly retryAfterMs?: number;
}

const DEFAULTS = {
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  attemptTimeoutMs: 30_000,
  connectionsPerOrigin: 8,
  responseBodyLimitBytes: 64 * 1024,
  userAgent: 'Roster-Webhooks/1',
} as const;

const MESSAGE_MAX_LENGTH = 500;

/** Endpoint URLs whose checked form is kept (see #targetOf()). */
const TARGETS_KEPT = 1_024;

interface Target {
  readonly origin: string;
  readonly path: string;
}

const require = createRequire(import.meta.url);
const loadUndici = () => require('undici') as typeof Undici;

/**
 * Sends webhook attempts. deliver() never throws for anything the target or the network does:
 * every such failure comes back as an AttemptResult saying whether to retry. It rejects only
 * when the caller's own signal aborts (the attempt is then neither a success nor a failure).
 */
export class WebhookHttpClient {
  #agent: Agent | undefined;
  readonly #options: WebhookHttpClientOptions;
  readonly #allowList: AllowList;
  readonly #attemptTimeoutMs: number;
  readonly #deadlines: AttemptDeadlines;
  readonly #bodyLimit: number;
  readonly #userAgent: string;
  readonly #targets = new Map<string, Target>();

  constructor(options: WebhookHttpClientOptions = {}) {
    const allowList = options.allowList ?? AllowList.none;
    this.#allowList = allowList;
    this.#attemptTimeoutMs = options.attemptTimeoutMs ?? DEFAULTS.attemptTimeoutMs;
    this.#deadlines = new AttemptDeadlines(this.#attemptTimeoutMs, () => deadlineError(this.#attemptTimeoutMs));
    this.#bodyLimit = options.responseBodyLimitBytes ?? DEFAULTS.responseBodyLimitBytes;
    this.#userAgent = options.userAgent ?? DEFAULTS.userAgent;
    this.#options = options;
  }

  /**
   * The Agent, made on the first attempt: undici is loaded then, not when the server starts,
   * since many deployments register no endpoint (it is CommonJS, hence require()).
   */
  #agentNow(): Agent {
    if (this.#agent !== undefined) return this.#agent;
    const { Agent, buildConnector } = loadUndici();
    const options = this.#options;
    const allowList = this.#allowList;
    const baseConnect = buildConnector({
      timeout: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      lookup: guardedLookup(allowList, options.resolve),
    });
    this.#agent = new Agent({
      connections: options.connectionsPerOrigin ?? DEFAULTS.connectionsPerOrigin,
      pipelining: 1,
      headersTimeout: options.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
      // undici 7 follows no redirect unless a redirect interceptor is composed; none is.
      connect: (opts, callback) => {
        // net.connect skips `lookup` for literal IPs, so those are checked here; for names, the
        // connected peer is checked again as a last line of defence.
        if (isIP(opts.hostname) !== 0) {
          try {
            assertAllowedAddress(opts.hostname, allowList);
          } catch (error) {
            callback(error as Error, null);
            return;
          }
        }
        baseConnect(opts, (error, socket) => {
          if (error !== null) return callback(error, null);
          const peer = socket.remoteAddress;
          try {
            if (peer !== undefined) assertAllowedAddress(peer, allowList, opts.hostname);
          } catch (refusal) {
            socket.destroy();
            return callback(refusal as Error, null);
          }
          callback(null, socket);
        });
      },
    });
    return this.#agent;
  }

  /**
   * One attempt: POST `body` to `url` under one deadline, and say what came of it. Each attempt
   * is a CLIENT span, and the request carries its `traceparent`, so a receiver that traces can
   * join its work to ours. No span is made when no SDK is registered (tracing off), nor under
   * an active span that is not recorded (an unsampled trace, whose context is still passed on).
   * The dispatcher's attempts have no parent: the sampler decides on their root span.
   */
  async deliver(request: DeliveryRequest): Promise<AttemptResult> {
    const parent = trace.getActiveSpan();
    if (parent === undefined ? !tracingRegistered() : !parent.isRecording()) {
      return this.#deliver(request, this.#headersOf(request, context.active()));
    }
    const span = tracer.startSpan('POST webhook', { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'POST' } });
    try {
      const result = await this.#deliver(request, this.#headersOf(request, trace.setSpan(context.active(), span)));
      if (result.status !== undefined) span.setAttribute('http.response.status_code', result.status);
      span.setAttribute('roster.webhook.outcome', result.outcome);
      if (result.error) span.setAttribute('error.type', result.error.code);
      if (result.outcome !== 'success') span.setStatus({ code: SpanStatusCode.ERROR });
      return result;
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  }

  /**
   * The request's headers in one object: the defaults, the trace context of `traceContext`, then
   * the caller's (which win). One object per attempt, not one per layer.
   */
  #headersOf(request: DeliveryRequest, traceContext: Context): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': this.#userAgent };
    propagation.inject(traceContext, headers);
    return Object.assign(headers, request.headers);
  }

  async #deliver({ url, body, signal }: DeliveryRequest, headers: Record<string, string>): Promise<AttemptResult> {
    signal?.throwIfAborted();
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let target: Target;
    try {
      target = this.#targetOf(String(url));
    } catch (error) {
      return { ...failure(error), latencyMs: elapsed() };
    }
    const deadline = this.#deadlines.begin(signal);
    const response = new AttemptResponse(this.#bodyLimit);
    deadline.watch(response.abort);
    try {
      this.#agentNow().dispatch({ origin: target.origin, path: target.path, method: 'POST', headers, body }, response);
      await response.done;
      const status = response.status!;
      const outcome = classifyStatus(status);
      const retryAfterMs = honoursRetryAfter(status) ? parseRetryAfter(response.headers['retry-after'], new Date()) : undefined;
      const redirect = status >= 300 && status <= 399 ? redirectError(response.headers.location) : undefined;
      return {
        outcome,
        status,
        latencyMs: elapsed(),
        responseBody: response.text(),
        responseTruncated: response.truncated,
        ...(redirect ? { error: redirect } : {}),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      const status = response.status;
      const failed = failure(deadline.timedOut() ? deadlineError(this.#attemptTimeoutMs) : error);
      // A response cut short: a 2xx that did not arrive whole is retried (what the receiver
      // meant is unknown, and it deduplicates by webhook-id); a refusal (4xx, 410) still stands.
      const statusClass = status === undefined ? failed.outcome : classifyStatus(status);
      const outcome = statusClass === 'permanent' || statusClass === 'gone' ? statusClass : failed.outcome;
      return { ...failed, outcome, ...(status !== undefined ? { status } : {}), latencyMs: elapsed() };
    } finally {
      deadline.end();
    }
  }

  /**
   * The checked target of a URL: parseTargetUrl() depends only on the text and this client's
   * allow-list, so each endpoint's URL is parsed and checked once, not on every attempt (the
   * addresses it resolves to are still checked on every connection). Bounded; refusals are not kept.
   */
  #targetOf(url: string): Target {
    let target = this.#targets.get(url);
    if (target === undefined) {
      const parsed = parseTargetUrl(url, this.#allowList);
      target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
      if (this.#targets.size >= TARGETS_KEPT) this.#targets.clear();
      this.#targets.set(url, target);
    }
    return target;
  }

  /** Waits for attempts in flight (each bounded by its deadline), then closes every connection. */
  async close(): Promise<void> {
    await this.#agent?.close();
    this.#deadlines.close();
  }
}

/**
 * One attempt's undici dispatch handler: keeps the status, the response headers and the first
 * `limit` bytes of the body, and settles `done` once (at the end of the response, at the limit, or
 * with the error: a timeout, a reset, an abort). In place of undici's request(), which makes an
 * AsyncResource, an abort listener on the signal and a Readable stream for every response: the
 * body here is at most a few bytes, read as it comes. Past the limit the request is aborted, so a
 * 10 MB answer costs 64 KiB and the connection is dropped.
 */
class AttemptResponse implements Dispatcher.DispatchHandler {
  /** The final status, once the response's headers came (1xx are not kept). */
  status: number | undefined;
  headers: IncomingHttpHeaders = {};
  /** Whether the body was longer than what was kept. */
  truncated = false;
  readonly done: Promise<void>;
  readonly #limit: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #controller: Dispatcher.DispatchController | undefined;
  /** Why the attempt was ended before undici started it (aborted once it does). */
  #abortedWith: Error | undefined;
  #settled = false;
  #resolve!: () => void;
  #reject!: (error: unknown) => void;

  constructor(limit: number) {
    this.#limit = limit;
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Ends the attempt now with `reason` (its deadline, or the caller's abort). */
  readonly abort = (reason: unknown): void => {
    const error = reason instanceof Error ? reason : new Error(String(reason));
    if (this.#controller === undefined) this.#abortedWith = error;
    else this.#controller.abort(error);
    this.#settle(error);
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortedWith !== undefined) controller.abort(this.#abortedWith);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = headers;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#settled) return;
    const room = this.#limit - this.#kept;
    if (chunk.length > room) {
      this.#chunks.push(chunk.subarray(0, room));
      this.#kept = this.#limit;
      this.truncated = true;
      this.#settle();
      controller.abort(new Error('the rest of the response is not read'));
      return;
    }
    this.#chunks.push(chunk);
    this.#kept += chunk.length;
  }

  onResponseEnd(): void {
    this.#settle();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#settle(error);
  }

  /**
   * The kept body as UTF-8 text: a character cut by the limit is dropped rather than shown as
   * U+FFFD; NUL is replaced because PostgreSQL cannot store it in text.
   */
  text(): string {
    if (this.#kept === 0) return '';
    const decoder = new StringDecoder('utf8');
    let text = decoder.write(this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks));
    if (!this.truncated) text += decoder.end();
    return text.replaceAll('\u0000', '\ufffd');
  }

  #settle(error?: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (error === undefined) this.#resolve();
    else this.#reject(error);
  }
}

function redirectError(location: string | string[] | undefined): AttemptResult['error'] {
  const where = typeof location === 'string' ? ` to ${truncate(location, 200)}` : '';
  return { code: 'redirect-not-followed', message: `The endpoint redirected${where}; redirects are not followed.` };
}

function deadlineError(ms: number): Error & { code: string } {
  return Object.assign(new Error(`The attempt took longer than ${ms} ms.`), { code: 'DEADLINE_EXCEEDED' });
}

const CODES: Readonly<Record<string, AttemptErrorCode>> = {
  DEADLINE_EXCEEDED: 'deadline-exceeded',
  UND_ERR_CONNECT_TIMEOUT: 'connect-timeout',
  UND_ERR_HEADERS_TIMEOUT: 'headers-timeout',
  UND_ERR_BODY_TIMEOUT: 'body-timeout',
  UND_ERR_HEADERS_OVERFLOW: 'response-headers-too-large',
  UND_ERR_SOCKET: 'connection-reset',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'connection-reset',
  UND_ERR_INVALID_ARG: 'invalid-request',
  ECONNREFUSED: 'connect-refused',
  ECONNRESET: 'connection-reset',
  EPIPE: 'connection-reset',
  ECONNABORTED: 'connection-reset',
  ETIMEDOUT: 'connect-timeout',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
};

/** Retrying cannot help with these: the URL itself is wrong or forbidden, or our request is. */
const PERMANENT: ReadonlySet<AttemptErrorCode> = new Set(['invalid-url', 'target-forbidden', 'dns-not-found', 'invalid-request']);

function failure(error: unknown): Omit<AttemptResult, 'latencyMs'> {
  const code = errorCode(error);
  const message = truncate(error instanceof Error ? error.message : String(error), MESSAGE_MAX_LENGTH);
  return {
    outcome: PERMANENT.has(code) ? 'permanent' : 'retryable',
    error: { code, message },
    responseBody: '',
    responseTruncated: false,
  };
}

function errorCode(error: unknown): AttemptErrorCode {
  // undici and net wrap errors inconsistently: look through the causes for one we know.
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof InvalidTargetUrlError) return 'invalid-url';
    if (current instanceof ForbiddenTargetError) return 'target-forbidden';
    if (current instanceof TargetNotFoundError) return 'dns-not-found';
    if (current instanceof TargetDnsUnavailableError) return 'dns-unavailable';
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      const known = CODES[code];
      if (known !== undefined) return known;
      if (/^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/.test(code)) return 'tls';
    }
    current = (current as { cause?: unknown }).cause;
  }
  return 'network';
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
