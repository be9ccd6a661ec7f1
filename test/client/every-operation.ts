// Every operation of the API, called through openapi-fetch with the types openapi-typescript
// generates from the served document (./roster-api.js, written next to a copy of this file by
// test/http/contract.api.test.ts, which type-checks it with tsc and then runs it against a live
// server). It is outside the project's tsconfig: it only compiles against a generated client.
// The `satisfies` below makes a new operation a type error here until it is called.
import type { Client } from 'openapi-fetch';
import type { components, operations, paths } from './roster-api.js';

type Roster = Client<paths>;
type User = components['schemas']['User'];
type Group = components['schemas']['Group'];

/** What the steps hand on to each other. */
export interface State {
  user?: User;
  etag?: string;
  keyId?: string;
  endpointId?: string;
  importId?: string;
  group?: Group;
  groupEtag?: string;
}

type Step = (client: Roster, state: State) => Promise<void>;

function expectStatus(what: string, response: Response, status: number, error?: unknown): void {
  if (response.status !== status) throw new Error(`${what}: expected ${status}, got ${response.status} ${JSON.stringify(error)}`);
}

function required<T>(what: string, value: T | undefined): T {
  if (value === undefined) throw new Error(`${what} is missing`);
  return value;
}

const CSV = 'email,name,attributes\r\ngrace@example.com,Grace Hopper,{}\r\nnot-an-email,Nobody,{}\r\n';

/** Run in this order: later steps use what earlier ones created. */
export const EVERY_OPERATION = {
  getLiveness: async (client) => {
    const { data, response } = await client.GET('/livez');
    expectStatus('getLiveness', response, 200);
    if (data?.status !== 'ok') throw new Error(`getLiveness: ${JSON.stringify(data)}`);
  },
  getReadiness: async (client) => {
    const { response } = await client.GET('/readyz');
    expectStatus('getReadiness', response, 200);
  },
  createUser: async (client, state) => {
    const { data, error, response } = await client.POST('/v1/users', {
      params: { header: { 'idempotency-key': `every-operation-${Date.now()}` } },
      body: { email: `ada-${Date.now()}@example.com`, name: 'Ada Lovelace', attributes: { department: 'research' } },
    });
    expectStatus('createUser', response, 201, error);
    state.user = required('createUser body', data);
    state.etag = required('createUser ETag', response.headers.get('etag') ?? undefined);
  },
  getUser: async (client, state) => {
    const id = required('user', state.user).id;
    const { data, error, response } = await client.GET('/v1/users/{id}', { params: { path: { id } } });
    expectStatus('getUser', response, 200, error);
    if (data?.email !== state.user?.email) throw new Error('getUser: another user');
    const cached = await client.GET('/v1/users/{id}', {
      params: { path: { id }, header: { 'if-none-match': required('etag', state.etag) } },
    });
    expectStatus('getUser (If-None-Match)', cached.response, 304, cached.error);
  },
  listUsers: async (client, state) => {
    const { data, error, response } = await client.GET('/v1/users', { params: { query: { q: 'ada', limit: 10 } } });
    expectStatus('listUsers', response, 200, error);
    if (!data?.data.some((u) => u.id === state.user?.id)) throw new Error('listUsers: the new user is not listed');
    const next: string | null = data.next_cursor;
    void next;
  },
  updateUser: async (client, state) => {
    const id = required('user', state.user).id;
    const { data, error, response } = await client.PATCH('/v1/users/{id}', {
      params: { path: { id }, header: { 'if-match': required('etag', state.etag) } },
      // No Content-Type override: the body goes as application/json, which the document accepts
      // as a merge patch beside application/merge-patch+json.
      body: { name: 'Ada King', attributes: { department: null } },
    });
    expectStatus('updateUser', response, 200, error);
    if (data?.name !== 'Ada King' || data.version !== 2) throw new Error(`updateUser: ${JSON.stringify(data)}`);
    state.user = data;
    state.etag = required('updateUser ETag', response.headers.get('etag') ?? undefined);
  },
  exportUsers: async (client, state) => {
    const { data, error, response } = await client.GET('/v1/users/export', { params: { query: { format: 'ndjson' } }, parseAs: 'text' });
    expectStatus('exportUsers', response, 200, error);
    if (!required('export', data).includes(required('user', state.user).id)) throw new Error('exportUsers: the user is not exported');
  },
  listEvents: async (client, state) => {
    const { data, error, response } = await client.GET('/v1/events', {
      params: { query: { after: '0', type: 'user.created,user.updated' } },
    });
    expectStatus('listEvents', response, 200, error);
    if (!data?.data.some((e) => e.subject_id === state.user?.id)) throw new Error('listEvents: no event for the user');
  },
  createApiKey: async (client, state) => {
    const { data, error, response } = await client.POST('/v1/api-keys', { body: { name: 'every operation', scopes: ['users:read'] } });
    expectStatus('createApiKey', response, 201, error);
    if (!data?.key.startsWith('rk_')) throw new Error('createApiKey: no key');
    state.keyId = data.id;
  },
  listApiKeys: async (client, state) => {
    const { data, error, response } = await client.GET('/v1/api-keys');
    expectStatus('listApiKeys', response, 200, error);
    if (!data?.data.some((k) => k.id === state.keyId)) throw new Error('listApiKeys: the new key is not listed');
  },
  revokeApiKey: async (client, state) => {
    const id = required('key', state.keyId);
    const { data, error, response } = await client.DELETE('/v1/api-keys/{id}', { params: { path: { id } } });
    expectStatus('revokeApiKey', response, 200, error);
    if (data?.revoked_at === null) throw new Error('revokeApiKey: not revoked');
  },
  createWebhookEndpoint: async (client, state) => {
    const { data, error, response } = await client.POST('/v1/webhook-endpoints', {
      body: { url: 'https://hooks.example.com/roster', description: 'every operation', event_types: ['user.created'] },
    });
    expectStatus('createWebhookEndpoint', response, 201, error);
    if (!data?.secret.startsWith('whsec_')) throw new Error('createWebhookEndpoint: no secret');
    state.endpointId = data.id;
  },
  listWebhookEndpoints: async (client, state) => {
    const { data, error, response } = await client.GET('/v1/webhook-endpoints', { params: { query: { limit: 200 } } });
    expectStatus('listWebhookEndpoints', response, 200, error);
    if (!data?.data.some((e) => e.id === state.endpointId)) throw new Error('listWebhookEndpoints: not listed');
  },
  getWebhookEndpoint: async (client, state) => {
    const id = required('endpoint', state.endpointId);
    const { data, error, response } = await client.GET('/v1/webhook-endpoints/{id}', { params: { path: { id } } });
    expectStatus('getWebhookEndpoint', response, 200, error);
    if (data?.enabled !== true) throw new Error('getWebhookEndpoint: not enabled');
  },
  updateWebhookEndpoint: async (client, state) => {
    const id = required('endpoint', state.endpointId);
    const { data, error, response } = await client.PATCH('/v1/webhook-endpoints/{id}', {
      params: { path: { id } },
      body: { enabled: false },
    });
    expectStatus('updateWebhookEndpoint', response, 200, error);
    if (data?.enabled !== false) throw new Error('updateWebhookEndpoint: still enabled');
  },
  rotateWebhookSecret: async (client, state) => {
    const id = required('endpoint', state.endpointId);
    const { data, error, response } = await client.POST('/v1/webhook-endpoints/{id}/rotate-secret', { params: { path: { id } } });
    expectStatus('rotateWebhookSecret', response, 200, error);
    if (!data?.secret.startsWith('whsec_')) throw new Error('rotateWebhookSecret: no secret');
  },
  listWebhookDeliveries: async (client, state) => {
    const id = required('endpoint', state.endpointId);
    const { error, response } = await client.GET('/v1/webhook-endpoints/{id}/deliveries', {
      params: { path: { id }, query: { limit: 10 } },
    });
    expectStatus('listWebhookDeliveries', response, 200, error);
  },
  replayWebhookDeliveries: async (client, state) => {
    const id = required('endpoint', state.endpointId);
    const { data, error, response } = await client.POST('/v1/webhook-endpoints/{id}/replay', {
      params: { path: { id } },
      body: { since: new Date(Date.now() - 3_600_000).toISOString() },
    });
    expectStatus('replayWebhookDeliveries', response, 202, error);
    if (typeof data?.enqueued !== 'number') throw new Error('replayWebhookDeliveries: no count');
  },
  deleteWebhookEndpoint: async (client, state) => {
    const id = required('endpoint', state.endpointId);
    const { error, response } = await client.DELETE('/v1/webhook-endpoints/{id}', { params: { path: { id } } });
    expectStatus('deleteWebhookEndpoint', response, 204, error);
  },
  createImport: async (client, state) => {
    const { data, error, response } = await client.POST('/v1/imports', {
      params: { query: { mode: 'upsert', dry_run: true } },
      // A file, not JSON: sent as is, with its media type.
      body: CSV,
      bodySerializer: (body: string) => body,
      headers: { 'Content-Type': 'text/csv' },
    });
    expectStatus('createImport', response, 202, error);
    state.importId = required('createImport body', data).id;
  },
  getImport: async (client, state) => {
    const id = required('import', state.importId);
    // Wait on the condition (the dry run finished), with a deadline that holds on a machine ten
    // times slower than a quiet one: two rows finish at once once the runner has picked the job up.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { data, error, response } = await client.GET('/v1/imports/{id}', { params: { path: { id } } });
      expectStatus('getImport', response, 200, error);
      if (data?.finished_at !== null) return;
      if (Date.now() > deadline) throw new Error('getImport: the dry run did not finish within 120 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  },
  getImportErrors: async (client, state) => {
    const id = required('import', state.importId);
    const { data, error, response } = await client.GET('/v1/imports/{id}/errors', { params: { path: { id } }, parseAs: 'text' });
    expectStatus('getImportErrors', response, 200, error);
    if (!required('errors', data).startsWith('line,field,reason')) throw new Error(`getImportErrors: ${data}`);
  },
  cancelImport: async (client, state) => {
    const id = required('import', state.importId);
    const { data, error, response } = await client.DELETE('/v1/imports/{id}', { params: { path: { id } } });
    expectStatus('cancelImport', response, 200, error);
    if (data?.id !== id) throw new Error('cancelImport: another job');
  },
  createGroup: async (client, state) => {
    const { data, error, response } = await client.POST('/v1/groups', {
      body: { display_name: `Research ${Date.now()}`, external_id: `okta-${Date.now()}`, member_ids: [required('user', state.user).id] },
    });
    expectStatus('createGroup', response, 201, error);
    state.group = required('createGroup body', data);
    state.groupEtag = required('createGroup ETag', response.headers.get('etag') ?? undefined);
  },
  getGroup: async (client, state) => {
    const id = required('group', state.group).id;
    const { data, error, response } = await client.GET('/v1/groups/{id}', { params: { path: { id } } });
    expectStatus('getGroup', response, 200, error);
    if (data?.member_count !== 1) throw new Error(`getGroup: ${JSON.stringify(data)}`);
  },
  listGroups: async (client, state) => {
    const { data, error, response } = await client.GET('/v1/groups', { params: { query: { q: 'research', limit: 10 } } });
    expectStatus('listGroups', response, 200, error);
    if (!data?.data.some((g) => g.id === state.group?.id)) throw new Error('listGroups: the new group is not listed');
  },
  updateGroup: async (client, state) => {
    const id = required('group', state.group).id;
    const { data, error, response } = await client.PATCH('/v1/groups/{id}', {
      params: { path: { id }, header: { 'if-match': required('group etag', state.groupEtag) } },
      body: { attributes: { cost_center: 'R-17' } },
    });
    expectStatus('updateGroup', response, 200, error);
    if (data?.version !== 2) throw new Error(`updateGroup: ${JSON.stringify(data)}`);
  },
  addGroupMembers: async (client, state) => {
    const id = required('group', state.group).id;
    const { error, response } = await client.POST('/v1/groups/{id}/members', {
      params: { path: { id } },
      body: { user_ids: [required('user', state.user).id] },
    });
    expectStatus('addGroupMembers', response, 200, error);
  },
  listGroupMembers: async (client, state) => {
    const id = required('group', state.group).id;
    const { data, error, response } = await client.GET('/v1/groups/{id}/members', { params: { path: { id }, query: { limit: 10 } } });
    expectStatus('listGroupMembers', response, 200, error);
    if (data?.data[0]?.id !== state.user?.id) throw new Error(`listGroupMembers: ${JSON.stringify(data)}`);
  },
  listUserGroups: async (client, state) => {
    const id = required('user', state.user).id;
    const { data, error, response } = await client.GET('/v1/users/{id}/groups', { params: { path: { id } } });
    expectStatus('listUserGroups', response, 200, error);
    if (data?.data[0]?.id !== state.group?.id) throw new Error(`listUserGroups: ${JSON.stringify(data)}`);
  },
  removeGroupMembers: async (client, state) => {
    const id = required('group', state.group).id;
    const { error, response } = await client.POST('/v1/groups/{id}/members/remove', {
      params: { path: { id } },
      body: { user_ids: [] },
    });
    expectStatus('removeGroupMembers', response, 200, error);
  },
  removeGroupMember: async (client, state) => {
    const { error, response } = await client.DELETE('/v1/groups/{id}/members/{userId}', {
      params: { path: { id: required('group', state.group).id, userId: required('user', state.user).id } },
    });
    expectStatus('removeGroupMember', response, 204, error);
  },
  deleteGroup: async (client, state) => {
    const { error, response } = await client.DELETE('/v1/groups/{id}', { params: { path: { id: required('group', state.group).id } } });
    expectStatus('deleteGroup', response, 204, error);
  },
  deleteUser: async (client, state) => {
    const id = required('user', state.user).id;
    const { error, response } = await client.DELETE('/v1/users/{id}', {
      params: { path: { id }, header: { 'if-match': required('etag', state.etag) } },
    });
    expectStatus('deleteUser', response, 204, error);
  },
} satisfies { readonly [Id in keyof operations]: Step };
