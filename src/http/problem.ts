import type { FastifyError } from 'fastify';
import { AppError, ValidationError } from '../kit/errors.js';
import { DeadlineExceededError } from '../kit/deadline.js';
import { InvalidEncodingError } from './encoding.js';
import { MembersNotFoundError } from '../groups/errors.js';

/**
 * The closed catalogue of problem types (RFC 9457). Every error a client can see is one of
 * these; `code` is the stable part of `type` and never changes meaning once published.
 */
export const PROBLEMS = {
  validation: { status: 400, title: 'The request has invalid fields' },
  'invalid-cursor': { status: 400, title: 'The pagination cursor is not valid' },
  'malformed-json': { status: 400, title: 'The request body is not valid JSON' },
  'bad-request': { status: 400, title: 'The request is malformed' },
  'invalid-encoding': { status: 400, title: 'The request contains bytes that are not valid UTF-8' },
  unauthenticated: { status: 401, title: 'Valid credentials are required' },
  forbidden: { status: 403, title: 'The credentials lack a required scope' },
  'route-not-found': { status: 404, title: 'No such resource' },
  'api-key-not-found': { status: 404, title: 'The API key does not exist' },
  'user-not-found': { status: 404, title: 'The user does not exist' },
  'group-not-found': { status: 404, title: 'The group does not exist' },
  'membership-not-found': { status: 404, title: 'The user is not a member of the group' },
  'webhook-endpoint-not-found': { status: 404, title: 'The webhook endpoint does not exist' },
  'event-not-found': { status: 404, title: 'The event is not (or no longer) in the feed' },
  'import-not-found': { status: 404, title: 'The import job does not exist' },
  'request-timeout': { status: 408, title: 'The request body did not arrive in time' },
  'upload-timeout': { status: 408, title: 'The upload stalled or took too long' },
  'headers-timeout': { status: 408, title: 'The request headers did not arrive in time' },
  'email-taken': { status: 409, title: 'The email belongs to another user' },
  'external-id-taken': { status: 409, title: 'The external id belongs to another user' },
  'group-name-taken': { status: 409, title: 'The display name belongs to another group' },
  'group-external-id-taken': { status: 409, title: 'The external id belongs to another group' },
  'import-job-leased': { status: 409, title: 'Another process is running the import job' },
  'version-mismatch': { status: 412, title: 'The resource changed since the given ETag' },
  'body-too-large': { status: 413, title: 'The request body is too large' },
  'uri-too-long': { status: 414, title: 'The request URL is too long' },
  'unsupported-media-type': { status: 415, title: 'The request body has an unsupported content type' },
  'idempotency-key-reused': { status: 422, title: 'The Idempotency-Key was used with another request' },
  'member-not-found': { status: 422, title: 'Some of the users to add do not exist; nothing was applied' },
  'invalid-import-file': { status: 422, title: 'The file cannot be imported' },
  'replay-too-large': { status: 422, title: 'The replay covers more events than one request may' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'headers-too-large': { status: 431, title: 'The request headers are too large' },
  unavailable: { status: 503, title: 'The service is temporarily unavailable' },
  overloaded: { status: 503, title: 'The instance is overloaded; retry shortly' },
  'import-queue-full': { status: 503, title: 'Too many imports are waiting; retry later' },
  'deadline-exceeded': { status: 504, title: 'The request did not finish within its deadline' },
  internal: { status: 500, title: 'Internal server error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

/**
 * The Retry-After (seconds) of the problems a client should simply retry. `unavailable` is a
 * dependency outage (the database restarting, failing over, refusing connections, out of
 * disk): a few seconds is the usual length of a failover. Set by the error handler unless the
 * code that threw chose its own (draining says 1).
 */
export const RETRY_AFTER_SECONDS: Partial<Record<ProblemCode, number>> = { unavailable: 5 };

/** The Retry-After header value for a problem, if it has one. */
export function retryAfter(body: Problem): string | undefined {
  const code = body.type.slice(PROBLEM_TYPE_PREFIX.length) as ProblemCode;
  const seconds = RETRY_AFTER_SECONDS[code];
  return seconds === undefined ? undefined : String(seconds);
}

export const PROBLEM_TYPE_PREFIX = 'urn:roster:problem:';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemFieldError {
  /** RFC 6901 pointer into the JSON body. */
  pointer?: string;
  /** Name of the query, path or header parameter. */
  parameter?: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  request_id: string;
  errors?: ProblemFieldError[];
}

export function problem(code: ProblemCode, detail: string, requestId: string, errors?: ProblemFieldError[]): Problem {
  const { status, title } = PROBLEMS[code];
  return { type: `${PROBLEM_TYPE_PREFIX}${code}`, title, status, detail, request_id: requestId, ...(errors ? { errors } : {}) };
}

/** Fastify's own client-error codes, each mapped to our catalogue. */
const FASTIFY_CODES: Record<string, ProblemCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body-too-large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad-request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed-json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed-json',
  FST_ERR_CTP_EMPTY_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported-media-type',
  FST_ERR_INVALID_URL: 'bad-request',
  FST_ERR_BAD_URL: 'bad-request',
  FST_ERR_ASYNC_CONSTRAINT: 'bad-request',
  FST_ERR_MAX_PARAM_LENGTH: 'uri-too-long',
};

export interface ValidationIssue {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/**
 * Maps any thrown value to a problem. The single place where errors meet HTTP: business code
 * throws AppErrors, Fastify throws its coded errors, everything else is a 500 whose text is
 * never shown (the caller logs it with the request id).
 */
export function toProblem(error: unknown, requestId: string): Problem {
  if (error instanceof ValidationError) {
    return problem(
      'validation',
      error.message,
      requestId,
      error.errors.map((e) => ({ pointer: e.pointer, message: e.message })),
    );
  }
  if (error instanceof MembersNotFoundError) {
    const errors = error.userIds.map((id) => ({ pointer: '/user_ids', message: `no user has id ${id}` }));
    return problem('member-not-found', error.message, requestId, errors.length > 0 ? errors : undefined);
  }
  if (error instanceof InvalidEncodingError) {
    const errors = error.parameters.map((p) => ({ parameter: p.parameter, message: p.message }));
    return problem('invalid-encoding', error.message, requestId, errors.length > 0 ? errors : undefined);
  }
  if (error instanceof AppError && error.code in PROBLEMS) {
    return problem(error.code as ProblemCode, error.message, requestId);
  }
  if (error instanceof DeadlineExceededError) {
    return problem('unavailable', 'A dependency did not answer in time; retry later.', requestId);
  }
  const fastifyError = (typeof error === 'object' && error !== null ? error : {}) as Partial<FastifyError>;
  if (Array.isArray(fastifyError.validation)) {
    const part = fastifyError.validationContext ?? 'body';
    return problem(
      'validation',
      `The request ${partName(part)} has invalid values.`,
      requestId,
      schemaErrors(fastifyError.validation, part),
    );
  }
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return problem('malformed-json', 'The request body could not be parsed as JSON.', requestId);
  }
  const code = fastifyError.code !== undefined ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (code) return problem(code, clientMessage(code, fastifyError), requestId);
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { ...problem('bad-request', 'The request could not be processed.', requestId), status };
  }
  return problem('internal', 'An unexpected error occurred; it has been logged with this request id.', requestId);
}

function clientMessage(code: ProblemCode, error: Partial<FastifyError>): string {
  switch (code) {
    case 'body-too-large':
      return 'The request body exceeds the size limit.';
    case 'uri-too-long':
      return 'A path segment of the URL is longer than any valid value.';
    case 'unsupported-media-type':
      return 'Send the body as application/json (PATCH: application/merge-patch+json or application/json).';
    case 'malformed-json':
      return error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
        ? 'The request body is empty but JSON was declared.'
        : 'The request body could not be parsed as JSON.';
    default:
      return 'The request is malformed.';
  }
}

function partName(part: string): string {
  return part === 'querystring' ? 'query' : part === 'params' ? 'path' : part;
}

/** TypeBox/Ajv issues → one entry per field, with messages a person can act on. */
export function schemaErrors(issues: readonly ValidationIssue[], part: string): ProblemFieldError[] {
  // A value that matches no member of a union (`anyOf`) comes with one issue per member plus
  // the union's own: report it once, naming the allowed values when the members are constants.
  const unions = new Map<string, unknown[]>();
  for (const issue of issues) if (issue.keyword === 'anyOf' || issue.keyword === 'oneOf') unions.set(issue.instancePath, []);
  const inUnion = (issue: ValidationIssue) => unions.has(issue.instancePath) && /\/(anyOf|oneOf)\/\d+/.test(issue.schemaPath);
  for (const issue of issues)
    if (inUnion(issue) && issue.keyword === 'const') unions.get(issue.instancePath)!.push(issue.params.allowedValue);
  const out: ProblemFieldError[] = [];
  const seen = new Set<string>();
  const add = (error: ProblemFieldError) => {
    const key = `${error.pointer ?? ''}\u0000${error.parameter ?? ''}\u0000${error.message}`;
    if (!seen.has(key)) out.push(error);
    seen.add(key);
  };
  for (const issue of issues) {
    if (issue.keyword === 'additionalProperties' || inUnion(issue)) continue; // reported below / with the union
    if (issue.keyword === 'anyOf' || issue.keyword === 'oneOf') {
      const allowed = unions.get(issue.instancePath) ?? [];
      const message =
        allowed.length > 0 && allowed.every((v) => typeof v === 'string')
          ? `must be one of: ${allowed.join(', ')}`
          : 'is not one of the allowed shapes (see the OpenAPI document)';
      add(locate(issue.instancePath, message, part));
    } else if (issue.keyword === 'enum' && Array.isArray(issue.params.allowedValues)) {
      add(locate(issue.instancePath, `must be one of: ${(issue.params.allowedValues as unknown[]).join(', ')}`, part));
    } else if (issue.keyword === 'required') {
      const missing = (issue.params.requiredProperties ?? issue.params.missingProperty ?? []) as string[] | string;
      for (const name of [missing].flat()) add(locate(`${issue.instancePath}/${name}`, 'is required', part));
    } else if (issue.schemaPath.endsWith('/additionalProperties')) {
      add(locate(issue.instancePath, 'is not a known field', part));
    } else if (issue.keyword === 'pattern') {
      add(locate(issue.instancePath, 'does not have the expected format (see the OpenAPI document)', part));
    } else {
      add(locate(issue.instancePath, issue.message ?? 'is not valid', part));
    }
  }
  return out;
}

function locate(path: string, message: string, part: string): ProblemFieldError {
  if (part === 'body') return { pointer: path, message };
  return { parameter: path.replace(/^\//, '').split('/')[0] ?? '', message };
}
