#!/usr/bin/env node
// Runs the compiled test files with node's test runner. Node 20's `--test DIR` would also run
// every helper module under a `test/` folder as if it were a test, so the files are listed here.
// Usage: node scripts/test.mjs [unit|integration|api|e2e ...]
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
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
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=4', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
