import { inBatches } from '../kit/batches.js';
import type { Cancellation } from '../kit/deadline.js';
import { FieldErrors } from '../kit/errors.js';
import { inSpan } from '../kit/trace.js';
import { isUuid } from '../kit/uuid.js';
import { isEventType, type EventType, type StoredEvent } from './model.js';

export interface EventPageQuery {
  /** Events with a greater sequence, in sequence order. */
  readonly afterSequence: number;
  readonly limit: number;
  /** Only these types; undefined means all. */
  readonly types?: readonly EventType[] | undefined;
  /** Only the events of this subject (a user, group, endpoint or import id); an index range (subject_id, seq). */
  readonly subjectId?: string | undefined;
}

/** The newest events first: sequences below `beforeSequence` (undefined: from the newest), descending. */
export interface LatestEventsQuery {
  readonly beforeSequence?: number | undefined;
  readonly limit: number;
  readonly types?: readonly EventType[] | undefined;
  readonly subjectId?: string | undefined;
}

/** The storage port of the events capability. Adapter: SqlEventStore. */
export interface EventStore {
  list(query: EventPageQuery, signal?: Cancellation): Promise<StoredEvent[]>;
  /** Numbered events in descending sequence order (the same indexes read backwards). */
  latest(query: LatestEventsQuery, signal?: AbortSignal): Promise<StoredEvent[]>;
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
  /** Only this subject's events: a UUID. */
  readonly subjectId?: string | undefined;
}

export interface LatestInput {
  /** Only events older than this sequence; absent: from the newest. */
  readonly before?: string | undefined;
  readonly limit: number;
  readonly type?: string | undefined;
  readonly subjectId?: string | undefined;
}

export interface LatestPage {
  /** Newest first. */
  readonly events: StoredEvent[];
  /** Pass as `before` for the older page; undefined when this page was not full (nothing older). */
  readonly nextBefore: number | undefined;
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
  async feed(input: FeedInput, signal?: Cancellation): Promise<EventPage> {
    const errors = new FieldErrors();
    const after = input.after ?? '0';
    if (!SEQUENCE.test(after)) errors.add('after', 'must be an event sequence: a whole number from 0');
    const filters = readFilters(input, errors);
    errors.throwIfAny();
    const afterSequence = Number(after);
    return inSpan('events.feed', async () => {
      const events = await this.#store.list({ afterSequence, limit: input.limit, ...filters }, signal);
      return { events, nextAfter: events.at(-1)?.sequence ?? afterSequence };
    });
  }

  /**
   * The newest events first, page by page towards older ones (the console's live view and a
   * user's history). Not a consumer's feed: events committing meanwhile appear only on a re-read.
   * @throws ValidationError (bad `before`, `type` or `subjectId`)
   */
  async latest(input: LatestInput, signal?: AbortSignal): Promise<LatestPage> {
    const errors = new FieldErrors();
    if (input.before !== undefined && !SEQUENCE.test(input.before))
      errors.add('before', 'must be an event sequence: a whole number from 0');
    const filters = readFilters(input, errors);
    errors.throwIfAny();
    const beforeSequence = input.before === undefined ? undefined : Number(input.before);
    return inSpan('events.latest', async () => {
      const events = await this.#store.latest({ beforeSequence, limit: input.limit, ...filters }, signal);
      return { events, nextBefore: events.length === input.limit ? events.at(-1)?.sequence : undefined };
    });
  }

  /** Removes events older than `retentionMs` in batches of `batchSize`; returns how many went. */
  async prune(retentionMs: number, batchSize: number, signal?: AbortSignal): Promise<number> {
    const before = new Date(this.#now().getTime() - retentionMs);
    return inBatches(batchSize, (limit) => this.#store.prune(before, limit, signal), signal);
  }
}

/** The type and subject filters both reads share, checked into `errors`. */
function readFilters(
  input: { readonly type?: string | undefined; readonly subjectId?: string | undefined },
  errors: FieldErrors,
): { types?: EventType[]; subjectId?: string } {
  const filters: { types?: EventType[]; subjectId?: string } = {};
  if (input.type !== undefined) {
    const given = input.type.split(',').map((t) => t.trim());
    const unknown = given.filter((t) => !isEventType(t));
    if (unknown.length > 0 || given.length === 0) errors.add('type', `unknown event type(s): ${unknown.join(', ').slice(0, 200)}`);
    filters.types = given.filter(isEventType);
  }
  if (input.subjectId !== undefined) {
    // Every subject is a UUID (users, groups, endpoints, imports); PostgreSQL's column is uuid.
    if (!isUuid(input.subjectId)) errors.add('subject_id', 'must be a lower-case UUID');
    else filters.subjectId = input.subjectId;
  }
  return filters;
}
