import type { FastifyInstance } from 'fastify';
import type { ApiKeysService } from '../auth/service.js';
import { ValidationError } from '../kit/errors.js';
import { formList, formText, requireScope, seeOther, sendPage, viewerOf } from './context.js';
import { KeysPage, type KeyForm } from './views/keys.js';

/** The API keys screen (admin): list, create (the secret shown once), revoke. */
export function keysRoutes(apiKeys: ApiKeysService) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const page = { config: { access: 'public' as const, console: 'signed-in' as const }, schema: { hide: true } };

    app.get('/keys', page, async (request, reply) => {
      const state = requireScope(request, 'admin');
      const keys = await apiKeys.list(request.deadline.signal);
      const revoked = (request.query as Record<string, unknown>).revoked;
      const notice = typeof revoked === 'string' ? 'The key was revoked.' : undefined;
      return sendPage(reply, KeysPage({ viewer: viewerOf(state), keys, notice }) as string);
    });

    app.post('/keys', page, async (request, reply) => {
      const state = requireScope(request, 'admin');
      const name = formText(request.body, 'name') ?? '';
      const scopes = formList(request.body, 'scopes');
      const days = formText(request.body, 'expires_in_days')?.trim() ?? '';
      const viewer = viewerOf(state);
      if (days !== '' && !/^[1-9][0-9]{0,3}$/.test(days)) {
        const form: KeyForm = { name, scopes, errors: { expires: 'Give a whole number of days from 1 to 9999, or leave it empty.' } };
        return sendPage(reply, KeysPage({ viewer, keys: await apiKeys.list(request.deadline.signal), form }) as string, 400);
      }
      try {
        const created = await apiKeys.create(
          { name, scopes, ...(days === '' ? {} : { expiresInSeconds: Number(days) * 86_400 }) },
          request.deadline.signal,
        );
        // Answered here, not redirected: the secret exists only in this response.
        return sendPage(reply, KeysPage({ viewer, keys: await apiKeys.list(request.deadline.signal), created }) as string, 201);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        const errors: { name?: string; scopes?: string } = {};
        for (const e of error.errors) {
          if (e.pointer === '/name') errors.name = `The name ${e.message}.`;
          else if (e.pointer.startsWith('/scopes')) errors.scopes = `Scopes: ${e.message}.`;
        }
        return sendPage(
          reply,
          KeysPage({ viewer, keys: await apiKeys.list(request.deadline.signal), form: { name, scopes, errors } }) as string,
          400,
        );
      }
    });

    app.post('/keys/:id/revoke', page, async (request, reply) => {
      requireScope(request, 'admin');
      const { id } = request.params as { id: string };
      await apiKeys.revoke(id, request.deadline.signal);
      return seeOther(reply, `/console/keys?revoked=${encodeURIComponent(id)}`);
    });
  };
}
