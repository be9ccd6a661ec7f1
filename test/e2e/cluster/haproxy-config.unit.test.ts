import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DOCUMENTED_EXAMPLE, HAPROXY_TEMPLATE, renderHaproxyConfig } from './haproxy-config.js';

const OPERATIONS = fileURLToPath(new URL('../../../../docs/operations.md', import.meta.url));

describe('the HAProxy configuration in docs/operations.md', () => {
  it('is the template the cluster e2e test runs, filled in with the documented values', async () => {
    const expected = renderHaproxyConfig(await readFile(HAPROXY_TEMPLATE, 'utf8'), DOCUMENTED_EXAMPLE);
    const docs = await readFile(OPERATIONS, 'utf8');
    const block = /```haproxy\n([\s\S]*?)```/.exec(docs)?.[1];
    assert.ok(block !== undefined, 'docs/operations.md has a ```haproxy block');
    assert.equal(block, expected, 'regenerate the block from test/e2e/cluster/haproxy.cfg.template');
  });

  it('refuses a placeholder without a value', () => {
    assert.throws(() => renderHaproxyConfig('bind {{BIND}}:{{PORT}}', { BIND: '127.0.0.1' }), /\{\{PORT\}\}/);
  });
});
