/**
 * Export → import is lossless: any generated directory (formula-like cells, quotes, commas,
 * non-ASCII, nested attributes, mixed-case emails) imported into one database, exported, and
 * imported into an empty one gives the same users, ids included, in CSV and in NDJSON.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { v7 as uuidv7 } from 'uuid';
import { exportUsers } from '../../src/imports/export/export.js';
import { parseAttributes, parseEmail, parseExternalId, parseUserName, foldKey } from '../../src/users/model.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';
import { validProfile } from '../helpers/profiles.js';
import { importService, provisioning, users } from './harness.js';

const namePart = fc.option(
  fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), fc.constantFrom('=Ada', ' Zoe\u0301 ', 'Lee, "Jr"')),
  { nil: null },
);

const user = fc
  .record({
    id: fc.uuid({ version: 7 }),
    email: fc.oneof(
      fc.emailAddress(),
      fc.tuple(fc.constantFrom('=', '+', '-', "'=", '@'), fc.emailAddress()).map(([p, e]) => p + e),
      fc.emailAddress().map((e) => e.toUpperCase()),
    ),
    name: fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      fc.constantFrom('=SUM(A1:A9)', '+33 1 23', '-minus', '@handle', "'=already escaped", 'Lee, Ann "Annie"', 'Zoë 😀', 'tab\there'),
    ),
    attributes: fc.dictionary(
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.oneof(
        fc.string({ maxLength: 20 }),
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
        fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
      ),
      { maxKeys: 5 },
    ),
    given_name: namePart,
    family_name: namePart,
    external_id: fc.option(
      fc
        .oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.constantFrom('=cmd', '00uAbC', '00uabc', ' padded '))
        .filter((e) => parseExternalId(e).ok),
      { nil: null },
    ),
    active: fc.boolean(),
    profile: validProfile,
  })
  .filter(({ email, name, attributes }) => parseEmail(email).ok && parseUserName(name).ok && parseAttributes(attributes).ok)
  .filter(({ given_name, family_name }) => [given_name, family_name].every((part) => part === null || parseUserName(part).ok))
  .filter(({ attributes }) => !/"(__proto__|constructor)"/.test(JSON.stringify(attributes)))
  // Stored names are trimmed and NFC-normalised; stored attributes are plain JSON objects.
  .map(({ id, email, name, attributes, given_name, family_name, external_id, active, profile }) => ({
    id,
    email,
    name: name.trim().normalize('NFC'),
    given_name: given_name?.trim().normalize('NFC') ?? null,
    family_name: family_name?.trim().normalize('NFC') ?? null,
    external_id,
    active,
    attributes: JSON.parse(JSON.stringify(attributes)) as unknown,
    profile,
  }));

const directory = fc
  .uniqueArray(user, { maxLength: 40, selector: (u) => foldKey(u.email) })
  .filter((list) => new Set(list.map((u) => u.id)).size === list.length)
  // External ids are unique too (exactly: '00uAbC' and '00uabc' are two).
  .map((list) =>
    list.map((u, i) =>
      list.findIndex((v) => v.external_id !== null && v.external_id === u.external_id) < i ? { ...u, external_id: null } : u,
    ),
  );

async function text(chunks: AsyncIterable<string>): Promise<string> {
  let all = '';
  for await (const chunk of chunks) all += chunk;
  return all;
}

for (const [name, open, skip] of await dialects()) {
  describe(`export → import round trip on ${name}`, { skip }, () => {
    let source: TestDatabase;
    let target: TestDatabase;
    before(async () => {
      source = await open();
      target = await open();
    });
    after(async () => {
      await source?.cleanup();
      await target?.cleanup();
    });
    const empty = async (t: TestDatabase) => {
      for (const table of ['import_row_errors', 'import_jobs', 'events', 'users'] as const) await t.database.db.deleteFrom(table).execute();
    };

    it('gives the same directory, ids included, in both formats', async () => {
      await fc.assert(
        fc.asyncProperty(directory, fc.constantFrom('csv' as const, 'ndjson' as const), async (list, format) => {
          await empty(source);
          await empty(target);
          const ndjson = list.map((u) => `${JSON.stringify(u)}\n`).join('');
          const seeded = await importService(source.database).run(
            await importService(source.database).create({
              format: 'ndjson',
              mode: 'create',
              events: 'per-user',
              dryRun: false,
              options: {},
              source: 'seed',
            }),
            Readable.from([Buffer.from(ndjson)]),
            { signal: new AbortController().signal },
          );
          assert.equal(seeded.job.counts.created, list.length, JSON.stringify(seeded.job));
          const exported = await text(exportUsers(source.database, { format }));
          const service = importService(target.database);
          const { job } = await service.run(
            await service.create({ format, mode: 'create', events: 'per-user', dryRun: false, options: {}, source: 'export' }),
            Readable.from([Buffer.from(exported)]),
            { signal: new AbortController().signal },
          );
          assert.equal(job.status, 'succeeded');
          assert.deepEqual(job.counts, { read: list.length, created: list.length, updated: 0, skipped: 0, failed: 0 });
          const read = async (database: TestDatabase['database']) => {
            const extra = await provisioning(database);
            return (await users(database)).map(({ id, email, name, attributes }, i) => ({
              id,
              email,
              name,
              attributes,
              ...extra[i],
              id_: id,
            }));
          };
          const expected = [...list].sort((a, b) => (a.id < b.id ? -1 : 1)).map((u) => ({ ...u, id_: u.id }));
          assert.deepEqual(await read(source.database), expected);
          assert.deepEqual(await read(target.database), expected);
          assert.equal(await text(exportUsers(target.database, { format })), exported);
        }),
        { numRuns: name === 'sqlite' ? 40 : 15 },
      );
    });

    it('reads several pages in id order, and `since` keeps the users changed at or after it', async () => {
      await empty(source);
      const { db, dialect } = source.database;
      const all: { id: string; changed: boolean }[] = [];
      // 2,500 users over three pages; every third one changed after `since`.
      for (let batch = 0; batch < 5; batch++) {
        const rows = Array.from({ length: 500 }, (_, i) => {
          const n = batch * 500 + i;
          const changed = n % 3 === 0;
          const id = uuidv7();
          all.push({ id, changed });
          const at = dialect.toTime(new Date(changed ? '2026-03-01T00:00:00.000Z' : '2024-03-01T00:00:00.000Z'));
          return {
            id,
            email: `page-${n}@example.com`,
            email_key: `page-${n}@example.com`,
            name: `Page ${n}`,
            name_key: `page ${n}`,
            attributes: dialect.toJson({ n }),
            version: 1,
            created_at: at,
            updated_at: at,
          };
        });
        await db.insertInto('users').values(rows).execute();
      }
      const ids = async (since?: Date) =>
        (await text(exportUsers(source.database, { format: 'ndjson', since })))
          .trim()
          .split('\n')
          .map((line) => (JSON.parse(line) as { id: string }).id);
      const byId = all.map((u) => u.id).sort();
      assert.deepEqual(await ids(), byId);
      const changed = new Set(all.filter((u) => u.changed).map((u) => u.id));
      assert.deepEqual(
        await ids(new Date('2025-01-01T00:00:00.000Z')),
        byId.filter((id) => changed.has(id)),
      );
      assert.deepEqual(
        await ids(new Date('2026-03-01T00:00:00.000Z')),
        byId.filter((id) => changed.has(id)),
        'at the instant is included',
      );
    });
  });
}
