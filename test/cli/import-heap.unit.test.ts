/**
 * cli/import-heap.ts sizes V8's heap for `roster import` only, and the setting takes effect from
 * inside the process: the young generation of an import process keeps its starting size where
 * another command's grows with the same allocations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const MODULE = new URL('../../src/cli/import-heap.js', import.meta.url).href;

/** New-space size (bytes) of a process run as `roster <command>` after allocations that survive scavenges. */
function youngGeneration(command: string): number {
  const script = `
    process.argv = [process.execPath, "cli.js", ${JSON.stringify(command)}];
    await import(${JSON.stringify(MODULE)});
    const { getHeapSpaceStatistics } = await import('node:v8');
    const kept = [];
    for (let i = 0; i < 400; i++) {
      kept.push(Array.from({ length: 2000 }, (_, j) => ({ i, j })));
      if (kept.length > 40) kept.shift();
    }
    const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(kept.length > 0 ? space.space_size : 0));
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return Number(child.stdout);
}

test('roster import keeps the young generation at its starting size; other commands keep V8 defaults', () => {
  const importing = youngGeneration('import');
  const exporting = youngGeneration('export');
  assert.ok(importing <= 4 * 1024 * 1024, `import: ${importing} bytes of new space`);
  assert.ok(exporting > importing, `export ${exporting} bytes, import ${importing}`);
});
