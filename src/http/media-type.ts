import type { FastifyRequest } from 'fastify';
import { AppError } from '../kit/errors.js';

/** The body's Content-Type is not the one this route reads. */
export class UnsupportedMediaTypeError extends AppError {
  readonly code = 'unsupported-media-type';
}

/** A preValidation hook refusing bodies of any other media type than `expected` (parameters ignored). */
export function requireMediaType(expected: string) {
  return async (request: FastifyRequest): Promise<void> => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== expected) throw new UnsupportedMediaTypeError(`Send the body as ${expected}.`);
  };
}
