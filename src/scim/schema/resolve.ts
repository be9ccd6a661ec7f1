import type { AttrPath } from '../filter/ast.js';
import { COMMON_ATTRIBUTES } from './definitions.js';
import { findAttribute, type AttributeDefinition, type ResourceTypeDefinition } from './model.js';

/**
 * Where an attribute path lands in a resource document: `extension` names the extension
 * schema whose object holds it (undefined: the top level), `attribute` its definition and
 * `sub` the sub-attribute's. `wholeExtension` is a path naming an extension schema itself.
 */
export type Location =
  | { readonly kind: 'attribute'; readonly extension?: string; readonly attribute: AttributeDefinition; readonly sub?: AttributeDefinition }
  | { readonly kind: 'extension'; readonly extension: string };

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** The extension schema id `text` names (case-insensitively), if any. */
export function extensionNamed(resource: ResourceTypeDefinition, text: string): string | undefined {
  return resource.extensions.find((e) => same(e.schema.id, text))?.schema.id;
}

/**
 * Resolves a path against the resource's schemas (names case-insensitive, RFC 7643 §2.1).
 * Unqualified names are the core schema's or the common attributes (id, externalId, meta);
 * extension attributes need their schema URN. Undefined when nothing matches.
 */
export function resolvePath(resource: ResourceTypeDefinition, path: AttrPath): Location | undefined {
  if (path.uri !== undefined && path.sub === undefined) {
    const whole = extensionNamed(resource, `${path.uri}:${path.name}`);
    if (whole !== undefined) return { kind: 'extension', extension: whole };
  }
  let extension: string | undefined;
  let attributes: readonly AttributeDefinition[];
  if (path.uri === undefined || same(path.uri, resource.schema.id)) {
    attributes = [...COMMON_ATTRIBUTES, ...resource.schema.attributes];
  } else {
    extension = extensionNamed(resource, path.uri);
    if (extension === undefined) return undefined;
    attributes = resource.extensions.find((e) => e.schema.id === extension)!.schema.attributes;
  }
  const attribute = findAttribute(attributes, path.name);
  if (attribute === undefined) return undefined;
  if (path.sub === undefined) return { kind: 'attribute', ...(extension === undefined ? {} : { extension }), attribute };
  const sub = attribute.subAttributes === undefined ? undefined : findAttribute(attribute.subAttributes, path.sub);
  if (sub === undefined) return undefined;
  return { kind: 'attribute', ...(extension === undefined ? {} : { extension }), attribute, sub };
}

/** The definitions a value filter on `attribute` may name: its sub-attributes, or `value` for a simple multi-valued one. */
export function elementAttributes(attribute: AttributeDefinition): readonly AttributeDefinition[] {
  return attribute.subAttributes ?? [{ ...attribute, name: 'value', multiValued: false }];
}
