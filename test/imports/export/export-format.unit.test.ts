import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import { csvCell, escapeFormula, unescapeFormula } from '../../../src/imports/read/csv-cells.js';
import { formatUsers, type ExportFormat, type ExportedUser } from '../../../src/imports/export/export-format.js';
import {
  PROVISIONING_DEFAULTS,
  parseAttributes,
  parseEmail,
  parseExternalId,
  parseUserName,
  type Attributes,
  type Email,
  type ExternalId,
  type Profile,
  type UserId,
  type UserName,
} from '../../../src/users/model.js';
import { validProfile } from '../../helpers/profiles.js';
import { checked, collect, piecesOf } from '../stages.js';

async function* of<T>(items: T[]) {
  for (const item of items) yield item;
}

async function exported(users: ExportedUser[], format: ExportFormat, chunkChars?: number): Promise<string> {
  return (await collect(formatUsers(format, chunkChars === undefined ? {} : { chunkChars })(of(users)))).join('');
}

const ann: ExportedUser = {
  id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21' as UserId,
  email: 'ann@example.com' as Email,
  name: '=HYPERLINK("http://evil", "click")' as UserName,
  attributes: { team: 'a, "b"', note: '+1 line\nbreak' } as unknown as Attributes,
  ...PROVISIONING_DEFAULTS,
};

const bea: ExportedUser = {
  id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e22' as UserId,
  email: 'bea@example.com' as Email,
  name: 'Bea Smith' as UserName,
  givenName: 'Bea' as UserName,
  familyName: 'Smith' as UserName,
  externalId: '=00uBEA' as ExternalId,
  active: false,
  attributes: {} as Attributes,
  profile: { title: 'CTO', emails: [{ value: 'bea@home.example', primary: true }] } as Profile,
};

const optionalName = fc.option(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((n) => parseUserName(n).ok),
  { nil: null },
);
const externalId = fc.option(
  fc
    .oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('=1+1', '-x', ' spaced ', 'CaseExact'))
    .filter((e) => parseExternalId(e).ok),
  { nil: null },
);

/** Users the API could hold: every field passed through the API's own parsers. */
const apiUser: fc.Arbitrary<ExportedUser> = fc
  .record({
    id: fc.uuid({ version: 7 }),
    email: fc.oneof(
      fc.emailAddress(),
      fc.tuple(fc.constantFrom('=', '+', '-', "'", "'=", "''+", '@'), fc.emailAddress()).map(([p, e]) => p + e),
      fc.emailAddress().map((e) => e.toUpperCase()),
    ),
    name: fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      fc.constantFrom(
        '=SUM(A1:A9)',
        '+33 1 23',
        '-minus',
        '@handle',
        "'=already escaped",
        "''@two",
        'Lee, Ann "Annie"',
        'Zoë Ünïcödé 😀',
        '\uFF1Dfullwidth',
      ),
    ),
    attributes: fc.dictionary(
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.oneof(
        fc.string({ maxLength: 20 }),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
        fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
      ),
      { maxKeys: 5 },
    ),
    givenName: optionalName,
    familyName: optionalName,
    externalId,
    active: fc.boolean(),
    profile: validProfile,
  })
  .filter(({ email, name, attributes }) => parseEmail(email).ok && parseUserName(name).ok && parseAttributes(attributes).ok)
  // The API's body parser refuses these keys, so no stored user has them.
  .filter(({ attributes }) => !/"(__proto__|constructor)"/.test(JSON.stringify(attributes)))
  .map(({ id, email, name, attributes, givenName, familyName, externalId, active, profile }) => {
    const parsed = parseUserName(name);
    const normal = (part: string | null) => (part === null ? null : (parseUserName(part) as { value: UserName }).value);
    return {
      id: id as UserId,
      email: email as Email,
      name: (parsed.ok ? parsed.value : name) as UserName,
      givenName: normal(givenName),
      familyName: normal(familyName),
      externalId: externalId as ExternalId | null,
      active,
      profile,
      // Stored attributes are plain JSON objects (fast-check makes null-prototype ones).
      attributes: JSON.parse(JSON.stringify(attributes)) as Attributes,
    };
  });

const usersOf = (items: Awaited<ReturnType<typeof checked>>) =>
  items.map((item) => {
    if (item.kind !== 'valid') assert.fail(JSON.stringify(item));
    return item.user;
  });

const HEADER = 'id,email,name,given_name,family_name,external_id,active,attributes,profile';

describe('formatUsers', () => {
  test('CSV: the import columns, RFC 4180 quoting, CRLF, formula cells escaped', async () => {
    const text = await exported([ann, bea], 'csv');
    assert.deepEqual(parse(text), [
      ['id', 'email', 'name', 'given_name', 'family_name', 'external_id', 'active', 'attributes', 'profile'],
      [ann.id, ann.email, `'${ann.name}`, '', '', '', 'true', JSON.stringify(ann.attributes), '{}'],
      [bea.id, bea.email, 'Bea Smith', 'Bea', 'Smith', "'=00uBEA", 'false', '{}', JSON.stringify(bea.profile)],
    ]);
    assert.ok(text.startsWith(`${HEADER}\r\n`));
    assert.ok(text.endsWith('\r\n'));
  });

  test('NDJSON: one object per line with the same keys, null for none', async () => {
    const text = await exported([ann, bea], 'ndjson');
    const snake = (u: ExportedUser) => ({
      id: u.id,
      email: u.email,
      name: u.name,
      given_name: u.givenName,
      family_name: u.familyName,
      external_id: u.externalId,
      active: u.active,
      attributes: u.attributes,
      profile: u.profile,
    });
    assert.deepEqual(
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
      [snake(ann), snake(bea)],
    );
  });

  test('an empty directory exports a header only (CSV) or nothing (NDJSON)', async () => {
    assert.equal(await exported([], 'csv'), `${HEADER}\r\n`);
    assert.equal(await exported([], 'ndjson'), '');
  });

  test('text comes in pieces of about chunkChars, not one per user', async () => {
    const pieces = await collect(formatUsers('ndjson', { chunkChars: 1000 })(of(Array(100).fill(ann) as ExportedUser[])));
    assert.ok(pieces.length > 5 && pieces.length < 30, `${pieces.length} pieces`);
    for (const piece of pieces.slice(0, -1)) assert.ok(piece.length >= 1000 && piece.length < 1200);
  });

  test('stops when its signal aborts', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await assert.rejects(collect(formatUsers('csv')(of([ann]), { signal: controller.signal })), /cancelled/);
  });
});

describe('round trip: export → import', () => {
  for (const format of ['csv', 'ndjson'] as const) {
    test(`property (${format}): any users the API could hold come back the same, whatever the cut`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(apiUser, { maxLength: 15 }), fc.integer({ min: 1, max: 200 }), async (users, size) => {
          const text = await exported(users, format, 50);
          const back = usersOf(await checked(piecesOf(text, size), format));
          assert.deepEqual(back, users);
        }),
        { numRuns: 250 },
      );
    });
  }
});

describe('csv-cells', () => {
  test('escapes what spreadsheets would run, and only that', () => {
    for (const text of ['=1+1', '+1', '-1', '@SUM(1)', '\tx', '\rx', '\uFF1Dx', "'=x", "''-x"])
      assert.equal(escapeFormula(text), `'${text}`);
    for (const text of ['', 'Ann', "'plain", "O'Brien", ' =x', 'a=b']) assert.equal(escapeFormula(text), text);
  });

  test('property: unescape undoes escape for every string; escaped text never starts a formula', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom("'", "''", "'=", '=', "'''@x")), (text) => {
        assert.equal(unescapeFormula(escapeFormula(text)), text);
        assert.doesNotMatch(escapeFormula(text), /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/);
      }),
      { numRuns: 3000 },
    );
  });

  test('property: a quoted cell reads back as itself through csv-parse', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme' }), { minLength: 1, maxLength: 5 }), (cells) => {
        const line = `${cells.map(csvCell).join(',')}\r\n`;
        if (cells.length === 1 && cells[0] === '') return; // an empty line is no record
        assert.deepEqual(parse(line, { record_delimiter: ['\r\n', '\n'], relax_column_count: true }), [cells]);
      }),
      { numRuns: 2000 },
    );
  });
});
