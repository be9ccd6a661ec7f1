import { caseFold } from './case-fold.js';

// eslint-disable-next-line no-control-regex -- every ASCII character, control characters included
const ASCII = /^[\x00-\x7f]*$/;
const DOT_ABOVE_AFTER_I_OR_J = /(?<=[ij])\u0307+/g;

/**
 * The one key under which text is compared: users' `email_key` and `name_key` and groups'
 * `display_name_key` are foldKey() of the text, and ?email=, q (prefix search), uniqueness and
 * import dedupe fold their input with it, so every path agrees on what "the same" means.
 *
 * NFC, then Unicode full case folding (kit/case-fold.ts), then U+0307 COMBINING DOT ABOVE right
 * after i or j removed, then NFC again:
 * - NFC first: `cafe\u0301` and `café` are the same text (and U+212A KELVIN SIGN is canonically
 *   K, so a Kelvin sign finds an ASCII k). Names are stored NFC already; queries are not.
 * - Full folding, not lower-casing: `Straße` = `STRASSE`, `ſ` = `s`, final `ς` = `σ`, `ﬁ` = `fi`.
 * - İ (U+0130) folds to i + U+0307. i and j are soft-dotted: a dot above them is their own dot,
 *   so i + U+0307 reads as i, and dropping it makes `izmir` find `İZMIR` (and a decomposed `i̇`
 *   find `i`). The Turkic mappings are not applied (they depend on the locale): dotless ı stays
 *   its own letter, so `ISPANAK` does not find `ıspanak`.
 * - NFC last: folding can decompose (ǰ → j + U+030C); recomposing makes the key idempotent and
 *   the key of a prefix a prefix of the key.
 * ASCII text (every valid email) takes the short path: its fold is its lower case.
 */
export function foldKey(text: string): string {
  if (ASCII.test(text)) return text.toLowerCase();
  let folded = caseFold(text.normalize('NFC'));
  if (folded.includes('\u0307')) folded = folded.replace(DOT_ABOVE_AFTER_I_OR_J, '');
  return folded.normalize('NFC');
}
