import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Lease owners: `host:pid:random`. The host and pid let a process on the same machine tell
 * that the holder of a lease is dead (its pid is gone) without waiting for the lease to
 * expire; the random part keeps two owners in one process, or a reused pid, distinct.
 * Host names cannot contain ':', so the format parses from the right.
 */
export function newLeaseOwner(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

export interface ParsedOwner {
  readonly host: string;
  readonly pid: number;
}

/** The host and pid of an owner written by newLeaseOwner(); undefined for anything else. */
export function parseLeaseOwner(owner: string): ParsedOwner | undefined {
  const parts = owner.split(':');
  if (parts.length < 3) return undefined;
  const pid = Number(parts.at(-2));
  const host = parts.slice(0, -2).join(':');
  if (!Number.isSafeInteger(pid) || pid <= 0 || host === '') return undefined;
  return { host, pid };
}

/** Whether a process with this pid exists on this machine. EPERM means it exists but is not ours. */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * True when `owner` names a process on this host that no longer runs, so its lease may be
 * taken over before it expires (after `kill -9`, a crash, an OOM kill).
 *
 * Caveat, pid reuse: if the dead holder's pid has since been given to another process, the
 * holder looks alive and the lease is only free once it expires (a delay, never a double
 * run). The reverse cannot happen: a live holder's pid is its own. Holders on other hosts
 * (or in other pid namespaces that share a host name, e.g. containers with a fixed
 * hostname) are only ever freed by expiry — which is why containers that share a database
 * should have distinct host names.
 */
export function isOwnerGoneHere(owner: string, alive: (pid: number) => boolean = isPidAlive): boolean {
  const parsed = parseLeaseOwner(owner);
  if (parsed === undefined || parsed.host !== hostname()) return false;
  if (parsed.pid === process.pid) return false;
  return !alive(parsed.pid);
}
