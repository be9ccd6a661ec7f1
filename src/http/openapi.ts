import Type, { type Static, type TSchema, type TUnsafe } from 'typebox';
import type { FastifyInstance, RouteOptions } from 'fastify';
import swagger from '@fastify/swagger';
import { SCOPES, type Scope } from '../auth/model.js';
import { PROBLEMS, PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX, type ProblemCode } from './problem.js';
import { BEARER_SCHEME } from './auth.js';

/**
 * The OpenAPI document served at /openapi.json: the contract a generated client is built from
 * and that test/helpers/contract.ts holds every API test's responses to.
 *
 * Fastify only compiles each route's `schema` (bodies validated, responses serialized by
 * status, the hot path unchanged); what a client needs besides shapes (what a status means,
 * its headers, its media types, examples, the problems it may answer) is declared next to the
 * route in `config.docs` and merged into the document by transform() below.
 */

/** Response headers the API sets, by their documented name. */
export const RESPONSE_HEADERS = {
  ETag: {
    description: 'The version of the resource as a strong entity tag: send it back in If-Match (change, delete) or If-None-Match (read).',
    type: 'string',
    examples: ['"3"'],
  },
  Location: {
    description: 'The path of the resource this request created.',
    type: 'string',
    examples: ['/v1/users/01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21'],
  },
  'Idempotent-Replayed': {
    description:
      'Present (true) when this is the remembered answer to an earlier request with the same Idempotency-Key: nothing was created again.',
    type: 'string',
    enum: ['true'],
  },
  'Cache-Control': { description: 'no-store: the body holds a secret shown only once.', type: 'string', enum: ['no-store'] },
  'Content-Disposition': { description: 'A file name for the download.', type: 'string', examples: ['attachment; filename="users.csv"'] },
  'Retry-After': { description: 'Seconds to wait before retrying.', type: 'string', examples: ['5'] },
  'WWW-Authenticate': {
    description: 'On 401 and 403: the Bearer challenge; on 403 it names the missing scope.',
    type: 'string',
    examples: ['Bearer realm="roster", error="insufficient_scope", scope="users:write"'],
  },
  'RateLimit-Limit': { description: 'Requests allowed in the current one-minute window.', type: 'string', examples: ['1200'] },
  'RateLimit-Remaining': { description: 'Requests left in the current window.', type: 'string', examples: ['1187'] },
  'RateLimit-Reset': { description: 'Seconds until the window ends.', type: 'string', examples: ['42'] },
  'X-Request-Id': {
    description: 'The id of this request (yours when you sent a valid X-Request-Id): logs and problems name it.',
    type: 'string',
    examples: ['0193a1c2-5b1e-7f40-8d2c-3e4f5a6b7c8d'],
  },
} as const;

export type ResponseHeader = keyof typeof RESPONSE_HEADERS;

/** Headers on every answer of a rate-limited route (@fastify/rate-limit's draft-spec headers). */
const RATE_LIMIT_HEADERS: readonly ResponseHeader[] = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'];

/** A success response: what it means, its headers, and its media types when it is not the JSON schema. */
export interface SuccessDoc {
  readonly description: string;
  readonly headers?: readonly ResponseHeader[];
  /** A body that is not JSON (downloads): each media type with an example of its text. */
  readonly media?: Readonly<Record<string, { readonly example: string; readonly description?: string }>>;
  /** The example when it is not the named schema's own. */
  readonly example?: unknown;
}

/** What the document says about one operation beyond its schemas. */
export interface OperationDocs {
  readonly responses: Readonly<Record<number, SuccessDoc>>;
  /** The problems this operation may answer, besides those every protected route may (401, 403, 429, 503). */
  readonly problems?: readonly ProblemCode[];
  /** A body the handler reads as a stream (no body schema): each media type with an example. */
  readonly upload?: { readonly description: string; readonly media: Readonly<Record<string, { readonly example: string }>> };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** How the operation is documented beyond its schemas (http/openapi.ts). */
    docs?: OperationDocs;
  }
}

/** Named schemas: their examples, by $id, for the media examples of the responses that reference them. */
const COMPONENT_EXAMPLES = new Map<string, unknown>();

/**
 * A schema published as components.schemas[id] with a realistic example. Add `schema` to the
 * app's root (app.addSchema, in buildApp()) and use `ref` in route schemas: a reference to a shared
 * schema is still compiled into the route's serializer, and the document names it.
 */
export function component<T extends TSchema>(id: string, schema: T, example: Static<T>): { schema: T; ref: TUnsafe<Static<T>> } {
  COMPONENT_EXAMPLES.set(id, example);
  return { schema: { ...schema, $id: id, examples: [example] }, ref: Type.Unsafe<Static<T>>(Type.Ref(id)) };
}

const REQUEST_ID_EXAMPLE = '0193a1c2-5b1e-7f40-8d2c-3e4f5a6b7c8d';

/** A realistic problem of type `code`, as the error handler writes it. */
export function problemExample(code: ProblemCode, detail: string) {
  const { status, title } = PROBLEMS[code];
  return { type: `${PROBLEM_TYPE_PREFIX}${code}`, title, status, detail, request_id: REQUEST_ID_EXAMPLE };
}

/** The `detail` of each problem type's example: the server's own wording. */
const PROBLEM_DETAILS: Partial<Record<ProblemCode, string>> = {
  validation: 'Invalid values in the request body.',
  unauthenticated: 'The credentials are not valid.',
  forbidden: 'This credential lacks the scope users:write.',
  'rate-limited': 'Too many requests: the limit is 1200 a minute; retry in 42 seconds.',
  unavailable: 'A dependency did not answer in time; retry later.',
  overloaded: 'This instance is overloaded (eventLoopDelay); retry in 1 s or on another instance.',
  'deadline-exceeded': 'GET /v1/users did not finish within 10000 ms; it was stopped.',
  internal: 'An unexpected error occurred; it has been logged with this request id.',
  'unsupported-media-type': 'Send the body as application/json.',
  'malformed-json': 'The request body could not be parsed as JSON.',
  'user-not-found': 'No user has id 01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21.',
  'email-taken': 'Another user already has this email.',
  'external-id-taken': 'Another user already has this external id.',
  'version-mismatch': 'The user changed: it is at version 4, which If-Match does not name.',
  'group-not-found': 'No group has id 01933b5f-0a4c-7d2e-8b61-4e5f6a7b8c9d.',
  'group-name-taken': 'Another group already has this display name.',
  'group-external-id-taken': 'Another group already has this external id.',
  'member-not-found': 'No user has id 01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21.',
  'membership-not-found': 'User 01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21 is not a member of group 01933b5f-0a4c-7d2e-8b61-4e5f6a7b8c9d.',
  'idempotency-key-reused': 'This Idempotency-Key was already used with a different request body.',
  'invalid-cursor': 'The cursor is not valid for this query.',
};

/** Problems every protected operation may answer. */
const PROTECTED_PROBLEMS: readonly ProblemCode[] = ['unauthenticated', 'forbidden', 'rate-limited'];
/** Problems any request may get, before it reaches a route (Node's parser refuses it). */
const ANY_REQUEST_PROBLEMS: readonly ProblemCode[] = ['headers-too-large'];
const SERVER_PROBLEMS: readonly ProblemCode[] = ['unavailable', 'overloaded', 'deadline-exceeded', 'internal'];

function problemResponse(codes: readonly ProblemCode[], range: '4XX' | '5XX', schema: unknown, headers: readonly ResponseHeader[]) {
  const listed = codes.map((c) => `\`${c}\` (${PROBLEMS[c].status})`).join(', ');
  const examples = Object.fromEntries(
    codes.map((c) => [c, { summary: PROBLEMS[c].title, value: problemExample(c, PROBLEM_DETAILS[c] ?? `${PROBLEMS[c].title}.`) }]),
  );
  return {
    description:
      range === '4XX'
        ? `A problem (RFC 9457) the client can fix; its \`type\` ends with the code: ${listed}.`
        : `A problem (RFC 9457) on the server's side; retry after Retry-After when it is given: ${listed}.`,
    headers: headerSchemas(headers),
    content: { [PROBLEM_CONTENT_TYPE]: { schema, examples } },
  };
}

function headerSchemas(names: readonly ResponseHeader[]) {
  return Object.fromEntries(names.map((name) => [name, { ...RESPONSE_HEADERS[name] }]));
}

function exampleOf(schema: unknown): unknown {
  const ref = (schema as { $ref?: unknown } | undefined)?.$ref;
  return typeof ref === 'string' ? COMPONENT_EXAMPLES.get(ref) : (schema as { examples?: unknown[] } | undefined)?.examples?.[0];
}

/** Rewrites one route's schema into what the document says of it (never the schema Fastify compiles). */
export function documentRoute(schema: Record<string, unknown>, route: Pick<RouteOptions, 'config' | 'method' | 'url'>) {
  const docs = route.config?.docs;
  const access = route.config?.access;
  if (docs === undefined) throw new Error(`route ${String(route.method)} ${route.url} has no config.docs for the OpenAPI document`);
  const limited = (route.config as { rateLimit?: unknown } | undefined)?.rateLimit !== false;
  const always: ResponseHeader[] = ['X-Request-Id', ...(limited ? RATE_LIMIT_HEADERS : [])];
  const responses: Record<string, unknown> = {};
  for (const [status, responseSchema] of Object.entries((schema.response ?? {}) as Record<string, unknown>)) {
    if (status === '4xx' || status === '5xx') continue;
    const doc = docs.responses[Number(status)];
    if (doc === undefined) throw new Error(`route ${String(route.method)} ${route.url}: no docs for response ${status}`);
    const headers = headerSchemas([...(doc.headers ?? []), ...always]);
    const noBody = (responseSchema as { type?: unknown }).type === 'null';
    const example = doc.example ?? exampleOf(responseSchema);
    responses[status] = noBody
      ? { type: 'null', description: doc.description, headers }
      : {
          description: doc.description,
          headers,
          content: { 'application/json': { schema: responseSchema, ...(example === undefined ? {} : { example }) } },
        };
  }
  for (const [status, doc] of Object.entries(docs.responses)) {
    if (doc.media === undefined) continue;
    const content = Object.fromEntries(
      Object.entries(doc.media).map(([type, media]) => [
        type,
        { schema: { type: 'string', description: media.description ?? type }, example: media.example },
      ]),
    );
    responses[status] = { description: doc.description, headers: headerSchemas([...(doc.headers ?? []), ...always]), content };
  }
  const problemSchema = { $ref: 'Problem' };
  const protectedRoute = access !== undefined && access !== 'public';
  const clientProblems = [...ANY_REQUEST_PROBLEMS, ...(protectedRoute ? PROTECTED_PROBLEMS : []), ...(docs.problems ?? [])];
  const clientHeaders: ResponseHeader[] = [...always, ...(protectedRoute ? (['WWW-Authenticate', 'Retry-After'] as const) : [])];
  responses['4xx'] = problemResponse([...new Set(clientProblems)].sort(byStatus), '4XX', problemSchema, clientHeaders);
  responses['5xx'] = problemResponse(SERVER_PROBLEMS, '5XX', problemSchema, [...always, 'Retry-After']);
  const body = docs.upload
    ? {
        body: {
          description: docs.upload.description,
          content: Object.fromEntries(
            // One example in the schema becomes the media type's example (@fastify/swagger's schemaToMedia).
            Object.entries(docs.upload.media).map(([type, media]) => [
              type,
              { schema: { type: 'string', description: docs.upload!.description, examples: [media.example] } },
            ]),
          ),
        },
      }
    : {};
  return { ...schema, ...body, response: responses };
}

function byStatus(a: ProblemCode, b: ProblemCode): number {
  return PROBLEMS[a].status - PROBLEMS[b].status || a.localeCompare(b);
}

const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  'users:read': 'read, list, search and export users',
  'users:write': 'create, change and delete users',
  'groups:read': "read and list groups, their members, and a user's groups",
  'groups:write': 'create, change and delete groups; add and remove members',
  'events:read': 'read the change feed',
  'webhooks:manage': 'register webhook endpoints, read their delivery log, replay',
  'imports:write': 'upload imports, follow and cancel them, download their row errors',
  scim: 'provision users and groups through SCIM 2.0 at /scim/v2 (the token an identity provider is given)',
  admin: 'every scope above, and managing API keys',
};

const DESCRIPTION = `The user directory: create, read, search, update and delete users; follow every change in the
event feed or by signed webhooks; import and export in bulk.

## Authentication

Every operation except the health probes needs \`Authorization: Bearer <credential>\`, where the
credential is an API key (\`rk_<id>_<secret>\`) or, when the server is configured with a trusted
issuer, a JWT whose \`scope\` claim lists scopes. The first start of a new database prints an admin
key; create narrower ones with \`POST /v1/api-keys\` or \`roster keys create --scope users:read\` on
the host. Each operation names the scope it requires; \`admin\` implies every scope.

| scope | allows |
| --- | --- |
${SCOPES.map((s) => `| \`${s}\` | ${SCOPE_DESCRIPTIONS[s]} |`).join('\n')}

## Conventions

- Errors are \`application/problem+json\` (RFC 9457); \`type\` is \`${PROBLEM_TYPE_PREFIX}<code>\` and the
  code never changes meaning. \`request_id\` matches the \`X-Request-Id\` header.
- Users carry a \`version\`, sent as a strong \`ETag\`: send it back in \`If-Match\` to change or delete
  only the version you read (412 \`version-mismatch\` otherwise), or in \`If-None-Match\` to get 304.
- Changes are JSON merge patches (RFC 7396), sent as \`application/merge-patch+json\` or plain \`application/json\`.
- \`POST /v1/users\` with an \`Idempotency-Key\` may be retried safely for 24 hours.
- Lists are paged with opaque cursors: pass \`next_cursor\` (or \`next_after\`) back until it is null.
- Each credential has a budget of requests a minute (the \`RateLimit-*\` headers say what is left);
  past it, 429 with \`Retry-After\`.`;

/** Registers @fastify/swagger: the document's metadata, named schemas and per-route documentation. */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Roster API',
        version,
        description: DESCRIPTION,
        license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
        contact: { name: 'The operators of this Roster instance' },
      },
      // Relative: the origin the document was fetched from, so /docs' "Try it out" calls this instance.
      servers: [{ url: '/', description: 'This Roster instance' }],
      tags: [
        { name: 'api-keys', description: 'Credentials for callers (admin)' },
        { name: 'events', description: 'The change feed: every change, in commit order' },
        { name: 'groups', description: 'Groups of users and their members' },
        { name: 'health', description: 'Liveness and readiness probes (no credentials)' },
        { name: 'imports', description: 'Bulk import jobs: upload, progress, cancel, row errors' },
        { name: 'users', description: 'The directory' },
        { name: 'webhooks', description: 'Signed deliveries of the change feed to your endpoints' },
      ],
      components: {
        securitySchemes: {
          [BEARER_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            description: `An API key (rk_…) or, when configured, a JWT from the trusted issuer. Scopes: ${SCOPES.join(', ')} (admin implies every other).`,
          },
        },
      },
    },
    // Shared schemas keep their $id as their name under components.schemas.
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transform: ({ schema, url, route }) => ({
      schema:
        (schema as { hide?: boolean } | undefined)?.hide === true
          ? schema
          : (documentRoute(schema as Record<string, unknown>, route) as typeof schema),
      url,
    }),
  });
}
