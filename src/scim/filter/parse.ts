import { InvalidFilterError } from '../errors.js';
import { COMPARE_OPS, type AttrPath, type CompareOp, type Filter, type Literal, type PatchPath } from './ast.js';
import { tokenize, type Token } from './lexer.js';

/** Deepest nesting of parentheses, `not` and value paths accepted. */
export const MAX_FILTER_DEPTH = 50;

const NAME = /^[A-Za-z$][A-Za-z0-9_$-]*$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9_\-.:+$]*[A-Za-z0-9_\-.+$]$/;
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/**
 * Parses a filter (RFC 7644 §3.4.2.2): `not` binds tighter than `and`, `and` than `or`; both are
 * left-associative. Operators, keywords and literals are case-insensitive. Throws only
 * InvalidFilterError, whatever the input.
 */
export function parseFilter(input: string): Filter {
  const parser = new Parser(input);
  const filter = parser.filter();
  parser.end();
  return filter;
}

/** Parses a PATCH `path`: an attribute path or a value path, optionally with a sub-attribute. */
export function parsePatchPath(input: string): PatchPath {
  const parser = new Parser(input);
  const path = parser.patchPath();
  parser.end();
  return path;
}

/** Parses `[uri:]name[.sub]`; undefined when the text is not an attribute path. */
export function parseAttrPath(text: string): AttrPath | undefined {
  const colon = text.lastIndexOf(':');
  const uri = colon < 0 ? undefined : text.slice(0, colon);
  if (uri !== undefined && !URI.test(uri)) return undefined;
  const parts = text.slice(colon + 1).split('.');
  if (parts.length > 2 || !parts.every((p) => NAME.test(p))) return undefined;
  return { ...(uri === undefined ? {} : { uri }), name: parts[0]!, ...(parts[1] === undefined ? {} : { sub: parts[1] }) };
}

class Parser {
  readonly #tokens: Token[];
  #at = 0;
  #depth = 0;

  constructor(input: string) {
    if (typeof input !== 'string') throw new InvalidFilterError('The filter must be a string.');
    this.#tokens = tokenize(input);
    if (this.#tokens.length === 0) throw new InvalidFilterError('The filter is empty.');
  }

  filter(inValuePath = false): Filter {
    let left = this.#and(inValuePath);
    while (this.#keyword('or')) left = { kind: 'or', left, right: this.#and(inValuePath) };
    return left;
  }

  patchPath(): PatchPath {
    const path = this.#attrPath();
    if (!this.#next('[')) return { kind: 'attr', path };
    const filter = this.#valueFilter(path);
    const after = this.#tokens[this.#at];
    if (after?.kind === 'word' && after.text.startsWith('.')) {
      this.#at++;
      const sub = after.text.slice(1);
      if (!NAME.test(sub)) throw this.#error(`"${after.text}" is not a sub-attribute`, after);
      return { kind: 'valuePath', path, filter, sub };
    }
    return { kind: 'valuePath', path, filter };
  }

  end(): void {
    const left = this.#tokens[this.#at];
    if (left !== undefined) throw this.#error('Unexpected text', left);
  }

  #and(inValuePath: boolean): Filter {
    let left = this.#unary(inValuePath);
    while (this.#keyword('and')) left = { kind: 'and', left, right: this.#unary(inValuePath) };
    return left;
  }

  #unary(inValuePath: boolean): Filter {
    const token = this.#tokens[this.#at];
    if (token === undefined) throw new InvalidFilterError('The filter ends where an expression was expected.');
    if (token.kind === '(') {
      this.#at++;
      const inner = this.#nested(() => this.filter(inValuePath));
      this.#expect(')');
      return inner;
    }
    if (token.kind === 'word' && token.text.toLowerCase() === 'not' && this.#tokens[this.#at + 1]?.kind === '(') {
      this.#at += 2;
      const inner = this.#nested(() => this.filter(inValuePath));
      this.#expect(')');
      return { kind: 'not', filter: inner };
    }
    const path = this.#attrPath();
    if (this.#next('[')) {
      if (inValuePath) throw this.#error('Value paths cannot be nested', token);
      return { kind: 'valuePath', path, filter: this.#valueFilter(path) };
    }
    const opToken = this.#tokens[this.#at++];
    if (opToken?.kind !== 'word') throw this.#error('An operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) was expected', opToken);
    const op = opToken.text.toLowerCase();
    if (op === 'pr') return { kind: 'present', path };
    if (!(COMPARE_OPS as readonly string[]).includes(op)) throw this.#error(`"${opToken.text}" is not an operator`, opToken);
    return { kind: 'compare', path, op: op as CompareOp, value: this.#literal() };
  }

  #valueFilter(path: AttrPath): Filter {
    if (path.sub !== undefined) throw new InvalidFilterError(`A value filter applies to an attribute, not to "${path.name}.${path.sub}".`);
    const filter = this.#nested(() => this.filter(true));
    this.#expect(']');
    return filter;
  }

  #nested<T>(parse: () => T): T {
    if (++this.#depth > MAX_FILTER_DEPTH) throw new InvalidFilterError(`The filter nests deeper than ${MAX_FILTER_DEPTH} levels.`);
    const result = parse();
    this.#depth--;
    return result;
  }

  #attrPath(): AttrPath {
    const token = this.#tokens[this.#at++];
    if (token?.kind !== 'word') throw this.#error('An attribute path was expected', token);
    const path = parseAttrPath(token.text);
    if (path === undefined) throw this.#error(`"${token.text}" is not an attribute path`, token);
    return path;
  }

  #literal(): Literal {
    const token = this.#tokens[this.#at++];
    if (token?.kind === 'string') return token.value;
    if (token?.kind !== 'word') throw this.#error('A value (string, number, true, false or null) was expected', token);
    const word = token.text.toLowerCase();
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (word === 'null') return null;
    if (NUMBER.test(token.text)) {
      const n = Number(token.text);
      // -0 prints as 0; keeping one zero keeps parse(print(ast)) equal to the AST.
      if (Number.isFinite(n)) return n === 0 ? 0 : n;
    }
    throw this.#error(`"${token.text}" is not a value (strings are quoted)`, token);
  }

  #keyword(word: 'and' | 'or'): boolean {
    const token = this.#tokens[this.#at];
    if (token?.kind === 'word' && token.text.toLowerCase() === word) {
      this.#at++;
      return true;
    }
    return false;
  }

  #next(kind: '['): boolean {
    if (this.#tokens[this.#at]?.kind !== kind) return false;
    this.#at++;
    return true;
  }

  #expect(kind: ')' | ']'): void {
    const token = this.#tokens[this.#at++];
    if (token?.kind !== kind) throw this.#error(`"${kind}" was expected`, token);
  }

  #error(what: string, token: Token | undefined): InvalidFilterError {
    return new InvalidFilterError(token === undefined ? `${what}, but the filter ends.` : `${what} at character ${token.at + 1}.`);
  }
}
