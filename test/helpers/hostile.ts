// Shared pieces of the hostile-input property suites (test/http/*.hostile.api.test.ts): the
// run parameters, arbitraries for hostile text and JSON, and the invariant every response must
// meet. Moving an arbitrary here must not change what it generates: the suites are seeded, so
// the same seed yields the same inputs (and the same status tallies) before and after.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import fc from 'fast-check';
import { assertAnyProblem, fromInject } from './http.js';

/** Runs per property: bounded, so the suites stay fast enough for every `npm test`. */
export const HOSTILE_RUNS = 200;

/**
 * Seeded: the same inputs every run, so a failure reproduces. FC_SEED=<n> explores others;
 * fast-check prints the seed and the shrunk counterexample of any failure.
 */
export const HOSTILE_SEED = process.env.FC_SEED === undefined ? 20_240_601 : Number(process.env.FC_SEED);

export const hostileParameters = { numRuns: HOSTILE_RUNS, seed: HOSTILE_SEED } as const;

/** Characters that have broken parsers, databases and logs before. */
export const nastyUnit = fc.constantFrom(
  '\u0000',
  '\u0007',
  '\t',
  '\n',
  '\r',
  '\u007f',
  '\u0085',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ud800',
  '\udfff',
  '%',
  '%00',
  '_',
  '\\',
  '"',
  "'",
  '`',
  ';',
  '--',
  '/*',
  '@',
  '.',
  ' ',
  '\u00a0',
  'e\u0301',
  '\u{1F600}',
  '\u{1F468}\u200d\u{1F469}',
  '\u0130',
  '\u00df',
  '\u03a3',
  '<script>',
  '${x}',
  'null',
  'a',
  'Z',
  '0',
);

/** One code point of any kind, lone surrogates included. */
export const anyCodePoint = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });

export const hostileString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.oneof(nastyUnit, anyCodePoint), maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.constantFrom('', ' ', 'a@b.co', 'Ada', '__proto__', 'constructor', 'prototype', 'toString') },
  { weight: 1, arbitrary: fc.integer({ min: 150, max: 70_000 }).map((n) => 'x'.repeat(n)) },
);

export interface HostileJson {
  /** Object keys: prototype-poisoning names, the resource's own field names, and junk. */
  readonly key: fc.Arbitrary<string>;
  /** Any JSON value built from hostile strings, numbers, nulls, arrays and objects. */
  readonly value: fc.Arbitrary<unknown>;
  /** An object of up to 6 hostile keys and values. */
  readonly object: fc.Arbitrary<Record<string, unknown>>;
}

/** Hostile JSON for a resource whose bodies use `fieldNames`, so real fields get hostile values too. */
export function hostileJson(fieldNames: readonly string[]): HostileJson {
  const key = fc.oneof(
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', ...fieldNames, ''),
    fc.string({ unit: fc.oneof(nastyUnit, anyCodePoint), maxLength: 12 }),
  );
  const value: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      hostileString,
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(key, tie('value'), { maxKeys: 5 }),
    ),
  })).value;
  return { key, value, object: fc.dictionary(key, value, { maxKeys: 6 }) };
}

/** Mostly the right media type, sometimes a variant of it, sometimes another type entirely. */
export const jsonContentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  { weight: 1, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/merge-patch+json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml'),
  },
);

export const headerText = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });

type InjectedResponse = Parameters<typeof fromInject>[0];

/**
 * The invariant every hostile request must meet, and a tally of the statuses seen by the
 * current property, so a degenerate generator (everything rejected, or nothing) cannot pass
 * unnoticed.
 */
export class StatusTally {
  #seen = new Map<number, number>();

  /** No 5xx, and every 4xx a catalogued problem+json document. */
  assertSafe(res: InjectedResponse): void {
    this.#seen.set(res.statusCode, (this.#seen.get(res.statusCode) ?? 0) + 1);
    assert.ok(res.statusCode < 500, `server error ${res.statusCode}: ${res.body.slice(0, 500)}`);
    if (res.statusCode >= 400) assertAnyProblem(fromInject(res));
  }

  /** How often `status` was seen by the current property. */
  count(status: number): number {
    return this.#seen.get(status) ?? 0;
  }

  /** Reports the statuses seen (as a test diagnostic) and starts a new tally. */
  report(ctx: TestContext): string {
    const summary = [...this.#seen.entries()].map(([status, n]) => `${status}×${n}`).join(' ');
    ctx.diagnostic(`statuses: ${summary}`);
    this.#seen = new Map();
    return summary;
  }

  /** Reports the statuses seen and asserts the property reached both `accepted` and some rejection. */
  assertExercised(ctx: TestContext, accepted: number): void {
    const sorted = [...this.#seen.entries()].sort(([a], [b]) => a - b).map(([status, n]) => `${status}×${n}`);
    const summary = sorted.join(' ');
    ctx.diagnostic(`statuses: ${summary}`);
    assert.ok((this.#seen.get(accepted) ?? 0) > 0, `no input was accepted (${accepted}): ${summary}`);
    assert.ok(
      [...this.#seen.keys()].some((s) => s >= 400),
      `no input was rejected: ${summary}`,
    );
    this.#seen = new Map();
  }
}
