/**
 * The scale bench's users, a pure function of (seed, index): user i is the same on every run and
 * every machine, so a database loaded once can be reused, and the request stream picks any user
 * by index without holding ten million of them in memory.
 *
 * Names mix ASCII and non-ASCII (accents, ß, Polish, Nordic, Turkish dotted İ, Cyrillic, Greek,
 * Japanese, Chinese, Arabic), so name keys go through foldKey()'s full Unicode path and sort
 * across the whole code point range. Emails are ASCII (parseEmail allows only that) made of a
 * transliteration of the name, the index (which makes them unique) and one of a few domains.
 * Ids are UUIDv7 whose time part grows with the index: id order is index order, as for users
 * created one after another.
 */
import { foldKey } from '../src/users/model.js';

/** [as written, ASCII for the email]. */
type Part = readonly [string, string];

const FIRST: readonly Part[] = [
  ['Ada', 'ada'],
  ['Alan', 'alan'],
  ['Grace', 'grace'],
  ['John', 'john'],
  ['Joan', 'joan'],
  ['José', 'jose'],
  ['João', 'joao'],
  ['Jörg', 'joerg'],
  ['Zoë', 'zoe'],
  ['Björn', 'bjorn'],
  ['Søren', 'soren'],
  ['François', 'francois'],
  ['Łukasz', 'lukasz'],
  ['Ólafur', 'olafur'],
  ['Chloé', 'chloe'],
  ['Mónica', 'monica'],
  ['İlkay', 'ilkay'],
  ['Şebnem', 'sebnem'],
  ['Иван', 'ivan'],
  ['Мария', 'maria'],
  ['Αλέξανδρος', 'alexandros'],
  ['陽翔', 'haruto'],
  ['さくら', 'sakura'],
  ['محمد', 'mohammed'],
  ['Margaret', 'margaret'],
  ['Linus', 'linus'],
  ['Barbara', 'barbara'],
  ['Edsger', 'edsger'],
  ['Frances', 'frances'],
  ['Ken', 'ken'],
  ['Priya', 'priya'],
  ['Wei', 'wei'],
];

const LAST: readonly Part[] = [
  ['Lovelace', 'lovelace'],
  ['Turing', 'turing'],
  ['Hopper', 'hopper'],
  ['García', 'garcia'],
  ['Müller', 'mueller'],
  ['Strauß', 'strauss'],
  ['Øvergaard', 'overgaard'],
  ['Kowalski', 'kowalski'],
  ['Dvořák', 'dvorak'],
  ['Nguyễn', 'nguyen'],
  ['Petrov', 'petrov'],
  ['Петров', 'petrov'],
  ['Παπαδόπουλος', 'papadopoulos'],
  ['佐藤', 'sato'],
  ['王', 'wang'],
  ['Öztürk', 'ozturk'],
  ['Hamilton', 'hamilton'],
  ['Liskov', 'liskov'],
  ['Dijkstra', 'dijkstra'],
  ['Knuth', 'knuth'],
  ['Smith', 'smith'],
  ['Johnson', 'johnson'],
  ['Okafor', 'okafor'],
  ['Singh', 'singh'],
];

const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'corp.example.io'];
const DEPARTMENTS = ['engineering', 'sales', 'support', 'finance', 'people', 'legal'];
const CITIES = ['Berlin', 'Lisbon', 'Toronto', 'Nairobi', 'Osaka', 'São Paulo', 'Kraków', 'Reykjavík'];

/** 2026-01-01T00:00:00Z: the time part of user 0's id. */
const BASE_MS = Date.UTC(2026, 0, 1);
/** Users per millisecond of id time: ten million users span ~40 minutes of ids. */
const PER_MS = 4;

/** murmur3's finaliser over (seed, index, salt): a well-mixed 32-bit value, the same everywhere. */
function hash(seed: number, index: number, salt: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index, 0xc2b2ae35) ^ Math.imul(salt + 1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const hex = (value: number, digits: number) => value.toString(16).padStart(digits, '0').slice(-digits);

export interface ScaleUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly attributes: Record<string, unknown>;
}

export function userId(seed: number, index: number): string {
  const ms = BASE_MS + Math.floor(index / PER_MS);
  // 48 bits of time; 12 bits that keep the users of one millisecond in index order; 62 random bits.
  const time = hex(Math.floor(ms / 0x10000), 8) + hex(ms % 0x10000, 4);
  const sub = index % PER_MS;
  const a = hash(seed, index, 1);
  const b = hash(seed, index, 2);
  const variant = (0x8 | (a & 0x3)).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${hex((sub << 9) | (a >>> 23), 3)}-${variant}${hex(a >>> 4, 3)}-${hex(b, 8)}${hex(a >>> 12, 4)}`;
}

export function scaleUser(seed: number, index: number): ScaleUser {
  const first = FIRST[hash(seed, index, 3) % FIRST.length]!;
  const last = LAST[hash(seed, index, 4) % LAST.length]!;
  const style = hash(seed, index, 5);
  const local =
    style % 3 === 0
      ? `${first[1]}.${last[1]}.${index}`
      : style % 3 === 1
        ? `${first[1][0]}${last[1]}${index}`
        : `${last[1]}.${first[1]}${index}`;
  // Some emails written with capitals, as people type them: the key folds them away.
  const email = `${style % 7 === 0 ? local[0]!.toUpperCase() + local.slice(1) : local}@${DOMAINS[(style >>> 4) % DOMAINS.length]}`;
  return {
    id: userId(seed, index),
    email,
    name: `${first[0]} ${last[0]}`,
    attributes: {
      department: DEPARTMENTS[(style >>> 8) % DEPARTMENTS.length],
      location: CITIES[(style >>> 12) % CITIES.length],
      employee_number: 100_000 + index,
    },
  };
}

/** The key ?email= is looked up by, as Roster folds it. */
export const emailKeyOf = (user: ScaleUser) => foldKey(user.email);
