/**
 * Generators of texts with the same foldKey(): pieces chosen from fold classes (every
 * character of the folding table, its fold, upper case and decomposition), rendered twice with
 * independent choices.
 */
import fc from 'fast-check';
import { CASE_FOLDING_17_0_0 } from '../../src/kit/unicode/case-folding-17.0.0.js';
import { foldKey } from '../../src/users/model.js';

function classes(): Map<string, string[]> {
  const byKey = new Map<string, Set<string>>();
  const add = (text: string) => {
    if (text === '' || /^\p{M}/u.test(text)) return;
    const key = foldKey(text);
    byKey.set(key, (byKey.get(key) ?? new Set()).add(text));
  };
  for (const entry of CASE_FOLDING_17_0_0.split(' ')) {
    const char = String.fromCodePoint(parseInt(entry.split(':')[0]!, 16));
    for (const text of [char, foldKey(char), char.toUpperCase(), char.toLowerCase(), char.normalize('NFD')]) add(text);
  }
  for (const text of ['é', 'e\u0301', 'i\u0307', 'İ', 'ǰ', 'j\u030C']) add(text);
  return new Map([...byKey].filter(([, members]) => members.size > 1).map(([key, members]) => [key, [...members]]));
}

const ALL = classes();
/** Fold classes whose key is ASCII letters: the variants an email's local part can take. */
const ASCII_CLASSES = [...ALL].filter(([key]) => /^[a-z]+$/.test(key)).map(([, members]) => members);
const ANY_CLASSES = [...ALL.values()];

/** One piece: its members, and two independent choices among them. */
const piece = (members: readonly string[][]) =>
  fc.constantFrom(...members).chain((m) => fc.tuple(fc.constantFrom(...m), fc.constantFrom(...m)));

/** Two renderings [a, b] of one sequence of fold classes, as piece lists. */
export const sameFoldPieces = (maxLength = 12): fc.Arbitrary<[string[], string[]]> =>
  fc.array(piece(ANY_CLASSES), { minLength: 1, maxLength }).map((pairs) => [pairs.map(([a]) => a), pairs.map(([, b]) => b)]);

/**
 * A valid email `a` (ASCII, random case), a second valid spelling `b` (another ASCII case) and
 * `c`, any text with the same fold (Kelvin sign, long s, ß, ligatures, İ...).
 */
export const sameFoldEmails = (): fc.Arbitrary<{ a: string; b: string; c: string }> =>
  fc
    .tuple(
      fc.array(piece(ASCII_CLASSES), { minLength: 1, maxLength: 8 }),
      fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      fc.stringMatching(/^[a-z0-9]{12}$/),
    )
    .map(([pairs, flips, tag]) => {
      const ascii = pairs.map(([x]) => foldKey(x)).join('');
      const cased = (offset: number) => [...ascii].map((ch, i) => (flips[(i + offset) % flips.length] ? ch.toUpperCase() : ch)).join('');
      const domain = `@Example-${tag}.com`;
      return {
        a: `${cased(0)}.${tag}${domain}`,
        b: `${cased(1)}.${tag}${domain.toLowerCase()}`,
        c: `${pairs.map(([, y]) => y).join('')}.${tag}${domain.toUpperCase()}`,
      };
    });
