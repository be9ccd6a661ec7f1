import { AppError } from '../kit/errors.js';

/**
 * Credentials missing, malformed, unknown, revoked or expired. One error for all of them, on
 * purpose: telling a caller which would help someone probing for valid keys.
 */
export class UnauthenticatedError extends AppError {
  readonly code = 'unauthenticated';
}

/** Good credentials without the scope the route needs; the message names the scope. */
export class ForbiddenError extends AppError {
  readonly code = 'forbidden';
  readonly missingScope: string;

  constructor(missingScope: string) {
    super(`This credential lacks the scope ${missingScope}.`);
    this.missingScope = missingScope;
  }
}

/** No API key has this id. */
export class ApiKeyNotFoundError extends AppError {
  readonly code = 'api-key-not-found';
}
