/**
 * Group commit: requests submitted close together are written by one call of `write` (one
 * transaction), each request getting its own answer. One write runs at a time. The first request
 * of a group waits `lingerMs` (or until `maxGroup` have come) for others; requests arriving while
 * a write runs go into the next group, written as soon as it ends. The queue is bounded by `maxQueued` (a caller past it is refused at
 * once: it catches a leak, since each caller waits for its answer before submitting again).
 */
export interface GroupCommitOptions<T, R> {
  /** Writes a group; returns one answer per request, in order. A throw fails every request of the group. */
  readonly write: (group: readonly T[]) => Promise<readonly R[]>;
  /** How long the first request of a group waits for others before the write starts. Default 0 (the next turn of the event loop). */
  readonly lingerMs?: number;
  /** Requests per write at most. Default 32. */
  readonly maxGroup?: number;
  /** Requests waiting at most (beyond the group being written). Default 1,024. */
  readonly maxQueued?: number;
}

interface Waiting<T, R> {
  readonly request: T;
  readonly resolve: (answer: R) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommit<T, R> {
  readonly #write: (group: readonly T[]) => Promise<readonly R[]>;
  readonly #lingerMs: number;
  readonly #maxGroup: number;
  readonly #maxQueued: number;
  readonly #queue: Waiting<T, R>[] = [];
  /** The first request of the next group is waiting for others: how to stop the wait. */
  #lingering: (() => void) | undefined;
  #writing = false;

  constructor(options: GroupCommitOptions<T, R>) {
    this.#write = options.write;
    this.#lingerMs = options.lingerMs ?? 0;
    this.#maxGroup = options.maxGroup ?? 32;
    this.#maxQueued = options.maxQueued ?? 1_024;
    if (!Number.isSafeInteger(this.#maxGroup) || this.#maxGroup < 1) throw new RangeError('maxGroup must be a positive integer');
    if (!(this.#lingerMs >= 0)) throw new RangeError('lingerMs must not be negative');
  }

  /** Queues `request` for the next group; resolves to its answer once that group is written. */
  submit(request: T): Promise<R> {
    if (this.#queue.length >= this.#maxQueued) {
      return Promise.reject(new RangeError(`at most ${this.#maxQueued} requests may wait for a group commit`));
    }
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      if (this.#writing) return; // the write's end starts the next group
      if (this.#queue.length >= this.#maxGroup) {
        this.#stopLingering();
        void this.#flush();
      } else if (this.#lingering === undefined) {
        // setImmediate at 0: after the I/O callbacks already due, which are often other requesters.
        if (this.#lingerMs > 0) {
          const timer = setTimeout(() => this.#flushLingered(), this.#lingerMs);
          this.#lingering = () => clearTimeout(timer);
        } else {
          const immediate = setImmediate(() => this.#flushLingered());
          this.#lingering = () => clearImmediate(immediate);
        }
      }
    });
  }

  #flushLingered(): void {
    this.#lingering = undefined;
    void this.#flush();
  }

  #stopLingering(): void {
    this.#lingering?.();
    this.#lingering = undefined;
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    const group = this.#queue.splice(0, this.#maxGroup);
    try {
      const answers = await this.#write(group.map((w) => w.request));
      group.forEach((waiting, i) => waiting.resolve(answers[i]!));
    } catch (error) {
      for (const waiting of group) waiting.reject(error);
    }
    this.#writing = false;
    // Requests that came during the write have waited long enough: the next group goes at once.
    if (this.#queue.length > 0) void this.#flush();
  }
}
