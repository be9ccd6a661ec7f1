/** Strong ETag for a resource version: `"7"`. The representation of one version never varies. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/**
 * `If-Match` → the versions it accepts, or undefined for `*`/absent (any). Weak or foreign tags
 * can never match under the strong comparison RFC 9110 requires, so they are dropped, and a
 * header naming none of ours yields [] (always a 412).
 */
export function parseIfMatch(header: string | undefined): number[] | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  return tags(header)
    .filter((t) => !t.startsWith('W/'))
    .map(versionOf)
    .filter((v): v is number => v !== undefined);
}

/** True when `If-None-Match` names this version (weak comparison) or is `*`. */
export function ifNoneMatchHits(header: string | undefined, version: number): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return tags(header).some((t) => versionOf(t.replace(/^W\//, '')) === version);
}

function tags(header: string): string[] {
  return header
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

function versionOf(tag: string): number | undefined {
  const match = /^"(\d{1,15})"$/.exec(tag);
  return match ? Number(match[1]) : undefined;
}
