import { AppError } from '../kit/errors.js';

/** No user has this id (or it was deleted). */
export class UserNotFoundError extends AppError {
  readonly code = 'user-not-found';
}

/** Another user already has this email, compared case-insensitively. */
export class EmailTakenError extends AppError {
  readonly code = 'email-taken';
}

/** Another user already has this external id, compared exactly (case-sensitively). */
export class ExternalIdTakenError extends AppError {
  readonly code = 'external-id-taken';
}

/** The caller's `If-Match` version is not the current one: someone changed the user since. */
export class VersionMismatchError extends AppError {
  readonly code = 'version-mismatch';
}

/** An `Idempotency-Key` was reused with a different request body. */
export class IdempotencyKeyReusedError extends AppError {
  readonly code = 'idempotency-key-reused';
}

/**
 * Raised by a store when another request committed the same idempotency key first. The
 * service catches it and replays that request's result; it never reaches HTTP.
 */
export class IdempotencyKeyTakenError extends AppError {
  readonly code = 'idempotency-key-taken';
}

/** The writer's connection failed mid-batch (the batch rolled back with it): worth a retry on a new one. */
export class ConnectionLostError extends Error {
  override readonly name = 'ConnectionLostError';
}
