// A webhook test bench over a real database: users (whose changes write events), the
// webhooks service and store, dispatchers with fast schedules, and loopback sinks whose
// every request is verified with the official standardwebhooks library.
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { v7 as uuidv7 } from 'uuid';
import { Webhook } from 'standardwebhooks';
import { createLogger } from '../../src/observability/logger.js';
import type { UsersService } from '../../src/users/service.js';
import { BreakerRegistry } from '../../src/webhooks/breaker.js';
import { Dispatcher, type DispatcherOptions, type Wakeups } from '../../src/webhooks/dispatcher.js';
import { WebhookHttpClient } from '../../src/webhooks/http-client.js';
import { WebhooksService } from '../../src/webhooks/service.js';
import { SqlDeliveryStore } from '../../src/webhooks/sql-delivery-store.js';
import { SqlWebhookStore } from '../../src/webhooks/sql-store.js';
import { type HostResolver } from '../../src/webhooks/ssrf.js';
import { AllowList } from '../../src/kit/allow-list.js';
import { servicesOver } from '../helpers/app.js';
import type { EventCommits } from '../../src/events/commits.js';
import type { TestDatabase } from '../helpers/databases.js';
import { pollFor } from '../helpers/server.js';
import type { ReceivedRequest } from './sink.js';

export const LOOPBACK = AllowList.parse('127.0.0.1');

/** Retries come back after 30 ms (or the receiver's bounded Retry-After), not minutes. */
export const FAST_SCHEDULE: DispatcherOptions['schedule'] = ({ now, retryAfterMs }) =>
  new Date(now.getTime() + Math.max(30, retryAfterMs ?? 0));

export interface Bench {
  readonly testDb: TestDatabase;
  readonly users: UsersService;
  readonly webhooks: WebhooksService;
  readonly store: SqlWebhookStore;
  /** The dispatcher's store over the same database. */
  readonly deliveries: SqlDeliveryStore;
  /** What `users` announces its commits on (as src/compose wires it). */
  readonly commits: EventCommits;
  /** A dispatcher with fast timeouts and schedule; stopped by `close`. */
  dispatcher(options?: Partial<DispatcherOptions> & { resolve?: HostResolver; allowList?: AllowList }): Dispatcher;
  /** Creates `n` users (each writes one user.created event). */
  createUsers(n: number, prefix?: string): Promise<void>;
  close(): Promise<void>;
}

export async function bench(testDb: TestDatabase, allowList: AllowList = LOOPBACK): Promise<Bench> {
  const { database } = testDb;
  const store = new SqlWebhookStore(database.db, database.dialect);
  const deliveries = new SqlDeliveryStore(database.db, database.dialect);
  const { users, eventCommits: commits } = await servicesOver(database);
  const webhooks = new WebhooksService({ store, newId: uuidv7, allowList, secretGraceMs: 3_600_000 });
  const started: { dispatcher: Dispatcher; client: WebhookHttpClient }[] = [];
  let made = 0;
  return {
    testDb,
    users,
    webhooks,
    store,
    deliveries,
    commits,
    dispatcher(options = {}) {
      const client = new WebhookHttpClient({
        allowList: options.allowList ?? allowList,
        ...(options.resolve ? { resolve: options.resolve } : {}),
        connectTimeoutMs: 500,
        headersTimeoutMs: 300,
        bodyTimeoutMs: 300,
        // Well above the 300 ms timeouts, so each fault is reported as its own kind even on a loaded machine.
        attemptTimeoutMs: 3_000,
      });
      const dispatcher = new Dispatcher({
        store: deliveries,
        client,
        logger: createLogger((process.env.LOG_LEVEL as 'info' | undefined) ?? 'silent'),
        newId: uuidv7,
        workers: 4,
        pollIntervalMs: 10,
        leaseMs: 5_000,
        schedule: FAST_SCHEDULE,
        breakers: new BreakerRegistry({ failureThreshold: 1_000 }),
        // Woken by this process's commits, as in src/compose; the poll stays short, so what
        // nothing announces (replays, retries of another dispatcher) is found quickly too.
        wakeups: inProcessWakeups(commits),
        idlePollIntervalMs: options.pollIntervalMs ?? 10,
        ...options,
      });
      started.push({ dispatcher, client });
      return dispatcher;
    },
    async createUsers(n, prefix = 'user') {
      for (let i = 0; i < n; i++) {
        made++;
        await users.create({ email: `${prefix}${made}@example.com`, name: `${prefix} ${made}`, attributes: {} }, undefined);
      }
    },
    async close() {
      for (const { dispatcher, client } of started) {
        await dispatcher.stop(1_000).catch(() => undefined);
        await client.close();
      }
    },
  };
}

/** Every request verified with the official library; returns the parsed bodies. */
export function verifyAll(requests: readonly ReceivedRequest[], secret: string): { sequence: number; id: string; type: string }[] {
  const webhook = new Webhook(secret);
  return requests.map((request) => {
    const body = webhook.verify(request.body.toString(), request.headers as Record<string, string>) as {
      sequence: number;
      id: string;
      type: string;
    };
    assert.equal(request.headers['webhook-id'], body.id, 'the webhook-id is the event id');
    return body;
  });
}

/** Polls `check` every 20 ms until it is true or `ms` pass (then fails naming `what`). */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  await pollFor(what, check, { ms });
}

/** Resolves names from a table; unknown names are NXDOMAIN. */
export function resolver(table: Record<string, string>): HostResolver {
  return async (hostname) => {
    const answer = table[hostname];
    if (answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return [{ address: answer, family: 4 }] satisfies LookupAddress[];
  };
}

/** Wake-ups from this process's commits only (src/compose adds PostgreSQL's LISTEN). */
export function inProcessWakeups(commits: EventCommits): Wakeups {
  let unsubscribe: (() => void) | undefined;
  return {
    live: true,
    start(wake) {
      unsubscribe = commits.subscribe(wake);
    },
    stop() {
      unsubscribe?.();
      return Promise.resolve();
    },
  };
}
