import type { FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError } from '../auth/errors.js';
import { ScimError, type ScimErrorKind, type ScimType } from '../scim/errors.js';
import { ERROR_SCHEMA_ID } from '../scim/schema/definitions.js';
import { retryAfter, toProblem } from './problem.js';

/** Every SCIM answer's media type (RFC 7644 §3.1). */
export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

/** The path prefix SCIM is mounted at. */
export const SCIM_PREFIX = '/scim/v2';

export function isScimUrl(url: string): boolean {
  return url === SCIM_PREFIX || url.startsWith(`${SCIM_PREFIX}/`) || url.startsWith(`${SCIM_PREFIX}?`);
}

const STATUS: Record<ScimErrorKind, number> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  not_implemented: 501,
};

/** RFC 7644 §3.12 error body. */
export interface ScimErrorBody {
  readonly schemas: readonly string[];
  readonly status: string;
  readonly scimType?: ScimType;
  readonly detail: string;
}

export function scimErrorBody(status: number, detail: string, scimType?: ScimType): ScimErrorBody {
  return { schemas: [ERROR_SCHEMA_ID], status: String(status), ...(scimType === undefined ? {} : { scimType }), detail };
}

/**
 * Any error under /scim/v2 as a SCIM Error (never problem+json): SCIM errors carry their
 * scimType; everything else goes through the problem mapping (http/problem.ts) for its status
 * and client-safe detail, so 401, 403, 413, 415, 429, 503 and 500 mean here what they mean on
 * the REST API. A malformed request body is invalidSyntax.
 */
export function sendScimError(error: unknown, request: FastifyRequest, reply: FastifyReply, headers: Record<string, string>) {
  let body: ScimErrorBody;
  if (error instanceof ScimError) {
    body = scimErrorBody(STATUS[error.kind], error.message, error.scimType);
  } else {
    const problem = toProblem(error, request.id);
    const wait = retryAfter(problem);
    if (wait !== undefined && !reply.hasHeader('retry-after')) reply.header('retry-after', wait);
    body = scimErrorBody(problem.status, problem.detail, problem.status === 400 ? 'invalidSyntax' : undefined);
  }
  const status = Number(body.status);
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="roster"');
  if (error instanceof ForbiddenError) {
    reply.header('www-authenticate', `Bearer realm="roster", error="insufficient_scope", scope="${error.missingScope}"`);
  }
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.debug({ err: error }, 'request rejected');
  return reply.code(status).headers(headers).header('x-request-id', request.id).type(SCIM_CONTENT_TYPE).send(body);
}
