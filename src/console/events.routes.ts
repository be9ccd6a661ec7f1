import type { FastifyInstance } from 'fastify';
import type { EventsService } from '../events/service.js';
import { isEventType } from '../events/model.js';
import { isUuid } from '../kit/uuid.js';
import { requireScope, sendPage, viewerOf } from './context.js';
import { EventsPage } from './views/events.js';

export const EVENTS_PAGE_SIZE = 50;

/**
 * The event feed screen (events:read): from a sequence, oldest first, by type and subject; or
 * followed live, newest first, re-read by polling. Bad filters fall back to the whole feed.
 */
export function eventsRoutes(events: EventsService) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const page = { config: { access: 'public' as const, console: 'signed-in' as const }, schema: { hide: true } };

    app.get('/events', page, async (request, reply) => {
      const state = requireScope(request, 'events:read');
      const query = request.query as Record<string, unknown>;
      const after = typeof query.after === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(query.after) ? Number(query.after) : 0;
      const type = typeof query.type === 'string' && isEventType(query.type) ? query.type : '';
      const subject = typeof query.subject === 'string' && isUuid(query.subject) ? query.subject : '';
      const follow = query.follow === '1';
      const filters = { ...(type === '' ? {} : { type }), ...(subject === '' ? {} : { subjectId: subject }) };
      const view = { after, type, subject, follow };
      if (follow) {
        const latest = await events.latest({ limit: EVENTS_PAGE_SIZE, ...filters }, request.deadline.signal);
        return sendPage(reply, EventsPage({ viewer: viewerOf(state), view: { ...view, events: latest.events } }) as string);
      }
      const feed = await events.feed({ after: String(after), limit: EVENTS_PAGE_SIZE, ...filters }, request.deadline.signal);
      const nextAfter = feed.events.length === EVENTS_PAGE_SIZE ? feed.nextAfter : undefined;
      return sendPage(reply, EventsPage({ viewer: viewerOf(state), view: { ...view, events: feed.events, nextAfter } }) as string);
    });
  };
}
