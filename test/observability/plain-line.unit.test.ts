// The request line written straight to the destination (observability/plain-line.ts) must be the
// line pino writes for the same fields, byte for byte, whatever the fields: else the logs would
// depend on which path wrote them.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { pino, type Logger, type LoggerOptions } from 'pino';
import { RequestLogger } from '../../src/http/request-logger.js';
import { loggerOptions } from '../../src/observability/logger.js';
import { plainJsonString } from '../../src/observability/plain-line.js';

const TIME = () => ',"time":"2026-12-06T18:00:00.000Z"';

/** A logger as the service makes it (fixed time), its raw lines, and how many lines pino itself wrote. */
function serviceLogger(overrides: Partial<LoggerOptions> = {}) {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger: Logger = pino({ ...loggerOptions('info'), timestamp: TIME, ...overrides }, sink);
  let viaPino = 0;
  const info = logger.info.bind(logger);
  logger.info = (...args: Parameters<typeof info>) => {
    viaPino++;
    info(...args);
  };
  return { logger, raw, viaPino: () => viaPino };
}

const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/),
);
const fields = fc.record({
  requestId: text,
  callerTraceId: fc.option(fc.oneof(text, fc.stringMatching(/^[0-9a-f]{32}$/)), { nil: undefined }),
  method: fc.oneof(fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE'), text),
  route: fc.oneof(fc.constantFrom('/v1/users/:id', '/v1/users', 'unmatched'), text),
  status: fc.oneof(fc.integer({ min: 100, max: 599 }), fc.double()),
  actor: fc.option(text, { nil: undefined }),
  duration_ms: fc.option(fc.double(), { nil: undefined }),
});

describe('the plain request line', () => {
  test('is the line pino writes for the same fields, for any fields; plain ones skip pino', () => {
    fc.assert(
      fc.property(fields, ({ requestId, callerTraceId, ...line }) => {
        const fast = serviceLogger();
        const reference = serviceLogger();
        new RequestLogger(fast.logger, requestId, callerTraceId, {}).requestLine(line);
        reference.logger.info(
          callerTraceId === undefined ? { request_id: requestId, ...line } : { request_id: requestId, trace_id: callerTraceId, ...line },
          'request',
        );
        assert.deepEqual(fast.raw, reference.raw);
        const plain = [requestId, callerTraceId, line.method, line.route, line.actor].every(
          (t) => t === undefined || plainJsonString(t) !== undefined,
        );
        assert.equal(fast.viaPino(), plain ? 0 : 1, plain ? 'plain fields are written without pino' : 'other fields are left to pino');
      }),
      { numRuns: 500 },
    );
  });

  test('is not written when info is off, and leaves a line with trace fields to pino', () => {
    const quiet = serviceLogger({ level: 'warn' });
    new RequestLogger(quiet.logger, 'req-1', undefined, {}).requestLine({
      method: 'GET',
      route: '/r',
      status: 200,
      actor: undefined,
      duration_ms: 1,
    });
    assert.deepEqual(quiet.raw, []);
    const traced = serviceLogger({ mixin: () => ({ trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) }) });
    new RequestLogger(traced.logger, 'req-2', undefined, {}).requestLine({
      method: 'GET',
      route: '/r',
      status: 200,
      actor: undefined,
      duration_ms: 1,
    });
    assert.equal(traced.viaPino(), 1);
    assert.equal(JSON.parse(traced.raw[0]!).trace_id, 'a'.repeat(32));
  });

  test('plainJsonString is JSON.stringify for the texts it takes, and takes no text JSON would escape', () => {
    fc.assert(
      fc.property(text, (t) => {
        const plain = plainJsonString(t);
        if (plain !== undefined) assert.equal(plain, JSON.stringify(t));
        else assert.ok(/[^\x20-\x7e]|["\\]/.test(t));
      }),
    );
  });
});
