import type { EventType } from '../events/model.js';
import { FieldErrors } from '../kit/errors.js';
import { inBatches } from '../kit/batches.js';
import { inSpan } from '../kit/trace.js';
import { isUuid } from '../kit/uuid.js';
import { ReplayEventNotFoundError, ReplayTooLargeError, WebhookEndpointNotFoundError } from './errors.js';
import { parseEndpointSettings, rotateSecrets, type EndpointInput, type EndpointSecret, type WebhookEndpoint } from './model.js';
import { generateSecret } from './signing.js';
import { AllowList } from '../kit/allow-list.js';

/** One attempt as the delivery log keeps it. */
export interface DeliveryAttempt {
  readonly id: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly eventSequence: number;
  readonly attempt: number;
  readonly attemptedAt: Date;
  /** success, retryable, permanent or gone (see classifyStatus). */
  readonly outcome: string;
  readonly status: number | null;
  readonly latencyMs: number;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  /** Truncated as the HTTP client returned it. */
  readonly responseBody: string;
  /** Sent because a caller asked for a replay (parked retries of unordered endpoints are not replays). */
  readonly replay: boolean;
}

/** The columns an update writes; everything absent is kept. */
export type EndpointPatch = Partial<Omit<WebhookEndpoint, 'id' | 'createdAt' | 'cursor'>>;

/** What to replay: events by sequence, or every event (of the endpoint's types) since a time. */
export type ReplaySelection = { readonly sequences: readonly number[] } | { readonly since: Date };

/** The storage port of the webhooks capability. Adapter: SqlWebhookStore. */
export interface WebhookStore {
  /** Inserts the endpoint with its cursor at the newest event sequence: it receives changes from now on. */
  createEndpoint(endpoint: Omit<WebhookEndpoint, 'cursor'>, signal?: AbortSignal): Promise<WebhookEndpoint>;
  getEndpoint(id: string, signal?: AbortSignal): Promise<WebhookEndpoint | undefined>;
  listEndpoints(afterId: string | undefined, limit: number, signal?: AbortSignal): Promise<WebhookEndpoint[]>;
  /** Reads the endpoint and writes what `change` returns, in one transaction; undefined when it does not exist. */
  updateEndpoint(
    id: string,
    change: (current: WebhookEndpoint) => EndpointPatch,
    signal?: AbortSignal,
  ): Promise<WebhookEndpoint | undefined>;
  /** Deletes the endpoint with its log and pending replays; false when it did not exist. */
  deleteEndpoint(id: string, signal?: AbortSignal): Promise<boolean>;
  /** Attempts of one endpoint, newest first, older than `beforeId` when given. */
  listAttempts(endpointId: string, beforeId: string | undefined, limit: number, signal?: AbortSignal): Promise<DeliveryAttempt[]>;
  findEventSequence(eventId: string, signal?: AbortSignal): Promise<number | undefined>;
  /**
   * Enqueues one-off deliveries of the selected events (filtered by `types` unless null), due
   * at `now`, unless there are more than `max`: then nothing is enqueued and the count is
   * returned with `refused: true`.
   */
  enqueueReplay(
    endpointId: string,
    selection: ReplaySelection,
    types: readonly EventType[] | null,
    now: Date,
    max: number,
    signal?: AbortSignal,
  ): Promise<{ count: number; refused: boolean }>;
  /** Deletes delivery log entries older than `before`, oldest first, at most `limit`; returns how many. */
  pruneAttempts(before: Date, limit: number, signal?: AbortSignal): Promise<number>;
}

export interface WebhooksServiceOptions {
  readonly store: WebhookStore;
  readonly newId: () => string;
  /** Targets allowed beyond the public internet (ROSTER_WEBHOOK_ALLOWED_HOSTS). */
  readonly allowList?: AllowList;
  /** How long the previous secret keeps signing after a rotation. */
  readonly secretGraceMs: number;
  readonly now?: () => Date;
}

/** The largest replay one request may enqueue. */
export const REPLAY_MAX_EVENTS = 100_000;

export interface ReplayInput {
  readonly eventId?: string | undefined;
  readonly since?: string | undefined;
}

/** Endpoints, their secrets, the delivery log and replays. Delivery itself is the dispatcher's. */
export class WebhooksService {
  readonly #store: WebhookStore;
  readonly #newId: () => string;
  readonly #allowList: AllowList;
  readonly #graceMs: number;
  readonly #now: () => Date;

  constructor(options: WebhooksServiceOptions) {
    this.#store = options.store;
    this.#newId = options.newId;
    this.#allowList = options.allowList ?? AllowList.none;
    this.#graceMs = options.secretGraceMs;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Creates an endpoint; the returned secret is the only time it is shown.
   * @throws ValidationError (bad URL, hostile target, unknown event type…)
   */
  async create(input: EndpointInput, signal?: AbortSignal): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const settings = parseEndpointSettings(input, this.#allowList, false) as Required<ReturnType<typeof parseEndpointSettings>>;
    const now = this.#now();
    const secret = generateSecret();
    return inSpan('webhooks.create', async () => {
      const endpoint = await this.#store.createEndpoint(
        {
          id: this.#newId(),
          ...settings,
          secrets: [{ secret, expiresAt: null }],
          createdAt: now,
          updatedAt: now,
          disabledAt: settings.enabled ? null : now,
          disabledReason: settings.enabled ? null : 'created disabled',
          nextAttemptAt: now,
          attempt: 1,
          failingSince: null,
        },
        signal,
      );
      return { endpoint, secret };
    });
  }

  /** @throws WebhookEndpointNotFoundError */
  async get(id: string, signal?: AbortSignal): Promise<WebhookEndpoint> {
    const endpoint = isUuid(id) ? await this.#store.getEndpoint(id, signal) : undefined;
    if (endpoint === undefined) throw notFound(id);
    return endpoint;
  }

  /** A page of endpoints by id; `after` is the last id of the previous page. */
  async list(after: string | undefined, limit: number, signal?: AbortSignal): Promise<WebhookEndpoint[]> {
    if (after !== undefined && !isUuid(after)) invalid('after', 'must be the id of an endpoint (next_after of the previous page)');
    return this.#store.listEndpoints(after, limit, signal);
  }

  /**
   * Changes settings. Re-enabling a disabled endpoint restarts its schedule (its cursor stays:
   * events since it was disabled are delivered); disabling records who and when.
   * @throws ValidationError, WebhookEndpointNotFoundError
   */
  async update(id: string, input: EndpointInput, signal?: AbortSignal): Promise<WebhookEndpoint> {
    const settings = parseEndpointSettings(input, this.#allowList, true);
    if (!isUuid(id)) throw notFound(id);
    const now = this.#now();
    const updated = await this.#store.updateEndpoint(
      id,
      (current) => {
        const patch: { -readonly [K in keyof EndpointPatch]: EndpointPatch[K] } = { ...settings, updatedAt: now };
        if (settings.enabled === true && !current.enabled) {
          Object.assign(patch, { disabledAt: null, disabledReason: null, nextAttemptAt: now, attempt: 1, failingSince: null });
        } else if (settings.enabled === false && current.enabled) {
          Object.assign(patch, { disabledAt: now, disabledReason: 'disabled by an API caller' });
        }
        // A new URL is the receiver's fix: the head event is tried there at once, not after its backoff.
        if (settings.url !== undefined && settings.url !== current.url) patch.nextAttemptAt = now;
        return patch;
      },
      signal,
    );
    if (updated === undefined) throw notFound(id);
    return updated;
  }

  /** @throws WebhookEndpointNotFoundError */
  async delete(id: string, signal?: AbortSignal): Promise<void> {
    if (!isUuid(id) || !(await this.#store.deleteEndpoint(id, signal))) throw notFound(id);
  }

  /**
   * A new signing secret, returned this once; the previous ones keep signing for the grace period.
   * @throws WebhookEndpointNotFoundError
   */
  async rotateSecret(id: string, signal?: AbortSignal): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    if (!isUuid(id)) throw notFound(id);
    const now = this.#now();
    const secret = generateSecret();
    const endpoint = await this.#store.updateEndpoint(
      id,
      (current): EndpointPatch => ({ secrets: rotateSecrets(current.secrets, secret, now, this.#graceMs), updatedAt: now }),
      signal,
    );
    if (endpoint === undefined) throw notFound(id);
    return { endpoint, secret };
  }

  /** The delivery log, newest first; `before` is the last attempt id of the previous page. */
  async deliveries(id: string, before: string | undefined, limit: number, signal?: AbortSignal): Promise<DeliveryAttempt[]> {
    if (before !== undefined && !isUuid(before)) invalid('before', 'must be the id of an attempt (next_before of the previous page)');
    await this.get(id, signal);
    return this.#store.listAttempts(id, before, limit, signal);
  }

  /**
   * Delivers one event again (by id), or every event of the endpoint's types since a time.
   * Replays go out even if the event was delivered or refused before; they do not move the cursor.
   * @throws ValidationError, WebhookEndpointNotFoundError, ReplayEventNotFoundError, ReplayTooLargeError
   */
  async replay(id: string, input: ReplayInput, signal?: AbortSignal): Promise<{ enqueued: number }> {
    const errors = new FieldErrors();
    if ((input.eventId === undefined) === (input.since === undefined)) errors.add('', 'give exactly one of event_id and since');
    const since = input.since === undefined ? undefined : new Date(input.since);
    if (since !== undefined && (Number.isNaN(since.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(input.since ?? ''))) {
      errors.add('/since', 'must be an RFC 3339 date-time');
    }
    errors.throwIfAny();
    const endpoint = await this.get(id, signal);
    const now = this.#now();
    let selection: { sequences: number[] } | { since: Date };
    if (input.eventId !== undefined) {
      // Event ids are UUIDs: anything else names no event, and is never sent to the database as one.
      const sequence = isUuid(input.eventId) ? await this.#store.findEventSequence(input.eventId, signal) : undefined;
      if (sequence === undefined) throw new ReplayEventNotFoundError(`No event ${input.eventId} is kept in the feed.`);
      selection = { sequences: [sequence] };
    } else {
      selection = { since: since! };
    }
    const { count, refused } = await this.#store.enqueueReplay(id, selection, endpoint.eventTypes, now, REPLAY_MAX_EVENTS, signal);
    if (refused) {
      throw new ReplayTooLargeError(
        `That replay covers ${count} events; at most ${REPLAY_MAX_EVENTS} may be replayed at once. Replay a shorter period.`,
      );
    }
    return { enqueued: count };
  }

  /** Removes delivery log entries older than `retentionMs` in batches; returns how many went. */
  async pruneAttempts(retentionMs: number, batchSize: number, signal?: AbortSignal): Promise<number> {
    const before = new Date(this.#now().getTime() - retentionMs);
    return inBatches(batchSize, (limit) => this.#store.pruneAttempts(before, limit, signal), signal);
  }
}

function notFound(id: string): WebhookEndpointNotFoundError {
  return new WebhookEndpointNotFoundError(`No webhook endpoint has the id ${id.slice(0, 100)}.`);
}

function invalid(parameter: string, message: string): never {
  const errors = new FieldErrors();
  errors.add(`/${parameter}`, message);
  errors.throwIfAny();
  throw new Error('unreachable');
}

export type { EndpointSecret };
