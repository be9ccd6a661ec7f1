// The cluster test's traffic through the balancer: clients that create, read, rename, list and
// delete their own users, and a reader that tails the change feed. Every request is recorded
// with its time and outcome; every acknowledged write is remembered for the final checks.
import { request as httpRequest } from 'node:http';

export interface Outcome {
  readonly client: string;
  readonly op: string;
  readonly startedAt: number;
  readonly endedAt: number;
  /** The HTTP status, or undefined when no answer came (reset, refused, timed out). */
  readonly status: number | undefined;
  readonly error?: string;
  /** X-Roster-Instance: the balancer's name of the instance that answered. */
  readonly instance: string | undefined;
  /** Sent a second time: the first try's connection closed with no answer (see #send). */
  readonly retried?: true;
}

/** A failed request: no answer, a 5xx, or any status the operation never expects. */
export const failed = (o: Outcome): boolean =>
  o.status === undefined || !(EXPECTED.has(o.status) || (o.retried === true && o.op === 'delete' && o.status === 404));
const EXPECTED = new Set([200, 201, 204]);

export interface Acknowledged {
  readonly creates: string[];
  /** Each 200 of a PATCH: the user and the version it answered. */
  readonly updates: { readonly id: string; readonly version: number }[];
  readonly deletes: string[];
}

interface Owned {
  readonly id: string;
}

/** Each client stops after this many operations, whatever happens: the load is bounded in count too. */
const MAX_OPERATIONS_PER_CLIENT = 20_000;
/** A create without a definite answer is sent again with its Idempotency-Key, at most this often. */
const CREATE_TRIES = 10;
const REQUEST_TIMEOUT_MS = 60_000;

export class MixedLoad {
  readonly outcomes: Outcome[] = [];
  readonly acknowledged: Acknowledged = { creates: [], updates: [], deletes: [] };
  /** Sequences the feed reader saw, in the order it saw them. */
  readonly feedSeen: number[] = [];
  #stopped = false;
  #running: Promise<void>[] = [];

  constructor(
    private readonly url: string,
    private readonly authorization: string,
  ) {}

  start(clients: number): void {
    this.#running = [...Array.from({ length: clients }, (_, c) => this.#client(`c${c}`)), this.#feedReader()];
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
  }

  /** Requests answered (any status) so far. */
  get answered(): number {
    return this.outcomes.length;
  }

  /**
   * Requests safe to repeat whose connection closed before any answer, sent once more as RFC 9110
   * §9.2.2 lets a client do: GET, DELETE, and a create carrying an Idempotency-Key (a repeat gets
   * the first outcome, so it cannot create twice). The balancer closes the client's connection
   * when a reused connection fails under it (a keep-alive race), which CI met at random moments,
   * away from any kill or drain: reads before, one create on 2026-12-05. Each one is kept here and
   * counted by the test; a write without a key is never sent again.
   */
  readonly closedAndRetried: Outcome[] = [];

  async #send(
    client: string,
    op: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    retry = false,
  ): Promise<{ outcome: Outcome; json: unknown }> {
    const startedAt = Date.now();
    let outcome: Outcome;
    let json: unknown;
    try {
      const res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: this.authorization,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await res.text();
      json = text === '' ? undefined : (JSON.parse(text) as unknown);
      outcome = {
        client,
        op,
        startedAt,
        endedAt: Date.now(),
        status: res.status,
        instance: res.headers.get('x-roster-instance') ?? undefined,
        ...(EXPECTED.has(res.status) ? {} : { error: text.slice(0, 300) }),
      };
    } catch (error) {
      const cause = (error as Error).cause;
      outcome = { client, op, startedAt, endedAt: Date.now(), status: undefined, error: String(cause ?? error), instance: undefined };
      const repeatable = method === 'GET' || method === 'DELETE' || headers['idempotency-key'] !== undefined;
      if (!retry && repeatable && /other side closed/.test(outcome.error ?? '')) {
        this.closedAndRetried.push(outcome);
        const again = await this.#send(client, op, method, path, body, headers, true);
        return again;
      }
    }
    if (retry) outcome = { ...outcome, retried: true };
    this.outcomes.push(outcome);
    return { outcome, json };
  }

  async #client(name: string): Promise<void> {
    const mine: Owned[] = [];
    const pick = (i: number) => mine[(i * 7919) % mine.length]!;
    for (let i = 0; i < MAX_OPERATIONS_PER_CLIENT && !this.#stopped; i++) {
      const kind = mine.length < 3 ? 0 : i % 10;
      if (kind <= 2) {
        // Create, retried with the same key until an answer says what happened.
        const key = `cluster-${name}-${i}`;
        const body = { email: `${key}@example.com`, name: `Cluster ${name} ${i}` };
        for (let attempt = 0; attempt < CREATE_TRIES; attempt++) {
          const { outcome, json } = await this.#send(name, 'create', 'POST', '/v1/users', body, { 'idempotency-key': key });
          if (outcome.status === 201 || outcome.status === 200) {
            const id = (json as { id: string }).id;
            mine.push({ id });
            this.acknowledged.creates.push(id);
            break;
          }
          if (outcome.status !== undefined && outcome.status < 500) break; // a definite refusal
        }
      } else if (kind <= 5) {
        await this.#send(name, 'get', 'GET', `/v1/users/${pick(i).id}`);
      } else if (kind <= 7) {
        const user = pick(i);
        const { outcome, json } = await this.#send(
          name,
          'rename',
          'PATCH',
          `/v1/users/${user.id}`,
          { name: `Renamed ${name} ${i}` },
          { 'content-type': 'application/merge-patch+json' },
        );
        if (outcome.status === 200) this.acknowledged.updates.push({ id: user.id, version: (json as { version: number }).version });
        else this.#forget(mine, user); // applied or not: nobody knows; later checks hold either way
      } else if (kind === 8) {
        const user = pick(i);
        const { outcome } = await this.#send(name, 'delete', 'DELETE', `/v1/users/${user.id}`);
        if (outcome.status === 204) this.acknowledged.deletes.push(user.id);
        this.#forget(mine, user);
      } else {
        await this.#send(name, 'list', 'GET', '/v1/users?limit=20');
      }
    }
  }

  #forget(mine: Owned[], user: Owned): void {
    mine.splice(mine.indexOf(user), 1);
  }

  /** Tails the feed as a consumer would: `after` = the last sequence seen. */
  async #feedReader(): Promise<void> {
    let after = 0;
    for (let i = 0; i < MAX_OPERATIONS_PER_CLIENT && !this.#stopped; i++) {
      const { outcome, json } = await this.#send('feed', 'feed', 'GET', `/v1/events?after=${after}&limit=1000`);
      if (outcome.status !== 200) continue;
      for (const event of (json as { data: { sequence: number }[] }).data) this.feedSeen.push(event.sequence);
      after = Number((json as { next_after: string }).next_after);
    }
  }
}

/**
 * `count` anonymous requests, one connection each, from `localAddress` (any 127.x address: the
 * balancer forwards it in X-Forwarded-For, so Roster, trusting the balancer, sees each burst as
 * its own client). Returns the statuses in order, with the instance that answered.
 */
export async function anonymousBurst(url: string, localAddress: string, count: number): Promise<{ status: number; instance: string }[]> {
  const { hostname, port } = new URL(url);
  const out: { status: number; instance: string }[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await new Promise((resolve, reject) => {
        const req = httpRequest(
          { host: hostname, port, path: '/v1/users?limit=1', localAddress, agent: false, timeout: REQUEST_TIMEOUT_MS },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, instance: String(res.headers['x-roster-instance']) }));
          },
        );
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end();
      }),
    );
  }
  return out;
}
