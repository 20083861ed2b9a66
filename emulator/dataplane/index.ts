/**
 * The data plane: `POST /_emulator/traffic` injects packets seen on a source ENI; each is mirrored
 * as AWS would (mirror.ts) and delivered as VXLAN over UDP to its target's address (delivery.ts).
 * The answer is written once every datagram was handed to the socket, so a caller may read its
 * receiver right after it. The request and answer are documented in emulator/README.md.
 */
import { parseCidr } from '../ec2/cidr.ts';
import type { FilterRule, MirrorSession, NetworkInterface, RegionState, World } from '../state.ts';
import type { Delivery, DeliveryAddress } from './delivery.ts';
import { decide, type RuleView, type SessionOutcome, type SessionView } from './mirror.ts';
import {
  ethernetFrame,
  ipPacket,
  type Packet,
  parsePackets,
  TrafficInputError,
  vxlanDatagram,
} from './packet.ts';

export { Delivery, parseDeliveryAddress } from './delivery.ts';
export { TrafficInputError } from './packet.ts';

/** The ENI asked for does not exist in that account and Region. Answered 404. */
export class UnknownInterfaceError extends Error {
  override readonly name = 'UnknownInterfaceError';
}

/** The MAC DescribeNetworkInterfaces shows for an ENI (emulator/ec2/topology.ts writes it the same way). */
export const macOf = (eniId: string) => `02:${(eniId.slice(4, 14).match(/../g) ?? []).join(':')}`;

/** The MAC of a subnet's router (its base + 1), the peer of traffic that leaves or enters the subnet. */
export const routerMacOf = (subnetId: string) => `06:${(subnetId.slice(7, 17).match(/../g) ?? []).join(':')}`;

/** NLB targets get PacketLength 8500 when the session sets none (CreateTrafficMirrorSession). */
const NLB_PACKET_LENGTH = 8500;
/**
 * A target instance's MTU (jumbo frames): the encapsulated packet (outer IPv4 20, UDP 8, VXLAN 8,
 * then the frame) is cut to it (traffic-mirroring-network-limitations.html, "MTU and packet length").
 */
const TARGET_MTU = 9001;
const ENCAPSULATION = 20 + 8 + 8;

const TWELVE_DIGITS = /^\d{12}$/;
const REGION = /^[a-z0-9-]{1,32}$/;
const REQUEST_FIELDS = new Set(['networkInterfaceId', 'account', 'region', 'packets']);

export interface TrafficRequest {
  networkInterfaceId: string;
  account: string;
  region: string;
  packets: Packet[];
}

/**
 * Checks the request body. The account and Region are the caller's (its SigV4 credential scope,
 * as for every request) unless the body names them.
 */
export function parseTrafficRequest(
  body: Record<string, unknown>,
  caller: { account: string; region: string },
): TrafficRequest {
  for (const key of Object.keys(body)) {
    if (!REQUEST_FIELDS.has(key)) {
      throw new TrafficInputError(`${key}: unknown field (known: ${[...REQUEST_FIELDS].join(', ')})`);
    }
  }
  const eni = body.networkInterfaceId;
  if (typeof eni !== 'string' || !/^eni-[0-9a-f]{8,17}$/.test(eni)) {
    throw new TrafficInputError(
      `networkInterfaceId: must be an ENI id (eni- and 8 or 17 hex digits), got ${JSON.stringify(eni)}`,
    );
  }
  const { account = caller.account, region = caller.region } = body;
  if (typeof account !== 'string' || !TWELVE_DIGITS.test(account)) {
    throw new TrafficInputError(`account: must be a twelve-digit account id, got ${JSON.stringify(account)}`);
  }
  if (typeof region !== 'string' || !REGION.test(region)) {
    throw new TrafficInputError(
      `region: must be a Region name such as us-east-1, got ${JSON.stringify(region)}`,
    );
  }
  return { networkInterfaceId: eni, account, region, packets: parsePackets(body.packets) };
}

function ruleView(rule: FilterRule): RuleView {
  const source = parseCidr(rule.sourceCidrBlock);
  const destination = parseCidr(rule.destinationCidrBlock);
  if (!source || !destination) throw new Error(`stored rule ${rule.id} has an invalid CIDR`);
  return {
    id: rule.id,
    number: rule.ruleNumber,
    direction: rule.direction,
    action: rule.action,
    source,
    destination,
    ...(rule.protocol === undefined ? {} : { protocol: rule.protocol }),
    ...(rule.sourcePortRange === undefined ? {} : { sourcePorts: { ...rule.sourcePortRange } }),
    ...(rule.destinationPortRange === undefined
      ? {}
      : { destinationPorts: { ...rule.destinationPortRange } }),
  };
}

interface Wired {
  view: SessionView;
  session: MirrorSession;
  /** The PacketLength in force: the session's, or 8500 for an NLB target without one. */
  packetLength?: number;
  /** Whether the target is an instance's ENI, whose MTU cuts what it receives. */
  eniTarget: boolean;
}

/** The ENI's sessions as the decision reads them, with what delivery needs. */
function sessionsOf(world: World, state: RegionState, eniId: string): Wired[] {
  const out: Wired[] = [];
  for (const session of state.sessions.values()) {
    if (session.networkInterfaceId !== eniId) continue;
    const filter = state.filters.get(session.filterId);
    const target = world.state(session.targetOwner, state.region).targets.get(session.targetId);
    const nlb = target?.networkLoadBalancerArn !== undefined;
    const packetLength = session.packetLength ?? (nlb ? NLB_PACKET_LENGTH : undefined);
    out.push({
      session,
      eniTarget: target?.networkInterfaceId !== undefined,
      ...(packetLength === undefined ? {} : { packetLength }),
      view: {
        id: session.id,
        number: session.sessionNumber,
        vni: session.virtualNetworkId,
        targetId: session.targetId,
        filterId: session.filterId,
        rules: (filter?.rules ?? []).map(ruleView),
        networkServices: new Set(filter?.networkServices ?? []),
      },
    });
  }
  return out;
}

/** The peer's MAC: an ENI of the same subnet when it holds the peer address, else the subnet's router. */
function peerMac(state: RegionState, eni: NetworkInterface, packet: Packet): string {
  const peer = packet.direction === 'egress' ? packet.destination : packet.source;
  for (const other of state.networkInterfaces.values()) {
    if (other.id === eni.id || other.subnetId !== eni.subnetId) continue;
    const address = packet.family === 4 ? parseCidr(`${other.privateIpAddress}/32`) : undefined;
    if (address?.base === peer) return macOf(other.id);
  }
  return routerMacOf(eni.subnetId);
}

/** The Amazon DNS address of the ENI's VPC: its CIDR's base + 2 (AmazonDNS-concepts.html). */
function vpcResolver(state: RegionState, eni: NetworkInterface): bigint | undefined {
  const cidr = parseCidr(state.vpcs.get(eni.vpcId)?.cidrBlock ?? '');
  return cidr?.family === 4 ? cidr.base + 2n : undefined;
}

export interface DeliveryReport extends DeliveryAddress {
  /** The inner Ethernet frame's length before any cut. */
  frameLength: number;
  /** What followed the VXLAN header: the frame, cut to PacketLength or the target's MTU. */
  mirroredLength: number;
  truncated: boolean;
  /** Why the socket did not send it; null when it did. */
  error: string | null;
}

const sessionJson = (view: SessionView, wired?: Wired) => ({
  id: view.id,
  number: view.number,
  vni: view.vni,
  targetId: view.targetId,
  filterId: view.filterId,
  packetLength: wired?.packetLength ?? null,
});

const outcomeJson = (o: SessionOutcome) => ({
  id: o.session.id,
  number: o.session.number,
  outcome: o.outcome,
  rule: o.rule ?? null,
});

function message(verdict: ReturnType<typeof decide>): string {
  if (verdict.mirrored) {
    const by = verdict.rule
      ? `${verdict.rule.action} rule ${verdict.rule.number} (${verdict.rule.id})`
      : `the amazon-dns network service`;
    return `mirrored by session ${verdict.session.number} (${verdict.session.id}, VNI ${verdict.session.vni}): ${by} of filter ${verdict.session.filterId}`;
  }
  if (verdict.reason === 'never-mirrored')
    return `never mirrored: AWS does not mirror ${verdict.neverMirrored} traffic`;
  if (verdict.reason === 'no-sessions') return 'not mirrored: the network interface has no sessions';
  const parts = verdict.sessions.map((o) =>
    o.outcome === 'rejected'
      ? `session ${o.session.number} rejected it by rule ${o.rule?.number}`
      : o.outcome === 'amazon-dns-not-enabled'
        ? `session ${o.session.number}'s filter does not mirror Amazon DNS traffic`
        : `no rule of session ${o.session.number}'s filter matched`,
  );
  return `not mirrored: ${parts.join('; ')}`;
}

/** Runs the request: decides every packet, sends what is mirrored, answers once all was sent. */
export async function injectTraffic(
  world: World,
  delivery: Delivery,
  request: TrafficRequest,
  nextId: () => number,
) {
  const state = world.state(request.account, request.region);
  const eni = state.networkInterfaces.get(request.networkInterfaceId);
  if (!eni) {
    throw new UnknownInterfaceError(
      `networkInterfaceId: no network interface ${request.networkInterfaceId} in account ${request.account}, Region ${request.region}`,
    );
  }
  const wired = sessionsOf(world, state, eni.id);
  const resolver = vpcResolver(state, eni);
  const sends: { datagram: Buffer; to: DeliveryAddress; report: DeliveryReport }[] = [];
  // Decided, then sent, in the packets' order, so a receiver sees them in the order given.
  const results = request.packets.map((packet, index) => {
    const verdict = decide(
      packet,
      wired.map((w) => w.view),
      resolver,
    );
    const base = {
      index,
      mirrored: verdict.mirrored,
      reason: verdict.mirrored ? (verdict.rule ? 'accepted' : 'amazon-dns') : verdict.reason,
      neverMirrored: !verdict.mirrored && verdict.reason === 'never-mirrored' ? verdict.neverMirrored : null,
      message: message(verdict),
      sessions: verdict.sessions.map(outcomeJson),
    };
    if (!verdict.mirrored || packet.kind !== 'ip') {
      return { ...base, session: null, rule: null, networkService: null, delivery: null };
    }
    const chosen = wired.find((w) => w.view === verdict.session);
    const ownMac = macOf(eni.id);
    const otherMac = peerMac(state, eni, packet);
    const frame = ethernetFrame(
      packet.direction === 'egress' ? otherMac : ownMac,
      packet.direction === 'egress' ? ownMac : otherMac,
      packet.family,
      ipPacket(packet, nextId()),
    );
    const limits = [chosen?.packetLength, chosen?.eniTarget ? TARGET_MTU - ENCAPSULATION : undefined];
    const cut = Math.min(frame.length, ...limits.filter((n): n is number => n !== undefined));
    const to = delivery.addressOf(verdict.session.targetId);
    const report: DeliveryReport = {
      ...to,
      frameLength: frame.length,
      mirroredLength: cut,
      truncated: cut < frame.length,
      error: null,
    };
    sends.push({ datagram: vxlanDatagram(verdict.session.vni, frame, cut), to, report });
    return {
      ...base,
      session: sessionJson(verdict.session, chosen),
      rule: verdict.rule ?? null,
      networkService: verdict.networkService ?? null,
      delivery: report,
    };
  });
  // One at a time, with a turn of the event loop after each (send's callback alone comes on the
  // next tick, before any I/O): a receiver in this process, a test's, reads its socket between
  // them instead of letting its buffer overflow (1,000 packets at once: about 90 arrived).
  for (const { datagram, to, report } of sends) {
    report.error = (await delivery.send(datagram, to)) ?? null;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return {
    networkInterfaceId: eni.id,
    account: request.account,
    region: request.region,
    mirrored: results.filter((r) => r.mirrored).length,
    packets: results,
  };
}
