import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { SCOPES } from '../auth/model.js';
import type { ApiKeyRecord, ApiKeysService } from '../auth/service.js';
import { problemResponses } from './schemas.js';
import { requireMediaType } from './media-type.js';

const ScopeSchema = Type.Union(
  SCOPES.map((s) => Type.Literal(s)),
  { description: 'admin implies every other scope' },
);

const ApiKeyResponse = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const CreatedApiKey = Type.Intersect([
  ApiKeyResponse,
  Type.Object({ key: Type.String({ description: 'the full key; shown only in this response' }) }),
]);

const CreateApiKeyBody = Type.Object(
  {
    name: Type.String({ maxLength: 1000 }),
    scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: SCOPES.length }),
    expires_in_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 * 365 * 86_400 })),
  },
  { additionalProperties: false },
);

const KeyParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{16}$' }) });

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
    const config = { access: 'admin' as const };

    r.post(
      '/v1/api-keys',
      {
        config,
        schema: { tags, summary: 'Create an API key', body: CreateApiKeyBody, response: { 201: CreatedApiKey, ...problemResponses } },
        preValidation: requireMediaType('application/json'),
      },
      async (request, reply) => {
        const { record, plaintext } = await keys.create(
          {
            name: request.body.name,
            scopes: request.body.scopes,
            expiresInSeconds: request.body.expires_in_seconds,
          },
          request.deadline,
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
        config,
        schema: {
          tags,
          summary: 'List API keys (never their secrets)',
          response: { 200: Type.Object({ data: Type.Array(ApiKeyResponse) }), ...problemResponses },
        },
      },
      async (request) => ({ data: (await keys.list(request.deadline)).map(toApiKeyResponse) }),
    );

    r.delete(
      '/v1/api-keys/:id',
      { config, schema: { tags, summary: 'Revoke an API key', params: KeyParams, response: { 200: ApiKeyResponse, ...problemResponses } } },
      async (request) => {
        const record = await keys.revoke(request.params.id, request.deadline);
        request.log.info({ key_id: record.id }, 'api key revoked');
        return toApiKeyResponse(record);
      },
    );
  };
}
