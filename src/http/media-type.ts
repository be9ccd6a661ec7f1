import { AppError } from '../kit/errors.js';

/** The body's Content-Type is not the one this route reads. */
export class UnsupportedMediaTypeError extends AppError {
  readonly code = 'unsupported-media-type';
}
