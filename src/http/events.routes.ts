import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { EVENT_TYPES, toEventDocument } from '../events/model.js';
import type { EventsService } from '../events/service.js';
import { problemResponses } from './schemas.js';

const DEFAULT_PAGE_SIZE = 100;
const TYPE = `(${EVENT_TYPES.map((t) => t.replace('.', '\\.')).join('|')})`;

const FeedQuery = Type.Object(
  {
    after: Type.Optional(
      Type.String({
        pattern: '^(0|[1-9][0-9]{0,15})$',
        description:
          'the sequence of the last event already processed (next_after of the previous page); 0 or absent: from the oldest kept',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: DEFAULT_PAGE_SIZE })),
    type: Type.Optional(Type.String({ pattern: `^${TYPE}(,${TYPE})*$`, maxLength: 500, description: 'comma-separated event types' })),
  },
  { additionalProperties: false },
);

export const EventSchema = Type.Object({
  id: Type.String({ description: 'unique; also the webhook-id of its deliveries' }),
  type: Type.String({ description: `one of ${EVENT_TYPES.join(', ')}` }),
  sequence: Type.Integer({ description: 'grows in commit order; gaps are possible' }),
  occurred_at: Type.String({ format: 'date-time' }),
  actor: Type.Union([Type.String(), Type.Null()], { description: 'who made the change: key:<id>, jwt:<sub> or system:<part>' }),
  request_id: Type.Union([Type.String(), Type.Null()]),
  subject_id: Type.String({ description: 'the id of the user (or endpoint) that changed' }),
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'user.*: { user, changed?, previous? } with the user’s version' }),
});

/** GET /v1/events: the change feed, in commit order, resumable by sequence. */
export function eventsRoutes(events: EventsService) {
  return async function register(app: FastifyInstance): Promise<void> {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    r.get(
      '/v1/events',
      {
        config: { access: 'events:read' },
        schema: {
          tags: ['events'],
          summary: 'Read the change feed after a sequence, oldest first',
          querystring: FeedQuery,
          response: { 200: Type.Object({ data: Type.Array(EventSchema), next_after: Type.String() }), ...problemResponses },
        },
      },
      async (request) => {
        const page = await events.feed({ ...request.query, limit: request.query.limit ?? DEFAULT_PAGE_SIZE }, request.deadline);
        return { data: page.events.map(toEventDocument), next_after: String(page.nextAfter) };
      },
    );
  };
}
