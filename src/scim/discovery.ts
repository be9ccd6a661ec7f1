import { MAX_RESULTS } from './paging.js';
import { MAX_OPERATIONS } from './patch/operations.js';
import { LIST_RESPONSE_SCHEMA_ID, RESOURCE_TYPES, SCHEMAS } from './schema/definitions.js';
import type { AttributeDefinition, ResourceTypeDefinition, SchemaDefinition } from './schema/model.js';
import type { ScimDocument } from './schema/normalise.js';

/** RFC 7643 §5, as Roster implements it. */
export function serviceProviderConfig(base: string): ScimDocument {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: `An API key with scope "scim" (roster keys create --scope scim), or a JWT carrying that scope. PATCH takes up to ${MAX_OPERATIONS} operations.`,
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}

export function resourceTypeDocument(type: ResourceTypeDefinition, base: string): ScimDocument {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
    id: type.id,
    name: type.name,
    endpoint: type.endpoint,
    description: type.description,
    schema: type.schema.id,
    schemaExtensions: type.extensions.map((e) => ({ schema: e.schema.id, required: e.required })),
    meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/${type.id}` },
  };
}

export function schemaDocument(schema: SchemaDefinition, base: string): ScimDocument {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id: schema.id,
    name: schema.name,
    description: schema.description,
    attributes: schema.attributes.map(attributeDocument),
    meta: { resourceType: 'Schema', location: `${base}/Schemas/${schema.id}` },
  };
}

function attributeDocument(attribute: AttributeDefinition): ScimDocument {
  const { subAttributes, ...rest } = attribute;
  return { ...rest, ...(subAttributes === undefined ? {} : { subAttributes: subAttributes.map(attributeDocument) }) };
}

export function resourceTypeList(base: string): ScimDocument {
  const resources = RESOURCE_TYPES.map((t) => resourceTypeDocument(t, base));
  return {
    schemas: [LIST_RESPONSE_SCHEMA_ID],
    totalResults: resources.length,
    startIndex: 1,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

export function schemaList(base: string): ScimDocument {
  const resources = SCHEMAS.map((s) => schemaDocument(s, base));
  return {
    schemas: [LIST_RESPONSE_SCHEMA_ID],
    totalResults: resources.length,
    startIndex: 1,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

export function findResourceType(id: string): ResourceTypeDefinition | undefined {
  return RESOURCE_TYPES.find((t) => t.id === id);
}

export function findSchema(id: string): SchemaDefinition | undefined {
  return SCHEMAS.find((s) => s.id === id);
}
