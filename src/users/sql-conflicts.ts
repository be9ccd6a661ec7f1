import type { SqlDialect } from '../db/dialect.js';
import { EmailTakenError, ExternalIdTakenError, IdempotencyKeyTakenError } from './errors.js';

/** The unique index on `users.external_id` (migration 0011). */
const EXTERNAL_ID_INDEX = 'users_external_id_unique';

/**
 * A unique violation of a users write as the domain's conflict, or undefined when `error` is not
 * one. `users` has three unique keys: the id (a UUIDv7 the service draws, never a client's on
 * the API path), the email's key and the external id; the violated one is told by the index
 * PostgreSQL names, or the column SQLite lists ("UNIQUE constraint failed: users.external_id").
 */
export function conflictOf(dialect: SqlDialect, error: unknown): Error | undefined {
  const table = dialect.uniqueViolationTable(error);
  if (table === 'idempotency_keys') return new IdempotencyKeyTakenError('The idempotency key was taken concurrently.', { cause: error });
  if (table !== 'users') return undefined;
  const externalId =
    dialect.name === 'postgres'
      ? (error as { constraint?: unknown }).constraint === EXTERNAL_ID_INDEX
      : /\busers\.external_id\b/.test((error as Error).message);
  if (externalId) return new ExternalIdTakenError('Another user already has this external id.', { cause: error });
  return new EmailTakenError('Another user already has this email.', { cause: error });
}
