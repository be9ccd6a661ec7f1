import { ScimError } from './errors.js';
import { DirectoryConflictError, DirectoryInvalidError, DirectoryNotFoundError, DirectoryVersionMismatchError } from './ports.js';

const FIELD_NAMES = { email: 'userName', external_id: 'externalId', display_name: 'displayName' } as const;

/** A directory adapter's error as the SCIM error it means; anything else is rethrown as it is (a 500, or an outage). */
export function scimErrorOf(error: unknown): unknown {
  if (error instanceof DirectoryNotFoundError) return new ScimError('not_found', undefined, error.message, { cause: error });
  if (error instanceof DirectoryConflictError) {
    return new ScimError('conflict', 'uniqueness', `${FIELD_NAMES[error.field]} is already taken: ${error.message}`, { cause: error });
  }
  if (error instanceof DirectoryVersionMismatchError) {
    return new ScimError('precondition_failed', undefined, 'The resource changed since the version given in If-Match.', { cause: error });
  }
  if (error instanceof DirectoryInvalidError) return new ScimError('invalid', 'invalidValue', error.message, { cause: error });
  return error;
}

/** Runs a directory call, translating its errors. */
export async function directory<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw scimErrorOf(error);
  }
}

export function notFound(kind: 'User' | 'Group', id: string): ScimError {
  return new ScimError('not_found', undefined, `${kind} ${id} not found.`);
}

/**
 * If-Match (RFC 7232) against a version: undefined (no header) or `*` always pass; otherwise one
 * of the listed versions must be the current one. Tags are compared weakly (W/"3" and "3" alike).
 */
export function checkIfMatch(ifMatch: readonly number[] | '*' | undefined, version: number): void {
  if (ifMatch === undefined || ifMatch === '*') return;
  if (!ifMatch.includes(version)) {
    throw new ScimError('precondition_failed', undefined, `The resource is at version ${version}, not the one given in If-Match.`);
  }
}

/**
 * The version an If-Match pins, checked against the current one (read only when a tag was
 * given): undefined for no header or `*`, which pin nothing.
 */
export async function pinnedVersion(
  ifMatch: readonly number[] | '*' | undefined,
  current: () => Promise<{ readonly version: number }>,
): Promise<number | undefined> {
  if (ifMatch === undefined || ifMatch === '*') return undefined;
  const { version } = await current();
  checkIfMatch(ifMatch, version);
  return version;
}
