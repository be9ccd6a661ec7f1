import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { isUuid, isUuidV7 } from '../../src/kit/uuid.js';

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
