/**
 * Deterministic import files of any size, for the memory test and bench/import-parse.ts.
 * Emails come in random order, as in real directories (an index in order would flatter every
 * structure keyed by email); one name in ten has a comma and quotes (CSV quoting), one in
 * seven is not ASCII, half the rows carry attributes.
 */
import { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';

const FIRST = ['Ada', 'Grace', 'Alan', 'Zoë', 'Björn', 'Łucja', 'Mei', 'Ngozi', 'José', 'Ravi', 'Émile', 'Sven'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Nakamura', "O'Neil", 'Müller', 'Okafor', 'García', 'Iyer', 'Żak'];
const DEPARTMENTS = ['eng', 'sales', 'ops', 'legal', 'design'];

/** A 32-bit xorshift generator: same seed, same file. */
export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

export interface GeneratedUser {
  readonly email: string;
  readonly name: string;
  readonly attributes?: Record<string, unknown>;
}

/** User `index` of a file; emails are unique because the index is scrambled by a bijection on 32 bits. */
export function generatedUser(index: number, next: () => number): GeneratedUser {
  const scrambled = (Math.imul(index + 1, 0x9e3779b1) >>> 0).toString(36);
  const first = FIRST[Math.floor(next() * FIRST.length)]!;
  const last = LAST[Math.floor(next() * LAST.length)]!;
  const name = index % 10 === 0 ? `${last}, ${first} "${first.slice(0, 2)}"` : `${first} ${last}`;
  const email = `${first
    .normalize('NFD')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase()}.${scrambled}@example-${index % 97}.com`;
  return index % 2 === 0
    ? { email, name, attributes: { dept: DEPARTMENTS[index % DEPARTMENTS.length], level: index % 7 } }
    : { email, name };
}

const csvCell = (text: string) => (/[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);

/** One line of the file, with its line feed. */
export function generatedLine(user: GeneratedUser, format: 'csv' | 'ndjson'): string {
  if (format === 'ndjson') return `${JSON.stringify(user)}\n`;
  return `${csvCell(user.email)},${csvCell(user.name)},${user.attributes ? csvCell(JSON.stringify(user.attributes)) : ''}\n`;
}

/**
 * A file of `rows` users as a byte stream in ~64 KiB pieces, made as it is read. Each piece
 * waits for the event loop's next turn: a stream fed by a synchronous generator is drained in
 * microtasks, so 120,000 rows once held the loop for ~0.5 s (seconds on a busy machine) and
 * fired the 2 s connect timeout of a PostgreSQL probe running beside it.
 */
export function generatedFile(rows: number, format: 'csv' | 'ndjson', seed = 7): Readable {
  const next = random(seed);
  return Readable.from(
    (async function* pieces() {
      let text = format === 'csv' ? 'email,name,attributes\n' : '';
      for (let index = 0; index < rows; index++) {
        text += generatedLine(generatedUser(index, next), format);
        if (text.length >= 64 * 1024) {
          yield Buffer.from(text);
          text = '';
          await setImmediate();
        }
      }
      if (text !== '') yield Buffer.from(text);
    })(),
    { objectMode: false },
  );
}
