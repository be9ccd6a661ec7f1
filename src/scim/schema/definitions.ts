import type { AttributeDefinition, AttributeType, ResourceTypeDefinition, SchemaDefinition } from './model.js';

/**
 * The schemas Roster serves, as data: the same definitions normalise requests
 * (schema/normalise.ts), drive PATCH (patch/engine.ts) and are served by /Schemas and
 * /ResourceTypes. Only attributes Roster stores are declared (RFC 7643 §7: a provider
 * advertises what it supports); ims, photos, entitlements, roles, x509Certificates and the
 * User's read-only `groups` are not, and are ignored in requests.
 */

export const USER_SCHEMA_ID = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_USER_SCHEMA_ID = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const GROUP_SCHEMA_ID = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const LIST_RESPONSE_SCHEMA_ID = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP_SCHEMA_ID = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ERROR_SCHEMA_ID = 'urn:ietf:params:scim:api:messages:2.0:Error';

type Options = Partial<Omit<AttributeDefinition, 'name' | 'type' | 'description'>>;

function attribute(name: string, type: AttributeType, description: string, options: Options = {}): AttributeDefinition {
  return {
    name,
    type,
    multiValued: false,
    description,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...options,
  };
}

const text = (name: string, description: string, options: Options = {}) => attribute(name, 'string', description, options);

/** emails, phoneNumbers: value, display, type, primary (RFC 7643 §2.4). */
function multiValuedText(name: string, description: string, types: readonly string[]): AttributeDefinition {
  return attribute(name, 'complex', description, {
    multiValued: true,
    subAttributes: [
      text('value', `The ${name} value.`),
      text('display', 'A human-readable name, for display only.'),
      text('type', 'A label indicating the function of the value.', { canonicalValues: types }),
      attribute('primary', 'boolean', 'Whether this is the preferred value; at most one value is primary.'),
    ],
  });
}

export const USER_SCHEMA: SchemaDefinition = {
  id: USER_SCHEMA_ID,
  name: 'User',
  description: 'User Account',
  attributes: [
    text('userName', 'The unique identifier of the user: in Roster, an email address, unique case-insensitively.', {
      required: true,
      uniqueness: 'server',
    }),
    attribute('name', 'complex', 'The components of the user’s name.', {
      subAttributes: [
        text('formatted', 'The full name, formatted for display.'),
        text('familyName', 'The family name.'),
        text('givenName', 'The given name.'),
        text('middleName', 'The middle name(s).'),
        text('honorificPrefix', 'The honorific prefix(es), e.g. Ms.'),
        text('honorificSuffix', 'The honorific suffix(es), e.g. III.'),
      ],
    }),
    text('displayName', 'The name of the user, suitable for display.'),
    text('nickName', 'The casual way to address the user.'),
    attribute('profileUrl', 'reference', 'A URI of an online profile of the user.', { referenceTypes: ['external'] }),
    text('title', 'The user’s title, e.g. Vice President.'),
    text('userType', 'The relationship of the user to the organisation, e.g. Employee.'),
    text('preferredLanguage', 'The preferred language (RFC 7231 Accept-Language form).'),
    text('locale', 'The default location for localisation (e.g. en-US).'),
    text('timezone', 'The time zone, in IANA database form (e.g. Europe/Paris).'),
    attribute('active', 'boolean', 'Whether the user can act; deactivated users stay in the directory.'),
    text('password', 'Accepted and discarded: Roster stores no passwords.', {
      mutability: 'writeOnly',
      returned: 'never',
      caseExact: true,
    }),
    multiValuedText('emails', 'Email addresses of the user.', ['work', 'home', 'other']),
    multiValuedText('phoneNumbers', 'Phone numbers of the user.', ['work', 'home', 'mobile', 'fax', 'pager', 'other']),
    attribute('addresses', 'complex', 'Physical mailing addresses of the user.', {
      multiValued: true,
      subAttributes: [
        text('formatted', 'The full mailing address, formatted for display.'),
        text('streetAddress', 'The street address.'),
        text('locality', 'The city or locality.'),
        text('region', 'The state or region.'),
        text('postalCode', 'The zip or postal code.'),
        text('country', 'The country (ISO 3166-1 alpha-2).'),
        text('type', 'A label indicating the function of the address.', { canonicalValues: ['work', 'home', 'other'] }),
        attribute('primary', 'boolean', 'Whether this is the preferred address.'),
      ],
    }),
  ],
};

export const ENTERPRISE_USER_SCHEMA: SchemaDefinition = {
  id: ENTERPRISE_USER_SCHEMA_ID,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    text('employeeNumber', 'A string identifier of the user within the organisation.'),
    text('costCenter', 'The name of a cost center.'),
    text('organization', 'The name of an organisation.'),
    text('division', 'The name of a division.'),
    text('department', 'The name of a department.'),
    attribute('manager', 'complex', 'The user’s manager.', {
      subAttributes: [
        text('value', 'The id of the manager’s SCIM resource.'),
        attribute('$ref', 'reference', 'The URI of the manager’s SCIM resource.', { referenceTypes: ['User'] }),
        text('displayName', 'The manager’s display name.', { mutability: 'readOnly' }),
      ],
    }),
  ],
};

export const GROUP_SCHEMA: SchemaDefinition = {
  id: GROUP_SCHEMA_ID,
  name: 'Group',
  description: 'Group',
  attributes: [
    text('displayName', 'A name for the group, unique case-insensitively in Roster.', { required: true, uniqueness: 'server' }),
    attribute('members', 'complex', 'The members of the group (users).', {
      multiValued: true,
      subAttributes: [
        text('value', 'The id of the member.', { mutability: 'immutable' }),
        attribute('$ref', 'reference', 'The URI of the member.', { mutability: 'immutable', referenceTypes: ['User'] }),
        text('display', 'A human-readable name of the member.', { mutability: 'readOnly' }),
        text('type', 'The type of member.', { mutability: 'immutable', canonicalValues: ['User'] }),
      ],
    }),
  ],
};

/** id, externalId and meta (RFC 7643 §3.1): on every resource, outside any schema's attributes. */
export const COMMON_ATTRIBUTES: readonly AttributeDefinition[] = [
  text('id', 'The service provider’s unique, stable identifier of the resource.', {
    mutability: 'readOnly',
    returned: 'always',
    uniqueness: 'server',
    caseExact: true,
  }),
  text('externalId', 'The provisioning client’s identifier of the resource.', { caseExact: true, uniqueness: 'server' }),
  attribute('meta', 'complex', 'Resource metadata.', {
    mutability: 'readOnly',
    subAttributes: [
      text('resourceType', 'The resource type.', { mutability: 'readOnly', caseExact: true }),
      attribute('created', 'dateTime', 'When the resource was added.', { mutability: 'readOnly' }),
      attribute('lastModified', 'dateTime', 'When the resource last changed.', { mutability: 'readOnly' }),
      attribute('location', 'reference', 'The URI of the resource.', { mutability: 'readOnly', caseExact: true }),
      text('version', 'The version of the resource (its ETag).', { mutability: 'readOnly', caseExact: true }),
    ],
  }),
];

export const USER_RESOURCE: ResourceTypeDefinition = {
  id: 'User',
  name: 'User',
  endpoint: '/Users',
  description: 'User Account',
  schema: USER_SCHEMA,
  extensions: [{ schema: ENTERPRISE_USER_SCHEMA, required: false }],
};

export const GROUP_RESOURCE: ResourceTypeDefinition = {
  id: 'Group',
  name: 'Group',
  endpoint: '/Groups',
  description: 'Group',
  schema: GROUP_SCHEMA,
  extensions: [],
};

export const RESOURCE_TYPES: readonly ResourceTypeDefinition[] = [USER_RESOURCE, GROUP_RESOURCE];
export const SCHEMAS: readonly SchemaDefinition[] = [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA];
