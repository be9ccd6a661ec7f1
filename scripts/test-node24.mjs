#!/usr/bin/env node
// Runs the whole compiled test suite on Node.js 24 (`npm run test:node24`, run by .ci/run after
// `npm test` on the machine's Node.js): scripts/node24.mjs --tests prepares Node 24 and a copy of
// the app with better-sqlite3 built for it, then scripts/test.mjs runs there under Node 24, so
// every child the tests spawn (process.execPath) is Node 24 too. Build first (npm test does).
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const prepared = execFileSync(process.execPath, ['scripts/node24.mjs', '--tests'], {
  cwd: repo,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
});
const { node, version, app } = JSON.parse(prepared.trim().split('\n').at(-1));
process.stderr.write(`test:node24: the suite on Node.js ${version} in ${app}\n`);
const result = spawnSync(node, ['scripts/test.mjs', ...process.argv.slice(2)], { cwd: app, stdio: 'inherit' });
process.exit(result.status ?? 1);
