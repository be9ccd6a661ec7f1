import secureJson from 'secure-json-parse';

export type JsonResult = { ok: true; value: unknown } | { ok: false; reason: string };

const POSITION = /at position (\d+)/;

/**
 * JSON text from an import file (an NDJSON line, a CSV attributes cell), under the rule the
 * API's body parser applies: a `__proto__` key or a `constructor.prototype` path anywhere is
 * refused, since merging such an object later could change a prototype. The reason never
 * echoes the input (V8's messages quote it), so a report cannot carry a hostile cell onward.
 */
export function parseJsonText(text: string): JsonResult {
  try {
    return { ok: true, value: secureJson.parse(text, null, { protoAction: 'error', constructorAction: 'error' }) as unknown };
  } catch (error) {
    const message = error instanceof Error ? error.message : '';
    if (/forbidden (prototype|constructor) property/.test(message)) {
      return { ok: false, reason: 'must not contain a "__proto__" key or a "constructor" key with a "prototype" inside' };
    }
    const position = POSITION.exec(message)?.[1];
    return { ok: false, reason: position === undefined ? 'is not valid JSON' : `is not valid JSON (error at character ${position})` };
  }
}
