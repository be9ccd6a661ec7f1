import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InvalidFilterError } from '../../src/scim/errors.js';
import type { AttrPath, Filter, Literal } from '../../src/scim/filter/ast.js';
import { COMPARE_OPS } from '../../src/scim/filter/ast.js';
import { MAX_FILTER_LENGTH } from '../../src/scim/filter/lexer.js';
import { MAX_FILTER_DEPTH, parseFilter, parsePatchPath } from '../../src/scim/filter/parse.js';
import { planGroupFilter, planUserFilter } from '../../src/scim/filter/plan.js';
import { printFilter, printPatchPath } from '../../src/scim/filter/print.js';
import { hostileParameters, nastyUnit } from '../helpers/hostile.js';

const cmp = (name: string, op: string, value: Literal, extra: Partial<AttrPath> = {}): Filter => ({
  kind: 'compare',
  path: { name, ...extra },
  op: op as never,
  value,
});

describe('parseFilter: the RFC 7644 §3.4.2.2 examples', () => {
  const examples: [string, Filter][] = [
    ['userName Eq "john"', cmp('userName', 'eq', 'john')],
    ['name.familyName co "O\'Malley"', cmp('name', 'co', "O'Malley", { sub: 'familyName' })],
    [
      'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
      cmp('userName', 'sw', 'J', { uri: 'urn:ietf:params:scim:schemas:core:2.0:User' }),
    ],
    ['title pr', { kind: 'present', path: { name: 'title' } }],
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', cmp('meta', 'gt', '2011-05-13T04:42:34Z', { sub: 'lastModified' })],
    [
      'title pr and userType eq "Employee"',
      { kind: 'and', left: { kind: 'present', path: { name: 'title' } }, right: cmp('userType', 'eq', 'Employee') },
    ],
    [
      'title pr or userType eq "Intern"',
      { kind: 'or', left: { kind: 'present', path: { name: 'title' } }, right: cmp('userType', 'eq', 'Intern') },
    ],
    [
      'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
      {
        kind: 'and',
        left: cmp('userType', 'eq', 'Employee'),
        right: { kind: 'or', left: cmp('emails', 'co', 'example.com'), right: cmp('emails', 'co', 'example.org', { sub: 'value' }) },
      },
    ],
    [
      'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
      {
        kind: 'and',
        left: cmp('userType', 'ne', 'Employee'),
        right: {
          kind: 'not',
          filter: { kind: 'or', left: cmp('emails', 'co', 'example.com'), right: cmp('emails', 'co', 'example.org', { sub: 'value' }) },
        },
      },
    ],
    [
      'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
      {
        kind: 'or',
        left: {
          kind: 'valuePath',
          path: { name: 'emails' },
          filter: { kind: 'and', left: cmp('type', 'eq', 'work'), right: cmp('value', 'co', '@example.com') },
        },
        right: {
          kind: 'valuePath',
          path: { name: 'ims' },
          filter: { kind: 'and', left: cmp('type', 'eq', 'xmpp'), right: cmp('value', 'co', '@foo.com') },
        },
      },
    ],
    [
      'a eq 1 OR b eq 2 AND c eq 3',
      { kind: 'or', left: cmp('a', 'eq', 1), right: { kind: 'and', left: cmp('b', 'eq', 2), right: cmp('c', 'eq', 3) } },
    ],
    ['active eq True', cmp('active', 'eq', true)],
    ['x eq null', cmp('x', 'eq', null)],
    ['x le -1.5e3', cmp('x', 'le', -1500)],
    ['x eq "tab\\tquote\\"\\u00e9"', cmp('x', 'eq', 'tab\tquote"é')],
    ['((a pr))', { kind: 'present', path: { name: 'a' } }],
    ['not(a pr)', { kind: 'not', filter: { kind: 'present', path: { name: 'a' } } }],
  ];
  for (const [text, ast] of examples) {
    test(text, () => assert.deepStrictEqual(parseFilter(text), ast));
  }

  for (const bad of [
    '',
    '   ',
    'userName',
    'userName eq',
    'userName xx "a"',
    'userName eq john',
    '(a pr',
    'a pr)',
    'a pr and',
    'emails[type eq "w"',
    'emails[a[b pr]]',
    'x eq "unterminated',
    'x eq "\u0001"',
    'x eq 1e999',
    'a pr b pr',
    'name.a.b pr',
    'emails.value[type pr]',
    '1abc pr',
    'a eq "x" ]',
  ]) {
    test(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseFilter(bad), InvalidFilterError));
  }

  test(`refuses more than ${MAX_FILTER_LENGTH} characters and more than ${MAX_FILTER_DEPTH} levels`, () => {
    assert.throws(() => parseFilter(`x eq "${'a'.repeat(MAX_FILTER_LENGTH)}"`), InvalidFilterError);
    const nested = (depth: number) => `${'('.repeat(depth)}a pr${')'.repeat(depth)}`;
    assert.deepStrictEqual(parseFilter(nested(MAX_FILTER_DEPTH)), { kind: 'present', path: { name: 'a' } });
    assert.throws(() => parseFilter(nested(MAX_FILTER_DEPTH + 1)), InvalidFilterError);
    assert.throws(() => parseFilter(`${'not ('.repeat(MAX_FILTER_DEPTH + 1)}a pr${')'.repeat(MAX_FILTER_DEPTH + 1)}`), InvalidFilterError);
  });

  test('PATCH paths', () => {
    assert.deepStrictEqual(parsePatchPath('emails[type eq "work"].value'), {
      kind: 'valuePath',
      path: { name: 'emails' },
      filter: cmp('type', 'eq', 'work'),
      sub: 'value',
    });
    assert.deepStrictEqual(parsePatchPath('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager'), {
      kind: 'attr',
      path: { uri: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', name: 'manager' },
    });
    assert.equal(printPatchPath(parsePatchPath('members[value eq "2819c223"]')), 'members[value eq "2819c223"]');
    assert.throws(() => parsePatchPath('emails[type eq "work"].'), InvalidFilterError);
  });
});

// ---- properties ----------------------------------------------------------------------------

const NAME = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,7}$/);
const URI = fc.constantFrom(
  'urn:ietf:params:scim:schemas:core:2.0:User',
  'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  'urn:x',
);
const attrPath = (withSub: boolean): fc.Arbitrary<AttrPath> =>
  fc
    .record({ uri: URI, name: NAME, sub: withSub ? NAME : fc.constant(undefined) }, { requiredKeys: ['name'] })
    .map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as unknown as AttrPath);
const literal: fc.Arbitrary<Literal> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (n === 0 ? 0 : n)),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);

function filterArbitrary(allowValuePath: boolean): fc.Arbitrary<Filter> {
  return fc.letrec<{ filter: Filter }>((tie) => ({
    filter: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({ kind: fc.constant('compare' as const), path: attrPath(true), op: fc.constantFrom(...COMPARE_OPS), value: literal }),
      fc.record({ kind: fc.constant('present' as const), path: attrPath(true) }),
      fc.record({ kind: fc.constantFrom('and' as const, 'or' as const), left: tie('filter'), right: tie('filter') }),
      fc.record({ kind: fc.constant('not' as const), filter: tie('filter') }),
      ...(allowValuePath
        ? [fc.record({ kind: fc.constant('valuePath' as const), path: attrPath(false), filter: filterArbitrary(false) })]
        : []),
    ),
  })).filter;
}

/** Filter-shaped noise: the grammar's own pieces shuffled, with hostile characters between. */
const filterish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '(',
        ')',
        '[',
        ']',
        ' ',
        '"',
        '\\',
        '.',
        ':',
        'and',
        'or',
        'not',
        'pr',
        'eq',
        'EQ',
        'true',
        'null',
        '-1e5',
        'emails',
        'userName',
        'urn:a:b',
      ),
      nastyUnit,
      fc.string({ unit: 'binary', maxLength: 4 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(' '));

describe('parseFilter: properties', () => {
  test('parse(print(ast)) is the AST', () => {
    fc.assert(
      fc.property(filterArbitrary(true), (generated) => {
        // fast-check's records have no prototype; the parser's objects are plain ones.
        const ast = JSON.parse(JSON.stringify(generated)) as Filter;
        assert.deepStrictEqual(parseFilter(printFilter(ast)), ast);
      }),
      { ...hostileParameters, numRuns: 1000 },
    );
  });

  test('any string either parses or is InvalidFilterError, and what parses prints back to itself', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), filterish), (text) => {
        let ast: Filter;
        try {
          ast = parseFilter(text);
        } catch (error) {
          assert.ok(error instanceof InvalidFilterError, String(error));
          return;
        }
        assert.deepStrictEqual(parseFilter(printFilter(ast)), ast);
      }),
      { ...hostileParameters, numRuns: 2000 },
    );
  });

  test('the planner refuses with InvalidFilterError or plans, never anything else', () => {
    fc.assert(
      fc.property(filterArbitrary(true), (ast) => {
        for (const plan of [planUserFilter, planGroupFilter]) {
          try {
            plan(ast);
          } catch (error) {
            assert.ok(error instanceof InvalidFilterError, String(error));
          }
        }
      }),
      hostileParameters,
    );
  });
});

describe('planner', () => {
  const user = (text: string) => planUserFilter(parseFilter(text));
  const group = (text: string) => planGroupFilter(parseFilter(text));

  test('the filters providers send become indexed lookups', () => {
    assert.deepStrictEqual(user('userName eq "A@x.io"'), { kind: 'query', query: { email: 'A@x.io' } });
    assert.deepStrictEqual(user('USERNAME EQ "a@x.io" and externalId eq "e1"'), {
      kind: 'query',
      query: { email: 'a@x.io', external_id: 'e1' },
    });
    assert.deepStrictEqual(user('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a@x.io"'), {
      kind: 'query',
      query: { email: 'a@x.io' },
    });
    assert.deepStrictEqual(user('emails eq "a@x.io"'), { kind: 'query', query: { email: 'a@x.io' } });
    assert.deepStrictEqual(user('emails.value eq "a@x.io"'), { kind: 'query', query: { email: 'a@x.io' } });
    assert.deepStrictEqual(user('emails[value eq "a@x.io"]'), { kind: 'query', query: { email: 'a@x.io' } });
    assert.deepStrictEqual(user('id eq "u1"'), { kind: 'query', query: { id: 'u1' } });
    assert.deepStrictEqual(user('externalId eq "e1" and meta.lastModified gt "2024-01-01T00:00:00Z"'), {
      kind: 'query',
      query: { external_id: 'e1', modified_after: { at: '2024-01-01T00:00:00.000Z', inclusive: false } },
    });
    assert.deepStrictEqual(group('displayName eq "Admins"'), { kind: 'query', query: { display_name: 'Admins' } });
    assert.deepStrictEqual(group('externalId eq "g" and members[value eq "u1"]'), {
      kind: 'query',
      query: { external_id: 'g', member: 'u1' },
    });
  });

  test('contradictions match nothing; repeats of one value are one term', () => {
    assert.deepStrictEqual(user('userName eq "a@x.io" and userName eq "b@x.io"'), { kind: 'none' });
    assert.deepStrictEqual(user('userName eq "a@x.io" and userName eq "A@X.IO"'), { kind: 'query', query: { email: 'a@x.io' } });
    assert.deepStrictEqual(user('externalId eq "a" and externalId eq "A"'), { kind: 'none' });
  });

  for (const refused of [
    'userName ne "a"',
    'userName sw "a"',
    'userName eq "a" or userName eq "b"',
    'not (userName eq "a")',
    'title eq "x"',
    'userName pr',
    'userName eq 1',
    'emails[type eq "work"]',
    'displayName eq "x"',
    'meta.lastModified lt "2024-01-01T00:00:00Z"',
    'meta.lastModified gt "yesterday"',
    // No index on updated_at: alone it would scan every user.
    'meta.lastModified gt "2024-01-01T00:00:00Z"',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x"',
  ]) {
    test(`refuses ${refused} (users) as invalidFilter`, () => assert.throws(() => user(refused), InvalidFilterError));
  }
  test('refuses userName on groups', () => assert.throws(() => group('userName eq "a"'), InvalidFilterError));
});
