/**
 * Whether mirrored packets can get from a source ENI to its target: the rules AWS applies to the
 * VXLAN packets (UDP, destination port 4789) a session sends, decided from what was read, with no
 * AWS calls. Used by `mirrorops doctor`.
 *
 * - Security groups (vpc/latest/userguide/vpc-security-groups.html): stateful, allow-only; a packet
 *   is let in when any rule of any group of the ENI matches its protocol, port and source (a CIDR
 *   holding the address, or a group the sending ENI belongs to). traffic-mirroring-targets.html:
 *   the target's groups must allow UDP 4789 from the sources.
 * - Network ACLs (vpc-network-acls.html, "Network ACL rules"): stateless, evaluated when traffic
 *   enters or leaves a subnet, rules by ascending number, the first match decides, the `*` rule
 *   denies what none matched. Traffic between two ENIs of one subnet is not evaluated.
 * - Routes (VPC_Route_Tables.html, "Route priority"): the most specific route that holds the
 *   destination; a subnet without an explicit association uses the VPC's main table.
 * - Paths (traffic-mirroring-how-it-works.html): source and target in one VPC, or in VPCs joined
 *   by an intra-Region peering connection or a transit gateway.
 */
import { type Cidr, contains, formatCidr, parseAddress, parseCidr } from './cidr.ts';

export const VXLAN_PORT = 4789;
const UDP = 17;

/** One security group permission as EC2 describes it. */
export interface SgPermission {
  /** `-1`, a name (`udp`) or a number (`17`). */
  protocol: string;
  fromPort?: number | undefined;
  toPort?: number | undefined;
  cidrs: readonly string[];
  groupIds: readonly string[];
}

export interface SecurityGroupView {
  id: string;
  ingress: readonly SgPermission[];
}

const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };

/** A protocol as a number, or -1 for all. */
export function protocolNumber(protocol: string): number {
  const lower = protocol.toLowerCase();
  if (lower === '-1' || lower === 'all') return -1;
  if (Object.hasOwn(PROTOCOL_NUMBERS, lower)) return PROTOCOL_NUMBERS[lower] as number;
  const n = Number(protocol);
  return Number.isInteger(n) ? n : Number.NaN;
}

const asCidr = (address: string): Cidr | undefined => {
  const parsed = parseAddress(address);
  return parsed && { family: parsed.family, base: parsed.value, prefix: parsed.family === 4 ? 32 : 128 };
};

/** Whether `outer` (a CIDR) holds the address or block `inner`. */
export function holds(outer: string, inner: string): boolean {
  const o = parseCidr(outer);
  const i = inner.includes('/') ? parseCidr(inner) : asCidr(inner);
  return o !== undefined && i !== undefined && contains(o, i);
}

const portIn = (port: number, from: number | undefined, to: number | undefined) =>
  from === undefined || to === undefined || from === -1 || (from <= port && port <= to);

/** The sender of a packet, as a security group rule can name it. */
export interface Sender {
  address: string;
  groupIds: readonly string[];
}

/**
 * The group and rule that let UDP 4789 from this sender into an ENI with these groups, or
 * undefined when none does (security groups deny what no rule allows).
 */
export function securityGroupsAllow(
  groups: readonly SecurityGroupView[],
  sender: Sender,
  port = VXLAN_PORT,
): { groupId: string; rule: string } | undefined {
  for (const group of groups) {
    for (const perm of group.ingress) {
      const proto = protocolNumber(perm.protocol);
      if (proto !== -1 && proto !== UDP) continue;
      if (proto === UDP && !portIn(port, perm.fromPort, perm.toPort)) continue;
      const ports = proto === -1 || perm.fromPort === undefined ? 'all' : `${perm.fromPort}-${perm.toPort}`;
      const cidr = perm.cidrs.find((c) => holds(c, sender.address));
      if (cidr) return { groupId: group.id, rule: `${proto === -1 ? 'all' : 'udp'} ${ports} from ${cidr}` };
      const ref = perm.groupIds.find((g) => sender.groupIds.includes(g));
      if (ref) return { groupId: group.id, rule: `${proto === -1 ? 'all' : 'udp'} ${ports} from ${ref}` };
    }
  }
  return undefined;
}

/** One network ACL entry as EC2 describes it (`-1` or a protocol number). */
export interface AclEntry {
  ruleNumber: number;
  egress: boolean;
  protocol: string;
  action: 'allow' | 'deny';
  cidrBlock: string;
  portRange?: { from: number; to: number } | undefined;
}

/** What a network ACL decides for a packet: the rule that matched, or `*` (32767) when none did. */
export interface AclVerdict {
  allowed: boolean;
  ruleNumber: number;
}

/**
 * A network ACL's decision for one UDP packet crossing the subnet's edge: `egress` for a packet
 * leaving the subnet (toward `peer`), ingress for one entering it (from `peer`). Rules by
 * ascending number, the first whose protocol, port range and CIDR match decides; none: denied.
 */
export function aclVerdict(
  entries: readonly AclEntry[],
  packet: { egress: boolean; peer: string; port?: number; protocol?: number },
): AclVerdict {
  const port = packet.port ?? VXLAN_PORT;
  const protocol = packet.protocol ?? UDP;
  const rules = entries.filter((e) => e.egress === packet.egress).sort((a, b) => a.ruleNumber - b.ruleNumber);
  for (const rule of rules) {
    const proto = protocolNumber(rule.protocol);
    if (proto !== -1 && proto !== protocol) continue;
    if (proto !== -1 && (protocol === 6 || protocol === UDP) && rule.portRange) {
      if (port < rule.portRange.from || port > rule.portRange.to) continue;
    }
    if (!holds(rule.cidrBlock, packet.peer)) continue;
    return { allowed: rule.action === 'allow', ruleNumber: rule.ruleNumber };
  }
  return { allowed: false, ruleNumber: 32767 };
}

/** One route of a route table, as EC2 describes it. */
export interface RouteView {
  destination: string;
  gatewayId?: string | undefined;
  vpcPeeringConnectionId?: string | undefined;
  transitGatewayId?: string | undefined;
  state?: string | undefined;
}

/** The route a packet to `destination` (an address or a block) takes: the longest prefix holding it. */
export function routeFor(routes: readonly RouteView[], destination: string): RouteView | undefined {
  let best: RouteView | undefined;
  let bestPrefix = -1;
  for (const route of routes) {
    const cidr = parseCidr(route.destination);
    if (!cidr || !holds(route.destination, destination)) continue;
    if (cidr.prefix > bestPrefix) {
      best = route;
      bestPrefix = cidr.prefix;
    }
  }
  return best;
}

/** One end of a mirrored path: its VPC, Region, where it sits, and its subnet's routes. */
export interface Endpoint {
  vpcId: string;
  account: string;
  region: string;
  /** An address (an ENI's) or a block (a load balancer's subnet) that packets are sent to and from. */
  address: string;
  routes: readonly RouteView[];
}

export interface PeeringView {
  id: string;
  status: string;
  requester: { vpcId: string; account: string; region: string };
  accepter: { vpcId: string; account: string; region: string };
}

export interface AttachmentView {
  transitGatewayId: string;
  vpcId: string;
  state: string;
}

export type Path =
  | { ok: true; via: 'same-vpc' | 'peering' | 'transit-gateway'; id?: string; detail: string }
  | { ok: false; detail: string; fix: string };

const routeText = (route: RouteView | undefined) =>
  route === undefined
    ? 'no route'
    : `${route.destination} via ${route.vpcPeeringConnectionId ?? route.transitGatewayId ?? route.gatewayId ?? '?'}${route.state && route.state !== 'active' ? ` (${route.state})` : ''}`;

/**
 * Whether packets can go from the source to the target: one VPC; or an active peering connection
 * between the two VPCs in one Region, with a route each way through it; or both VPCs attached to
 * one transit gateway, with a route each way to it. Each failure says what is missing.
 */
export function pathBetween(
  source: Endpoint,
  target: Endpoint,
  peerings: readonly PeeringView[],
  attachments: readonly AttachmentView[],
): Path {
  if (source.vpcId === target.vpcId) return { ok: true, via: 'same-vpc', detail: `both in ${source.vpcId}` };
  const there = routeFor(source.routes, target.address);
  const back = routeFor(target.routes, source.address);
  const joins = (p: PeeringView) =>
    (p.requester.vpcId === source.vpcId && p.accepter.vpcId === target.vpcId) ||
    (p.requester.vpcId === target.vpcId && p.accepter.vpcId === source.vpcId);
  const peering = peerings.find((p) => joins(p) && p.status === 'active') ?? peerings.find(joins);
  const usable = (route: RouteView | undefined, via: (r: RouteView) => string | undefined, id: string) =>
    route !== undefined && via(route) === id && (route.state ?? 'active') === 'active';
  if (peering) {
    if (peering.status !== 'active') {
      return {
        ok: false,
        detail: `peering ${peering.id} between ${source.vpcId} and ${target.vpcId} is ${peering.status}`,
        fix: `the accepter (${peering.accepter.account}) accepts it: aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id ${peering.id}`,
      };
    }
    if (peering.requester.region !== peering.accepter.region) {
      return {
        ok: false,
        detail: `peering ${peering.id} joins two Regions; Traffic Mirroring needs an intra-Region peering or a transit gateway`,
        fix: 'put the target in the source’s Region',
      };
    }
    const viaPcx = (r: RouteView) => r.vpcPeeringConnectionId;
    if (!usable(there, viaPcx, peering.id) || !usable(back, viaPcx, peering.id)) {
      const missing = !usable(there, viaPcx, peering.id)
        ? `source side: ${routeText(there)} to ${target.address}`
        : `target side: ${routeText(back)} to ${source.address}`;
      const [table, dest] = !usable(there, viaPcx, peering.id)
        ? ['the source subnet’s route table', target.address]
        : ['the target subnet’s route table', source.address];
      return {
        ok: false,
        detail: `peering ${peering.id} is active but routes are missing (${missing})`,
        fix: `in ${table}: aws ec2 create-route --route-table-id RTB --destination-cidr-block ${cidrOf(dest)} --vpc-peering-connection-id ${peering.id}`,
      };
    }
    return { ok: true, via: 'peering', id: peering.id, detail: `peering ${peering.id}, routes both ways` };
  }
  const sourceTgws = new Set(
    attachments
      .filter((a) => a.vpcId === source.vpcId && a.state === 'available')
      .map((a) => a.transitGatewayId),
  );
  const shared = attachments.find(
    (a) => a.vpcId === target.vpcId && a.state === 'available' && sourceTgws.has(a.transitGatewayId),
  );
  if (shared) {
    const tgw = shared.transitGatewayId;
    const viaTgw = (r: RouteView) => r.transitGatewayId;
    if (!usable(there, viaTgw, tgw) || !usable(back, viaTgw, tgw)) {
      const sourceSide = !usable(there, viaTgw, tgw);
      return {
        ok: false,
        detail: `both VPCs are attached to ${tgw} but ${sourceSide ? `the source side has ${routeText(there)} to ${target.address}` : `the target side has ${routeText(back)} to ${source.address}`}`,
        fix: `in the ${sourceSide ? 'source' : 'target'} subnet’s route table: aws ec2 create-route --route-table-id RTB --destination-cidr-block ${cidrOf(sourceSide ? target.address : source.address)} --transit-gateway-id ${tgw}`,
      };
    }
    return { ok: true, via: 'transit-gateway', id: tgw, detail: `transit gateway ${tgw}, routes both ways` };
  }
  return {
    ok: false,
    detail: `${source.vpcId} and ${target.vpcId} are not joined: no peering connection, no common transit gateway`,
    fix: `peer the VPCs (aws ec2 create-vpc-peering-connection --vpc-id ${source.vpcId} --peer-vpc-id ${target.vpcId}) or attach both to a transit gateway, then add routes both ways`,
  };
}

/** An address as a /32 (or /128), a block as itself. */
function cidrOf(text: string): string {
  if (text.includes('/')) return text;
  const cidr = asCidr(text);
  return cidr ? formatCidr(cidr) : text;
}

export type Level = 'ok' | 'warn' | 'fail';

/**
 * How close a per-account count is to its quota: fail at the quota (the next create is refused),
 * warn from 90% of it.
 */
export function quotaLevel(used: number, limit: number): Level {
  if (used >= limit) return 'fail';
  return used >= limit * 0.9 ? 'warn' : 'ok';
}
