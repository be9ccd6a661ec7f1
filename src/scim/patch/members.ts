import { invalidPath, invalidValue } from '../errors.js';
import type { Filter } from '../filter/ast.js';
import { isObject } from '../schema/normalise.js';
import type { PatchOperation } from './operations.js';

/**
 * A group's membership change read from PATCH operations, without the member list: ids to add
 * or remove (the last operation on an id wins), and whether the operations first cleared
 * every member (remove `members`, replace `members`), in which case the caller turns "clear"
 * into removing the current members not re-added.
 */
export interface MemberChange {
  readonly clear: boolean;
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

/** Splits a Group PATCH into member operations (as one MemberChange) and the rest. */
export function splitMemberOperations(operations: readonly PatchOperation[]): { members: MemberChange; rest: PatchOperation[] } {
  const state = new Map<string, 'add' | 'remove'>();
  let clear = false;
  const rest: PatchOperation[] = [];
  const setAll = (ids: readonly string[], to: 'add' | 'remove') => {
    for (const id of ids) {
      state.delete(id);
      state.set(id, to);
    }
  };
  for (const operation of operations) {
    const { op, path, value } = operation;
    if (path === undefined) {
      // No path: a `members` key is a member operation; the other keys stay a no-path operation.
      if (!isObject(value)) {
        rest.push(operation);
        continue;
      }
      const membersKey = Object.keys(value).find((k) => k.toLowerCase() === 'members');
      if (membersKey === undefined) {
        rest.push(operation);
        continue;
      }
      const others = Object.fromEntries(Object.entries(value).filter(([k]) => k !== membersKey));
      if (Object.keys(others).length > 0) rest.push({ op, value: others });
      if (op === 'replace') {
        clear = true;
        state.clear();
      }
      setAll(idsOf(value[membersKey]), 'add');
      continue;
    }
    if (path.path.name.toLowerCase() !== 'members' || (path.path.uri !== undefined && !path.path.uri.toLowerCase().endsWith(':group'))) {
      rest.push(operation);
      continue;
    }
    if (path.kind === 'attr') {
      if (path.path.sub !== undefined) throw invalidPath(`"${operation.pathText}": members change as a whole, by value.`);
      if (op === 'remove' && (value === undefined || value === null)) {
        clear = true;
        state.clear();
      } else if (op === 'remove') {
        // Entra ID's older form: {op: remove, path: members, value: [{value: id}, …]}.
        setAll(idsOf(value), 'remove');
      } else {
        if (op === 'replace') {
          clear = true;
          state.clear();
        }
        setAll(idsOf(value), 'add');
      }
      continue;
    }
    if (op !== 'remove' || path.sub !== undefined) {
      throw invalidPath(`"${operation.pathText}": a filtered members path can only be removed (add members by value).`);
    }
    setAll(valuesSelected(path.filter), 'remove');
  }
  const add: string[] = [];
  const remove: string[] = [];
  for (const [id, to] of state) (to === 'add' ? add : remove).push(id);
  return { members: { clear, add, remove }, rest };
}

function idsOf(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  return list.map((member, i) => {
    const id = isObject(member) ? member.value : member;
    if (typeof id !== 'string' || id === '') throw invalidValue(`members[${i}] needs a "value" (the user id).`);
    return id;
  });
}

/** The ids of `value eq "…"` terms joined by `or`, the only member filters SCIM clients send. */
function valuesSelected(filter: Filter): string[] {
  if (filter.kind === 'or') return [...valuesSelected(filter.left), ...valuesSelected(filter.right)];
  if (filter.kind === 'compare' && filter.op === 'eq' && filter.path.name.toLowerCase() === 'value' && typeof filter.value === 'string') {
    return [filter.value];
  }
  throw invalidPath('A members filter selects members by value: members[value eq "id"] (or several joined by or).');
}
