import { EVENT_TYPES, isEventType, type EventType } from '../events/model.js';
import { FieldErrors } from '../kit/errors.js';
import { InvalidTargetUrlError, ForbiddenTargetError } from './errors.js';
import type { AllowList } from '../kit/allow-list.js';
import { parseTargetUrl } from './ssrf.js';

/** A signing secret; during a rotation the old one carries the time it stops signing. */
export interface EndpointSecret {
  readonly secret: string;
  readonly expiresAt: Date | null;
}

/** A webhook endpoint as stored: its settings and its delivery state. */
export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly description: string;
  /** null: every event type. */
  readonly eventTypes: readonly EventType[] | null;
  readonly enabled: boolean;
  readonly ordered: boolean;
  readonly secrets: readonly EndpointSecret[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly disabledAt: Date | null;
  readonly disabledReason: string | null;
  /** Sequence of the last event handled. */
  readonly cursor: number;
  readonly nextAttemptAt: Date;
  readonly attempt: number;
  readonly failingSince: Date | null;
}

/** The fields a caller sets; every one optional on update. */
export interface EndpointSettings {
  readonly url: string;
  readonly description: string;
  readonly eventTypes: readonly EventType[] | null;
  readonly enabled: boolean;
  readonly ordered: boolean;
}

export interface EndpointInput {
  readonly url?: unknown;
  readonly description?: unknown;
  readonly event_types?: unknown;
  readonly enabled?: unknown;
  readonly ordered?: unknown;
}

export const DESCRIPTION_MAX_LENGTH = 500;

/**
 * Validates the settings given (all required when `partial` is false), collecting every field
 * error. The URL goes through the SSRF guard, so literal private addresses and localhost are
 * refused here; host names are checked again at connect time.
 * @throws ValidationError
 */
export function parseEndpointSettings(input: EndpointInput, allowList: AllowList, partial: boolean): Partial<EndpointSettings> {
  const errors = new FieldErrors();
  const out: { -readonly [K in keyof EndpointSettings]?: EndpointSettings[K] } = {};
  if (input.url !== undefined || !partial) {
    if (typeof input.url !== 'string') errors.add('/url', 'is required: an http(s) URL');
    else {
      try {
        out.url = parseTargetUrl(input.url, allowList).toString();
      } catch (error) {
        if (error instanceof InvalidTargetUrlError || error instanceof ForbiddenTargetError) errors.add('/url', error.message);
        else throw error;
      }
    }
  }
  if (input.description !== undefined) {
    if (typeof input.description !== 'string' || input.description.length > DESCRIPTION_MAX_LENGTH) {
      errors.add('/description', `must be text of at most ${DESCRIPTION_MAX_LENGTH} characters`);
    } else out.description = input.description;
  } else if (!partial) out.description = '';
  if (input.event_types !== undefined) {
    const given = input.event_types;
    if (given === null) out.eventTypes = null;
    else if (!Array.isArray(given) || given.length === 0 || given.length > EVENT_TYPES.length) {
      errors.add('/event_types', `must be null (every type) or a non-empty list of ${EVENT_TYPES.join(', ')}`);
    } else {
      const unknown = given.filter((t) => typeof t !== 'string' || !isEventType(t));
      if (unknown.length > 0)
        errors.add(
          '/event_types',
          `unknown event type(s): ${unknown
            .map((t) => (typeof t === 'string' ? t : `(${typeof t})`))
            .join(', ')
            .slice(0, 200)}`,
        );
      else out.eventTypes = [...new Set(given as EventType[])];
    }
  } else if (!partial) out.eventTypes = null;
  for (const field of ['enabled', 'ordered'] as const) {
    const value = input[field];
    if (value === undefined) {
      if (!partial) out[field] = true;
    } else if (typeof value !== 'boolean') errors.add(`/${field}`, 'must be true or false');
    else out[field] = value;
  }
  errors.throwIfAny();
  return out;
}

/** The secrets that still sign at `now`. */
export function activeSecrets(secrets: readonly EndpointSecret[], now: Date): string[] {
  return secrets.filter((s) => s.expiresAt === null || s.expiresAt.getTime() > now.getTime()).map((s) => s.secret);
}

/**
 * The secrets after a rotation at `now`: the new one first, without expiry; the ones that
 * signed until now keep signing until `now + graceMs` (an earlier expiry is kept); expired
 * ones are dropped. At most `max` are kept, so repeated rotations cannot grow the list.
 */
export function rotateSecrets(secrets: readonly EndpointSecret[], fresh: string, now: Date, graceMs: number, max = 5): EndpointSecret[] {
  const graceEnd = now.getTime() + graceMs;
  const kept = secrets
    .filter((s) => s.expiresAt === null || s.expiresAt.getTime() > now.getTime())
    .map((s) => ({ secret: s.secret, expiresAt: new Date(Math.min(s.expiresAt?.getTime() ?? graceEnd, graceEnd)) }));
  return [{ secret: fresh, expiresAt: null }, ...kept].slice(0, max);
}
