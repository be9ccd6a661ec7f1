import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { EVENT_TYPES } from '../events/model.js';
import type { WebhookEndpoint } from '../webhooks/model.js';
import type { DeliveryAttempt, WebhooksService } from '../webhooks/service.js';
import { UUID_PATTERN } from '../kit/uuid.js';
import { problemResponses } from './schemas.js';
import { requireMediaType } from './media-type.js';
import { component } from './openapi.js';

const DEFAULT_PAGE_SIZE = 50;

const EventTypes = Type.Union(
  [Type.Array(Type.Union(EVENT_TYPES.map((t) => Type.Literal(t))), { minItems: 1, maxItems: EVENT_TYPES.length }), Type.Null()],
  { description: 'the event types delivered; null: every type' },
);

const endpointProperties = {
  id: Type.String({ description: 'the endpoint id (a UUID)' }),
  url: Type.String({ description: 'where deliveries are POSTed' }),
  description: Type.String(),
  event_types: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'the event types delivered; null: every type' }),
  enabled: Type.Boolean(),
  ordered: Type.Boolean({ description: 'true: events arrive one at a time in sequence order (the default)' }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  disabled_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  disabled_reason: Type.Union([Type.String(), Type.Null()]),
  delivered_through: Type.Integer({ description: 'sequence of the last event handled for this endpoint' }),
  failing_since: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  next_attempt_at: Type.String({ format: 'date-time' }),
};

const ENDPOINT_EXAMPLE = {
  id: '0193a1d0-2c4e-7a1b-8f3d-4e5a6b7c8d9e',
  url: 'https://hooks.example.com/roster',
  description: 'CRM sync',
  event_types: ['user.created', 'user.updated', 'user.deleted'],
  enabled: true,
  ordered: true,
  created_at: '2025-11-02T09:20:00.000Z',
  updated_at: '2025-11-02T09:20:00.000Z',
  disabled_at: null,
  disabled_reason: null,
  delivered_through: 1043,
  failing_since: null,
  next_attempt_at: '2025-11-20T16:41:56.000Z',
};

export const WebhookEndpointSchema = component(
  'WebhookEndpoint',
  Type.Object(endpointProperties, { description: 'A registered receiver of the change feed' }),
  ENDPOINT_EXAMPLE,
);

const WebhookEndpointWithSecret = component(
  'WebhookEndpointWithSecret',
  Type.Object(
    { ...endpointProperties, secret: Type.String({ description: 'the whsec_ signing secret; shown only in this response' }) },
    { description: 'An endpoint and, this once, its signing secret' },
  ),
  { ...ENDPOINT_EXAMPLE, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
);

const WebhookEndpointList = component(
  'WebhookEndpointList',
  Type.Object(
    {
      data: Type.Array(WebhookEndpointSchema.ref),
      next_after: Type.Union([Type.String(), Type.Null()], { description: 'pass as `after` for the next page; null on the last page' }),
    },
    { description: 'One page of endpoints, by id' },
  ),
  { data: [ENDPOINT_EXAMPLE], next_after: null },
);

const CreateBody = Type.Object(
  {
    url: Type.String({
      maxLength: 2048,
      description: 'where deliveries are POSTed; private and loopback addresses are refused unless ROSTER_WEBHOOK_ALLOWED_HOSTS lists them',
    }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    event_types: Type.Optional(EventTypes),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    ordered: Type.Optional(Type.Boolean({ default: true })),
  },
  {
    additionalProperties: false,
    examples: [
      { url: 'https://hooks.example.com/roster', description: 'CRM sync', event_types: ['user.created', 'user.updated', 'user.deleted'] },
    ],
  },
);

const UpdateBody = Type.Object(
  {
    url: Type.Optional(Type.String({ maxLength: 2048 })),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    event_types: Type.Optional(EventTypes),
    enabled: Type.Optional(Type.Boolean()),
    ordered: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1, examples: [{ enabled: true }] },
);

const ReplayBody = Type.Object(
  {
    event_id: Type.Optional(Type.String({ maxLength: 100, description: 'replay the deliveries of this one event' })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'replay every event of the endpoint’s types since then' })),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1, examples: [{ since: '2025-11-20T00:00:00.000Z' }] },
);

const IdParams = Type.Object({
  id: Type.String({ pattern: UUID_PATTERN, description: 'the endpoint id', examples: ['0193a1d0-2c4e-7a1b-8f3d-4e5a6b7c8d9e'] }),
});

const ListQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ pattern: UUID_PATTERN, description: 'next_after of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: DEFAULT_PAGE_SIZE, description: 'endpoints per page' })),
  },
  { additionalProperties: false },
);

const DeliveriesQuery = Type.Object(
  {
    before: Type.Optional(Type.String({ pattern: UUID_PATTERN, description: 'next_before of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: DEFAULT_PAGE_SIZE, description: 'attempts per page' })),
  },
  { additionalProperties: false },
);

const ATTEMPT_EXAMPLE = {
  id: '0193a1d4-9b2a-7c6d-8e1f-2a3b4c5d6e7f',
  event_id: '0193a1c2-6a0f-7b3c-9d4e-5f60718293a4',
  event_sequence: 1043,
  attempt: 1,
  attempted_at: '2025-11-20T16:41:56.210Z',
  outcome: 'success',
  status: 200,
  latency_ms: 84,
  error_code: null,
  error_message: null,
  response_body: '{"ok":true}',
  replay: false,
};

const DeliveryAttemptSchema = component(
  'DeliveryAttempt',
  Type.Object(
    {
      id: Type.String(),
      event_id: Type.String({ description: 'also the webhook-id header of the attempt' }),
      event_sequence: Type.Integer(),
      attempt: Type.Integer({ description: '1 for the first attempt of the event, then 2, 3…' }),
      attempted_at: Type.String({ format: 'date-time' }),
      outcome: Type.String({ description: 'success, retryable, permanent or gone' }),
      status: Type.Union([Type.Integer(), Type.Null()], { description: 'the HTTP status the endpoint answered; null when none' }),
      latency_ms: Type.Integer(),
      error_code: Type.Union([Type.String(), Type.Null()]),
      error_message: Type.Union([Type.String(), Type.Null()]),
      response_body: Type.String({ description: 'the start of the response (at most 64 KiB)' }),
      replay: Type.Boolean(),
    },
    { description: 'One delivery attempt of one event to one endpoint' },
  ),
  ATTEMPT_EXAMPLE,
);

const DeliveryAttemptList = component(
  'DeliveryAttemptList',
  Type.Object(
    {
      data: Type.Array(DeliveryAttemptSchema.ref),
      next_before: Type.Union([Type.String(), Type.Null()], { description: 'pass as `before` for the next page; null on the last page' }),
    },
    { description: 'One page of the delivery log, newest first' },
  ),
  { data: [ATTEMPT_EXAMPLE], next_before: null },
);

const ReplayResult = component(
  'ReplayResult',
  Type.Object({ enqueued: Type.Integer({ description: 'deliveries queued' }) }, { description: 'What a replay queued' }),
  { enqueued: 12 },
);

/** The named schemas these routes reference (added to the app's root by buildApp()). */
export const WEBHOOKS_SCHEMAS = [
  WebhookEndpointSchema.schema,
  WebhookEndpointWithSecret.schema,
  WebhookEndpointList.schema,
  DeliveryAttemptSchema.schema,
  DeliveryAttemptList.schema,
  ReplayResult.schema,
];

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
    const access = 'webhooks:manage' as const;
    const json = requireMediaType('application/json');

    r.post(
      '/v1/webhook-endpoints',
      {
        config: {
          access,
          docs: {
            responses: {
              201: { description: 'The endpoint and its signing secret, shown only here', headers: ['Location', 'Cache-Control'] },
            },
            problems: ['validation', 'malformed-json', 'unsupported-media-type'],
          },
        },
        schema: {
          operationId: 'createWebhookEndpoint',
          tags,
          summary: 'Create a webhook endpoint',
          description: 'Deliveries are signed (Standard Webhooks) with the secret in this response; store it at once.',
          body: CreateBody,
          response: { 201: WebhookEndpointWithSecret.ref, ...problemResponses },
        },
        preValidation: json,
      },
      async (request, reply) => {
        const { endpoint, secret } = await webhooks.create(request.body, request.deadline.signal);
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
        config: { access, docs: { responses: { 200: { description: 'One page of endpoints' } }, problems: ['validation'] } },
        schema: {
          operationId: 'listWebhookEndpoints',
          tags,
          summary: 'List webhook endpoints by id',
          description: 'Follow next_after until it is null.',
          querystring: ListQuery,
          response: { 200: WebhookEndpointList.ref, ...problemResponses },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? DEFAULT_PAGE_SIZE;
        const page = await webhooks.list(request.query.after, limit, request.deadline.signal);
        return { data: page.map(toEndpointResponse), next_after: page.length === limit ? page.at(-1)!.id : null };
      },
    );

    r.get(
      '/v1/webhook-endpoints/:id',
      {
        config: {
          access,
          docs: { responses: { 200: { description: 'The endpoint' } }, problems: ['validation', 'webhook-endpoint-not-found'] },
        },
        schema: {
          operationId: 'getWebhookEndpoint',
          tags,
          summary: 'Read a webhook endpoint',
          description: 'Its settings and delivery state (failing_since, next_attempt_at, disabled_reason).',
          params: IdParams,
          response: { 200: WebhookEndpointSchema.ref, ...problemResponses },
        },
      },
      async (request) => toEndpointResponse(await webhooks.get(request.params.id, request.deadline.signal)),
    );

    r.patch(
      '/v1/webhook-endpoints/:id',
      {
        config: {
          access,
          docs: {
            responses: { 200: { description: 'The endpoint as changed' } },
            problems: ['validation', 'malformed-json', 'unsupported-media-type', 'webhook-endpoint-not-found'],
          },
        },
        schema: {
          operationId: 'updateWebhookEndpoint',
          tags,
          summary: 'Change a webhook endpoint',
          description: 'Send only the fields to change; enabled: true re-enables a disabled endpoint.',
          params: IdParams,
          body: UpdateBody,
          response: { 200: WebhookEndpointSchema.ref, ...problemResponses },
        },
      },
      async (request) => toEndpointResponse(await webhooks.update(request.params.id, request.body, request.deadline.signal)),
    );

    r.delete(
      '/v1/webhook-endpoints/:id',
      {
        config: {
          access,
          docs: { responses: { 204: { description: 'Deleted' } }, problems: ['validation', 'webhook-endpoint-not-found'] },
        },
        schema: {
          operationId: 'deleteWebhookEndpoint',
          tags,
          summary: 'Delete a webhook endpoint and its delivery log',
          description: 'Pending deliveries to it are dropped.',
          params: IdParams,
          response: { 204: Type.Null(), ...problemResponses },
        },
      },
      async (request, reply) => {
        await webhooks.delete(request.params.id, request.deadline.signal);
        return reply.code(204).send(null);
      },
    );

    r.post(
      '/v1/webhook-endpoints/:id/rotate-secret',
      {
        config: {
          access,
          docs: {
            responses: { 200: { description: 'The endpoint and its new secret, shown only here', headers: ['Cache-Control'] } },
            problems: ['validation', 'webhook-endpoint-not-found'],
          },
        },
        schema: {
          operationId: 'rotateWebhookSecret',
          tags,
          summary: 'Issue a new signing secret',
          description:
            'The previous secret keeps signing alongside the new one for the grace period, so receivers can switch without a gap.',
          params: IdParams,
          response: { 200: WebhookEndpointWithSecret.ref, ...problemResponses },
        },
      },
      async (request, reply) => {
        const { endpoint, secret } = await webhooks.rotateSecret(request.params.id, request.deadline.signal);
        request.log.info({ endpoint_id: endpoint.id }, 'webhook secret rotated');
        return reply.header('cache-control', 'no-store').send({ ...toEndpointResponse(endpoint), secret });
      },
    );

    r.get(
      '/v1/webhook-endpoints/:id/deliveries',
      {
        config: {
          access,
          docs: { responses: { 200: { description: 'One page of attempts' } }, problems: ['validation', 'webhook-endpoint-not-found'] },
        },
        schema: {
          operationId: 'listWebhookDeliveries',
          tags,
          summary: 'The delivery log: every attempt, newest first',
          description: 'Follow next_before until it is null.',
          params: IdParams,
          querystring: DeliveriesQuery,
          response: { 200: DeliveryAttemptList.ref, ...problemResponses },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? DEFAULT_PAGE_SIZE;
        const page = await webhooks.deliveries(request.params.id, request.query.before, limit, request.deadline.signal);
        return { data: page.map(toAttemptResponse), next_before: page.length === limit ? page.at(-1)!.id : null };
      },
    );

    r.post(
      '/v1/webhook-endpoints/:id/replay',
      {
        config: {
          access,
          docs: {
            responses: { 202: { description: 'The deliveries are queued' } },
            problems: [
              'validation',
              'malformed-json',
              'unsupported-media-type',
              'webhook-endpoint-not-found',
              'event-not-found',
              'replay-too-large',
            ],
          },
        },
        schema: {
          operationId: 'replayWebhookDeliveries',
          tags,
          summary: 'Deliver events to the endpoint again',
          description: 'One event ({event_id}) or every event of the endpoint’s types since a time ({since}).',
          params: IdParams,
          body: ReplayBody,
          response: { 202: ReplayResult.ref, ...problemResponses },
        },
        preValidation: json,
      },
      async (request, reply) => {
        const result = await webhooks.replay(
          request.params.id,
          { eventId: request.body.event_id, since: request.body.since },
          request.deadline.signal,
        );
        request.log.info({ endpoint_id: request.params.id, enqueued: result.enqueued }, 'webhook replay enqueued');
        return reply.code(202).send(result);
      },
    );
  };
}
