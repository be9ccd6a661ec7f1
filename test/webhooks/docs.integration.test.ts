import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderRetryScheduleMarkdown } from '../../src/webhooks/schedule.js';

test('docs/webhooks.md shows exactly the retry table the code renders', () => {
  const docs = readFileSync(new URL('../../../docs/webhooks.md', import.meta.url), 'utf8');
  assert.ok(docs.includes(renderRetryScheduleMarkdown()), 'paste the output of renderRetryScheduleMarkdown() into docs/webhooks.md');
});
