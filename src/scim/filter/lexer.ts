import { InvalidFilterError } from '../errors.js';

export type Token =
  | { readonly kind: '(' | ')' | '[' | ']'; readonly at: number }
  | { readonly kind: 'string'; readonly value: string; readonly at: number }
  /** Anything else between delimiters: a keyword, an operator, a literal or an attribute path. */
  | { readonly kind: 'word'; readonly text: string; readonly at: number };

/** Longest input accepted: far above any provider's filter, small enough to parse in microseconds. */
export const MAX_FILTER_LENGTH = 4096;

const WORD_CHAR = /[A-Za-z0-9_\-.:$+]/;
const SPACE = /[ \t\r\n]/;

/** Splits a filter into tokens; strings are decoded as the JSON strings the RFC says they are. */
export function tokenize(input: string): Token[] {
  if (input.length > MAX_FILTER_LENGTH) throw new InvalidFilterError(`The filter is longer than ${MAX_FILTER_LENGTH} characters.`);
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (SPACE.test(c)) {
      i++;
    } else if (c === '(' || c === ')' || c === '[' || c === ']') {
      tokens.push({ kind: c, at: i });
      i++;
    } else if (c === '"') {
      const start = i;
      i++;
      while (i < input.length && input[i] !== '"') i += input[i] === '\\' ? 2 : 1;
      if (i >= input.length) throw new InvalidFilterError(`The string starting at character ${start + 1} is not closed.`);
      i++;
      tokens.push({ kind: 'string', value: jsonString(input.slice(start, i), start), at: start });
    } else if (WORD_CHAR.test(c)) {
      const start = i;
      while (i < input.length && WORD_CHAR.test(input[i]!)) i++;
      tokens.push({ kind: 'word', text: input.slice(start, i), at: start });
    } else {
      throw new InvalidFilterError(`Unexpected character ${JSON.stringify(c)} at character ${i + 1}.`);
    }
  }
  return tokens;
}

function jsonString(quoted: string, at: number): string {
  // JSON.parse also accepts what JSON forbids in strings only if it is escaped, so raw control
  // characters are refused here, as JSON does.
  try {
    return JSON.parse(quoted) as string;
  } catch (error) {
    throw new InvalidFilterError(`The string at character ${at + 1} is not a valid JSON string.`, { cause: error });
  }
}
