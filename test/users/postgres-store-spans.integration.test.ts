// PostgresUserStore's statements bypass Kysely's log hook, so it makes their spans itself:
// a CLIENT span under the caller's span when the trace is recorded, none otherwise.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { v7 as uuidv7 } from 'uuid';
import { userStoreFor } from '../../src/compose/users.js';
import { startTracing } from '../../src/observability/tracing.js';
import type { UserId } from '../../src/users/model.js';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.js';

// Registered once for this file's process, before any store runs (as cli.ts does).
const exporter = new InMemorySpanExporter();
const tracing = await startTracing(
  { enabled: true, exportEndpoint: undefined, serviceName: 'roster-test', sampler: { name: 'parentbased_always_on', ratio: 1 } },
  '0.0.0-test',
  [new SimpleSpanProcessor(exporter)],
);
const tracer = trace.getTracer('test');
const skip = await postgresUnavailable();

let testDb: TestDatabase | undefined;
before(async () => {
  if (!skip) testDb = await postgresTestDatabase();
});
after(async () => {
  await testDb?.cleanup();
  await tracing.shutdown();
});

test('a statement in a recorded trace is a CLIENT span under the caller; outside one, no span', { skip }, async () => {
  const store = userStoreFor(testDb!.database);
  const id = uuidv7() as UserId;
  await store.get(id);
  assert.deepEqual(exporter.getFinishedSpans(), [], 'no active span: no statement span');

  const parent = await tracer.startActiveSpan('caller', async (span) => {
    await store.get(id);
    span.end();
    return span;
  });
  const statement = exporter.getFinishedSpans().find((s) => s.name === 'select users');
  assert.ok(
    statement,
    exporter
      .getFinishedSpans()
      .map((s) => s.name)
      .join(', '),
  );
  assert.equal(statement.parentSpanContext?.spanId, parent.spanContext().spanId);
  assert.equal(statement.attributes['db.system.name'], 'postgresql');
  assert.doesNotMatch(String(statement.attributes['db.query.text']), new RegExp(id), 'the query text carries no values');
});
