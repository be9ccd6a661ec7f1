import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTracing } from '../../src/observability/tracing.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';

// Registered once for this file's process (node:test runs each file in its own), before the
// app is built, as cli.ts does before importing main.
const exporter = new InMemorySpanExporter();
const tracing = await startTracing(
  { enabled: true, exportEndpoint: undefined, serviceName: 'roster-test', sampler: { name: 'parentbased_always_on', ratio: 1 } },
  '0.0.0-test',
  [new SimpleSpanProcessor(exporter)],
);

const REMOTE_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const REMOTE_SPAN = '00f067aa0ba902b7';
import { capturedLogs } from '../helpers/logs.js';

describe('traces over a listening server', () => {
  let t: TestApp;
  let base = '';
  const { logger, lines } = capturedLogs();
  before(async () => {
    t = await buildTestApp(undefined, { logger });
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await t?.close();
    await tracing.shutdown();
  });

  const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${t.auth.adminKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  /** The finished spans of one trace, waiting briefly for the server span (it ends on socket close). */
  async function spansOf(traceId: string, serverSpanName: string): Promise<ReadableSpan[]> {
    for (let waited = 0; waited < 2000; waited += 10) {
      const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      if (spans.some((s) => s.name === serverSpanName)) return spans;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.fail(
      `no "${serverSpanName}" span in trace ${traceId}: ${exporter
        .getFinishedSpans()
        .map((s) => s.name)
        .join(', ')}`,
    );
  }
  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
  const one = (spans: ReadableSpan[], name: string) => {
    const found = spans.filter((s) => s.name === name);
    assert.equal(found.length, 1, `${name} in ${spans.map((s) => s.name).join(', ')}`);
    return found[0]!;
  };

  test('an incoming traceparent is continued; the span tree is HTTP → service → database', async () => {
    const created = await send('POST', '/v1/users', { email: 'traced@example.com', name: 'Traced' });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };

    const res = await send('GET', `/v1/users/${id}`, undefined, { traceparent: `00-${REMOTE_TRACE}-${REMOTE_SPAN}-01` });
    assert.equal(res.status, 200);
    const spans = await spansOf(REMOTE_TRACE, 'GET /v1/users/:id');

    const http = one(spans, 'GET /v1/users/:id');
    assert.equal(parentOf(http), REMOTE_SPAN, 'the server span is a child of the caller’s span');
    assert.equal(http.attributes['http.route'], '/v1/users/:id');
    assert.equal(http.attributes['http.response.status_code'], 200);
    const service = one(spans, 'users.get');
    assert.equal(parentOf(service), http.spanContext().spanId);
    const query = one(spans, 'select users');
    assert.equal(parentOf(query), service.spanContext().spanId);
    assert.equal(query.attributes['db.system.name'], 'sqlite');
    assert.doesNotMatch(String(query.attributes['db.query.text']), new RegExp(id), 'query text carries no values');
  });

  test('a request with a body keeps its context through body parsing: POST → users.create → insert', async () => {
    const trace = 'a'.repeat(31) + '1';
    const res = await send(
      'POST',
      '/v1/users',
      { email: 'body@example.com', name: 'Body' },
      { traceparent: `00-${trace}-${REMOTE_SPAN}-01` },
    );
    assert.equal(res.status, 201);
    const spans = await spansOf(trace, 'POST /v1/users');
    const http = one(spans, 'POST /v1/users');
    const service = one(spans, 'users.create');
    assert.equal(parentOf(service), http.spanContext().spanId);
    const insert = one(spans, 'insert users');
    assert.equal(parentOf(insert), service.spanContext().spanId);
  });

  test('every log line written inside a request carries its trace_id and span_id', async () => {
    const trace = 'b'.repeat(31) + '2';
    const res = await send('GET', '/v1/users?limit=1', undefined, { traceparent: `00-${trace}-${REMOTE_SPAN}-01` });
    assert.equal(res.status, 200);
    const spans = await spansOf(trace, 'GET /v1/users');
    const http = one(spans, 'GET /v1/users');
    const line = lines.find((l) => l.msg === 'request' && l.trace_id === trace);
    assert.ok(line, 'the request line names the trace');
    assert.equal(line.span_id, http.spanContext().spanId);
  });

  test('a caller’s unsampled trace is followed (parent-based sampler): no span is recorded, logs still name the trace', async () => {
    const trace = 'd'.repeat(31) + '4';
    const res = await send('GET', '/v1/users?limit=1', undefined, { traceparent: `00-${trace}-${REMOTE_SPAN}-00` });
    assert.equal(res.status, 200);
    // A later sampled request's server span ends after this one's would have: once it is
    // there, a span of the unsampled request would have been exported too.
    const marker = 'e'.repeat(31) + '5';
    await send('GET', '/v1/users?limit=1', undefined, { traceparent: `00-${marker}-${REMOTE_SPAN}-01` });
    await spansOf(marker, 'GET /v1/users');
    const recorded = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === trace);
    assert.deepEqual(
      recorded.map((s) => s.name),
      [],
      'no server, service or query span in an unsampled trace',
    );
    const line = lines.find((l) => l.msg === 'request' && l.trace_id === trace);
    assert.ok(line, 'the request line names the caller’s trace');
  });

  test('a request without traceparent starts a new trace; errors mark the server span', async () => {
    const res = await send('GET', '/v1/users/not-an-id');
    assert.equal(res.status, 400);
    const line = lines.findLast((l) => l.msg === 'request' && l.status === 400);
    assert.match(String(line?.trace_id), /^[0-9a-f]{32}$/);
    assert.notEqual(line?.trace_id, REMOTE_TRACE);
  });
});
