import type { FastifyRequest } from 'fastify';
import { AppError } from '../kit/errors.js';

/** The body's Content-Type is not the one this route reads. */
export class UnsupportedMediaTypeError extends AppError {
  readonly code = 'unsupported-media-type';
}

/** A preValidation hook refusing bodies of any media type but `expected` and `also` (parameters ignored). */
export function requireMediaType(expected: string, ...also: string[]) {
  const accepted = new Set([expected, ...also]);
  const hint = also.length === 0 ? expected : `${expected} (or ${also.join(', ')})`;
  return async (request: FastifyRequest): Promise<void> => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!accepted.has(type)) throw new UnsupportedMediaTypeError(`Send the body as ${hint}.`);
  };
}
