/**
 * `new Date(text)` for timestamps in the one shape Date.toISOString() writes
 * (`2026-12-05T04:42:29.123Z`, years 0000-9999), read by hand: V8's generic date parser costs
 * ~0.2 µs a call, this ~0.05 (bench/users-store.ts), and every user row read on SQLite holds two
 * (a list of 50, 100).
 * Anything else (another shape, an impossible date) goes to `new Date(text)`, so the result is
 * always what it would return.
 */
export function parseIsoTimestamp(text: string): Date {
  if (text.length !== 24 || !separatorsAt(text)) return new Date(text);
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  const millis = digits(text, 20, 3);
  // The arithmetic below would roll impossible fields over where the parser refuses them: leave
  // every such case (and a non-digit, -1) to the parser.
  if (
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysIn(year, month) ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    millis < 0
  ) {
    return new Date(text);
  }
  return new Date(daysSinceEpoch(year, month, day) * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + millis);
}

/** Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's days_from_civil; Date.UTC() costs more than the rest). */
function daysSinceEpoch(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

function separatorsAt(text: string): boolean {
  return (
    text.charCodeAt(4) === 45 && // -
    text.charCodeAt(7) === 45 &&
    text.charCodeAt(10) === 84 && // T
    text.charCodeAt(13) === 58 && // :
    text.charCodeAt(16) === 58 &&
    text.charCodeAt(19) === 46 && // .
    text.charCodeAt(23) === 90 // Z
  );
}

/** The decimal number in text[start, start + count), or -1 when a character is not a digit. */
function digits(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * A PostgreSQL timestamptz as its text output writes it (DateStyle ISO) at UTC offset zero with
 * at most millisecond digits, `2026-12-05 04:42:29.12+00`, rewritten as Date.toISOString()
 * writes the same instant (`2026-12-05T04:42:29.120Z`), so a row read as text goes to the wire
 * without a Date in between. Undefined for every other shape (another offset, microseconds, a
 * year past 9999, BC, infinity): the caller parses those in full.
 */
export function isoFromPostgresTimestamp(text: string): string | undefined {
  const end = text.length - 3;
  if (end < 19 || !text.endsWith('+00') || text.charCodeAt(10) !== 32 /* space */) return undefined;
  let fraction: string;
  if (end === 19) fraction = '000';
  else if (end >= 21 && end <= 23 && text.charCodeAt(19) === 46 /* . */) fraction = text.slice(20, end).padEnd(3, '0');
  else return undefined;
  const iso = `${text.slice(0, 10)}T${text.slice(11, 19)}.${fraction}Z`;
  return separatorsAt(iso) ? iso : undefined;
}
