import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { createServiceLogger } from '../../src/observability/logger.js';
import { formatLogLine } from '../../src/observability/pretty-log.js';

const plain = { colour: false };
const ESC = String.fromCharCode(27);

describe('formatLogLine (LOG_FORMAT=pretty)', () => {
  test('time, level and message first, then every other field as key=value', () => {
    const line = JSON.stringify({
      level: 'info',
      time: '2026-12-05T07:41:13.123Z',
      service: 'roster',
      msg: 'listening',
      url: 'http://127.0.0.1:8080',
      database: 'sqlite:/srv/roster data/roster.db',
      port: 8080,
      ready: true,
      config: { http: { PORT: 8080 } },
    });
    assert.equal(
      formatLogLine(line, plain),
      '07:41:13.123 INFO  listening url=http://127.0.0.1:8080 database="sqlite:/srv/roster data/roster.db" port=8080 ready=true ' +
        'config={"http":{"PORT":8080}}\n',
    );
  });

  test('an error shows its message on the line and its stack below, indented', () => {
    const line = JSON.stringify({
      level: 'error',
      time: '2026-12-05T07:41:13.123Z',
      msg: 'request failed',
      err: { type: 'Error', message: 'disk full', stack: 'Error: disk full\n    at write (file.js:1:1)' },
    });
    assert.equal(
      formatLogLine(line, plain),
      '07:41:13.123 ERROR request failed err="disk full"\n    Error: disk full\n        at write (file.js:1:1)\n',
    );
  });

  test('colour only when asked; the text is the same without the escape codes', () => {
    const line = JSON.stringify({ level: 'warn', time: '2026-12-05T07:41:13.123Z', msg: 'slow' });
    const coloured = formatLogLine(line, { colour: true });
    assert.ok(coloured.includes(`${ESC}[33mWARN`), coloured);
    assert.equal(coloured.replace(new RegExp(`${ESC}\\[\\d+m`, 'g'), ''), formatLogLine(line, plain));
    assert.ok(!formatLogLine(line, plain).includes(ESC));
  });

  test('text that is not a JSON object is written as it came, one line', () => {
    assert.equal(formatLogLine('not json', plain), 'not json\n');
    assert.equal(formatLogLine('[1,2]', plain), '[1,2]\n');
    fc.assert(
      fc.property(fc.string(), (text) => {
        assert.ok(formatLogLine(text, plain).endsWith('\n'));
      }),
    );
  });
});

describe('createServiceLogger', () => {
  /** A stream that records what it is given and claims to be (or not) a terminal. */
  function sink(isTTY: boolean) {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString('utf8'));
        done();
      },
    }) as Writable & { isTTY?: boolean };
    stream.isTTY = isTTY;
    return { stream: stream as unknown as NodeJS.WriteStream, text: () => chunks.join('') };
  }

  const cases = [
    ['auto', true, 'pretty'],
    ['auto', false, 'json'],
    ['json', true, 'json'],
    ['pretty', false, 'pretty'],
  ] as const;
  for (const [logFormat, isTTY, expected] of cases) {
    test(`LOG_FORMAT=${logFormat} on ${isTTY ? 'a terminal' : 'a pipe'} writes ${expected} lines`, async () => {
      const out = sink(isTTY);
      const logger = createServiceLogger({ logLevel: 'info', logFormat }, out.stream);
      logger.info({ url: 'http://127.0.0.1:8080' }, 'listening');
      await new Promise<void>((resolve) => setImmediate(resolve));
      const text = out.text();
      if (expected === 'json') {
        assert.equal((JSON.parse(text) as { msg: string }).msg, 'listening');
      } else {
        assert.match(text, /^\S*\d\d:\d\d:\d\d\.\d{3}\S* \S*INFO\s*\S* listening url=http:\/\/127\.0\.0\.1:8080\n$/);
      }
    });
  }
});
