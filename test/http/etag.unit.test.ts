import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etagOf, ifNoneMatchHits, parseIfMatch } from '../../src/http/etag.js';

test('etagOf is a strong tag of the version', () => assert.equal(etagOf(3), '"3"'));

test('If-Match', () => {
  assert.equal(parseIfMatch(undefined), undefined);
  assert.equal(parseIfMatch(' * '), undefined);
  assert.deepEqual(parseIfMatch('"3"'), [3]);
  assert.deepEqual(parseIfMatch('"3", "4"'), [3, 4]);
  assert.deepEqual(parseIfMatch('W/"3"'), [], 'weak tags never match under strong comparison');
  assert.deepEqual(parseIfMatch('garbage'), []);
  assert.deepEqual(parseIfMatch('"99999999999999999999"'), []);
});

test('If-None-Match', () => {
  assert.equal(ifNoneMatchHits(undefined, 1), false);
  assert.equal(ifNoneMatchHits('*', 1), true);
  assert.equal(ifNoneMatchHits('"1"', 1), true);
  assert.equal(ifNoneMatchHits('W/"1"', 1), true, 'weak comparison');
  assert.equal(ifNoneMatchHits('"2", "1"', 1), true);
  assert.equal(ifNoneMatchHits('"2"', 1), false);
});
