import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValidationError } from '../../src/kit/errors.js';
import { NAME_MAX_CODE_POINTS, parseAttributes, parseEmail, parseNewUser, parseUserId, parseUserName } from '../../src/users/model.js';

describe('parseEmail', () => {
  const valid = [
    'a@b.co',
    'Ann.Lee+tag@Example.COM',
    "o'brien@example.org",
    'x@sub-domain.example.travel',
    `${'l'.repeat(64)}@example.com`,
  ];
  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['plain', /name@example.com/],
    ['@example.com', /name@example.com/],
    ['ann@', /name@example.com/],
    ['ann@localhost', /domain/],
    ['ann@-bad.com', /domain/],
    ['ann@bad-.com', /domain/],
    ['ann@exa mple.com', /domain/],
    ['ann..lee@example.com', /before the @/],
    ['.ann@example.com', /before the @/],
    ['"quoted"@example.com', /before the @/],
    ['ann@example.123', /numeric/],
    [`${'l'.repeat(65)}@example.com`, /at most 64/],
    [`a@${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.${'g'.repeat(60)}.${'h'.repeat(10)}.com`, /at most 254/],
    ['ann@exämple.com', /domain/],
  ];
  for (const email of valid) test(`accepts ${email.slice(0, 40)}`, () => assert.equal(parseEmail(email).ok, true));
  for (const [email, reason] of invalid) {
    test(`refuses ${JSON.stringify(email.slice(0, 40))}`, () => {
      const parsed = parseEmail(email);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) assert.match(parsed.message, reason);
    });
  }
  test('refuses non-strings', () => {
    for (const value of [null, 1, {}, [], undefined]) assert.equal(parseEmail(value).ok, false);
  });
  test('property: never throws; accepted emails respect RFC 5321 limits', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.emailAddress(), fc.anything()), (input) => {
        const parsed = parseEmail(input);
        if (parsed.ok) {
          assert.ok(parsed.value.length <= 254);
          assert.ok(parsed.value.slice(0, parsed.value.lastIndexOf('@')).length <= 64);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseUserName', () => {
  test('trims and NFC-normalises', () => {
    const parsed = parseUserName('  Zoe\u0301  ');
    assert.deepEqual(parsed, { ok: true, value: 'Zoé' });
  });
  test('counts code points, not UTF-16 units', () => {
    assert.equal(parseUserName('😀'.repeat(NAME_MAX_CODE_POINTS)).ok, true);
    assert.equal(parseUserName('😀'.repeat(NAME_MAX_CODE_POINTS + 1)).ok, false);
  });
  for (const [label, input] of [
    ['empty', ''],
    ['blank', '   \t '],
    ['control character', 'ann\u0000lee'],
    ['newline', 'ann\nlee'],
    ['line separator', 'ann\u2028lee'],
    ['lone surrogate', 'ann\ud800'],
    ['not a string', 42],
  ] as const) {
    test(`refuses ${label}`, () => assert.equal(parseUserName(input).ok, false));
  }
  test('property: never throws; accepted names are trimmed, NFC, bounded, control-free', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 260 }), fc.string({ unit: 'grapheme', maxLength: 260 }), fc.anything()),
        (input) => {
          const parsed = parseUserName(input);
          if (parsed.ok) {
            const name = parsed.value;
            assert.equal(name, name.trim());
            assert.equal(name, name.normalize('NFC'));
            assert.ok([...name].length >= 1 && [...name].length <= NAME_MAX_CODE_POINTS);
            assert.doesNotMatch(name, /\p{Cc}/u);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('parseAttributes', () => {
  test('accepts nested JSON up to four levels', () => {
    assert.equal(parseAttributes({ a: { b: { c: { d: 1 } } }, list: [1, { x: 'y' }] }).ok, true);
  });
  test('refuses deeper nesting, nested arrays, huge payloads, empty keys and non-objects', () => {
    assert.equal(parseAttributes({ a: { b: { c: { d: { e: 1 } } } } }).ok, false);
    assert.equal(parseAttributes({ a: [[1]] }).ok, false);
    assert.equal(parseAttributes({ a: 'x'.repeat(17 * 1024) }).ok, false);
    assert.equal(parseAttributes({ '': 1 }).ok, false);
    for (const value of [null, [], 'x', 1]) assert.equal(parseAttributes(value).ok, false);
  });
});

describe('parseUserId', () => {
  test('accepts lower-case UUIDv7 only', () => {
    assert.equal(parseUserId('01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21').ok, true);
    assert.equal(parseUserId('01933B5E-8D3A-7C4E-9A51-2F0D4C1B7E21').ok, false);
    assert.equal(parseUserId('01933b5e-8d3a-4c4e-9a51-2f0d4c1b7e21').ok, false, 'v4 is not an id we issue');
    assert.equal(parseUserId('1').ok, false);
  });
});

describe('parseNewUser', () => {
  test('reports every broken field together', () => {
    assert.throws(
      () => parseNewUser({ email: 'nope', name: '', attributes: [] }),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.deepEqual(
          error.errors.map((e) => e.pointer),
          ['/email', '/name', '/attributes'],
        );
        return true;
      },
    );
  });
  test('defaults attributes to an empty object', () => {
    assert.deepEqual(parseNewUser({ email: 'a@b.co', name: 'A' }).attributes, {});
  });
  test('property: throws nothing but ValidationError', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), (email, name, attributes) => {
        try {
          parseNewUser({ email, name, attributes });
        } catch (error) {
          assert.ok(error instanceof ValidationError, String(error));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
