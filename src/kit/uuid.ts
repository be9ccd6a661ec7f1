/**
 * The ids Roster hands out are lower-case UUIDv7 (RFC 9562): version 7, variant 10xx. The
 * pattern is a string so it serves both a RegExp here and a JSON Schema `pattern` at the edge.
 */
export const UUID_V7_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';

/** Any lower-case UUID, whatever its version: ids whose version Roster does not check. */
export const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

const UUID_V7 = new RegExp(UUID_V7_PATTERN);
const UUID = new RegExp(UUID_PATTERN);

/** Whether `value` is a lower-case UUIDv7. */
export function isUuidV7(value: string): boolean {
  return UUID_V7.test(value);
}

/** Whether `value` is a lower-case UUID of any version. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
