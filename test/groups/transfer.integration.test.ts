// Groups travel as NDJSON with their member ids: export, then import, round-trips, on both databases.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import type { Services } from '../../src/compose/services.js';
import { exportGroupLines, importGroupLines, type GroupLine } from '../../src/groups/transfer.js';
import { servicesOver } from '../helpers/app.js';
import { dialects, type TestDatabase } from '../helpers/databases.js';

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

async function* from(lines: readonly string[]): AsyncGenerator<string> {
  yield* lines;
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`groups import/export on ${dialect}`, { skip }, () => {
    let testDb: TestDatabase;
    let services: Services;
    before(async () => {
      testDb = await open();
      services = await servicesOver(testDb.database);
    });
    after(async () => {
      await services?.close();
      await testDb?.cleanup();
    });

    test('export, delete every group, import: the same groups with the same members come back', async () => {
      const users: string[] = [];
      for (let i = 0; i < 1205; i++)
        users.push((await services.users.create({ email: `t${i}@example.com`, name: `T ${i}` }, undefined)).user.id);
      await services.groups.create({ display_name: 'Everyone', external_id: 'all', member_ids: users }, {}, null);
      await services.groups.create({ display_name: 'Nobody', attributes: { empty: true } });
      await services.groups.create({ display_name: 'Some', member_ids: users.slice(3, 9) });
      const exported = (await collect(exportGroupLines(services.groups))).join('');
      const lines = exported.trimEnd().split('\n');
      assert.equal(lines.length, 3);
      const docs = lines.map((l) => JSON.parse(l) as GroupLine);
      assert.deepEqual(docs[0]!.member_ids, [...users].sort());

      for (const doc of docs) await services.groups.delete(doc.id, undefined);
      const errors: string[] = [];
      const tally = await importGroupLines(
        services.groups,
        from([...lines, '', 'not json', JSON.stringify({ ...docs[2], id: uuidv7(), display_name: 'Ghosts', member_ids: [uuidv7()] })]),
        (n, m) => errors.push(`${n}: ${m}`),
      );
      assert.deepEqual(tally, { created: 3, replaced: 0, failed: 2 });
      assert.equal(errors.length, 2);
      assert.match(errors[0]!, /^5: /);
      assert.match(errors[1]!, /^6: No user has id/);
      assert.equal((await collect(exportGroupLines(services.groups))).join(''), exported);

      const versions = await Promise.all(docs.map(async (d) => (await services.groups.get(d.id)).version));
      const again = await importGroupLines(services.groups, from(lines), () => assert.fail('no line fails'));
      assert.deepEqual(again, { created: 0, replaced: 3, failed: 0 });
      assert.deepEqual(
        await Promise.all(docs.map(async (d) => (await services.groups.get(d.id)).version)),
        versions,
        'the same content changes nothing',
      );
    });
  });
}
