import { pino } from 'pino';

const {
  chindingsSym,
  endSym,
  formattersSym,
  hooksSym,
  lsCacheSym,
  messageKeySym,
  mixinSym,
  needsMetadataGsym,
  nestedKeySym,
  streamSym,
  timeSym,
} = pino.symbols;
/** In pino.symbols, not in its type declarations. */
const msgPrefixSym = (pino.symbols as unknown as Record<string, symbol | undefined>).msgPrefixSym;

/** What a pino logger keeps under one of pino.symbols (pino's documented way in). */
type Parts = Readonly<Record<symbol, unknown>>;

interface Destination {
  write(line: string): unknown;
}

/** pino's number for info. */
const INFO = 30;

/**
 * Writes info lines of fixed fields whose JSON the caller has already written, straight to the
 * logger's destination: the line pino would write, without its walk over the object (a
 * serializer and a stringifier looked up per key, every key and string escaped), which was most
 * of the request line's cost (bench/RESULTS.md, issue 14, eleventh pass).
 *
 * Only for a logger configured as loggerOptions() configures it (no log formatter, write hook,
 * nested key or message prefix; the message under `msg`) writing to a plain stream: otherwise
 * there is no writer (undefined) and pino writes. The writer answers false, writing nothing, when
 * pino must write this line: info is off, or the mixin adds fields (a traced request). `noMixin`
 * is what the mixin answers when it adds none. test/observability/plain-line.unit.test.ts holds
 * the lines equal to pino's for any fields.
 */
export function plainLineWriter(logger: object, noMixin: object, message: string): ((fieldsJson: string) => boolean) | undefined {
  const parts = logger as unknown as Parts;
  const stream = parts[streamSym] as (Destination & Parts) | undefined;
  const isLevelEnabled = (logger as { isLevelEnabled?: unknown }).isLevelEnabled;
  const plain =
    stream !== undefined &&
    typeof isLevelEnabled === 'function' &&
    msgPrefixSym !== undefined &&
    (parts[formattersSym] as { log?: unknown } | undefined)?.log === undefined &&
    (parts[hooksSym] as { streamWrite?: unknown } | undefined)?.streamWrite === undefined &&
    !parts[nestedKeySym] &&
    !parts[msgPrefixSym] &&
    parts[messageKeySym] === 'msg' &&
    stream[needsMetadataGsym] !== true;
  if (!plain) return undefined;
  const time = parts[timeSym] as () => string;
  const end = parts[endSym] as string;
  const messageJson = `,"msg":${JSON.stringify(message)}`;
  return (fieldsJson) => {
    if (!(isLevelEnabled as (level: string) => boolean).call(logger, 'info')) return false;
    const mixin = parts[mixinSym] as (() => object) | undefined;
    if (mixin !== undefined && mixin() !== noMixin) return false;
    // `{"level":"info"` as the level formatter wrote it when the logger was made; the bindings
    // are read per line, as a logger's bindings can be replaced (setBindings).
    const level = (parts[lsCacheSym] as Record<number, string>)[INFO]!;
    stream.write(`${level}${time.call(logger)}${parts[chindingsSym] as string}${fieldsJson}${messageJson}${end}`);
    return true;
  };
}

/**
 * `"text"` when the text needs no escaping in JSON (printable ASCII without `"` or `\`), else
 * undefined: the caller then leaves the line to pino, whose escaping it would have to copy.
 */
export function plainJsonString(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return undefined;
  }
  return `"${text}"`;
}
