/**
 * RFC 7396 JSON Merge Patch: objects merge key by key, `null` removes a key, and any other
 * value (arrays included) replaces the target wholesale. Returns a new value; inputs are not
 * mutated. Hand-written because it is ten lines and the libraries that offer it drag in a
 * whole JSON Patch implementation.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      result[key] = applyMergePatch(result[key], value);
    }
  }
  return result;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
