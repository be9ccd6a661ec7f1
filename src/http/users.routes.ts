import Type from 'typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_CURSOR_LENGTH } from '../kit/cursor.js';
import { ValidationError, type FieldError } from '../kit/errors.js';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { newUserFieldErrors, toUserDocument, type User } from '../users/model.js';
import { patchFieldErrors } from '../users/patch.js';
import type { UsersService } from '../users/service.js';
import { UUID_V7_PATTERN } from '../kit/uuid.js';
import { etagOf, ifNoneMatchHits, parseIfMatch } from './etag.js';
import { schemaErrors, type ValidationIssue } from './problem.js';
import { problemResponses } from './schemas.js';
import { requireMediaType } from './media-type.js';

const UserId = Type.String({
  pattern: UUID_V7_PATTERN,
  description: 'UUIDv7',
  examples: ['01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21'],
});
const Attributes = Type.Record(Type.String(), Type.Unknown(), { description: 'custom JSON data, at most 16 KiB, 4 levels deep' });

const UserResponse = Type.Object({
  id: UserId,
  email: Type.String(),
  name: Type.String(),
  attributes: Attributes,
  version: Type.Integer({ minimum: 1 }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

// The schema bounds sizes and shape; the business rules (email syntax, name rules) live in
// src/users/model.ts so the import pipeline applies exactly the same ones.
const CreateUserBody = Type.Object(
  {
    email: Type.String({ maxLength: 1024, description: 'unique, compared case-insensitively' }),
    name: Type.String({ maxLength: 4096, description: 'trimmed and NFC-normalised; 1–200 characters' }),
    attributes: Type.Optional(Attributes),
  },
  { additionalProperties: false },
);

const PatchUserBody = Type.Object(
  {
    email: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
    name: Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()])),
    attributes: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
  },
  { additionalProperties: false, description: 'RFC 7396 JSON merge patch' },
);

const IdParams = Type.Object({ id: UserId });

const DEFAULT_PAGE_SIZE = 50;
// PostgreSQL cannot compare text containing NUL; refuse it at the edge rather than fail in SQL.
const NO_NUL = '^[^\\u0000]*$';

const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: DEFAULT_PAGE_SIZE })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_CURSOR_LENGTH, description: 'next_cursor from the previous page' })),
    email: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, pattern: NO_NUL, description: 'exact email, case-insensitive' })),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        pattern: NO_NUL,
        description: 'case-insensitive prefix of name or email; results in key order',
      }),
    ),
  },
  { additionalProperties: false },
);

const CreateHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$', description: 'retry-safe creation; remembered 24 h' }),
  ),
});
const ConditionalHeaders = Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 1024 })) });
const CacheHeaders = Type.Object({ 'if-none-match': Type.Optional(Type.String({ maxLength: 1024 })) });

/** The one place a User becomes JSON: a row or a domain object never reaches the wire unconverted. */
/** What a change records on its event (who, which request) and the deadline it runs under. */
function changeContext(request: FastifyRequest) {
  return { signal: request.deadline, actor: request.principal?.actor, requestId: request.id };
}

function sendUser(reply: FastifyReply, status: number, user: User) {
  return reply.code(status).header('etag', etagOf(user.version)).send(toUserDocument(user));
}

/**
 * Routes with `attachValidation` call this first. A body that failed its schema is refused
 * with the schema's errors and the business rules' errors together, so a client fixes every
 * field in one round trip; any other failed part (path, headers) is refused as it is.
 */
function rejectInvalidBody(request: FastifyRequest, businessErrors: (body: unknown) => FieldError[]): void {
  const failure = request.validationError;
  if (!failure) return;
  if (failure.validationContext !== 'body') throw failure;
  const schema = schemaErrors(failure.validation as ValidationIssue[], 'body').map((e) => ({
    pointer: e.pointer ?? '',
    message: e.message,
  }));
  const extra = businessErrors(request.body).filter((e) => !schema.some((s) => s.pointer === e.pointer));
  throw new ValidationError([...schema, ...extra], 'Invalid values in the request body.');
}

/** /v1/users: thin handlers that decode, call the service and encode. */
export function usersRoutes(users: UsersService) {
  return async function register(app: FastifyInstance): Promise<void> {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['users'];
    const read = { access: 'users:read' as const };
    const write = { access: 'users:write' as const };

    r.post(
      '/v1/users',
      {
        config: write,
        schema: {
          tags,
          summary: 'Create a user',
          headers: CreateHeaders,
          body: CreateUserBody,
          response: { 201: UserResponse, ...problemResponses },
        },
        preValidation: requireMediaType('application/json'),
        attachValidation: true,
      },
      async (request, reply) => {
        rejectInvalidBody(request, newUserFieldErrors);
        const { user, replayed } = await users.create(request.body, request.headers['idempotency-key'], {
          ...changeContext(request),
          idempotencyScope: request.principal?.actor,
        });
        if (replayed) reply.header('idempotent-replayed', 'true');
        return sendUser(reply.header('location', `/v1/users/${user.id}`), 201, user);
      },
    );

    r.get(
      '/v1/users/:id',
      {
        config: read,
        schema: {
          tags,
          summary: 'Get a user',
          params: IdParams,
          headers: CacheHeaders,
          response: { 200: UserResponse, 304: Type.Null(), ...problemResponses },
        },
      },
      async (request, reply) => {
        const user = await users.get(request.params.id, { signal: request.deadline });
        if (ifNoneMatchHits(request.headers['if-none-match'], user.version)) {
          return reply.code(304).header('etag', etagOf(user.version)).send(null);
        }
        return sendUser(reply, 200, user);
      },
    );

    r.get(
      '/v1/users',
      {
        config: read,
        schema: {
          tags,
          summary: 'List users one page at a time: in id order, or with q alone in key order',
          querystring: ListQuery,
          response: {
            200: Type.Object({ data: Type.Array(UserResponse), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
            ...problemResponses,
          },
        },
      },
      async (request) => {
        const page = await users.list({ ...request.query, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }, { signal: request.deadline });
        return { data: page.users.map(toUserDocument), next_cursor: page.nextCursor };
      },
    );

    r.patch(
      '/v1/users/:id',
      {
        config: write,
        schema: {
          tags,
          summary: 'Change a user with a JSON merge patch',
          params: IdParams,
          headers: ConditionalHeaders,
          body: PatchUserBody,
          response: { 200: UserResponse, ...problemResponses },
        },
        preValidation: requireMediaType('application/merge-patch+json'),
        attachValidation: true,
      },
      async (request, reply) => {
        rejectInvalidBody(request, patchFieldErrors);
        const user = await users.update(request.params.id, request.body, parseIfMatch(request.headers['if-match']), changeContext(request));
        return sendUser(reply, 200, user);
      },
    );

    r.delete(
      '/v1/users/:id',
      {
        config: write,
        schema: {
          tags,
          summary: 'Delete a user',
          params: IdParams,
          headers: ConditionalHeaders,
          response: { 204: Type.Null(), ...problemResponses },
        },
      },
      async (request, reply) => {
        await users.delete(request.params.id, parseIfMatch(request.headers['if-match']), changeContext(request));
        return reply.code(204).send(null);
      },
    );
  };
}
