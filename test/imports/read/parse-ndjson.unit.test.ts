import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ParseItem, ParsedRow, RejectedRow } from '../../../src/imports/read/rows.js';
import { parseNdjson } from '../../../src/imports/read/parse-ndjson.js';
import { chunks, flat, parsed, piecesOf } from '../stages.js';

const rows = (items: ParseItem[]) => items.filter((i): i is ParsedRow => i.kind === 'parsed');
const rejections = (items: ParseItem[]) => items.filter((i): i is RejectedRow => i.kind === 'rejected');

describe('parseNdjson', () => {
  test('one object per line; blank lines skipped; line numbers kept; CRLF accepted', async () => {
    const text = '{"email":"a@example.com","name":"A"}\r\n\r\n   \n{"email":"b@example.com","name":"B","attributes":{"k":[1]}}\n';
    const items = await parsed(text, 'ndjson');
    assert.deepEqual(
      items.map((i) => i.line),
      [1, 4],
    );
    assert.deepEqual(rows(items)[1]!.fields, { email: 'b@example.com', name: 'B', attributes: { k: [1] } });
  });

  test('an empty file, or one of blank lines, is zero rows', async () => {
    assert.deepEqual(await parsed('', 'ndjson'), []);
    assert.deepEqual(await parsed('\n \r\n\n', 'ndjson'), []);
  });

  test('a line that is not JSON is a row error that does not echo the line, and parsing goes on', async () => {
    const items = await parsed('{"email":"a@example.com",\n=cmd|calc\n{"email":"b@example.com","name":"B"}\n', 'ndjson');
    assert.deepEqual(
      rejections(items).map((r) => r.line),
      [1, 2],
    );
    for (const r of rejections(items)) {
      assert.match(r.errors[0]!.reason, /^is not valid JSON/);
      assert.doesNotMatch(r.errors[0]!.reason, /cmd|email/);
    }
    assert.equal(rows(items)[0]!.line, 3);
  });

  test('values that are not objects are row errors', async () => {
    const items = await parsed('[1,2]\n"text"\nnull\n42\n', 'ndjson');
    assert.deepEqual(
      rejections(items).map((r) => r.errors[0]!.reason),
      Array(4).fill('must be a JSON object'),
    );
  });

  test('prototype-poisoning keys are refused anywhere in the line', async () => {
    const items = await parsed(
      '{"email":"a@example.com","name":"A","__proto__":{"admin":true}}\n{"email":"b@example.com","name":"B","attributes":{"constructor":{"prototype":{"x":1}}}}\n',
      'ndjson',
    );
    assert.equal(rejections(items).length, 2);
    for (const r of rejections(items)) assert.match(r.errors[0]!.reason, /__proto__/);
    assert.equal(({} as Record<string, unknown>)['admin'], undefined);
  });

  test('unknown keys are field errors unless mapped or ignored', async () => {
    const line = '{"mail":"a@example.com","name":"A","phone":"555"}\n';
    assert.deepEqual(
      rows(await parsed(line, 'ndjson'))[0]!.errors.map((e) => e.field),
      ['mail', 'phone'],
    );
    const mapped = rows(await parsed(line, 'ndjson', { map: { mail: 'email' }, ignoreUnknown: true }))[0]!;
    assert.deepEqual(mapped.errors, []);
    assert.deepEqual(mapped.fields, { email: 'a@example.com', name: 'A' });
  });

  test('a field given twice through --map is a field error', async () => {
    const row = rows(
      await parsed('{"mail":"a@example.com","email":"b@example.com","name":"A"}\n', 'ndjson', { map: { mail: 'email' } }),
    )[0]!;
    assert.deepEqual(row.errors, [{ line: 1, field: 'email', reason: 'is given twice, as "mail" and "email"' }]);
  });

  test('null id and attributes mean absent; other values are kept for validation', async () => {
    const row = rows(
      await parsed('{"id":null,"email":"a@example.com","name":"A","attributes":null}\n{"id":5,"email":1,"name":null}\n', 'ndjson'),
    );
    assert.deepEqual(row[0]!.fields, { email: 'a@example.com', name: 'A' });
    assert.deepEqual(row[1]!.fields, { id: 5, email: 1, name: null });
  });

  test('a line with bytes that are not UTF-8 (past the first 64 KiB) is rejected', async () => {
    const head = '{"email":"a@example.com","name":"A"}\n'.repeat(2000);
    const input = Buffer.concat([
      Buffer.from(head),
      Buffer.from('{"email":"b@example.com","name":"Jos\xe9"}\n', 'latin1'),
      Buffer.from('{}\n'),
    ]);
    const items = await parsed(input, 'ndjson');
    assert.deepEqual(rejections(items), [
      { kind: 'rejected', line: 2001, errors: [{ line: 2001, reason: 'has bytes that are not UTF-8' }] },
    ]);
    assert.equal(items.at(-1)!.line, 2002);
  });

  test('property: any cut of the file gives the same rows with the same line numbers', async () => {
    const value = fc.dictionary(
      fc.constantFrom('email', 'name', 'attributes'),
      fc.oneof(fc.string(), fc.integer(), fc.constant({ a: 'b' })),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            value.map((v) => JSON.stringify(v)),
            fc.constantFrom('', ' ', '{bad'),
          ),
          { maxLength: 30 },
        ),
        fc.integer({ min: 1, max: 40 }),
        async (lines, size) => {
          const text = lines.join('\n');
          const whole = await flat(parseNdjson()(chunks(piecesOf(text, text.length || 1))));
          const cut = await flat(parseNdjson()(chunks(piecesOf(text, size))));
          assert.deepEqual(cut, whole);
          const expected = lines.flatMap((l, i) => (l.trim() === '' ? [] : [i + 1]));
          assert.deepEqual(
            whole.map((i) => i.line),
            expected,
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
