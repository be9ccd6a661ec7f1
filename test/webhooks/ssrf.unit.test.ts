import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { ForbiddenTargetError, InvalidTargetUrlError, TargetDnsUnavailableError, TargetNotFoundError } from '../../src/webhooks/errors.js';
import { AllowList, AllowListSyntaxError } from '../../src/kit/allow-list.js';
import { classifyAddress, guardedLookup, parseTargetUrl, type AddressRange, type HostResolver } from '../../src/webhooks/ssrf.js';

/** A resolver answering from a table, as DNS would (an attacker controls their own zone). */
function fakeResolver(table: Record<string, string[] | NodeJS.ErrnoException>): HostResolver {
  return async (hostname) => {
    const answer = table[hostname.toLowerCase().replace(/\.$/, '')];
    if (answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    if (answer instanceof Error) throw answer;
    return answer.map((address): LookupAddress => ({ address, family: isIP(address) }));
  };
}

/** Runs the guarded lookup the way net.connect does, and returns what it called back with. */
function lookup(
  hostname: string,
  resolver: HostResolver,
  allowList = AllowList.none,
  all = true,
): Promise<{ error: Error | null; address: string | LookupAddress[] }> {
  return new Promise((resolve) => {
    guardedLookup(allowList, resolver)(hostname, { all }, (error, address) => resolve({ error, address }));
  });
}

/** Everything a delivery does before connecting: parse the URL, then resolve its host name. */
async function guardTarget(url: string, resolver: HostResolver, allowList = AllowList.none): Promise<void> {
  const target = parseTargetUrl(url, allowList);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) return;
  const { error } = await lookup(host, resolver, allowList);
  if (error) throw error;
}

const HOSTILE_DNS = fakeResolver({
  'metadata.google.internal': ['169.254.169.254'],
  'metadata.attacker.example': ['169.254.169.254'],
  'aws-v6-metadata.attacker.example': ['fd00:ec2::254'],
  'loopback.attacker.example': ['127.0.0.1'],
  'loopback6.attacker.example': ['::1'],
  'mapped.attacker.example': ['::ffff:127.0.0.1'],
  'private.attacker.example': ['10.1.2.3'],
  'mixed.attacker.example': ['93.184.216.34', '192.168.1.1'],
  'mixed6.attacker.example': ['2606:2800:220:1:248:1893:25c8:1946', 'fe80::1'],
  'cgnat.attacker.example': ['100.64.0.1'],
  'zero.attacker.example': ['0.0.0.0'],
  'ula.attacker.example': ['fd12:3456:789a::1'],
  'nat64.attacker.example': ['64:ff9b::a9fe:a9fe'],
  'public.example': ['93.184.216.34'],
  'public6.example': ['2606:2800:220:1:248:1893:25c8:1946'],
});

describe('hostile webhook URLs: every one is refused', () => {
  const hostile = [
    // loopback in every IPv4 spelling WHATWG URL understands
    'http://127.0.0.1/',
    'http://127.0.0.1:8080/hook',
    'http://127.1/',
    'http://127.0.1/',
    'http://2130706433/',
    'http://017700000001/',
    'http://0177.0.0.1/',
    'http://0x7f.1/',
    'http://0x7f000001/',
    'http://0x7f.0x0.0x0.0x1/',
    'http://127.000.000.001/',
    'http://127.0.0.1./',
    'http://%31%32%37.0.0.1/',
    'http://①②⑦.0.0.1/',
    'http://127。0。0。1/',
    'http://127.255.255.254/',
    'https://example.com@127.0.0.1/',
    // unspecified, private, link-local, metadata, CGNAT, multicast, broadcast, reserved
    'http://0.0.0.0/',
    'http://0/',
    'http://10.0.0.1/',
    'http://172.16.0.1/',
    'http://172.31.255.255/',
    'http://192.168.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://2852039166/',
    'http://0xa9fea9fe/',
    'http://0251.0376.0251.0376/',
    'http://169.254.1.1/',
    'http://100.64.0.1/',
    'http://224.0.0.1/',
    'http://255.255.255.255/',
    'http://240.0.0.1/',
    'http://192.0.0.170/',
    'http://192.0.2.1/',
    'http://198.18.0.1/',
    // IPv6 forms
    'http://[::1]/',
    'http://[0:0:0:0:0:0:0:1]/',
    'http://[::]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[0:0:0:0:0:ffff:7f00:1]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://[::ffff:10.0.0.1]/',
    'http://[::127.0.0.1]/',
    'http://[::ffff:0:7f00:1]/',
    'http://[64:ff9b::7f00:1]/',
    'http://[64:ff9b::169.254.169.254]/',
    'http://[2002:7f00:1::]/',
    'http://[2002:a9fe:a9fe::1]/',
    'http://[fe80::1]/',
    'http://[fe80::1%25eth0]/',
    'http://[fd00:ec2::254]/',
    'http://[fc00::1]/',
    'http://[fd12:3456:789a::1]/',
    'http://[fec0::1]/',
    'http://[ff02::1]/',
    'http://[2001:db8::1]/',
    'http://[2001::1]/',
    'http://[100::1]/',
    'http://[::8.8.8.8]/',
    // names
    'http://localhost/',
    'http://LOCALHOST./',
    'http://api.localhost/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://metadata.attacker.example/',
    'http://aws-v6-metadata.attacker.example/',
    'http://loopback.attacker.example/',
    'http://loopback6.attacker.example/',
    'http://mapped.attacker.example/',
    'http://private.attacker.example/',
    'http://mixed.attacker.example/',
    'http://mixed6.attacker.example/',
    'http://cgnat.attacker.example/',
    'http://zero.attacker.example/',
    'http://ula.attacker.example/',
    'http://nat64.attacker.example/',
    // not http(s), credentials, port 0, not a URL
    'ftp://public.example/',
    'file:///etc/passwd',
    'gopher://public.example/',
    'javascript:alert(1)',
    'data:text/plain,hi',
    'ws://public.example/',
    'https://user:pass@public.example/',
    'https://user@public.example/',
    'https://public.example:0/',
    'http://256.0.0.1/',
    'http://1.2.3.4.5/',
    'not a url',
    '',
    `https://public.example/${'a'.repeat(2100)}`,
  ];
  assert.ok(hostile.length >= 40);
  for (const url of hostile) {
    test(`refuses ${JSON.stringify(url.slice(0, 70))}`, async () => {
      await assert.rejects(guardTarget(url, HOSTILE_DNS), (error) => {
        assert.ok(error instanceof ForbiddenTargetError || error instanceof InvalidTargetUrlError, String(error));
        return true;
      });
    });
  }
});

describe('public targets are allowed', () => {
  const allowed = [
    'https://public.example/webhooks',
    'http://public.example:8080/a?b=c',
    'https://PUBLIC.example./x',
    'https://public6.example/',
    'https://93.184.216.34/',
    'https://1.1.1.1/',
    'https://8.8.8.8:443/',
    'http://[2606:4700:4700::1111]/',
    'http://[::ffff:8.8.8.8]/',
    'http://[64:ff9b::8.8.8.8]/',
    'http://[2002:808:808::1]/',
    'https://172.32.0.1/',
    'https://100.128.0.1/',
    'https://11.0.0.1/',
    'https://169.255.0.1/',
  ];
  for (const url of allowed) test(`allows ${url}`, async () => await guardTarget(url, HOSTILE_DNS));
});

describe('classifyAddress', () => {
  const table: [string, AddressRange][] = [
    ['127.0.0.1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['10.255.255.255', 'private'],
    ['172.16.0.0', 'private'],
    ['172.15.255.255', 'public'],
    ['192.168.100.1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['169.254.0.1', 'link-local'],
    ['100.64.0.0', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['224.0.0.251', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['192.0.2.55', 'documentation'],
    ['198.51.100.1', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['198.19.255.255', 'benchmarking'],
    ['8.8.8.8', 'public'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::', 'unspecified'],
    ['fd00:ec2::254', 'metadata'],
    ['fe80::abcd%eth0', 'link-local'],
    ['fd00::1', 'unique-local'],
    ['fec0::1', 'private'],
    ['ff05::2', 'multicast'],
    ['2001:db8:1::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001:2::1', 'benchmarking'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
    ['100::1', 'reserved'],
    ['64:ff9b:1::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:8.8.8.8', 'public'],
    ['::ffff:0:c0a8:101', 'private'],
    ['::7f00:1', 'loopback'],
    ['::808:808', 'reserved'],
    ['64:ff9b::a00:1', 'private'],
    ['64:ff9b::808:808', 'public'],
    ['2002:c0a8:101::1', 'private'],
    ['2002:808:808::1', 'public'],
    ['2606:4700::1111', 'public'],
    ['4000::1', 'reserved'],
    ['example.com', 'not-an-ip'],
    ['', 'not-an-ip'],
    ['1.2.3', 'not-an-ip'],
  ];
  for (const [ip, range] of table) test(`${ip || '(empty)'} is ${range}`, () => assert.equal(classifyAddress(ip), range));

  test('property: every IPv4 address has the same range as its v4-mapped and NAT64 IPv6 forms', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        const range = classifyAddress(ip);
        assert.equal(classifyAddress(`::ffff:${ip}`), range);
        assert.equal(classifyAddress(`64:ff9b::${ip}`), range);
      }),
      { numRuns: 3000 },
    );
  });

  test('property: never throws, on any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.ipV4Extended(), fc.ipV6()), (input) => {
        classifyAddress(input);
      }),
      { numRuns: 3000 },
    );
  });

  test('property: any literal-IP URL is accepted exactly when its address is public', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.ipV4(),
          fc.ipV6().map((ip) => `[${ip}]`),
        ),
        (host) => {
          const isPublic = classifyAddress(host) === 'public';
          let accepted = true;
          try {
            parseTargetUrl(`https://${host}/hook`);
          } catch (error) {
            assert.ok(error instanceof ForbiddenTargetError, String(error));
            accepted = false;
          }
          assert.equal(accepted, isPublic, host);
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('property: non-standard IPv4 spellings are canonicalised before the check', () => {
    fc.assert(
      fc.property(fc.ipV4Extended(), (host) => {
        const canonical = new URL(`http://${host}/`).hostname;
        assert.equal(isIP(canonical), 4, `${host} → ${canonical}`);
        let refused = false;
        try {
          parseTargetUrl(`http://${host}/`);
        } catch {
          refused = true;
        }
        assert.equal(refused, classifyAddress(canonical) !== 'public', host);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('parseTargetUrl', () => {
  test('returns the normalised URL', () => {
    assert.equal(parseTargetUrl('HTTPS://Public.Example:443/a/../b?x=1').href, 'https://public.example/b?x=1');
  });

  test('tells why a URL is refused', () => {
    const reason = (url: string) => {
      try {
        parseTargetUrl(url);
        return 'accepted';
      } catch (error) {
        return error instanceof InvalidTargetUrlError ? error.reason : error instanceof ForbiddenTargetError ? error.range : 'other';
      }
    };
    assert.equal(reason('ftp://example.com/'), 'scheme');
    assert.equal(reason('https://a:b@example.com/'), 'userinfo');
    assert.equal(reason('https://example.com:0/'), 'port');
    assert.equal(reason('https://localhost/'), 'local-name');
    assert.equal(reason('nope'), 'not-a-url');
    assert.equal(reason('http://2130706433/'), 'loopback');
    assert.equal(reason('http://[::ffff:a9fe:a9fe]/'), 'metadata');
  });

  test('the allow-list lets listed hosts and networks through, and only those', () => {
    const allowList = AllowList.parse('localhost, 127.0.0.1, 10.0.0.0/8, ::1');
    for (const url of ['http://localhost:3000/', 'http://127.0.0.1:9/', 'http://0x7f.1/', 'http://10.9.8.7/', 'http://[::1]/']) {
      assert.equal(parseTargetUrl(url, allowList).protocol, 'http:', url);
    }
    for (const url of ['http://127.0.0.2/', 'http://192.168.0.1/', 'http://169.254.169.254/', 'http://api.localhost/']) {
      assert.throws(() => parseTargetUrl(url, allowList), url);
    }
    // The allow-list never relaxes the scheme or credential rules.
    assert.throws(() => parseTargetUrl('ftp://localhost/', allowList), InvalidTargetUrlError);
    assert.throws(() => parseTargetUrl('http://u:p@127.0.0.1/', allowList), InvalidTargetUrlError);
  });
});

describe('AllowList.parse', () => {
  test('accepts host names, IPs and CIDRs of both families, ignoring blanks', () => {
    const list = AllowList.parse(' sink.test , , 127.0.0.0/8,::1, fd00::/8, [::2] ,Upper.Case. ');
    assert.deepEqual(list.entries, ['sink.test', '127.0.0.0/8', '::1', 'fd00::/8', '[::2]', 'Upper.Case.']);
    assert.equal(list.allowsHost('SINK.test.'), true);
    assert.equal(list.allowsHost('upper.case'), true);
    assert.equal(list.allowsHost('other.test'), false);
    assert.equal(list.allowsAddress('127.200.0.1'), true);
    assert.equal(list.allowsAddress('::ffff:127.0.0.1'), true);
    assert.equal(list.allowsAddress('::1'), true);
    assert.equal(list.allowsAddress('::2'), true);
    assert.equal(list.allowsAddress('fd99::1'), true);
    assert.equal(list.allowsAddress('fe80::1'), false);
    assert.equal(list.allowsAddress('sink.test'), false);
  });

  test('empty or unset means nothing is allowed', () => {
    assert.equal(AllowList.parse(undefined), AllowList.none);
    assert.equal(AllowList.parse(' , '), AllowList.none);
    assert.equal(AllowList.none.allowsAddress('127.0.0.1'), false);
  });

  for (const bad of [
    '10.0.0.0/33',
    '::1/129',
    '10.0.0.0/8/8',
    '10.0.0.0/x',
    'http://host',
    'a b',
    'host/8',
    '-bad.example',
    'ex*ample.com',
  ]) {
    test(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => AllowList.parse(`ok.test, ${bad}`), AllowListSyntaxError));
  }
});

describe('guardedLookup (the connect-time check)', () => {
  test('passes every address of a public name on when asked for all, the first otherwise', async () => {
    const resolver = fakeResolver({ 'multi.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'] });
    const all = await lookup('multi.example', resolver);
    assert.equal(all.error, null);
    assert.deepEqual(all.address, [
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 },
    ]);
    const one = await lookup('multi.example', resolver, AllowList.none, false);
    assert.equal(one.address, '93.184.216.34');
  });

  test('refuses when ANY resolved address is forbidden, naming it', async () => {
    const { error } = await lookup('mixed.attacker.example', HOSTILE_DNS);
    assert.ok(error instanceof ForbiddenTargetError);
    assert.equal(error.address, '192.168.1.1');
    assert.equal(error.range, 'private');
    assert.match(error.message, /mixed\.attacker\.example resolves to 192\.168\.1\.1/);
  });

  test('DNS rebinding: each connection re-resolves and re-checks, so a name that turns private is refused', async () => {
    let calls = 0;
    const rebinding: HostResolver = async () => [{ address: calls++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    const guarded = guardedLookup(AllowList.none, rebinding);
    const first = await new Promise<Error | null>((resolve) => guarded('rebind.example', { all: true }, (error) => resolve(error)));
    const second = await new Promise<Error | null>((resolve) => guarded('rebind.example', { all: true }, (error) => resolve(error)));
    assert.equal(first, null);
    assert.ok(second instanceof ForbiddenTargetError);
  });

  test('NXDOMAIN is a permanent TargetNotFoundError; timeouts and SERVFAIL are TargetDnsUnavailableError', async () => {
    const errno = (code: string) => Object.assign(new Error(`getaddrinfo ${code} x`), { code });
    const resolver = fakeResolver({
      'timeout.example': errno('EAI_AGAIN'),
      'servfail.example': errno('ESERVFAIL'),
      'slow.example': errno('ETIMEOUT'),
      'nodata.example': errno('ENODATA'),
      'empty.example': [],
    });
    assert.ok((await lookup('missing.example', resolver)).error instanceof TargetNotFoundError);
    assert.ok((await lookup('nodata.example', resolver)).error instanceof TargetNotFoundError);
    assert.ok((await lookup('empty.example', resolver)).error instanceof TargetNotFoundError);
    for (const host of ['timeout.example', 'servfail.example', 'slow.example']) {
      const { error } = await lookup(host, resolver);
      assert.ok(error instanceof TargetDnsUnavailableError, host);
      assert.equal((error.cause as { code: string }).code !== undefined, true);
    }
  });

  test('an allow-listed name is trusted with whatever it resolves to; an allow-listed network with its addresses only', async () => {
    const resolver = fakeResolver({ 'sink.test': ['127.0.0.1'], 'other.test': ['127.0.0.1', '10.0.0.1'] });
    assert.equal((await lookup('sink.test', resolver, AllowList.parse('sink.test'))).error, null);
    assert.equal((await lookup('other.test', resolver, AllowList.parse('127.0.0.0/8'))).error?.constructor, ForbiddenTargetError);
    assert.equal((await lookup('other.test', resolver, AllowList.parse('127.0.0.0/8, 10.0.0.0/8'))).error, null);
  });
});
