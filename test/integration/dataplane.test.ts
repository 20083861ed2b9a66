import { createSocket } from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateNetworkInterfaceCommand,
  type CreateTrafficMirrorSessionCommandInput,
  DescribeNetworkInterfacesCommand,
  type EC2Client,
  ModifyTrafficMirrorFilterNetworkServicesCommand,
  ModifyTrafficMirrorSessionCommand,
} from '@aws-sdk/client-ec2';
import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import { emulatorCommand } from '../../cli/commands/emulator.ts';
import { shareTarget } from '../support/accounts.ts';
import {
  checksumVerifies,
  innerHeaders,
  postTraffic,
  pseudoHeader,
  VxlanReceiver,
  vxlanParts,
} from '../support/dataplane.ts';
import { useEmulator } from '../support/emulator.ts';
import {
  createFilter,
  createRule,
  createSession,
  freshClient,
  type Mirror,
  mirrorSetup,
  nlbTarget,
} from '../support/mirroring.ts';
import { must } from '../support/topology.ts';
import { readWithWireshark } from '../support/wireshark.ts';

const env = useEmulator();

/** Receivers a test opened; closed after it. */
const receivers: VxlanReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** A receiver that the target's VXLAN goes to from now on. */
async function receiverFor(targetId: string): Promise<VxlanReceiver> {
  const receiver = await VxlanReceiver.open();
  receivers.push(receiver);
  env.emulator.delivery.set(targetId, receiver.address);
  return receiver;
}

interface World extends Mirror {
  ec2: EC2Client;
  account: string;
  eniId: string;
  address: string;
}

/** A fresh account with a source instance, an ENI target and an empty filter (test/support/mirroring.ts). */
async function world(): Promise<World> {
  const { ec2, account } = freshClient(env.url);
  const mirror = await mirrorSetup(ec2);
  return { ...mirror, ec2, account, eniId: mirror.source.eniId, address: mirror.source.privateIpAddress };
}

function session(w: World, changes: Partial<CreateTrafficMirrorSessionCommandInput> = {}) {
  return createSession(w.ec2, {
    NetworkInterfaceId: w.eniId,
    TrafficMirrorTargetId: w.targetId,
    TrafficMirrorFilterId: w.filterId,
    SessionNumber: 1,
    ...changes,
  });
}

/** Rules taking every IPv4 and IPv6 packet of both directions. */
async function acceptAll(ec2: EC2Client, filterId: string): Promise<void> {
  for (const [number, cidr] of [
    [100, '0.0.0.0/0'],
    [110, '::/0'],
  ] as const) {
    for (const direction of ['ingress', 'egress'] as const) {
      await createRule(ec2, filterId, {
        TrafficDirection: direction,
        RuleNumber: number,
        SourceCidrBlock: cidr,
        DestinationCidrBlock: cidr,
      });
    }
  }
}

const inject = (w: World, packets: object[]) =>
  postTraffic(env.url, w.account, { networkInterfaceId: w.eniId, packets });

const octets = (text: string) => Buffer.from(text.split('.').map(Number));
async function macOf(ec2: EC2Client, eniId: string): Promise<string> {
  const out = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] }));
  return must(out.NetworkInterfaces?.[0]?.MacAddress, 'MacAddress');
}

const ssh = (w: World, source = '198.51.100.7', sourcePort = 51515) => ({
  direction: 'ingress',
  protocol: 6,
  source,
  destination: w.address,
  sourcePort,
  destinationPort: 22,
});

describe('a mirrored packet on the wire', () => {
  test('an accepted TCP packet arrives as VXLAN: I flag, the VNI, the ENI MAC, headers, lengths and checksums', async () => {
    const w = await world();
    const rule = await createRule(w.ec2, w.filterId, {
      Protocol: 6,
      DestinationPortRange: { FromPort: 22, ToPort: 22 },
    });
    const s = await session(w, { VirtualNetworkId: 12_345_678 });
    const rx = await receiverFor(w.targetId);
    const payload = Buffer.from('SSH-2.0-OpenSSH_9.6\r\n');
    const answer = await inject(w, [{ ...ssh(w), length: 1200, payloadHex: payload.toString('hex') }]);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ networkInterfaceId: w.eniId, account: w.account, mirrored: 1 });
    expect(answer.json.packets[0]).toEqual({
      index: 0,
      mirrored: true,
      reason: 'accepted',
      neverMirrored: null,
      message: expect.stringContaining('mirrored by session 1'),
      session: {
        id: s.TrafficMirrorSessionId,
        number: 1,
        vni: 12_345_678,
        targetId: w.targetId,
        filterId: w.filterId,
        packetLength: null,
      },
      rule: { id: rule.TrafficMirrorFilterRuleId, number: 100, action: 'accept' },
      networkService: null,
      delivery: {
        address: '127.0.0.1',
        port: rx.port,
        frameLength: 1214,
        mirroredLength: 1214,
        truncated: false,
        error: null,
      },
      sessions: [
        {
          id: s.TrafficMirrorSessionId,
          number: 1,
          outcome: 'accepted',
          rule: { id: rule.TrafficMirrorFilterRuleId, number: 100, action: 'accept' },
        },
      ],
    });

    const datagram = await rx.next();
    const { flags, reserved, vni, frame } = vxlanParts(datagram);
    expect(datagram.length).toBe(8 + 1214);
    expect(flags).toBe(0x08);
    expect(reserved).toEqual([0, 0]);
    expect(vni).toBe(12_345_678);
    const inner = innerHeaders(frame);
    // Ingress: to the ENI (the MAC DescribeNetworkInterfaces shows) from the subnet's router.
    expect(inner.destinationMac).toBe(await macOf(w.ec2, w.eniId));
    expect(inner.sourceMac).toMatch(/^06(:[0-9a-f]{2}){5}$/);
    expect(inner.etherType).toBe(0x0800);
    expect(inner.length).toBe(1200);
    expect(inner.ip.length).toBe(1200);
    expect(inner.protocol).toBe(6);
    expect(inner.source).toEqual(octets('198.51.100.7'));
    expect(inner.destination).toEqual(octets(w.address));
    expect(checksumVerifies(inner.ip.subarray(0, 20))).toBe(true);
    const tcp = inner.upper;
    expect([tcp.readUInt16BE(0), tcp.readUInt16BE(2)]).toEqual([51515, 22]);
    expect(checksumVerifies(pseudoHeader(4, inner.source, inner.destination, 6, tcp.length), tcp)).toBe(true);
    expect(tcp.subarray(20, 20 + payload.length)).toEqual(payload);
    expect(tcp.subarray(20 + payload.length).every((b) => b === 0)).toBe(true);
  });

  test('Wireshark reads the inner frames as the packets injected: IPv4 and IPv6, TCP, UDP, ICMP, ICMPv6, GRE', async () => {
    const w = await world();
    await acceptAll(w.ec2, w.filterId);
    await session(w, { VirtualNetworkId: 7 });
    const rx = await receiverFor(w.targetId);
    const v6 = '2001:db8:0:1::5';
    const packets = [
      { ...ssh(w), tcpFlags: 'S' },
      {
        direction: 'egress',
        protocol: 17,
        source: w.address,
        destination: '203.0.113.53',
        sourcePort: 40000,
        destinationPort: 53,
        length: 71,
        payloadHex: '12340100000100000000000003777777076578616d706c6503636f6d0000010001',
      },
      {
        direction: 'ingress',
        protocol: 'icmp',
        source: '192.0.2.1',
        destination: w.address,
        payloadHex: '0102030405',
      },
      {
        direction: 'egress',
        protocol: 'tcp',
        source: v6,
        destination: '2001:db8:ffff::1',
        sourcePort: 443,
        destinationPort: 60000,
        length: 100,
        payloadHex: 'ff',
      },
      {
        direction: 'ingress',
        protocol: 17,
        source: '2001:db8:ffff::1',
        destination: v6,
        sourcePort: 5000,
        destinationPort: 6000,
        length: 77,
      },
      {
        direction: 'egress',
        protocol: 58,
        source: v6,
        destination: '2001:db8:ffff::1',
        icmpType: 128,
        payloadHex: '00010002',
      },
      {
        direction: 'ingress',
        protocol: 47,
        source: '198.51.100.1',
        destination: w.address,
        payloadHex: '00000800',
      },
    ];
    const answer = await inject(w, packets);
    expect(answer.json.packets.map((p: { mirrored: boolean }) => p.mirrored)).toEqual(
      packets.map(() => true),
    );
    const frames: Buffer[] = [];
    for (const _ of packets) frames.push(vxlanParts(await rx.next()).frame);

    // Each frame's checksums, by the receiver's sum (test/support/dataplane.ts).
    for (const frame of frames) {
      const inner = innerHeaders(frame);
      const family = inner.etherType === 0x0800 ? 4 : 6;
      if (family === 4) expect(checksumVerifies(inner.ip.subarray(0, 20))).toBe(true);
      const covered = [6, 17, 58].includes(inner.protocol ?? -1)
        ? [
            pseudoHeader(family, inner.source, inner.destination, inner.protocol ?? 0, inner.upper.length),
            inner.upper,
          ]
        : [inner.upper];
      if (inner.protocol !== 47) expect(checksumVerifies(...covered)).toBe(true);
    }

    // Wireshark's dissection of them (Wiregasm, an npm package), as a responder's capture shows it.
    const pcap = join(tmpdir(), `dataplane-${process.pid}-${Date.now()}.pcap`);
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(65535, 16);
    header.writeUInt32LE(1, 20); // Ethernet
    const records = frames.map((frame, i) => {
      const record = Buffer.alloc(16);
      record.writeUInt32LE(1_800_000_000 + i, 0);
      record.writeUInt32LE(frame.length, 8);
      record.writeUInt32LE(frame.length, 12);
      return Buffer.concat([record, frame]);
    });
    await writeFile(pcap, Buffer.concat([header, ...records]));
    const file = await readWithWireshark(pcap);
    const [tcp4, udp4, icmp4, tcp6, udp6, icmp6, gre] = file.frames.map((f) => ({
      protocols: f.protocols,
      field: (name: string) => f.fields.get(name),
    }));
    const eniMac = await macOf(w.ec2, w.eniId);
    expect(tcp4?.protocols).toMatch(/^eth:ethertype:ip:tcp/);
    expect(tcp4?.field('eth.dst')).toBe(eniMac);
    expect(tcp4?.field('ip.src')).toBe('198.51.100.7');
    expect(tcp4?.field('ip.dst')).toBe(w.address);
    expect(tcp4?.field('tcp.srcport')).toBe('51515');
    expect(tcp4?.field('tcp.dstport')).toBe('22');
    expect(tcp4?.field('tcp.flags.syn')).toBe('True');
    expect(tcp4?.field('tcp.flags.ack')).toBe('False');
    expect(udp4?.protocols).toBe('eth:ethertype:ip:udp:dns');
    expect(udp4?.field('eth.src')).toBe(eniMac);
    expect(udp4?.field('ip.len')).toBe('71');
    expect(udp4?.field('udp.length')).toBe('51');
    expect(udp4?.field('dns.qry.name')).toBe('www.example.com');
    expect(icmp4?.field('icmp.type')).toBe('8');
    expect(icmp4?.field('icmp.checksum.status')).toBe('Good'); // Wireshark verifies ICMP checksums
    expect(tcp6?.protocols).toMatch(/^eth:ethertype:ipv6:tcp/);
    expect(tcp6?.field('ipv6.src')).toBe(v6);
    expect(tcp6?.field('ipv6.plen')).toBe('60');
    expect(tcp6?.field('tcp.len')).toBe('40');
    expect(udp6?.field('ipv6.dst')).toBe(v6);
    expect(udp6?.field('udp.length')).toBe('37');
    expect(icmp6?.field('icmpv6.type')).toBe('128');
    expect(icmp6?.field('icmpv6.checksum.status')).toBe('Good');
    expect(gre?.field('ip.proto')).toBe('47');
    expect(gre?.protocols).toMatch(/^eth:ethertype:ip:gre/);
  });

  test("egress goes from the ENI's MAC to the peer's: a same-subnet ENI's own, else the router's", async () => {
    const w = await world();
    await acceptAll(w.ec2, w.filterId);
    await session(w);
    const rx = await receiverFor(w.targetId);
    const peer = await w.ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: w.network.subnetId }));
    const peerId = must(peer.NetworkInterface?.NetworkInterfaceId, 'peer ENI');
    const peerAddress = must(peer.NetworkInterface?.PrivateIpAddress, 'peer address');
    const out = (destination: string) => ({
      direction: 'egress',
      protocol: 17,
      source: w.address,
      destination,
      sourcePort: 1,
      destinationPort: 2,
    });
    await inject(w, [out(peerAddress), out('192.0.2.80')]);
    const [toPeer, toRouter] = [
      innerHeaders(vxlanParts(await rx.next()).frame),
      innerHeaders(vxlanParts(await rx.next()).frame),
    ];
    const eniMac = await macOf(w.ec2, w.eniId);
    expect(toPeer.sourceMac).toBe(eniMac);
    expect(toPeer.destinationMac).toBe(await macOf(w.ec2, peerId));
    expect(toRouter.sourceMac).toBe(eniMac);
    expect(toRouter.destinationMac).toMatch(/^06:/);
    expect(toRouter.destinationMac).not.toBe(toPeer.destinationMac);
  });

  test('a thousand packets in one request all reach a receiver in the same process, in order', async () => {
    const w = await world();
    await acceptAll(w.ec2, w.filterId);
    await session(w);
    const rx = await receiverFor(w.targetId);
    const packets = Array.from({ length: 1000 }, (_, i) => ({
      ...ssh(w, '198.51.100.7', 1000 + i),
      length: 1200,
    }));
    const answer = await inject(w, packets);
    expect(answer.json.mirrored).toBe(1000);
    const ports: number[] = [];
    for (const _ of packets)
      ports.push(innerHeaders(vxlanParts(await rx.next()).frame).upper.readUInt16BE(0));
    expect(ports).toEqual(packets.map((p) => p.sourcePort));
  });

  test('PacketLength cuts what follows the VXLAN header; the inner IP header keeps the original length', async () => {
    const w = await world();
    await acceptAll(w.ec2, w.filterId);
    const s = await session(w, { PacketLength: 100 });
    const rx = await receiverFor(w.targetId);
    const answer = await inject(w, [
      { ...ssh(w), length: 1500 },
      { ...ssh(w), length: 60 },
    ]);
    expect(answer.json.packets.map((p: { delivery: object }) => p.delivery)).toMatchObject([
      { frameLength: 1514, mirroredLength: 100, truncated: true },
      { frameLength: 74, mirroredLength: 74, truncated: false },
    ]);
    expect(answer.json.packets[0].session.packetLength).toBe(100);
    const cut = await rx.next();
    expect(cut.length).toBe(108);
    expect(innerHeaders(vxlanParts(cut).frame).length).toBe(1500);
    expect((await rx.next()).length).toBe(8 + 74);

    // Removing it mirrors whole packets again; an ENI target still cuts to its 9001-byte MTU.
    await w.ec2.send(
      new ModifyTrafficMirrorSessionCommand({
        TrafficMirrorSessionId: s.TrafficMirrorSessionId,
        RemoveFields: ['packet-length'],
      }),
    );
    const jumbo = await inject(w, [{ ...ssh(w), length: 9001 }]);
    expect(jumbo.json.packets[0].delivery).toMatchObject({
      frameLength: 9015,
      mirroredLength: 8965,
      truncated: true,
    });
    expect((await rx.next()).length).toBe(8 + 8965);
  });

  test('a Network Load Balancer target without PacketLength gets 8500 bytes, as AWS sets it', async () => {
    const w = await world();
    await acceptAll(w.ec2, w.filterId);
    const nlb = await nlbTarget(w.ec2, w.account);
    await session(w, { TrafficMirrorTargetId: nlb });
    const rx = await receiverFor(nlb);
    const answer = await inject(w, [{ ...ssh(w), length: 9001 }]);
    expect(answer.json.packets[0]).toMatchObject({
      session: { targetId: nlb, packetLength: 8500 },
      delivery: { port: rx.port, frameLength: 9015, mirroredLength: 8500, truncated: true },
    });
    expect((await rx.next()).length).toBe(8 + 8500);
  });
  test('a delivery address may be IPv6 ([::1]:PORT)', async () => {
    const w = await world();
    await acceptAll(w.ec2, w.filterId);
    await session(w, { VirtualNetworkId: 6 });
    const socket = createSocket('udp6');
    await new Promise<void>((resolve) => socket.bind(0, '::1', () => resolve()));
    const arrived = new Promise<Buffer>((resolve) => socket.once('message', resolve));
    env.emulator.delivery.set(w.targetId, `[::1]:${socket.address().port}`);
    try {
      const answer = await inject(w, [ssh(w)]);
      expect(answer.json.packets[0].delivery).toMatchObject({
        address: '::1',
        port: socket.address().port,
        error: null,
      });
      expect(vxlanParts(await arrived).vni).toBe(6);
    } finally {
      socket.close();
    }
  });

  test("a member's session on a target another account shares (RAM) delivers to that target's address", async () => {
    const w = await world();
    await acceptAll(w.ec2, w.filterId);
    const hub = freshClient(env.url);
    const shared = await nlbTarget(hub.ec2, hub.account);
    await shareTarget(env.url, hub.account, shared, w.account);
    await session(w, { TrafficMirrorTargetId: shared, VirtualNetworkId: 31 });
    const rx = await receiverFor(shared);
    const answer = await inject(w, [{ ...ssh(w), length: 9001 }]);
    // The target is the hub's NLB: its 8500-byte default applies to the member's session.
    expect(answer.json.packets[0]).toMatchObject({
      session: { targetId: shared, vni: 31, packetLength: 8500 },
      delivery: { port: rx.port, mirroredLength: 8500 },
    });
    expect(vxlanParts(await rx.next()).vni).toBe(31);
  });
});

describe('which session mirrors a packet', () => {
  test('rules by number, not by creation; the first match decides; a reject rule keeps the packet out', async () => {
    const w = await world();
    const accept = await createRule(w.ec2, w.filterId, { RuleNumber: 20 });
    const reject = await createRule(w.ec2, w.filterId, {
      RuleNumber: 10,
      RuleAction: 'reject',
      Protocol: 6,
      SourceCidrBlock: '198.51.100.0/24',
      DestinationPortRange: { FromPort: 22, ToPort: 22 },
    });
    const s = await session(w);
    const rx = await receiverFor(w.targetId);
    const answer = await inject(w, [
      ssh(w, '198.51.100.7'),
      ssh(w, '203.0.113.9'),
      { ...ssh(w, '198.51.100.7'), destinationPort: 80 },
    ]);
    const [rejected, other, http] = answer.json.packets;
    expect(rejected).toMatchObject({
      mirrored: false,
      reason: 'not-accepted',
      delivery: null,
      sessions: [
        {
          id: s.TrafficMirrorSessionId,
          outcome: 'rejected',
          rule: { id: reject.TrafficMirrorFilterRuleId, number: 10, action: 'reject' },
        },
      ],
    });
    expect(rejected.message).toContain('rejected it by rule 10');
    expect(other).toMatchObject({
      mirrored: true,
      rule: { id: accept.TrafficMirrorFilterRuleId, number: 20 },
    });
    expect(http).toMatchObject({ mirrored: true, rule: { number: 20 } });
    // Exactly the two mirrored packets arrive, in order.
    const sources = [await rx.next(), await rx.next()].map((d) => innerHeaders(vxlanParts(d).frame));
    expect(sources.map((h) => [...h.source].join('.'))).toEqual(['203.0.113.9', '198.51.100.7']);
    expect(sources.map((h) => h.upper.readUInt16BE(2))).toEqual([22, 80]);
    await inject(w, [ssh(w, '192.0.2.99')]);
    expect([...innerHeaders(vxlanParts(await rx.next()).frame).source].join('.')).toBe('192.0.2.99');
  });

  test('port ranges include their bounds, on source and destination', async () => {
    const w = await world();
    await createRule(w.ec2, w.filterId, {
      Protocol: 17,
      SourcePortRange: { FromPort: 53, ToPort: 53 },
      DestinationPortRange: { FromPort: 1000, ToPort: 2000 },
    });
    await session(w);
    const udp = (sourcePort: number, destinationPort: number) => ({
      direction: 'ingress',
      protocol: 17,
      source: '198.51.100.53',
      destination: w.address,
      sourcePort,
      destinationPort,
    });
    const answer = await inject(w, [
      udp(53, 999),
      udp(53, 1000),
      udp(53, 2000),
      udp(53, 2001),
      udp(54, 1500),
      udp(52, 1500),
    ]);
    expect(answer.json.packets.map((p: { mirrored: boolean }) => p.mirrored)).toEqual([
      false,
      true,
      true,
      false,
      false,
      false,
    ]);
    expect(answer.json.packets[0].sessions[0].outcome).toBe('no-rule-matched');
  });

  test('CIDRs (host bits ignored), protocol and direction must all match', async () => {
    const w = await world();
    await createRule(w.ec2, w.filterId, {
      Protocol: 6,
      SourceCidrBlock: '198.51.100.77/24',
      DestinationCidrBlock: `${w.address}/32`,
    });
    await session(w);
    const answer = await inject(w, [
      ssh(w, '198.51.100.1'),
      ssh(w, '198.51.101.1'),
      { ...ssh(w, '198.51.100.1'), destination: '10.0.255.255' },
      { ...ssh(w, '198.51.100.1'), protocol: 17 },
      { ...ssh(w, '198.51.100.1'), direction: 'egress' },
      {
        direction: 'ingress',
        protocol: 6,
        source: '2001:db8::1',
        destination: '2001:db8::2',
        sourcePort: 1,
        destinationPort: 22,
      },
    ]);
    expect(answer.json.packets.map((p: { mirrored: boolean }) => p.mirrored)).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  test('sessions by number: the first that accepts mirrors the packet, once; later ones are not evaluated', async () => {
    const w = await world();
    // Session 2, made first, takes everything to an NLB target; session 1 takes SSH to the ENI target.
    const all = await createFilter(w.ec2);
    await acceptAll(w.ec2, all);
    const nlb = await nlbTarget(w.ec2, w.account);
    const second = await session(w, {
      SessionNumber: 2,
      TrafficMirrorFilterId: all,
      TrafficMirrorTargetId: nlb,
      VirtualNetworkId: 2002,
    });
    await createRule(w.ec2, w.filterId, { Protocol: 6, DestinationPortRange: { FromPort: 22, ToPort: 22 } });
    const first = await session(w, { SessionNumber: 1, VirtualNetworkId: 1001 });
    const rejectAll = await createFilter(w.ec2);
    await createRule(w.ec2, rejectAll, { RuleAction: 'reject' });
    const third = await session(w, {
      SessionNumber: 3,
      TrafficMirrorFilterId: rejectAll,
      VirtualNetworkId: 3003,
    });
    const [rxSsh, rxAll] = [await receiverFor(w.targetId), await receiverFor(nlb)];

    const answer = await inject(w, [ssh(w), { ...ssh(w), destinationPort: 443 }, ssh(w, '203.0.113.1')]);
    const [a, b, c] = answer.json.packets;
    expect(a).toMatchObject({ session: { id: first.TrafficMirrorSessionId, number: 1, vni: 1001 } });
    expect(a.sessions.map((o: { number: number; outcome: string }) => [o.number, o.outcome])).toEqual([
      [1, 'accepted'],
      [2, 'not-evaluated'],
      [3, 'not-evaluated'],
    ]);
    expect(b).toMatchObject({ session: { id: second.TrafficMirrorSessionId, number: 2, vni: 2002 } });
    expect(b.sessions.map((o: { outcome: string }) => o.outcome)).toEqual([
      'no-rule-matched',
      'accepted',
      'not-evaluated',
    ]);
    expect(c.session.number).toBe(1);
    expect(answer.json.mirrored).toBe(3);
    expect(third.SessionNumber).toBe(3);

    // Each packet reached one receiver, once: the next datagram on each is the marker sent after.
    await inject(w, [ssh(w, '192.0.2.99', 1), { ...ssh(w, '192.0.2.99', 2), destinationPort: 80 }]);
    const read = async (rx: VxlanReceiver) => {
      const { vni, frame } = vxlanParts(await rx.next());
      const h = innerHeaders(frame);
      return `${vni} ${[...h.source].join('.')}:${h.upper.readUInt16BE(0)}>${h.upper.readUInt16BE(2)}`;
    };
    expect([await read(rxSsh), await read(rxSsh), await read(rxSsh)]).toEqual([
      '1001 198.51.100.7:51515>22',
      '1001 203.0.113.1:51515>22',
      '1001 192.0.2.99:1>22',
    ]);
    expect([await read(rxAll), await read(rxAll)]).toEqual([
      '2002 198.51.100.7:51515>443',
      '2002 192.0.2.99:2>80',
    ]);

    // Numbers are read at each injection. Renumbered, the reject-all session comes first and
    // passes SSH on; the catch-all session, now second, takes it before the SSH session.
    for (const [id, number] of [
      [first.TrafficMirrorSessionId, 4],
      [third.TrafficMirrorSessionId, 1],
    ] as const) {
      await w.ec2.send(
        new ModifyTrafficMirrorSessionCommand({ TrafficMirrorSessionId: id, SessionNumber: number }),
      );
    }
    const after = await inject(w, [ssh(w, '192.0.2.7')]);
    expect(after.json.packets[0]).toMatchObject({
      session: { id: second.TrafficMirrorSessionId, number: 2, vni: 2002 },
    });
    expect(
      after.json.packets[0].sessions.map((o: { number: number; outcome: string }) => [o.number, o.outcome]),
    ).toEqual([
      [1, 'rejected'],
      [2, 'accepted'],
      [4, 'not-evaluated'],
    ]);
    expect(await read(rxAll)).toBe('2002 192.0.2.7:51515>22');
  });

  test('no sessions, and a filter without rules: nothing is mirrored, and the answer says why', async () => {
    const w = await world();
    const none = await inject(w, [ssh(w)]);
    expect(none.json.packets[0]).toMatchObject({ mirrored: false, reason: 'no-sessions', sessions: [] });
    expect(none.json.packets[0].message).toBe('not mirrored: the network interface has no sessions');
    await session(w);
    const empty = await inject(w, [ssh(w)]);
    expect(empty.json.packets[0]).toMatchObject({
      mirrored: false,
      reason: 'not-accepted',
      sessions: [{ number: 1, outcome: 'no-rule-matched', rule: null }],
    });
    expect(empty.json.mirrored).toBe(0);
  });
});

describe('the answer and the wire agree', () => {
  const cidrs = ['0.0.0.0/0', '198.51.100.0/24', '10.0.0.0/16', '203.0.113.9/32'];
  const ruleArb = fc.record({
    direction: fc.constantFrom('ingress' as const, 'egress' as const),
    action: fc.constantFrom('accept' as const, 'accept' as const, 'reject' as const),
    protocol: fc.constantFrom(undefined, undefined, 6, 17),
    // 0.0.0.0/0 half the time, so that rules match often.
    source: fc.oneof(fc.constant(cidrs[0] ?? ''), fc.constantFrom(...cidrs)),
    destination: fc.oneof(fc.constant(cidrs[0] ?? ''), fc.constantFrom(...cidrs)),
    ports: fc.option(fc.constantFrom([22, 22], [0, 100], [443, 1024]), { nil: undefined }),
  });
  const sessionsArb = fc.uniqueArray(
    fc.record({
      number: fc.integer({ min: 1, max: 32766 }),
      rules: fc.array(ruleArb, { minLength: 1, maxLength: 4 }),
      packetLength: fc.option(fc.integer({ min: 14, max: 200 }), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 3, selector: (x) => x.number },
  );
  const packetArb = fc.record({
    inbound: fc.boolean(),
    protocol: fc.constantFrom(6, 17, 1),
    remote: fc.constantFrom('198.51.100.7', '203.0.113.9', '10.0.3.3'),
    localPort: fc.constantFrom(22, 80, 443, 5000),
    remotePort: fc.constantFrom(22, 50000),
    length: fc.integer({ min: 0, max: 300 }),
  });

  test('random rules, sessions and packets: each packet the answer mirrors arrives once, in order, with its VNI and cut; no other', async () => {
    const seen = { mirrored: 0, not: 0, truncated: 0 };
    await fc.assert(
      fc.asyncProperty(
        sessionsArb,
        fc.array(packetArb, { minLength: 10, maxLength: 25 }),
        async (specs, packets) => {
          const w = await world();
          const rx = await VxlanReceiver.open();
          receivers.push(rx);
          const made: { id: string; vni: number; number: number }[] = [];
          for (const [i, spec] of specs.entries()) {
            const filterId = await createFilter(w.ec2);
            for (const [n, r] of spec.rules.entries()) {
              await createRule(w.ec2, filterId, {
                TrafficDirection: r.direction,
                RuleNumber: n + 1,
                RuleAction: r.action,
                SourceCidrBlock: r.source,
                DestinationCidrBlock: r.destination,
                ...(r.protocol === undefined ? {} : { Protocol: r.protocol }),
                ...(r.protocol !== undefined && r.ports
                  ? { DestinationPortRange: { FromPort: r.ports[0], ToPort: r.ports[1] } }
                  : {}),
              });
            }
            const targetId = await nlbTarget(w.ec2, w.account);
            env.emulator.delivery.set(targetId, rx.address);
            const s = await session(w, {
              SessionNumber: spec.number,
              TrafficMirrorFilterId: filterId,
              TrafficMirrorTargetId: targetId,
              VirtualNetworkId: 1000 + i,
              ...(spec.packetLength === undefined ? {} : { PacketLength: spec.packetLength }),
            });
            made.push({ id: must(s.TrafficMirrorSessionId, 'id'), vni: 1000 + i, number: spec.number });
          }
          const injected = packets.map((p, i) => {
            const [local, remote] = [w.address, p.remote];
            const ported = p.protocol !== 1;
            return {
              direction: p.inbound ? 'ingress' : 'egress',
              protocol: p.protocol,
              source: p.inbound ? remote : local,
              destination: p.inbound ? local : remote,
              ...(ported
                ? {
                    sourcePort: p.inbound ? p.remotePort : p.localPort,
                    destinationPort: p.inbound ? p.localPort : p.remotePort,
                  }
                : {}),
              payloadHex: i.toString(16).padStart(4, '0'),
              length: (p.protocol === 6 ? 40 : 28) + 2 + p.length,
            };
          });
          const answer = await inject(w, injected);
          expect(answer.status).toBe(200);
          type Result = {
            mirrored: boolean;
            session: { vni: number; id: string } | null;
            delivery: { mirroredLength: number; truncated: boolean } | null;
          };
          const results: Result[] = answer.json.packets;
          for (const result of results) {
            if (result.mirrored) expect(made.map((m) => m.id)).toContain(result.session?.id);
            seen[result.mirrored ? 'mirrored' : 'not']++;
            if (result.delivery?.truncated) seen.truncated++;
          }
          for (const result of results.filter((r) => r.mirrored)) {
            const datagram = await rx.next();
            const { vni, frame } = vxlanParts(datagram);
            expect(vni).toBe(result.session?.vni);
            expect(frame.length).toBe(result.delivery?.mirroredLength);
          }
          // The marker, taken by an accept-all filter put on the first session, is the next datagram.
          const first = [...made].sort((a, b) => a.number - b.number)[0];
          const all = await createFilter(w.ec2);
          await acceptAll(w.ec2, all);
          await w.ec2.send(
            new ModifyTrafficMirrorSessionCommand({
              TrafficMirrorSessionId: first?.id,
              TrafficMirrorFilterId: all,
              RemoveFields: ['packet-length'],
            }),
          );
          await inject(w, [ssh(w, '192.0.2.99', 9)]);
          const marker = vxlanParts(await rx.next());
          expect([marker.vni, innerHeaders(marker.frame).upper.readUInt16BE(0)]).toEqual([first?.vni, 9]);
        },
      ),
      { numRuns: 12, seed: 4789 },
    );
    // The runs exercised both outcomes and the cut.
    expect(seen.mirrored).toBeGreaterThan(10);
    expect(seen.not).toBeGreaterThan(10);
    expect(seen.truncated).toBeGreaterThan(0);
  }, 120_000);
});

describe('traffic AWS does not mirror', () => {
  test('ARP, DHCP, instance metadata, Amazon Time Sync NTP and Windows activation, even with accept-all rules', async () => {
    const w = await world();
    await acceptAll(w.ec2, w.filterId);
    await session(w);
    const rx = await receiverFor(w.targetId);
    const out = (protocol: number, destination: string, sourcePort: number, destinationPort: number) => ({
      direction: 'egress',
      protocol,
      source: w.address,
      destination,
      sourcePort,
      destinationPort,
    });
    const answer = await inject(w, [
      { direction: 'egress', protocol: 'arp', source: w.address, destination: '10.0.0.1' },
      {
        direction: 'egress',
        protocol: 17,
        source: '0.0.0.0',
        destination: '255.255.255.255',
        sourcePort: 68,
        destinationPort: 67,
      },
      out(6, '169.254.169.254', 40000, 80),
      out(17, '169.254.169.123', 123, 123),
      out(6, '169.254.169.250', 50000, 1688),
      out(17, '203.0.113.10', 123, 123), // NTP to another server is ordinary UDP
    ]);
    expect(answer.json.packets.map((p: { neverMirrored: string | null }) => p.neverMirrored)).toEqual([
      'arp',
      'dhcp',
      'instance-metadata',
      'ntp',
      'windows-activation',
      null,
    ]);
    expect(answer.json.packets[2]).toMatchObject({
      mirrored: false,
      reason: 'never-mirrored',
      sessions: [],
      delivery: null,
    });
    expect(answer.json.mirrored).toBe(1);
    const only = innerHeaders(vxlanParts(await rx.next()).frame);
    expect([...only.destination].join('.')).toBe('203.0.113.10');
  });

  test('Amazon DNS is mirrored only by a filter with the amazon-dns network service, whatever its rules', async () => {
    const w = await world(); // VPC 10.0.0.0/16: Amazon DNS at 10.0.0.2
    await acceptAll(w.ec2, w.filterId);
    const s = await session(w);
    const rx = await receiverFor(w.targetId);
    const query = (destination: string) => ({
      direction: 'egress',
      protocol: 17,
      source: w.address,
      destination,
      sourcePort: 40000,
      destinationPort: 53,
    });
    const before = await inject(w, [query('10.0.0.2'), query('169.254.169.253'), query('198.51.100.53')]);
    expect(before.json.packets.map((p: { mirrored: boolean }) => p.mirrored)).toEqual([false, false, true]);
    expect(before.json.packets[0].sessions).toEqual([
      { id: s.TrafficMirrorSessionId, number: 1, outcome: 'amazon-dns-not-enabled', rule: null },
    ]);
    expect([...innerHeaders(vxlanParts(await rx.next()).frame).destination].join('.')).toBe('198.51.100.53');

    // A filter with the network service and no rule at all takes Amazon DNS, and only that.
    const dnsOnly = await createFilter(w.ec2);
    await w.ec2.send(
      new ModifyTrafficMirrorFilterNetworkServicesCommand({
        TrafficMirrorFilterId: dnsOnly,
        AddNetworkServices: ['amazon-dns'],
      }),
    );
    await w.ec2.send(
      new ModifyTrafficMirrorSessionCommand({
        TrafficMirrorSessionId: s.TrafficMirrorSessionId,
        TrafficMirrorFilterId: dnsOnly,
      }),
    );
    const after = await inject(w, [
      query('10.0.0.2'),
      {
        ...query('10.0.0.5'),
        direction: 'ingress',
        source: '10.0.0.2',
        destination: w.address,
        sourcePort: 53,
        destinationPort: 40000,
      },
      query('198.51.100.53'),
    ]);
    expect(after.json.packets[0]).toMatchObject({
      mirrored: true,
      reason: 'amazon-dns',
      networkService: 'amazon-dns',
      rule: null,
    });
    expect(after.json.packets.map((p: { mirrored: boolean }) => p.mirrored)).toEqual([true, true, false]);
    const answers = [await rx.next(), await rx.next()].map((d) => innerHeaders(vxlanParts(d).frame));
    expect(answers.map((h) => [...h.destination].join('.'))).toEqual(['10.0.0.2', w.address]);
  });
});

describe('the request', () => {
  test('refused whole, with the field named, and nothing sent', async () => {
    const w = await world();
    await acceptAll(w.ec2, w.filterId);
    await session(w);
    const rx = await receiverFor(w.targetId);
    const good = ssh(w);
    const cases: [unknown, number, string][] = [
      ['{not json', 400, 'The request body is not valid JSON'],
      [{ packets: [good] }, 400, 'networkInterfaceId: must be an ENI id'],
      [{ networkInterfaceId: w.eniId }, 400, 'packets: must be a non-empty list of packets'],
      [{ networkInterfaceId: w.eniId, packets: [] }, 400, 'packets: must be a non-empty list of packets'],
      [
        { networkInterfaceId: w.eniId, packets: [good, { ...good, sourcePort: 70000 }] },
        400,
        'packets[1].sourcePort: must be an integer from 0 to 65535, got 70000',
      ],
      [
        { networkInterfaceId: w.eniId, packets: [{ ...good, direction: 'in' }] },
        400,
        "packets[0].direction: must be 'ingress' or 'egress', got 'in'",
      ],
      [
        { networkInterfaceId: w.eniId, packets: Array(1001).fill(good) },
        400,
        'packets: at most 1000 packets a request, got 1001',
      ],
      [{ networkInterfaceId: w.eniId, packets: [good], vpc: 'x' }, 400, 'vpc: unknown field'],
      [
        { networkInterfaceId: w.eniId, packets: [good], account: '12' },
        400,
        'account: must be a twelve-digit account id',
      ],
      [
        { networkInterfaceId: 'eni-0000000000000000f', packets: [good] },
        404,
        `networkInterfaceId: no network interface eni-0000000000000000f in account ${w.account}, Region us-east-1`,
      ],
    ];
    for (const [body, status, message] of cases) {
      const answer = await postTraffic(env.url, w.account, body);
      expect([answer.status, answer.json.message]).toEqual([status, expect.stringContaining(message)]);
      expect(answer.json.message).not.toContain('\n');
    }
    // Nothing of the refused requests was sent: the first datagram is this one's.
    await inject(w, [ssh(w, '192.0.2.99')]);
    expect([...innerHeaders(vxlanParts(await rx.next()).frame).source].join('.')).toBe('192.0.2.99');
  });

  test("the account is the SigV4 scope's, or the body's account and region; the default account without either", async () => {
    const w = await world();
    await acceptAll(w.ec2, w.filterId);
    await session(w);
    await receiverFor(w.targetId);
    const body = { networkInterfaceId: w.eniId, packets: [ssh(w)] };
    const other = await postTraffic(env.url, '999999999999', body);
    expect(other.status).toBe(404);
    expect(other.json.message).toContain('in account 999999999999');
    const named = await postTraffic(env.url, '999999999999', {
      ...body,
      account: w.account,
      region: 'us-east-1',
    });
    expect([named.status, named.json.account, named.json.mirrored]).toEqual([200, w.account, 1]);
    const anonymous = await postTraffic(env.url, undefined, body);
    expect(anonymous.json.message).toContain('in account 123456789012, Region us-east-1');
    const elsewhere = await postTraffic(env.url, w.account, body, 'eu-west-1');
    expect(elsewhere.json.message).toContain('Region eu-west-1');
  });
});

describe('mirrorops emulator --deliver', () => {
  test("'*' and a target's own address reach the emulator; bad values are refused with the flag named", async () => {
    const [rxAll, rxOwn] = [await VxlanReceiver.open(), await VxlanReceiver.open()];
    receivers.push(rxAll, rxOwn);
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    const stop = new AbortController();
    // The target ids are not known before the emulator runs: the own entry is for a target made below.
    const started = emulatorCommand.run(['--port', '0', '--deliver', `*=${rxAll.address}`], io, stop.signal);
    await expect.poll(() => lines.find((l) => l.startsWith('http://')), { timeout: 20_000 }).toBeDefined();
    const url = must(
      lines.find((l) => l.startsWith('http://')),
      'URL',
    );
    expect(lines.join('\n')).toContain(`goes as VXLAN to ${rxAll.address}`);
    const { ec2, account } = freshClient(url);
    const mirror = await mirrorSetup(ec2);
    await acceptAll(ec2, mirror.filterId);
    await createSession(ec2, {
      NetworkInterfaceId: mirror.source.eniId,
      TrafficMirrorTargetId: mirror.targetId,
      TrafficMirrorFilterId: mirror.filterId,
      SessionNumber: 1,
      VirtualNetworkId: 99,
    });
    await postTraffic(url, account, {
      networkInterfaceId: mirror.source.eniId,
      packets: [
        {
          direction: 'egress',
          protocol: 'udp',
          source: mirror.source.privateIpAddress,
          destination: '192.0.2.1',
          sourcePort: 1,
          destinationPort: 2,
        },
      ],
    });
    expect(vxlanParts(await rxAll.next()).vni).toBe(99);
    stop.abort();
    expect(await started).toBe(0);

    const own = new AbortController();
    const lines2: string[] = [];
    const io2 = { out: (l: string) => lines2.push(l), err: (l: string) => lines2.push(l) };
    const again = emulatorCommand.run(
      ['--port', '0', '--deliver', `*=${rxAll.address}`, '--deliver', `${mirror.targetId}=${rxOwn.address}`],
      io2,
      own.signal,
    );
    await expect.poll(() => lines2.length, { timeout: 20_000 }).toBeGreaterThan(0);
    expect(lines2.join('\n')).toContain(
      `${rxOwn.address} for ${mirror.targetId}, ${rxAll.address} for the others`,
    );
    own.abort();
    expect(await again).toBe(0);

    for (const [value, message] of [
      ['127.0.0.1:4789', "--deliver takes TARGET=HOST:PORT (TARGET tmt-... or '*'), got '127.0.0.1:4789'"],
      [
        'eni-0123456789abcdef0=127.0.0.1:4789',
        "--deliver: a delivery is set for a target id (tmt-...) or '*' for all",
      ],
      ['*=localhost:4789', "--deliver: a delivery address needs an IP address as its host, got 'localhost'"],
      ['*=127.0.0.1:99999', '--deliver: a delivery address is HOST:PORT or [IPV6]:PORT with a port 1-65535'],
    ]) {
      await expect(emulatorCommand.run(['--port', '0', '--deliver', value ?? ''], io)).rejects.toThrow(
        message,
      );
    }
  });
});
