// Conformance flows of SCIM 2.0 as identity providers run them (Okta's SCIM 2.0 test flow,
// Microsoft Entra ID's provisioning requests and validator checks, Google Workspace's), plus
// the RFC 7644 error rules. Each flow takes the base URL of /scim/v2 and a bearer token with
// scope `scim`, and speaks plain HTTP: the same flows run against the in-memory directory
// (scim.api.test.ts) and over the real directory on SQLite and PostgreSQL (real.api.test.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

export interface ScimTarget {
  /** e.g. http://127.0.0.1:25001/scim/v2 */
  readonly base: string;
  readonly token: string;
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the flows check a body field by field, as a provider reads it
  readonly body: any;
}

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

/** One request; bodies go as application/scim+json unless `contentType` says otherwise. */
export async function call(
  target: ScimTarget,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; contentType?: string; headers?: Record<string, string>; token?: string | null } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { accept: 'application/scim+json', ...options.headers };
  const token = options.token === undefined ? target.token : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.raw !== undefined || options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/scim+json';
    body = options.raw ?? JSON.stringify(options.body);
  }
  const response = await fetch(`${target.base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  let parsed: unknown = undefined;
  if (text.length > 0) {
    assert.match(
      response.headers.get('content-type') ?? '',
      /^application\/scim\+json/,
      `${method} ${path}: ${response.status} ${text.slice(0, 300)}`,
    );
    parsed = JSON.parse(text);
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** Roster's REST API beside SCIM, with a key of its own (admin in the tests). */
export interface Rest {
  readonly base: string;
  readonly key: string;
}

export async function rest(r: Rest, method: string, path: string, body?: unknown): Promise<{ status: number; body: Answer['body'] }> {
  const response = await fetch(`${r.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${r.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Asserts a SCIM Error (RFC 7644 §3.12) with this status and, when given, scimType. */
export function assertScimError(answer: Answer, status: number, scimType?: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.schemas, [ERROR]);
  assert.equal(answer.body.status, String(status));
  assert.equal(typeof answer.body.detail, 'string');
  if (scimType !== undefined) assert.equal(answer.body.scimType, scimType, answer.body.detail);
}

const q = (filter: string) => encodeURIComponent(filter);
const unique = () => randomUUID().slice(0, 8);

/** Okta's SCIM 2.0 test flow: search, create, read, replace, deactivate (Okta never deletes). */
export async function oktaFlow(t: ScimTarget): Promise<void> {
  const email = `okta.${unique()}@example.com`;
  const search = await call(t, 'GET', `/Users?filter=${q(`userName eq "${email}"`)}&startIndex=1&count=100`);
  assert.equal(search.status, 200);
  assert.deepEqual(search.body, { schemas: [LIST], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });

  const created = await call(t, 'POST', '/Users', {
    body: {
      schemas: [USER],
      userName: email,
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      emails: [{ primary: true, value: email, type: 'work' }],
      displayName: 'Ada Lovelace',
      locale: 'en-US',
      externalId: `00u${unique()}`,
      groups: [],
      password: 'never-stored-1!',
      active: true,
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const user = created.body;
  assert.equal(created.headers.get('location'), user.meta.location);
  assert.equal(created.headers.get('etag'), user.meta.version);
  assert.match(user.meta.version, /^W\/"\d+"$/);
  assert.equal(user.meta.resourceType, 'User');
  assert.equal(user.userName, email);
  assert.equal(user.active, true);
  assert.equal(user.password, undefined);
  assert.deepEqual(user.name, { givenName: 'Ada', familyName: 'Lovelace' });

  const read = await call(t, 'GET', `/Users/${user.id}`);
  assert.equal(read.status, 200);
  assert.deepEqual(read.body, user);

  // userName is compared case-insensitively, so Okta finds the user whatever the case it sends.
  const found = await call(t, 'GET', `/Users?filter=${q(`userName eq "${email.toUpperCase()}"`)}&startIndex=1&count=100`);
  assert.equal(found.body.totalResults, 1);
  assert.equal(found.body.Resources[0].id, user.id);

  const duplicate = await call(t, 'POST', '/Users', { body: { schemas: [USER], userName: email.toUpperCase(), name: { givenName: 'X' } } });
  assertScimError(duplicate, 409, 'uniqueness');

  const replaced = await call(t, 'PUT', `/Users/${user.id}`, {
    body: { ...user, name: { givenName: 'Augusta Ada', familyName: 'King' }, displayName: 'Ada King', title: 'Countess' },
  });
  assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
  assert.equal(replaced.body.title, 'Countess');
  assert.equal(replaced.body.displayName, 'Ada King');
  assert.equal(replaced.body.id, user.id);
  assert.equal(replaced.body.meta.created, user.meta.created);

  const deactivated = await call(t, 'PATCH', `/Users/${user.id}`, {
    body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] },
  });
  assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body));
  assert.equal(deactivated.body.active, false);
  const after = await call(t, 'GET', `/Users?filter=${q(`userName eq "${email}"`)}`);
  assert.equal(after.body.Resources[0].active, false, 'an inactive user stays readable and filterable');

  // Group push: create, rename (Okta repeats the id in the value), add and remove members.
  const group = await call(t, 'POST', '/Groups', { body: { schemas: [GROUP], displayName: `Okta ${unique()}`, members: [] } });
  assert.equal(group.status, 201);
  const renamed = await call(t, 'PATCH', `/Groups/${group.body.id}`, {
    body: {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', value: { id: group.body.id, displayName: `${group.body.displayName} renamed` } }],
    },
  });
  assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
  assert.equal(renamed.body.displayName, `${group.body.displayName} renamed`);
  const add = await call(t, 'PATCH', `/Groups/${group.body.id}`, {
    body: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: user.id, display: email }] }] },
  });
  assert.equal(add.status, 200);
  assert.equal((await call(t, 'GET', `/Groups/${group.body.id}`)).body.members[0].value, user.id);
  const remove = await call(t, 'PATCH', `/Groups/${group.body.id}`, {
    body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${user.id}"]` }] },
  });
  assert.equal(remove.status, 200);
  assert.equal((await call(t, 'GET', `/Groups/${group.body.id}`)).body.members, undefined);
}

/** Microsoft Entra ID's provisioning requests, and its validator's checks. */
export async function entraFlow(t: ScimTarget): Promise<void> {
  const externalId = `entra-${unique()}`;
  const email = `${externalId}@contoso.example`;
  // Entra looks up by its matching attribute first: nothing found is 200 with 0, never 404.
  const missing = await call(t, 'GET', `/Users?filter=${q(`externalId eq "${externalId}"`)}`);
  assert.equal(missing.status, 200);
  assert.equal(missing.body.totalResults, 0);
  const missingById = await call(t, 'GET', `/Users/${randomUUID()}`);
  assertScimError(missingById, 404);

  const created = await call(t, 'POST', '/Users', {
    body: {
      schemas: [USER, ENTERPRISE],
      externalId,
      userName: email,
      active: true,
      displayName: 'Test User',
      emails: [{ primary: true, type: 'work', value: email }],
      meta: { resourceType: 'User' },
      name: { formatted: 'Test User', familyName: 'User', givenName: 'Test' },
      roles: [],
      [ENTERPRISE]: { department: 'Research', employeeNumber: '42' },
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  assert.deepEqual(created.body.schemas, [USER, ENTERPRISE]);
  assert.equal(created.body[ENTERPRISE].department, 'Research');
  // Entra sends name.formatted on every cycle and compares what it reads back.
  assert.deepEqual(created.body.name, { formatted: 'Test User', familyName: 'User', givenName: 'Test' });

  const manager = await call(t, 'POST', '/Users', {
    body: { schemas: [USER], userName: `boss.${externalId}@contoso.example`, externalId: `boss-${externalId}` },
  });
  assert.equal(manager.status, 201);
  assert.equal(manager.body.displayName, `boss.${externalId}@contoso.example`, 'displayName falls back to userName');

  const patched = await call(t, 'PATCH', `/Users/${id}`, {
    body: {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'Replace', path: 'displayName', value: 'Updated User' },
        { op: 'Replace', path: 'name.givenName', value: 'Updated' },
        { op: 'Replace', path: 'emails[type eq "work"].value', value: `updated.${email}` },
        { op: 'Add', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555 0100' },
        { op: 'Replace', path: `${ENTERPRISE}:department`, value: 'Engineering' },
        { op: 'Add', path: `${ENTERPRISE}:manager`, value: manager.body.id },
        { op: 'Replace', path: 'active', value: 'False' },
      ],
    },
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  const u = patched.body;
  assert.equal(u.displayName, 'Updated User');
  assert.equal(u.name.givenName, 'Updated');
  assert.equal(u.name.familyName, 'User');
  assert.equal(u.name.formatted, 'Test User', 'a PATCH of other name parts keeps name.formatted');
  assert.deepEqual(u.emails, [{ primary: true, type: 'work', value: `updated.${email}` }]);
  assert.deepEqual(u.phoneNumbers, [{ type: 'mobile', value: '+1 555 0100' }]);
  assert.equal(u[ENTERPRISE].department, 'Engineering');
  assert.equal(u[ENTERPRISE].employeeNumber, '42');
  assert.deepEqual(u[ENTERPRISE].manager, { value: manager.body.id });
  assert.equal(u.active, false);

  // The no-path form, with dotted and URN-qualified keys and a string boolean.
  const noPath = await call(t, 'PATCH', `/Users/${id}`, {
    body: {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'replace', value: { 'name.familyName': 'Smith', [`${ENTERPRISE}:costCenter`]: 'CC-7', active: 'True', title: 'Lead' } },
      ],
    },
  });
  assert.equal(noPath.status, 200, JSON.stringify(noPath.body));
  assert.equal(noPath.body.name.familyName, 'Smith');
  assert.equal(noPath.body[ENTERPRISE].costCenter, 'CC-7');
  assert.equal(noPath.body.active, true);
  assert.equal(noPath.body.title, 'Lead');

  const byExternal = await call(t, 'GET', `/Users?filter=${q(`externalId eq "${externalId}" and userName eq "${email}"`)}`);
  assert.equal(byExternal.body.totalResults, 1);

  // Groups: Entra reads them without members, adds and removes members by the forms it uses.
  const groupName = `Group ${externalId}`;
  const noGroup = await call(t, 'GET', `/Groups?filter=${q(`displayName eq "${groupName}"`)}&excludedAttributes=members`);
  assert.equal(noGroup.status, 200);
  assert.equal(noGroup.body.totalResults, 0);
  const group = await call(t, 'POST', '/Groups', {
    body: { schemas: [GROUP], externalId: `g-${externalId}`, displayName: groupName, members: [] },
  });
  assert.equal(group.status, 201, JSON.stringify(group.body));
  const gid = group.body.id;
  const addMembers = {
    schemas: [PATCH_OP],
    Operations: [{ op: 'Add', path: 'members', value: [{ value: id }, { value: manager.body.id }] }],
  };
  assert.equal((await call(t, 'PATCH', `/Groups/${gid}`, { body: addMembers })).status, 200);
  // Adding members already present changes nothing.
  const again = await call(t, 'PATCH', `/Groups/${gid}`, { body: addMembers });
  assert.equal(again.status, 200);
  let read = await call(t, 'GET', `/Groups/${gid}`);
  assert.deepEqual((read.body.members as { value: string }[]).map((m) => m.value).sort(), [id, manager.body.id].sort());
  const lean = await call(t, 'GET', `/Groups?filter=${q(`displayName eq "${groupName.toUpperCase()}"`)}&excludedAttributes=members`);
  assert.equal(lean.body.totalResults, 1);
  assert.equal(lean.body.Resources[0].members, undefined);
  assert.equal(lean.body.Resources[0].displayName, groupName);

  const removeByFilter = await call(t, 'PATCH', `/Groups/${gid}`, {
    body: { schemas: [PATCH_OP], Operations: [{ op: 'Remove', path: `members[value eq "${manager.body.id}"]` }] },
  });
  assert.equal(removeByFilter.status, 200);
  read = await call(t, 'GET', `/Groups/${gid}`);
  assert.deepEqual(
    (read.body.members as { value: string }[]).map((m) => m.value),
    [id],
  );
  const removeByValue = await call(t, 'PATCH', `/Groups/${gid}`, {
    body: { schemas: [PATCH_OP], Operations: [{ op: 'Remove', path: 'members', value: [{ value: id }] }] },
  });
  assert.equal(removeByValue.status, 200);
  read = await call(t, 'GET', `/Groups/${gid}`);
  assert.equal(read.body.members, undefined);

  // Rename, then: deactivated users are deleted later; a deleted user leaves every group.
  const renamed = await call(t, 'PATCH', `/Groups/${gid}`, {
    body: {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'Replace', path: 'displayName', value: `${groupName} renamed` },
        { op: 'add', path: 'members', value: [{ value: id }] },
      ],
    },
  });
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.displayName, `${groupName} renamed`);
  assert.equal((await call(t, 'DELETE', `/Users/${id}`)).status, 204);
  assertScimError(await call(t, 'GET', `/Users/${id}`), 404);
  read = await call(t, 'GET', `/Groups/${gid}`);
  assert.equal(read.body.members, undefined, 'the deleted user left the group');
  const memberOf = await call(t, 'GET', `/Groups?filter=${q(`members[value eq "${manager.body.id}"]`)}`);
  assert.equal(memberOf.status, 200);
  assert.equal((await call(t, 'DELETE', `/Groups/${gid}`)).status, 204);
  assertScimError(await call(t, 'GET', `/Groups/${gid}`), 404);
  assertScimError(await call(t, 'DELETE', `/Groups/${gid}`), 404);
}

/** Google Workspace: discovery first, then create with PUT-style full documents and filters by userName. */
export async function googleFlow(t: ScimTarget): Promise<void> {
  const config = await call(t, 'GET', '/ServiceProviderConfig');
  assert.equal(config.status, 200);
  assert.equal(config.body.patch.supported, true);
  assert.equal(config.body.filter.supported, true);
  assert.equal(typeof config.body.filter.maxResults, 'number');
  assert.equal(config.body.etag.supported, true);
  assert.equal(config.body.bulk.supported, false);
  assert.equal(config.body.sort.supported, false);
  assert.equal(config.body.changePassword.supported, false);
  const types = await call(t, 'GET', '/ResourceTypes');
  assert.deepEqual(
    (types.body.Resources as { id: string }[]).map((r) => r.id),
    ['User', 'Group'],
  );
  assert.deepEqual(types.body.Resources[0].schemaExtensions, [{ schema: ENTERPRISE, required: false }]);
  const schemas = await call(t, 'GET', '/Schemas');
  assert.deepEqual(
    (schemas.body.Resources as { id: string }[]).map((s) => s.id),
    [USER, ENTERPRISE, GROUP],
  );
  const userSchema = await call(t, 'GET', `/Schemas/${USER}`);
  const userName = (userSchema.body.attributes as { name: string; required: boolean; uniqueness: string }[]).find(
    (a) => a.name === 'userName',
  )!;
  assert.equal(userName.required, true);
  assert.equal(userName.uniqueness, 'server');
  assertScimError(await call(t, 'GET', '/Schemas/urn:nope'), 404);

  const email = `g.${unique()}@example.org`;
  const created = await call(t, 'POST', '/Users', {
    body: { schemas: [USER], userName: email, name: { givenName: 'Grace', familyName: 'Hopper' }, active: true },
  });
  assert.equal(created.status, 201);
  assert.equal(created.body.displayName, 'Grace Hopper', 'displayName derived from the given and family names');
  const page = await call(t, 'GET', `/Users?filter=${q(`userName eq "${email}"`)}&attributes=userName,name.givenName`);
  assert.deepEqual(Object.keys(page.body.Resources[0]).sort(), ['id', 'meta', 'name', 'schemas', 'userName']);
  assert.deepEqual(page.body.Resources[0].name, { givenName: 'Grace' });
}

/** The protocol's error rules: every error a SCIM Error, with the scimType the RFC names. */
export async function errorFlow(t: ScimTarget): Promise<void> {
  assertScimError(await call(t, 'GET', '/Users', { token: null }), 401);
  assertScimError(await call(t, 'GET', '/Nope'), 404);
  assertScimError(await call(t, 'GET', '/Users/x/y'), 404);
  assertScimError(await call(t, 'GET', ''), 404);
  assertScimError(await call(t, 'GET', '/Users/%FF'), 400);
  assertScimError(await call(t, 'GET', `/Users?filter=${q('userName eq "a"')}&filter=${q('userName eq "b"')}`), 400, 'invalidValue');
  assertScimError(await call(t, 'DELETE', '/Users'), 405);
  assertScimError(await call(t, 'POST', '/ServiceProviderConfig', { body: {} }), 405);
  assertScimError(await call(t, 'POST', '/Users', { raw: 'userName=x', contentType: 'application/x-www-form-urlencoded' }), 415);
  assertScimError(await call(t, 'POST', '/Users', { raw: '{"userName":' }), 400, 'invalidSyntax');
  assertScimError(await call(t, 'GET', `/Users?filter=${q('userName eq')}`), 400, 'invalidFilter');
  assertScimError(await call(t, 'GET', `/Users?filter=${q('title co "x"')}`), 400, 'invalidFilter');
  assertScimError(await call(t, 'POST', '/Users', { body: { schemas: [USER], userName: 'not-an-email' } }), 400, 'invalidValue');
  assertScimError(
    await call(t, 'POST', '/Users', { body: { schemas: [USER], userName: 'a@example.com', active: 'maybe' } }),
    400,
    'invalidValue',
  );

  const created = await call(t, 'POST', '/Users', {
    body: { schemas: [USER], userName: `e.${unique()}@example.com` },
    contentType: 'application/json',
  });
  assert.equal(created.status, 201, 'application/json is accepted too');
  const withCharset = await call(t, 'POST', '/Users', {
    body: { schemas: [USER], userName: `c.${unique()}@example.com` },
    contentType: 'application/scim+json; charset=utf-8',
  });
  assert.equal(withCharset.status, 201, 'a charset parameter is accepted');
  const id = created.body.id;
  const patch = (operations: unknown[], headers?: Record<string, string>) =>
    call(t, 'PATCH', `/Users/${id}`, { body: { schemas: [PATCH_OP], Operations: operations }, ...(headers ? { headers } : {}) });
  assertScimError(await patch([]), 400, 'invalidSyntax');
  assertScimError(await patch([{ op: 'remove', path: 'userName' }]), 400, 'mutability');
  assertScimError(await patch([{ op: 'replace', path: 'id', value: 'x' }]), 400, 'mutability');
  assertScimError(await patch([{ op: 'replace', path: 'meta.created', value: 'x' }]), 400, 'mutability');
  assertScimError(await patch([{ op: 'remove' }]), 400, 'noTarget');
  assertScimError(await patch([{ op: 'move', path: 'title' }]), 400, 'invalidSyntax');
  assertScimError(await patch([{ op: 'add', path: 'nosuch', value: 1 }]), 400, 'invalidPath');
  assertScimError(await patch([{ op: 'replace', path: 'emails[type eq "work"]', value: { value: 'x@y.z' } }]), 400, 'noTarget');
  assertScimError(
    await call(t, 'PATCH', `/Users/${id}`, { body: { Operations: [{ op: 'add', path: 'title', value: 'x' }] } }),
    400,
    'invalidSyntax',
  );

  // If-Match: weak comparison, 412 on a stale version.
  const etag = created.headers.get('etag')!;
  const ok = await patch([{ op: 'add', path: 'title', value: 'First' }], { 'if-match': etag });
  assert.equal(ok.status, 200);
  assert.notEqual(ok.headers.get('etag'), etag);
  assertScimError(await patch([{ op: 'add', path: 'title', value: 'Second' }], { 'if-match': etag }), 412);
  assertScimError(await call(t, 'DELETE', `/Users/${id}`, { headers: { 'if-match': etag } }), 412);
  assert.equal((await call(t, 'DELETE', `/Users/${id}`, { headers: { 'if-match': ok.headers.get('etag')! } })).status, 204);

  // Paging: clamped as RFC 7644 §3.4.2.4 says.
  const clamped = await call(t, 'GET', '/Users?startIndex=-5&count=-1');
  assert.equal(clamped.status, 200);
  assert.equal(clamped.body.startIndex, 1);
  assert.equal(clamped.body.itemsPerPage, 0);
  assert.deepEqual(clamped.body.Resources, []);
  assert.equal(typeof clamped.body.totalResults, 'number');
  assertScimError(await call(t, 'GET', '/Users?count=ten'), 400, 'invalidValue');
}
