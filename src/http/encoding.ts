import { isUtf8 } from 'node:buffer';
import type { FastifyBodyParser, preParsingHookHandler } from 'fastify';
import { AppError } from '../kit/errors.js';

/**
 * Text that reaches the API as bytes — JSON bodies, percent-encoded query values and path
 * segments — must be UTF-8. Decoding leniently would turn every bad byte into U+FFFD and store
 * or look up that instead of what the client meant (a Latin-1 "José" became "Jos\uFFFD"), so
 * bytes that are not UTF-8 are refused with a 400 `invalid-encoding` problem saying where, as
 * the import refuses such files.
 */
export class InvalidEncodingError extends AppError {
  readonly code = 'invalid-encoding';
  /** The query or path parameters concerned (none for a body: `detail` gives the byte offset). */
  readonly parameters: readonly { readonly parameter: string; readonly message: string }[];

  constructor(message: string, parameters: readonly { readonly parameter: string; readonly message: string }[] = []) {
    super(message);
    this.parameters = parameters;
  }
}

/**
 * Offset of the first byte that does not start a well-formed UTF-8 sequence (overlong forms,
 * surrogates, code points past U+10FFFF and truncated sequences included), or -1 when all of
 * `bytes` is UTF-8. Agrees with `isUtf8()`; only run once that has said no, to say where.
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    let trailing: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) trailing = 1;
    else if (lead === 0xe0) [trailing, low] = [2, 0xa0];
    else if (lead === 0xed) [trailing, high] = [2, 0x9f];
    else if (lead >= 0xe1 && lead <= 0xef) trailing = 2;
    else if (lead === 0xf0) [trailing, low] = [3, 0x90];
    else if (lead === 0xf4) [trailing, high] = [3, 0x8f];
    else if (lead >= 0xf1 && lead <= 0xf3) trailing = 3;
    else return i;
    for (let k = 1; k <= trailing; k++) {
      const next = bytes[i + k];
      if (next === undefined || next < low || next > high) return i;
      low = 0x80;
      high = 0xbf;
    }
    i += trailing + 1;
  }
  return -1;
}

const hex = (byte: number) => `0x${byte.toString(16).toUpperCase().padStart(2, '0')}`;

/** "byte offset 12 (0xE9)" for the first bad byte of `bytes`. */
function where(bytes: Uint8Array): string {
  const at = invalidUtf8Offset(bytes);
  return at < 0 ? 'a byte' : `byte offset ${at} (${hex(bytes[at]!)})`;
}

/** The body as text, or InvalidEncodingError naming the first byte that is not UTF-8. */
export function decodeUtf8Body(body: Buffer): string {
  // isUtf8 (simdutf) costs ~0.06 µs on a typical 200-byte body; the scan that locates the bad
  // byte runs only for refused bodies.
  if (isUtf8(body)) return body.toString('utf8');
  throw new InvalidEncodingError(
    `The request body is not valid UTF-8: ${where(body)} does not start a valid UTF-8 sequence. Send JSON encoded as UTF-8.`,
  );
}

/**
 * Wraps Fastify's JSON parser (which decodes leniently) so that it reads the body as bytes and
 * refuses any that are not UTF-8 before parsing: one parser for every JSON media type.
 */
export function utf8JsonParser(parse: FastifyBodyParser<string>): FastifyBodyParser<Buffer> {
  return (request, body, done) => {
    let text: string;
    try {
      text = decodeUtf8Body(body);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
    return parse(request, text, done);
  };
}

const HEX = /^[0-9A-Fa-f]{2}$/;

/**
 * WHATWG percent-decoding to bytes: `%XX` is the byte XX; anything else (a `%` not followed by
 * two hex digits included) stands for its own UTF-8 bytes.
 */
function percentDecodedBytes(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25 && HEX.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (code < 0x80) {
      out.push(code);
    } else {
      const char = String.fromCodePoint(text.codePointAt(i)!);
      out.push(...Buffer.from(char, 'utf8'));
      i += char.length - 1;
    }
  }
  return Buffer.from(out);
}

/** A percent-decoded query component, or its bytes when they are not UTF-8. */
function decodeComponent(text: string): string | Buffer {
  if (text.indexOf('%') < 0) return text;
  try {
    // Strict already: throws on malformed escapes and on bytes that are not UTF-8.
    return decodeURIComponent(text);
  } catch {
    const bytes = percentDecodedBytes(text);
    return isUtf8(bytes) ? bytes.toString('utf8') : bytes;
  }
}

const UNDECODABLE = Symbol('query parameters that are not UTF-8');

type Query = Record<string, string | string[]> & { [UNDECODABLE]?: InvalidEncodingError['parameters'] };

const EmptyQuery = function () {} as unknown as new () => Query;
EmptyQuery.prototype = Object.create(null) as object;

/**
 * Fastify's query-string parser (`routerOptions.querystringParser`), with fast-querystring's
 * semantics (`+` is a space, a repeated key makes an array, a key without `=` has the value
 * "", no prototype) and percent-decoding that does not guess: a malformed escape stays as
 * written (as fast-querystring and browsers do), but a key or value whose decoded bytes are
 * not UTF-8 is recorded, and `rejectUndecodableQuery` answers 400 naming it. (fast-querystring
 * kept such a value undecoded, so `q=%E9` searched for the text "%E9".) The parser itself
 * cannot throw: the router calls it outside of any request's error handling.
 */
export function parseQuery(input: string): Query {
  const result = new EmptyQuery();
  if (input.length === 0) return result;
  let undecodable: { parameter: string; message: string }[] | undefined;
  for (const pair of input.split('&')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    const rawKey = (eq < 0 ? pair : pair.slice(0, eq)).replaceAll('+', ' ');
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1).replaceAll('+', ' ');
    const key = decodeComponent(rawKey);
    const value = decodeComponent(rawValue);
    if (typeof key !== 'string') {
      (undecodable ??= []).push({ parameter: rawKey, message: `the name is not valid UTF-8 once percent-decoded: ${where(key)}` });
      continue;
    }
    if (typeof value !== 'string') {
      (undecodable ??= []).push({ parameter: key, message: `is not valid UTF-8 once percent-decoded: ${where(value)}` });
      continue;
    }
    const seen = result[key];
    if (seen === undefined) result[key] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else result[key] = [seen, value];
  }
  if (undecodable !== undefined) Object.defineProperty(result, UNDECODABLE, { value: undecodable, enumerable: false });
  return result;
}

/** The parameters `parseQuery` could not decode, if any. */
export function undecodableQueryParameters(query: unknown): InvalidEncodingError['parameters'] | undefined {
  return (query as Query | undefined)?.[UNDECODABLE];
}

/**
 * A preParsing hook for the routes that read their query (they declare a querystring schema;
 * http/app.ts adds it to those only): a query that `parseQuery` found undecodable is answered
 * 400 `invalid-encoding` naming each parameter, before the body is read and before any lookup.
 * Routes that read no query ignore it, whatever its bytes, as they ignore any other query (the
 * undecodable values are not in `request.query` either). Runs after the access and rate-limit
 * hooks, so such requests are charged like any other.
 */
export const rejectUndecodableQuery: preParsingHookHandler = (request, _reply, payload, done) => {
  const undecodable = undecodableQueryParameters(request.query);
  if (undecodable === undefined) {
    done(null, payload);
    return;
  }
  const first = undecodable[0]!;
  done(new InvalidEncodingError(`The query parameter ${first.parameter} ${first.message}.`, undecodable));
};

const PROBE = '~not-utf8-';

/**
 * A router rejection (FST_ERR_BAD_URL: the path could not be percent-decoded) whose cause is a
 * path segment that decodes to bytes that are not UTF-8, as InvalidEncodingError naming the
 * route's path parameter (found by matching the path with that segment replaced); undefined
 * for anything else, such as a malformed escape, which stays a plain bad request.
 */
export function undecodablePathError(
  error: unknown,
  url: string,
  paramsOf: (path: string) => Readonly<Record<string, string | undefined>> | undefined,
): InvalidEncodingError | undefined {
  if ((error as { code?: unknown } | null)?.code !== 'FST_ERR_BAD_URL') return undefined;
  const end = url.search(/[?#]/);
  const path = end < 0 ? url : url.slice(0, end);
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return undefined;
  const bad: { segment: number; where: string }[] = [];
  const probe = path.split('/').map((segment, i) => {
    if (!segment.includes('%')) return segment;
    const bytes = percentDecodedBytes(segment);
    if (isUtf8(bytes)) return segment;
    bad.push({ segment: i, where: where(bytes) });
    return `${PROBE}${i}`;
  });
  if (bad.length === 0) return undefined;
  const params = Object.entries(paramsOf(probe.join('/')) ?? {});
  const named = bad.map((b) => ({ ...b, parameter: params.find(([, v]) => v?.includes(`${PROBE}${b.segment}`))?.[0] }));
  const first = named[0]!;
  const message = `is not valid UTF-8 once percent-decoded: ${first.where}`;
  const detail =
    first.parameter === undefined
      ? `Path segment ${first.segment} of the URL ${message}.`
      : `The path parameter ${first.parameter} ${message}.`;
  return new InvalidEncodingError(
    detail,
    named.flatMap((b) =>
      b.parameter === undefined ? [] : [{ parameter: b.parameter, message: `is not valid UTF-8 once percent-decoded: ${b.where}` }],
    ),
  );
}
