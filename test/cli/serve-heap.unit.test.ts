/**
 * cli/serve-heap.ts turns V8's allocation-site pretenuring off for `roster serve` only, and the
 * setting takes effect from inside the process: V8 judges the allocation sites of a literal whose
 * objects all survive (and traces each judgement) in another command's process, never in a
 * server's. The child's young generation is kept small so that it collects often enough for V8 to
 * judge on every version: with Node 24's default sizes one run in several made no judgement that
 * ended in "tenure".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const MODULE = new URL('../../src/cli/serve-heap.js', import.meta.url).href;

/** How many times V8 judged an allocation site in a process run as `roster <command>`. */
function siteJudgements(command: string): number {
  const script = `
    process.argv = [process.execPath, "cli.js", ${JSON.stringify(command)}];
    await import(${JSON.stringify(MODULE)});
    const pair = (i) => [i, i + 1];
    const kept = [];
    for (let i = 0; i < 3_000_000; i++) kept.push(pair(i));
    if (kept.length !== 3_000_000) process.exitCode = 1;
  `;
  const flags = ['--max-semi-space-size=1', '--trace-pretenuring-statistics', '--input-type=module'];
  const child = spawnSync(process.execPath, [...flags, '-e', script], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(child.status, 0, child.stderr);
  return child.stdout.split('\n').filter((line) => line.includes('pretenuring: AllocationSite(')).length;
}

test('roster serve never judges an allocation site for pretenuring; other commands keep V8 defaults', () => {
  assert.ok(siteJudgements('export') > 0, 'the workload makes V8 judge its sites where the policy is not set');
  assert.equal(siteJudgements('serve'), 0);
});
