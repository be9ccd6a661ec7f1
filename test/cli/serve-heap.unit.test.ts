/**
 * cli/serve-heap.ts turns V8's allocation-site pretenuring off for `roster serve` only, and the
 * setting takes effect from inside the process: a literal whose objects all survive is judged
 * long-lived (V8 traces the decision) in another command's process, never in a server's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const MODULE = new URL('../../src/cli/serve-heap.js', import.meta.url).href;

/** How many allocation sites V8 judged long-lived in a process run as `roster <command>`. */
function tenuredSites(command: string): number {
  const script = `
    process.argv = [process.execPath, "cli.js", ${JSON.stringify(command)}];
    await import(${JSON.stringify(MODULE)});
    const pair = (i) => [i, i + 1];
    const kept = [];
    for (let i = 0; i < 3_000_000; i++) kept.push(pair(i));
    if (kept.length !== 3_000_000) process.exitCode = 1;
  `;
  const child = spawnSync(process.execPath, ['--trace-pretenuring-statistics', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(child.status, 0, child.stderr);
  return child.stdout.split('\n').filter((line) => line.includes('=> tenure')).length;
}

test('roster serve never judges an allocation site long-lived; other commands keep V8 defaults', () => {
  assert.ok(tenuredSites('export') > 0, 'the workload makes V8 pretenure where the policy is not set');
  assert.equal(tenuredSites('serve'), 0);
});
