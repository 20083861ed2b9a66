/**
 * "Would this packet be mirrored, and by which session?" Pure: the caller reads the ENI's sessions,
 * their filters and the ENI's addresses; this module applies AWS's documented rules to one packet.
 *
 * - Sessions of a source ENI are evaluated by ascending session number; a packet is mirrored once,
 *   to the first session whose filter takes it (traffic-mirroring-sessions.html).
 * - A filter's rules of the packet's direction are evaluated by ascending rule number; the first
 *   that matches decides (accept mirrors, reject does not); no match is no mirror. A rule matches
 *   on protocol (absent: all protocols), source and destination CIDR (a rule's CIDRs are of one
 *   family and never match the other) and port ranges, which apply to TCP and UDP only
 *   (traffic-mirroring-filters.html; CreateTrafficMirrorFilterRule: "rules are processed in
 *   ascending order by rule number"; TrafficMirrorPortRange: "applies to the TCP and UDP protocols").
 * - Amazon DNS traffic is not eligible unless the filter has the `amazon-dns` network service; with
 *   it, all of that traffic is mirrored (ModifyTrafficMirrorFilterNetworkServices).
 * - ARP, DHCP, the instance metadata service, NTP and Windows activation are never mirrored
 *   (traffic-mirroring-network-limitations.html).
 */
import { type Cidr, contains, type Family, formatAddress, parseAddress, parseCidr } from './cidr.ts';

export type Direction = 'ingress' | 'egress';

export interface Address {
  family: Family;
  value: bigint;
}

/** An IP packet as the source ENI sees it; ports only for TCP and UDP. */
export interface IpPacket {
  protocol: number;
  source: Address;
  destination: Address;
  sourcePort?: number;
  destinationPort?: number;
}

/** ARP has no IP protocol: only its sender and target addresses. */
export interface ArpPacket {
  protocol: 'arp';
  source: Address;
  destination: Address;
}

export type Packet = IpPacket | ArpPacket;

export interface PortRange {
  from: number;
  to: number;
}

/** A filter rule as DescribeTrafficMirrorFilters returns it. */
export interface MirrorRule {
  direction: Direction;
  ruleNumber: number;
  action: 'accept' | 'reject';
  /** IANA protocol number; absent: every protocol. */
  protocol?: number;
  sourceCidrBlock: string;
  destinationCidrBlock: string;
  sourcePortRange?: PortRange;
  destinationPortRange?: PortRange;
}

export interface MirrorFilter {
  id: string;
  rules: MirrorRule[];
  networkServices: string[];
}

export interface MirrorSession {
  id: string;
  number: number;
  filterId: string;
  targetId: string;
  virtualNetworkId?: number;
  packetLength?: number;
}

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;
export const ICMPV6 = 58;

const PROTOCOL_NAMES: Record<number, string> = {
  [TCP]: 'tcp',
  [UDP]: 'udp',
  [ICMP]: 'icmp',
  [ICMPV6]: 'icmpv6',
};

export const protocolName = (protocol: number | 'arp'): string =>
  typeof protocol === 'number' ? (PROTOCOL_NAMES[protocol] ?? String(protocol)) : protocol;

const hasPorts = (protocol: number) => protocol === TCP || protocol === UDP;

// ---- the packet's text -------------------------------------------------------------------------

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const endpoint = (text: string, ported: boolean): Parsed<{ address: Address; port?: number }> => {
  let host = text;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [host = '', portText] = text.split(':');
  }
  const address = parseAddress(host);
  if (!address) return { ok: false, error: `'${host}' is not an IPv4 or IPv6 address` };
  if (bracketed && address.family !== 6) return { ok: false, error: `'[${host}]': brackets are for IPv6` };
  if (portText === undefined) return { ok: true, value: { address } };
  if (!ported) return { ok: false, error: `'${text}': ports are only for tcp and udp` };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535)
    return { ok: false, error: `'${portText}' in '${text}' is not a port (0-65535)` };
  return { ok: true, value: { address, port: Number(portText) } };
};

/**
 * Reads `PROTO SRC[:PORT] > DST[:PORT]`: PROTO is tcp, udp, icmp, icmpv6, arp or an IANA protocol
 * number (0-255); an IPv6 address with a port is written in brackets (`[2001:db8::1]:443`). Both
 * addresses of one family. The error names what was wrong.
 */
export function parsePacket(text: string): Parsed<Packet> {
  const match = /^\s*(\S+)\s+(\S+)\s*>\s*(\S+)\s*$/.exec(text);
  if (!match) return { ok: false, error: `'${text}' is not 'PROTO SRC[:PORT] > DST[:PORT]'` };
  const [, protoText = '', srcText = '', dstText = ''] = match;
  const named: Record<string, number | 'arp'> = {
    tcp: TCP,
    udp: UDP,
    icmp: ICMP,
    icmpv6: ICMPV6,
    arp: 'arp',
  };
  const key = protoText.toLowerCase();
  let protocol: number | 'arp';
  if (Object.hasOwn(named, key)) protocol = named[key] ?? 'arp';
  else if (/^\d{1,3}$/.test(protoText) && Number(protoText) <= 255) protocol = Number(protoText);
  else return { ok: false, error: `protocol '${protoText}' is not tcp, udp, icmp, icmpv6, arp or 0-255` };
  const ported = protocol !== 'arp' && hasPorts(protocol);
  const source = endpoint(srcText, ported);
  if (!source.ok) return source;
  const destination = endpoint(dstText, ported);
  if (!destination.ok) return destination;
  if (source.value.address.family !== destination.value.address.family)
    return { ok: false, error: `${srcText} and ${dstText} are not of one IP version` };
  if (protocol === 'arp') {
    if (source.value.address.family !== 4) return { ok: false, error: 'ARP is IPv4 only' };
    return {
      ok: true,
      value: { protocol, source: source.value.address, destination: destination.value.address },
    };
  }
  const family = source.value.address.family;
  if (protocol === ICMP && family !== 4) return { ok: false, error: 'icmp is IPv4; use icmpv6 for IPv6' };
  if (protocol === ICMPV6 && family !== 6) return { ok: false, error: 'icmpv6 is IPv6; use icmp for IPv4' };
  if (ported && (source.value.port === undefined || destination.value.port === undefined))
    return { ok: false, error: `a ${protocolName(protocol)} packet needs both ports (SRC:PORT > DST:PORT)` };
  return {
    ok: true,
    value: {
      protocol,
      source: source.value.address,
      destination: destination.value.address,
      ...(source.value.port === undefined ? {} : { sourcePort: source.value.port }),
      ...(destination.value.port === undefined ? {} : { destinationPort: destination.value.port }),
    },
  };
}

export const formatAddressOf = (a: Address) => formatAddress(a.family, a.value);

const formatEndpoint = (a: Address, port: number | undefined) => {
  const text = formatAddressOf(a);
  if (port === undefined) return text;
  return a.family === 6 ? `[${text}]:${port}` : `${text}:${port}`;
};

/** The packet in the syntax parsePacket reads, addresses in their canonical form. */
export function formatPacket(p: Packet): string {
  const [sp, dp] = p.protocol === 'arp' ? [undefined, undefined] : [p.sourcePort, p.destinationPort];
  return `${protocolName(p.protocol)} ${formatEndpoint(p.source, sp)} > ${formatEndpoint(p.destination, dp)}`;
}

// ---- direction ---------------------------------------------------------------------------------

const sameAddress = (a: Address, b: Address) => a.family === b.family && a.value === b.value;

/**
 * The direction of a packet on an ENI from the ENI's own addresses: to one of them is ingress,
 * from one is egress (a filter's ingress rules see what the source receives, egress what it
 * sends). Undefined when neither or both ends are the ENI's: the caller must say.
 */
export function inferDirection(packet: Packet, eniAddresses: readonly Address[]): Direction | undefined {
  const toEni = eniAddresses.some((a) => sameAddress(a, packet.destination));
  const fromEni = eniAddresses.some((a) => sameAddress(a, packet.source));
  if (toEni === fromEni) return undefined;
  return toEni ? 'ingress' : 'egress';
}

// ---- what is never mirrored, and Amazon DNS ----------------------------------------------------

const ip = (text: string): Address => parseAddress(text) as Address;
const METADATA = [ip('169.254.169.254'), ip('fd00:ec2::254')];
const WINDOWS_ACTIVATION = [ip('169.254.169.250'), ip('169.254.169.251')];
/** The Amazon DNS server's link-local addresses; the VPC's base + 2 is added by amazonDnsServers. */
export const AMAZON_DNS_LINK_LOCAL: readonly Address[] = [ip('169.254.169.253'), ip('fd00:ec2::253')];

const TIME_SYNC = [ip('169.254.169.123'), ip('fd00:ec2::123')];

const portsWithin = (p: IpPacket, ports: readonly number[]) =>
  p.sourcePort !== undefined &&
  p.destinationPort !== undefined &&
  ports.includes(p.sourcePort) &&
  ports.includes(p.destinationPort);
const touches = (p: Packet, addresses: readonly Address[]) =>
  addresses.some((a) => sameAddress(a, p.source) || sameAddress(a, p.destination));

/**
 * The traffic class AWS never mirrors this packet as, if any (traffic-mirroring-network-limitations.html:
 * "ARP, DHCP, Instance metadata service, NTP, Windows activation"). These are the services the VPC
 * answers itself, the same list VPC Flow Logs leaves out (flow-logs-limitations.html), which names
 * them exactly: DHCP is UDP between the DHCP ports, 67 and 68 (RFC 2131 4.1; DHCPv6 546 and 547,
 * RFC 8415 7.2); NTP is UDP port 123 to or from the Amazon Time Sync Service, 169.254.169.123 or
 * fd00:ec2::123 (NTP to any other server is ordinary traffic); the metadata service is anything to
 * or from 169.254.169.254 or fd00:ec2::254; Windows activation anything to or from AWS's KMS
 * servers 169.254.169.250 and .251.
 */
export function neverMirrored(packet: Packet): string | undefined {
  if (packet.protocol === 'arp') return 'ARP';
  const udp = packet.protocol === UDP;
  if (udp && (portsWithin(packet, [67, 68]) || portsWithin(packet, [546, 547]))) return 'DHCP';
  if (touches(packet, METADATA)) return 'instance metadata service';
  if (udp && (packet.sourcePort === 123 || packet.destinationPort === 123) && touches(packet, TIME_SYNC))
    return 'NTP';
  if (touches(packet, WINDOWS_ACTIVATION)) return 'Windows activation';
  return undefined;
}

/**
 * The Amazon DNS server's addresses for an ENI in a VPC whose primary IPv4 block is `vpcCidr`:
 * the block's base plus two, 169.254.169.253 and fd00:ec2::253 (vpc-dns.html, "Amazon DNS server").
 */
export function amazonDnsServers(vpcCidr: string | undefined): Address[] {
  const block = vpcCidr ? parseCidr(vpcCidr) : undefined;
  const base = block?.family === 4 ? [{ family: 4 as const, value: block.base + 2n }] : [];
  return [...base, ...AMAZON_DNS_LINK_LOCAL];
}

/** TCP or UDP to port 53 of an Amazon DNS server address, or its answer from there. */
export function isAmazonDns(packet: Packet, dnsServers: readonly Address[]): boolean {
  if (packet.protocol !== TCP && packet.protocol !== UDP) return false;
  const to = packet.destinationPort === 53 && dnsServers.some((a) => sameAddress(a, packet.destination));
  const from = packet.sourcePort === 53 && dnsServers.some((a) => sameAddress(a, packet.source));
  return to || from;
}

// ---- rules, filters, sessions ------------------------------------------------------------------

const inCidr = (cidr: Cidr | undefined, a: Address) =>
  cidr !== undefined &&
  contains(cidr, { family: a.family, base: a.value, prefix: a.family === 4 ? 32 : 128 });
const inRange = (range: PortRange | undefined, port: number | undefined) =>
  range === undefined || (port !== undefined && range.from <= port && port <= range.to);

/**
 * Whether a rule matches an IP packet (direction aside): protocol, both CIDRs, and the port
 * ranges, which only a TCP or UDP packet with ports can satisfy.
 */
export function ruleMatches(rule: MirrorRule, packet: IpPacket): boolean {
  if (rule.protocol !== undefined && rule.protocol !== packet.protocol) return false;
  if (!inCidr(parseCidr(rule.sourceCidrBlock), packet.source)) return false;
  if (!inCidr(parseCidr(rule.destinationCidrBlock), packet.destination)) return false;
  if ((rule.sourcePortRange || rule.destinationPortRange) && !hasPorts(packet.protocol)) return false;
  return (
    inRange(rule.sourcePortRange, packet.sourcePort) &&
    inRange(rule.destinationPortRange, packet.destinationPort)
  );
}

export type Verdict =
  | { takes: true; by: 'rule'; rule: MirrorRule }
  | { takes: true; by: 'amazon-dns' }
  | { takes: false; why: 'rejected'; rule: MirrorRule }
  | { takes: false; why: 'no-rule-matched'; rulesOfDirection: number }
  | { takes: false; why: 'amazon-dns-not-enabled' }
  | { takes: false; why: 'filter-not-found' };

/**
 * What one filter does with a packet in a direction: Amazon DNS traffic is decided by the
 * `amazon-dns` network service alone; anything else by the first rule of that direction, by
 * ascending rule number, that matches it.
 */
export function filterVerdict(
  filter: MirrorFilter | undefined,
  direction: Direction,
  packet: IpPacket,
  dnsServers: readonly Address[],
): Verdict {
  if (!filter) return { takes: false, why: 'filter-not-found' };
  if (isAmazonDns(packet, dnsServers)) {
    return filter.networkServices.includes('amazon-dns')
      ? { takes: true, by: 'amazon-dns' }
      : { takes: false, why: 'amazon-dns-not-enabled' };
  }
  const rules = filter.rules
    .filter((r) => r.direction === direction)
    .sort((a, b) => a.ruleNumber - b.ruleNumber);
  const rule = rules.find((r) => ruleMatches(r, packet));
  if (!rule) return { takes: false, why: 'no-rule-matched', rulesOfDirection: rules.length };
  return rule.action === 'accept'
    ? { takes: true, by: 'rule', rule }
    : { takes: false, why: 'rejected', rule };
}

export interface SessionAnswer {
  session: MirrorSession;
  verdict: Verdict;
  /** It would take the packet, but a session with a lower number already does. */
  shadowed: boolean;
}

export interface Explanation {
  packet: Packet;
  direction: Direction;
  /** The class of traffic AWS never mirrors, when the packet is of one; then no session is asked. */
  neverMirrored?: string;
  /** The session that mirrors it, if any. */
  mirroredBy?: SessionAnswer;
  /** Every session of the ENI by ascending number, with what its filter does. */
  sessions: SessionAnswer[];
}

/**
 * The answer for one packet on an ENI: the sessions by ascending number, each with its filter's
 * verdict; the first that takes it mirrors it, and those after it that would are shadowed (a packet
 * is mirrored once). Traffic AWS never mirrors is answered before any session is asked.
 */
export function explain(input: {
  packet: Packet;
  direction: Direction;
  sessions: readonly MirrorSession[];
  filters: readonly MirrorFilter[];
  dnsServers: readonly Address[];
}): Explanation {
  const { packet, direction } = input;
  const ordered = [...input.sessions].sort((a, b) => a.number - b.number);
  const never = neverMirrored(packet);
  if (packet.protocol === 'arp' || never !== undefined) {
    return { packet, direction, neverMirrored: never ?? 'ARP', sessions: [] };
  }
  const byId = new Map(input.filters.map((f) => [f.id, f]));
  let mirroredBy: SessionAnswer | undefined;
  const sessions = ordered.map((session) => {
    const verdict = filterVerdict(byId.get(session.filterId), direction, packet, input.dnsServers);
    const answer: SessionAnswer = { session, verdict, shadowed: verdict.takes && mirroredBy !== undefined };
    if (verdict.takes && !mirroredBy) mirroredBy = answer;
    return answer;
  });
  return { packet, direction, ...(mirroredBy ? { mirroredBy } : {}), sessions };
}

// ---- words -------------------------------------------------------------------------------------

const range = (r: PortRange) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`);

/** A rule in one line: `ingress rule 100 accept tcp 198.51.100.7/32:any > 0.0.0.0/0:22`. */
export function describeRule(rule: MirrorRule): string {
  const proto = rule.protocol === undefined ? 'all protocols' : protocolName(rule.protocol);
  const ports = rule.sourcePortRange || rule.destinationPortRange;
  const side = (cidr: string, r: PortRange | undefined) =>
    ports ? `${cidr} port ${r ? range(r) : 'any'}` : cidr;
  return `${rule.direction} rule ${rule.ruleNumber} ${rule.action} ${proto} ${side(
    rule.sourceCidrBlock,
    rule.sourcePortRange,
  )} > ${side(rule.destinationCidrBlock, rule.destinationPortRange)}`;
}

/** Why a session takes the packet or not, in words. */
export function describeVerdict(verdict: Verdict, direction: Direction): string {
  if (verdict.takes) {
    return verdict.by === 'amazon-dns'
      ? 'takes it: Amazon DNS traffic, and the filter mirrors the amazon-dns network service'
      : `takes it: ${describeRule(verdict.rule)}`;
  }
  switch (verdict.why) {
    case 'rejected':
      return `does not take it: ${describeRule(verdict.rule)}`;
    case 'no-rule-matched':
      return verdict.rulesOfDirection === 0
        ? `does not take it: its filter has no ${direction} rules`
        : `does not take it: none of its ${verdict.rulesOfDirection} ${direction} rules matches`;
    case 'amazon-dns-not-enabled':
      return 'does not take it: Amazon DNS traffic, and the filter does not mirror the amazon-dns network service';
    case 'filter-not-found':
      return 'does not take it: its filter could not be read';
  }
}
