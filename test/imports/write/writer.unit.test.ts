import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Batch } from '../../../src/imports/read/batch.js';
import { copyEscape } from '../../../src/users/postgres-batch-writer.js';
import { unwritten } from '../../../src/imports/run.js';
import { decodeCreates, encodeCreates } from '../../../src/users/sqlite-batch-rows.js';
import { newUuidV7 } from '../../../src/kit/uuid.js';
import type { ImportedUser, ValidRow } from '../../../src/imports/read/rows.js';
import { batchErrors, errorsToKeep } from '../../../src/imports/write/writer.js';

const user = {
  email: 'someone@example.com',
  name: 'Someone',
  active: true,
  externalId: null,
  givenName: null,
  familyName: null,
  attributes: {},
  profile: {},
} as unknown as ImportedUser;
const row = (line: number): ValidRow => ({ kind: 'valid', line, bytes: 10, user, maybeDuplicate: false });
const encoding = { events: false, context: {} };

/** PostgreSQL's COPY text format decoding of the escapes copyEscape writes. */
function copyUnescape(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', r: '\r', '\\': '\\' })[c] ?? c);
}

describe('copyEscape', () => {
  it('leaves no raw tab, line feed or carriage return, and decodes back to the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.constantFrom('', '\t', '\n', '\r', '\\', '\\N', '\\t'), (text, extra) => {
        const escaped = copyEscape(text + extra + text);
        assert.doesNotMatch(escaped, /[\t\n\r]/);
        assert.equal(copyUnescape(escaped), text + extra + text);
      }),
    );
  });
});

describe('unwritten', () => {
  it('keeps exactly the rows and row errors after the resume line, whether the rows travel as objects or encoded', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 2, max: 500 }), { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 0, max: 520 }),
        fc.boolean(),
        (lines, resumeAfter, encoded) => {
          const sorted = [...lines].sort((a, b) => a - b);
          const rows = sorted.filter((l) => l % 3 !== 0).map(row);
          const batch: Batch = {
            firstLine: sorted[0]!,
            lastLine: sorted.at(-1)!,
            rows: encoded ? [] : rows,
            rejected: sorted.filter((l) => l % 3 === 0).map((line) => ({ kind: 'rejected', line, errors: [{ line, reason: 'bad' }] })),
            ...(encoded ? { encoded: encodeCreates(rows, encoding, newUuidV7, new Date()) } : {}),
          };
          const rest = unwritten(batch, resumeAfter);
          // Part of an encoded batch is decoded: what the writer then gets is rows, as ever.
          if (rest !== undefined && rest !== batch) assert.equal(rest.encoded, undefined);
          const expected = sorted.filter((l) => l > resumeAfter);
          if (expected.length === 0) assert.equal(rest, undefined);
          else {
            const restRows = rest!.encoded === undefined ? rest!.rows.map((r) => r.line) : decodeCreates(rest!.encoded).map((u) => u.line);
            assert.deepEqual(
              [...restRows, ...rest!.rejected.map((r) => r.line)].sort((a, b) => a - b),
              expected,
            );
            assert.equal(rest!.lastLine, batch.lastLine);
          }
        },
      ),
    );
  });
});

describe('row errors of a batch', () => {
  it('are the rejected rows and the database findings in line order', () => {
    const batch: Batch = {
      firstLine: 1,
      lastLine: 5,
      rows: [row(2), row(4)],
      rejected: [{ kind: 'rejected', line: 5, errors: [{ line: 5, reason: 'x' }] }],
    };
    assert.deepEqual(
      batchErrors(batch, [{ line: 2, field: 'email', reason: 'taken' }]).map((e) => e.line),
      [2, 5],
    );
  });

  it('are kept up to the per-job cap, then only counted', () => {
    assert.equal(errorsToKeep(0, 5, 10), 5);
    assert.equal(errorsToKeep(8, 5, 10), 2);
    assert.equal(errorsToKeep(10, 5, 10), 0);
    assert.equal(errorsToKeep(12, 5, 10), 0);
  });
});
