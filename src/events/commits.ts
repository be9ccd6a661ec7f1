/**
 * In-process announcements that a transaction which appended events has committed: the writers
 * (users' stores, the import's batches) call announce() after their COMMIT returned, never for a
 * rolled-back transaction, and the webhook dispatcher wakes on them instead of waiting for its
 * next poll. An announcement carries nothing: listeners read the events table themselves, so a
 * lost, repeated or spurious announcement costs at most a late or an empty claim round.
 */
export class EventCommits {
  readonly #listeners = new Set<() => void>();

  /** Calls `listener` after each announced commit; returns the unsubscribe. At most MAX_LISTENERS at once. */
  subscribe(listener: () => void): () => void {
    if (this.#listeners.size >= MAX_LISTENERS) throw new RangeError(`at most ${MAX_LISTENERS} listeners of event commits`);
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Announces a commit; synchronous and cheap (listeners only flag work to do). */
  readonly announce = (): void => {
    for (const listener of this.#listeners) listener();
  };
}

/** A process has one dispatcher; the bound only catches a leak (subscribing without unsubscribing). */
const MAX_LISTENERS = 16;
