import { mirroringOf } from '../../shared/aws/mirroring-view.ts';
import { parseAddress } from '../../shared/domain/cidr.ts';
import {
  type Address,
  amazonDnsServers,
  type Direction,
  describeRule,
  describeVerdict,
  type Explanation,
  explain,
  formatAddressOf,
  formatPacket,
  inferDirection,
  type MirrorRule,
  type Packet,
  parsePacket,
  type SessionAnswer,
} from '../../shared/domain/explain.ts';
import { AWS_FLAGS_HELP, awsFlags, connect, outputOf } from '../aws.ts';
import { type Command, EXIT, NotFoundError, parseFlags, UsageError } from '../command.ts';
import { checkId } from '../ids.ts';
import { table } from '../table.ts';

const HELP = `Usage: mirrorops explain --eni ENI --packet "PROTO SRC[:PORT] > DST[:PORT]" [--direction ingress|egress] [AWS options]

Would this packet, seen on this network interface, be mirrored, and by which session? Reads the
ENI's mirror sessions and their filters and applies AWS's rules: sessions by ascending number, the
first whose filter takes the packet mirrors it (once); in a filter, the rules of the packet's
direction by ascending rule number, the first that matches decides. Says which session and rule,
or, session by session, why none takes it. Reads only; changes nothing.

  PROTO   tcp, udp, icmp, icmpv6, arp or an IANA protocol number (0-255)
  SRC/DST an IPv4 or IPv6 address; a port for tcp and udp only; IPv6 with a port in brackets

Options:
  --eni ENI          the source network interface (eni-...)
  --packet TEXT      the packet; repeat to ask about several at once (one read of the ENI)
  --direction DIR    ingress (the ENI receives it) or egress (it sends it); without it, the
                     direction follows from which end is one of the ENI's own addresses
  --json             the same as --output json (an object, or an array when --packet is repeated)
  -h, --help         show this help

${AWS_FLAGS_HELP}

Examples:
  mirrorops explain --eni eni-0abc1234def567890 --packet "tcp 198.51.100.7:51515 > 10.0.1.5:22"
  mirrorops explain --eni eni-0abc1234def567890 --direction egress --packet "udp [2001:db8::5]:40000 > [2001:db8::53]:53"

Exit codes: 0 answered (mirrored or not), 2 bad input, 3 no such ENI, 5 no credentials.`;

const flags = {
  eni: { type: 'string' },
  packet: { type: 'string', multiple: true },
  direction: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  ...awsFlags,
} as const;

interface Asked {
  packet: Packet;
  direction: Direction;
  /** Where the direction came from: the flag, or the ENI's address at one end. */
  directionFrom: 'flag' | 'eni-address';
}

/** The direction given, or the one the ENI's own addresses imply; a UsageError when neither. */
function directionOf(packet: Packet, given: Direction | undefined, eniId: string, own: Address[]): Asked {
  if (given) return { packet, direction: given, directionFrom: 'flag' };
  const inferred = inferDirection(packet, own);
  if (inferred) return { packet, direction: inferred, directionFrom: 'eni-address' };
  const mine = own.map(formatAddressOf).join(', ') || 'none';
  const which = own.some((a) => a.value === packet.source.value && a.family === packet.source.family)
    ? 'both ends are'
    : 'neither end is';
  throw new UsageError(
    `cannot tell the direction of '${formatPacket(packet)}': ${which} an address of ${eniId} (${mine}); give --direction ingress|egress`,
  );
}

const ruleJson = (rule: MirrorRule) => ({
  direction: rule.direction,
  ruleNumber: rule.ruleNumber,
  action: rule.action,
  protocol: rule.protocol ?? null,
  sourceCidrBlock: rule.sourceCidrBlock,
  destinationCidrBlock: rule.destinationCidrBlock,
  sourcePortRange: rule.sourcePortRange ?? null,
  destinationPortRange: rule.destinationPortRange ?? null,
});

const sessionJson = (a: SessionAnswer, direction: Direction) => ({
  id: a.session.id,
  number: a.session.number,
  virtualNetworkId: a.session.virtualNetworkId ?? null,
  targetId: a.session.targetId,
  filterId: a.session.filterId,
  packetLength: a.session.packetLength ?? null,
  takes: a.verdict.takes,
  shadowed: a.shadowed,
  decidedBy: a.verdict.takes
    ? a.verdict.by === 'amazon-dns'
      ? { networkService: 'amazon-dns' }
      : { rule: ruleJson(a.verdict.rule) }
    : a.verdict.why === 'rejected'
      ? { rule: ruleJson(a.verdict.rule) }
      : { reason: a.verdict.why },
  reason: describeVerdict(a.verdict, direction),
});

/** The answer as JSON: what scripts read (and the differential test compares with the emulator). */
export function explanationJson(eniId: string, asked: Asked, e: Explanation) {
  const p = e.packet;
  return {
    networkInterfaceId: eniId,
    packet: formatPacket(p),
    protocol: p.protocol,
    source: formatAddressOf(p.source),
    sourcePort: p.protocol === 'arp' ? null : (p.sourcePort ?? null),
    destination: formatAddressOf(p.destination),
    destinationPort: p.protocol === 'arp' ? null : (p.destinationPort ?? null),
    direction: e.direction,
    directionFrom: asked.directionFrom,
    mirrored: e.mirroredBy !== undefined,
    neverMirrored: e.neverMirrored ?? null,
    session: e.mirroredBy ? sessionJson(e.mirroredBy, e.direction) : null,
    sessions: e.sessions.map((s) => sessionJson(s, e.direction)),
  };
}

function explanationText(eniId: string, asked: Asked, e: Explanation): string {
  const p = e.packet;
  const why =
    asked.directionFrom === 'flag'
      ? 'as given'
      : e.direction === 'ingress'
        ? `${formatAddressOf(p.destination)} is the ENI's address`
        : `${formatAddressOf(p.source)} is the ENI's address`;
  const lines = [`${formatPacket(p)} on ${eniId}, ${e.direction} (${why})`];
  if (e.neverMirrored !== undefined) {
    lines.push(
      `Not mirrored: AWS never mirrors ${e.neverMirrored} traffic, whatever the filters say (traffic-mirroring-network-limitations).`,
    );
    return lines.join('\n');
  }
  const m = e.mirroredBy;
  if (m) {
    const s = m.session;
    const decided =
      m.verdict.takes && m.verdict.by === 'rule'
        ? describeRule(m.verdict.rule)
        : 'Amazon DNS traffic, mirrored by the amazon-dns network service';
    const truncated = s.packetLength ? `, ${s.packetLength} bytes of it` : '';
    lines.push(
      `Mirrored by session ${s.id} (number ${s.number}, VNI ${s.virtualNetworkId ?? '-'}, target ${s.targetId}${truncated}): ${decided}`,
    );
  } else if (e.sessions.length === 0) {
    lines.push(`Not mirrored: ${eniId} has no mirror sessions.`);
  } else {
    lines.push(`Not mirrored: none of the ${e.sessions.length} sessions of ${eniId} takes it.`);
  }
  if (e.sessions.length > 0) {
    lines.push(
      table(
        ['NO', 'SESSION', 'FILTER', 'VNI', 'ANSWER'],
        e.sessions.map((a) => [
          String(a.session.number),
          a.session.id,
          a.session.filterId,
          String(a.session.virtualNetworkId ?? '-'),
          a.shadowed
            ? `would take it too (${a.verdict.takes && a.verdict.by === 'rule' ? describeRule(a.verdict.rule) : 'amazon-dns'}), but session ${m?.session.number} comes first: a packet is mirrored once`
            : describeVerdict(a.verdict, e.direction),
        ]),
      ),
    );
  }
  return lines.join('\n');
}

/**
 * One line a packet for `--output text`, tab-separated: ENI, packet, direction, then `mirrored`,
 * session, number, VNI and what decided (`ingress-rule-10`, `amazon-dns`), or `not-mirrored` and
 * the class of traffic AWS never mirrors (`-` when it is not one).
 */
function explanationLine(eniId: string, e: Explanation): string {
  const m = e.mirroredBy;
  const tail = m
    ? [
        'mirrored',
        m.session.id,
        String(m.session.number),
        String(m.session.virtualNetworkId ?? '-'),
        m.verdict.takes && m.verdict.by === 'rule'
          ? `${m.verdict.rule.direction}-rule-${m.verdict.rule.ruleNumber}`
          : 'amazon-dns',
      ]
    : ['not-mirrored', e.neverMirrored ?? '-'];
  return [eniId, formatPacket(e.packet), e.direction, ...tail].join('\t');
}

export const explainCommand: Command = {
  summary: 'say whether a packet on an ENI is mirrored, by which session and rule, or why not',
  async run(args, io) {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      io.out(HELP);
      return EXIT.ok;
    }
    if (values.eni === undefined) throw new UsageError('--eni is required');
    const eniId = checkId('--eni', values.eni, 'eni');
    const texts = values.packet ?? [];
    if (texts.length === 0) throw new UsageError('--packet is required');
    const given = values.direction;
    if (given !== undefined && given !== 'ingress' && given !== 'egress')
      throw new UsageError(`--direction '${given}' is not ingress or egress`);
    const format = outputOf(values);
    const packets = texts.map((text) => {
      const parsed = parsePacket(text);
      if (!parsed.ok) throw new UsageError(`--packet: ${parsed.error}`);
      return parsed.value;
    });

    const aws = await connect(values, io);
    const view = await mirroringOf(aws.ec2, eniId);
    if (!view)
      throw new NotFoundError(`no network interface ${eniId} in account ${aws.account}, ${aws.region}`);
    const own = view.addresses.flatMap((a) => parseAddress(a) ?? []);
    const dnsServers = amazonDnsServers(view.vpcCidr);
    const answers = packets.map((packet) => {
      const asked = directionOf(packet, given, eniId, own);
      const e = explain({
        packet,
        direction: asked.direction,
        sessions: view.sessions,
        filters: view.filters,
        dnsServers,
      });
      return { asked, e };
    });
    if (format === 'json') {
      const json = answers.map(({ asked, e }) => explanationJson(eniId, asked, e));
      io.out(JSON.stringify(json.length === 1 ? json[0] : json, null, 2));
    } else if (format === 'text') {
      for (const { e } of answers) io.out(explanationLine(eniId, e));
    } else {
      io.out(answers.map(({ asked, e }) => explanationText(eniId, asked, e)).join('\n\n'));
    }
    return EXIT.ok;
  },
};
