import { caseFold } from '../../kit/case-fold.js';
import { InvalidFilterError } from '../errors.js';
import { findAttribute, type AttributeDefinition } from '../schema/model.js';
import type { Filter, Literal } from './ast.js';

/**
 * Whether one element of a multi-valued attribute (`{type: "work", value: "…", primary: true}`)
 * matches a value filter. Attribute names are the element's sub-attributes; strings compare
 * ignoring case unless the sub-attribute is caseExact (RFC 7644 §3.4.2.2).
 */
export function elementMatches(element: unknown, filter: Filter, attributes: readonly AttributeDefinition[]): boolean {
  switch (filter.kind) {
    case 'and':
      return elementMatches(element, filter.left, attributes) && elementMatches(element, filter.right, attributes);
    case 'or':
      return elementMatches(element, filter.left, attributes) || elementMatches(element, filter.right, attributes);
    case 'not':
      return !elementMatches(element, filter.filter, attributes);
    case 'valuePath':
      throw new InvalidFilterError('Value paths cannot be nested.');
    case 'present': {
      const value = valueOf(element, filter.path.name, filter.path.sub, attributes);
      return value.found !== undefined && value.found !== null && value.found !== '';
    }
    case 'compare': {
      const { found, definition } = valueOf(element, filter.path.name, filter.path.sub, attributes);
      return compare(found, filter.op, filter.value, definition?.caseExact ?? false);
    }
  }
}

function valueOf(
  element: unknown,
  name: string,
  sub: string | undefined,
  attributes: readonly AttributeDefinition[],
): { found: unknown; definition: AttributeDefinition | undefined } {
  if (sub !== undefined) throw new InvalidFilterError(`"${name}.${sub}" is not a sub-attribute of the filtered attribute.`);
  const definition = findAttribute(attributes, name);
  if (definition === undefined) throw new InvalidFilterError(`"${name}" is not a sub-attribute of the filtered attribute.`);
  const found = typeof element === 'object' && element !== null ? (element as Record<string, unknown>)[definition.name] : undefined;
  return { found, definition };
}

function compare(found: unknown, op: string, expected: Literal, caseExact: boolean): boolean {
  if (op === 'eq' && expected === null) return found === undefined || found === null;
  if (op === 'ne' && expected === null) return found !== undefined && found !== null;
  if (found === undefined || found === null) return op === 'ne';
  if (typeof found === 'string' && typeof expected === 'string') {
    const a = caseExact ? found : caseFold(found);
    const b = caseExact ? expected : caseFold(expected);
    switch (op) {
      case 'eq':
        return a === b;
      case 'ne':
        return a !== b;
      case 'co':
        return a.includes(b);
      case 'sw':
        return a.startsWith(b);
      case 'ew':
        return a.endsWith(b);
      case 'gt':
        return a > b;
      case 'ge':
        return a >= b;
      case 'lt':
        return a < b;
      case 'le':
        return a <= b;
    }
  }
  if (typeof found === 'number' && typeof expected === 'number') {
    switch (op) {
      case 'eq':
        return found === expected;
      case 'ne':
        return found !== expected;
      case 'gt':
        return found > expected;
      case 'ge':
        return found >= expected;
      case 'lt':
        return found < expected;
      case 'le':
        return found <= expected;
    }
  }
  if (typeof found === 'boolean' && typeof expected === 'boolean') {
    if (op === 'eq') return found === expected;
    if (op === 'ne') return found !== expected;
  }
  if (op === 'ne') return true;
  if (op === 'eq') return false;
  throw new InvalidFilterError(`"${op}" cannot compare ${typeof found} with ${typeof expected}.`);
}
