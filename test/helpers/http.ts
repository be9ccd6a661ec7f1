// Shared assertions for HTTP-level tests (app.inject and real-server e2e alike).
import assert from 'node:assert/strict';
import { PROBLEMS, PROBLEM_TYPE_PREFIX, type Problem, type ProblemCode } from '../../src/http/problem.js';

/** A response as both light-my-request and fetch can describe it. */
export interface SeenResponse {
  readonly status: number;
  /** Lower-cased header names. */
  header(name: string): string | undefined;
  readonly body: string;
}

/** The wire shape of a user (snake_case), as the API returns it. */
export interface UserJson {
  id: string;
  email: string;
  name: string;
  attributes: Record<string, unknown>;
  version: number;
  created_at: string;
  updated_at: string;
}

/** An API key as /v1/api-keys returns it; `key` only in the creation response. */
export interface ApiKeyJson {
  id: string;
  name: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  key?: string;
}

export interface PageJson {
  data: UserJson[];
  next_cursor: string | null;
}

export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Adapts an `app.inject` response. */
export function fromInject(res: {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}): SeenResponse {
  return {
    status: res.statusCode,
    body: res.body,
    header: (name) => {
      const value = res.headers[name.toLowerCase()];
      return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value);
    },
  };
}

/** Adapts a fetch response whose body was already read. */
export function fromFetch(res: Response, body: string): SeenResponse {
  return { status: res.status, body, header: (name) => res.headers.get(name) ?? undefined };
}

export interface ProblemExpectation {
  /** RFC 6901 pointers the `errors` array must name, in any order (exactly these). */
  readonly pointers?: readonly string[];
  /** Query/path/header parameters the `errors` array must name, in any order (exactly these). */
  readonly parameters?: readonly string[];
}

/**
 * Asserts the response is the catalogued problem `code`: status, media type, `type`, `title`,
 * `status`, a non-empty `detail`, `request_id` equal to the X-Request-Id response header, and
 * (when asked) the exact field pointers or parameter names. Returns the parsed problem.
 */
export function assertProblem(res: SeenResponse, code: ProblemCode, expected: ProblemExpectation = {}): Problem {
  const context = `${res.status} ${res.body.slice(0, 500)}`;
  assert.equal(res.status, PROBLEMS[code].status, context);
  assert.match(res.header('content-type') ?? '', /^application\/problem\+json(;|$)/, context);
  const body = JSON.parse(res.body) as Problem;
  assert.equal(body.type, `${PROBLEM_TYPE_PREFIX}${code}`, context);
  assert.equal(body.status, res.status, context);
  assert.equal(body.title, PROBLEMS[code].title, context);
  assert.equal(typeof body.detail, 'string', context);
  assert.ok(body.detail.length > 0, context);
  const requestId = res.header('x-request-id');
  assert.ok(requestId !== undefined && requestId.length > 0, `no x-request-id header: ${context}`);
  assert.equal(body.request_id, requestId, context);
  if (expected.pointers) {
    assert.ok(Array.isArray(body.errors), `no errors array: ${context}`);
    assert.deepEqual(uniqueSorted(body.errors.map((e) => e.pointer)), uniqueSorted(expected.pointers), context);
    for (const e of body.errors) assert.ok(e.message.length > 0, context);
  }
  if (expected.parameters) {
    assert.ok(Array.isArray(body.errors), `no errors array: ${context}`);
    assert.deepEqual(uniqueSorted(body.errors.map((e) => e.parameter)), uniqueSorted(expected.parameters), context);
    for (const e of body.errors) assert.ok(e.message.length > 0, context);
  }
  return body;
}

/**
 * Asserts the response is *some* well-formed problem document matching its status: the check
 * used where the exact code is not known in advance (property tests). Returns it.
 */
export function assertAnyProblem(res: SeenResponse): Problem {
  const context = `${res.status} ${res.body.slice(0, 500)}`;
  assert.match(res.header('content-type') ?? '', /^application\/problem\+json(;|$)/, context);
  const body = JSON.parse(res.body) as Problem;
  assert.ok(body.type.startsWith(PROBLEM_TYPE_PREFIX), context);
  const code = body.type.slice(PROBLEM_TYPE_PREFIX.length);
  assert.ok(code in PROBLEMS, `type not in the catalogue: ${context}`);
  assert.equal(body.status, res.status, context);
  assert.equal(body.title, PROBLEMS[code as ProblemCode].title, context);
  assert.equal(body.request_id, res.header('x-request-id'), context);
  return body;
}

function uniqueSorted(values: readonly (string | undefined)[]): (string | undefined)[] {
  return [...new Set(values)].sort();
}
