import { caseFold } from '../../kit/case-fold.js';
import { InvalidFilterError } from '../errors.js';
import { COMMON_ATTRIBUTES, GROUP_RESOURCE, USER_RESOURCE } from '../schema/definitions.js';
import type { ResourceTypeDefinition } from '../schema/model.js';
import { resolvePath } from '../schema/resolve.js';
import type { GroupQuery, UserQuery } from '../ports.js';
import type { AttrPath, Filter } from './ast.js';

/**
 * Turns a parsed filter into a directory lookup an index serves, or refuses it (400
 * invalidFilter): the filters providers send are `eq` on a unique attribute, joined by `and`.
 * `none` is a filter that can match nothing (two different values for one attribute): it is
 * answered with an empty list without asking the directory.
 */
export type Plan<Q> = { readonly kind: 'query'; readonly query: Q } | { readonly kind: 'none' };

type Field = 'id' | 'email' | 'external_id' | 'display_name' | 'member' | 'modified_after';

/** What a term targets: an attribute that maps to a query field. */
function fieldOf(resource: ResourceTypeDefinition, path: AttrPath, sub: string | undefined): Field | undefined {
  const location = resolvePath(resource, sub === undefined ? path : { ...path, sub });
  if (location?.kind !== 'attribute') return undefined;
  const name = location.attribute.name;
  const subName = location.sub?.name;
  if (location.extension !== undefined) return undefined;
  const common = COMMON_ATTRIBUTES.includes(location.attribute);
  if (common && name === 'id' && subName === undefined) return 'id';
  if (common && name === 'externalId' && subName === undefined) return 'external_id';
  if (common && name === 'meta' && subName === 'lastModified') return 'modified_after';
  if (resource === USER_RESOURCE) {
    if (name === 'userName' && subName === undefined) return 'email';
    // emails match Roster's one directory email (userName's column, indexed); addresses kept
    // only in the profile are not searched.
    if (name === 'emails' && (subName === undefined || subName === 'value')) return 'email';
  }
  if (resource === GROUP_RESOURCE) {
    if (name === 'displayName' && subName === undefined) return 'display_name';
    if (name === 'members' && (subName === undefined || subName === 'value')) return 'member';
  }
  return undefined;
}

const CASE_INSENSITIVE: ReadonlySet<Field> = new Set(['email', 'display_name']);

function plan(resource: ResourceTypeDefinition, filter: Filter): Plan<Record<string, unknown>> {
  const terms: [Field, unknown][] = [];
  collect(resource, filter, terms);
  const query: Record<string, unknown> = {};
  for (const [field, value] of terms) {
    if (!Object.hasOwn(query, field)) {
      query[field] = value;
      continue;
    }
    const existing = query[field];
    if (field === 'modified_after') {
      // Two lower bounds: the later one.
      const a = existing as { at: string; inclusive: boolean };
      const b = value as { at: string; inclusive: boolean };
      query[field] = Date.parse(b.at) > Date.parse(a.at) || (b.at === a.at && !b.inclusive) ? b : a;
      continue;
    }
    const same = CASE_INSENSITIVE.has(field) ? caseFold(existing as string) === caseFold(value as string) : existing === value;
    if (!same) return { kind: 'none' };
  }
  // No index on updated_at: alone, a lower bound on it would scan every row. Beside a term an
  // index serves, it only filters that term's few rows.
  if (Object.hasOwn(query, 'modified_after') && Object.keys(query).length === 1) {
    throw unsupported('meta.lastModified on its own (only beside an eq term on an attribute above)');
  }
  return { kind: 'query', query };
}

function collect(resource: ResourceTypeDefinition, filter: Filter, terms: [Field, unknown][]): void {
  switch (filter.kind) {
    case 'and':
      collect(resource, filter.left, terms);
      collect(resource, filter.right, terms);
      return;
    case 'compare': {
      const field = fieldOf(resource, filter.path, undefined);
      if (field === undefined) throw unsupported(`filtering on "${pathText(filter.path)}"`);
      if (field === 'modified_after') {
        if ((filter.op !== 'gt' && filter.op !== 'ge') || typeof filter.value !== 'string' || Number.isNaN(Date.parse(filter.value))) {
          throw unsupported('meta.lastModified other than `gt` or `ge` a date-time');
        }
        terms.push([field, { at: new Date(Date.parse(filter.value)).toISOString(), inclusive: filter.op === 'ge' }]);
        return;
      }
      if (filter.op !== 'eq') throw unsupported(`the operator "${filter.op}" on "${pathText(filter.path)}" (only eq)`);
      if (typeof filter.value !== 'string') throw unsupported(`comparing "${pathText(filter.path)}" with a non-string`);
      terms.push([field, filter.value]);
      return;
    }
    case 'valuePath': {
      // emails[value eq "…"], members[value eq "…"]: one eq on the element's value.
      const inner = filter.filter;
      if (
        inner.kind !== 'compare' ||
        inner.op !== 'eq' ||
        typeof inner.value !== 'string' ||
        inner.path.name.toLowerCase() !== 'value' ||
        inner.path.uri !== undefined
      ) {
        throw unsupported(`the value filter on "${pathText(filter.path)}" (only [value eq "…"])`);
      }
      const field = fieldOf(resource, filter.path, 'value');
      if (field === undefined) throw unsupported(`filtering on "${pathText(filter.path)}"`);
      terms.push([field, inner.value]);
      return;
    }
    default:
      throw unsupported(`"${filter.kind}" (only eq terms joined by and)`);
  }
}

function pathText(path: AttrPath): string {
  return `${path.name}${path.sub === undefined ? '' : `.${path.sub}`}`;
}

function unsupported(what: string): InvalidFilterError {
  return new InvalidFilterError(
    `Roster does not support ${what}. Supported: userName, externalId, id, emails (value) for Users; displayName, externalId, id, members (value) for Groups; each with eq, joined by and; meta.lastModified gt/ge beside one of those.`,
  );
}

export function planUserFilter(filter: Filter): Plan<UserQuery> {
  return plan(USER_RESOURCE, filter);
}

export function planGroupFilter(filter: Filter): Plan<GroupQuery> {
  return plan(GROUP_RESOURCE, filter);
}
