import { promises as dns, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { AllowList, normaliseHostName, stripBracketsAndZone } from '../kit/allow-list.js';
import { ForbiddenTargetError, InvalidTargetUrlError, TargetDnsUnavailableError, TargetNotFoundError } from './errors.js';

// The SSRF guard: a webhook URL is chosen by a customer, and the sender runs inside our network,
// so every address a delivery may connect to is checked — literal IPs when the URL is parsed,
// host names at connect time on the very addresses the socket will use (DNS rebinding cannot
// swap a checked public address for a private one in between).

/** Where an address lies; everything but `public` is refused unless allow-listed. */
export type AddressRange =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'unique-local'
  | 'documentation'
  | 'benchmarking'
  | 'reserved'
  | 'not-an-ip';

type Family = 'ipv4' | 'ipv6';

function blockList(family: Family, cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [network = '', prefix = ''] = cidr.split('/');
    list.addSubnet(network, Number(prefix), family);
  }
  return list;
}

// Order matters: the first matching range names the address (metadata before link-local…).
const IPV4_RANGES: readonly [AddressRange, BlockList][] = [
  ['unspecified', blockList('ipv4', ['0.0.0.0/8'])],
  ['loopback', blockList('ipv4', ['127.0.0.0/8'])],
  ['private', blockList('ipv4', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'])],
  ['metadata', blockList('ipv4', ['169.254.169.254/32'])],
  ['link-local', blockList('ipv4', ['169.254.0.0/16'])],
  ['cgnat', blockList('ipv4', ['100.64.0.0/10'])],
  ['multicast', blockList('ipv4', ['224.0.0.0/4'])],
  ['broadcast', blockList('ipv4', ['255.255.255.255/32'])],
  ['documentation', blockList('ipv4', ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'])],
  ['benchmarking', blockList('ipv4', ['198.18.0.0/15'])],
  // IETF protocol assignments (192.0.0.0/24), the deprecated 6to4 relay anycast, class E.
  ['reserved', blockList('ipv4', ['192.0.0.0/24', '192.88.99.0/24', '240.0.0.0/4'])],
];

const IPV6_RANGES: readonly [AddressRange, BlockList][] = [
  ['unspecified', blockList('ipv6', ['::/128'])],
  ['loopback', blockList('ipv6', ['::1/128'])],
  ['metadata', blockList('ipv6', ['fd00:ec2::254/128'])],
  ['link-local', blockList('ipv6', ['fe80::/10'])],
  // Site-local (deprecated but still routed inside some networks).
  ['private', blockList('ipv6', ['fec0::/10'])],
  ['unique-local', blockList('ipv6', ['fc00::/7'])],
  ['multicast', blockList('ipv6', ['ff00::/8'])],
  ['documentation', blockList('ipv6', ['2001:db8::/32', '3fff::/20'])],
  ['benchmarking', blockList('ipv6', ['2001:2::/48'])],
  // IETF protocol assignments (Teredo, ORCHID, AMT…), discard-only, local-use NAT64.
  ['reserved', blockList('ipv6', ['2001::/23', '100::/64', '64:ff9b:1::/48'])],
];

/** Prefixes that carry an IPv4 address; the embedded address decides. */
const MAPPED_OR_TRANSLATED = blockList('ipv6', ['::ffff:0:0/96', '::ffff:0:0:0/96', '64:ff9b::/96']);
const V4_COMPATIBLE = blockList('ipv6', ['::/96']);
const SIX_TO_FOUR = blockList('ipv6', ['2002::/16']);
/** All of today's global unicast IPv6; anything outside it is not a webhook receiver. */
const GLOBAL_UNICAST = blockList('ipv6', ['2000::/3']);

/** Which range an IP address (v4 or v6, with or without brackets or a zone) is in. */
export function classifyAddress(ip: string): AddressRange {
  const address = stripBracketsAndZone(ip);
  const family = isIP(address);
  if (family === 4) return classifyIpv4(address);
  if (family === 6) return classifyIpv6(address);
  return 'not-an-ip';
}

function classifyIpv4(address: string): AddressRange {
  for (const [range, list] of IPV4_RANGES) if (list.check(address, 'ipv4')) return range;
  return 'public';
}

function classifyIpv6(address: string): AddressRange {
  for (const [range, list] of IPV6_RANGES.slice(0, 3)) if (list.check(address, 'ipv6')) return range;
  const groups = ipv6Groups(address);
  if (groups === undefined) return 'not-an-ip';
  if (MAPPED_OR_TRANSLATED.check(address, 'ipv6')) return classifyIpv4(ipv4From(groups[6]!, groups[7]!));
  if (V4_COMPATIBLE.check(address, 'ipv6')) {
    const embedded = classifyIpv4(ipv4From(groups[6]!, groups[7]!));
    // Deprecated since 2006: nothing legitimate lives there even when the v4 part is public.
    return embedded === 'public' ? 'reserved' : embedded;
  }
  if (SIX_TO_FOUR.check(address, 'ipv6')) return classifyIpv4(ipv4From(groups[1]!, groups[2]!));
  for (const [range, list] of IPV6_RANGES.slice(3)) if (list.check(address, 'ipv6')) return range;
  return GLOBAL_UNICAST.check(address, 'ipv6') ? 'public' : 'reserved';
}

/**
 * The eight 16-bit groups of an IPv6 address. Node offers no text-to-bytes API for IPv6, and a
 * library would be a dependency for these lines: WHATWG URL canonicalises the address (a
 * dotted IPv4 tail becomes hex, zeros are compressed once), so only `::` is left to expand.
 */
function ipv6Groups(address: string): number[] | undefined {
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head = '', tail] = canonical.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => parseInt(group, 16));
}

function ipv4From(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/** Longest webhook URL accepted; real ones are far shorter, and it bounds what we store and log. */
export const TARGET_URL_MAX_LENGTH = 2048;

/**
 * Parses a webhook URL and refuses what must never be a target: anything but http(s), URLs
 * with credentials, port 0, `localhost` names, and literal IPs outside the public internet in
 * any spelling (WHATWG URL canonicalises `2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1` to
 * `127.0.0.1`, and IPv6 to its compressed form, before the address is classified). Host names
 * are checked later, at connect time, by the lookup from `guardedLookup`.
 * @throws InvalidTargetUrlError or ForbiddenTargetError
 */
export function parseTargetUrl(input: string, allowList: AllowList = AllowList.none): URL {
  if (input.length > TARGET_URL_MAX_LENGTH) {
    throw new InvalidTargetUrlError('too-long', `A webhook URL must be at most ${TARGET_URL_MAX_LENGTH} characters.`);
  }
  let url: URL;
  try {
    url = new URL(input);
  } catch (error) {
    throw new InvalidTargetUrlError('not-a-url', 'The webhook URL is not a valid absolute URL.', { cause: error });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidTargetUrlError('scheme', 'A webhook URL must use http or https.');
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidTargetUrlError('userinfo', 'A webhook URL must not carry a user name or password.');
  }
  if (url.port === '0') throw new InvalidTargetUrlError('port', 'A webhook URL must not use port 0.');
  const host = stripBracketsAndZone(url.hostname);
  if (isIP(host) !== 0) {
    assertAllowedAddress(host, allowList);
  } else if (!allowList.allowsHost(host)) {
    const name = normaliseHostName(host);
    if (name === 'localhost' || name.endsWith('.localhost')) {
      throw new InvalidTargetUrlError('local-name', 'A webhook URL must not name localhost.');
    }
  }
  return url;
}

/**
 * Refuses an address outside the public internet unless the allow-list lets it through (by
 * network, or because `host`, the name that resolved to it, is listed).
 * @throws ForbiddenTargetError
 */
export function assertAllowedAddress(ip: string, allowList: AllowList, host?: string): void {
  if (host !== undefined && isIP(stripBracketsAndZone(host)) === 0 && allowList.allowsHost(host)) return;
  if (allowList.allowsAddress(ip)) return;
  const range = classifyAddress(ip);
  if (range !== 'public') throw new ForbiddenTargetError(ip, range, host);
}

/** Name resolution as `dns.promises.lookup(hostname, { all: true, … })` does it. */
export type HostResolver = (hostname: string, options: LookupOptions & { all: true }) => Promise<LookupAddress[]>;

const systemResolver: HostResolver = (hostname, options) => dns.lookup(hostname, options);

// getaddrinfo's "no such name" and "name has no address" codes; every other failure may pass.
const NOT_FOUND_CODES = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);

/**
 * A `lookup` for `net.connect`, `tls.connect` and undici's `connect` options that resolves every
 * address of the name and refuses the connection if ANY is forbidden — so the address the socket
 * connects to is always one that was checked. Its errors reach the caller as the socket's error:
 * ForbiddenTargetError, TargetNotFoundError (NXDOMAIN: permanent) or TargetDnsUnavailableError
 * (timeout, SERVFAIL…: retry later).
 */
export function guardedLookup(allowList: AllowList, resolve: HostResolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { family: options.family, hints: options.hints, all: true })
      .then((addresses) => {
        if (addresses.length === 0) throw new TargetNotFoundError(`${hostname} has no address`);
        for (const { address } of addresses) assertAllowedAddress(address, allowList, hostname);
        if (options.all === true) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      })
      .catch((error: unknown) => callback(toLookupError(hostname, error), ''));
  };
}

function toLookupError(hostname: string, error: unknown): NodeJS.ErrnoException {
  if (error instanceof ForbiddenTargetError || error instanceof TargetNotFoundError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NOT_FOUND_CODES.has(code)) {
    return new TargetNotFoundError(`${hostname} does not exist (${code})`, { cause: error });
  }
  return new TargetDnsUnavailableError(`${hostname} could not be resolved for now (${String(code ?? error)})`, { cause: error });
}
