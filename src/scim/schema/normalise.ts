import { invalidSyntax, invalidValue } from '../errors.js';
import { parseAttrPath } from '../filter/parse.js';
import { findAttribute, type AttributeDefinition, type ResourceTypeDefinition } from './model.js';
import { extensionNamed, resolvePath } from './resolve.js';

/** A resource as plain JSON. */
export type ScimDocument = Record<string, unknown>;

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A request body in canonical form: every key spelled as its schema spells it, extension
 * attributes under their schema URN, dotted and URN-qualified keys (`name.givenName`,
 * `urn:…:enterprise:2.0:User:department`) placed where they belong, booleans sent as strings
 * ("True", "false") turned into booleans. Attributes the schemas do not declare, read-only ones
 * (id, meta; RFC 7643 §2.2: ignored in requests) and `password` (never stored) are dropped;
 * values of the wrong type are 400 invalidValue. Null means "no value" and is dropped too.
 */
export function normaliseResource(resource: ResourceTypeDefinition, body: unknown): ScimDocument {
  if (!isObject(body)) throw invalidSyntax('The request body must be a JSON object.');
  const out: ScimDocument = {};
  for (const [key, value] of Object.entries(body)) {
    if (key.toLowerCase() === 'schemas') {
      if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) throw invalidSyntax('"schemas" must be an array of URIs.');
      continue;
    }
    assignKey(resource, out, key, value);
  }
  return out;
}

/**
 * Puts one request key and its value into `doc` (canonical). Returns false when the key names
 * nothing the schemas declare (the caller decides whether that is an error).
 */
export function assignKey(resource: ResourceTypeDefinition, doc: ScimDocument, key: string, value: unknown): boolean {
  const extension = extensionNamed(resource, key);
  if (extension !== undefined) {
    if (value === null) return true;
    if (!isObject(value)) throw invalidValue(`"${key}" must be an object of the extension's attributes.`);
    for (const [inner, innerValue] of Object.entries(value)) {
      const path = parseAttrPath(inner);
      if (path === undefined || path.uri !== undefined) continue;
      assignKey(resource, doc, `${extension}:${inner}`, innerValue);
    }
    return true;
  }
  const path = parseAttrPath(key);
  const location = path === undefined ? undefined : resolvePath(resource, path);
  if (location === undefined) return false;
  if (location.kind === 'extension') return assignKey(resource, doc, location.extension, value);
  const { attribute, sub } = location;
  if (attribute.mutability === 'readOnly' || attribute.mutability === 'writeOnly') return true;
  const container = location.extension === undefined ? doc : childObject(doc, location.extension);
  const label = key;
  if (sub === undefined) {
    const normalised = normaliseValue(attribute, value, label);
    if (normalised === undefined) delete container[attribute.name];
    else container[attribute.name] = normalised;
    return true;
  }
  if (sub.mutability === 'readOnly') return true;
  const normalised = normaliseValue(sub, value, label);
  if (attribute.multiValued) {
    // `emails.value` without a filter: every element's sub-attribute (RFC 7644 §3.5.2.3).
    const elements = container[attribute.name];
    if (Array.isArray(elements)) for (const element of elements) setOrDelete(element as ScimDocument, sub.name, normalised);
    return true;
  }
  setOrDelete(childObject(container, attribute.name), sub.name, normalised);
  return true;
}

/** The object at `doc[key]`, created when absent. */
export function childObject(doc: ScimDocument, key: string): ScimDocument {
  const existing = doc[key];
  if (isObject(existing)) return existing;
  const created: ScimDocument = {};
  doc[key] = created;
  return created;
}

function setOrDelete(target: ScimDocument, key: string, value: unknown): void {
  if (value === undefined) delete target[key];
  else target[key] = value;
}

/** One attribute's value in canonical form; undefined for "no value" (null, or an empty array). */
export function normaliseValue(attribute: AttributeDefinition, value: unknown, label: string): unknown {
  if (value === null || value === undefined) return undefined;
  if (attribute.multiValued) {
    // One value where an array belongs is read as an array of one, as providers sometimes send it.
    const values = Array.isArray(value) ? value : [value];
    const single = { ...attribute, multiValued: false };
    const out = values.map((v, i) => normaliseValue(single, v, `${label}[${i}]`)).filter((v) => v !== undefined);
    return out.length === 0 ? undefined : out;
  }
  switch (attribute.type) {
    case 'complex': {
      // A bare string for a complex attribute with a `value` (Entra ID sends manager so) is its value.
      if (typeof value === 'string' && findAttribute(attribute.subAttributes ?? [], 'value') !== undefined) {
        return value === '' ? undefined : { value };
      }
      if (!isObject(value)) throw invalidValue(`"${label}" must be an object.`);
      const out: ScimDocument = {};
      for (const [key, inner] of Object.entries(value)) {
        const sub = findAttribute(attribute.subAttributes ?? [], key);
        if (sub === undefined || sub.mutability === 'readOnly' || sub.mutability === 'writeOnly') continue;
        const normalised = normaliseValue(sub, inner, `${label}.${sub.name}`);
        if (normalised !== undefined) out[sub.name] = normalised;
      }
      return Object.keys(out).length === 0 ? undefined : out;
    }
    case 'boolean':
      return booleanOf(value, label);
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidValue(`"${label}" must be an integer.`);
      return value;
    case 'decimal':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidValue(`"${label}" must be a number.`);
      return value;
    default:
      if (typeof value !== 'string') throw invalidValue(`"${label}" must be a string.`);
      return value;
  }
}

/** true/false, or the strings "True"/"False" in any case, as Entra ID sends them. */
export function booleanOf(value: unknown, label: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const folded = value.trim().toLowerCase();
    if (folded === 'true') return true;
    if (folded === 'false') return false;
  }
  throw invalidValue(`"${label}" must be a boolean.`);
}
