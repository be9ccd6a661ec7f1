import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRACES_SAMPLERS } from '../../src/config.js';
import { samplerFor } from '../../src/observability/tracing-sdk.js';

test('every OTEL_TRACES_SAMPLER value builds the standard sampler, with OTEL_TRACES_SAMPLER_ARG as the ratio', () => {
  const described = Object.fromEntries(TRACES_SAMPLERS.map((name) => [name, samplerFor({ name, ratio: 0.25 }).toString()]));
  assert.equal(described.always_on, 'AlwaysOnSampler');
  assert.equal(described.always_off, 'AlwaysOffSampler');
  assert.equal(described.traceidratio, 'TraceIdRatioBased{0.25}');
  assert.match(described.parentbased_always_on!, /^ParentBased\{root=AlwaysOnSampler,/);
  assert.match(described.parentbased_always_off!, /^ParentBased\{root=AlwaysOffSampler,/);
  assert.match(described.parentbased_traceidratio!, /^ParentBased\{root=TraceIdRatioBased\{0\.25\},/);
});
