import Type from 'typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { MAX_CURSOR_LENGTH } from '../kit/cursor.js';
import { UUID_V7_PATTERN } from '../kit/uuid.js';
import { EXTERNAL_ID_MAX_LENGTH, MEMBER_BATCH_MAX, newGroupFieldErrors, toGroupDocument, type Group } from '../groups/model.js';
import type { GroupsService, Member } from '../groups/service.js';
import { etagOf, ifNoneMatchHits, parseIfMatch } from './etag.js';
import { problemResponses } from './schemas.js';
import { requireMediaType } from './media-type.js';
import { component } from './openapi.js';
import { CacheHeaders, changeContext, ConditionalHeaders, CreateHeaders, NO_NUL, rejectInvalidBody } from './users.routes.js';

const GROUP_EXAMPLE_ID = '01933b5f-0a4c-7d2e-8b61-4e5f6a7b8c9d';
const USER_EXAMPLE_ID = '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21';

const Id = (what: string) =>
  Type.String({
    pattern: UUID_V7_PATTERN,
    description: `the ${what} id (a UUIDv7)`,
    examples: [what === 'group' ? GROUP_EXAMPLE_ID : USER_EXAMPLE_ID],
  });
const Attributes = Type.Record(Type.String(), Type.Unknown(), { description: 'custom JSON data, at most 16 KiB, 4 levels deep' });
const UserIds = Type.Array(Id('user'), {
  maxItems: MEMBER_BATCH_MAX,
  description: `user ids, at most ${MEMBER_BATCH_MAX}; repeats count once`,
  examples: [[USER_EXAMPLE_ID]],
});

const GROUP_EXAMPLE = {
  id: GROUP_EXAMPLE_ID,
  display_name: 'Research',
  external_id: '00g1emaKYZTWRYYRRTSK',
  attributes: { cost_center: 'R-17' },
  member_count: 42,
  version: 7,
  created_at: '2025-11-02T09:14:07.120Z',
  updated_at: '2025-11-20T16:41:55.003Z',
};

export const GroupSchema = component(
  'Group',
  Type.Object(
    {
      id: Id('group'),
      display_name: Type.String({ description: 'trimmed and NFC-normalised; unique, compared case-insensitively' }),
      external_id: Type.Union([Type.String(), Type.Null()], { description: "the identity provider's id; unique, compared exactly" }),
      attributes: Attributes,
      member_count: Type.Integer({ minimum: 0, description: 'how many users are members' }),
      version: Type.Integer({ minimum: 1, description: 'grows by one with each change, membership changes included; the ETag' }),
      created_at: Type.String({ format: 'date-time' }),
      updated_at: Type.String({ format: 'date-time' }),
    },
    { description: 'A group of users' },
  ),
  GROUP_EXAMPLE,
);

const NEXT_CURSOR = Type.Union([Type.String(), Type.Null()], { description: 'pass as `cursor` for the next page; null on the last page' });
const CURSOR_EXAMPLE = 'eyJhZnRlciI6IjAxOTMzYjVmLTBhNGMtN2QyZS04YjYxLTRlNWY2YTdiOGM5ZCJ9.q1f0';

export const GroupListSchema = component(
  'GroupList',
  Type.Object({ data: Type.Array(GroupSchema.ref), next_cursor: NEXT_CURSOR }, { description: 'One page of groups' }),
  { data: [GROUP_EXAMPLE], next_cursor: CURSOR_EXAMPLE },
);

const MEMBER_EXAMPLE = { id: USER_EXAMPLE_ID, email: 'ada@example.com', name: 'Ada Lovelace', added_at: '2025-11-20T16:41:55.003Z' };

export const MemberListSchema = component(
  'GroupMemberList',
  Type.Object(
    {
      data: Type.Array(
        Type.Object({
          id: Id('user'),
          email: Type.String(),
          name: Type.String(),
          added_at: Type.String({ format: 'date-time', description: 'when the user joined the group' }),
        }),
      ),
      next_cursor: NEXT_CURSOR,
    },
    { description: 'One page of the members of a group, in user id order' },
  ),
  { data: [MEMBER_EXAMPLE], next_cursor: CURSOR_EXAMPLE },
);

// The schema bounds sizes and shape; the rules (name, external id, attributes) live in groups/model.ts.
const CreateGroupBody = Type.Object(
  {
    display_name: Type.String({ maxLength: 4096, description: 'trimmed and NFC-normalised; 1–200 characters; unique case-insensitively' }),
    external_id: Type.Optional(
      Type.Union([Type.String({ maxLength: 1024 }), Type.Null()], { description: `1–${EXTERNAL_ID_MAX_LENGTH} characters, unique` }),
    ),
    attributes: Type.Optional(Attributes),
    member_ids: Type.Optional(UserIds),
  },
  {
    additionalProperties: false,
    examples: [
      { display_name: 'Research', external_id: '00g1emaKYZTWRYYRRTSK', attributes: { cost_center: 'R-17' }, member_ids: [USER_EXAMPLE_ID] },
    ],
  },
);

const PatchGroupBody = Type.Object(
  {
    display_name: Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()])),
    external_id: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
    attributes: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
  },
  {
    additionalProperties: false,
    description:
      'RFC 7396 JSON merge patch: the fields to change; null removes external_id or an attribute (display_name cannot be removed)',
    examples: [{ display_name: 'Research & Development', attributes: { cost_center: null } }],
  },
);

const MembersBody = Type.Object({ user_ids: UserIds }, { additionalProperties: false, examples: [{ user_ids: [USER_EXAMPLE_ID] }] });

const GroupParams = Type.Object({ id: Id('group') });
const MemberParams = Type.Object({ id: Id('group'), userId: Id('user') });
const UserParams = Type.Object({ id: Id('user') });

const DEFAULT_PAGE_SIZE = 50;
const Limit = (max: number, what: string) =>
  Type.Optional(Type.Integer({ minimum: 1, maximum: max, default: DEFAULT_PAGE_SIZE, description: `${what} per page`, examples: [50] }));
const Cursor = Type.Optional(
  Type.String({ minLength: 1, maxLength: MAX_CURSOR_LENGTH, description: 'next_cursor from the previous page' }),
);

const ListQuery = Type.Object(
  {
    limit: Limit(200, 'groups'),
    cursor: Cursor,
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        pattern: NO_NUL,
        description: 'case-insensitive prefix of the display name; results in name order',
      }),
    ),
    display_name: Type.Optional(
      Type.String({ minLength: 1, maxLength: 4096, pattern: NO_NUL, description: 'exact display name, case-insensitive' }),
    ),
    external_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: EXTERNAL_ID_MAX_LENGTH, pattern: NO_NUL, description: 'exact external id' }),
    ),
  },
  { additionalProperties: false },
);
const PageQuery = (what: string) => Type.Object({ limit: Limit(1000, what), cursor: Cursor }, { additionalProperties: false });
const IfMatchOnly = ConditionalHeaders;

function sendGroup(reply: FastifyReply, status: number, group: Group) {
  return reply.code(status).header('etag', etagOf(group.version)).send(toGroupDocument(group));
}

function memberDocument(member: Member) {
  return { id: member.userId, email: member.email, name: member.name, added_at: member.addedAt.toISOString() };
}

/** The named schemas these routes reference (added to the app's root by buildApp()). */
export const GROUPS_SCHEMAS = [GroupSchema.schema, GroupListSchema.schema, MemberListSchema.schema];

/** /v1/groups and /v1/users/{id}/groups: thin handlers that decode, call the service and encode. */
export function groupsRoutes(groups: GroupsService) {
  return async function register(app: FastifyInstance): Promise<void> {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['groups'];
    const read = 'groups:read' as const;
    const write = 'groups:write' as const;

    r.post(
      '/v1/groups',
      {
        config: {
          access: write,
          docs: {
            responses: {
              201: {
                description: 'The group, created with its first members (or, with a replayed Idempotency-Key, as first created)',
                headers: ['ETag', 'Location', 'Idempotent-Replayed'],
              },
            },
            problems: [
              'validation',
              'malformed-json',
              'unsupported-media-type',
              'group-name-taken',
              'group-external-id-taken',
              'member-not-found',
              'idempotency-key-reused',
              'body-too-large',
            ],
          },
        },
        schema: {
          operationId: 'createGroup',
          tags,
          summary: 'Create a group',
          description: `Display names are unique, compared case-insensitively; external ids are unique. member_ids (at most ${MEMBER_BATCH_MAX}) must all be users, or nothing is created (422 member-not-found lists the others). With an Idempotency-Key, a retry gets the first answer back.`,
          headers: CreateHeaders,
          body: CreateGroupBody,
          response: { 201: GroupSchema.ref, ...problemResponses },
        },
        preValidation: requireMediaType('application/json'),
        attachValidation: true,
      },
      async (request, reply) => {
        rejectInvalidBody(request, newGroupFieldErrors);
        const { group, replayed } = await groups.create(request.body, {
          ...changeContext(request),
          idempotencyKey: request.headers['idempotency-key'],
          idempotencyScope: request.principal?.actor,
        });
        if (replayed) reply.header('idempotent-replayed', 'true');
        return sendGroup(reply.header('location', `/v1/groups/${group.id}`), 201, group);
      },
    );

    r.get(
      '/v1/groups/:id',
      {
        config: {
          access: read,
          docs: {
            responses: {
              200: { description: 'The group', headers: ['ETag'] },
              304: { description: 'Not modified: the If-None-Match version is still current', headers: ['ETag'] },
            },
            problems: ['validation', 'group-not-found'],
          },
        },
        schema: {
          operationId: 'getGroup',
          tags,
          summary: 'Get a group',
          description:
            'Without its members (see listGroupMembers); member_count says how many. Send the ETag you hold in If-None-Match to get 304 while it is current.',
          params: GroupParams,
          headers: CacheHeaders,
          response: { 200: GroupSchema.ref, 304: Type.Null(), ...problemResponses },
        },
      },
      async (request, reply) => {
        const group = await groups.get(request.params.id, { signal: request.deadline });
        if (ifNoneMatchHits(request.headers['if-none-match'], group.version)) {
          return reply.code(304).header('etag', etagOf(group.version)).send(null);
        }
        return sendGroup(reply, 200, group);
      },
    );

    r.get(
      '/v1/groups',
      {
        config: {
          access: read,
          docs: {
            responses: { 200: { description: 'One page of groups; follow next_cursor for the next' } },
            problems: ['validation', 'invalid-cursor', 'invalid-encoding'],
          },
        },
        schema: {
          operationId: 'listGroups',
          tags,
          summary: 'List groups one page at a time: in id order, or with q in name order',
          description:
            'Filter by exact display_name (case-insensitive) or external_id (exact): at most one group. q is a case-insensitive prefix of the display name. A cursor carries the filters of the page it came from.',
          querystring: ListQuery,
          response: { 200: GroupListSchema.ref, ...problemResponses },
        },
      },
      async (request) => {
        const q = request.query;
        const page = await groups.list(
          { limit: q.limit ?? DEFAULT_PAGE_SIZE, cursor: q.cursor, q: q.q, displayName: q.display_name, externalId: q.external_id },
          { signal: request.deadline },
        );
        return { data: page.items.map(toGroupDocument), next_cursor: page.nextCursor };
      },
    );

    r.patch(
      '/v1/groups/:id',
      {
        config: {
          access: write,
          docs: {
            responses: { 200: { description: 'The group as changed', headers: ['ETag'] } },
            problems: [
              'validation',
              'malformed-json',
              'unsupported-media-type',
              'group-not-found',
              'group-name-taken',
              'group-external-id-taken',
              'version-mismatch',
              'body-too-large',
            ],
          },
        },
        schema: {
          operationId: 'updateGroup',
          tags,
          summary: "Change a group's fields with a JSON merge patch",
          description:
            'The body is a JSON merge patch (RFC 7396), as application/merge-patch+json or application/json; members change through the members operations. With If-Match, only the version you read is changed.',
          params: GroupParams,
          headers: ConditionalHeaders,
          body: PatchGroupBody,
          consumes: ['application/merge-patch+json', 'application/json'],
          response: { 200: GroupSchema.ref, ...problemResponses },
        },
        preValidation: requireMediaType('application/merge-patch+json', 'application/json'),
        attachValidation: true,
      },
      async (request, reply) => {
        rejectInvalidBody(request, () => []);
        const group = await groups.update(
          request.params.id,
          request.body,
          parseIfMatch(request.headers['if-match']),
          changeContext(request),
        );
        return sendGroup(reply, 200, group);
      },
    );

    r.delete(
      '/v1/groups/:id',
      {
        config: {
          access: write,
          docs: {
            responses: { 204: { description: 'Deleted, with its memberships' } },
            problems: ['validation', 'group-not-found', 'version-mismatch'],
          },
        },
        schema: {
          operationId: 'deleteGroup',
          tags,
          summary: 'Delete a group',
          description: 'Its memberships go with it (one group.deleted event). With If-Match, only the version you read is deleted.',
          params: GroupParams,
          headers: ConditionalHeaders,
          response: { 204: Type.Null(), ...problemResponses },
        },
      },
      async (request, reply) => {
        await groups.delete(request.params.id, parseIfMatch(request.headers['if-match']), changeContext(request));
        return reply.code(204).send(null);
      },
    );

    r.get(
      '/v1/groups/:id/members',
      {
        config: {
          access: read,
          docs: {
            responses: { 200: { description: 'One page of members; follow next_cursor for the next' } },
            problems: ['validation', 'invalid-cursor', 'group-not-found'],
          },
        },
        schema: {
          operationId: 'listGroupMembers',
          tags,
          summary: 'List the members of a group one page at a time, in user id order',
          description: 'Every page costs the same however large the group (a keyset on the user id).',
          params: GroupParams,
          querystring: PageQuery('members'),
          response: { 200: MemberListSchema.ref, ...problemResponses },
        },
      },
      async (request) => {
        const page = await groups.members(
          request.params.id,
          { limit: request.query.limit ?? DEFAULT_PAGE_SIZE, cursor: request.query.cursor },
          { signal: request.deadline },
        );
        return { data: page.items.map(memberDocument), next_cursor: page.nextCursor };
      },
    );

    const batchDocs = (verb: 'add' | 'remove') => ({
      responses: {
        200: {
          description: `The group after the change (unchanged, same version, when every user was already ${verb === 'add' ? 'a member' : 'absent'})`,
          headers: ['ETag' as const],
        },
      },
      problems: [
        'validation' as const,
        'malformed-json' as const,
        'unsupported-media-type' as const,
        'group-not-found' as const,
        ...(verb === 'add' ? (['member-not-found'] as const) : []),
        'version-mismatch' as const,
        'body-too-large' as const,
      ],
    });

    r.post(
      '/v1/groups/:id/members',
      {
        config: { access: write, docs: batchDocs('add') },
        schema: {
          operationId: 'addGroupMembers',
          tags,
          summary: 'Add members',
          description: `Up to ${MEMBER_BATCH_MAX} user ids; those already members are no-ops. All or nothing: if any id is not a user, nothing is added and 422 member-not-found lists them. One group.members_added event per change.`,
          params: GroupParams,
          headers: IfMatchOnly,
          body: MembersBody,
          response: { 200: GroupSchema.ref, ...problemResponses },
        },
        preValidation: requireMediaType('application/json'),
      },
      async (request, reply) => {
        const { group } = await groups.addMembers(
          request.params.id,
          request.body.user_ids,
          parseIfMatch(request.headers['if-match']),
          changeContext(request),
        );
        return sendGroup(reply, 200, group);
      },
    );

    // A batch removal is a POST to a sub-resource rather than a DELETE with a body: proxies and
    // clients are free to drop a DELETE's body (RFC 9110 gives it no meaning).
    r.post(
      '/v1/groups/:id/members/remove',
      {
        config: { access: write, docs: batchDocs('remove') },
        schema: {
          operationId: 'removeGroupMembers',
          tags,
          summary: 'Remove members',
          description: `Up to ${MEMBER_BATCH_MAX} user ids; those not members are no-ops. One group.members_removed event per change.`,
          params: GroupParams,
          headers: IfMatchOnly,
          body: MembersBody,
          response: { 200: GroupSchema.ref, ...problemResponses },
        },
        preValidation: requireMediaType('application/json'),
      },
      async (request, reply) => {
        const { group } = await groups.removeMembers(
          request.params.id,
          request.body.user_ids,
          parseIfMatch(request.headers['if-match']),
          changeContext(request),
        );
        return sendGroup(reply, 200, group);
      },
    );

    r.delete(
      '/v1/groups/:id/members/:userId',
      {
        config: {
          access: write,
          docs: {
            responses: { 204: { description: 'The user left the group' } },
            problems: ['validation', 'group-not-found', 'membership-not-found', 'version-mismatch'],
          },
        },
        schema: {
          operationId: 'removeGroupMember',
          tags,
          summary: 'Remove one member',
          description: 'With If-Match, only from the version of the group you read.',
          params: MemberParams,
          headers: IfMatchOnly,
          response: { 204: Type.Null(), ...problemResponses },
        },
      },
      async (request, reply) => {
        await groups.removeMember(
          request.params.id,
          request.params.userId,
          parseIfMatch(request.headers['if-match']),
          changeContext(request),
        );
        return reply.code(204).send(null);
      },
    );

    r.get(
      '/v1/users/:id/groups',
      {
        config: {
          access: read,
          docs: {
            responses: { 200: { description: "One page of the user's groups; follow next_cursor for the next" } },
            problems: ['validation', 'invalid-cursor', 'user-not-found'],
          },
        },
        schema: {
          operationId: 'listUserGroups',
          tags,
          summary: 'List the groups a user belongs to, in group id order',
          params: UserParams,
          querystring: PageQuery('groups'),
          response: { 200: GroupListSchema.ref, ...problemResponses },
        },
      },
      async (request) => {
        const page = await groups.groupsOf(
          request.params.id,
          { limit: request.query.limit ?? DEFAULT_PAGE_SIZE, cursor: request.query.cursor },
          { signal: request.deadline },
        );
        return { data: page.items.map(toGroupDocument), next_cursor: page.nextCursor };
      },
    );
  };
}
