import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startTracing } from '../../src/observability/tracing.js';
import { WebhookHttpClient } from '../../src/webhooks/http-client.js';
import { AllowList } from '../../src/kit/allow-list.js';

const exporter = new InMemorySpanExporter();
const tracing = await startTracing(
  { enabled: true, exportEndpoint: undefined, serviceName: 'roster-test', sampler: { name: 'parentbased_always_on', ratio: 1 } },
  '0.0.0-test',
  [new SimpleSpanProcessor(exporter)],
);

let sink: Server;
let url = '';
const seen: IncomingHttpHeaders[] = [];
before(async () => {
  sink = createServer((req, res) => {
    seen.push(req.headers);
    req.resume().on('end', () => res.writeHead(req.url === '/gone' ? 410 : 204).end());
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
});
after(async () => {
  sink?.close();
  await tracing.shutdown();
});

test('each webhook attempt is a CLIENT span and the request carries its traceparent', async () => {
  const client = new WebhookHttpClient({ allowList: AllowList.parse('127.0.0.1') });
  try {
    const result = await trace.getTracer('test').startActiveSpan('dispatch-active', async (active) => {
      try {
        return await client.deliver({ url: `${url}/hook`, headers: { 'webhook-id': 'evt_1' }, body: '{}' });
      } finally {
        active.end();
      }
    });
    assert.equal(result.outcome, 'success');
    const header = String(seen.at(-1)?.traceparent);
    const [, traceId, spanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(header) ?? [];
    const attempt = exporter.getFinishedSpans().find((s) => s.name === 'POST webhook');
    assert.ok(attempt, 'the attempt span was recorded');
    assert.equal(spanId, attempt.spanContext().spanId, 'the receiver’s parent is the attempt span');
    assert.equal(traceId, attempt.spanContext().traceId);
    const active = exporter.getFinishedSpans().find((s) => s.name === 'dispatch-active')!;
    assert.equal(attempt.parentSpanContext?.spanId, active.spanContext().spanId, 'the attempt joins the dispatcher’s trace');
    assert.equal(attempt.attributes['http.response.status_code'], 204);

    const gone = await client.deliver({ url: `${url}/gone`, headers: { 'webhook-id': 'evt_2' }, body: '{}' });
    assert.equal(gone.outcome, 'gone');
    const failed = exporter
      .getFinishedSpans()
      .filter((s) => s.name === 'POST webhook')
      .at(-1)!;
    assert.equal(failed.attributes['roster.webhook.outcome'], 'gone');
    assert.equal(failed.status.code, 2, 'marked as an error');
  } finally {
    await client.close();
  }
});
