import { parseAttrPath } from './filter/parse.js';
import type { ResourceTypeDefinition } from './schema/model.js';
import type { ScimDocument } from './schema/normalise.js';
import { resolvePath, type Location } from './schema/resolve.js';

/** `attributes` / `excludedAttributes` of a request (RFC 7644 §3.4.2.5), resolved against the schemas. */
export interface Projection {
  readonly attributes?: readonly Location[];
  readonly excluded?: readonly Location[];
}

/** Most attribute paths one parameter may list. */
const MAX_PATHS = 100;

/**
 * Reads the two comma-separated parameters; paths that name no attribute are ignored (they can
 * select nothing). `attributes` wins when both are given.
 */
export function readProjection(resource: ResourceTypeDefinition, attributes?: string, excluded?: string): Projection {
  const read = (list: string | undefined) =>
    list === undefined
      ? undefined
      : list
          .split(',')
          .slice(0, MAX_PATHS)
          .map((p) => parseAttrPath(p.trim()))
          .flatMap((p) => (p === undefined ? [] : [resolvePath(resource, p)]))
          .filter((l): l is Location => l !== undefined);
  const included = read(attributes);
  if (included !== undefined && included.length > 0) return { attributes: included };
  const out = read(excluded);
  return out === undefined ? {} : { excluded: out };
}

/** Whether the projection keeps the top-level attribute `name` of the core schema (e.g. Group members). */
export function keeps(projection: Projection, name: string): boolean {
  const names = (locations: readonly Location[]) =>
    locations.some((l) => l.kind === 'attribute' && l.extension === undefined && l.attribute.name === name);
  if (projection.attributes !== undefined) return names(projection.attributes);
  if (projection.excluded !== undefined)
    return !projection.excluded.some(
      (l) => l.kind === 'attribute' && l.extension === undefined && l.attribute.name === name && l.sub === undefined,
    );
  return true;
}

/** The document with only what the projection returns; id, schemas and meta are always returned. */
export function project(doc: ScimDocument, projection: Projection): ScimDocument {
  if (projection.attributes !== undefined) {
    const out: ScimDocument = {};
    for (const key of ['schemas', 'id', 'meta']) if (doc[key] !== undefined) out[key] = doc[key];
    for (const location of projection.attributes) copy(doc, out, location);
    return out;
  }
  if (projection.excluded !== undefined) {
    const out = structuredClone(doc);
    for (const location of projection.excluded) remove(out, location);
    return out;
  }
  return doc;
}

function copy(from: ScimDocument, to: ScimDocument, location: Location): void {
  if (location.kind === 'extension') {
    if (from[location.extension] !== undefined) to[location.extension] = from[location.extension];
    return;
  }
  const source = location.extension === undefined ? from : (from[location.extension] as ScimDocument | undefined);
  const value = source?.[location.attribute.name];
  if (value === undefined) return;
  const target = location.extension === undefined ? to : ((to[location.extension] ??= {}) as ScimDocument);
  if (location.sub === undefined) {
    target[location.attribute.name] = value;
    return;
  }
  const subName = location.sub.name;
  if (Array.isArray(value)) {
    const existing = Array.isArray(target[location.attribute.name])
      ? (target[location.attribute.name] as ScimDocument[])
      : value.map((): ScimDocument => ({}));
    value.forEach((e, i) => {
      const v = (e as ScimDocument)[subName];
      if (v !== undefined) existing[i]![subName] = v;
    });
    target[location.attribute.name] = existing;
  } else if (typeof value === 'object' && value !== null && (value as ScimDocument)[subName] !== undefined) {
    const existing = (target[location.attribute.name] ??= {}) as ScimDocument;
    existing[subName] = (value as ScimDocument)[subName];
  }
}

function remove(doc: ScimDocument, location: Location): void {
  if (location.kind === 'extension') {
    delete doc[location.extension];
    return;
  }
  if (location.attribute.returned === 'always') return;
  const container = location.extension === undefined ? doc : (doc[location.extension] as ScimDocument | undefined);
  if (container === undefined) return;
  if (location.sub === undefined) {
    delete container[location.attribute.name];
    return;
  }
  const value = container[location.attribute.name];
  for (const element of Array.isArray(value) ? value : [value]) {
    if (typeof element === 'object' && element !== null) delete (element as ScimDocument)[location.sub.name];
  }
}
