/**
 * The import's `user.created` events on SQLite are written from the user's row
 * (createdEventParameters) rather than built as objects and serialized: the parameters must be
 * those the general path gives (eventParameters(userCreated())), byte for byte, for any user.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sqliteDialect } from '../../src/db/dialect.js';
import type { EventContext } from '../../src/events/model.js';
import { userCreated } from '../../src/users/events.js';
import type { User } from '../../src/users/model.js';
import { createdEventParameters, eventParameters } from '../../src/users/sqlite-batch-rows.js';
import { toUserRow } from '../../src/users/sql-row.js';
import { anyText, anyUser } from './arbitrary-user.js';

const context: fc.Arbitrary<EventContext> = fc.record(
  { actor: fc.option(anyText, { nil: undefined }), requestId: fc.option(anyText, { nil: undefined }) },
  { requiredKeys: [] },
);

function bothPaths(eventId: string, user: User, ctx: EventContext) {
  return {
    fromRow: createdEventParameters(eventId, user, toUserRow(user, sqliteDialect), ctx),
    general: eventParameters(userCreated(eventId, user, ctx)),
  };
}

describe('createdEventParameters', () => {
  test('gives the parameters eventParameters(userCreated()) gives, for any user and context', () => {
    fc.assert(
      fc.property(fc.uuid(), anyUser, context, (eventId, user, ctx) => {
        const { fromRow, general } = bothPaths(eventId, user, ctx);
        assert.deepEqual(fromRow, general);
      }),
      { numRuns: 1000 },
    );
  });

  test('a year toISOString() writes with six digits takes the general path, with the same result', () => {
    fc.assert(
      fc.property(fc.uuid(), anyUser, fc.date({ noInvalidDate: true }), context, (eventId, user, at, ctx) => {
        const { fromRow, general } = bothPaths(eventId, { ...user, createdAt: at, updatedAt: at }, ctx);
        assert.deepEqual(fromRow, general);
      }),
      { numRuns: 300 },
    );
  });
});
