/**
 * Who is calling and what they may do. Scopes are least-privilege: each route names exactly one,
 * and `admin` implies every other.
 */
export const SCOPES = [
  'users:read',
  'users:write',
  'groups:read',
  'groups:write',
  'events:read',
  'webhooks:manage',
  'imports:write',
  'scim',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/** An authenticated caller. `actor` is what logs and events record: `key:<id>` or `jwt:<sub>`. */
export interface Principal {
  readonly actor: string;
  readonly kind: 'api_key' | 'jwt';
  readonly scopes: ReadonlySet<string>;
}

/** True when the principal may act with `needed`. */
export function allows(principal: Principal, needed: Scope): boolean {
  return principal.scopes.has('admin') || principal.scopes.has(needed);
}
