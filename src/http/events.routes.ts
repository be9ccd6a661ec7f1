import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { EVENT_TYPES, toEventDocument } from '../events/model.js';
import type { EventsService } from '../events/service.js';
import { problemResponses } from './schemas.js';
import { component } from './openapi.js';
import { UUID_PATTERN } from '../kit/uuid.js';

const DEFAULT_PAGE_SIZE = 100;
const TYPE = `(${EVENT_TYPES.map((t) => t.replace('.', '\\.')).join('|')})`;

const FeedQuery = Type.Object(
  {
    after: Type.Optional(
      Type.String({
        pattern: '^(0|[1-9][0-9]{0,15})$',
        description:
          'the sequence of the last event already processed (next_after of the previous page); 0 or absent: from the oldest kept',
        examples: ['1042'],
      }),
    ),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: DEFAULT_PAGE_SIZE, description: 'events per page', examples: [100] }),
    ),
    type: Type.Optional(
      Type.String({
        pattern: `^${TYPE}(,${TYPE})*$`,
        maxLength: 500,
        description: `comma-separated event types (${EVENT_TYPES.join(', ')})`,
        examples: ['user.created,user.updated'],
      }),
    ),
    subject_id: Type.Optional(
      Type.String({
        pattern: UUID_PATTERN,
        description: 'only the events of this subject (a user, group, webhook endpoint or import), still in feed order',
        examples: ['01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21'],
      }),
    ),
  },
  { additionalProperties: false },
);

const EVENT_EXAMPLE = {
  id: '0193a1c2-6a0f-7b3c-9d4e-5f60718293a4',
  type: 'user.updated',
  sequence: 1043,
  occurred_at: '2025-11-20T16:41:55.003Z',
  actor: 'key:4f1c9a2b7d3e8f60',
  request_id: '0193a1c2-5b1e-7f40-8d2c-3e4f5a6b7c8d',
  subject_id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21',
  data: {
    user: {
      id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21',
      email: 'ada@example.com',
      name: 'Ada King',
      attributes: { department: 'analytics' },
      version: 4,
      created_at: '2025-11-02T09:14:07.120Z',
      updated_at: '2025-11-20T16:41:55.003Z',
    },
    changed: ['name', 'attributes'],
    previous: { name: 'Ada Lovelace', attributes: { department: 'research', employee_id: 1815 } },
  },
};

const eventProperties = {
  id: Type.String({ description: 'unique; also the webhook-id of its deliveries' }),
  type: Type.String({ description: `one of ${EVENT_TYPES.join(', ')}` }),
  sequence: Type.Integer({ description: 'grows in commit order; gaps are possible' }),
  occurred_at: Type.String({ format: 'date-time' }),
  actor: Type.Union([Type.String(), Type.Null()], { description: 'who made the change: key:<id>, jwt:<sub> or system:<part>' }),
  request_id: Type.Union([Type.String(), Type.Null()]),
  subject_id: Type.String({
    description: 'the id of the user, group, webhook endpoint or import that changed (filter by it with `subject_id`)',
  }),
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'user.*: { user, changed?, previous? } with the user’s version' }),
};

export const Event = component(
  'Event',
  Type.Object(eventProperties, { description: 'One change, as the feed and webhooks carry it' }),
  EVENT_EXAMPLE,
);

const EventPage = component(
  'EventPage',
  Type.Object(
    {
      data: Type.Array(Event.ref),
      next_after: Type.String({
        description: 'pass as `after` for the next page (the sequence of the last event; unchanged when the page is empty)',
      }),
    },
    { description: 'One page of the feed, oldest first' },
  ),
  { data: [EVENT_EXAMPLE], next_after: '1043' },
);

/** The named schemas these routes reference (added to the app's root by buildApp()). */
export const EVENTS_SCHEMAS = [Event.schema, EventPage.schema];

/** GET /v1/events: the change feed, in commit order, resumable by sequence. */
export function eventsRoutes(events: EventsService) {
  return async function register(app: FastifyInstance): Promise<void> {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    r.get(
      '/v1/events',
      {
        config: {
          access: 'events:read',
          docs: { responses: { 200: { description: 'Events after `after`, oldest first' } }, problems: ['validation'] },
        },
        schema: {
          operationId: 'listEvents',
          tags: ['events'],
          summary: 'Read the change feed after a sequence, oldest first',
          description: 'Resume from the last sequence you processed; sequences grow in commit order, with possible gaps.',
          querystring: FeedQuery,
          response: { 200: EventPage.ref, ...problemResponses },
        },
      },
      async (request) => {
        const { subject_id: subjectId, ...query } = request.query;
        const page = await events.feed({ ...query, subjectId, limit: query.limit ?? DEFAULT_PAGE_SIZE }, request.deadline);
        return { data: page.events.map(toEventDocument), next_after: String(page.nextAfter) };
      },
    );
  };
}
