/**
 * `roster import` and `roster export` run on the import-only composition
 * (src/compose/import-command.ts): the modules they load, followed through every static import
 * from the CLI's entry point, hold nothing of the server's composition. A static import of
 * compose/services.ts (or of anything only the server uses) from that graph would load every
 * capability into the idle import process again (bench/import-rss.ts measures what it costs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const STATIC_IMPORT = /^\s*(?:import|export)\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

/** Every module of src/ reached from `entries` by static imports, and the packages they import. */
function staticGraph(entries: readonly string[]): { modules: Set<string>; packages: Set<string> } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const pending = entries.map((entry) => join(SRC, entry));
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (modules.has(file)) continue;
    modules.add(file);
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) {
      if (specifier!.startsWith('.')) pending.push(join(dirname(file), specifier!));
      else packages.add(specifier!.startsWith('@') ? specifier!.split('/').slice(0, 2).join('/') : specifier!.split('/')[0]!);
    }
  }
  return { modules, packages };
}

/** What only `serve` needs: the server's composition and the capabilities an import never touches. */
const SERVER_ONLY = /^(compose\/(services|console|scim)\.js|http\/|console\/|scim\/|webhooks\/|groups\/|auth\/(?!errors\.js|model\.js))/;

test('roster import and export load no module of the server composition, and no HTTP framework', () => {
  const { modules, packages } = staticGraph(['cli.js', 'cli/import-export.js']);
  const names = [...modules].map((file) => relative(SRC, file));
  assert.ok(names.includes('compose/import-command.js'), 'the import command is built by compose/import-command.ts');
  assert.ok(names.includes('imports/service.js'));
  assert.deepEqual(
    names.filter((name) => SERVER_ONLY.test(name)),
    [],
  );
  for (const server of ['fastify', 'undici', 'ioredis', 'jose', 'prom-client']) assert.ok(!packages.has(server), server);
});
