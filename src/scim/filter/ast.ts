/**
 * The abstract syntax of RFC 7644 §3.4.2.2 filters. Names keep the case they were written in
 * (attribute names compare case-insensitively; the planner and the PATCH engine fold them), so
 * printing an AST gives back what was meant, and parsing that gives the same AST.
 */

/** `[uri ":"] name ["." sub]`: urn:ietf:params:scim:schemas:core:2.0:User:name.givenName. */
export interface AttrPath {
  readonly uri?: string;
  readonly name: string;
  readonly sub?: string;
}

export const COMPARE_OPS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];

export type Literal = string | number | boolean | null;

export type Filter =
  | { readonly kind: 'compare'; readonly path: AttrPath; readonly op: CompareOp; readonly value: Literal }
  | { readonly kind: 'present'; readonly path: AttrPath }
  | { readonly kind: 'and' | 'or'; readonly left: Filter; readonly right: Filter }
  | { readonly kind: 'not'; readonly filter: Filter }
  /** `emails[type eq "work"]`: true when an element of the multi-valued attribute matches. */
  | { readonly kind: 'valuePath'; readonly path: AttrPath; readonly filter: Filter };

/**
 * A PATCH target (RFC 7644 §3.5.2): an attribute path, or a value path selecting elements of a
 * multi-valued attribute, optionally narrowed to one of their sub-attributes
 * (`emails[type eq "work"].value`).
 */
export type PatchPath =
  | { readonly kind: 'attr'; readonly path: AttrPath }
  | { readonly kind: 'valuePath'; readonly path: AttrPath; readonly filter: Filter; readonly sub?: string };
