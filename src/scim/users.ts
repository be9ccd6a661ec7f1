import { directory, checkIfMatch, notFound, pinnedVersion } from './directory-errors.js';
import { parseFilter } from './filter/parse.js';
import { planUserFilter } from './filter/plan.js';
import { userDraftFromScim, userToScim } from './mapping/user.js';
import { applyPatch } from './patch/engine.js';
import { readPatchRequest } from './patch/operations.js';
import type { ScimPage } from './paging.js';
import {
  DirectoryVersionMismatchError,
  type DirectoryCall,
  type DirectoryUser,
  type DirectoryUserDraft,
  type DirectoryUsers,
} from './ports.js';
import { project, type Projection } from './projection.js';
import { listResponse, renderResource } from './resources.js';
import { USER_RESOURCE } from './schema/definitions.js';
import { normaliseResource, type ScimDocument } from './schema/normalise.js';

/** A rendered resource and its version (for the ETag). */
export interface Rendered {
  readonly body: ScimDocument;
  readonly version: number;
}

/** How often a PATCH without If-Match re-reads and re-applies after losing a race with another write. */
const PATCH_ATTEMPTS = 5;

/** The /Users endpoint's use cases, over the directory port. `base` is the absolute URL of /scim/v2. */
export class ScimUsers {
  constructor(private readonly users: DirectoryUsers) {}

  render(user: DirectoryUser, base: string, projection: Projection = {}): Rendered {
    return { body: project(renderResource(USER_RESOURCE, userToScim(user), user, base), projection), version: user.version };
  }

  async create(body: unknown, base: string, call: DirectoryCall): Promise<Rendered> {
    const draft = userDraftFromScim(normaliseResource(USER_RESOURCE, body));
    return this.render(await directory(() => this.users.create(draft, call)), base);
  }

  async get(id: string, base: string, projection: Projection, call: DirectoryCall): Promise<Rendered> {
    return this.render(await this.#current(id, call), base, projection);
  }

  async list(filter: string | undefined, page: ScimPage, base: string, projection: Projection, call: DirectoryCall): Promise<ScimDocument> {
    const plan = filter === undefined || filter.trim() === '' ? { kind: 'query' as const, query: {} } : planUserFilter(parseFilter(filter));
    if (plan.kind === 'none') return listResponse(0, page.startIndex, []);
    const found = await directory(() => this.users.find(plan.query, { offset: page.startIndex - 1, limit: page.count }, call));
    return listResponse(
      found.total,
      page.startIndex,
      found.items.map((u) => this.render(u, base, projection).body),
    );
  }

  async replace(
    id: string,
    body: unknown,
    ifMatch: readonly number[] | '*' | undefined,
    base: string,
    call: DirectoryCall,
  ): Promise<Rendered> {
    const draft = userDraftFromScim(normaliseResource(USER_RESOURCE, body));
    const expected = await pinnedVersion(ifMatch, () => this.#current(id, call));
    return this.render(await directory(() => this.users.replace(id, draft, expected, call)), base);
  }

  /**
   * Reads the user, applies the operations to its SCIM form and writes the result as a whole,
   * at the version read: a concurrent write makes it start over (never lose that write) unless
   * If-Match pinned a version, which is then 412.
   */
  async patch(
    id: string,
    body: unknown,
    ifMatch: readonly number[] | '*' | undefined,
    base: string,
    call: DirectoryCall,
  ): Promise<Rendered> {
    const operations = readPatchRequest(body);
    for (let attempt = 1; ; attempt++) {
      const current = await this.#current(id, call);
      checkIfMatch(ifMatch, current.version);
      const patched = applyPatch(USER_RESOURCE, normaliseResource(USER_RESOURCE, userToScim(current)), operations);
      const draft = userDraftFromScim(normaliseResource(USER_RESOURCE, patched));
      if (sameDraft(current, draft)) return this.render(current, base);
      try {
        return this.render(await directory(() => this.users.replace(id, draft, current.version, call)), base);
      } catch (error) {
        const raced = error instanceof Error && error.cause instanceof DirectoryVersionMismatchError;
        if (!raced || (ifMatch !== undefined && ifMatch !== '*') || attempt >= PATCH_ATTEMPTS) throw error;
      }
    }
  }

  async delete(id: string, ifMatch: readonly number[] | '*' | undefined, call: DirectoryCall): Promise<void> {
    const expected = await pinnedVersion(ifMatch, () => this.#current(id, call));
    await directory(() => this.users.delete(id, expected, call));
  }

  async #current(id: string, call: DirectoryCall): Promise<DirectoryUser> {
    const user = await directory(() => this.users.get(id, call));
    if (user === undefined) throw notFound('User', id);
    return user;
  }
}

/** No write when a PATCH changes nothing Roster stores (a repeated Okta deactivation, say). */
function sameDraft(current: DirectoryUser, draft: DirectoryUserDraft): boolean {
  return (
    current.email === draft.email &&
    current.name === draft.name &&
    current.given_name === draft.given_name &&
    current.family_name === draft.family_name &&
    current.active === draft.active &&
    current.external_id === draft.external_id &&
    stableJson(current.profile) === stableJson(draft.profile)
  );
}

/** JSON with object keys sorted: equal values give equal text whatever order their keys were written in. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
