import {
  CreateNetworkInterfaceCommand,
  type EC2Client,
  ModifyTrafficMirrorFilterNetworkServicesCommand,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { useEmulator } from '../support/emulator.ts';
import {
  applianceTargetIn,
  createFilter,
  createRule,
  createSession,
  freshClient,
} from '../support/mirroring.ts';
import { createNetwork, type Launched, launch, must } from '../support/topology.ts';

const env = useEmulator();

/** Runs `mirrorops explain` in this process, as `account`, against the emulator. */
async function explain(account: string, args: string[]) {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: env.url,
    AWS_ACCESS_KEY_ID: account,
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
  });
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['explain', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
const json = async (account: string, args: string[]) => {
  const r = await explain(account, [...args, '--json']);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.out);
};

/**
 * web-1 (10.0.0.x) with an incident session (number 1: the attacker 198.51.100.7 both ways, SSH
 * rejected from 203.0.113.0/24 first), a tag session (number 20: all IPv4 traffic, DNS too) and an
 * unrelated ENI with none. One account for the file: each test only reads.
 */
let account: string;
let web: Launched;
let bare: string;
let incident: { id: string; filterId: string };
let tag: { id: string; filterId: string };
let targetId: string;

beforeAll(async () => {
  const fresh = freshClient(env.url);
  account = fresh.account;
  const ec2: EC2Client = fresh.ec2;
  const net = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
  web = await launch(ec2, net.subnetId);
  const spare = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: net.subnetId }));
  bare = must(spare.NetworkInterface?.NetworkInterfaceId, 'ENI id');
  targetId = await applianceTargetIn(ec2, net.subnetId);

  const incidentFilter = await createFilter(ec2);
  await createRule(ec2, incidentFilter, {
    RuleNumber: 5,
    RuleAction: 'reject',
    Protocol: 6,
    SourceCidrBlock: '198.51.100.0/24',
    DestinationCidrBlock: '0.0.0.0/0',
    DestinationPortRange: { FromPort: 3389, ToPort: 3389 },
  });
  await createRule(ec2, incidentFilter, { RuleNumber: 10, SourceCidrBlock: '198.51.100.7/32' });
  await createRule(ec2, incidentFilter, {
    TrafficDirection: 'egress',
    RuleNumber: 10,
    DestinationCidrBlock: '198.51.100.7/32',
  });
  const tagFilter = await createFilter(ec2);
  await createRule(ec2, tagFilter, { RuleNumber: 100 });
  await createRule(ec2, tagFilter, { TrafficDirection: 'egress', RuleNumber: 100 });
  await ec2.send(
    new ModifyTrafficMirrorFilterNetworkServicesCommand({
      TrafficMirrorFilterId: tagFilter,
      AddNetworkServices: ['amazon-dns'],
    }),
  );
  const s1 = await createSession(ec2, {
    NetworkInterfaceId: web.eniId,
    TrafficMirrorTargetId: targetId,
    TrafficMirrorFilterId: incidentFilter,
    SessionNumber: 1,
    VirtualNetworkId: 4242,
  });
  const s20 = await createSession(ec2, {
    NetworkInterfaceId: web.eniId,
    TrafficMirrorTargetId: targetId,
    TrafficMirrorFilterId: tagFilter,
    SessionNumber: 20,
    VirtualNetworkId: 2020,
    PacketLength: 128,
  });
  incident = { id: must(s1.TrafficMirrorSessionId, 'session id'), filterId: incidentFilter };
  tag = { id: must(s20.TrafficMirrorSessionId, 'session id'), filterId: tagFilter };
});

describe('mirrorops explain', () => {
  it("names the incident session and its rule for the attacker's packet, the tag session as shadowed", async () => {
    const r = await explain(account, [
      '--eni',
      web.eniId,
      '--packet',
      `tcp 198.51.100.7:51515 > ${web.privateIpAddress}:22`,
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`on ${web.eniId}, ingress (${web.privateIpAddress} is the ENI's address)`);
    expect(r.out).toContain(
      `Mirrored by session ${incident.id} (number 1, VNI 4242, target ${targetId}): ingress rule 10 accept all protocols 198.51.100.7/32 > 0.0.0.0/0`,
    );
    expect(r.out).toMatch(
      new RegExp(
        `20\\s+${tag.id}\\s+${tag.filterId}\\s+2020\\s+would take it too .* but session 1 comes first`,
      ),
    );

    const answer = await json(account, [
      '--eni',
      web.eniId,
      '--packet',
      `tcp 198.51.100.7:51515 > ${web.privateIpAddress}:22`,
    ]);
    expect(answer).toMatchObject({
      networkInterfaceId: web.eniId,
      protocol: 6,
      source: '198.51.100.7',
      sourcePort: 51515,
      destination: web.privateIpAddress,
      destinationPort: 22,
      direction: 'ingress',
      directionFrom: 'eni-address',
      mirrored: true,
      neverMirrored: null,
      session: {
        id: incident.id,
        number: 1,
        virtualNetworkId: 4242,
        targetId,
        filterId: incident.filterId,
        packetLength: null,
        takes: true,
        decidedBy: { rule: { direction: 'ingress', ruleNumber: 10, action: 'accept', protocol: null } },
      },
    });
    expect(
      answer.sessions.map((s: { number: number; takes: boolean; shadowed: boolean }) => [
        s.number,
        s.takes,
        s.shadowed,
      ]),
    ).toEqual([
      [1, true, false],
      [20, true, true],
    ]);
  });

  it("sends the ENI's reply to the attacker to the incident session too (egress, inferred)", async () => {
    const answer = await json(account, [
      '--eni',
      web.eniId,
      '--packet',
      `tcp ${web.privateIpAddress}:22 > 198.51.100.7:51515`,
    ]);
    expect(answer).toMatchObject({ direction: 'egress', mirrored: true, session: { number: 1 } });
  });

  it('says which rule rejects a packet and which session takes it instead', async () => {
    const r = await explain(account, [
      '--eni',
      web.eniId,
      '--packet',
      `tcp 198.51.100.7:40000 > ${web.privateIpAddress}:3389`,
    ]);
    expect(r.out).toContain(
      `Mirrored by session ${tag.id} (number 20, VNI 2020, target ${targetId}, 128 bytes of it)`,
    );
    expect(r.out).toMatch(
      /1\s+tms-\S+\s+tmf-\S+\s+4242\s+does not take it: ingress rule 5 reject tcp 198\.51\.100\.0\/24 port any > 0\.0\.0\.0\/0 port 3389/,
    );
  });

  it('other traffic goes to the tag session only, the incident filter matching none of its rules', async () => {
    const answer = await json(account, [
      '--eni',
      web.eniId,
      '--packet',
      `udp 203.0.113.9:5353 > ${web.privateIpAddress}:8125`,
    ]);
    expect(answer.session).toMatchObject({ number: 20, packetLength: 128 });
    expect(answer.sessions[0]).toMatchObject({
      number: 1,
      takes: false,
      decidedBy: { reason: 'no-rule-matched' },
      reason: 'does not take it: none of its 2 ingress rules matches',
    });
  });

  it('IPv6 traffic matches neither filter (their rules are IPv4)', async () => {
    const r = await explain(account, [
      '--eni',
      web.eniId,
      '--direction',
      'ingress',
      '--packet',
      'tcp [2001:db8::7]:51515 > [2001:db8::5]:22',
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`tcp [2001:db8::7]:51515 > [2001:db8::5]:22 on ${web.eniId}, ingress (as given)`);
    expect(r.out).toContain(`Not mirrored: none of the 2 sessions of ${web.eniId} takes it.`);
  });

  it('Amazon DNS is mirrored only by the filter with the amazon-dns network service', async () => {
    const answer = await json(account, [
      '--eni',
      web.eniId,
      '--packet',
      `udp ${web.privateIpAddress}:40000 > 10.0.0.2:53`,
    ]);
    expect(answer.sessions.map((s: { decidedBy: unknown }) => s.decidedBy)).toEqual([
      { reason: 'amazon-dns-not-enabled' },
      { networkService: 'amazon-dns' },
    ]);
    expect(answer).toMatchObject({ direction: 'egress', mirrored: true, session: { number: 20 } });
  });

  it('traffic AWS never mirrors, and an ENI without sessions', async () => {
    const ntp = await explain(account, [
      '--eni',
      web.eniId,
      '--packet',
      `udp ${web.privateIpAddress}:40000 > 169.254.169.123:123`,
    ]);
    expect(ntp.out).toContain('Not mirrored: AWS never mirrors NTP traffic');
    const none = await explain(account, [
      '--eni',
      bare,
      '--direction',
      'egress',
      '--packet',
      'icmp 10.0.0.9 > 8.8.8.8',
    ]);
    expect(none.out).toContain(`Not mirrored: ${bare} has no mirror sessions.`);
  });

  it('answers several packets from one read, as a JSON array', async () => {
    const answers = await json(account, [
      '--eni',
      web.eniId,
      '--packet',
      `tcp 198.51.100.7:1 > ${web.privateIpAddress}:22`,
      '--packet',
      `icmp 203.0.113.9 > ${web.privateIpAddress}`,
      '--packet',
      'arp 10.0.0.1 > 10.0.0.9',
      '--direction',
      'ingress',
    ]);
    expect(
      answers.map(
        (a: { session: { number: number } | null; neverMirrored: string | null }) =>
          a.session?.number ?? a.neverMirrored,
      ),
    ).toEqual([1, 20, 'ARP']);
  });

  it.each([
    [['--packet', 'tcp 1.2.3.4:1 > 5.6.7.8:2'], '--eni is required'],
    [
      ['--eni', 'i-0123456789abcdef0', '--packet', 'tcp 1.2.3.4:1 > 5.6.7.8:2'],
      "--eni 'i-0123456789abcdef0' is not a eni-... id",
    ],
    [['--eni', 'eni-0123456789abcdef0'], '--packet is required'],
    [
      ['--eni', 'eni-0123456789abcdef0', '--packet', 'tcp 1.2.3.4 > 5.6.7.8'],
      '--packet: a tcp packet needs both ports',
    ],
    [
      ['--eni', 'eni-0123456789abcdef0', '--packet', 'tcp 1.2.3.4:1 > 5.6.7.8:2', '--direction', 'in'],
      "--direction 'in' is not ingress or egress",
    ],
    [
      ['--eni', 'eni-0123456789abcdef0', '--packet', 'tcp 1.2.3.4:1 > 5.6.7.8:2', '--port', '1'],
      "Unknown option '--port'",
    ],
  ])('bad input %j: one line, exit 2', async (args, message) => {
    const r = await explain(account, args);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.split('\n')).toHaveLength(1);
    expect(r.err).toContain(message);
  });

  it("asks for --direction when neither end is the ENI's address", async () => {
    const r = await explain(account, ['--eni', web.eniId, '--packet', 'tcp 1.2.3.4:1 > 5.6.7.8:2']);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      `mirrorops explain: cannot tell the direction of 'tcp 1.2.3.4:1 > 5.6.7.8:2': neither end is an address of ${web.eniId} (${web.privateIpAddress}); give --direction ingress|egress (see 'mirrorops explain --help')`,
    );
  });

  it('an ENI that does not exist: exit 3', async () => {
    const r = await explain(account, [
      '--eni',
      'eni-0123456789abcdef0',
      '--packet',
      'tcp 1.2.3.4:1 > 5.6.7.8:2',
    ]);
    expect(r.code).toBe(3);
    expect(r.err).toBe(
      `mirrorops explain: no network interface eni-0123456789abcdef0 in account ${account}, us-east-1`,
    );
  });

  it('--output text: one tab-separated line a packet', async () => {
    const r = await explain(account, [
      '--eni',
      web.eniId,
      '--output',
      'text',
      '--packet',
      `tcp 198.51.100.7:51515 > ${web.privateIpAddress}:22`,
      '--packet',
      `udp ${web.privateIpAddress}:123 > 169.254.169.123:123`,
      '--packet',
      'tcp [2001:db8::7]:1 > [2001:db8::5]:22',
      '--direction',
      'ingress',
    ]);
    expect(r.code).toBe(0);
    const line = (...cells: string[]) => cells.join('\t');
    expect(r.out.split('\n')).toEqual([
      line(
        web.eniId,
        `tcp 198.51.100.7:51515 > ${web.privateIpAddress}:22`,
        'ingress',
        'mirrored',
        incident.id,
        '1',
        '4242',
        'ingress-rule-10',
      ),
      line(
        web.eniId,
        `udp ${web.privateIpAddress}:123 > 169.254.169.123:123`,
        'ingress',
        'not-mirrored',
        'NTP',
      ),
      line(web.eniId, 'tcp [2001:db8::7]:1 > [2001:db8::5]:22', 'ingress', 'not-mirrored', '-'),
    ]);
  });
});
