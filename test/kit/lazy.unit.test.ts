import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lazy } from '../../src/kit/lazy.js';

test('lazy makes nothing until asked, then makes once and returns that value every time, undefined included', () => {
  let made = 0;
  const value = lazy(() => ({ n: ++made }));
  assert.equal(made, 0);
  const first = value();
  assert.equal(value(), first);
  assert.equal(made, 1);
  let undefinedMade = 0;
  const nothing = lazy(() => void undefinedMade++);
  assert.equal(nothing(), undefined);
  assert.equal(nothing(), undefined);
  assert.equal(undefinedMade, 1);
});

test('a make that throws is tried again on the next call', () => {
  let calls = 0;
  const value = lazy(() => {
    if (++calls === 1) throw new Error('first');
    return calls;
  });
  assert.throws(value, /first/);
  assert.equal(value(), 2);
  assert.equal(value(), 2);
});
