/** How the rows of a transaction are chosen when a batch holds a lock others wait for. */
export interface TransactionBudget {
  /** How long one batch's transaction should take. */
  readonly targetMs: number;
  /** Rows of the first batch, before anything has been measured. */
  readonly initialRows: number;
  readonly minRows: number;
  readonly maxRows: number;
}

/** Weight of the newest measurement: a few batches settle the size, one slow batch does not swing it. */
const SMOOTHING = 0.3;

/**
 * Sizes batches so each transaction takes about `targetMs`, from the time the last ones took.
 * A fixed row count cannot do that: the cost of a row grows with the database (a random email
 * lands in an index that no longer fits in the page cache), so a size measured on an empty
 * database holds the SQLite write lock for seconds on a large one. The size moves towards the
 * budget gradually and stays within [minRows, maxRows].
 */
export class TransactionSizer {
  readonly #budget: TransactionBudget;
  #msPerRow: number | undefined;
  #rows: number;

  constructor(budget: TransactionBudget) {
    if (!(budget.minRows >= 1 && budget.minRows <= budget.initialRows && budget.initialRows <= budget.maxRows && budget.targetMs > 0)) {
      throw new RangeError('a transaction budget needs 1 ≤ minRows ≤ initialRows ≤ maxRows and a positive target');
    }
    this.#budget = budget;
    this.#rows = budget.initialRows;
  }

  /** Rows the next batch may hold. */
  get rows(): number {
    return this.#rows;
  }

  /** Records that a transaction of `rows` rows took `ms`. */
  observe(rows: number, ms: number): void {
    if (rows <= 0 || !(ms >= 0)) return;
    const perRow = ms / rows;
    this.#msPerRow = this.#msPerRow === undefined ? perRow : this.#msPerRow + SMOOTHING * (perRow - this.#msPerRow);
    const { targetMs, minRows, maxRows } = this.#budget;
    const wanted = this.#msPerRow > 0 ? targetMs / this.#msPerRow : maxRows;
    this.#rows = Math.round(Math.min(maxRows, Math.max(minRows, wanted)));
  }
}
