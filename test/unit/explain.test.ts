import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddress } from '../../shared/domain/cidr.ts';
import {
  type Address,
  amazonDnsServers,
  type Direction,
  describeRule,
  explain,
  filterVerdict,
  formatPacket,
  type IpPacket,
  inferDirection,
  type MirrorFilter,
  type MirrorRule,
  type MirrorSession,
  neverMirrored,
  type Packet,
  parsePacket,
  ruleMatches,
} from '../../shared/domain/explain.ts';

const addr = (text: string): Address => {
  const a = parseAddress(text);
  if (!a) throw new Error(`bad test address ${text}`);
  return a;
};
const packet = (text: string): Packet => {
  const parsed = parsePacket(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
};
const ipPacket = (text: string): IpPacket => {
  const p = packet(text);
  if (p.protocol === 'arp') throw new Error('not an IP packet');
  return p;
};
const rule = (changes: Partial<MirrorRule> = {}): MirrorRule => ({
  direction: 'ingress',
  ruleNumber: 100,
  action: 'accept',
  sourceCidrBlock: '0.0.0.0/0',
  destinationCidrBlock: '0.0.0.0/0',
  ...changes,
});
const filter = (rules: MirrorRule[], dns = false, id = 'tmf-1'): MirrorFilter => ({
  id,
  rules,
  networkServices: dns ? ['amazon-dns'] : [],
});
const session = (number: number, filterId: string, id = `tms-${number}`): MirrorSession => ({
  id,
  number,
  filterId,
  targetId: 'tmt-1',
  virtualNetworkId: 1000 + number,
});
const DNS = amazonDnsServers('10.0.0.0/16');

describe('the packet syntax', () => {
  it('reads protocol, addresses and ports', () => {
    expect(packet('tcp 198.51.100.7:51515 > 10.0.1.5:22')).toEqual({
      protocol: 6,
      source: addr('198.51.100.7'),
      destination: addr('10.0.1.5'),
      sourcePort: 51515,
      destinationPort: 22,
    });
    expect(packet('UDP [2001:db8::1]:443 > [2001:db8::2]:53')).toMatchObject({
      protocol: 17,
      source: addr('2001:db8::1'),
      sourcePort: 443,
      destinationPort: 53,
    });
    expect(packet('icmpv6 2001:db8::1 > 2001:db8::2')).toEqual({
      protocol: 58,
      source: addr('2001:db8::1'),
      destination: addr('2001:db8::2'),
    });
    expect(packet('icmp 10.0.0.1>10.0.0.2')).toMatchObject({ protocol: 1 });
    expect(packet('47 10.0.0.1 > 10.0.0.2')).toMatchObject({ protocol: 47 });
    expect(packet('arp 10.0.0.1 > 10.0.0.2')).toMatchObject({ protocol: 'arp' });
  });

  it.each([
    ['tcp 10.0.0.1:1 10.0.0.2:2', "is not 'PROTO SRC[:PORT] > DST[:PORT]'"],
    ['sctp 10.0.0.1 > 10.0.0.2', "protocol 'sctp' is not tcp, udp, icmp, icmpv6, arp or 0-255"],
    ['256 10.0.0.1 > 10.0.0.2', "protocol '256'"],
    ['tcp 10.0.0.300:1 > 10.0.0.2:2', "'10.0.0.300' is not an IPv4 or IPv6 address"],
    ['tcp 10.0.0.1:1 > 10.0.0.2:65536', "'65536' in '10.0.0.2:65536' is not a port"],
    ['tcp 10.0.0.1 > 10.0.0.2:22', 'a tcp packet needs both ports'],
    ['icmp 10.0.0.1:5 > 10.0.0.2', 'ports are only for tcp and udp'],
    ['tcp 10.0.0.1:1 > [2001:db8::1]:2', 'are not of one IP version'],
    ['tcp [10.0.0.1]:1 > 10.0.0.2:2', 'brackets are for IPv6'],
    ['arp 2001:db8::1 > 2001:db8::2', 'ARP is IPv4 only'],
    ['icmp 2001:db8::1 > 2001:db8::2', 'icmp is IPv4; use icmpv6 for IPv6'],
    ['58 10.0.0.1 > 10.0.0.2', 'icmpv6 is IPv6; use icmp for IPv4'],
  ])('%s is refused: %s', (text, error) => {
    const parsed = parsePacket(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(error);
  });

  const v4 = fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }).map((value): Address => ({ family: 4, value }));
  const v6 = fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }).map((value): Address => ({ family: 6, value }));
  const port = fc.integer({ min: 0, max: 65535 });
  const anyPacket: fc.Arbitrary<Packet> = fc.oneof(v4, v6).chain((source) =>
    fc
      .record({
        source: fc.constant(source),
        destination: source.family === 4 ? v4 : v6,
        protocol: fc.integer({ min: 0, max: 255 }).filter((p) => p !== (source.family === 4 ? 58 : 1)),
        sourcePort: port,
        destinationPort: port,
      })
      .map(({ protocol, sourcePort, destinationPort, ...ends }) =>
        protocol === 6 || protocol === 17
          ? { protocol, sourcePort, destinationPort, ...ends }
          : { protocol, ...ends },
      ),
  );

  it('reads back what formatPacket writes', () => {
    fc.assert(
      fc.property(anyPacket, (p) => {
        expect(packet(formatPacket(p))).toEqual(p);
      }),
      { numRuns: 500 },
    );
  });
});

describe('the direction', () => {
  const own = [addr('10.0.1.5'), addr('2001:db8::5')];
  it('is ingress to the ENI, egress from it, unknown otherwise', () => {
    expect(inferDirection(packet('tcp 198.51.100.7:1 > 10.0.1.5:22'), own)).toBe('ingress');
    expect(inferDirection(packet('tcp 10.0.1.5:22 > 198.51.100.7:1'), own)).toBe('egress');
    expect(inferDirection(packet('tcp [2001:db8::5]:22 > [2001:db8::9]:1'), own)).toBe('egress');
    expect(inferDirection(packet('tcp 10.0.1.6:22 > 198.51.100.7:1'), own)).toBeUndefined();
    expect(inferDirection(packet('tcp 10.0.1.5:22 > 10.0.1.5:1'), own)).toBeUndefined();
  });
});

describe('traffic AWS never mirrors', () => {
  it.each([
    ['arp 10.0.0.1 > 10.0.0.2', 'ARP'],
    ['udp 0.0.0.0:68 > 255.255.255.255:67', 'DHCP'],
    ['udp [fe80::1]:546 > [ff02::1:2]:547', 'DHCP'],
    ['udp 10.0.1.5:40000 > 169.254.169.123:123', 'NTP'],
    ['udp [fd00:ec2::123]:123 > [2001:db8::5]:123', 'NTP'],
    ['udp 10.0.0.1:67 > 10.0.0.2:67', 'DHCP'],
    ['tcp 10.0.1.5:40000 > 169.254.169.254:80', 'instance metadata service'],
    ['tcp [fd00:ec2::254]:80 > [2001:db8::5]:40000', 'instance metadata service'],
    ['tcp 10.0.1.5:40000 > 169.254.169.250:1688', 'Windows activation'],
  ])('%s: %s', (text, kind) => {
    const p = packet(text);
    expect(neverMirrored(p)).toBe(kind);
    const e = explain({
      packet: p,
      direction: 'egress',
      sessions: [session(1, 'tmf-1')],
      filters: [filter([rule({ direction: 'egress', sourceCidrBlock: '0.0.0.0/0' })])],
      dnsServers: DNS,
    });
    expect(e.neverMirrored).toBe(kind);
    expect(e.mirroredBy).toBeUndefined();
  });

  it('ordinary traffic is not of these', () => {
    expect(neverMirrored(packet('tcp 10.0.0.1:68 > 10.0.0.2:67'))).toBeUndefined();
    expect(neverMirrored(packet('udp 10.0.0.1:5000 > 10.0.0.2:67'))).toBeUndefined();
    expect(neverMirrored(packet('udp 10.0.0.1:5000 > 10.0.0.2:53'))).toBeUndefined();
    // NTP with a server on the internet goes through the VPC like any UDP; only Amazon Time Sync is the VPC's own.
    expect(neverMirrored(packet('udp 10.0.0.1:123 > 162.159.200.1:123'))).toBeUndefined();
    expect(neverMirrored(packet('tcp 10.0.0.1:40000 > 169.254.169.123:80'))).toBeUndefined();
  });
});

describe('a rule', () => {
  const p = ipPacket('tcp 198.51.100.7:51515 > 10.0.1.5:22');
  it('matches on protocol, CIDRs and port ranges', () => {
    expect(ruleMatches(rule(), p)).toBe(true);
    expect(ruleMatches(rule({ protocol: 6 }), p)).toBe(true);
    expect(ruleMatches(rule({ protocol: 17 }), p)).toBe(false);
    expect(ruleMatches(rule({ sourceCidrBlock: '198.51.100.0/24' }), p)).toBe(true);
    expect(ruleMatches(rule({ sourceCidrBlock: '198.51.101.0/24' }), p)).toBe(false);
    expect(ruleMatches(rule({ destinationCidrBlock: '10.0.1.5/32' }), p)).toBe(true);
    expect(ruleMatches(rule({ destinationCidrBlock: '10.0.1.4/32' }), p)).toBe(false);
    expect(ruleMatches(rule({ protocol: 6, destinationPortRange: { from: 22, to: 22 } }), p)).toBe(true);
    expect(ruleMatches(rule({ protocol: 6, destinationPortRange: { from: 23, to: 443 } }), p)).toBe(false);
    expect(ruleMatches(rule({ protocol: 6, sourcePortRange: { from: 1024, to: 65535 } }), p)).toBe(true);
    expect(ruleMatches(rule({ protocol: 6, sourcePortRange: { from: 0, to: 1023 } }), p)).toBe(false);
  });

  it('of one family never matches the other', () => {
    const v6 = ipPacket('tcp [2001:db8::7]:51515 > [2001:db8::5]:22');
    expect(ruleMatches(rule(), v6)).toBe(false);
    expect(ruleMatches(rule({ sourceCidrBlock: '::/0', destinationCidrBlock: '::/0' }), v6)).toBe(true);
    expect(ruleMatches(rule({ sourceCidrBlock: '::/0', destinationCidrBlock: '::/0' }), p)).toBe(false);
  });

  it('with ports never matches a packet without them', () => {
    const icmp = ipPacket('icmp 198.51.100.7 > 10.0.1.5');
    expect(ruleMatches(rule({ destinationPortRange: { from: 0, to: 65535 } }), icmp)).toBe(false);
    expect(ruleMatches(rule(), icmp)).toBe(true);
  });

  it('reads as one line', () => {
    expect(describeRule(rule({ protocol: 6, destinationPortRange: { from: 22, to: 22 } }))).toBe(
      'ingress rule 100 accept tcp 0.0.0.0/0 port any > 0.0.0.0/0 port 22',
    );
    expect(describeRule(rule({ action: 'reject', direction: 'egress', ruleNumber: 5 }))).toBe(
      'egress rule 5 reject all protocols 0.0.0.0/0 > 0.0.0.0/0',
    );
  });
});

describe('a filter', () => {
  const p = ipPacket('tcp 198.51.100.7:51515 > 10.0.1.5:22');
  it('decides by its first matching rule of the direction, by number', () => {
    const reject = rule({ ruleNumber: 10, action: 'reject', sourceCidrBlock: '198.51.100.7/32' });
    const accept = rule({ ruleNumber: 20 });
    expect(filterVerdict(filter([accept, reject]), 'ingress', p, DNS)).toEqual({
      takes: false,
      why: 'rejected',
      rule: reject,
    });
    expect(filterVerdict(filter([accept]), 'ingress', p, DNS)).toEqual({
      takes: true,
      by: 'rule',
      rule: accept,
    });
    expect(filterVerdict(filter([accept]), 'egress', p, DNS)).toEqual({
      takes: false,
      why: 'no-rule-matched',
      rulesOfDirection: 0,
    });
    expect(filterVerdict(undefined, 'ingress', p, DNS)).toEqual({ takes: false, why: 'filter-not-found' });
  });

  it('takes Amazon DNS traffic by its network service alone', () => {
    const query = ipPacket('udp 10.0.1.5:40000 > 10.0.0.2:53');
    const answer = ipPacket('udp 169.254.169.253:53 > 10.0.1.5:40000');
    const all = [rule({ direction: 'egress' }), rule({ direction: 'ingress' })];
    expect(filterVerdict(filter(all), 'egress', query, DNS)).toEqual({
      takes: false,
      why: 'amazon-dns-not-enabled',
    });
    expect(filterVerdict(filter([], true), 'egress', query, DNS)).toEqual({ takes: true, by: 'amazon-dns' });
    expect(filterVerdict(filter([], true), 'ingress', answer, DNS)).toEqual({
      takes: true,
      by: 'amazon-dns',
    });
    // DNS to another resolver is ordinary traffic, and so is traffic to the resolver's address on another port.
    const other = ipPacket('udp 10.0.1.5:40000 > 8.8.8.8:53');
    expect(filterVerdict(filter(all), 'egress', other, DNS)).toMatchObject({ takes: true, by: 'rule' });
    const notDns = ipPacket('tcp 10.0.1.5:40000 > 10.0.0.2:80');
    expect(filterVerdict(filter(all), 'egress', notDns, DNS)).toMatchObject({ takes: true, by: 'rule' });
  });

  it('knows the VPC resolver at the primary block base + 2', () => {
    expect(amazonDnsServers('172.31.0.0/16').map((a) => formatAddress(a.family, a.value))).toEqual([
      '172.31.0.2',
      '169.254.169.253',
      'fd00:ec2::253',
    ]);
    expect(amazonDnsServers(undefined)).toHaveLength(2);
  });
});

// ---- properties --------------------------------------------------------------------------------

const smallV4 = fc.constantFrom('10.0.0.0', '10.0.1.5', '10.0.1.6', '198.51.100.7', '203.0.113.9').map(addr);
const smallV6 = fc.constantFrom('2001:db8::5', '2001:db8::6', '2001:db8:1::7', 'fd00::1').map(addr);
const arbRule = (direction?: Direction): fc.Arbitrary<MirrorRule> =>
  fc
    .record({
      direction: direction ? fc.constant(direction) : fc.constantFrom<Direction>('ingress', 'egress'),
      ruleNumber: fc.integer({ min: 1, max: 32766 }),
      action: fc.constantFrom<'accept' | 'reject'>('accept', 'reject'),
      protocol: fc.option(fc.constantFrom(1, 6, 17, 58), { nil: undefined }),
      v6: fc.boolean(),
      src: fc.constantFrom('0.0.0.0/0', '10.0.0.0/16', '198.51.100.7/32', '10.0.1.0/24'),
      dst: fc.constantFrom('0.0.0.0/0', '10.0.0.0/16', '10.0.1.5/32', '203.0.113.0/24'),
      src6: fc.constantFrom('::/0', '2001:db8::/32', '2001:db8::5/128'),
      dst6: fc.constantFrom('::/0', '2001:db8::/48', '2001:db8::6/128'),
      ports: fc.option(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 })), {
        nil: undefined,
      }),
    })
    .map(({ v6, src, dst, src6, dst6, ports, protocol, ...r }) => {
      const tcpUdp = protocol === 6 || protocol === 17;
      const range = ports && tcpUdp ? { from: Math.min(...ports), to: Math.max(...ports) } : undefined;
      return {
        ...r,
        ...(protocol === undefined ? {} : { protocol }),
        sourceCidrBlock: v6 ? src6 : src,
        destinationCidrBlock: v6 ? dst6 : dst,
        ...(range ? { destinationPortRange: range } : {}),
      };
    });
/** Rules with numbers unique per direction, as EC2 requires. */
const arbRules = fc
  .array(arbRule(), { maxLength: 10 })
  .map((rules) =>
    rules.filter(
      (r, i) => rules.findIndex((o) => o.direction === r.direction && o.ruleNumber === r.ruleNumber) === i,
    ),
  );
const arbPacket: fc.Arbitrary<IpPacket> = fc
  .record({
    v6: fc.boolean(),
    a: smallV4,
    b: smallV4,
    a6: smallV6,
    b6: smallV6,
    protocol: fc.constantFrom(1, 6, 17, 58, 47),
    sp: fc.integer({ min: 0, max: 100 }),
    dp: fc.integer({ min: 0, max: 100 }),
  })
  .map(({ v6, a, b, a6, b6, protocol, sp, dp }) => ({
    protocol,
    source: v6 ? a6 : a,
    destination: v6 ? b6 : b,
    ...(protocol === 6 || protocol === 17 ? { sourcePort: sp, destinationPort: dp } : {}),
  }));
const arbDirection = fc.constantFrom<Direction>('ingress', 'egress');

describe('properties', () => {
  it('the order rules are listed in does not matter, nor rules of the other direction', () => {
    fc.assert(
      fc.property(arbRules, arbPacket, arbDirection, fc.nat(), (rules, p, direction, seed) => {
        const shuffled = [...rules].sort(
          (x, y) => ((x.ruleNumber * 7919 + seed) % 101) - ((y.ruleNumber * 7919 + seed) % 101),
        );
        const same = rules.filter((r) => r.direction === direction);
        const verdict = filterVerdict(filter(rules), direction, p, DNS);
        expect(filterVerdict(filter(shuffled), direction, p, DNS)).toEqual(verdict);
        expect(filterVerdict(filter(same), direction, p, DNS)).toEqual(verdict);
      }),
      { numRuns: 1000 },
    );
  });

  it('the deciding rule is the lowest-numbered match, and no lower rule matches', () => {
    fc.assert(
      fc.property(arbRules, arbPacket, arbDirection, (rules, p, direction) => {
        const verdict = filterVerdict(filter(rules), direction, p, DNS);
        const matching = rules.filter((r) => r.direction === direction && ruleMatches(r, p));
        if (matching.length === 0) {
          expect(verdict).toMatchObject({ takes: false, why: 'no-rule-matched' });
          return;
        }
        const first = matching.reduce((x, y) => (y.ruleNumber < x.ruleNumber ? y : x));
        expect(verdict).toEqual(
          first.action === 'accept'
            ? { takes: true, by: 'rule', rule: first }
            : { takes: false, why: 'rejected', rule: first },
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('an exact rule numbered before all others decides', () => {
    fc.assert(
      fc.property(
        arbRules,
        arbPacket,
        arbDirection,
        fc.constantFrom<'accept' | 'reject'>('accept', 'reject'),
        (rules, p, direction, action) => {
          const host = (a: Address) => `${formatAddress(a.family, a.value)}/${a.family === 4 ? 32 : 128}`;
          const exact: MirrorRule = {
            direction,
            ruleNumber: 0,
            action,
            protocol: p.protocol,
            sourceCidrBlock: host(p.source),
            destinationCidrBlock: host(p.destination),
            ...(p.sourcePort === undefined
              ? {}
              : { sourcePortRange: { from: p.sourcePort, to: p.sourcePort } }),
            ...(p.destinationPort === undefined
              ? {}
              : { destinationPortRange: { from: p.destinationPort, to: p.destinationPort } }),
          };
          expect(filterVerdict(filter([...rules, exact]), direction, p, DNS)).toEqual(
            action === 'accept'
              ? { takes: true, by: 'rule', rule: exact }
              : { takes: false, why: 'rejected', rule: exact },
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('the first session by number that takes the packet mirrors it; later takers are shadowed', () => {
    const arbSessions = fc.uniqueArray(fc.integer({ min: 1, max: 32766 }), { minLength: 0, maxLength: 3 });
    fc.assert(
      fc.property(
        arbSessions,
        fc.array(arbRules, { minLength: 3, maxLength: 3 }),
        arbPacket,
        arbDirection,
        (numbers, ruleSets, p, direction) => {
          const filters = ruleSets.map((rules, i) => filter(rules, false, `tmf-${i}`));
          const sessions = numbers.map((n, i) => session(n, `tmf-${i}`));
          const e = explain({ packet: p, direction, sessions, filters, dnsServers: DNS });
          if (neverMirrored(p) !== undefined) {
            expect(e).toEqual({ packet: p, direction, neverMirrored: neverMirrored(p), sessions: [] });
            return;
          }
          expect(e.sessions.map((s) => s.session.number)).toEqual([...numbers].sort((a, b) => a - b));
          const takers = e.sessions.filter((s) => s.verdict.takes);
          expect(e.mirroredBy).toEqual(takers[0]);
          expect(e.sessions.filter((s) => s.shadowed)).toEqual(takers.slice(1));
          for (const s of e.sessions)
            expect(s.verdict).toEqual(
              filterVerdict(
                filters.find((f) => f.id === s.session.filterId),
                direction,
                p,
                DNS,
              ),
            );
        },
      ),
      { numRuns: 1000 },
    );
  });
});
