import { AppError } from '../kit/errors.js';

/**
 * Keyset paging both ways with forward-only cursors: the URL carries the cursor of this page and
 * the trail of cursors that led here, so "previous" is the trail's last entry. The trail is cut
 * from its oldest end to keep URLs short (a search cursor can be a few hundred characters);
 * "previous" past the cut returns to the first page.
 */
export interface Paging {
  readonly cursor?: string | undefined;
  readonly trail?: readonly string[];
}

/** Cursors are base64url and '.', never '~'. */
const SEPARATOR = '~';
const CURSOR = /^[A-Za-z0-9_.-]{1,4096}$/;
const TRAIL_MAX_CHARS = 6000;

export function readPaging(query: Record<string, unknown>): Paging {
  const cursor = typeof query.cursor === 'string' && CURSOR.test(query.cursor) ? query.cursor : undefined;
  const trail = typeof query.trail === 'string' && query.trail !== '' ? query.trail.split(SEPARATOR) : [];
  // An empty entry stands for the first page; anything else must look like a cursor.
  return { cursor, trail: trail.filter((c) => c === '' || CURSOR.test(c)) };
}

/** Query strings of the previous and next pages. */
export function pageLinks(q: string, here: Paging, nextCursor: string | null): { previous?: string; next?: string } {
  const trail = here.trail ?? [];
  const links: { previous?: string; next?: string } = {};
  if (here.cursor !== undefined) {
    const back = trail.at(-1);
    links.previous = query(q, back === undefined || back === '' ? undefined : back, trail.slice(0, -1));
  }
  if (nextCursor !== null) {
    let forward = [...trail, here.cursor ?? ''];
    while (forward.join(SEPARATOR).length > TRAIL_MAX_CHARS && forward.length > 0) forward = forward.slice(1);
    links.next = query(q, nextCursor, forward);
  }
  return links;
}

function query(q: string, cursor: string | undefined, trail: readonly string[]): string {
  const params = new URLSearchParams();
  if (q !== '') params.set('q', q);
  if (cursor !== undefined) params.set('cursor', cursor);
  if (trail.length > 0) params.set('trail', trail.join(SEPARATOR));
  return params.toString();
}

/**
 * Reads the page at `paging`; a cursor from another search (or tampered with) reads the first
 * page instead, rather than failing the screen. `restarted` says which happened.
 */
export async function readPage<T>(
  paging: Paging,
  read: (cursor: string | undefined) => Promise<T>,
): Promise<{ page: T; paging: Paging; restarted: boolean }> {
  try {
    return { page: await read(paging.cursor), paging, restarted: false };
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'invalid-cursor') || paging.cursor === undefined) throw error;
    return { page: await read(undefined), paging: {}, restarted: true };
  }
}

/** What a screen says when readPage() restarted. */
export const RESTARTED_NOTICE = 'That page link is no longer valid; this is the first page.';
