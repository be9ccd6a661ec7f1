import { caseFold } from '../../kit/case-fold.js';
import { invalidPath, invalidValue, mutability, noTarget } from '../errors.js';
import type { Filter } from '../filter/ast.js';
import { elementMatches } from '../filter/evaluate.js';
import { parseAttrPath } from '../filter/parse.js';
import { printPatchPath } from '../filter/print.js';
import { findAttribute, type AttributeDefinition, type ResourceTypeDefinition } from '../schema/model.js';
import { assignKey, childObject, isObject, normaliseValue, type ScimDocument } from '../schema/normalise.js';
import { elementAttributes, extensionNamed, resolvePath } from '../schema/resolve.js';
import type { PatchOperation } from './operations.js';

/**
 * Applies PATCH operations (RFC 7644 §3.5.2) to a canonical resource document (one
 * normaliseResource produced) and returns the new document; `doc` is left unchanged. The
 * operations apply in order, all or nothing: the first one that fails throws.
 *
 * As providers send them: no path with an object of attribute paths (dotted, URN-qualified);
 * string booleans; a filtered path with a sub-attribute whose element is missing creates it
 * from the filter's `eq` terms (Entra's `emails[type eq "work"].value`); adding a value already
 * present (same `value`) changes nothing; `remove` of a multi-valued attribute with a `value`
 * removes the listed elements (Entra's member removal).
 */
export function applyPatch(resource: ResourceTypeDefinition, doc: ScimDocument, operations: readonly PatchOperation[]): ScimDocument {
  const result = structuredClone(doc);
  for (const operation of operations) applyOne(resource, result, operation);
  return result;
}

function applyOne(resource: ResourceTypeDefinition, doc: ScimDocument, operation: PatchOperation): void {
  const { op, path, value } = operation;
  if (path === undefined) {
    if (op === 'remove') throw noTarget('A remove operation needs a path.');
    if (!isObject(value)) throw invalidValue(`An ${op} without a path needs an object value.`);
    // Each key is a path of its own; keys the schemas do not declare are ignored, as in POST and PUT.
    for (const [key, inner] of Object.entries(value)) {
      if (key.toLowerCase() === 'schemas') continue;
      const extension = extensionNamed(resource, key);
      if (extension !== undefined && isObject(inner)) {
        for (const [innerKey, innerValue] of Object.entries(inner))
          applyKey(resource, doc, op, `${extension}:${innerKey}`, innerValue, true);
      } else {
        applyKey(resource, doc, op, key, inner, true);
      }
    }
    return;
  }
  if (path.kind === 'attr') {
    applyKey(resource, doc, op, printPatchPath(path), value, false);
    return;
  }
  const location = resolvePath(resource, path.path);
  if (location?.kind !== 'attribute' || location.sub !== undefined || !location.attribute.multiValued) {
    throw invalidPath(`"${operation.pathText}" does not filter a multi-valued attribute.`);
  }
  const { attribute } = location;
  if (attribute.mutability === 'readOnly') throw mutability(`"${attribute.name}" is read-only.`);
  const elementDefs = elementAttributes(attribute);
  const sub = path.sub === undefined ? undefined : findAttribute(elementDefs, path.sub);
  if (path.sub !== undefined && sub === undefined) throw invalidPath(`"${path.sub}" is not a sub-attribute of "${attribute.name}".`);
  if (sub?.mutability === 'readOnly') throw mutability(`"${attribute.name}.${sub.name}" is read-only.`);
  const container = location.extension === undefined ? doc : childObject(doc, location.extension);
  const elements = Array.isArray(container[attribute.name]) ? (container[attribute.name] as ScimDocument[]) : [];
  const matching = elements.filter((e) => elementMatches(e, path.filter, elementDefs));
  if (op === 'remove') {
    if (sub === undefined)
      setElements(
        container,
        attribute,
        elements.filter((e) => !matching.includes(e)),
      );
    else for (const element of matching) delete element[sub.name];
    return;
  }
  if (sub !== undefined) {
    const normalised = normaliseValue(sub, value, `${attribute.name}.${sub.name}`);
    if (matching.length === 0) {
      const seed = seedOf(path.filter, elementDefs);
      if (seed === undefined)
        throw noTarget(`No value of "${attribute.name}" matches the filter, and the filter does not say how to create one.`);
      if (normalised === undefined) return;
      elements.push({ ...seed, [sub.name]: normalised });
      setElements(container, attribute, elements);
      return;
    }
    for (const element of matching) {
      if (normalised === undefined) delete element[sub.name];
      else element[sub.name] = normalised;
    }
    return;
  }
  const replacement = normaliseValue({ ...attribute, multiValued: false }, value, attribute.name) as ScimDocument | undefined;
  if (matching.length === 0) {
    if (op === 'replace') throw noTarget(`No value of "${attribute.name}" matches the filter.`);
    const seed = seedOf(path.filter, elementDefs) ?? {};
    if (replacement !== undefined) addElements(container, attribute, [{ ...seed, ...replacement }]);
    return;
  }
  const next = elements.flatMap((e) => {
    if (!matching.includes(e)) return [e];
    if (replacement === undefined) return [];
    return [op === 'replace' ? replacement : { ...e, ...replacement }];
  });
  setElements(container, attribute, next);
}

/** One attribute path (no filter) with its value; `lenient` (no-path keys) ignores undeclared attributes. */
function applyKey(
  resource: ResourceTypeDefinition,
  doc: ScimDocument,
  op: PatchOperation['op'],
  key: string,
  value: unknown,
  lenient: boolean,
): void {
  const path = parseAttrPath(key);
  const location = path === undefined ? undefined : resolvePath(resource, path);
  if (location === undefined) {
    if (lenient) return;
    throw invalidPath(`"${key}" is not an attribute of ${resource.name}.`);
  }
  if (location.kind === 'extension') {
    if (op === 'remove') {
      delete doc[location.extension];
      return;
    }
    if (!isObject(value)) throw invalidValue(`"${key}" needs an object value.`);
    for (const [innerKey, innerValue] of Object.entries(value))
      applyKey(resource, doc, op, `${location.extension}:${innerKey}`, innerValue, true);
    return;
  }
  const { attribute, sub } = location;
  if (attribute.mutability === 'readOnly' || sub?.mutability === 'readOnly') {
    // Okta's group rename repeats the group's `id` in a path-less value: read-only attributes
    // there are ignored, as in a PUT body (RFC 7643 §2.2); named by a path, they are refused.
    if (lenient) return;
    throw mutability(`"${key}" is read-only.`);
  }
  // password is accepted and dropped: Roster stores none.
  if (attribute.mutability === 'writeOnly') return;
  const container = location.extension === undefined ? doc : childObject(doc, location.extension);
  const removing = op === 'remove' || value === null;
  if (removing) {
    if (attribute.required && sub === undefined) throw mutability(`"${attribute.name}" is required and cannot be removed.`);
    if (sub === undefined && attribute.multiValued && op === 'remove' && value !== undefined && value !== null) {
      removeListed(container, attribute, value);
      return;
    }
    assignKey(resource, doc, key, null);
    return;
  }
  if (sub !== undefined) {
    assignKey(resource, doc, key, value);
    return;
  }
  const normalised = normaliseValue(attribute, value, attribute.name);
  if (attribute.multiValued && op === 'add') {
    addElements(container, attribute, (normalised as unknown[] | undefined) ?? []);
  } else if (attribute.type === 'complex' && !attribute.multiValued && isObject(normalised)) {
    // Sub-attributes not in the value are left as they are (RFC 7644 §3.5.2.1 and .3).
    Object.assign(childObject(container, attribute.name), normalised);
  } else if (normalised === undefined) {
    delete container[attribute.name];
  } else {
    container[attribute.name] = normalised;
  }
}

/** Appends values not already present: same `value` (compared as the attribute compares), or equal as a whole. */
function addElements(container: ScimDocument, attribute: AttributeDefinition, added: readonly unknown[]): void {
  const elements = Array.isArray(container[attribute.name]) ? [...(container[attribute.name] as unknown[])] : [];
  for (const value of added) {
    if (elements.some((e) => sameElement(attribute, e, value))) continue;
    if (isObject(value) && value.primary === true) for (const e of elements) if (isObject(e) && e.primary === true) e.primary = false;
    elements.push(value);
  }
  setElements(container, attribute, elements);
}

function removeListed(container: ScimDocument, attribute: AttributeDefinition, value: unknown): void {
  const listed = Array.isArray(value) ? value : [value];
  const elements = Array.isArray(container[attribute.name]) ? (container[attribute.name] as unknown[]) : [];
  setElements(
    container,
    attribute,
    elements.filter((e) => !listed.some((l) => sameElement(attribute, e, l))),
  );
}

function setElements(container: ScimDocument, attribute: AttributeDefinition, elements: readonly unknown[]): void {
  if (elements.length === 0) delete container[attribute.name];
  else container[attribute.name] = [...elements];
}

/** Two elements are the same value when their `value` sub-attributes are equal, or, without one, when they are equal. */
export function sameElement(attribute: AttributeDefinition, a: unknown, b: unknown): boolean {
  const valueDef = attribute.subAttributes === undefined ? undefined : findAttribute(attribute.subAttributes, 'value');
  if (valueDef !== undefined && isObject(a) && isObject(b) && a.value !== undefined) {
    return foldedEqual(a.value, b.value, valueDef.caseExact);
  }
  if (!isObject(a) && !isObject(b)) return foldedEqual(a, b, attribute.caseExact);
  return JSON.stringify(a) === JSON.stringify(b);
}

function foldedEqual(a: unknown, b: unknown, caseExact: boolean): boolean {
  if (typeof a === 'string' && typeof b === 'string' && !caseExact) return caseFold(a) === caseFold(b);
  return a === b;
}

/**
 * The element a filter describes, when it is `eq` terms joined by `and` (`type eq "work"`):
 * what a filtered add or replace creates when nothing matches. Undefined for any other filter.
 */
function seedOf(filter: Filter, attributes: readonly AttributeDefinition[]): ScimDocument | undefined {
  if (filter.kind === 'and') {
    const left = seedOf(filter.left, attributes);
    const right = seedOf(filter.right, attributes);
    return left === undefined || right === undefined ? undefined : { ...left, ...right };
  }
  if (filter.kind !== 'compare' || filter.op !== 'eq' || filter.path.sub !== undefined || filter.value === null) return undefined;
  const definition = findAttribute(attributes, filter.path.name);
  if (definition === undefined || definition.mutability === 'readOnly') return undefined;
  return { [definition.name]: normaliseValue(definition, filter.value, definition.name) };
}
