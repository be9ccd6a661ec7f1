import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The package version, read once from package.json beside the build. */
export function packageVersion(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}

let commit: string | undefined;

/** The commit the build came from (scripts/build-info.mjs), or "unknown". */
export function buildCommit(): string {
  if (commit === undefined) {
    try {
      commit = (JSON.parse(readFileSync(new URL('../build-info.json', import.meta.url), 'utf8')) as { commit: string }).commit;
    } catch {
      commit = 'unknown';
    }
  }
  return commit;
}
