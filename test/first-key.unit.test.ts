import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstKeyNotice } from '../src/first-key.js';

const ESC = String.fromCharCode(27);
const KEY = `rk_0123456789abcdef_${'A'.repeat(43)}`;

test('the first-key notice: the key alone on its line, the database, why, and how to regain access', () => {
  const notice = firstKeyNotice(KEY, 'postgres://roster@db.internal:5432/roster', { colour: false });
  assert.match(notice, new RegExp(`\\n\\n${KEY}\\n\\n`), 'the key is alone on its line, blank lines around it');
  assert.match(notice, /first admin API key of postgres:\/\/roster@db\.internal:5432\/roster/);
  assert.match(notice, /every new database gets its own first key/);
  assert.match(notice, /a new PostgreSQL database/);
  assert.match(notice, /roster keys create --name admin --scope admin/);
  assert.match(notice, /shown only this once/);
  const rules = notice.split('\n').filter((line) => /^─+$/.test(line));
  assert.equal(rules.length, 2, 'framed by two rules');
  assert.ok(notice.startsWith('\n') && notice.endsWith('\n\n'), 'apart from the log lines around it');
  assert.ok(!notice.includes(ESC), 'no escape codes');
});

test('on a terminal only the heading is bold; the key line stays plain for copying and grepping', () => {
  const notice = firstKeyNotice(KEY, 'sqlite:/data/roster.db', { colour: true });
  assert.ok(notice.includes(`${ESC}[1mRoster created the first admin API key of sqlite:/data/roster.db.${ESC}[0m`), notice);
  assert.match(notice, new RegExp(`^${KEY}$`, 'm'));
});
