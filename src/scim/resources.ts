import { LIST_RESPONSE_SCHEMA_ID } from './schema/definitions.js';
import type { ResourceTypeDefinition } from './schema/model.js';
import type { ScimDocument } from './schema/normalise.js';

/** The weak entity tag of a version: SCIM's meta.version and the ETag header. */
export function versionTag(version: number): string {
  return `W/"${version}"`;
}

/** What a rendered resource needs besides its attributes. */
export interface RecordMeta {
  readonly id: string;
  readonly version: number;
  readonly created_at: string;
  readonly updated_at: string;
}

/** Adds `schemas` (the core schema, and each extension the document holds) and `meta` to a canonical document. */
export function renderResource(resource: ResourceTypeDefinition, doc: ScimDocument, record: RecordMeta, baseUrl: string): ScimDocument {
  const schemas = [resource.schema.id, ...resource.extensions.map((e) => e.schema.id).filter((id) => doc[id] !== undefined)];
  return {
    schemas,
    ...doc,
    meta: {
      resourceType: resource.name,
      created: record.created_at,
      lastModified: record.updated_at,
      location: `${baseUrl}${resource.endpoint}/${record.id}`,
      version: versionTag(record.version),
    },
  };
}

export function listResponse(total: number, startIndex: number, resources: readonly ScimDocument[]): ScimDocument {
  return { schemas: [LIST_RESPONSE_SCHEMA_ID], totalResults: total, startIndex, itemsPerPage: resources.length, Resources: resources };
}
