import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValidationError } from '../../../src/kit/errors.js';
import { PROVISIONING_DEFAULTS, parseNewUser } from '../../../src/users/model.js';
import { NO_ERRORS, type ParsedRow, type RowError } from '../../../src/imports/read/rows.js';
import { validateRow } from '../../../src/imports/read/validate.js';

const row = (fields: ParsedRow['fields'], errors: readonly RowError[] = NO_ERRORS): ParsedRow => ({
  kind: 'parsed',
  line: 7,
  bytes: 10,
  fields,
  errors,
});
const ID_V7 = '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21';

describe('validateRow', () => {
  test('a valid row becomes a normalised user, as the API would store it', () => {
    assert.deepEqual(validateRow(row({ email: 'Ann@Example.com', name: '  Zoe\u0301  ', attributes: { a: 1 }, id: ID_V7 })), {
      kind: 'valid',
      line: 7,
      bytes: 10,
      user: { email: 'Ann@Example.com', name: 'Zoé', attributes: { a: 1 }, id: ID_V7, ...PROVISIONING_DEFAULTS },
      maybeDuplicate: false,
    });
  });

  test('attributes default to {}, the provisioning fields to theirs, and there is no id unless given', () => {
    const result = validateRow(row({ email: 'a@example.com', name: 'A' }));
    assert.equal(result.kind, 'valid');
    if (result.kind === 'valid')
      assert.deepEqual(result.user, { email: 'a@example.com', name: 'A', attributes: {}, ...PROVISIONING_DEFAULTS });
  });

  test('rows without attributes or a profile share one frozen empty object each: nothing per row for the GC to collect', () => {
    const [first, second] = [
      validateRow(row({ email: 'a@example.com', name: 'A' })),
      validateRow(row({ email: 'b@example.com', name: 'B' })),
    ];
    assert.ok(first.kind === 'valid' && second.kind === 'valid');
    assert.equal(first.user.attributes, second.user.attributes);
    assert.equal(first.user.profile, second.user.profile);
    assert.ok(Object.isFrozen(first.user.attributes) && Object.isFrozen(first.user.profile));
    const given = validateRow(row({ email: 'c@example.com', name: 'C', attributes: { a: 1 } }));
    assert.ok(given.kind === 'valid');
    assert.notEqual(given.user.attributes, first.user.attributes);
  });

  test('the provisioning fields are read by the API rules: names normalised, external id exact', () => {
    const result = validateRow(
      row({
        email: 'a@example.com',
        name: 'A',
        given_name: ' Zoe\u0301 ',
        family_name: 'Lee',
        external_id: ' 00uX ',
        active: false,
        profile: { title: 'CTO', emails: [{ value: 'a@home.example' }] },
      }),
    );
    assert.equal(result.kind, 'valid');
    if (result.kind !== 'valid') return;
    assert.equal(result.user.givenName, 'Zoé');
    assert.equal(result.user.familyName, 'Lee');
    assert.equal(result.user.externalId, ' 00uX ');
    assert.equal(result.user.active, false);
    assert.deepEqual(result.user.profile, { title: 'CTO', emails: [{ value: 'a@home.example' }] });
  });

  test('bad provisioning fields are reported under their field, a profile problem with its path', () => {
    const result = validateRow(
      row({ email: 'a@example.com', name: 'A', active: 'yes', external_id: '', given_name: '', profile: { emails: [{ type: 'work' }] } }),
    );
    assert.equal(result.kind, 'rejected');
    assert.deepEqual(result.kind === 'rejected' ? result.errors.map((e) => e.field) : [], [
      'active',
      'external_id',
      'given_name',
      'profile/emails/0/value',
    ]);
  });

  test('every broken field of the row is reported, not just the first', () => {
    const result = validateRow(row({ email: 'nope', name: '', attributes: [], id: 'emp-42' }));
    assert.equal(result.kind, 'rejected');
    assert.deepEqual(result.kind === 'rejected' ? result.errors.map((e) => [e.line, e.field]) : [], [
      [7, 'email'],
      [7, 'name'],
      [7, 'attributes'],
      [7, 'id'],
    ]);
  });

  test('the parser’s own field errors come first and are not repeated', () => {
    const result = validateRow(row({ email: 'a@example.com' }, [{ line: 7, field: 'name', reason: 'contains a NUL character' }]));
    assert.deepEqual(result.kind === 'rejected' ? result.errors : [], [{ line: 7, field: 'name', reason: 'contains a NUL character' }]);
  });

  test('ids must be lower-case UUIDv7 strings, like the ids Roster issues', () => {
    for (const id of ['01933b5e-8d3a-4c4e-9a51-2f0d4c1b7e21', ID_V7.toUpperCase(), 42, '']) {
      const result = validateRow(row({ email: 'a@example.com', name: 'A', id }));
      assert.equal(result.kind, 'rejected', String(id));
      if (result.kind === 'rejected') assert.equal(result.errors[0]!.field, 'id');
    }
  });

  test('property: a row is accepted exactly when the API’s parseNewUser accepts it, with the same value', () => {
    const text = fc.oneof(fc.string({ maxLength: 30 }), fc.emailAddress(), fc.constantFrom('=SUM(A1)', ' Ann ', 'Zoë', 'a\u0000b'));
    fc.assert(
      fc.property(
        text,
        text,
        fc.option(fc.oneof(fc.object({ maxDepth: 2 }), fc.anything()), { nil: undefined }),
        (email, name, attributes) => {
          const fields = attributes === undefined ? { email, name } : { email, name, attributes };
          let expected: unknown;
          try {
            expected = parseNewUser(fields);
          } catch (error) {
            assert.ok(error instanceof ValidationError);
            expected = undefined;
          }
          const result = validateRow(row(fields));
          if (expected === undefined) assert.equal(result.kind, 'rejected');
          else assert.deepEqual(result.kind === 'valid' ? result.user : undefined, expected);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
