import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { isUuid, isUuidV7, newUuidV7 } from '../../src/kit/uuid.js';

describe('isUuidV7', () => {
  test('accepts what uuid v7() makes, lower case only', () => {
    const id = uuidv7();
    assert.equal(isUuidV7(id), true);
    assert.equal(isUuidV7(id.toUpperCase()), false);
  });

  test('refuses other versions, other variants and other shapes', () => {
    assert.equal(isUuidV7(uuidv4()), false);
    assert.equal(isUuidV7('01933b5e-8d3a-7c4e-ca51-2f0d4c1b7e21'), false, 'variant 110x');
    assert.equal(isUuidV7('01933b5e8d3a7c4e9a512f0d4c1b7e21'), false);
    assert.equal(isUuidV7(' 01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21'), false);
    assert.equal(isUuidV7('01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21'), true);
  });
});

describe('isUuid', () => {
  test('accepts any version, lower case only', () => {
    assert.equal(isUuid(uuidv4()), true);
    assert.equal(isUuid(uuidv7()), true);
    assert.equal(isUuid(uuidv4().toUpperCase()), false);
    assert.equal(isUuid('not-a-uuid'), false);
  });
});

describe('newUuidV7', () => {
  test('makes lower-case UUIDv7 that increase within the process, even within one millisecond', () => {
    let previous = newUuidV7();
    for (let i = 0; i < 50_000; i++) {
      const id = newUuidV7();
      assert.equal(isUuidV7(id), true, id);
      assert.ok(id > previous, `${id} after ${previous}`);
      previous = id;
    }
  });

  test('carries the current time in its first 48 bits', () => {
    const before = Date.now();
    const id = newUuidV7();
    const after = Date.now();
    const msecs = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
    // Only 2^31 ids within one millisecond would borrow the next one.
    assert.ok(msecs >= before && msecs <= after, `${msecs} within ${before}..${after}`);
  });
});
