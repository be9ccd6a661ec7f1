import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { SCOPES } from '../auth/model.js';
import type { ApiKeyRecord, ApiKeysService } from '../auth/service.js';
import { problemResponses } from './schemas.js';
import { requireMediaType } from './media-type.js';
import { component } from './openapi.js';

// An enum rather than a union of literals: TypeBox reports at most eight issues per value, so a
// union of more than seven scopes lost its own issue (and the list of allowed values) behind them.
const ScopeSchema = Type.Enum([...SCOPES], { description: 'admin implies every other scope' });

const apiKeyProperties = {
  id: Type.String({ description: 'the key id, also the <id> part of the key' }),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
};

const API_KEY_EXAMPLE = {
  id: '4f1c9a2b7d3e8f60',
  name: 'billing sync',
  scopes: ['users:read', 'events:read'],
  created_at: '2025-11-02T09:14:07.120Z',
  expires_at: '2026-11-02T09:14:07.120Z',
  revoked_at: null,
  last_used_at: '2025-11-20T16:41:55.003Z',
};

export const ApiKey = component('ApiKey', Type.Object(apiKeyProperties, { description: 'An API key, never its secret' }), API_KEY_EXAMPLE);

const ApiKeyWithSecret = component(
  'ApiKeyWithSecret',
  Type.Object(
    { ...apiKeyProperties, key: Type.String({ description: 'the full key; shown only in this response' }) },
    { description: 'A new API key and, this once, its secret' },
  ),
  { ...API_KEY_EXAMPLE, last_used_at: null, key: 'rk_4f1c9a2b7d3e8f60_Qm9uam91ciBsZSBtb25kZSwgdm9pY2kgdW5lIGNsZWY' },
);

const ApiKeyList = component('ApiKeyList', Type.Object({ data: Type.Array(ApiKey.ref) }, { description: 'Every API key' }), {
  data: [API_KEY_EXAMPLE],
});

const CreateApiKeyBody = Type.Object(
  {
    name: Type.String({ maxLength: 1000, description: 'what the key is for' }),
    scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: SCOPES.length }),
    expires_in_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 * 365 * 86_400, description: 'absent: never expires' })),
  },
  {
    additionalProperties: false,
    examples: [{ name: 'billing sync', scopes: ['users:read', 'events:read'], expires_in_seconds: 31_536_000 }],
  },
);

const KeyParams = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{16}$', description: 'the key id', examples: ['4f1c9a2b7d3e8f60'] }),
});

/** The named schemas these routes reference (added to the app's root by buildApp()). */
export const API_KEYS_SCHEMAS = [ApiKey.schema, ApiKeyWithSecret.schema, ApiKeyList.schema];

export function toApiKeyResponse(record: ApiKeyRecord) {
  const iso = (d: Date | null) => (d === null ? null : d.toISOString());
  return {
    id: record.id,
    name: record.name,
    scopes: [...record.scopes],
    created_at: record.createdAt.toISOString(),
    expires_at: iso(record.expiresAt),
    revoked_at: iso(record.revokedAt),
    last_used_at: iso(record.lastUsedAt),
  };
}

/** /v1/api-keys: admin only. The secret appears once, in the creation response. */
export function apiKeysRoutes(keys: ApiKeysService) {
  return async function register(app: FastifyInstance): Promise<void> {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['api-keys'];
    const access = 'admin' as const;

    r.post(
      '/v1/api-keys',
      {
        config: {
          access,
          docs: {
            responses: { 201: { description: 'The key and its secret, shown only here', headers: ['Cache-Control'] } },
            problems: ['validation', 'malformed-json', 'unsupported-media-type'],
          },
        },
        schema: {
          operationId: 'createApiKey',
          tags,
          summary: 'Create an API key',
          description: 'The secret is in this response only; store it at once.',
          body: CreateApiKeyBody,
          response: { 201: ApiKeyWithSecret.ref, ...problemResponses },
        },
        preValidation: requireMediaType('application/json'),
      },
      async (request, reply) => {
        const { record, plaintext } = await keys.create(
          {
            name: request.body.name,
            scopes: request.body.scopes,
            expiresInSeconds: request.body.expires_in_seconds,
          },
          request.deadline.signal,
        );
        request.log.info({ key_id: record.id, scopes: record.scopes }, 'api key created');
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({ ...toApiKeyResponse(record), key: plaintext });
      },
    );

    r.get(
      '/v1/api-keys',
      {
        config: { access, docs: { responses: { 200: { description: 'Every key, revoked ones included' } } } },
        schema: {
          operationId: 'listApiKeys',
          tags,
          summary: 'List API keys (never their secrets)',
          description: 'Every key, oldest first, with when it was last used.',
          response: { 200: ApiKeyList.ref, ...problemResponses },
        },
      },
      async (request) => ({ data: (await keys.list(request.deadline.signal)).map(toApiKeyResponse) }),
    );

    r.delete(
      '/v1/api-keys/:id',
      {
        config: {
          access,
          docs: { responses: { 200: { description: 'The key, revoked' } }, problems: ['validation', 'api-key-not-found'] },
        },
        schema: {
          operationId: 'revokeApiKey',
          tags,
          summary: 'Revoke an API key',
          description:
            'Refused from then on; an instance that verified the key in the last ROSTER_AUTH_CACHE_TTL_MS (5 s by default) may accept it that long.',
          params: KeyParams,
          response: { 200: ApiKey.ref, ...problemResponses },
        },
      },
      async (request) => {
        const record = await keys.revoke(request.params.id, request.deadline.signal);
        request.log.info({ key_id: record.id }, 'api key revoked');
        return toApiKeyResponse(record);
      },
    );
  };
}
