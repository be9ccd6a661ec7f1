// The webhook screens' templates: every text a caller or a receiver controls (URL, description,
// the disabled reason, the response body, the error message) is escaped in text and in
// attributes; every form field is labelled; every form carries the CSRF token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HomePage } from '../../src/console/views/pages.js';
import { RESPONSE_EXCERPT_CHARS, WebhookEndpointPage } from '../../src/console/views/webhook-endpoint.js';
import { WebhooksPage } from '../../src/console/views/webhooks.js';
import type { WebhookEndpoint } from '../../src/webhooks/model.js';
import type { DeliveryAttempt } from '../../src/webhooks/service.js';
import { assertInert, HOSTILE, viewer } from './markup.js';

const ID = '0190a0a0-0000-7000-8000-000000000001';
const AT = new Date('2026-01-01T00:00:00Z');

function endpoint(text: string, overrides: Partial<WebhookEndpoint> = {}): WebhookEndpoint {
  return {
    id: ID,
    url: `https://hooks.example.com/${text}`,
    description: text,
    eventTypes: ['user.created'],
    enabled: false,
    ordered: true,
    secrets: [
      { secret: 'whsec_new', expiresAt: null },
      { secret: 'whsec_old', expiresAt: AT },
    ],
    createdAt: AT,
    updatedAt: AT,
    disabledAt: AT,
    disabledReason: text,
    cursor: 7,
    nextAttemptAt: AT,
    attempt: 1,
    failingSince: null,
    ...overrides,
  };
}

function attempt(text: string, overrides: Partial<DeliveryAttempt> = {}): DeliveryAttempt {
  return {
    id: '0190a0a0-0000-7000-8000-000000000002',
    endpointId: ID,
    eventId: '0190a0a0-0000-7000-8000-000000000003',
    eventSequence: 7,
    attempt: 2,
    attemptedAt: AT,
    outcome: 'permanent',
    status: 400,
    latencyMs: 12,
    errorCode: text,
    errorMessage: text,
    responseBody: text,
    replay: true,
    ...overrides,
  };
}

const render = (text: string): [string, string][] => [
  [
    'list with a created endpoint',
    WebhooksPage({
      viewer,
      list: { endpoints: [endpoint(text)], previous: 'cursor=x', next: 'cursor=y' },
      created: { endpoint: endpoint(text), secret: `whsec_${text}` },
      notice: text,
    }) as string,
  ],
  [
    'list with a refused form',
    WebhooksPage({
      viewer,
      list: { endpoints: [] },
      form: {
        url: text,
        description: text,
        eventTypes: [text],
        ordered: false,
        errors: { url: text, description: text, eventTypes: text, ordered: text },
      },
    }) as string,
  ],
  [
    'endpoint with its log',
    WebhookEndpointPage({
      viewer,
      endpoint: endpoint(text),
      log: { attempts: [attempt(text), attempt(text, { errorCode: null, errorMessage: null, status: null })], next: 'cursor=z' },
      rotated: `whsec_${text}`,
      replay: { since: text, error: text },
      notice: text,
      error: text,
    }) as string,
  ],
];

test('hostile URLs, descriptions, reasons, responses and messages are escaped in text and in attributes', () => {
  for (const text of HOSTILE) assertInert(render, text);
  const html = render('<script>alert(1)</script>')[2]![1];
  assert.ok(html.includes('&lt;script>alert(1)&lt;/script>'), 'the response excerpt is shown, escaped');
});

test('any text is inert wherever the webhook templates put it (property)', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => `${s}<i x="1">`),
      (text) => assertInert(render, text),
    ),
    { numRuns: 200 },
  );
});

test('every field is labelled, every form carries the CSRF token, errors are linked to their fields', () => {
  for (const [where, html] of render('x')) {
    for (const m of html.matchAll(/<(input|select|textarea)\b([^>]*)>/g)) {
      const attributes = m[2]!;
      if (/type="hidden"/.test(attributes)) continue;
      const id = /\sid="([^"]+)"/.exec(attributes)?.[1];
      // A checkbox or radio button is labelled by the <label> around it.
      const wrapped =
        /type="(checkbox|radio)"/.test(attributes) &&
        html.slice(0, m.index).lastIndexOf('<label>') > html.slice(0, m.index).lastIndexOf('</label>');
      assert.ok(wrapped || (id !== undefined && html.includes(`for="${id}"`)), `${where}: ${m[0]} has a label`);
    }
    const forms = html.match(/<form\b/g)?.length ?? 0;
    assert.equal(html.match(/name="_csrf" value="tok&#34;en<"/g)?.length, forms, `${where}: one CSRF field per form`);
  }
  const refused = render('x')[1]![1];
  for (const id of ['endpoint-url-error', 'endpoint-description-error', 'event-types-error', 'ordered-error']) {
    assert.match(refused, new RegExp(`aria-describedby="${id}"`), id);
    assert.match(refused, new RegExp(`id="${id}"`), id);
  }
  assert.match(refused, /aria-invalid="true"/);
  const log = render('x')[2]![1];
  assert.match(log, /aria-describedby="replay-since-error"/);
  assert.match(log, /aria-label="Replay event 7"/);
});

test('the secret is shown once with a copy button; destructive forms ask first', () => {
  const [list, , page] = render('x').map(([, html]) => html);
  assert.match(list!, /<input id="new-secret" class="secret" type="text" readonly value="whsec_x"\/>/);
  assert.match(list!, /data-copy-target="new-secret"/);
  assert.match(page!, /value="whsec_x"/);
  assert.match(page!, /The previous secret keeps signing alongside it until 2026-01-01T00:00:00.000Z\./);
  assert.match(page!, /action="\/console\/webhooks\/[0-9a-f-]{36}\/delete"[^>]*data-confirm=/);
  assert.match(page!, /action="\/console\/webhooks\/[0-9a-f-]{36}\/rotate-secret"[^>]*data-confirm=/);
  const plain = WebhookEndpointPage({ viewer, endpoint: endpoint('x'), log: { attempts: [] } }) as string;
  assert.ok(!plain.includes('new-secret'), 'no secret without a rotation');
  assert.match(plain, /No attempts yet\./);
});

test('the endpoint page says its state and offers the opposite switch', () => {
  const disabled = WebhookEndpointPage({ viewer, endpoint: endpoint('gone away'), log: { attempts: [] } }) as string;
  assert.match(disabled, /disabled 2026-01-01T00:00:00.000Z \(gone away\)/);
  assert.match(disabled, /name="enabled" value="true"/);
  assert.match(disabled, />Enable</);
  const failing = endpoint('x', { enabled: true, disabledAt: null, disabledReason: null, failingSince: AT, eventTypes: null });
  const html = WebhookEndpointPage({ viewer, endpoint: failing, log: { attempts: [] } }) as string;
  assert.match(html, /enabled, failing since 2026-01-01T00:00:00.000Z; next attempt 2026-01-01T00:00:00.000Z/);
  assert.match(html, /every type/);
  assert.match(html, />Disable</);
});

test('a long response is cut to an excerpt; the log pages by links, newest first', () => {
  const long = 'y'.repeat(RESPONSE_EXCERPT_CHARS + 50);
  const html = WebhookEndpointPage({
    viewer,
    endpoint: endpoint('x'),
    log: { attempts: [attempt('x', { responseBody: long })], previous: 'cursor=a', next: 'cursor=b' },
  }) as string;
  assert.ok(html.includes(`${'y'.repeat(RESPONSE_EXCERPT_CHARS)}…`));
  assert.ok(!html.includes('y'.repeat(RESPONSE_EXCERPT_CHARS + 1)));
  assert.match(html, new RegExp(`href="/console/webhooks/${ID}\\?cursor=a" rel="prev">\\s*Newer attempts`));
  assert.match(html, new RegExp(`href="/console/webhooks/${ID}\\?cursor=b" rel="next">\\s*Older attempts`));
});

test('the nav and the home page offer webhooks only to a key with webhooks:manage', () => {
  const without = { ...viewer, canManageWebhooks: false };
  assert.ok(!(HomePage({ viewer: without }) as string).includes('/console/webhooks'));
  const home = HomePage({ viewer }) as string;
  assert.match(home, /<a href="\/console\/webhooks" aria-current="page">|<a href="\/console\/webhooks">/);
  const list = WebhooksPage({ viewer, list: { endpoints: [] } }) as string;
  assert.match(list, /<a href="\/console\/webhooks" aria-current="page">\s*Webhooks/);
  assert.equal(list.match(/<h1[ >]/g)?.length, 1);
});
