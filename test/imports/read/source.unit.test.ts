import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ImportFileError } from '../../../src/imports/errors.js';
import { readSource, type SourceChunk } from '../../../src/imports/read/source.js';
import { bytes, chunks, collect, piecesOf } from '../stages.js';

function isFileError(problem: ImportFileError['problem'], line?: number, message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ImportFileError, String(error));
    assert.equal(error.code, 'invalid-import-file');
    assert.equal(error.problem, problem);
    if (line !== undefined) assert.equal(error.line, line);
    if (message) assert.match(error.message, message);
    return true;
  };
}

const joined = (out: SourceChunk[]) => Buffer.concat(out.map((c) => c.bytes)).toString();

describe('readSource: encodings', () => {
  test('passes UTF-8 through and drops a UTF-8 byte order mark', async () => {
    const out = await collect(chunks(bytes('\uFEFFemail,name\nzoë@example.com,Zoë\n')));
    assert.equal(joined(out), 'email,name\nzoë@example.com,Zoë\n');
  });

  for (const [label, input, message] of [
    ['UTF-16 LE with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('email,name\n', 'utf16le')]), /UTF-16/],
    ['UTF-16 BE with BOM', Buffer.from([0xfe, 0xff, 0x00, 0x65, 0x00, 0x6d]), /UTF-16/],
    ['UTF-16 LE without BOM', Buffer.from('email,name\nann@example.com,Ann\n', 'utf16le'), /UTF-16 without a byte order mark/],
    ['gzip', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00]), /gzip/],
    ['a ZIP (xlsx) file', Buffer.from('PK\u0003\u0004rest of the zip', 'latin1'), /ZIP/],
    ['CR-only line ends', Buffer.from('email,name\rann@example.com,Ann\r'), /CR alone/],
  ] as const) {
    test(`refuses ${label} before handing on anything`, async () => {
      const seen: SourceChunk[] = [];
      await assert.rejects(
        async () => {
          for await (const chunk of chunks(bytes(input))) seen.push(chunk);
        },
        isFileError('encoding', undefined, message),
      );
      assert.equal(seen.length, 0);
    });
  }

  test('refuses Latin-1 bytes in the first 64 KiB, naming the line', async () => {
    const latin1 = Buffer.from('email,name\nann@example.com,Ann\nzoe@example.com,Zo\u00eb\n', 'latin1');
    await assert.rejects(collect(chunks(bytes(latin1))), isFileError('encoding', 3, /not UTF-8 \(invalid bytes near byte 50\)/));
  });

  test('a UTF-8 sequence cut between two input pieces is fine', async () => {
    const text = 'email,name\nzoe@example.com,Zoë 😀\n';
    for (let size = 1; size <= 8; size++) assert.equal(joined(await collect(chunks(piecesOf(text, size)))), text);
  });

  test('invalid bytes past the first 64 KiB are reported per line, not fatal', async () => {
    const head = 'email,name\n' + 'a@example.com,A\n'.repeat(5000);
    const headLines = head.split('\n').length - 1;
    const input = Buffer.concat([Buffer.from(head), Buffer.from('b@example.com,B\xe9\n', 'latin1'), Buffer.from('c@example.com,C\n')]);
    const out = await collect(chunks(bytes(input)));
    assert.deepEqual(
      out.flatMap((c) => c.invalidLines),
      [headLines + 1],
    );
  });

  test('a few NUL bytes are left to the rows that hold them', async () => {
    const text = 'email,name\nann@example.com,A\u0000nn\n' + 'b@example.com,B\n'.repeat(3);
    assert.equal(joined(await collect(chunks(bytes(text)))), text);
  });
});

describe('readSource: line alignment and limits', () => {
  test('chunks hold whole lines and know their first line number', async () => {
    const text = Array.from({ length: 20_000 }, (_, i) => `line ${i + 1}`).join('\n') + '\nno newline at the end';
    const out = await collect(chunks(piecesOf(text, 777)));
    assert.equal(joined(out), text);
    for (const chunk of out.slice(0, -1)) assert.equal(chunk.bytes.at(-1), 0x0a);
    for (const chunk of out) {
      const first = chunk.bytes.toString().split('\n')[0]!;
      if (first !== 'no newline at the end') assert.equal(first, `line ${chunk.firstLine}`);
    }
  });

  test('property: any cut of the input gives the same lines, aligned', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !s.includes('\r') && !s.includes('\u0000')),
          { maxLength: 40 },
        ),
        fc.integer({ min: 1, max: 50 }),
        async (lines, size) => {
          const text = lines.join('\n');
          const out = await collect(chunks(piecesOf(text, size)));
          assert.equal(joined(out), text.replace(/^\uFEFF/, ''));
          let expected = 1;
          for (const chunk of out) {
            assert.equal(chunk.firstLine, expected);
            expected += chunk.bytes.toString().split('\n').length - 1;
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a 10 MB single line is refused after reading little more than the cap', async () => {
    let pulled = 0;
    async function* tenMegabytes() {
      yield Buffer.from('email,name\n');
      for (let i = 0; i < 160; i++) {
        pulled += 64 * 1024;
        yield Buffer.alloc(64 * 1024, 0x78);
      }
    }
    await assert.rejects(collect(chunks(tenMegabytes())), isFileError('too-long', 2, /longer than 1048576 bytes/));
    assert.ok(pulled <= 1024 * 1024 + 2 * 64 * 1024, `read ${pulled} bytes before refusing`);
  });

  test('the cap applies inside one big piece as well', async () => {
    const text = `email,name\n${'x'.repeat(5000)}\nshort\n`;
    await assert.rejects(collect(chunks(bytes(text), { maxLineBytes: 4096 })), isFileError('too-long', 2));
    assert.equal((await collect(chunks(bytes(text), { maxLineBytes: 5000 }))).length > 0, true);
  });

  test('counts every byte read, BOM included', async () => {
    const counters = { bytes: 0 };
    await collect(chunks(piecesOf('\uFEFFemail,name\nann@example.com,Ann\n', 5), { counters }));
    assert.equal(counters.bytes, 3 + 'email,name\nann@example.com,Ann\n'.length);
  });

  test('an empty input yields nothing', async () => {
    assert.deepEqual(await collect(chunks(bytes())), []);
    assert.deepEqual(await collect(chunks(bytes('\uFEFF'))), []);
  });

  test('refuses text chunks (a stream with an encoding set)', async () => {
    async function* text() {
      yield 'email,name\n' as unknown as Uint8Array;
    }
    await assert.rejects(collect(chunks(text())), TypeError);
  });

  test('stops when its signal aborts', async () => {
    const controller = new AbortController();
    async function* endless() {
      for (;;) {
        yield Buffer.from('a@example.com,A\n');
        controller.abort(new Error('cancelled'));
      }
    }
    await assert.rejects(collect(readSource({ sniffBytes: 1 })(endless(), { signal: controller.signal })), /cancelled/);
  });
});
