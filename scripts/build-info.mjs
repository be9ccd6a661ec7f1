#!/usr/bin/env node
// Records which commit a build came from, for the roster_build_info metric. Outside a git
// checkout (a tarball, a container build without .git) it writes "unknown".
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

let commit = process.env.ROSTER_BUILD_COMMIT ?? '';
if (commit === '') {
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    commit = 'unknown';
  }
}
writeFileSync('dist/build-info.json', `${JSON.stringify({ commit })}\n`);
