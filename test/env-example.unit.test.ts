// .env.example is the configuration table as a file: every variable src/config.ts reads, each at
// its default, and nothing else. A key added, renamed, removed or given a new default without
// the file following fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIG_KEYS } from '../src/config.js';

/** This file runs from dist/test/; .env.example is at the repository root. */
const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
/** `#NAME=value` (at its default) or `NAME=value`: every line that sets a variable, commented out or not. */
const entries = [...text.matchAll(/^#?([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => ({ name: m[1]!, value: m[2]! }));

test('.env.example sets every configuration variable once, and only those', () => {
  const names = entries.map((e) => e.name);
  assert.deepEqual(
    names.filter((name, i) => names.indexOf(name) !== i),
    [],
    'no variable twice',
  );
  const known = CONFIG_KEYS.map((spec) => spec.env);
  assert.deepEqual(
    known.filter((name) => !names.includes(name)),
    [],
    'missing from .env.example',
  );
  assert.deepEqual(
    names.filter((name) => !known.includes(name)),
    [],
    'in .env.example but not read by src/config.ts',
  );
  assert.ok(names.some((name) => name.startsWith('ROSTER_')));
});

test('.env.example shows each variable at its default, commented out, so copying it changes nothing', () => {
  for (const spec of CONFIG_KEYS) {
    assert.ok(text.includes(`\n#${spec.env}=${spec.default ?? ''}\n`), `#${spec.env}=${spec.default ?? ''}`);
  }
});

test('.env.example says which variables are secrets and may come from a file', () => {
  for (const spec of CONFIG_KEYS.filter((s) => s.secret)) assert.ok(text.includes(`${spec.env}_FILE=`), `${spec.env}_FILE`);
});
