import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { EVENT_TYPES } from '../events/model.js';
import type { WebhookEndpoint } from '../webhooks/model.js';
import type { DeliveryAttempt, WebhooksService } from '../webhooks/service.js';
import { UUID_PATTERN } from '../kit/uuid.js';
import { problemResponses } from './schemas.js';
import { requireMediaType } from './media-type.js';

const DEFAULT_PAGE_SIZE = 50;

const EventTypes = Type.Union(
  [Type.Array(Type.Union(EVENT_TYPES.map((t) => Type.Literal(t))), { minItems: 1, maxItems: EVENT_TYPES.length }), Type.Null()],
  {
    description: 'the event types delivered; null: every type',
  },
);

const EndpointResponse = Type.Object({
  id: Type.String(),
  url: Type.String(),
  description: Type.String(),
  event_types: Type.Union([Type.Array(Type.String()), Type.Null()]),
  enabled: Type.Boolean(),
  ordered: Type.Boolean({ description: 'true: events arrive one at a time in sequence order (the default)' }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  disabled_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  disabled_reason: Type.Union([Type.String(), Type.Null()]),
  delivered_through: Type.Integer({ description: 'sequence of the last event handled for this endpoint' }),
  failing_since: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  next_attempt_at: Type.String({ format: 'date-time' }),
});

const WithSecret = Type.Intersect([
  EndpointResponse,
  Type.Object({ secret: Type.String({ description: 'the whsec_ signing secret; shown only in this response' }) }),
]);

const CreateBody = Type.Object(
  {
    url: Type.String({ maxLength: 2048 }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    event_types: Type.Optional(EventTypes),
    enabled: Type.Optional(Type.Boolean()),
    ordered: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const UpdateBody = Type.Object(
  {
    url: Type.Optional(Type.String({ maxLength: 2048 })),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    event_types: Type.Optional(EventTypes),
    enabled: Type.Optional(Type.Boolean()),
    ordered: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

const ReplayBody = Type.Object(
  {
    event_id: Type.Optional(Type.String({ maxLength: 100, description: 'replay the deliveries of this one event' })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'replay every event of the endpoint’s types since then' })),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
);

const IdParams = Type.Object({ id: Type.String({ pattern: UUID_PATTERN }) });

const ListQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ pattern: UUID_PATTERN, description: 'next_after of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: DEFAULT_PAGE_SIZE })),
  },
  { additionalProperties: false },
);

const DeliveriesQuery = Type.Object(
  {
    before: Type.Optional(Type.String({ pattern: UUID_PATTERN, description: 'next_before of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: DEFAULT_PAGE_SIZE })),
  },
  { additionalProperties: false },
);

const AttemptResponse = Type.Object({
  id: Type.String(),
  event_id: Type.String({ description: 'also the webhook-id header of the attempt' }),
  event_sequence: Type.Integer(),
  attempt: Type.Integer({ description: '1 for the first attempt of the event, then 2, 3…' }),
  attempted_at: Type.String({ format: 'date-time' }),
  outcome: Type.String({ description: 'success, retryable, permanent or gone' }),
  status: Type.Union([Type.Integer(), Type.Null()]),
  latency_ms: Type.Integer(),
  error_code: Type.Union([Type.String(), Type.Null()]),
  error_message: Type.Union([Type.String(), Type.Null()]),
  response_body: Type.String({ description: 'the start of the response (at most 64 KiB)' }),
  replay: Type.Boolean(),
});

export function toEndpointResponse(e: WebhookEndpoint) {
  const iso = (d: Date | null) => (d === null ? null : d.toISOString());
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    event_types: e.eventTypes === null ? null : [...e.eventTypes],
    enabled: e.enabled,
    ordered: e.ordered,
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
    disabled_at: iso(e.disabledAt),
    disabled_reason: e.disabledReason,
    delivered_through: e.cursor,
    failing_since: iso(e.failingSince),
    next_attempt_at: e.nextAttemptAt.toISOString(),
  };
}

function toAttemptResponse(a: DeliveryAttempt) {
  return {
    id: a.id,
    event_id: a.eventId,
    event_sequence: a.eventSequence,
    attempt: a.attempt,
    attempted_at: a.attemptedAt.toISOString(),
    outcome: a.outcome,
    status: a.status,
    latency_ms: a.latencyMs,
    error_code: a.errorCode,
    error_message: a.errorMessage,
    response_body: a.responseBody,
    replay: a.replay,
  };
}

/** /v1/webhook-endpoints: endpoints, secrets, the delivery log and replays (scope webhooks:manage). */
export function webhooksRoutes(webhooks: WebhooksService) {
  return async function register(app: FastifyInstance): Promise<void> {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['webhooks'];
    const config = { access: 'webhooks:manage' as const };
    const json = requireMediaType('application/json');

    r.post(
      '/v1/webhook-endpoints',
      {
        config,
        schema: { tags, summary: 'Create a webhook endpoint', body: CreateBody, response: { 201: WithSecret, ...problemResponses } },
        preValidation: json,
      },
      async (request, reply) => {
        const { endpoint, secret } = await webhooks.create(request.body, request.deadline);
        request.log.info({ endpoint_id: endpoint.id }, 'webhook endpoint created');
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .header('location', `/v1/webhook-endpoints/${endpoint.id}`)
          .send({ ...toEndpointResponse(endpoint), secret });
      },
    );

    r.get(
      '/v1/webhook-endpoints',
      {
        config,
        schema: {
          tags,
          summary: 'List webhook endpoints by id',
          querystring: ListQuery,
          response: {
            200: Type.Object({ data: Type.Array(EndpointResponse), next_after: Type.Union([Type.String(), Type.Null()]) }),
            ...problemResponses,
          },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? DEFAULT_PAGE_SIZE;
        const page = await webhooks.list(request.query.after, limit, request.deadline);
        return { data: page.map(toEndpointResponse), next_after: page.length === limit ? page.at(-1)!.id : null };
      },
    );

    r.get(
      '/v1/webhook-endpoints/:id',
      {
        config,
        schema: { tags, summary: 'Read a webhook endpoint', params: IdParams, response: { 200: EndpointResponse, ...problemResponses } },
      },
      async (request) => toEndpointResponse(await webhooks.get(request.params.id, request.deadline)),
    );

    r.patch(
      '/v1/webhook-endpoints/:id',
      {
        config,
        schema: {
          tags,
          summary: 'Change a webhook endpoint (enabled: true re-enables a disabled one)',
          params: IdParams,
          body: UpdateBody,
          response: { 200: EndpointResponse, ...problemResponses },
        },
      },
      async (request) => toEndpointResponse(await webhooks.update(request.params.id, request.body, request.deadline)),
    );

    r.delete(
      '/v1/webhook-endpoints/:id',
      {
        config,
        schema: {
          tags,
          summary: 'Delete a webhook endpoint and its delivery log',
          params: IdParams,
          response: { 204: Type.Null(), ...problemResponses },
        },
      },
      async (request, reply) => {
        await webhooks.delete(request.params.id, request.deadline);
        return reply.code(204).send(null);
      },
    );

    r.post(
      '/v1/webhook-endpoints/:id/rotate-secret',
      {
        config,
        schema: {
          tags,
          summary: 'Issue a new signing secret; the previous one keeps signing for the grace period',
          params: IdParams,
          response: { 200: WithSecret, ...problemResponses },
        },
      },
      async (request, reply) => {
        const { endpoint, secret } = await webhooks.rotateSecret(request.params.id, request.deadline);
        request.log.info({ endpoint_id: endpoint.id }, 'webhook secret rotated');
        return reply.header('cache-control', 'no-store').send({ ...toEndpointResponse(endpoint), secret });
      },
    );

    r.get(
      '/v1/webhook-endpoints/:id/deliveries',
      {
        config,
        schema: {
          tags,
          summary: 'The delivery log: every attempt, newest first',
          params: IdParams,
          querystring: DeliveriesQuery,
          response: {
            200: Type.Object({ data: Type.Array(AttemptResponse), next_before: Type.Union([Type.String(), Type.Null()]) }),
            ...problemResponses,
          },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? DEFAULT_PAGE_SIZE;
        const page = await webhooks.deliveries(request.params.id, request.query.before, limit, request.deadline);
        return { data: page.map(toAttemptResponse), next_before: page.length === limit ? page.at(-1)!.id : null };
      },
    );

    r.post(
      '/v1/webhook-endpoints/:id/replay',
      {
        config,
        schema: {
          tags,
          summary: 'Deliver one event again ({event_id}) or every event since a time ({since})',
          params: IdParams,
          body: ReplayBody,
          response: { 202: Type.Object({ enqueued: Type.Integer() }), ...problemResponses },
        },
        preValidation: json,
      },
      async (request, reply) => {
        const result = await webhooks.replay(
          request.params.id,
          { eventId: request.body.event_id, since: request.body.since },
          request.deadline,
        );
        request.log.info({ endpoint_id: request.params.id, enqueued: result.enqueued }, 'webhook replay enqueued');
        return reply.code(202).send(result);
      },
    );
  };
}
