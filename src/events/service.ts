import { inBatches } from '../kit/batches.js';
import { FieldErrors } from '../kit/errors.js';
import { inSpan } from '../kit/trace.js';
import { isEventType, type EventType, type StoredEvent } from './model.js';

export interface EventPageQuery {
  /** Events with a greater sequence, in sequence order. */
  readonly afterSequence: number;
  readonly limit: number;
  /** Only these types; undefined means all. */
  readonly types?: readonly EventType[] | undefined;
}

/** The storage port of the events capability. Adapter: SqlEventStore. */
export interface EventStore {
  list(query: EventPageQuery, signal?: AbortSignal): Promise<StoredEvent[]>;
  /** Deletes events that occurred before `before`, oldest first, at most `limit`; returns how many. */
  prune(before: Date, limit: number, signal?: AbortSignal): Promise<number>;
}

export interface EventPage {
  readonly events: StoredEvent[];
  /** Pass as `after` to continue; equal to the given `after` when nothing newer exists yet. */
  readonly nextAfter: number;
}

export interface FeedInput {
  readonly after?: string | undefined;
  readonly limit: number;
  /** Comma-separated event types. */
  readonly type?: string | undefined;
}

const SEQUENCE = /^(0|[1-9][0-9]{0,15})$/;

/** The event feed and its retention. */
export class EventsService {
  readonly #store: EventStore;
  readonly #now: () => Date;

  constructor(options: { store: EventStore; now?: () => Date }) {
    this.#store = options.store;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * One page of the feed after a sequence. A consumer stores `nextAfter` once it has processed
   * the page and resumes from it; sequences only grow in commit order, so nothing is skipped.
   * @throws ValidationError (bad `after` or `type`)
   */
  async feed(input: FeedInput, signal?: AbortSignal): Promise<EventPage> {
    const errors = new FieldErrors();
    const after = input.after ?? '0';
    if (!SEQUENCE.test(after)) errors.add('after', 'must be an event sequence: a whole number from 0');
    let types: EventType[] | undefined;
    if (input.type !== undefined) {
      const given = input.type.split(',').map((t) => t.trim());
      const unknown = given.filter((t) => !isEventType(t));
      if (unknown.length > 0 || given.length === 0) errors.add('type', `unknown event type(s): ${unknown.join(', ').slice(0, 200)}`);
      types = given.filter(isEventType);
    }
    errors.throwIfAny();
    const afterSequence = Number(after);
    return inSpan('events.feed', async () => {
      const events = await this.#store.list({ afterSequence, limit: input.limit, types }, signal);
      return { events, nextAfter: events.at(-1)?.sequence ?? afterSequence };
    });
  }

  /** Removes events older than `retentionMs` in batches of `batchSize`; returns how many went. */
  async prune(retentionMs: number, batchSize: number, signal?: AbortSignal): Promise<number> {
    const before = new Date(this.#now().getTime() - retentionMs);
    return inBatches(batchSize, (limit) => this.#store.prune(before, limit, signal), signal);
  }
}
