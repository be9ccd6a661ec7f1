#!/usr/bin/env node
// Runs the compiled test files with node's test runner. Node 20's `--test DIR` would also run
// every helper module under a `test/` folder as if it were a test, so the files are listed here.
// Usage: node scripts/test.mjs [unit|integration|api|e2e ...]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const sizes = process.argv.slice(2);
const root = 'dist/test';
const files = readdirSync(root, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => sizes.length === 0 || sizes.some((s) => f.endsWith(`.${s}.test.js`)))
  .sort()
  .map((f) => join(root, f));
if (files.length === 0) {
  process.stderr.write(`no test files matched ${sizes.join(', ') || '*'} under ${root}\n`);
  process.exit(1);
}
// TAP on stdout as before, and the spec reporter into a file: when a run fails, its "failing
// tests" section is printed last, so the end of a long CI log names what failed and why.
const report = join('test-artifacts', `test-report-${process.versions.node}.txt`);
mkdirSync('test-artifacts', { recursive: true });
const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout'];
reporters.push('--test-reporter=spec', `--test-reporter-destination=${report}`);
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=4', ...reporters, ...files], {
  stdio: 'inherit',
});
if (result.status !== 0) printFailures(report);
process.exit(result.status ?? 1);

function printFailures(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  const at = text.lastIndexOf('failing tests:');
  const failures = at >= 0 ? text.slice(at) : text.split('\n').slice(-200).join('\n');
  // The failures alone, capped: a CI log shows its tail, and this is what the tail must hold.
  process.stderr.write(`\n===== ${path}: ${at >= 0 ? 'failing tests' : 'last lines'} =====\n`);
  process.stderr.write(`${failures.slice(0, 60_000)}\n`);
}
