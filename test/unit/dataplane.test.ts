import { BlockList } from 'node:net';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Delivery, parseDeliveryAddress } from '../../emulator/dataplane/delivery.ts';
import {
  decide,
  isAmazonDns,
  neverMirrored,
  type RuleView,
  ruleMatches,
  type SessionView,
} from '../../emulator/dataplane/mirror.ts';
import {
  type IpPacket,
  ipPacket,
  type Packet,
  parsePacket,
  TrafficInputError,
  vxlanDatagram,
  vxlanHeader,
} from '../../emulator/dataplane/packet.ts';
import { parseCidr } from '../../emulator/ec2/cidr.ts';
import { checksumVerifies, pseudoHeader } from '../support/dataplane.ts';

// ---- an independent check of the bytes: test/support/dataplane.ts -----------------------------

/** Address bytes, from the test's own numbers (not the emulator's parser). */
const v4Text = (bytes: number[]) => bytes.join('.');
const v6Text = (bytes: number[]) =>
  Array.from({ length: 8 }, (_, i) =>
    (((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0)).toString(16),
  ).join(':');

const verifies = checksumVerifies;
const pseudo = (family: 4 | 6, src: number[], dst: number[], protocol: number, length: number) =>
  pseudoHeader(family, Buffer.from(src), Buffer.from(dst), protocol, length);

const bytesOf = (n: number) => fc.array(fc.integer({ min: 0, max: 255 }), { minLength: n, maxLength: n });

const packetSpec = fc
  .record({
    family: fc.constantFrom(4 as const, 6 as const),
    protocol: fc.constantFrom<number | 'icmp'>(6, 17, 'icmp', 47, 50, 0),
    src4: bytesOf(4),
    dst4: bytesOf(4),
    src6: bytesOf(16),
    dst6: bytesOf(16),
    sourcePort: fc.integer({ min: 0, max: 65535 }),
    destinationPort: fc.integer({ min: 0, max: 65535 }),
    payload: fc.uint8Array({ maxLength: 300 }),
    padding: fc.integer({ min: 0, max: 200 }),
    direction: fc.constantFrom('ingress' as const, 'egress' as const),
    ttl: fc.integer({ min: 1, max: 255 }),
  })
  .map((s) => {
    const protocol: number = s.protocol === 'icmp' ? (s.family === 4 ? 1 : 58) : s.protocol;
    const [src, dst] = s.family === 4 ? [s.src4, s.dst4] : [s.src6, s.dst6];
    const text = s.family === 4 ? v4Text : v6Text;
    const l4 = protocol === 6 ? 20 : [17, 1, 58].includes(protocol) ? 8 : 0;
    const length = (s.family === 4 ? 20 : 40) + l4 + s.payload.length + s.padding;
    const ported = protocol === 6 || protocol === 17;
    return {
      src,
      dst,
      family: s.family,
      input: {
        direction: s.direction,
        protocol,
        source: text(src),
        destination: text(dst),
        ...(ported ? { sourcePort: s.sourcePort, destinationPort: s.destinationPort } : {}),
        length,
        payloadHex: Buffer.from(s.payload).toString('hex'),
        ttl: s.ttl,
      },
    };
  });

const ip = (packet: Packet): IpPacket => {
  if (packet.kind !== 'ip') throw new Error('expected an IP packet');
  return packet;
};

describe('the bytes of a mirrored packet', () => {
  test('IP and L4 lengths and checksums are right for every protocol and both families (independent check)', () => {
    fc.assert(
      fc.property(packetSpec, ({ src, dst, family, input }) => {
        const bytes = ipPacket(ip(parsePacket('p', input)), 0x1234);
        expect(bytes.length).toBe(input.length);
        const header = family === 4 ? 20 : 40;
        const upper = bytes.subarray(header);
        if (family === 4) {
          expect(bytes[0]).toBe(0x45);
          expect(bytes.readUInt16BE(2)).toBe(input.length);
          expect(bytes[8]).toBe(input.ttl);
          expect(bytes[9]).toBe(input.protocol);
          expect([...bytes.subarray(12, 16)]).toEqual(src);
          expect([...bytes.subarray(16, 20)]).toEqual(dst);
          expect(verifies(bytes.subarray(0, 20))).toBe(true);
        } else {
          expect((bytes[0] ?? 0) >> 4).toBe(6);
          expect(bytes.readUInt16BE(4)).toBe(input.length - 40);
          expect(bytes[6]).toBe(input.protocol);
          expect(bytes[7]).toBe(input.ttl);
          expect([...bytes.subarray(8, 24)]).toEqual(src);
          expect([...bytes.subarray(24, 40)]).toEqual(dst);
        }
        const ph = pseudo(family, src, dst, input.protocol, upper.length);
        if (input.protocol === 6) {
          expect(upper.readUInt16BE(0)).toBe(input.sourcePort);
          expect(upper.readUInt16BE(2)).toBe(input.destinationPort);
          expect(upper[12]).toBe(0x50);
          expect(verifies(ph, upper)).toBe(true);
        } else if (input.protocol === 17) {
          expect(upper.readUInt16BE(4)).toBe(upper.length);
          expect(upper.readUInt16BE(6)).not.toBe(0);
          expect(verifies(ph, upper)).toBe(true);
        } else if (input.protocol === 1) {
          expect(verifies(upper)).toBe(true);
        } else if (input.protocol === 58) {
          expect(verifies(ph, upper)).toBe(true);
        }
        const l4 = input.protocol === 6 ? 20 : [17, 1, 58].includes(input.protocol) ? 8 : 0;
        const payload = Buffer.from(input.payloadHex, 'hex');
        expect(upper.subarray(l4, l4 + payload.length)).toEqual(payload);
        expect(upper.subarray(l4 + payload.length).every((b) => b === 0)).toBe(true);
      }),
      { numRuns: 500, seed: 1313 },
    );
  });

  test('a UDP checksum that computes to zero is sent as 0xffff (RFC 768)', () => {
    const base = {
      direction: 'egress',
      protocol: 17,
      source: '10.0.0.1',
      destination: '10.0.0.2',
      sourcePort: 1,
    };
    const probe = ipPacket(ip(parsePacket('p', { ...base, destinationPort: 2, payloadHex: '0000' })));
    // A payload word equal to the checksum of the zero payload makes the sum all ones: checksum 0.
    const word = probe.readUInt16BE(26).toString(16).padStart(4, '0');
    const bytes = ipPacket(ip(parsePacket('p', { ...base, destinationPort: 2, payloadHex: word })));
    expect(bytes.readUInt16BE(26)).toBe(0xffff);
    expect(verifies(pseudo(4, [10, 0, 0, 1], [10, 0, 0, 2], 17, 10), bytes.subarray(20))).toBe(true);
  });

  test('VXLAN header: the I flag, reserved zeros and the 24-bit VNI (RFC 7348 section 5)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffff }), (vni) => {
        const header = vxlanHeader(vni);
        expect(header.length).toBe(8);
        expect([...header.subarray(0, 4)]).toEqual([0x08, 0, 0, 0]);
        expect(header.readUIntBE(4, 3)).toBe(vni);
        expect(header[7]).toBe(0);
      }),
    );
    expect(() => vxlanHeader(0x1000000)).toThrow(RangeError);
    expect(() => vxlanHeader(-1)).toThrow(RangeError);
  });

  test('PacketLength keeps that many bytes after the VXLAN header, never more than the frame', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 14, maxLength: 400 }),
        fc.integer({ min: 1, max: 8500 }),
        (f, cut) => {
          const frame = Buffer.from(f);
          const datagram = vxlanDatagram(77, frame, cut);
          expect(datagram.length).toBe(8 + Math.min(cut, frame.length));
          expect(datagram.subarray(8)).toEqual(frame.subarray(0, cut));
          expect(vxlanDatagram(77, frame).subarray(8)).toEqual(frame);
        },
      ),
    );
  });
});

describe('packets the request may not hold', () => {
  const ok = {
    direction: 'ingress',
    protocol: 6,
    source: '198.51.100.7',
    destination: '10.0.1.5',
    sourcePort: 51515,
    destinationPort: 22,
  };
  test.each([
    [{ ...ok, direction: 'inbound' }, "p.direction: must be 'ingress' or 'egress', got 'inbound'"],
    [{ ...ok, protocol: 256 }, 'p.protocol: must be an integer from 0 to 255, got 256'],
    [{ ...ok, protocol: 'sctp' }, 'p.protocol: must be an IANA protocol number'],
    [{ ...ok, source: '10.0.0.256' }, "p.source: must be an IPv4 or IPv6 address, got '10.0.0.256'"],
    [{ ...ok, destination: '2001:db8::1' }, "p.destination: must be of the source's IP family (IPv4)"],
    [{ ...ok, sourcePort: 70000 }, 'p.sourcePort: must be an integer from 0 to 65535, got 70000'],
    [{ ...ok, destinationPort: undefined }, 'p.destinationPort: required for TCP (6) and UDP (17)'],
    [{ ...ok, protocol: 1 }, 'p.sourcePort: only TCP (6) and UDP (17) have ports'],
    [{ ...ok, protocol: 58 }, 'p.protocol: 58 (ICMPv6) needs IPv6 addresses'],
    [{ ...ok, length: 39 }, "p.length: 39 is less than the packet's headers and payload (40 bytes)"],
    [{ ...ok, length: 9002 }, 'p.length: must be an integer from 0 to 9001, got 9002'],
    [{ ...ok, payloadHex: 'abc' }, 'p.payloadHex: must be an even number of hexadecimal digits'],
    [{ ...ok, payloadHex: 'aa'.repeat(9000) }, "longer than AWS's largest MTU (9001)"],
    [{ ...ok, tcpFlags: 'SX' }, 'p.tcpFlags: must be letters of FSRPAUEC'],
    [{ ...ok, protocol: 17, tcpFlags: 'S' }, 'p.tcpFlags: only for TCP (6)'],
    [{ ...ok, icmpType: 3 }, 'p.icmpType: only for ICMP (1) and ICMPv6 (58)'],
    [{ ...ok, ttl: 0 }, 'p.ttl: must be an integer from 1 to 255, got 0'],
    [{ ...ok, colour: 'red' }, 'p.colour: unknown field'],
    [
      { direction: 'egress', protocol: 'arp', source: '10.0.0.5', destination: '10.0.0.1', length: 60 },
      "p.length: not allowed with protocol 'arp'",
    ],
    ['tcp', 'p: must be a JSON object'],
  ])('%j is refused: %s', (input, message) => {
    expect(() => parsePacket('p', input)).toThrow(TrafficInputError);
    expect(() => parsePacket('p', input)).toThrow(message);
  });

  test('names and defaults: tcp by name, flags, echo requests, TTL 64', () => {
    const tcp = ip(parsePacket('p', { ...ok, protocol: 'TCP', tcpFlags: 'SA' }));
    expect(tcp).toMatchObject({ protocol: 6, tcpFlags: 0x12, ttl: 64, length: 40 });
    expect(ip(parsePacket('p', { ...ok, payloadHex: '00' })).tcpFlags).toBe(0x18);
    expect(ip(parsePacket('p', ok)).tcpFlags).toBe(0x10);
    const { sourcePort: _, destinationPort: __, ...noPorts } = ok;
    expect(ip(parsePacket('p', { ...noPorts, protocol: 'icmp' }))).toMatchObject({ icmpType: 8, length: 28 });
    expect(
      ip(
        parsePacket('p', {
          ...noPorts,
          protocol: 'icmpv6',
          source: '2001:db8::1',
          destination: '2001:db8::2',
        }),
      ),
    ).toMatchObject({ icmpType: 128, length: 48 });
  });
});

// ---- which session mirrors a packet ---------------------------------------------------------------

/** Addresses of few distinct bytes, so that generated packets often fall inside generated blocks. */
const addressBytes = (n: number) => fc.array(fc.constantFrom(0, 10, 255), { minLength: n, maxLength: n });
const blockBytes = (n: number) => fc.oneof(addressBytes(n), bytesOf(n));
/** Prefixes short enough to hold many of those addresses, as well as any. */
const prefixOf = (max: number) =>
  fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max }));
const v4Block = fc.record({ bytes: blockBytes(4), prefix: prefixOf(32) });
const v6Block = fc.record({ bytes: blockBytes(16), prefix: prefixOf(128) });
/** Ports among a few values, so that ranges' bounds are hit often. */
const port = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constantFrom(0, 22, 53, 443, 1024, 65535));
const range = fc.tuple(port, port).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));

let ruleSeq = 0;
const ruleOf = (family: 4 | 6) =>
  fc
    .record({
      direction: fc.constantFrom('ingress' as const, 'egress' as const),
      action: fc.constantFrom('accept' as const, 'reject' as const),
      protocol: fc.option(fc.constantFrom(6, 17, 1, 58), { nil: undefined, freq: 2 }),
      source: family === 4 ? v4Block : v6Block,
      destination: family === 4 ? v4Block : v6Block,
      sourcePorts: fc.option(range, { nil: undefined, freq: 2 }),
      destinationPorts: fc.option(range, { nil: undefined, freq: 2 }),
      number: fc.integer({ min: 1, max: 32766 }),
    })
    .map((r) => {
      const text = family === 4 ? v4Text : v6Text;
      const ported = r.protocol === 6 || r.protocol === 17;
      const cidr = (b: { bytes: number[]; prefix: number }) => {
        const parsed = parseCidr(`${text(b.bytes)}/${b.prefix}`);
        if (!parsed) throw new Error('bad generated CIDR');
        return { parsed, text: `${text(b.bytes)}/${b.prefix}` };
      };
      const source = cidr(r.source);
      const destination = cidr(r.destination);
      const rule: RuleView = {
        id: `tmfr-${(++ruleSeq).toString(16).padStart(17, '0')}`,
        number: r.number,
        direction: r.direction,
        action: r.action,
        source: source.parsed,
        destination: destination.parsed,
        ...(r.protocol === undefined ? {} : { protocol: r.protocol }),
        ...(ported && r.sourcePorts ? { sourcePorts: r.sourcePorts } : {}),
        ...(ported && r.destinationPorts ? { destinationPorts: r.destinationPorts } : {}),
      };
      return { rule, sourceText: source.text, destinationText: destination.text };
    });

const packetOf = (family: 4 | 6) =>
  fc
    .record({
      direction: fc.constantFrom('ingress' as const, 'egress' as const),
      protocol: fc.constantFrom(6, 17, family === 4 ? 1 : 58, 47),
      source: addressBytes(family === 4 ? 4 : 16),
      destination: addressBytes(family === 4 ? 4 : 16),
      sourcePort: port,
      destinationPort: port,
    })
    .map((p) => {
      const text = family === 4 ? v4Text : v6Text;
      const ported = p.protocol === 6 || p.protocol === 17;
      return ip(
        parsePacket('p', {
          direction: p.direction,
          protocol: p.protocol,
          source: text(p.source),
          destination: text(p.destination),
          ...(ported ? { sourcePort: p.sourcePort, destinationPort: p.destinationPort } : {}),
        }),
      );
    });

/** Node's own CIDR matching (net.BlockList), not the emulator's, as the oracle for a rule's blocks. */
function inBlock(cidrText: string, address: string, family: 4 | 6): boolean {
  const [net = '', prefix = '0'] = cidrText.split('/');
  const list = new BlockList();
  list.addSubnet(net, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const textOf = (family: 4 | 6, value: bigint) => {
  const bytes: number[] = [];
  for (let i = family === 4 ? 3 : 15; i >= 0; i--) bytes.push(Number((value >> BigInt(8 * i)) & 0xffn));
  return family === 4 ? v4Text(bytes) : v6Text(bytes);
};

describe('a rule matches a packet', () => {
  test.each([4, 6] as const)(
    'as its direction, protocol, CIDRs (Node BlockList) and port bounds say (IPv%i)',
    (family) => {
      fc.assert(
        fc.property(ruleOf(family), packetOf(family), ({ rule, sourceText, destinationText }, packet) => {
          const within = (p: number | undefined, r?: { from: number; to: number }) =>
            r === undefined || (p !== undefined && r.from <= p && p <= r.to);
          const expected =
            rule.direction === packet.direction &&
            (rule.protocol === undefined || rule.protocol === packet.protocol) &&
            inBlock(sourceText, textOf(family, packet.source), family) &&
            inBlock(destinationText, textOf(family, packet.destination), family) &&
            within(packet.sourcePort, rule.sourcePorts) &&
            within(packet.destinationPort, rule.destinationPorts);
          expect(ruleMatches(rule, packet)).toBe(expected);
        }),
        { numRuns: 3000, seed: 7 },
      );
    },
  );

  test('an IPv4 rule never matches IPv6 traffic, nor the reverse', () => {
    const all4 = parseCidr('0.0.0.0/0');
    const all6 = parseCidr('::/0');
    if (!all4 || !all6) throw new Error('CIDR');
    const rule = (source: typeof all4): RuleView => ({
      id: 'tmfr-1',
      number: 1,
      direction: 'ingress',
      action: 'accept',
      source,
      destination: source,
    });
    const v4 = ip(
      parsePacket('p', { direction: 'ingress', protocol: 47, source: '1.2.3.4', destination: '10.0.0.1' }),
    );
    const v6 = ip(
      parsePacket('p', { direction: 'ingress', protocol: 47, source: '2001:db8::1', destination: '::1' }),
    );
    expect([ruleMatches(rule(all4), v4), ruleMatches(rule(all4), v6)]).toEqual([true, false]);
    expect([ruleMatches(rule(all6), v4), ruleMatches(rule(all6), v6)]).toEqual([false, true]);
  });
});

const sessionsOf = (family: 4 | 6) =>
  fc.uniqueArray(fc.integer({ min: 1, max: 32766 }), { minLength: 0, maxLength: 3 }).chain((numbers) =>
    fc.tuple(
      ...numbers.map((number) =>
        fc
          .uniqueArray(ruleOf(family), {
            maxLength: 10,
            selector: (r) => `${r.rule.direction}/${r.rule.number}`,
          })
          .map(
            (rules): SessionView => ({
              id: `tms-${number.toString(16).padStart(17, '0')}`,
              number,
              vni: number * 7,
              targetId: 'tmt-00000000000000001',
              filterId: `tmf-${number.toString(16).padStart(17, '0')}`,
              rules: rules.map((r) => r.rule),
              networkServices: new Set(),
            }),
          ),
      ),
    ),
  );

describe('which session mirrors a packet', () => {
  const scenario = fc
    .constantFrom(4 as const, 6 as const)
    .chain((family) => fc.tuple(sessionsOf(family), packetOf(family)));

  test('at most one: the lowest-numbered session whose first matching rule accepts; later ones not evaluated', () => {
    fc.assert(
      fc.property(scenario, ([sessions, packet]) => {
        const verdict = decide(packet, sessions);
        const ordered = [...sessions].sort((a, b) => a.number - b.number);
        const first = ordered.find((s) => {
          const rule = s.rules
            .filter((r) => r.direction === packet.direction)
            .sort((a, b) => a.number - b.number)
            .find((r) => ruleMatches(r, packet));
          return rule?.action === 'accept';
        });
        expect(verdict.mirrored).toBe(first !== undefined);
        if (verdict.mirrored) expect(verdict.session).toBe(first);
        if (!verdict.mirrored)
          expect(verdict.reason).toBe(sessions.length === 0 ? 'no-sessions' : 'not-accepted');
        expect(verdict.sessions.map((o) => o.session.number)).toEqual(ordered.map((s) => s.number));
        const taking = verdict.sessions.filter((o) => o.outcome === 'accepted');
        expect(taking.length).toBe(verdict.mirrored ? 1 : 0);
        const at = verdict.sessions.findIndex((o) => o.outcome === 'accepted');
        verdict.sessions.forEach((o, i) => {
          if (at >= 0 && i > at) expect(o.outcome).toBe('not-evaluated');
          if (at < 0 || i < at) expect(['rejected', 'no-rule-matched']).toContain(o.outcome);
        });
      }),
      { numRuns: 1000, seed: 42 },
    );
  });

  test('the order sessions and rules are listed in does not matter, only their numbers', () => {
    fc.assert(
      fc.property(scenario, fc.integer(), ([sessions, packet], seed) => {
        const shuffle = <T>(list: readonly T[]) =>
          [...list]
            .map((x, i) => ({ x, k: (i * 2654435761 + seed) % 1009 }))
            .sort((a, b) => a.k - b.k)
            .map((e) => e.x);
        const shuffled = shuffle(sessions).map((s) => ({ ...s, rules: shuffle(s.rules) }));
        const a = decide(packet, sessions);
        const b = decide(packet, shuffled);
        expect(b.mirrored).toBe(a.mirrored);
        expect(b.sessions.map((o) => [o.session.id, o.outcome, o.rule?.id])).toEqual(
          a.sessions.map((o) => [o.session.id, o.outcome, o.rule?.id]),
        );
      }),
      { numRuns: 1000, seed: 5 },
    );
  });

  test('rules of the other direction never change the verdict; a lower-numbered catch-all rule decides', () => {
    fc.assert(
      fc.property(
        scenario,
        fc.constantFrom('accept' as const, 'reject' as const),
        ([sessions, packet], action) => {
          const family = packet.family;
          const all = parseCidr(family === 4 ? '0.0.0.0/0' : '::/0');
          if (!all || sessions.length === 0) return;
          const [firstSession] = [...sessions].sort((a, b) => a.number - b.number);
          if (!firstSession) return;
          const other = packet.direction === 'ingress' ? 'egress' : 'ingress';
          const catchAll = (direction: typeof other, number: number): RuleView => ({
            id: 'tmfr-catchall',
            number,
            direction,
            action,
            source: all,
            destination: all,
          });
          // Rule numbers are unique per direction: 0 is below every generated one (they start at 1).
          const flipped = sessions.map((s) => ({ ...s, rules: [...s.rules, catchAll(other, 0)] }));
          expect(decide(packet, flipped).sessions.map((o) => o.outcome)).toEqual(
            decide(packet, sessions).sessions.map((o) => o.outcome),
          );
          const decided = sessions.map((s) =>
            s === firstSession ? { ...s, rules: [...s.rules, catchAll(packet.direction, 0)] } : s,
          );
          const verdict = decide(packet, decided);
          expect(verdict.sessions[0]?.outcome).toBe(action === 'accept' ? 'accepted' : 'rejected');
          expect(verdict.sessions[0]?.rule?.id).toBe('tmfr-catchall');
        },
      ),
      { numRuns: 1000, seed: 11 },
    );
  });
});

describe('traffic AWS never mirrors, and Amazon DNS', () => {
  const pkt = (input: Record<string, unknown>) => parsePacket('p', { direction: 'egress', ...input });
  test.each([
    [{ protocol: 'arp', source: '10.0.0.5', destination: '10.0.0.1' }, 'arp'],
    [
      {
        protocol: 17,
        source: '0.0.0.0',
        destination: '255.255.255.255',
        sourcePort: 68,
        destinationPort: 67,
      },
      'dhcp',
    ],
    [
      { protocol: 17, source: '10.0.0.1', destination: '10.0.0.5', sourcePort: 67, destinationPort: 68 },
      'dhcp',
    ],
    [
      { protocol: 17, source: 'fe80::1', destination: 'ff02::1:2', sourcePort: 546, destinationPort: 547 },
      'dhcp',
    ],
    [
      {
        protocol: 6,
        source: '10.0.0.5',
        destination: '169.254.169.254',
        sourcePort: 40000,
        destinationPort: 80,
      },
      'instance-metadata',
    ],
    [
      {
        protocol: 6,
        source: 'fd00:ec2::254',
        destination: '2001:db8::5',
        sourcePort: 80,
        destinationPort: 40000,
      },
      'instance-metadata',
    ],
    [{ protocol: 1, source: '10.0.0.5', destination: '169.254.169.254' }, 'instance-metadata'],
    [
      {
        protocol: 17,
        source: '10.0.0.5',
        destination: '169.254.169.123',
        sourcePort: 123,
        destinationPort: 123,
      },
      'ntp',
    ],
    [
      {
        protocol: 17,
        source: 'fd00:ec2::123',
        destination: '2001:db8::5',
        sourcePort: 123,
        destinationPort: 40000,
      },
      'ntp',
    ],
    [
      {
        protocol: 6,
        source: '10.0.0.5',
        destination: '169.254.169.250',
        sourcePort: 50000,
        destinationPort: 1688,
      },
      'windows-activation',
    ],
    [
      {
        protocol: 17,
        source: '10.0.0.5',
        destination: '203.0.113.10',
        sourcePort: 123,
        destinationPort: 123,
      },
      undefined,
    ],
    [
      { protocol: 17, source: '10.0.0.5', destination: '10.0.0.9', sourcePort: 67, destinationPort: 53 },
      undefined,
    ],
    [
      {
        protocol: 6,
        source: '10.0.0.5',
        destination: '169.254.169.123',
        sourcePort: 40000,
        destinationPort: 80,
      },
      undefined,
    ],
  ])('%j: %s', (input, expected) => {
    expect(neverMirrored(pkt(input))).toBe(expected);
  });

  const resolver = 0x0a000002n; // 10.0.0.2, the base + 2 of 10.0.0.0/16
  test.each([
    [
      { protocol: 17, source: '10.0.0.5', destination: '10.0.0.2', sourcePort: 40000, destinationPort: 53 },
      true,
    ],
    [
      { protocol: 6, source: '10.0.0.2', destination: '10.0.0.5', sourcePort: 53, destinationPort: 40000 },
      true,
    ],
    [
      {
        protocol: 17,
        source: '10.0.0.5',
        destination: '169.254.169.253',
        sourcePort: 40000,
        destinationPort: 53,
      },
      true,
    ],
    [
      {
        protocol: 17,
        source: '2001:db8::5',
        destination: 'fd00:ec2::253',
        sourcePort: 40000,
        destinationPort: 53,
      },
      true,
    ],
    [
      { protocol: 17, source: '10.0.0.5', destination: '10.0.0.3', sourcePort: 40000, destinationPort: 53 },
      false,
    ],
    [
      { protocol: 17, source: '10.0.0.5', destination: '8.8.8.8', sourcePort: 40000, destinationPort: 53 },
      false,
    ],
    [
      { protocol: 17, source: '10.0.0.5', destination: '10.0.0.2', sourcePort: 53, destinationPort: 40000 },
      false,
    ],
  ])('Amazon DNS %j: %s', (input, expected) => {
    expect(isAmazonDns(pkt(input), resolver)).toBe(expected);
  });

  test('Amazon DNS: taken by the first session whose filter has amazon-dns, whatever the rules', () => {
    const all = parseCidr('0.0.0.0/0');
    if (!all) throw new Error('CIDR');
    const session = (number: number, services: string[], action: 'accept' | 'reject'): SessionView => ({
      id: `tms-${number}`,
      number,
      vni: number,
      targetId: 'tmt-1',
      filterId: `tmf-${number}`,
      rules: [
        { id: `tmfr-${number}`, number: 1, direction: 'egress', action, source: all, destination: all },
      ],
      networkServices: new Set(services),
    });
    const query = pkt({
      protocol: 17,
      source: '10.0.0.5',
      destination: '10.0.0.2',
      sourcePort: 40000,
      destinationPort: 53,
    });
    const verdict = decide(query, [session(3, ['amazon-dns'], 'reject'), session(1, [], 'accept')], resolver);
    expect(verdict).toMatchObject({ mirrored: true, networkService: 'amazon-dns', session: { number: 3 } });
    expect(verdict.sessions.map((o) => o.outcome)).toEqual(['amazon-dns-not-enabled', 'amazon-dns']);
    const none = decide(query, [session(1, [], 'accept')], resolver);
    expect(none).toMatchObject({ mirrored: false, reason: 'not-accepted' });
  });
});

describe('delivery addresses', () => {
  test('HOST:PORT and [IPV6]:PORT; a target entry wins over *, which wins over 127.0.0.1:4789', () => {
    expect(parseDeliveryAddress('127.0.0.1:5000')).toEqual({ address: '127.0.0.1', port: 5000 });
    expect(parseDeliveryAddress('[::1]:4789')).toEqual({ address: '::1', port: 4789 });
    for (const bad of [
      'localhost:4789',
      '127.0.0.1',
      '127.0.0.1:0',
      '127.0.0.1:65536',
      '::1:4789',
      '[10.0.0.1]:5',
    ]) {
      expect(() => parseDeliveryAddress(bad)).toThrow(RangeError);
    }
    const delivery = new Delivery({ 'tmt-0123456789abcdef0': '127.0.0.1:6000' });
    expect(delivery.addressOf('tmt-0123456789abcdef0')).toEqual({ address: '127.0.0.1', port: 6000 });
    expect(delivery.addressOf('tmt-00000000000000001')).toEqual({ address: '127.0.0.1', port: 4789 });
    delivery.set('*', '127.0.0.1:7000');
    expect(delivery.addressOf('tmt-00000000000000001').port).toBe(7000);
    expect(delivery.addressOf('tmt-0123456789abcdef0').port).toBe(6000);
    delivery.set('tmt-0123456789abcdef0', undefined);
    expect(delivery.addressOf('tmt-0123456789abcdef0').port).toBe(7000);
    expect(() => delivery.set('eni-0123456789abcdef0', '127.0.0.1:1')).toThrow(RangeError);
  });
});
