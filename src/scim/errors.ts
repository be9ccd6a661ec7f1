import { AppError } from '../kit/errors.js';

/** The scimType values of RFC 7644 §3.12 that Roster answers with. */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

/**
 * What went wrong, independent of HTTP: the edge (src/http/scim/) maps each kind to its status
 * once. `invalid` carries a scimType; the others stand on their own.
 */
export type ScimErrorKind = 'invalid' | 'not_found' | 'conflict' | 'precondition_failed' | 'not_implemented';

/** A request SCIM refuses, with the scimType a provider acts on. */
export class ScimError extends AppError {
  readonly code = 'scim';
  readonly kind: ScimErrorKind;
  readonly scimType: ScimType | undefined;

  constructor(kind: ScimErrorKind, scimType: ScimType | undefined, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.scimType = scimType;
  }
}

/** The only error the filter and path parsers throw, whatever the input. */
export class InvalidFilterError extends ScimError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid', 'invalidFilter', message, options);
  }
}

/** A request body or attribute value that breaks the schema. */
export const invalidValue = (message: string) => new ScimError('invalid', 'invalidValue', message);
export const invalidSyntax = (message: string) => new ScimError('invalid', 'invalidSyntax', message);
export const invalidPath = (message: string) => new ScimError('invalid', 'invalidPath', message);
export const mutability = (message: string) => new ScimError('invalid', 'mutability', message);
export const noTarget = (message: string) => new ScimError('invalid', 'noTarget', message);
