// Links a folder's entries to a checkout's node_modules, for the Node 24 copy of the app that
// scripts/node24.mjs keeps in a cache. The cache outlives checkouts (.ci/run keeps it in the
// user's cache folder), so a link may be left by another clone: dangling once that clone is
// deleted (existsSync follows links and calls it absent, while symlinkSync finds the name taken),
// or alive and pointing at that clone's modules. So each link is compared by what it points at and
// replaced when it differs, and entries the checkout no longer has are removed.
import { lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join, sep } from 'node:path';

/**
 * Makes every entry of `modules` (a checkout's node_modules) a link in `into`, but the names in
 * `kept`: those are the caller's own real copies, left alone. npm's `.package-lock*` is skipped.
 */
export function linkModules(modules, into, kept = new Set()) {
  // What this removes must be the cache's own: never a checkout's node_modules, by a link or a path inside it.
  if (lstatSync(into, { throwIfNoEntry: false })?.isSymbolicLink()) throw new Error(`${into} is a link: not linking modules into it`);
  mkdirSync(into, { recursive: true });
  const source = realpathSync(modules);
  const target = realpathSync(into);
  if (target === source || target.startsWith(`${source}${sep}`) || source.startsWith(`${target}${sep}`))
    throw new Error(`${into} and ${modules} overlap: not linking modules into it`);
  const wanted = new Set();
  for (const name of readdirSync(modules)) {
    if (kept.has(name) || name.startsWith('.package-lock')) continue;
    wanted.add(name);
    const link = join(into, name);
    const target = realpathSync(join(modules, name));
    const present = lstatSync(link, { throwIfNoEntry: false });
    if (present?.isSymbolicLink() && readlinkSync(link) === target) continue;
    if (present) remove(link);
    symlinkSync(target, link);
  }
  for (const name of readdirSync(into)) if (!kept.has(name) && !wanted.has(name)) remove(join(into, name));
}

/** Removes a link itself (never what it points at: that is a checkout's own node_modules), or a real folder. */
function remove(path) {
  if (lstatSync(path).isSymbolicLink()) unlinkSync(path);
  else rmSync(path, { recursive: true, force: true });
}
