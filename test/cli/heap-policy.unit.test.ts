/**
 * cli/heap-policy.ts sets V8's heap policy per command, from inside the process, and only for the
 * command it is for. Each test runs a child as `roster <command>` (the module reads the command
 * from process.argv) and reads the effect from V8 itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const MODULE = new URL('../../src/cli/heap-policy.js', import.meta.url).href;
const HEAP_MODULE = new URL('../../src/kit/heap.js', import.meta.url).href;

/** Runs `workload` in a child whose argv names `command`, after the policy module is evaluated. */
function runAs(command: string, workload: string, flags: string[] = []): string {
  const script = `
    process.argv = [process.execPath, "cli.js", ${JSON.stringify(command)}];
    await import(${JSON.stringify(MODULE)});
    ${workload}
  `;
  const child = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(child.status, 0, child.stderr);
  return child.stdout;
}

/** New-space size (bytes) after allocations that survive scavenges. */
function youngGeneration(command: string): number {
  const workload = `
    const { getHeapSpaceStatistics } = await import('node:v8');
    const kept = [];
    for (let i = 0; i < 400; i++) {
      kept.push(Array.from({ length: 2000 }, (_, j) => ({ i, j })));
      if (kept.length > 40) kept.shift();
    }
    const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(kept.length > 0 ? space.space_size : 0));
  `;
  return Number(runAs(command, workload));
}

/**
 * How many times V8 judged an allocation site for pretenuring. The young generation is kept small
 * so that it collects often enough for V8 to judge on every version: with Node 24's default sizes
 * one run in several made no judgement that ended in "tenure".
 */
function siteJudgements(command: string): number {
  const workload = `
    const pair = (i) => [i, i + 1];
    const kept = [];
    for (let i = 0; i < 3_000_000; i++) kept.push(pair(i));
    if (kept.length !== 3_000_000) process.exitCode = 1;
  `;
  const output = runAs(command, workload, ['--max-semi-space-size=1', '--trace-pretenuring-statistics']);
  return output.split('\n').filter((line) => line.includes('pretenuring: AllocationSite(')).length;
}

test('roster import keeps the young generation at its starting size; other commands keep V8 defaults', () => {
  const importing = youngGeneration('import');
  const exporting = youngGeneration('export');
  assert.ok(importing <= 4 * 1024 * 1024, `import: ${importing} bytes of new space`);
  assert.ok(exporting > importing, `export ${exporting} bytes, import ${importing}`);
  assert.ok(youngGeneration('serve') > importing, "serve does not take import's sizing");
});

test('roster serve never judges an allocation site for pretenuring; other commands keep V8 defaults', () => {
  assert.ok(siteJudgements('export') > 0, 'the workload makes V8 judge its sites where the policy is not set');
  assert.ok(siteJudgements('import') > 0, "import does not take serve's policy");
  assert.equal(siteJudgements('serve'), 0);
});

/**
 * Whether TurboFan optimizes a function asked to be optimized: before the command has started
 * (right after the policy module), and after kit/heap.ts's resumeOptimizingCompiler() as main.ts
 * calls it once the server has started. Bit 64 of V8's optimization status is "TurboFanned".
 */
function optimizesBeforeAndAfterStart(command: string, flags: string[] = []): string {
  const workload = `
    const turbofanned = () => {
      function add(a) { return a + 1; }
      %PrepareFunctionForOptimization(add);
      add(1); add(2);
      %OptimizeFunctionOnNextCall(add);
      add(3);
      return (%GetOptimizationStatus(add) & 64) !== 0;
    };
    const starting = turbofanned();
    const { resumeOptimizingCompiler } = await import(${JSON.stringify(HEAP_MODULE)});
    resumeOptimizingCompiler();
    process.stdout.write(starting + ' ' + turbofanned());
  `;
  return runAs(command, workload, ['--allow-natives-syntax', ...flags]);
}

test('roster serve starts without TurboFan and has it once started; other commands keep it throughout', () => {
  assert.equal(optimizesBeforeAndAfterStart('serve'), 'false true');
  assert.equal(optimizesBeforeAndAfterStart('import'), 'true true');
  assert.equal(optimizesBeforeAndAfterStart('export'), 'true true');
});

test("an operator's own TurboFan flag wins over serve's policy, before and after start", () => {
  assert.equal(optimizesBeforeAndAfterStart('serve', ['--no-opt']), 'false false');
  assert.equal(optimizesBeforeAndAfterStart('serve', ['--turbofan']), 'true true');
});

test('a command named like an Object property finds no policy', () => {
  assert.equal(runAs('constructor', 'process.stdout.write("ran");'), 'ran');
});
