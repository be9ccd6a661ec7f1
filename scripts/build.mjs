#!/usr/bin/env node
// The build: tsc, then the build info, then a stamp in dist/ naming what was built.
// `--if-changed` (npm start) skips all of it when the stamp matches the sources: on a busy
// machine tsc takes about a minute, which every start used to pay.
//
// The stamp is a SHA-256 over the path and bytes of every file tsc reads from the project (src/,
// test/, bench/, tsconfig.json) and package-lock.json (the types of the dependencies), computed
// BEFORE tsc runs: a file edited while tsc runs makes the next start build again. Content, not
// mtimes: a checkout or a `touch` changes mtimes without changing what tsc would produce.
// Usage: node scripts/build.mjs [--if-changed]
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const STAMP = 'dist/.build-stamp';
const INPUTS = ['src', 'test', 'bench', 'tsconfig.json', 'package-lock.json'];
/** What `npm start` runs; without it the stamp alone proves nothing (dist/ partly removed). */
const ENTRY = 'dist/src/cli.js';

function sourcesHash() {
  const hash = createHash('sha256');
  for (const input of INPUTS) {
    if (!existsSync(input)) continue;
    const files = input.includes('.')
      ? [input]
      : readdirSync(input, { recursive: true })
          .map(String)
          .filter((f) => /\.(ts|json|mjs)$/.test(f))
          .sort()
          .map((f) => join(input, f));
    for (const file of files) hash.update(`${file}\0`).update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

const ifChanged = process.argv.includes('--if-changed');
const hash = sourcesHash();
if (ifChanged && existsSync(ENTRY) && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === hash) {
  process.stderr.write('build: dist/ is up to date with the sources (npm run build forces a build)\n');
  process.exit(0);
}
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
for (const [what, args] of [
  ['tsc', [tsc, '-p', 'tsconfig.json']],
  ['build info', ['scripts/build-info.mjs']],
]) {
  const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`build: ${what} failed (exit ${result.status ?? result.signal})\n`);
    process.exit(result.status ?? 1);
  }
}
writeFileSync(STAMP, `${hash}\n`);
