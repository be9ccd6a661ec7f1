// A global retry budget: over a sliding window, retries may be at most `ratio` of all attempts,
// plus a floor per second so a quiet system can always retry. During an outage of many
// endpoints, first attempts keep flowing and retries are postponed (never dropped), so the
// dispatcher's load stays near its normal rate instead of multiplying. Hand-written: a few
// counters in time buckets; the libraries that have one (e.g. cockatiel) tie it to running
// the call inside their policy, which the dispatcher does not do.

export interface RetryBudgetOptions {
  /** Share of attempts in the window that may be retries. Default 0.2. */
  readonly ratio?: number;
  /** Retries per second always allowed, whatever the ratio says. Default 10. */
  readonly minPerSecond?: number;
  /** The sliding window. Default 10 s. */
  readonly windowMs?: number;
}

const BUCKETS = 10;

/** Counts attempts and retries over a sliding window and says whether one more retry fits. */
export class RetryBudget {
  readonly #ratio: number;
  readonly #minPerSecond: number;
  readonly #windowMs: number;
  readonly #bucketMs: number;
  /** Per bucket: [bucket index, attempts, retries]; a ring of BUCKETS entries, so bounded. */
  readonly #buckets: [number, number, number][] = Array.from({ length: BUCKETS }, () => [-1, 0, 0]);

  constructor(options: RetryBudgetOptions = {}) {
    this.#ratio = options.ratio ?? 0.2;
    this.#minPerSecond = options.minPerSecond ?? 10;
    this.#windowMs = options.windowMs ?? 10_000;
    if (!(this.#ratio >= 0 && this.#ratio <= 1)) throw new RangeError('ratio must be from 0 to 1');
    if (!(this.#minPerSecond >= 0) || !(this.#windowMs > 0)) throw new RangeError('minPerSecond and windowMs must be positive');
    this.#bucketMs = this.#windowMs / BUCKETS;
  }

  /** Records a first attempt (always allowed). */
  recordFirstAttempt(now: number): void {
    this.#bucket(now)[1]++;
  }

  /** Whether a retry may go now; if it may, it is recorded as spent. */
  tryRetry(now: number): boolean {
    let attempts = 0;
    let retries = 0;
    const current = Math.floor(now / this.#bucketMs);
    for (const [index, a, r] of this.#buckets) {
      if (index > current - BUCKETS && index <= current) {
        attempts += a;
        retries += r;
      }
    }
    const allowed = Math.max(this.#ratio * (attempts + 1), (this.#minPerSecond * this.#windowMs) / 1000);
    if (retries + 1 > allowed) return false;
    const bucket = this.#bucket(now);
    bucket[1]++;
    bucket[2]++;
    return true;
  }

  #bucket(now: number): [number, number, number] {
    const index = Math.floor(now / this.#bucketMs);
    const bucket = this.#buckets[index % BUCKETS]!;
    if (bucket[0] !== index) {
      bucket[0] = index;
      bucket[1] = 0;
      bucket[2] = 0;
    }
    return bucket;
  }
}
