import { CASE_FOLDING_17_0_0 } from './unicode/case-folding-17.0.0.js';

/** The Unicode version of the folding table in use. */
export const CASE_FOLDING_UNICODE_VERSION = '17.0.0';

/**
 * Unicode full case folding (CaseFolding.txt statuses C and F; no Turkic T mappings): the
 * locale-independent form under which text is compared ignoring case. Unlike toLowerCase it
 * maps ß and ẞ to ss, ſ to s, ς to σ, ﬁ to fi, and İ to i + U+0307. The table is generated
 * (scripts/generate-case-folding.mjs) and versioned, so folding never changes with Node's ICU.
 */
export const caseFold: (text: string) => string = compileCaseFold(CASE_FOLDING_17_0_0);

/** A fold function over a generated table (`codepoint:folded.code.points`, hex, space-separated). */
export function compileCaseFold(table: string): (text: string) => string {
  const folds = new Map<string, string>();
  for (const entry of table.split(' ')) {
    const [from, to] = entry.split(':') as [string, string];
    folds.set(String.fromCodePoint(parseInt(from, 16)), String.fromCodePoint(...to.split('.').map((c) => parseInt(c, 16))));
  }
  // One character class of every code point that folds: V8 matches it as sorted ranges, and
  // text without such characters is returned as it is, without a callback.
  const foldable = new RegExp(`[${[...folds.keys()].map((c) => `\\u{${c.codePointAt(0)!.toString(16)}}`).join('')}]`, 'gu');
  const replace = (c: string) => folds.get(c)!;
  return (text) => text.replace(foldable, replace);
}
