/**
 * The benchmark's databases: a fresh SQLite file and a fresh PostgreSQL database, each migrated
 * with Roster's own migrator and then filled with the same users by raw bulk inserts (Roster's
 * row encoding: see src/users/sql-row.ts). Each server set (Node.js 20, Node.js 24) gets its own
 * copy, so every Roster starts on a new database and prints its bootstrap admin key.
 */
import { copyFile } from 'node:fs/promises';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { foldKey } from '../src/users/model.js';

const SQLITE_BATCH = 25_000;
const POSTGRES_BATCH = 10_000;
const DEPARTMENTS = ['engineering', 'sales', 'support', 'finance', 'people'];
const CITIES = ['Berlin', 'Lisbon', 'Toronto', 'Nairobi', 'Osaka'];

export function attributesFor(i: number): Record<string, unknown> {
  return { department: DEPARTMENTS[i % 5], title: 'Software Engineer', location: CITIES[i % 5], employee_number: 100_000 + i };
}

/** The users every database gets: the same ids, so one request stream fits all servers. */
export interface SeedUsers {
  readonly ids: string[];
  readonly createdAt: string;
  /** One seeded user as Roster puts it on the wire: the fixed body of baseline A. */
  readonly sampleBody: string;
}

export function seedUsers(count: number): SeedUsers {
  const ids = Array.from({ length: count }, () => uuidv7());
  const createdAt = new Date().toISOString();
  const first = {
    id: ids[0],
    email: 'User.0@Example.com',
    name: 'Bench User 0',
    attributes: attributesFor(0),
    version: 1,
    created_at: createdAt,
    updated_at: createdAt,
  };
  return { ids, createdAt, sampleBody: JSON.stringify(first) };
}

function userValues(users: SeedUsers, i: number) {
  const email = `User.${i}@Example.com`;
  const name = `Bench User ${i}`;
  return [users.ids[i]!, email, foldKey(email), name, foldKey(name), JSON.stringify(attributesFor(i)), users.createdAt] as const;
}

async function migrate(url: string): Promise<void> {
  const database = openDatabase(url);
  try {
    await migrateToLatest(database.db, database.dialect.name);
  } finally {
    await database.close();
  }
}

export async function seedSqlite(file: string, users: SeedUsers): Promise<void> {
  await migrate(file);
  const connection = new SQLite(file, { fileMustExist: true });
  try {
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = NORMAL');
    const insert = connection.prepare(
      'insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at) values (?, ?, ?, ?, ?, ?, 1, ?, ?)',
    );
    const insertBatch = connection.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const values = userValues(users, i);
        insert.run(...values, users.createdAt);
      }
    });
    for (let from = 0; from < users.ids.length; from += SQLITE_BATCH) insertBatch(from, Math.min(users.ids.length, from + SQLITE_BATCH));
    connection.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    connection.close();
  }
}

/** A copy of a seeded (closed, checkpointed) SQLite file. */
export async function copySqlite(from: string, to: string): Promise<void> {
  await copyFile(from, to);
}

/** `url` with its database name replaced. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Resolves when the server answers, rejects with the driver's error otherwise. */
export async function postgresAnswers(adminUrl: string): Promise<void> {
  await withClient(adminUrl, (client) => client.query('select 1'));
}

/** Creates `name` (empty, or a copy of `template`). Names are the benchmark's own, never user input. */
export async function createPostgresDatabase(adminUrl: string, name: string, template?: string): Promise<string> {
  await withClient(adminUrl, (client) => client.query(`create database ${name}${template ? ` template ${template}` : ''}`));
  return withDatabase(adminUrl, name);
}

export async function dropPostgresDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, (client) => client.query(`drop database if exists ${name} with (force)`));
}

/** Migrates and fills the database at `url`; unnest() turns each batch into one statement. */
export async function seedPostgres(url: string, users: SeedUsers): Promise<void> {
  await migrate(url);
  await withClient(url, async (client) => {
    for (let from = 0; from < users.ids.length; from += POSTGRES_BATCH) {
      const columns: string[][] = [[], [], [], [], [], []];
      for (let i = from; i < Math.min(users.ids.length, from + POSTGRES_BATCH); i++) {
        const values = userValues(users, i);
        for (let c = 0; c < 6; c++) columns[c]!.push(values[c]!);
      }
      await client.query(
        `insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at)
         select id, email, email_key, name, name_key, attributes::jsonb, 1, $7::timestamptz, $7::timestamptz
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
           as t(id, email, email_key, name, name_key, attributes)`,
        [...columns, users.createdAt],
      );
    }
    await client.query('vacuum analyze users');
  });
}
