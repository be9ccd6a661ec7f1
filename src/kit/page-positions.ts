/**
 * Where offset pages ended, so the page after one seeks by id instead of walking the index from
 * the start: identity providers read a whole directory in startIndex order (1, 201, 401…), and
 * without this every page walks O(rows) to reach its offset. Also the row count, remembered for
 * a few seconds when counting was costly, since every page must carry it.
 *
 * Bounded: at most `maxEntries` positions, least recently used first out (a Map keeps insertion
 * order, so re-inserting on a hit is the whole LRU — a dependency would bring more than these
 * lines), each forgotten after `ttlMs`. Per process: another instance behind a load balancer
 * has its own, and a miss costs the walk, never a wrong page.
 */
export interface PagePositionsOptions {
  readonly maxEntries: number;
  /** How long a position stays usable (a provider pages back to back; a stale one is not worth keeping). */
  readonly ttlMs: number;
  /** How long a count stays usable: the most a total may lag behind the table. */
  readonly totalTtlMs: number;
  readonly now?: () => number;
}

/**
 * 1,000 positions (a few dozen providers paging at once, with room); a position lasts 10 minutes
 * (a provider's next page comes within seconds); a count 10 s, so a total may lag that much.
 */
export const DEFAULT_PAGE_POSITIONS: PagePositionsOptions = { maxEntries: 1_000, ttlMs: 600_000, totalTtlMs: 10_000 };

interface Entry<Id> {
  readonly id: Id;
  readonly until: number;
}

export class PagePositions<Id> {
  readonly #positions = new Map<string, Entry<Id>>();
  readonly #totals = new Map<string, { readonly total: number; readonly until: number }>();
  readonly #options: PagePositionsOptions;
  readonly #now: () => number;

  constructor(options: PagePositionsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The id of the row just before `offset` in `scope` (a query and its order), if a page ended there lately. */
  recall(scope: string, offset: number): Id | undefined {
    const key = `${scope}\u0000${offset}`;
    const entry = this.#positions.get(key);
    if (entry === undefined) return undefined;
    this.#positions.delete(key);
    if (entry.until <= this.#now()) return undefined;
    this.#positions.set(key, entry);
    return entry.id;
  }

  /** A page of `scope` ended at `offset` (rows before it) with the row `id`. */
  remember(scope: string, offset: number, id: Id): void {
    const key = `${scope}\u0000${offset}`;
    this.#positions.delete(key);
    this.#positions.set(key, { id, until: this.#now() + this.#options.ttlMs });
    while (this.#positions.size > this.#options.maxEntries) this.#positions.delete(this.#positions.keys().next().value!);
  }

  /** The count of `scope` if one was remembered within totalTtlMs. */
  total(scope: string): number | undefined {
    const entry = this.#totals.get(scope);
    return entry !== undefined && entry.until > this.#now() ? entry.total : undefined;
  }

  /** Scopes are the caller's few fixed queries, so this map stays as small as they are few. */
  rememberTotal(scope: string, total: number): void {
    this.#totals.set(scope, { total, until: this.#now() + this.#options.totalTtlMs });
  }

  /** How many positions are held (for tests of the bound). */
  get size(): number {
    return this.#positions.size;
  }
}
