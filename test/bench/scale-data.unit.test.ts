// The scale bench's generator (bench/scale-data.ts) must give users Roster accepts, the same
// user for the same (seed, index) on every run, ids in index order (the bench finds page 200 by
// index) and distinct email keys (the load refuses none).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { emailKeyOf, scaleUser, userId } from '../../bench/scale-data.js';
import { parseEmail, parseUserId, parseUserName } from '../../src/users/model.js';

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const index = fc.integer({ min: 0, max: 50_000_000 });

test('every generated user passes the API rules, and the same (seed, index) gives the same user', () => {
  fc.assert(
    fc.property(seed, index, (s, i) => {
      const user = scaleUser(s, i);
      assert.ok(parseUserId(user.id).ok, user.id);
      assert.ok(parseEmail(user.email).ok, user.email);
      assert.ok(parseUserName(user.name).ok, user.name);
      assert.deepEqual(scaleUser(s, i), user);
    }),
  );
});

test('ids ascend with the index and email keys differ', () => {
  fc.assert(
    fc.property(seed, index, fc.integer({ min: 1, max: 1_000_000 }), (s, i, gap) => {
      assert.ok(userId(s, i) < userId(s, i + gap));
      assert.notEqual(emailKeyOf(scaleUser(s, i)), emailKeyOf(scaleUser(s, i + gap)));
    }),
  );
});

test('neighbouring users, within one millisecond of id time and across it, keep index order', () => {
  for (let i = 0; i < 10_000; i++) assert.ok(userId(15, i) < userId(15, i + 1), `user ${i}`);
});

test('names are not all ASCII: some take the Unicode path of foldKey()', () => {
  const names = Array.from({ length: 1000 }, (_, i) => scaleUser(15, i).name);
  assert.ok(names.some((name) => /[^ -~]/.test(name)));
  assert.ok(names.some((name) => /^[ -~]*$/.test(name)));
});
