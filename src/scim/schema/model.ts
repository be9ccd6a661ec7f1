/** RFC 7643 §2.2–2.4 and §7: how one attribute behaves, as /Schemas serves it. */
export type AttributeType = 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'complex' | 'binary';
export type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
export type Returned = 'always' | 'never' | 'default' | 'request';
export type Uniqueness = 'none' | 'server' | 'global';

export interface AttributeDefinition {
  readonly name: string;
  readonly type: AttributeType;
  readonly multiValued: boolean;
  readonly description: string;
  readonly required: boolean;
  readonly caseExact: boolean;
  readonly mutability: Mutability;
  readonly returned: Returned;
  readonly uniqueness: Uniqueness;
  readonly canonicalValues?: readonly string[];
  readonly referenceTypes?: readonly string[];
  readonly subAttributes?: readonly AttributeDefinition[];
}

export interface SchemaDefinition {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly attributes: readonly AttributeDefinition[];
}

/** RFC 7643 §6: a resource type, its endpoint, its core schema and extensions. */
export interface ResourceTypeDefinition {
  readonly id: 'User' | 'Group';
  readonly name: string;
  readonly endpoint: string;
  readonly description: string;
  readonly schema: SchemaDefinition;
  readonly extensions: readonly { readonly schema: SchemaDefinition; readonly required: boolean }[];
}

/** The attribute of `attributes` named `name`, compared case-insensitively (RFC 7643 §2.1). */
export function findAttribute(attributes: readonly AttributeDefinition[], name: string): AttributeDefinition | undefined {
  const folded = name.toLowerCase();
  return attributes.find((a) => a.name.toLowerCase() === folded);
}
