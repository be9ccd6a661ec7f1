import type { Logger } from 'pino';

/**
 * Tells the other instances that this process committed events: one `pg_notify` on the
 * channel the listeners hear (events/sql-commit-listener.ts), sent after the writer's COMMIT,
 * in a statement of its own.
 *
 * Not inside the writer's transaction (nor from a trigger): PostgreSQL serialises the commits of
 * every transaction that notifies on its notification queue; measured while writers held the
 * (pre-0014) sequence lock through COMMIT, that halved their commit rate (bench/RESULTS.md,
 * webhooks notes). It is sent once the events are numbered (events/sql-sequencer.ts), so a
 * listener that reads at once finds them. Sent here, the notification costs one short
 * statement outside every lock, and a burst of commits is coalesced into at most one statement
 * in flight and one more after it: the listeners read the events table themselves, so one
 * notification stands for any number of commits before it.
 *
 * A notification that cannot be sent (the database is down) is dropped and logged: every
 * dispatcher's poll is the safety net. Nothing queues beyond one pending flag.
 */
export class PostgresCommitNotifier {
  readonly #send: () => Promise<unknown>;
  readonly #logger: Logger;
  #sending: Promise<void> | undefined;
  #pending = false;
  #stopped = false;
  #failures = 0;

  /** `send` runs the NOTIFY (e.g. `select pg_notify('roster_events', current_schema())`). */
  constructor(send: () => Promise<unknown>, logger: Logger) {
    this.#send = send;
    this.#logger = logger;
  }

  /** Called after each commit that appended events; synchronous, never throws. */
  readonly notify = (): void => {
    if (this.#stopped) return;
    if (this.#sending !== undefined) {
      this.#pending = true;
      return;
    }
    this.#sending = this.#drain().finally(() => (this.#sending = undefined));
  };

  /** Sends nothing more; resolves once the statement in flight (if any) has settled. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#pending = false;
    await this.#sending;
  }

  async #drain(): Promise<void> {
    do {
      this.#pending = false;
      try {
        await this.#send();
        if (this.#failures > 0) this.#logger.info({ failed: this.#failures }, 'notifying event commits again');
        this.#failures = 0;
      } catch (error) {
        this.#failures++;
        // One line when notifying stops working, then one per hundred failures, not one per commit.
        if (this.#failures === 1 || this.#failures % 100 === 0)
          this.#logger.warn(
            { err: error, failed: this.#failures },
            'could not notify other instances of event commits; they poll meanwhile',
          );
      }
    } while (this.#pending && !this.#stopped);
  }
}
