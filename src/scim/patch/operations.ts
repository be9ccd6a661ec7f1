import { invalidSyntax, invalidPath, InvalidFilterError, ScimError } from '../errors.js';
import type { PatchPath } from '../filter/ast.js';
import { parsePatchPath } from '../filter/parse.js';
import { PATCH_OP_SCHEMA_ID } from '../schema/definitions.js';
import { isObject } from '../schema/normalise.js';

export type PatchOpName = 'add' | 'replace' | 'remove';

/** One operation of a PatchOp request, read: its name folded, its path parsed. */
export interface PatchOperation {
  readonly op: PatchOpName;
  readonly path?: PatchPath;
  /** The path as sent, for messages. */
  readonly pathText?: string;
  readonly value?: unknown;
}

/** Most operations one request may carry: a 1,000-member change fits many times over. */
export const MAX_OPERATIONS = 1000;

/**
 * Reads a PatchOp body (RFC 7644 §3.5.2). Operation names are case-insensitive ("Replace",
 * "Add": Entra ID sends them capitalised). An empty Operations list is 400 invalidSyntax: the
 * RFC requires "one or more" operations, and a provider sending none has a bug worth seeing
 * rather than a silent 200.
 */
export function readPatchRequest(body: unknown): PatchOperation[] {
  if (!isObject(body)) throw invalidSyntax('The request body must be a PatchOp JSON object.');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_OP_SCHEMA_ID.toLowerCase())) {
    throw invalidSyntax(`"schemas" must list ${PATCH_OP_SCHEMA_ID}.`);
  }
  const operations = body.Operations ?? body.operations;
  if (!Array.isArray(operations)) throw invalidSyntax('"Operations" must be an array of operations.');
  if (operations.length === 0) throw invalidSyntax('"Operations" must list at least one operation (RFC 7644 §3.5.2).');
  if (operations.length > MAX_OPERATIONS) throw new ScimError('invalid', 'tooMany', `At most ${MAX_OPERATIONS} operations per request.`);
  return operations.map((raw, i) => readOperation(raw, i));
}

function readOperation(raw: unknown, index: number): PatchOperation {
  if (!isObject(raw)) throw invalidSyntax(`Operations[${index}] must be an object.`);
  const name = typeof raw.op === 'string' ? raw.op.toLowerCase() : undefined;
  if (name !== 'add' && name !== 'replace' && name !== 'remove') {
    throw invalidSyntax(`Operations[${index}].op must be "add", "replace" or "remove".`);
  }
  const pathText = raw.path;
  if (pathText !== undefined && pathText !== null && typeof pathText !== 'string')
    throw invalidPath(`Operations[${index}].path must be a string.`);
  let path: PatchPath | undefined;
  if (typeof pathText === 'string' && pathText.trim() !== '') {
    try {
      path = parsePatchPath(pathText);
    } catch (error) {
      // A broken filter inside the brackets stays invalidFilter; any other broken path is invalidPath.
      if (error instanceof InvalidFilterError && pathText.includes('[')) throw error;
      throw new ScimError(
        'invalid',
        'invalidPath',
        `Operations[${index}].path "${pathText}" is not a valid path: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  if (name !== 'remove' && !Object.hasOwn(raw, 'value')) throw invalidSyntax(`Operations[${index}] (${name}) needs a "value".`);
  return {
    op: name,
    ...(path === undefined ? {} : { path, pathText: pathText as string }),
    ...(Object.hasOwn(raw, 'value') ? { value: raw.value } : {}),
  };
}
