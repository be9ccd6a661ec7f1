import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';
import { NO_TRACE } from '../observability/logger.js';
import { plainJsonString, plainLineWriter } from '../observability/plain-line.js';

/** The field that names the request in every line of it (Fastify's `requestIdLogLabel`). */
export const REQUEST_ID_LOG_LABEL = 'request_id';

/**
 * What a request's lines carry besides their own fields. The request line spells `request_id`
 * as a plain key (a computed one slows the literal on every request); this type keeps it equal
 * to REQUEST_ID_LOG_LABEL, so renaming the label fails to compile rather than splitting the logs.
 */
interface RequestBindings {
  readonly [REQUEST_ID_LOG_LABEL]: string;
  readonly trace_id?: string;
}

type LogArgs = [obj: unknown, msg?: string, ...args: unknown[]];

/** The request line's own fields, after the request id (and the caller's trace id, if any). */
export interface RequestLineFields {
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly actor: string | undefined;
  readonly duration_ms: number | undefined;
}

/** The parent logger the last writer was made for: every request of an app has the same one. */
let writerFor: FastifyBaseLogger | undefined;
let writer: ((fieldsJson: string) => boolean) | undefined;

function plainWriterOf(parent: FastifyBaseLogger): ((fieldsJson: string) => boolean) | undefined {
  if (parent !== writerFor) {
    writerFor = parent;
    writer = plainLineWriter(parent, NO_TRACE, 'request');
  }
  return writer;
}

/**
 * The request line's fields as pino writes them, in the order of the objects requestLine() gives
 * pino (undefined ones left out), or undefined when a text would need escaping.
 */
function plainFieldsJson(requestId: string, callerTraceId: string | undefined, fields: RequestLineFields): string | undefined {
  const id = plainJsonString(requestId);
  const trace = callerTraceId === undefined ? '' : plainJsonString(callerTraceId);
  const method = recurringJson(fields.method);
  const route = recurringJson(fields.route);
  const actor = fields.actor === undefined ? '' : recurringJson(fields.actor);
  if (id === undefined || trace === undefined || method === undefined || route === undefined || actor === undefined) return undefined;
  return (
    `,"request_id":${id}${trace === '' ? '' : `,"trace_id":${trace}`},"method":${method},"route":${route},"status":${numberJson(fields.status)}` +
    `${actor === '' ? '' : `,"actor":${actor}`}${fields.duration_ms === undefined ? '' : `,"duration_ms":${numberJson(fields.duration_ms)}`}`
  );
}

/**
 * plainJsonString() of texts that recur from request to request (methods, routes, actors),
 * remembered: a Map lookup instead of a scan of each character. At most RECURRING_MAX of them;
 * texts past that are scanned each time.
 */
const recurring = new Map<string, string | null>();
const RECURRING_MAX = 1024;

function recurringJson(text: string): string | undefined {
  let json = recurring.get(text);
  if (json === undefined) {
    json = plainJsonString(text) ?? null;
    if (recurring.size < RECURRING_MAX) recurring.set(text, json);
  }
  return json ?? undefined;
}

/** A number as pino writes it: null when it is not finite. */
function numberJson(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/**
 * A request's logger (Fastify's `request.log`) that makes its pino child only when something
 * logs through it. Nearly every request writes just its request line, which requestLine()
 * writes through the parent with the request's fields in the object: pino's child (its
 * bindings serialized, its prototype chain) and Fastify's check of a factory-made logger were
 * 1.8 µs of each GET by id in a perf profile (bench/RESULTS.md, issue 14, tenth pass).
 */
export class RequestLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #requestId: string;
  readonly #callerTraceId: string | undefined;
  readonly #options: ChildLoggerOptions;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, requestId: string, callerTraceId: string | undefined, options: ChildLoggerOptions) {
    this.#parent = parent;
    this.#requestId = requestId;
    this.#callerTraceId = callerTraceId;
    this.#options = options;
  }

  /** The request's line: one line by the parent logger, the same fields its child would bind. */
  requestLine(fields: RequestLineFields): void {
    const { method, route, status, actor, duration_ms } = fields;
    // A request with its own logger settings (a route's level, or a level set on request.log)
    // writes its line through its child, so those settings apply to the line too.
    if (this.#child !== undefined || this.#options.level !== undefined) {
      this.#logger().info({ method, route, status, actor, duration_ms }, 'request');
      return;
    }
    const write = plainWriterOf(this.#parent);
    if (write !== undefined) {
      const json = plainFieldsJson(this.#requestId, this.#callerTraceId, fields);
      if (json !== undefined && write(json)) return;
    }
    if (this.#callerTraceId === undefined) {
      // trace_id only when the caller sent one: an undefined key would hide the mixin's trace_id.
      this.#parent.info(
        { request_id: this.#requestId, method, route, status, actor, duration_ms } satisfies RequestBindings & RequestLineFields,
        'request',
      );
    } else {
      const trace_id = this.#callerTraceId;
      this.#parent.info(
        { request_id: this.#requestId, trace_id, method, route, status, actor, duration_ms } satisfies RequestBindings & RequestLineFields,
        'request',
      );
    }
  }

  get level(): string {
    return (this.#child ?? this.#parent).level;
  }

  set level(level: string) {
    this.#logger().level = level;
  }

  fatal(...args: LogArgs): void {
    this.#logger().fatal(...args);
  }

  error(...args: LogArgs): void {
    this.#logger().error(...args);
  }

  warn(...args: LogArgs): void {
    this.#logger().warn(...args);
  }

  info(...args: LogArgs): void {
    this.#logger().info(...args);
  }

  debug(...args: LogArgs): void {
    this.#logger().debug(...args);
  }

  trace(...args: LogArgs): void {
    this.#logger().trace(...args);
  }

  silent(...args: LogArgs): void {
    this.#logger().silent(...args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options);
  }

  #logger(): FastifyBaseLogger {
    if (this.#child === undefined) {
      const bindings: RequestBindings =
        this.#callerTraceId === undefined
          ? { request_id: this.#requestId }
          : { request_id: this.#requestId, trace_id: this.#callerTraceId };
      this.#child = this.#parent.child(bindings, this.#options);
    }
    return this.#child;
  }
}
