import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValidationError } from '../../../src/kit/errors.js';
import { parseColumnMap } from '../../../src/imports/read/columns.js';
import { ImportFileError } from '../../../src/imports/errors.js';
import type { ParseItem, ParsedRow, RejectedRow } from '../../../src/imports/read/rows.js';
import { bytes, chunks, flat, parsed, piecesOf } from '../stages.js';
import { parseCsv } from '../../../src/imports/read/parse-csv.js';
import { unescapeFormula } from '../../../src/imports/read/csv-cells.js';

function fileError(problem: ImportFileError['problem'], message?: RegExp, line?: number) {
  return (error: unknown) => {
    assert.ok(error instanceof ImportFileError, String(error));
    assert.equal(error.problem, problem);
    if (message) assert.match(error.message, message);
    if (line !== undefined) assert.equal(error.line, line);
    return true;
  };
}

const rows = (items: ParseItem[]) => items.filter((i): i is ParsedRow => i.kind === 'parsed');
const rejections = (items: ParseItem[]) => items.filter((i): i is RejectedRow => i.kind === 'rejected');

describe('parseCsv: the header', () => {
  test('reads the four fields in any order', async () => {
    const items = await parsed('name,attributes,email,id\nAnn,"{""a"":1}",ann@example.com,01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21\n', 'csv');
    assert.deepEqual(items, [
      {
        kind: 'parsed',
        line: 2,
        bytes: items[0]!.kind === 'parsed' ? items[0]!.bytes : 0,
        fields: { name: 'Ann', attributes: { a: 1 }, email: 'ann@example.com', id: '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21' },
        errors: [],
      },
    ]);
  });

  test('lists every problem of a bad header in one file error, before any row', async () => {
    await assert.rejects(
      parsed('email,email,nick,,phone\na@example.com,b@example.com,x,y,z\n', 'csv'),
      fileError(
        'header',
        /"email" appears more than once.*"nick" is not a known field.*column 4 has no name.*"phone".*required column name is missing/,
        1,
      ),
    );
  });

  test('a missing required column is a file error', async () => {
    await assert.rejects(parsed('email\na@example.com\n', 'csv'), fileError('header', /required column name is missing/));
    await assert.rejects(parsed('name,attributes\nAnn,\n', 'csv'), fileError('header', /required column email is missing/));
  });

  test('--map renames columns and --ignore-unknown skips the rest', async () => {
    const text = 'E-mail,Full name,phone\nann@example.com,Ann,555\n';
    await assert.rejects(parsed(text, 'csv', { map: { 'E-mail': 'email', 'Full name': 'name' } }), fileError('header', /"phone"/));
    const items = await parsed(text, 'csv', { map: { 'E-mail': 'email', 'Full name': 'name' }, ignoreUnknown: true });
    assert.deepEqual(rows(items)[0]!.fields, { email: 'ann@example.com', name: 'Ann' });
  });

  test('two columns read as one field, or a map naming an absent column, are file errors', async () => {
    await assert.rejects(
      parsed('mail,email,name\na,b,c\n', 'csv', { map: { mail: 'email' } }),
      fileError('header', /"mail" and "email" are both email/),
    );
    await assert.rejects(parsed('email,name\na,b\n', 'csv', { map: { Mail: 'email' } }), fileError('header', /--map names column "Mail"/));
  });

  test('an empty file is a file error; a header alone is zero rows', async () => {
    await assert.rejects(parsed('', 'csv'), fileError('header', /empty/));
    await assert.rejects(parsed('\n\n', 'csv'), fileError('header', /empty/));
    assert.deepEqual(await parsed('email,name\n', 'csv'), []);
    assert.deepEqual(await parsed('\uFEFFemail,name', 'csv'), []);
  });

  test('a header that is not UTF-8 is refused even past the first 64 KiB', async () => {
    const input = Buffer.concat([Buffer.from('\n'.repeat(70_000)), Buffer.from('em\xe1il,name\n', 'latin1')]);
    await assert.rejects(parsed(input, 'csv'), fileError('encoding', /header/, 70_001));
  });
});

describe('parseCsv: rows', () => {
  test('ragged rows are row errors and parsing goes on', async () => {
    const items = await parsed('email,name\na@example.com\nb@example.com,B,extra\nc@example.com,C\n', 'csv');
    assert.deepEqual(
      rejections(items).map((r) => [r.line, r.errors[0]!.reason]),
      [
        [2, 'has 1 field but the header has 2'],
        [3, 'has 3 fields but the header has 2'],
      ],
    );
    assert.deepEqual(
      rows(items).map((r) => r.line),
      [4],
    );
  });

  test('line numbers count physical lines: quoted newlines, CRLF, blank lines', async () => {
    const text = 'email,name\r\n"a@example.com","Ann\r\nLee"\r\n\r\nb@example.com,"B\nB\nB"\nc@example.com,C\r\n\nd@example.com,D';
    assert.deepEqual(
      (await parsed(text, 'csv')).map((i) => i.line),
      [2, 5, 8, 10],
    );
  });

  test('property: each record is numbered with the line it starts on, whatever the line ends and cuts', async () => {
    const cell = fc.oneof(fc.constantFrom('x', 'a,b', 'say "hi"', 'two\nlines', 'three\r\nli\nnes', '', ' '), fc.string({ maxLength: 8 }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(cell, cell, fc.nat({ max: 2 })), { maxLength: 25 }),
        fc.constantFrom('\n', '\r\n'),
        fc.integer({ min: 1, max: 64 }),
        async (records, eol, size) => {
          const quote = (v: string) => `"${v.replaceAll('"', '""')}"`;
          let text = `email,name${eol}`;
          let line = 2;
          const starts: number[] = [];
          const expected: [string, string][] = [];
          for (const [email, name, blanks] of records) {
            if (email === '' && name === '') continue;
            const clean = (v: string) => v.replaceAll('\u0000', '').replaceAll('\r', '');
            const [e, n] = [clean(email), clean(name)];
            const read = (v: string) => unescapeFormula(v);
            text += eol.repeat(blanks);
            line += blanks;
            starts.push(line);
            expected.push([read(e), read(n)]);
            text += `${quote(e)},${quote(n)}${eol}`;
            line += 1 + (e + n).split('\n').length - 1;
          }
          const items = await flat(parseCsv()(chunks(piecesOf(text, size))));
          assert.deepEqual(
            items.map((i) => i.line),
            starts,
          );
          assert.deepEqual(
            rows(items).map((r) => [r.fields.email, r.fields.name]),
            expected,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a NUL in a cell is a row error on that field', async () => {
    const items = await parsed('email,name\nann@example.com,A\u0000nn\n', 'csv');
    assert.deepEqual(rows(items)[0]!.errors, [{ line: 2, field: 'name', reason: 'contains a NUL character' }]);
    assert.equal(rows(items)[0]!.fields.name, undefined);
  });

  test('formula-like cells are data; one escaping apostrophe before a formula character is removed', async () => {
    const items = await parsed(
      'email,name\n=a@example.com,"=HYPERLINK(""x"")"\n\'=b@example.com,\'@SUM(1)\nc@example.com,\'plain\n',
      'csv',
    );
    assert.deepEqual(
      rows(items).map((r) => [r.fields.email, r.fields.name]),
      [
        ['=a@example.com', '=HYPERLINK("x")'],
        ['=b@example.com', '@SUM(1)'],
        ['c@example.com', "'plain"],
      ],
    );
  });

  test('attributes are a JSON cell: empty means none; not JSON or prototype keys are field errors', async () => {
    const items = await parsed(
      'email,name,attributes\na@example.com,A,\nb@example.com,B,"{""x"":[1,2]}"\nc@example.com,C,{oops\nd@example.com,D,"{""__proto__"":{""admin"":true}}"\n',
      'csv',
    );
    const [a, b, c, d] = rows(items);
    assert.deepEqual(a!.fields, { email: 'a@example.com', name: 'A' });
    assert.deepEqual(b!.fields.attributes, { x: [1, 2] });
    assert.equal(c!.errors[0]!.field, 'attributes');
    assert.match(c!.errors[0]!.reason, /^is not valid JSON/);
    assert.doesNotMatch(c!.errors[0]!.reason, /oops/, 'the reason must not echo the cell');
    assert.match(d!.errors[0]!.reason, /__proto__/);
    assert.equal(Object.getPrototypeOf(d!.fields), Object.prototype);
  });

  test('an empty id cell means no id', async () => {
    const items = await parsed('id,email,name\n,a@example.com,A\n', 'csv');
    assert.deepEqual(rows(items)[0]!.fields, { email: 'a@example.com', name: 'A' });
  });

  test('a row with bytes that are not UTF-8 (past the first 64 KiB) is rejected, multi-line records included', async () => {
    const head = 'email,name\n' + 'a@example.com,A\n'.repeat(5000);
    const input = Buffer.concat([
      Buffer.from(head),
      Buffer.from('b@example.com,"B\nJos\xe9"\n', 'latin1'),
      Buffer.from('c@example.com,C\n'),
    ]);
    const items = await parsed(input, 'csv');
    assert.deepEqual(rejections(items), [
      { kind: 'rejected', line: 5002, errors: [{ line: 5002, reason: 'has bytes that are not UTF-8' }] },
    ]);
    assert.equal(items.at(-1)!.line, 5004);
    assert.equal(rows(items).length, 5001);
  });
});

describe('parseCsv: file errors', () => {
  test('a quote inside an unquoted field stops the file with its line', async () => {
    await assert.rejects(
      parsed('email,name\nann@example.com,Ann\nbob@example.com,Bob "the" Builder\n', 'csv'),
      fileError('syntax', /quote inside an unquoted field/, 3),
    );
  });

  test('text after a closing quote, or a quote never closed, stops the file', async () => {
    await assert.rejects(parsed('email,name\n"a@example.com"x,A\n', 'csv'), fileError('syntax', /closing quote/, 2));
    await assert.rejects(parsed('email,name\na@example.com,"Ann\nb@example.com,B\n', 'csv'), fileError('syntax', /never closed/));
  });

  test('a record longer than the cap across lines stops the file', async () => {
    const text = `email,name\na@example.com,"${'x\n'.repeat(3000)}"\n`;
    await assert.rejects(parsed(text, 'csv', { maxRecordChars: 4096 }), fileError('too-long', /longer than 4096 characters/));
  });

  test('rows before a file error are handed on first', async () => {
    const seen: number[] = [];
    const text = 'email,name\n' + 'a@example.com,A\n'.repeat(3000) + 'b@example.com,B"\n';
    await assert.rejects(async () => {
      for await (const items of parseCsv()(chunks(bytes(text)))) seen.push(...items.map((i) => i.line));
    }, fileError('syntax'));
    assert.ok(seen.length > 0 && seen.every((line, i) => line === i + 2));
  });
});

describe('parseColumnMap', () => {
  test('parses column=field, with = allowed in the column', () => {
    assert.deepEqual({ ...parseColumnMap(['E-mail=email', 'a=b=name']) }, { 'E-mail': 'email', 'a=b': 'name' });
  });
  test('reports every bad entry by index', () => {
    assert.throws(
      () => parseColumnMap(['nope', 'x=phone', 'a=email', 'a=name', '=email']),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.deepEqual(
          error.errors.map((e) => e.pointer),
          ['/map/0', '/map/1', '/map/3', '/map/4'],
        );
        return true;
      },
    );
  });
  test('a column named __proto__ is just a name', () => {
    const map = parseColumnMap(['__proto__=email']);
    assert.equal(Object.hasOwn(map, '__proto__'), true);
    assert.equal(({} as Record<string, unknown>)['email'], undefined);
  });
});
