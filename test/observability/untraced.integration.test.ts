import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { NO_TRACING, startTracing } from '../../src/observability/tracing.js';
import { inSpan, tracingRegistered } from '../../src/kit/trace.js';
import { callerTraceId } from '../../src/http/tracing.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { capturedLogs } from '../helpers/logs.js';

// This file's process never registers an SDK: tracing as `roster serve` runs it with no
// exporter configured (node:test runs each file in its own process).
const tracing = await startTracing(
  { enabled: true, exportEndpoint: undefined, serviceName: 'roster-test', sampler: { name: 'always_on', ratio: 1 } },
  '0.0.0-test',
);

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

test('with no exporter, startTracing registers nothing: the API stays its no-op', async () => {
  assert.equal(tracing, NO_TRACING);
  assert.equal(tracingRegistered(), false);
  const seen = await inSpan('users.get', () => Promise.resolve(trace.getActiveSpan()));
  assert.equal(seen, undefined, 'no span was made around the work');
});

test('a traceparent gives its trace id only when well formed', () => {
  assert.equal(callerTraceId(`00-${CALLER_TRACE}-00f067aa0ba902b7-01`), CALLER_TRACE);
  assert.equal(callerTraceId(`00-${CALLER_TRACE}-00f067aa0ba902b7-00`), CALLER_TRACE, 'an unsampled caller still names its trace');
  assert.equal(callerTraceId(`00-${'0'.repeat(32)}-00f067aa0ba902b7-01`), undefined, 'the all-zero trace id is invalid');
  assert.equal(callerTraceId('00-not-a-trace'), undefined);
  assert.equal(callerTraceId(`00-${CALLER_TRACE.toUpperCase()}-00f067aa0ba902b7-01`), undefined, 'W3C ids are lowercase hex');
  assert.equal(callerTraceId(undefined), undefined);
  assert.equal(callerTraceId(['a', 'b']), undefined);
});

describe('request logs without tracing', () => {
  let t: TestApp;
  let base = '';
  const { logger, lines } = capturedLogs();
  before(async () => {
    t = await buildTestApp(undefined, { logger });
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await t?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { headers: { authorization: `Bearer ${t.auth.adminKey}`, ...headers } });

  test('the request line names the caller’s trace from its traceparent, and no span of ours', async () => {
    const res = await get('/v1/users?limit=1', { traceparent: `00-${CALLER_TRACE}-00f067aa0ba902b7-01`, 'x-request-id': 'untraced-1' });
    assert.equal(res.status, 200);
    const line = lines.find((l) => l.msg === 'request' && l.request_id === 'untraced-1');
    assert.ok(line, 'the request line was written');
    assert.equal(line.trace_id, CALLER_TRACE);
    assert.equal(line.span_id, undefined, 'no span exists, so none is named');
  });

  test('without a traceparent (or with a malformed one) the request line names no trace', async () => {
    assert.equal((await get('/v1/users?limit=1', { 'x-request-id': 'untraced-2' })).status, 200);
    assert.equal((await get('/v1/users?limit=1', { traceparent: 'garbage', 'x-request-id': 'untraced-3' })).status, 200);
    for (const id of ['untraced-2', 'untraced-3']) {
      const line = lines.find((l) => l.msg === 'request' && l.request_id === id);
      assert.ok(line, `the request line of ${id} was written`);
      assert.equal('trace_id' in line, false);
      assert.equal('span_id' in line, false);
    }
  });
});
