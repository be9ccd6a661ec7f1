import { BlockList, isIP } from 'node:net';

// The allow-list knows nothing of webhooks: config parses ROSTER_WEBHOOK_ALLOWED_HOSTS into it
// (config.ts imports no capability), and webhooks/ssrf.ts consults it.

type Family = 'ipv4' | 'ipv6';

/** An IP literal as isIP() reads it: no brackets, no zone. */
export function stripBracketsAndZone(host: string): string {
  const unbracketed = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const zone = unbracketed.indexOf('%');
  return zone === -1 ? unbracketed : unbracketed.slice(0, zone);
}

/** An allow-list entry was neither a host name, an IP nor a CIDR. */
export class AllowListSyntaxError extends Error {
  override readonly name = 'AllowListSyntaxError';
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * Hosts and networks deliveries may reach although the guard would refuse them
 * (`ROSTER_WEBHOOK_ALLOWED_HOSTS`): for development and tests that deliver to loopback sinks.
 * A host name is trusted with every address it resolves to; a CIDR or IP lets through the
 * addresses inside it, whatever name led there.
 */
export class AllowList {
  /** Nothing is allowed beyond the public internet: the production default. */
  static readonly none = new AllowList([], new Set(), new BlockList());

  readonly entries: readonly string[];
  readonly #hosts: ReadonlySet<string>;
  readonly #networks: BlockList;

  private constructor(entries: readonly string[], hosts: ReadonlySet<string>, networks: BlockList) {
    this.entries = entries;
    this.#hosts = hosts;
    this.#networks = networks;
  }

  /**
   * Parses `host, 10.0.0.0/8, ::1, 127.0.0.1/32`; blank entries are ignored.
   * @throws AllowListSyntaxError naming the first entry that is none of those.
   */
  static parse(text: string | undefined): AllowList {
    const entries = (text ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    if (entries.length === 0) return AllowList.none;
    const hosts = new Set<string>();
    const networks = new BlockList();
    for (const entry of entries) {
      const bad = () => new AllowListSyntaxError(`must be comma-separated host names, IPs or CIDRs (${JSON.stringify(entry)} is none)`);
      const [address = '', prefix, ...rest] = entry.split('/');
      const family = isIP(stripBracketsAndZone(address));
      if (family !== 0) {
        const type: Family = family === 4 ? 'ipv4' : 'ipv6';
        const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix);
        if (rest.length > 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) throw bad();
        try {
          networks.addSubnet(stripBracketsAndZone(address), bits, type);
        } catch (error) {
          throw new AllowListSyntaxError(bad().message, { cause: error });
        }
      } else {
        const host = normaliseHostName(entry);
        if (!HOST_NAME.test(host)) throw bad();
        hosts.add(host);
      }
    }
    return new AllowList(entries, hosts, networks);
  }

  /** Whether this host name (not an IP) was listed by name. */
  allowsHost(hostname: string): boolean {
    return this.#hosts.has(normaliseHostName(hostname));
  }

  /** Whether this IP address lies in a listed network or is a listed address. */
  allowsAddress(ip: string): boolean {
    const address = stripBracketsAndZone(ip);
    const family = isIP(address);
    if (family === 0) return false;
    return this.#networks.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** A host name as compared: lower case, no trailing dot. */
export function normaliseHostName(hostname: string): string {
  const lower = hostname.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}
