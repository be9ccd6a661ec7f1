import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino, type Logger } from 'pino';
import { RequestLogger } from '../../src/http/request-logger.js';
import { jsonLineSink } from '../helpers/logs.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

/** A pino logger writing parsed lines to `lines`, counting the children made of it. */
function parentLogger(mixin?: () => Record<string, unknown>) {
  const lines: Record<string, unknown>[] = [];
  const sink = jsonLineSink(lines);
  let children = 0;
  const logger: Logger = pino(
    {
      level: 'info',
      ...(mixin ? { mixin } : {}),
      onChild: () => {
        children++;
      },
    },
    sink,
  );
  return { logger, lines, children: () => children };
}

const line = { method: 'GET', route: '/v1/users/:id', status: 200, actor: 'key:k1', duration_ms: 0.42 };

describe('RequestLogger', () => {
  test('the request line names the request (and the caller’s trace) without making a child logger', () => {
    const parent = parentLogger();
    new RequestLogger(parent.logger, 'req-1', undefined, {}).requestLine(line);
    new RequestLogger(parent.logger, 'req-2', TRACE, {}).requestLine({ ...line, actor: undefined, duration_ms: undefined });
    assert.equal(parent.children(), 0);
    assert.equal(parent.lines.length, 2);
    assert.deepEqual(
      { ...parent.lines[0], time: undefined, pid: undefined, hostname: undefined },
      { level: 30, time: undefined, pid: undefined, hostname: undefined, request_id: 'req-1', ...line, msg: 'request' },
    );
    assert.equal('trace_id' in parent.lines[0]!, false);
    assert.equal(parent.lines[1]!.request_id, 'req-2');
    assert.equal(parent.lines[1]!.trace_id, TRACE);
    assert.equal('actor' in parent.lines[1]!, false, 'an absent actor is left out, not written as null');
  });

  test('without a caller’s trace the line keeps the trace the logger’s mixin names (tracing on)', () => {
    const parent = parentLogger(() => ({ trace_id: 'from-the-active-span', span_id: 'span-1' }));
    new RequestLogger(parent.logger, 'req-3', undefined, {}).requestLine(line);
    assert.equal(parent.lines[0]!.trace_id, 'from-the-active-span');
    assert.equal(parent.lines[0]!.span_id, 'span-1');
  });

  test('other lines go through one child made on first use, bound to the request', () => {
    const parent = parentLogger();
    const log = new RequestLogger(parent.logger, 'req-4', TRACE, {});
    assert.equal(log.level, 'info');
    assert.equal(parent.children(), 0, 'reading the level makes no child');
    log.info({ key_id: 'k1' }, 'api key created');
    log.error(new Error('boom'), 'request failed');
    log.debug('below the level: not written');
    assert.equal(parent.children(), 1);
    assert.equal(parent.lines.length, 2);
    for (const written of parent.lines) {
      assert.equal(written.request_id, 'req-4');
      assert.equal(written.trace_id, TRACE);
    }
    assert.equal(parent.lines[0]!.key_id, 'k1');
    assert.equal((parent.lines[1]!.err as { message: string }).message, 'boom');
  });

  test('a level set on the request logger applies to its lines only', () => {
    const parent = parentLogger();
    const log = new RequestLogger(parent.logger, 'req-5', undefined, {});
    log.level = 'debug';
    log.debug('now written');
    parent.logger.debug('the parent still at info');
    assert.equal(log.level, 'debug');
    assert.equal(parent.logger.level, 'info');
    assert.deepEqual(
      parent.lines.map((l) => l.msg),
      ['now written'],
    );
    assert.equal(log.child({ part: 'x' }).level, 'debug', 'its own children inherit it');
  });

  test('once the request has its own logger (a level set, a line logged), the request line goes through it', () => {
    const quiet = parentLogger();
    const log = new RequestLogger(quiet.logger, 'req-6', undefined, {});
    log.level = 'warn';
    log.requestLine(line);
    assert.deepEqual(quiet.lines, [], 'a request held to warn writes no info line');

    const routeLevel = parentLogger();
    new RequestLogger(routeLevel.logger, 'req-7', undefined, { level: 'error' }).requestLine(line);
    assert.deepEqual(routeLevel.lines, [], 'a route logging at error only writes no info line');

    const used = parentLogger();
    const withChild = new RequestLogger(used.logger, 'req-8', TRACE, {});
    withChild.warn('something first');
    withChild.requestLine(line);
    assert.equal(used.children(), 1);
    const written = used.lines.find((l) => l.msg === 'request')!;
    assert.equal(written.request_id, 'req-8');
    assert.equal(written.trace_id, TRACE);
    assert.equal(written.status, 200);
  });
});
