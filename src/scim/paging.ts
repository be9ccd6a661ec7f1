import { invalidValue } from './errors.js';

/** Most resources one list page returns (ServiceProviderConfig filter.maxResults). */
export const MAX_RESULTS = 200;

export interface ScimPage {
  /** 1-based, as SCIM counts. */
  readonly startIndex: number;
  readonly count: number;
}

/**
 * startIndex and count as RFC 7644 §3.4.2.4 says: startIndex below 1 is 1, a negative count is
 * 0, a count above the maximum is the maximum; absent count is the maximum. A value that is
 * not an integer is 400 invalidValue.
 */
export function readPage(startIndex: string | undefined, count: string | undefined): ScimPage {
  const start = integerOf(startIndex, 'startIndex') ?? 1;
  const size = integerOf(count, 'count') ?? MAX_RESULTS;
  return { startIndex: Math.max(1, start), count: Math.min(MAX_RESULTS, Math.max(0, size)) };
}

function integerOf(text: string | undefined, name: string): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  if (!/^\s*[+-]?\d+\s*$/.test(text)) throw invalidValue(`"${name}" must be an integer.`);
  const n = Number(text);
  // Past 2^53 the exact value cannot matter: clamp to the safe range so offsets stay integers.
  return Math.max(Number.MIN_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, n));
}
