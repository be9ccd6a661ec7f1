// scripts/link-modules.mjs keeps the cached Node 24 app's node_modules pointing at the checkout
// that runs it. CI once failed because a link left by a deleted clone made symlinkSync throw
// EEXIST: these tests build such leftovers in a temporary folder and check they are mended.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** This file runs from dist/test/scripts/; the script is at the repository root's scripts/. */
const { linkModules } = (await import(new URL('../../../scripts/link-modules.mjs', import.meta.url).href)) as {
  linkModules: (modules: string, into: string, kept?: Set<string>) => void;
};

let root = '';
let modules = '';
let into = '';

beforeEach(() => {
  // Real paths, as the links are written (a temporary folder may itself be reached through a link).
  root = realpathSync(mkdtempSync(join(tmpdir(), 'roster-link-modules-')));
  modules = join(root, 'checkout', 'node_modules');
  into = join(root, 'cache', 'node_modules');
  for (const name of ['.bin', 'kysely', 'better-sqlite3']) mkdirSync(join(modules, name), { recursive: true });
  mkdirSync(join(modules, '@scope', 'pkg'), { recursive: true });
  writeFileSync(join(modules, '.package-lock.json'), '{}');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const linkOf = (name: string) => (lstatSync(join(into, name)).isSymbolicLink() ? readlinkSync(join(into, name)) : 'not a link');

describe('linkModules', () => {
  test('links every entry of the checkout, but the kept names and npm’s .package-lock.json', () => {
    linkModules(modules, into, new Set(['better-sqlite3']));
    assert.equal(linkOf('.bin'), join(modules, '.bin'));
    assert.equal(linkOf('kysely'), join(modules, 'kysely'));
    assert.equal(linkOf('@scope'), join(modules, '@scope'));
    assert.equal(existsSync(join(into, 'better-sqlite3')), false);
    assert.equal(existsSync(join(into, '.package-lock.json')), false);
  });

  test('a link left dangling by a deleted clone is replaced (it used to throw EEXIST)', () => {
    mkdirSync(into, { recursive: true });
    symlinkSync(join(root, 'deleted-clone', 'node_modules', '.bin'), join(into, '.bin'));
    linkModules(modules, into);
    assert.equal(linkOf('.bin'), join(modules, '.bin'));
  });

  test('a live link into another clone is re-pointed, and that clone is left untouched', () => {
    const other = join(root, 'other-clone', 'node_modules', 'kysely');
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, 'index.js'), '');
    mkdirSync(into, { recursive: true });
    symlinkSync(other, join(into, 'kysely'));
    linkModules(modules, into);
    assert.equal(linkOf('kysely'), join(modules, 'kysely'));
    assert.equal(existsSync(join(other, 'index.js')), true, 'the other clone keeps its files');
  });

  test('entries the checkout no longer has go; a kept real copy stays; a real folder in a link’s place is replaced', () => {
    mkdirSync(join(into, 'better-sqlite3', 'build'), { recursive: true });
    mkdirSync(join(into, 'kysely'), { recursive: true });
    symlinkSync(join(root, 'nowhere'), join(into, 'removed-dependency'));
    mkdirSync(join(into, 'old-real-folder'));
    linkModules(modules, into, new Set(['better-sqlite3']));
    assert.equal(existsSync(join(into, 'better-sqlite3', 'build')), true);
    assert.equal(linkOf('kysely'), join(modules, 'kysely'));
    assert.equal(lstatSync(join(into, 'removed-dependency'), { throwIfNoEntry: false }), undefined);
    assert.equal(existsSync(join(into, 'old-real-folder')), false);
  });

  test('refuses a folder that is, holds or sits in the checkout’s node_modules, or a link, and removes nothing there', () => {
    symlinkSync(modules, join(root, 'link-to-modules'));
    for (const wrong of [modules, join(modules, 'nested'), join(root, 'checkout'), join(root, 'link-to-modules')])
      assert.throws(() => linkModules(modules, wrong), /not linking modules into it/, wrong);
    assert.equal(existsSync(join(modules, 'kysely')), true);
    assert.equal(existsSync(join(modules, '.package-lock.json')), true);
  });

  test('a second run changes nothing', () => {
    linkModules(modules, into);
    const before = lstatSync(join(into, 'kysely')).ino;
    linkModules(modules, into);
    assert.equal(lstatSync(join(into, 'kysely')).ino, before);
  });
});
