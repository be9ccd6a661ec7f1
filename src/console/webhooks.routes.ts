import type { FastifyInstance, FastifyRequest } from 'fastify';
import { toProblem } from '../http/problem.js';
import { ValidationError } from '../kit/errors.js';
import { ReplayEventNotFoundError, ReplayTooLargeError } from '../webhooks/errors.js';
import type { WebhooksService } from '../webhooks/service.js';
import { formList, formText, requireScope, seeOther, sendPage, viewerOf, type SignedIn } from './context.js';
import { pageLinks, readPaging } from './paging.js';
import { WebhookEndpointPage, type ReplayForm } from './views/webhook-endpoint.js';
import { WebhooksPage, type EndpointForm } from './views/webhooks.js';

/** Endpoints a page, and attempts a page of the delivery log: one screen of table on a phone. */
export const WEBHOOKS_PAGE_SIZE = 25;

/** The longest event id a replay form may send. */
const EVENT_ID_MAX_LENGTH = 100;

/** The REST API's scope for every webhook operation; the console asks for the same. */
const SCOPE = 'webhooks:manage';

/**
 * The webhook screens (webhooks:manage), through the same service as /v1/webhook-endpoints:
 * list and create endpoints (the secret shown once), one endpoint with its delivery log,
 * enable/disable, rotate the secret, delete, replay one event or everything since a time.
 */
export function webhooksRoutes(webhooks: WebhooksService) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const page = { config: { access: 'public' as const, console: 'signed-in' as const }, schema: { hide: true } };

    /** The list page around an optional created endpoint or refused form. */
    async function listPage(request: FastifyRequest, state: SignedIn, extra: Omit<Parameters<typeof WebhooksPage>[0], 'viewer' | 'list'>) {
      const paging = readPaging(request.query as Record<string, unknown>);
      const endpoints = await webhooks.list(paging.cursor, WEBHOOKS_PAGE_SIZE, request.deadline.signal);
      const next = endpoints.length === WEBHOOKS_PAGE_SIZE ? endpoints.at(-1)!.id : null;
      return WebhooksPage({ viewer: viewerOf(state), list: { endpoints, ...pageLinks('', paging, next) }, ...extra }) as string;
    }

    /** The endpoint page, its log at the page the query names. */
    async function endpointPage(
      request: FastifyRequest,
      state: SignedIn,
      extra: Omit<Parameters<typeof WebhookEndpointPage>[0], 'viewer' | 'endpoint' | 'log'> = {},
    ) {
      const id = idOf(request);
      const endpoint = await webhooks.get(id, request.deadline.signal);
      const paging = readPaging(request.query as Record<string, unknown>);
      const attempts = await webhooks.deliveries(id, paging.cursor, WEBHOOKS_PAGE_SIZE, request.deadline.signal);
      const next = attempts.length === WEBHOOKS_PAGE_SIZE ? attempts.at(-1)!.id : null;
      return WebhookEndpointPage({
        viewer: viewerOf(state),
        endpoint,
        log: { attempts, ...pageLinks('', paging, next) },
        ...extra,
      }) as string;
    }

    app.get('/webhooks', page, async (request, reply) => {
      const state = requireScope(request, SCOPE);
      const deleted = (request.query as Record<string, unknown>).deleted === '1';
      return sendPage(reply, await listPage(request, state, { notice: deleted ? 'The endpoint was deleted.' : undefined }));
    });

    app.post('/webhooks', page, async (request, reply) => {
      const state = requireScope(request, SCOPE);
      const form = endpointFormOf(request.body);
      try {
        const created = await webhooks.create(
          {
            url: form.url,
            description: form.description,
            event_types: form.eventTypes.length === 0 ? null : form.eventTypes,
            ordered: form.ordered,
          },
          request.deadline.signal,
        );
        request.log.info({ endpoint_id: created.endpoint.id }, 'webhook endpoint created');
        // Answered here, not redirected: the secret exists only in this response.
        return sendPage(reply, await listPage(request, state, { created }), 201);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        return sendPage(reply, await listPage(request, state, { form: { ...form, errors: endpointErrors(error) } }), 400);
      }
    });

    app.get('/webhooks/:id', page, async (request, reply) => {
      const state = requireScope(request, SCOPE);
      return sendPage(reply, await endpointPage(request, state, { notice: noticeOf(request.query as Record<string, unknown>) }));
    });

    app.post('/webhooks/:id/enabled', page, async (request, reply) => {
      requireScope(request, SCOPE);
      const enabled = formText(request.body, 'enabled');
      if (enabled !== 'true' && enabled !== 'false') throw badField('enabled', 'must be true or false');
      await webhooks.update(idOf(request), { enabled: enabled === 'true' }, request.deadline.signal);
      return seeOther(reply, `/console/webhooks/${idOf(request)}?changed=${enabled === 'true' ? 'enabled' : 'disabled'}`);
    });

    app.post('/webhooks/:id/rotate-secret', page, async (request, reply) => {
      const state = requireScope(request, SCOPE);
      const { secret } = await webhooks.rotateSecret(idOf(request), request.deadline.signal);
      request.log.info({ endpoint_id: idOf(request) }, 'webhook secret rotated');
      // Answered here, not redirected: the new secret exists only in this response.
      return sendPage(reply, await endpointPage(request, state, { rotated: secret }));
    });

    app.post('/webhooks/:id/delete', page, async (request, reply) => {
      requireScope(request, SCOPE);
      await webhooks.delete(idOf(request), request.deadline.signal);
      request.log.info({ endpoint_id: idOf(request) }, 'webhook endpoint deleted');
      return seeOther(reply, '/console/webhooks?deleted=1');
    });

    app.post('/webhooks/:id/replay', page, async (request, reply) => {
      const state = requireScope(request, SCOPE);
      const eventId = formText(request.body, 'event_id');
      // As the REST body's maxLength: an id is 36 characters, and the refusal quotes what was sent.
      if (eventId !== undefined && eventId.length > EVENT_ID_MAX_LENGTH) throw badField('event_id', 'must be the id of an event');
      const sinceField = formText(request.body, 'since');
      const replay: ReplayForm = { since: sinceField ?? '' };
      try {
        const { enqueued } = await webhooks.replay(
          idOf(request),
          eventId !== undefined ? { eventId } : { since: sinceField === undefined ? undefined : asUtc(sinceField) },
          request.deadline.signal,
        );
        request.log.info({ endpoint_id: idOf(request), enqueued }, 'webhook replay enqueued');
        return seeOther(reply, `/console/webhooks/${idOf(request)}?replayed=${enqueued}`);
      } catch (error) {
        const message = replayRefusal(error);
        if (message === undefined) throw error;
        // A refused one-event replay is told at the top; a refused period, beside its field.
        const shown = eventId !== undefined ? { error: message } : { replay: { ...replay, error: message } };
        return sendPage(reply, await endpointPage(request, state, shown), toProblem(error, request.id).status);
      }
    });
  };
}

function idOf(request: FastifyRequest): string {
  return (request.params as { id: string }).id;
}

function endpointFormOf(body: unknown): EndpointForm {
  return {
    url: (formText(body, 'url') ?? '').trim(),
    description: formText(body, 'description') ?? '',
    eventTypes: formList(body, 'event_types'),
    ordered: formText(body, 'ordered') !== 'false',
  };
}

/** Each refused field's message, by the create form's field. */
function endpointErrors(error: ValidationError): NonNullable<EndpointForm['errors']> {
  const errors: { -readonly [K in keyof NonNullable<EndpointForm['errors']>]: string } = {};
  for (const e of error.errors) {
    if (e.pointer === '/url') errors.url = sentence('The URL', e.message);
    else if (e.pointer === '/description') errors.description = sentence('The description', e.message);
    else if (e.pointer.startsWith('/event_types')) errors.eventTypes = sentence('Event types', e.message);
    else if (e.pointer === '/ordered') errors.ordered = sentence('The order', e.message);
  }
  return errors;
}

/** "The URL is required…" reads as a sentence; a message that is not a predicate follows a colon. */
function sentence(subject: string, message: string): string {
  return /^(is|must) /.test(message) ? `${subject} ${message}.` : `${subject}: ${message}.`;
}

/** `datetime-local` sends no zone ("2026-12-05T13:00" or with seconds); the form says UTC. */
function asUtc(value: string): string {
  const local = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.exec(value.trim());
  if (local === null) return value;
  return `${local[0]}${local[1] === undefined ? ':00' : ''}Z`;
}

function replayRefusal(error: unknown): string | undefined {
  if (error instanceof ValidationError) {
    return error.errors.some((e) => e.pointer === '/since')
      ? 'Give a date and time, e.g. 2026-01-31T09:00:00.'
      : 'Give either one event or a date and time to replay since.';
  }
  if (error instanceof ReplayEventNotFoundError) return `Not replayed: ${error.message} Retention may have pruned it.`;
  if (error instanceof ReplayTooLargeError) return error.message;
  return undefined;
}

function badField(name: string, message: string): ValidationError {
  return new ValidationError([{ pointer: `/${name}`, message }]);
}

function noticeOf(query: Record<string, unknown>): string | undefined {
  if (query.changed === 'enabled') return 'The endpoint was enabled: deliveries resume from where they stopped.';
  if (query.changed === 'disabled') return 'The endpoint was disabled: nothing is delivered to it until it is enabled again.';
  if (typeof query.replayed === 'string' && /^[0-9]{1,9}$/.test(query.replayed)) {
    const n = Number(query.replayed);
    return `${n} ${n === 1 ? 'delivery' : 'deliveries'} queued for replay; they appear in the log as they go out.`;
  }
  return undefined;
}
