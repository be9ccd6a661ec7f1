import { foldKey } from '../../users/model.js';
import { BlockedBloomFilter } from './bloom.js';
import { rejected, type CheckedItem, type Stage } from './rows.js';

export interface DedupeOptions {
  /** Distinct emails remembered exactly, with the line each was first seen on. */
  readonly exactLimit?: number;
  /** Size of the Bloom filter every email goes through, in bits (rounded up to a power of two). */
  readonly filterBits?: number;
  /** Bits set per email in the filter. */
  readonly filterHashes?: number;
}

/** What is known about an email seen on some line. */
export type Sighting =
  /** `exact`: remembered with its line; otherwise only in the filter, where a repeat will be a "maybe". */
  | { readonly kind: 'first'; readonly exact: boolean }
  | { readonly kind: 'duplicate'; readonly firstLine: number }
  /** The filter says it may have been seen: it cannot tell, so the database must. */
  | { readonly kind: 'maybe' };

/*
 * Memory, measured on Node 20 with 35-character emails: a Map of lower-cased email → line
 * costs ~85 bytes per entry on the heap and ~130 MB of RSS at 1M entries, so an exact set of
 * 10M emails (~1 GB) is out of reach of the import's 150 MB budget, and so is a table of
 * 64-bit fingerprints with its load factor and doubling (~130–200 MB at 10M). Fingerprints
 * cannot be trusted alone anyway: a collision would drop a real row.
 *
 * So two tiers, both fixed in size. Every email goes through a 16 MiB Bloom filter (bloom.ts;
 * its pages are touched as keys arrive); the first 100,000 distinct emails are also kept in a
 * Map with their line (~8.5 MB of heap). Measured over the whole front half on 1M rows: RSS
 * grows ~64 MB with this tier at 100k, ~74 MB at 250k, ~102 MB at 500k.
 *   - The filter says "new" (no false negatives): a first occurrence, no Map lookup.
 *   - It says "maybe" and the Map has the email: an exact duplicate, a row error naming the
 *     first line, wherever in the file it repeats.
 *   - It says "maybe", the Map lacks the email and has never been full: a false positive,
 *     since the Map then holds every email seen. A first occurrence.
 *   - Otherwise it cannot be decided in memory: the row goes on with `maybeDuplicate`, never
 *     dropped. ~0.1% of rows over a 10M-row file (0.3% near its end) plus real repeats of
 *     emails first seen after the first 100,000; the writer lets the database's unique email
 *     index decide (create mode: a real repeat fails like any existing email; upsert mode: a
 *     maybe-row matching a user this job already wrote, or left unchanged, is the repeat).
 *     So that "left unchanged" can be known, a first occurrence remembered only in the filter
 *     is flagged `markIfUnchanged`: the writer records the job on that user even when the row
 *     changes nothing (one write per such row, only in files past the exact tier).
 * Files with up to 100,000 distinct emails are therefore deduplicated exactly, and larger ones
 * exactly for every repeat the filter rules out, in constant memory at any size.
 */
export const DEFAULT_EXACT_LIMIT = 100_000;
export const DEFAULT_FILTER_BITS = 2 ** 27;
export const DEFAULT_FILTER_HASHES = 7;

/** The memory of emails already seen in one file. Keys are `foldKey()`s, the users' key. */
export class EmailSightings {
  readonly #exact = new Map<string, number>();
  readonly #exactLimit: number;
  readonly #filter: BlockedBloomFilter;
  #beyondExact = 0;

  constructor(options: DedupeOptions = {}) {
    this.#exactLimit = options.exactLimit ?? DEFAULT_EXACT_LIMIT;
    this.#filter = new BlockedBloomFilter(options.filterBits ?? DEFAULT_FILTER_BITS, options.filterHashes ?? DEFAULT_FILTER_HASHES);
  }

  /** Records `key` as seen on `line` and says whether it was seen before. */
  see(key: string, line: number): Sighting {
    // The filter sees every key, so the map is only consulted when the filter says "maybe":
    // most rows cost one filter probe and no map lookup.
    const maybeSeen = this.#filter.testAndAdd(key);
    if (maybeSeen) {
      const firstLine = this.#exact.get(key);
      if (firstLine !== undefined) return { kind: 'duplicate', firstLine };
    }
    if (this.#exact.size < this.#exactLimit) {
      // Until the map is full it holds every key seen, so a "maybe" it lacks is a new key.
      this.#exact.set(key, line);
      return FIRST;
    }
    if (maybeSeen) return MAYBE;
    this.#beyondExact++;
    return FIRST_IN_FILTER;
  }

  /** Emails remembered exactly, and emails seen past the exact limit (only in the filter). */
  get counts(): { readonly exact: number; readonly beyondExact: number } {
    return { exact: this.#exact.size, beyondExact: this.#beyondExact };
  }
}

const FIRST: Sighting = Object.freeze({ kind: 'first', exact: true });
const FIRST_IN_FILTER: Sighting = Object.freeze({ kind: 'first', exact: false });
const MAYBE: Sighting = Object.freeze({ kind: 'maybe' });

/**
 * The dedupe stage: within one file, the first row with an email (compared as the API compares
 * them: by `foldKey()`, ignoring case) wins; a later one is a row error naming the first line, or, past the
 * exact tier, is flagged `maybeDuplicate` for the database to settle. Rejected rows pass
 * through and do not claim their email.
 */
export function dedupeEmails(options: DedupeOptions = {}): Stage<CheckedItem[], CheckedItem[]> {
  return async function* dedupe(chunks) {
    const sightings = new EmailSightings(options);
    for await (const items of chunks) yield items.map((item) => dedupeItem(item, sightings));
  };
}

function dedupeItem(item: CheckedItem, sightings: EmailSightings): CheckedItem {
  if (item.kind === 'rejected') return item;
  const sighting = sightings.see(foldKey(item.user.email), item.line);
  if (sighting.kind === 'first') return sighting.exact ? item : { ...item, markIfUnchanged: true };
  if (sighting.kind === 'maybe') return { ...item, maybeDuplicate: true };
  return rejected(item.line, [
    { field: 'email', reason: `repeats the email of line ${sighting.firstLine} (emails are compared ignoring case)` },
  ]);
}
