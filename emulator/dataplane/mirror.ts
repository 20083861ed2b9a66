/**
 * Which session, if any, mirrors a packet seen on a source ENI: AWS's rules, written from its
 * documentation (vpc/latest/mirroring/), independently of the product's `explain`. Pure.
 *
 * - Sessions of the ENI are evaluated by ascending session number; the first whose filter accepts
 *   the packet mirrors it, and the packet is mirrored once (traffic-mirroring-session.html: "The
 *   first session with a matching filter is the one that mirrors the packets").
 * - A filter's rules of the packet's direction are evaluated by ascending rule number, first match
 *   wins (CreateTrafficMirrorFilterRule: "The rules are processed in ascending order by rule
 *   number"); accept mirrors, reject does not; when no rule matches, the session does not mirror.
 * - ARP, DHCP, instance metadata, NTP and Windows activation traffic is never mirrored
 *   (traffic-mirroring-network-limitations.html, "Traffic types").
 * - Amazon DNS traffic is "not eligible for Traffic Mirror" by default; a filter with the
 *   `amazon-dns` network service mirrors "all traffic related to that network service"
 *   (ModifyTrafficMirrorFilterNetworkServices), whatever its rules say.
 */
import { type Cidr, contains, type Family } from '../ec2/cidr.ts';
import { type Direction, type IpPacket, type Packet, TCP, UDP } from './packet.ts';

export interface RuleView {
  id: string;
  number: number;
  direction: Direction;
  action: 'accept' | 'reject';
  /** Absent: every protocol. */
  protocol?: number;
  source: Cidr;
  destination: Cidr;
  sourcePorts?: { from: number; to: number };
  destinationPorts?: { from: number; to: number };
}

export interface SessionView {
  id: string;
  number: number;
  vni: number;
  targetId: string;
  filterId: string;
  rules: RuleView[];
  /** `amazon-dns` when the filter has that network service. */
  networkServices: ReadonlySet<string>;
}

export type NeverMirrored = 'arp' | 'dhcp' | 'instance-metadata' | 'ntp' | 'windows-activation';

/** How one session treated the packet. */
export type Outcome =
  | 'accepted' // a rule of its filter accepted it: this session mirrors it
  | 'amazon-dns' // Amazon DNS traffic and the filter has the amazon-dns network service: mirrors it
  | 'rejected' // a reject rule matched first
  | 'no-rule-matched' // no rule of the packet's direction matched
  | 'amazon-dns-not-enabled' // Amazon DNS traffic, and the filter lacks the amazon-dns network service
  | 'not-evaluated'; // an earlier session already mirrored the packet

export interface RuleRef {
  id: string;
  number: number;
  action: 'accept' | 'reject';
}

export interface SessionOutcome {
  session: SessionView;
  outcome: Outcome;
  /** The rule that decided (accepted or rejected), if one did. */
  rule?: RuleRef;
}

export type Verdict =
  | {
      mirrored: true;
      session: SessionView;
      rule?: RuleRef;
      networkService?: 'amazon-dns';
      sessions: SessionOutcome[];
    }
  | { mirrored: false; reason: 'never-mirrored'; neverMirrored: NeverMirrored; sessions: SessionOutcome[] }
  | { mirrored: false; reason: 'no-sessions' | 'not-accepted'; sessions: SessionOutcome[] };

const v4 = (a: number, b: number, c: number, d: number) =>
  BigInt(((a << 24) >>> 0) + (b << 16) + (c << 8) + d);
/** fd00:ec2::N, the IPv6 addresses of the Nitro link-local services. */
const ec2v6 = (low: number) => (0xfd000ec2n << 96n) | BigInt(low);

/** Instance Metadata Service: 169.254.169.254 and fd00:ec2::254 (instancedata-data-retrieval.html). */
const IMDS = { 4: [v4(169, 254, 169, 254)], 6: [ec2v6(0x254)] };
/** Amazon Time Sync Service, the instance's NTP server: 169.254.169.123 and fd00:ec2::123 (set-time.html). */
const TIME_SYNC = { 4: [v4(169, 254, 169, 123)], 6: [ec2v6(0x123)] };
/** Windows activation (KMS, TCP 1688): 169.254.169.250 and .251. */
const KMS = { 4: [v4(169, 254, 169, 250), v4(169, 254, 169, 251)], 6: [] as bigint[] };
/** Amazon DNS besides the VPC's base + 2: 169.254.169.253 and fd00:ec2::253 (AmazonDNS-concepts.html). */
const RESOLVERS = { 4: [v4(169, 254, 169, 253)], 6: [ec2v6(0x253)] };

const among = (family: Family, list: { 4: bigint[]; 6: bigint[] }, value: bigint) =>
  list[family].includes(value);

const either = (packet: IpPacket, list: { 4: bigint[]; 6: bigint[] }) =>
  among(packet.family, list, packet.source) || among(packet.family, list, packet.destination);

const ports = (packet: IpPacket) => [packet.sourcePort, packet.destinationPort];

/**
 * The traffic types AWS never mirrors, or undefined. DHCP is UDP between ports 67 and 68 (DHCPv6:
 * 546 and 547); NTP is UDP port 123 to or from the Amazon Time Sync Service; instance metadata and
 * Windows activation are any traffic to or from their link-local addresses.
 */
export function neverMirrored(packet: Packet): NeverMirrored | undefined {
  if (packet.kind === 'arp') return 'arp';
  const udp = packet.protocol === UDP;
  if (udp && ports(packet).every((port) => port === 67 || port === 68)) return 'dhcp';
  if (udp && ports(packet).every((port) => port === 546 || port === 547)) return 'dhcp';
  if (either(packet, IMDS)) return 'instance-metadata';
  if (udp && ports(packet).includes(123) && either(packet, TIME_SYNC)) return 'ntp';
  if (either(packet, KMS)) return 'windows-activation';
  return undefined;
}

/**
 * Whether the packet is Amazon DNS traffic: TCP or UDP with port 53 on the resolver's side, the
 * resolver being the VPC's base address + 2 (`vpcResolver`, IPv4), 169.254.169.253 or fd00:ec2::253.
 */
export function isAmazonDns(packet: Packet, vpcResolver?: bigint): boolean {
  if (packet.kind !== 'ip' || (packet.protocol !== TCP && packet.protocol !== UDP)) return false;
  const resolver = (address: bigint) =>
    among(packet.family, RESOLVERS, address) || (packet.family === 4 && address === vpcResolver);
  return (
    (resolver(packet.destination) && packet.destinationPort === 53) ||
    (resolver(packet.source) && packet.sourcePort === 53)
  );
}

const host = (family: Family, value: bigint): Cidr => ({
  family,
  base: value,
  prefix: family === 4 ? 32 : 128,
});

const inRange = (port: number | undefined, range: { from: number; to: number } | undefined) =>
  range === undefined || (port !== undefined && port >= range.from && port <= range.to);

/**
 * Whether a rule matches the packet: its direction, its protocol (absent: any), both CIDRs (of the
 * packet's family: an IPv4 rule never matches IPv6 traffic), and its port ranges, inclusive (only
 * TCP and UDP rules have them, so only TCP and UDP packets match one).
 */
export function ruleMatches(rule: RuleView, packet: IpPacket): boolean {
  return (
    rule.direction === packet.direction &&
    (rule.protocol === undefined || rule.protocol === packet.protocol) &&
    contains(rule.source, host(packet.family, packet.source)) &&
    contains(rule.destination, host(packet.family, packet.destination)) &&
    inRange(packet.sourcePort, rule.sourcePorts) &&
    inRange(packet.destinationPort, rule.destinationPorts)
  );
}

/** The first rule of the packet's direction, by ascending number, that matches it. */
export function firstMatch(rules: readonly RuleView[], packet: IpPacket): RuleView | undefined {
  return rules
    .filter((rule) => rule.direction === packet.direction)
    .sort((a, b) => a.number - b.number)
    .find((rule) => ruleMatches(rule, packet));
}

const ref = (rule: RuleView): RuleRef => ({ id: rule.id, number: rule.number, action: rule.action });

/**
 * Which of the ENI's sessions mirrors the packet, and how each was decided. `vpcResolver` is the
 * Amazon DNS address of the ENI's VPC (its CIDR's base + 2).
 */
export function decide(packet: Packet, sessions: readonly SessionView[], vpcResolver?: bigint): Verdict {
  const never = neverMirrored(packet);
  if (never) return { mirrored: false, reason: 'never-mirrored', neverMirrored: never, sessions: [] };
  if (packet.kind !== 'ip') throw new Error('unreachable: only ARP is not IP');
  const ordered = [...sessions].sort((a, b) => a.number - b.number);
  if (ordered.length === 0) return { mirrored: false, reason: 'no-sessions', sessions: [] };
  const dns = isAmazonDns(packet, vpcResolver);
  const outcomes: SessionOutcome[] = [];
  let taken: Extract<Verdict, { mirrored: true }> | undefined;
  for (const session of ordered) {
    if (taken) {
      outcomes.push({ session, outcome: 'not-evaluated' });
      continue;
    }
    if (dns) {
      const enabled = session.networkServices.has('amazon-dns');
      outcomes.push({ session, outcome: enabled ? 'amazon-dns' : 'amazon-dns-not-enabled' });
      if (enabled) taken = { mirrored: true, session, networkService: 'amazon-dns', sessions: outcomes };
      continue;
    }
    const rule = firstMatch(session.rules, packet);
    if (!rule) {
      outcomes.push({ session, outcome: 'no-rule-matched' });
    } else if (rule.action === 'reject') {
      outcomes.push({ session, outcome: 'rejected', rule: ref(rule) });
    } else {
      outcomes.push({ session, outcome: 'accepted', rule: ref(rule) });
      taken = { mirrored: true, session, rule: ref(rule), sessions: outcomes };
    }
  }
  return taken ?? { mirrored: false, reason: 'not-accepted', sessions: outcomes };
}
