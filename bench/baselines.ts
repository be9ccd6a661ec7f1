/**
 * The minimal servers Roster is measured against (baseline B, one per database): fastify with no
 * logger, no schemas, no hooks, the raw driver, and exactly the database work Roster's three
 * measured routes do:
 *
 *   GET  /v1/users/:id     one primary-key select of Roster's columns (USER_COLUMNS), the row
 *                          returned as JSON
 *   GET  /v1/users?limit=  the first `limit` users in id order (the same columns), returned as
 *                          `{data: rows}`
 *   POST /v1/users         the user and its `user.created` event inserted in one transaction with
 *                          prepared statements, the same columns as Roster's rows
 *                          (src/users/sql-row.ts toUserRow, src/events/sql-outbox.ts toEventRow);
 *                          on PostgreSQL under the same transaction-scoped advisory lock Roster
 *                          takes before inserting an event (EVENT_SEQUENCE_LOCK)
 *
 * Rows go out as the driver returns them: on SQLite `attributes` stays JSON text (no parse), on
 * PostgreSQL pg has already parsed jsonb and timestamptz.
 */
import type { FastifyInstance } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { EVENT_SEQUENCE_LOCK } from '../src/events/sql-outbox.js';
// The columns Roster's stores read a user from: B's selects read the same row (a narrower list
// left out the five provisioning columns of migration 0011, work Roster's reads do).
import { USER_COLUMNS } from '../src/users/sql-row.js';
import { SQLITE_LIMIT } from '../src/db/sqlite-steps.js';
const INSERT_USER =
  'insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, 1, $7, $7)';
const INSERT_EVENT = 'insert into events (id, type, occurred_at, actor, request_id, subject_id, data) values ($1, $2, $3, $4, $5, $6, $7)';
/** The actor the baseline writes on its events: Roster writes the API key's actor. */
const ACTOR = 'key:benchmark';

export interface Baseline {
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

interface NewUserBody {
  email: string;
  name: string;
  attributes?: Record<string, unknown>;
}

/** The user as Roster returns it, and the event row's `data` (`{user: document}`). */
function newUser(body: NewUserBody, now: string) {
  return {
    id: uuidv7(),
    email: body.email,
    name: body.name,
    attributes: body.attributes ?? {},
    version: 1,
    created_at: now,
    updated_at: now,
  };
}

/** The folded lookup keys Roster stores; plain lower-casing is exact for the benchmark's ASCII data. */
const keyOf = (text: string) => text.toLowerCase();

export async function fastifySqlite(file: string): Promise<Baseline> {
  const { default: SQLite } = await import('better-sqlite3');
  const { default: Fastify } = await import('fastify');
  const connection = new SQLite(file, { fileMustExist: true });
  // The same pragmas Roster's openDatabase() sets.
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('busy_timeout = 5000');
  connection.pragma('foreign_keys = ON');
  const byId = connection.prepare<[string], Record<string, unknown>>(`select ${USER_COLUMNS} from users where id = ?`);
  const firstPage = connection.prepare<[number], Record<string, unknown>>(`select ${USER_COLUMNS} from users order by id ${SQLITE_LIMIT}`);
  const insertUser = connection.prepare(INSERT_USER.replace(/\$\d/g, '?'));
  const insertEvent = connection.prepare(INSERT_EVENT.replace(/\$\d/g, '?'));
  const create = connection.transaction((user: ReturnType<typeof newUser>, requestId: string) => {
    insertUser.run(
      user.id,
      user.email,
      keyOf(user.email),
      user.name,
      keyOf(user.name),
      JSON.stringify(user.attributes),
      user.created_at,
      user.updated_at,
    );
    insertEvent.run(uuidv7(), 'user.created', user.created_at, ACTOR, requestId, user.id, JSON.stringify({ user }));
  });
  const app = Fastify({ logger: false });
  app.get<{ Params: { id: string } }>('/v1/users/:id', async (request, reply) => {
    const row = byId.get(request.params.id);
    if (row === undefined) return reply.code(404).send({ error: 'not found' });
    return row;
  });
  app.get<{ Querystring: { limit?: string } }>('/v1/users', async (request) => ({
    data: firstPage.all(Number(request.query.limit ?? 50)),
  }));
  app.post<{ Body: NewUserBody }>('/v1/users', async (request, reply) => {
    const user = newUser(request.body, new Date().toISOString());
    create(user, request.id);
    return reply.code(201).send(user);
  });
  return {
    app,
    async close() {
      await app.close();
      connection.close();
    },
  };
}

export async function fastifyPostgres(url: string, poolSize: number): Promise<Baseline> {
  const { default: pg } = await import('pg');
  const { default: Fastify } = await import('fastify');
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  pool.on('error', () => undefined); // an idle client's error must not end the baseline mid-run
  const app = Fastify({ logger: false });
  // Named queries: pg prepares each once per connection and then sends only the parameters.
  app.get<{ Params: { id: string } }>('/v1/users/:id', async (request, reply) => {
    const { rows } = await pool.query({
      name: 'b-by-id',
      text: `select ${USER_COLUMNS} from users where id = $1`,
      values: [request.params.id],
    });
    if (rows.length === 0) return reply.code(404).send({ error: 'not found' });
    return rows[0] as Record<string, unknown>;
  });
  app.get<{ Querystring: { limit?: string } }>('/v1/users', async (request) => {
    const { rows } = await pool.query({
      name: 'b-first-page',
      text: `select ${USER_COLUMNS} from users order by id limit $1`,
      values: [Number(request.query.limit ?? 50)],
    });
    return { data: rows };
  });
  app.post<{ Body: NewUserBody }>('/v1/users', async (request, reply) => {
    const now = new Date();
    const user = newUser(request.body, now.toISOString());
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query({
        name: 'b-insert-user',
        text: INSERT_USER,
        values: [user.id, user.email, keyOf(user.email), user.name, keyOf(user.name), JSON.stringify(user.attributes), now],
      });
      await client.query({ name: 'b-event-lock', text: 'select pg_advisory_xact_lock($1)', values: [EVENT_SEQUENCE_LOCK] });
      await client.query({
        name: 'b-insert-event',
        text: INSERT_EVENT,
        values: [uuidv7(), 'user.created', now, ACTOR, request.id, user.id, JSON.stringify({ user })],
      });
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    return reply.code(201).send(user);
  });
  return {
    app,
    async close() {
      await app.close();
      await pool.end();
    },
  };
}
