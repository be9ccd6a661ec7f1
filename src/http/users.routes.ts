import Type from 'typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_CURSOR_LENGTH } from '../kit/cursor.js';
import { ValidationError, type FieldError } from '../kit/errors.js';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { newUserFieldErrors, type User } from '../users/model.js';
import { listedUserPageJson, userJson } from '../users/document.js';
import { patchFieldErrors } from '../users/patch.js';
import type { UsersService } from '../users/service.js';
import { UUID_V7_PATTERN } from '../kit/uuid.js';
import { etagOf, ifNoneMatchHits, parseIfMatch } from './etag.js';
import { schemaErrors, type ValidationIssue } from './problem.js';
import { problemResponses } from './schemas.js';
import { requireMediaType } from './media-type.js';
import { component } from './openapi.js';
import { PROFILE_EXAMPLE, ProfileSchema } from './profile-schema.js';

const UserId = Type.String({
  pattern: UUID_V7_PATTERN,
  description: 'the user id (a UUIDv7)',
  examples: ['01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21'],
});
const Attributes = Type.Record(Type.String(), Type.Unknown(), { description: 'custom JSON data, at most 16 KiB, 4 levels deep' });
const PersonName = (part: string) =>
  Type.Union([Type.String({ maxLength: 4096 }), Type.Null()], {
    description: `${part}: trimmed and NFC-normalised, 1–200 characters; null for none`,
  });
const ExternalId = Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()], {
  description: "the identity provider's id for the user: unique, compared exactly (case-sensitively); null for none",
});
const Active = Type.Boolean({ description: 'false: deactivated, not deleted (still readable and listed)' });

export const USER_EXAMPLE = {
  id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21',
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  given_name: 'Ada',
  family_name: 'Lovelace',
  external_id: '00u1ab2cd3EF4gh5i6j7',
  active: true,
  attributes: { favourite_engine: 'analytical' },
  profile: PROFILE_EXAMPLE,
  version: 3,
  created_at: '2025-11-02T09:14:07.120Z',
  updated_at: '2025-11-20T16:41:55.003Z',
};

export const UserSchema = component(
  'User',
  Type.Object(
    {
      id: UserId,
      email: Type.String({ description: 'as given; unique, compared case-insensitively' }),
      name: Type.String({ description: 'the display name; trimmed and NFC-normalised' }),
      given_name: Type.Union([Type.String(), Type.Null()], { description: 'null when not given' }),
      family_name: Type.Union([Type.String(), Type.Null()], { description: 'null when not given' }),
      external_id: Type.Union([Type.String(), Type.Null()], {
        description: "the identity provider's id; unique, compared exactly; null when none",
      }),
      active: Active,
      attributes: Attributes,
      profile: ProfileSchema,
      version: Type.Integer({ minimum: 1, description: 'grows by one with each change; the ETag' }),
      created_at: Type.String({ format: 'date-time' }),
      updated_at: Type.String({ format: 'date-time' }),
    },
    { description: 'A user of the directory' },
  ),
  USER_EXAMPLE,
);

export const UserListSchema = component(
  'UserList',
  Type.Object(
    {
      data: Type.Array(UserSchema.ref),
      next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as `cursor` for the next page; null on the last page' }),
    },
    { description: 'One page of users, in id order' },
  ),
  { data: [USER_EXAMPLE], next_cursor: 'eyJhZnRlciI6IjAxOTMzYjVlLThkM2EtN2M0ZS05YTUxLTJmMGQ0YzFiN2UyMSJ9.q1f0' },
);

// The schema bounds sizes and shape; the business rules (email syntax, name rules) live in
// src/users/model.ts so the import pipeline applies exactly the same ones.
const CreateUserBody = Type.Object(
  {
    email: Type.String({ maxLength: 1024, description: 'unique, compared case-insensitively' }),
    name: Type.String({ maxLength: 4096, description: 'the display name: trimmed and NFC-normalised; 1–200 characters' }),
    given_name: Type.Optional(PersonName('the given name')),
    family_name: Type.Optional(PersonName('the family name')),
    external_id: Type.Optional(ExternalId),
    active: Type.Optional(Type.Boolean({ description: 'true when absent' })),
    attributes: Type.Optional(Attributes),
    profile: Type.Optional(ProfileSchema),
  },
  {
    additionalProperties: false,
    examples: [
      {
        email: 'ada@example.com',
        name: 'Ada Lovelace',
        given_name: 'Ada',
        family_name: 'Lovelace',
        external_id: '00u1ab2cd3EF4gh5i6j7',
        attributes: { favourite_engine: 'analytical' },
        profile: { title: 'Analyst', department: 'Research' },
      },
    ],
  },
);

const PatchUserBody = Type.Object(
  {
    email: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
    name: Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()])),
    given_name: Type.Optional(PersonName('the given name')),
    family_name: Type.Optional(PersonName('the family name')),
    external_id: Type.Optional(ExternalId),
    active: Type.Optional(Type.Union([Active, Type.Null()])),
    attributes: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
    profile: Type.Optional(
      Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], { description: 'merged key by key; null removes a key' }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'RFC 7396 JSON merge patch: the fields to change; null removes an attribute or profile key, the external id or a name part (email, name and active cannot be removed)',
    examples: [
      { name: 'Ada King', active: false, attributes: { favourite_engine: null }, profile: { title: 'Countess', department: null } },
    ],
  },
);

const IdParams = Type.Object({ id: UserId });

const DEFAULT_PAGE_SIZE = 50;
// PostgreSQL cannot compare text containing NUL; refuse it at the edge rather than fail in SQL.
export const NO_NUL = '^[^\\u0000]*$';

const ListQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 200, default: DEFAULT_PAGE_SIZE, description: 'users per page', examples: [50] }),
    ),
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
    active: Type.Optional(
      Type.Boolean({ description: 'only active (true) or deactivated (false) users; with q, only alongside email or external_id' }),
    ),
    external_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        pattern: NO_NUL,
        description: 'exact external id, case-sensitive',
        examples: ['00u1ab2cd3EF4gh5i6j7'],
      }),
    ),
  },
  { additionalProperties: false },
);

export const CreateHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x21-\\x7e]+$',
      description: 'retry-safe creation: a retry with the same key and body gets the first answer back; remembered 24 h',
      examples: ['0f7c2a9e-signup-ada'],
    }),
  ),
});
export const ConditionalHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({
      maxLength: 1024,
      description: 'the ETag you read: the change applies only to that version (else 412)',
      examples: ['"3"'],
    }),
  ),
});
export const CacheHeaders = Type.Object({
  'if-none-match': Type.Optional(
    Type.String({ maxLength: 1024, description: 'the ETag you hold: 304 without a body when it is still current', examples: ['"3"'] }),
  ),
});

/**
 * What a change records on its event (who, which request) and the deadline it runs under: the
 * Deadline itself, read as a Cancellation, so no AbortSignal is made unless work must listen. The
 * groups and SCIM routes pass the same context (SCIM's DirectoryCall).
 */
export function changeContext(request: FastifyRequest) {
  return { signal: request.deadline, actor: request.principal?.actor, requestId: request.id };
}

/** Fastify's own JSON type: a string body with it is sent as it is, not serialized again. */
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The one place a User becomes JSON: a row or a domain object never reaches the wire
 * unconverted. Written by users/document.ts (the User schema's fields, in its order), which
 * splices in a stored user's attributes and times as stored, rather than by the route's
 * compiled serializer, which would parse and write them again. A GET's document, and each of a
 * listed page's, is written by the store from the row (by SQLite itself, users/sqlite-wire.ts;
 * on PostgreSQL users/sql-row.ts userJsonOfRow, listedUserJsonOfRow); a GET's is sent by
 * sendUserJson().
 */
function sendUser(reply: FastifyReply, status: number, user: User) {
  return sendUserJson(reply, status, user.version, userJson(user));
}

/** A user's wire document already written (sendUser(), or a store's getJson()), with its version as the ETag. */
function sendUserJson(reply: FastifyReply, status: number, version: number, json: string) {
  return sendJsonText(reply.code(status).header('etag', etagOf(version)), json);
}

/** A body already written as JSON (users/document.ts): what the route's response schema describes. */
function sendJsonText(reply: FastifyReply, json: string) {
  return reply.type(JSON_TYPE).send(json);
}

/**
 * Routes with `attachValidation` call this first. A body that failed its schema is refused
 * with the schema's errors and the business rules' errors together, so a client fixes every
 * field in one round trip; any other failed part (path, headers) is refused as it is.
 */
export function rejectInvalidBody(request: FastifyRequest, businessErrors: (body: unknown) => FieldError[]): void {
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

/** The named schemas these routes reference (added to the app's root by buildApp()). */
export const USERS_SCHEMAS = [UserSchema.schema, UserListSchema.schema];

/** /v1/users: thin handlers that decode, call the service and encode. */
export function usersRoutes(users: UsersService) {
  return async function register(app: FastifyInstance): Promise<void> {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['users'];
    const read = 'users:read' as const;
    const write = 'users:write' as const;

    r.post(
      '/v1/users',
      {
        config: {
          access: write,
          docs: {
            responses: {
              201: {
                description: 'The user, created (or, with a replayed Idempotency-Key, as first created)',
                headers: ['ETag', 'Location', 'Idempotent-Replayed'],
              },
            },
            problems: [
              'validation',
              'malformed-json',
              'unsupported-media-type',
              'email-taken',
              'external-id-taken',
              'idempotency-key-reused',
              'body-too-large',
            ],
          },
        },
        schema: {
          operationId: 'createUser',
          tags,
          summary: 'Create a user',
          description:
            'Emails are unique, compared case-insensitively; external ids are unique, compared exactly. With an Idempotency-Key, a retry gets the first answer back.',
          headers: CreateHeaders,
          body: CreateUserBody,
          response: { 201: UserSchema.ref, ...problemResponses },
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
        config: {
          access: read,
          docs: {
            responses: {
              200: { description: 'The user', headers: ['ETag'] },
              304: { description: 'Not modified: the If-None-Match version is still current', headers: ['ETag'] },
            },
            problems: ['validation', 'user-not-found'],
          },
        },
        schema: {
          operationId: 'getUser',
          tags,
          summary: 'Get a user',
          description: 'Send the ETag you hold in If-None-Match to get 304 while it is current.',
          params: IdParams,
          headers: CacheHeaders,
          response: { 200: UserSchema.ref, 304: Type.Null(), ...problemResponses },
        },
      },
      async (request, reply) => {
        // As its wire document: a GET makes no User (no JSON parsed, no Date made) for a body it only writes.
        const { version, json } = await users.getJson(request.params.id, { signal: request.deadline });
        if (ifNoneMatchHits(request.headers['if-none-match'], version)) {
          return reply.code(304).header('etag', etagOf(version)).send(null);
        }
        return sendUserJson(reply, 200, version, json);
      },
    );

    r.get(
      '/v1/users',
      {
        config: {
          access: read,
          docs: {
            responses: { 200: { description: 'One page of users; follow next_cursor for the next' } },
            problems: ['validation', 'invalid-cursor', 'invalid-encoding'],
          },
        },
        schema: {
          operationId: 'listUsers',
          tags,
          summary: 'List users one page at a time: in id order, or with q alone in key order',
          description:
            'Filter by exact email, exact external id or active state, or search by case-insensitive prefix of email or name (q alone: results in key order, and a page may hold fewer than limit users while next_cursor is set); a cursor carries the filters of the page it came from.',
          querystring: ListQuery,
          response: { 200: UserListSchema.ref, ...problemResponses },
        },
      },
      async (request, reply) => {
        const { external_id: externalId, ...query } = request.query;
        // As wire documents, as a GET: a page makes no User (no JSON parsed, no Date made) for bodies it only writes.
        const page = await users.listJson(
          { ...query, ...(externalId === undefined ? {} : { externalId }), limit: query.limit ?? DEFAULT_PAGE_SIZE },
          { signal: request.deadline },
        );
        return sendJsonText(reply, listedUserPageJson(page.users, page.nextCursor));
      },
    );

    r.patch(
      '/v1/users/:id',
      {
        config: {
          access: write,
          docs: {
            responses: { 200: { description: 'The user as changed', headers: ['ETag'] } },
            problems: [
              'validation',
              'malformed-json',
              'unsupported-media-type',
              'user-not-found',
              'email-taken',
              'external-id-taken',
              'version-mismatch',
              'body-too-large',
            ],
          },
        },
        schema: {
          operationId: 'updateUser',
          tags,
          summary: 'Change a user with a JSON merge patch',
          description:
            'The body is a JSON merge patch (RFC 7396), sent as application/merge-patch+json or as plain application/json (what generic JSON clients send; read the same way); with If-Match, only the version you read is changed.',
          params: IdParams,
          headers: ConditionalHeaders,
          body: PatchUserBody,
          // Plain JSON too: a client generated from the document sends application/json by
          // default, and a JSON object means one thing as a merge patch.
          consumes: ['application/merge-patch+json', 'application/json'],
          response: { 200: UserSchema.ref, ...problemResponses },
        },
        preValidation: requireMediaType('application/merge-patch+json', 'application/json'),
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
        config: {
          access: write,
          docs: {
            responses: { 204: { description: 'Deleted' } },
            problems: ['validation', 'user-not-found', 'version-mismatch'],
          },
        },
        schema: {
          operationId: 'deleteUser',
          tags,
          summary: 'Delete a user',
          description: 'With If-Match, only the version you read is deleted.',
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
