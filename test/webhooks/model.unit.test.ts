import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValidationError } from '../../src/kit/errors.js';
import { activeSecrets, parseEndpointSettings, rotateSecrets, type EndpointSecret } from '../../src/webhooks/model.js';
import { AllowList } from '../../src/kit/allow-list.js';

const HOUR = 3_600_000;

describe('rotateSecrets', () => {
  test('the new secret signs first; the old ones until the grace period ends; expired ones go', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const secrets: EndpointSecret[] = [
      { secret: 'current', expiresAt: null },
      { secret: 'rotated-earlier', expiresAt: new Date(now.getTime() + HOUR) },
      { secret: 'expired', expiresAt: new Date(now.getTime() - 1) },
    ];
    const next = rotateSecrets(secrets, 'fresh', now, 24 * HOUR);
    assert.deepEqual(next, [
      { secret: 'fresh', expiresAt: null },
      { secret: 'current', expiresAt: new Date(now.getTime() + 24 * HOUR) },
      { secret: 'rotated-earlier', expiresAt: new Date(now.getTime() + HOUR) },
    ]);
    assert.deepEqual(activeSecrets(next, new Date(now.getTime() + 2 * HOUR)), ['fresh', 'current']);
    assert.deepEqual(activeSecrets(next, new Date(now.getTime() + 25 * HOUR)), ['fresh']);
  });

  test('property: however often it rotates, the list stays bounded and the newest secret always signs', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 48 * HOUR }), { maxLength: 30 }), (gaps) => {
        let secrets: EndpointSecret[] = [{ secret: 's0', expiresAt: null }];
        let now = 0;
        gaps.forEach((gap, i) => {
          now += gap;
          secrets = rotateSecrets(secrets, `s${i + 1}`, new Date(now), 24 * HOUR);
          assert.ok(secrets.length <= 5);
          assert.equal(activeSecrets(secrets, new Date(now))[0], `s${i + 1}`);
          assert.equal(secrets.filter((s) => s.expiresAt === null).length, 1);
        });
      }),
    );
  });
});

describe('parseEndpointSettings', () => {
  test('defaults: every type, enabled, ordered, no description', () => {
    assert.deepEqual(parseEndpointSettings({ url: 'https://example.com/h' }, AllowList.none, false), {
      url: 'https://example.com/h',
      description: '',
      eventTypes: null,
      enabled: true,
      ordered: true,
    });
  });

  test('property: arbitrary input never throws anything but a ValidationError', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            url: fc.oneof(fc.string(), fc.webUrl(), fc.anything()),
            event_types: fc.anything(),
            enabled: fc.anything(),
            description: fc.anything(),
          },
          { requiredKeys: [] },
        ),
        fc.boolean(),
        (input, partial) => {
          try {
            parseEndpointSettings(input, AllowList.none, partial);
          } catch (error) {
            assert.ok(error instanceof ValidationError, String(error));
          }
        },
      ),
    );
  });
});
