import { createSocket, type Socket } from 'node:dgram';
import {
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorFilterRuleCommand,
  type CreateTrafficMirrorFilterRuleCommandInput,
  CreateTrafficMirrorSessionCommand,
  DeleteTrafficMirrorSessionCommand,
  type EC2Client,
  ModifyTrafficMirrorFilterNetworkServicesCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { formatAddress, parseAddress } from '../../shared/domain/cidr.ts';
import { useEmulator } from '../support/emulator.ts';
import { applianceTargetIn, freshClient } from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

/**
 * The product's `mirrorops explain` against the emulator's data plane, two implementations of
 * AWS's mirroring rules written apart from the documentation: for random filters (both directions,
 * accept and reject, protocols, port ranges, IPv4 and IPv6 CIDRs, the amazon-dns network service),
 * random sessions of them on one ENI and random packets, explain's answer (from what it reads
 * through the SDK) must be what `POST /_emulator/traffic` decides, session by session, and what it
 * delivers over UDP: one VXLAN datagram per mirrored packet, with the session's VNI and the packet.
 */

const env = useEmulator();

// ---- the world: one ENI, a target, a pool of filters made once --------------------------------

const ENI_IP = '10.0.0.10';
/** Addresses the packets and rules are drawn from: the ENI's, the VPC resolver, the link-local services, others. */
const V4 = [
  ENI_IP,
  '10.0.0.2',
  '10.0.0.3',
  '10.0.7.9',
  '198.51.100.7',
  '198.51.100.200',
  '203.0.113.9',
  '8.8.8.8',
];
/** The VPC's own services: Amazon DNS, metadata, Time Sync, Windows activation. */
const LINK_LOCAL = [
  '169.254.169.253',
  '169.254.169.254',
  '169.254.169.123',
  '169.254.169.250',
  '169.254.169.251',
];
const V6 = [
  '2001:db8::5',
  '2001:db8::7',
  '2001:db8:1::9',
  'fd00:ec2::253',
  'fd00:ec2::254',
  'fd00:ec2::123',
  'fe80::1',
];
const PORTS = [0, 22, 53, 67, 68, 80, 123, 443, 546, 547, 1024, 3389, 40000, 51515, 65535];

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
/** Broad blocks and blocks around the pool's addresses often, so that rules match; odd ones (host bits set, any prefix) too. */
const v4Cidr = fc.oneof(
  {
    arbitrary: pick(['0.0.0.0/0', '10.0.0.0/8', '10.0.0.0/16', '169.254.169.0/24', '198.51.100.0/24']),
    weight: 4,
  },
  { arbitrary: fc.tuple(pick(V4), pick([32, 32, 24, 16, 8, 1])).map(([a, p]) => `${a}/${p}`), weight: 4 },
  {
    arbitrary: fc
      .tuple(pick([...V4, ...LINK_LOCAL]), fc.integer({ min: 0, max: 32 }))
      .map(([a, p]) => `${a}/${p}`),
    weight: 1,
  },
  { arbitrary: fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`), weight: 1 },
);
const v6Cidr = fc.oneof(
  { arbitrary: pick(['::/0', '2001:db8::/32', '2001:db8::/64', 'fd00:ec2::/32', 'fe80::/10']), weight: 4 },
  { arbitrary: fc.tuple(pick(V6), fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`), weight: 2 },
);
const portRange = fc
  .tuple(
    fc.oneof(pick(PORTS), fc.integer({ min: 0, max: 65535 })),
    fc.oneof(pick(PORTS), fc.integer({ min: 0, max: 65535 })),
  )
  .map(([a, b]) => ({ FromPort: Math.min(a, b), ToPort: Math.max(a, b) }));

type RuleInput = Omit<CreateTrafficMirrorFilterRuleCommandInput, 'TrafficMirrorFilterId'>;
const arbRule: fc.Arbitrary<RuleInput> = fc
  .record({
    TrafficDirection: pick(['ingress', 'egress'] as const),
    RuleNumber: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 32766 })),
    RuleAction: pick(['accept', 'reject'] as const),
    protocol: fc.option(pick([6, 6, 17, 17, 1, 58, 47, 0]), { nil: undefined, freq: 2 }),
    v6: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    cidrs: fc.tuple(v4Cidr, v4Cidr, v6Cidr, v6Cidr),
    source: fc.option(portRange, { nil: undefined, freq: 2 }),
    destination: fc.option(portRange, { nil: undefined, freq: 2 }),
  })
  .map(({ protocol, v6, cidrs, source, destination, ...rule }) => {
    const ported = protocol === 6 || protocol === 17;
    return {
      ...rule,
      ...(protocol === undefined ? {} : { Protocol: protocol }),
      SourceCidrBlock: v6 ? cidrs[2] : cidrs[0],
      DestinationCidrBlock: v6 ? cidrs[3] : cidrs[1],
      ...(ported && source ? { SourcePortRange: source } : {}),
      ...(ported && destination ? { DestinationPortRange: destination } : {}),
    };
  });
/** Catch-all accepts numbered last, as a baseline filter has: the random rules before them then decide. */
const CATCH_ALL: RuleInput[] = (['ingress', 'egress'] as const).flatMap((TrafficDirection) =>
  (['0.0.0.0/0', '::/0'] as const).map((block, i) => ({
    TrafficDirection,
    RuleNumber: 32_000 + i,
    RuleAction: 'accept' as const,
    SourceCidrBlock: block,
    DestinationCidrBlock: block,
  })),
);
const arbFilter = fc.record({
  rules: fc
    .tuple(fc.array(arbRule, { minLength: 1, maxLength: 8 }), fc.subarray(CATCH_ALL))
    .map(([random, last]) => [...random, ...last].slice(0, 10))
    .map((rules) =>
      rules.filter(
        (r, i) =>
          rules.findIndex(
            (o) => o.TrafficDirection === r.TrafficDirection && o.RuleNumber === r.RuleNumber,
          ) === i,
      ),
    ),
  dns: fc.boolean(),
});

interface PacketSpec {
  direction: 'ingress' | 'egress';
  protocol: number;
  source: string;
  destination: string;
  sourcePort?: number;
  destinationPort?: number;
}
const arbPacket: fc.Arbitrary<PacketSpec> = fc
  .record({
    direction: pick(['ingress', 'egress'] as const),
    v6: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    protocol: pick([6, 6, 6, 17, 17, 17, 1, 47, 0, 132]),
    a: fc.oneof(
      { arbitrary: pick(V4), weight: 8 },
      { arbitrary: pick(LINK_LOCAL), weight: 1 },
      { arbitrary: fc.ipV4(), weight: 2 },
    ),
    b: fc.oneof(
      { arbitrary: pick(V4), weight: 8 },
      { arbitrary: pick(LINK_LOCAL), weight: 1 },
      { arbitrary: fc.ipV4(), weight: 2 },
    ),
    a6: pick(V6),
    b6: pick(V6),
    sp: fc.oneof(pick(PORTS), fc.integer({ min: 0, max: 65535 })),
    dp: fc.oneof(pick(PORTS), fc.integer({ min: 0, max: 65535 })),
  })
  .map(({ direction, v6, protocol, a, b, a6, b6, sp, dp }) => {
    // The ENI is one end, as on the wire: the receiver on ingress, the sender on egress.
    const [src, dst] = v6 ? [a6, b6] : direction === 'ingress' ? [a, ENI_IP] : [ENI_IP, b];
    const proto = protocol === 1 && v6 ? 58 : protocol;
    const ported = proto === 6 || proto === 17;
    return {
      direction,
      protocol: proto,
      source: src,
      destination: dst,
      ...(ported ? { sourcePort: sp, destinationPort: dp } : {}),
    };
  });

/** Queries to and answers from Amazon DNS (the VPC's base + 2, the link-local resolvers) and other resolvers. */
const arbDns: fc.Arbitrary<PacketSpec> = fc
  .record({
    query: fc.boolean(),
    protocol: pick([17, 17, 6]),
    resolver: pick(['10.0.0.2', '169.254.169.253', '8.8.8.8', 'fd00:ec2::253', '2001:db8:1::9']),
    port: fc.oneof(pick([53, 53, 53, 5353]), fc.integer({ min: 1024, max: 65535 })),
    ephemeral: fc.integer({ min: 1024, max: 65535 }),
  })
  .map(({ query, protocol, resolver, port, ephemeral }) => {
    const own = resolver.includes(':') ? '2001:db8::5' : ENI_IP;
    return query
      ? {
          direction: 'egress',
          protocol,
          source: own,
          destination: resolver,
          sourcePort: ephemeral,
          destinationPort: port,
        }
      : {
          direction: 'ingress',
          protocol,
          source: resolver,
          destination: own,
          sourcePort: port,
          destinationPort: ephemeral,
        };
  });

const FILTERS = 240;
/** Fixed, so a run is repeatable; DIFFERENTIAL_SEED=N tries other filters, sessions and packets. */
const SEED = Number(process.env.DIFFERENTIAL_SEED ?? 1313);
const RUNS = 70;
const PACKETS_PER_RUN = 60;

let ec2: EC2Client;
let account: string;
let eni: { eniId: string };
let targetId: string;
let receiver: Socket;
let port: number;
const received: Buffer[] = [];
const filters: { id: string; spec: { rules: RuleInput[]; dns: boolean } }[] = [];
let current: string[] = [];
let checked = 0;
const tally: Record<string, number> = {};
let mirroredSeen = 0;

beforeAll(async () => {
  const fresh = freshClient(env.url);
  ec2 = fresh.ec2;
  account = fresh.account;
  const net = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
  const run = await ec2.send(
    new RunInstancesCommand({
      MinCount: 1,
      MaxCount: 1,
      ImageId: 'ami-12345678',
      InstanceType: 'm5.large',
      SubnetId: net.subnetId,
      PrivateIpAddress: ENI_IP,
    }),
  );
  eni = { eniId: must(run.Instances?.[0]?.NetworkInterfaces?.[0]?.NetworkInterfaceId, 'ENI id') };
  targetId = await applianceTargetIn(ec2, net.subnetId);
  receiver = createSocket('udp4');
  receiver.on('message', (m) => received.push(m));
  await new Promise<void>((done) => receiver.bind(0, '127.0.0.1', done));
  port = receiver.address().port;
  env.emulator.delivery.set('*', `127.0.0.1:${port}`);
  // A seeded pool of rule sets, made once through the SDK; the property draws sessions from it.
  const specs = fc.sample(arbFilter, { numRuns: FILTERS, seed: SEED });
  for (const spec of specs) {
    const out = await ec2.send(new CreateTrafficMirrorFilterCommand({}));
    const id = must(out.TrafficMirrorFilter?.TrafficMirrorFilterId, 'filter id');
    await Promise.all(
      spec.rules.map((rule) =>
        ec2.send(new CreateTrafficMirrorFilterRuleCommand({ ...rule, TrafficMirrorFilterId: id })),
      ),
    );
    if (spec.dns) {
      await ec2.send(
        new ModifyTrafficMirrorFilterNetworkServicesCommand({
          TrafficMirrorFilterId: id,
          AddNetworkServices: ['amazon-dns'],
        }),
      );
    }
    filters.push({ id, spec });
  }
}, 120_000);

afterAll(() => {
  receiver?.close();
});

// ---- the two answers ---------------------------------------------------------------------------

interface ExplainAnswer {
  mirrored: boolean;
  neverMirrored: string | null;
  session: { id: string; virtualNetworkId: number } | null;
  sessions: {
    id: string;
    takes: boolean;
    shadowed: boolean;
    decidedBy: { rule?: { ruleNumber: number; action: string }; networkService?: string; reason?: string };
  }[];
}
interface EmulatorAnswer {
  mirrored: boolean;
  neverMirrored: string | null;
  session: { id: string; vni: number } | null;
  rule: { number: number; action: string } | null;
  networkService: string | null;
  sessions: { id: string; outcome: string; rule: { number: number; action: string } | null }[];
  delivery: { error: string | null } | null;
}

const text = (p: PacketSpec) => {
  const end = (a: string, port?: number) =>
    port === undefined ? a : a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
  return `${p.protocol} ${end(p.source, p.sourcePort)} > ${end(p.destination, p.destinationPort)}`;
};

async function explainAll(packets: PacketSpec[], direction: 'ingress' | 'egress'): Promise<ExplainAnswer[]> {
  if (packets.length === 0) return [];
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    [
      'explain',
      '--eni',
      eni.eniId,
      '--direction',
      direction,
      '--json',
      ...packets.flatMap((p) => ['--packet', text(p)]),
    ],
    { out: (l) => out.push(l), err: (l) => err.push(l) },
  );
  expect(err.join('\n')).toBe('');
  expect(code).toBe(0);
  const json = JSON.parse(out.join('\n')) as ExplainAnswer | ExplainAnswer[];
  return Array.isArray(json) ? json : [json];
}

async function inject(packets: PacketSpec[]): Promise<EmulatorAnswer[]> {
  const res = await fetch(`${env.url}/_emulator/traffic`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ networkInterfaceId: eni.eniId, account, region: 'us-east-1', packets }),
  });
  const body = (await res.json()) as { packets: EmulatorAnswer[]; message?: string };
  expect(res.status, body.message).toBe(200);
  return body.packets;
}

const NEVER: Record<string, string> = {
  ARP: 'arp',
  DHCP: 'dhcp',
  NTP: 'ntp',
  'instance metadata service': 'instance-metadata',
  'Windows activation': 'windows-activation',
};

/** Explain's answer in the emulator's terms: mirrored by whom and how, and each session's outcome up to the taker. */
function fromExplain(a: ExplainAnswer) {
  const upTo = a.sessions.findIndex((s) => s.takes);
  const asked = upTo < 0 ? a.sessions : a.sessions.slice(0, upTo + 1);
  return {
    mirrored: a.mirrored,
    neverMirrored: a.neverMirrored === null ? null : (NEVER[a.neverMirrored] ?? a.neverMirrored),
    session: a.session?.id ?? null,
    vni: a.session?.virtualNetworkId ?? null,
    sessions: asked.map((s) => ({
      id: s.id,
      outcome: s.decidedBy.networkService
        ? 'amazon-dns'
        : s.decidedBy.rule
          ? s.takes
            ? 'accepted'
            : 'rejected'
          : (s.decidedBy.reason ?? '?'),
      rule: s.decidedBy.rule
        ? { number: s.decidedBy.rule.ruleNumber, action: s.decidedBy.rule.action }
        : null,
    })),
  };
}
function fromEmulator(a: EmulatorAnswer) {
  return {
    mirrored: a.mirrored,
    neverMirrored: a.neverMirrored,
    session: a.session?.id ?? null,
    vni: a.session?.vni ?? null,
    sessions: a.sessions
      .filter((s) => s.outcome !== 'not-evaluated')
      .map((s) => ({
        id: s.id,
        outcome: s.outcome,
        rule: s.rule ? { number: s.rule.number, action: s.rule.action } : null,
      })),
  };
}

/** What a VXLAN datagram carries: the VNI and the inner packet's 5-tuple (RFC 7348, Ethernet II, IPv4/IPv6). */
function decapsulate(d: Buffer) {
  expect(d[0]).toBe(0x08);
  const vni = d.readUIntBE(4, 3);
  const frame = d.subarray(8);
  const type = frame.readUInt16BE(12);
  const ip = frame.subarray(14);
  const v4 = type === 0x0800;
  const protocol = v4 ? ip[9] : ip[6];
  const [src, dst] = v4
    ? [formatAddress(4, BigInt(ip.readUInt32BE(12))), formatAddress(4, BigInt(ip.readUInt32BE(16)))]
    : [ip.subarray(8, 24), ip.subarray(24, 40)].map((b) =>
        formatAddress(6, BigInt(`0x${b.toString('hex')}`)),
      );
  const l4 = ip.subarray(v4 ? ((ip[0] ?? 0x45) % 16) * 4 : 40);
  const ported = protocol === 6 || protocol === 17;
  return {
    vni,
    packet: `${protocol} ${src}${ported ? `:${l4.readUInt16BE(0)}` : ''} > ${dst}${ported ? `:${l4.readUInt16BE(2)}` : ''}`,
  };
}
const canonical = (p: PacketSpec) => {
  const a = (t: string) => {
    const x = must(parseAddress(t), t);
    return formatAddress(x.family, x.value);
  };
  const ported = p.sourcePort !== undefined;
  return `${p.protocol} ${a(p.source)}${ported ? `:${p.sourcePort}` : ''} > ${a(p.destination)}${ported ? `:${p.destinationPort}` : ''}`;
};

async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

// ---- the property ------------------------------------------------------------------------------

const arbCase = fc.record({
  sessions: fc.uniqueArray(
    fc.record({
      filter: fc.nat({ max: FILTERS - 1 }),
      number: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 32766 })),
      packetLength: fc.option(fc.integer({ min: 90, max: 300 }), { nil: undefined, freq: 3 }),
    }),
    { minLength: 1, maxLength: 3, selector: (s) => s.number },
  ),
  packets: fc.array(fc.oneof({ arbitrary: arbPacket, weight: 9 }, { arbitrary: arbDns, weight: 1 }), {
    minLength: PACKETS_PER_RUN,
    maxLength: PACKETS_PER_RUN,
  }),
});

it(`explain answers as the emulator's data plane mirrors and delivers (${RUNS} cases of ${PACKETS_PER_RUN} packets, ${FILTERS} random filters)`, async () => {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: env.url,
    AWS_ACCESS_KEY_ID: account,
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
  });
  await fc.assert(
    fc.asyncProperty(arbCase, async (c) => {
      // Prepare: the ENI's sessions are exactly the case's.
      await Promise.all(
        current.map((id) => ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: id }))),
      );
      current = [];
      for (const s of c.sessions) {
        const out = await ec2.send(
          new CreateTrafficMirrorSessionCommand({
            NetworkInterfaceId: eni.eniId,
            TrafficMirrorTargetId: targetId,
            TrafficMirrorFilterId: must(filters[s.filter], 'filter').id,
            SessionNumber: s.number,
            ...(s.packetLength ? { PacketLength: s.packetLength } : {}),
          }),
        );
        current.push(must(out.TrafficMirrorSession?.TrafficMirrorSessionId, 'session id'));
      }
      // Act: the same packets through explain (per direction) and through the data plane.
      const ingress = c.packets.filter((p) => p.direction === 'ingress');
      const egress = c.packets.filter((p) => p.direction === 'egress');
      const [fromIngress, fromEgress] = await Promise.all([
        explainAll(ingress, 'ingress'),
        explainAll(egress, 'egress'),
      ]);
      const explained: ExplainAnswer[] = [];
      let [inAt, outAt] = [0, 0];
      for (const p of c.packets)
        explained.push(must(p.direction === 'ingress' ? fromIngress[inAt++] : fromEgress[outAt++], 'answer'));
      received.length = 0;
      const injected = await inject(c.packets);
      // Assess: the same decision for every packet, session by session.
      const context = () =>
        JSON.stringify(
          c.sessions.map((s) => ({ number: s.number, ...must(filters[s.filter], 'filter').spec })),
        );
      c.packets.forEach((p, i) => {
        const mine = fromExplain(must(explained[i], 'explained'));
        const theirs = fromEmulator(must(injected[i], 'injected'));
        expect(mine, `${text(p)} ${p.direction} with sessions ${context()}`).toEqual(theirs);
        checked++;
        for (const o of theirs.sessions) {
          const key =
            o.outcome === 'accepted' && (o.rule?.number ?? 0) < 32_000 ? 'accepted early' : o.outcome;
          tally[key] = (tally[key] ?? 0) + 1;
        }
        if (theirs.neverMirrored) tally.never = (tally.never ?? 0) + 1;
      });
      // ... and what arrives over UDP: one datagram per mirrored packet, with its session's VNI.
      const expected = c.packets.flatMap((p, i) => {
        const a = must(explained[i], 'explained');
        return a.session ? [`${a.session.virtualNetworkId} ${canonical(p)}`] : [];
      });
      mirroredSeen += expected.length;
      expect(injected.every((a) => a.delivery === null || a.delivery.error === null)).toBe(true);
      await until(() => received.length >= expected.length, `${expected.length} datagrams`);
      const got = received.map((d) => {
        const { vni, packet } = decapsulate(d);
        return `${vni} ${packet}`;
      });
      expect(got.sort()).toEqual(expected.sort());
    }),
    { numRuns: RUNS, seed: SEED },
  );
  expect(checked).toBeGreaterThanOrEqual(RUNS * PACKETS_PER_RUN);
  // The cases must exercise every answer, not only "not mirrored".
  expect(mirroredSeen).toBeGreaterThan(checked / 10);
  for (const outcome of [
    'accepted',
    'accepted early',
    'rejected',
    'no-rule-matched',
    'amazon-dns',
    'amazon-dns-not-enabled',
    'never',
  ])
    expect(tally[outcome] ?? 0, outcome).toBeGreaterThan(20);
}, 300_000);
