import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorFilterRuleCommand,
  CreateTrafficMirrorSessionCommand,
  CreateTrafficMirrorTargetCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { ec2Actions } from '../../emulator/ec2/index.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { fingerprint, parseError, send } from '../support/http.ts';
import { createNetwork, launch, must } from '../support/topology.ts';
import { isWellFormedXml } from '../support/xml.ts';

/**
 * Thousands of random Query bodies, from nearly right to pure noise. Every answer must be a
 * success or an EC2 error of exactly EC2's shape, with the request id of its header; a refused
 * request must change nothing; nothing may be a 500 (a handler that threw something unplanned);
 * and the server must still answer afterwards.
 */
const env = useEmulator();
/** Rounds of runs, each in a fresh account, so deletions early in a round do not starve the rest. */
const ROUNDS = 4;
const RUNS_PER_ROUND = 500;
const RUNS = ROUNDS * RUNS_PER_ROUND;

/** Parameter names the handlers read, with list positions, so random bodies reach deep into them. */
const NAMES = [
  'VpcId',
  'VpcId.1',
  'SubnetId',
  'SubnetId.1',
  'CidrBlock',
  'AvailabilityZone',
  'GroupName',
  'GroupName.1',
  'GroupDescription',
  'GroupId',
  'GroupId.1',
  'SecurityGroupId.1',
  'DryRun',
  'ClientToken',
  'MaxResults',
  'NextToken',
  'Filter.1.Name',
  'Filter.1.Value.1',
  'Filter.1.Value.2',
  'Filter.2.Name',
  'Filter.2.Value.1',
  'TagSpecification.1.ResourceType',
  'TagSpecification.1.Tag.1.Key',
  'TagSpecification.1.Tag.1.Value',
  'ResourceId.1',
  'ResourceId.2',
  'Tag.1.Key',
  'Tag.1.Value',
  'InstanceId',
  'InstanceId.1',
  'InstanceType',
  'ImageId',
  'MinCount',
  'MaxCount',
  'NetworkInterfaceId',
  'NetworkInterfaceId.1',
  'DeviceIndex',
  'Description',
  'InterfaceType',
  'IpPermissions.1.IpProtocol',
  'IpPermissions.1.FromPort',
  'IpPermissions.1.ToPort',
  'IpPermissions.1.IpRanges.1.CidrIp',
  'IpPermissions.1.Groups.1.GroupId',
  'TrafficMirrorTargetId',
  'TrafficMirrorTargetId.1',
  'TrafficMirrorFilterId',
  'TrafficMirrorFilterId.1',
  'TrafficMirrorSessionId',
  'TrafficMirrorSessionId.1',
  'TrafficMirrorFilterRuleId',
  'NetworkLoadBalancerArn',
  'GatewayLoadBalancerEndpointId',
  'SessionNumber',
  'VirtualNetworkId',
  'PacketLength',
  'TrafficDirection',
  'RuleNumber',
  'RuleAction',
  'Protocol',
  'SourceCidrBlock',
  'DestinationCidrBlock',
  'SourcePortRange.FromPort',
  'SourcePortRange.ToPort',
  'DestinationPortRange.FromPort',
  'DestinationPortRange.ToPort',
  'AddNetworkService.1',
  'RemoveNetworkService.1',
  'RemoveField.1',
];

const WORDS = [
  '',
  'true',
  'false',
  '0',
  '1',
  '2',
  '5',
  '10',
  '-1',
  '1000',
  '1001',
  '4789',
  '8500',
  '8501',
  '32766',
  '32767',
  '16777215',
  '16777216',
  '10.0.0.0/16',
  '10.0.0.0/24',
  '10.0.1.0/28',
  '10.0.0.0/8',
  '0.0.0.0/0',
  '::/0',
  '2001:db8::/32',
  'ingress',
  'egress',
  'accept',
  'reject',
  '6',
  '17',
  'tcp',
  'udp',
  'icmp',
  'm5.large',
  't2.micro',
  'c6i.large',
  'm5.metal',
  'instance',
  'vpc',
  'subnet',
  'security-group',
  'network-interface',
  'traffic-mirror-session',
  'traffic-mirror-filter',
  'traffic-mirror-target',
  'amazon-dns',
  'packet-length',
  'virtual-network-id',
  'description',
  'vpc-id',
  'subnet-id',
  'tag:k',
  'tag-key',
  'instance-state-name',
  'attachment.instance-id',
  'k',
  'v',
  '*',
  'aws:reserved',
  'mirrorops:managed',
  'token-1',
  'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/nlb/0123456789abcdef',
  'vpce-0123456789abcdef0',
];

const ACTIONS = [...Object.keys(ec2Actions), 'DescribeUnicorns', 'describevpcs', 'constructor'];

/** Resources that exist when the fuzzing starts, so random requests can name them. */
interface World {
  vpc: string;
  subnet: string;
  group: string;
  instance: string;
  sourceEni: string;
  spareInstance: string;
  freeEni: string;
  targetEni: string;
  target: string;
  filter: string;
  rule: string;
  session: string;
}
/** A VPC with instances, interfaces, a target, a filter with a rule and a session, through the SDK. */
async function createWorld(account: string): Promise<World> {
  const ec2 = ec2For(env.url, account);
  const net = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.0.0/20' });
  const a = await launch(ec2, net.subnetId, 'm5.large', { k: 'v' });
  const b = await launch(ec2, net.subnetId, 'c5.large');
  const eniId = async () => {
    const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: net.subnetId }));
    return must(eni.NetworkInterface?.NetworkInterfaceId, 'NetworkInterfaceId');
  };
  const freeEni = await eniId();
  const targetEni = await eniId();
  const target = await ec2.send(new CreateTrafficMirrorTargetCommand({ NetworkInterfaceId: targetEni }));
  const filter = await ec2.send(new CreateTrafficMirrorFilterCommand({}));
  const filterId = must(filter.TrafficMirrorFilter?.TrafficMirrorFilterId, 'TrafficMirrorFilterId');
  const targetId = must(target.TrafficMirrorTarget?.TrafficMirrorTargetId, 'TrafficMirrorTargetId');
  const rule = await ec2.send(
    new CreateTrafficMirrorFilterRuleCommand({
      TrafficMirrorFilterId: filterId,
      TrafficDirection: 'ingress',
      RuleNumber: 100,
      RuleAction: 'accept',
      SourceCidrBlock: '0.0.0.0/0',
      DestinationCidrBlock: '0.0.0.0/0',
    }),
  );
  const session = await ec2.send(
    new CreateTrafficMirrorSessionCommand({
      NetworkInterfaceId: a.eniId,
      TrafficMirrorTargetId: targetId,
      TrafficMirrorFilterId: filterId,
      SessionNumber: 10,
    }),
  );
  return {
    vpc: net.vpcId,
    subnet: net.subnetId,
    group: net.securityGroupId,
    instance: a.instanceId,
    sourceEni: a.eniId,
    spareInstance: b.instanceId,
    freeEni,
    targetEni,
    target: targetId,
    filter: filterId,
    rule: must(rule.TrafficMirrorFilterRule?.TrafficMirrorFilterRuleId, 'TrafficMirrorFilterRuleId'),
    session: must(session.TrafficMirrorSession?.TrafficMirrorSessionId, 'TrafficMirrorSessionId'),
  };
}

/** A valid request per action, which the fuzzer then bends: drops, swaps and adds parameters. */
function templates(w: World): Record<string, Record<string, string>> {
  const tag = { 'TagSpecification.1.Tag.1.Key': 'k', 'TagSpecification.1.Tag.1.Value': 'v' };
  return {
    CreateVpc: { CidrBlock: '10.1.0.0/16', 'TagSpecification.1.ResourceType': 'vpc', ...tag },
    DescribeVpcs: { 'Filter.1.Name': 'tag:k', 'Filter.1.Value.1': 'v' },
    CreateSubnet: { VpcId: w.vpc, CidrBlock: '10.0.16.0/24' },
    DescribeSubnets: { 'Filter.1.Name': 'vpc-id', 'Filter.1.Value.1': w.vpc },
    CreateSecurityGroup: { VpcId: w.vpc, GroupName: 'web', GroupDescription: 'web servers' },
    AuthorizeSecurityGroupIngress: {
      GroupId: w.group,
      'IpPermissions.1.IpProtocol': 'udp',
      'IpPermissions.1.FromPort': '4789',
      'IpPermissions.1.ToPort': '4789',
      'IpPermissions.1.IpRanges.1.CidrIp': '10.0.0.0/16',
    },
    DescribeSecurityGroups: { 'GroupId.1': w.group },
    RunInstances: {
      MinCount: '1',
      MaxCount: '2',
      ImageId: 'ami-12345678',
      InstanceType: 'm5.large',
      SubnetId: w.subnet,
      'TagSpecification.1.ResourceType': 'instance',
      ...tag,
    },
    TerminateInstances: { 'InstanceId.1': w.spareInstance },
    DescribeInstances: {
      'Filter.1.Name': 'instance-state-name',
      'Filter.1.Value.1': 'running',
      MaxResults: '5',
    },
    CreateNetworkInterface: { SubnetId: w.subnet, 'SecurityGroupId.1': w.group, Description: 'x' },
    AttachNetworkInterface: { NetworkInterfaceId: w.freeEni, InstanceId: w.instance, DeviceIndex: '1' },
    DeleteNetworkInterface: { NetworkInterfaceId: w.freeEni },
    DescribeNetworkInterfaces: { 'Filter.1.Name': 'attachment.instance-id', 'Filter.1.Value.1': w.instance },
    CreateTags: { 'ResourceId.1': w.vpc, 'ResourceId.2': w.session, 'Tag.1.Key': 'k2', 'Tag.1.Value': 'v2' },
    DeleteTags: { 'ResourceId.1': w.vpc, 'Tag.1.Key': 'k2' },
    DescribeTags: { 'Filter.1.Name': 'resource-id', 'Filter.1.Value.1': w.vpc },
    CreateTrafficMirrorTarget: { NetworkInterfaceId: w.freeEni, Description: 't' },
    DescribeTrafficMirrorTargets: { 'TrafficMirrorTargetId.1': w.target },
    DeleteTrafficMirrorTarget: { TrafficMirrorTargetId: w.target },
    CreateTrafficMirrorFilter: {
      Description: 'f',
      'TagSpecification.1.ResourceType': 'traffic-mirror-filter',
      ...tag,
    },
    DescribeTrafficMirrorFilters: { 'TrafficMirrorFilterId.1': w.filter },
    DeleteTrafficMirrorFilter: { TrafficMirrorFilterId: w.filter },
    ModifyTrafficMirrorFilterNetworkServices: {
      TrafficMirrorFilterId: w.filter,
      'AddNetworkService.1': 'amazon-dns',
    },
    CreateTrafficMirrorFilterRule: {
      TrafficMirrorFilterId: w.filter,
      TrafficDirection: 'egress',
      RuleNumber: '1',
      RuleAction: 'accept',
      Protocol: '6',
      SourceCidrBlock: '10.0.0.0/16',
      DestinationCidrBlock: '0.0.0.0/0',
      'DestinationPortRange.FromPort': '443',
      'DestinationPortRange.ToPort': '443',
    },
    DescribeTrafficMirrorFilterRules: { TrafficMirrorFilterId: w.filter },
    ModifyTrafficMirrorFilterRule: {
      TrafficMirrorFilterRuleId: w.rule,
      RuleNumber: '7',
      'RemoveField.1': 'description',
    },
    DeleteTrafficMirrorFilterRule: { TrafficMirrorFilterRuleId: w.rule },
    CreateTrafficMirrorSession: {
      NetworkInterfaceId: w.sourceEni,
      TrafficMirrorTargetId: w.target,
      TrafficMirrorFilterId: w.filter,
      SessionNumber: '2',
      VirtualNetworkId: '42',
      PacketLength: '128',
      'TagSpecification.1.ResourceType': 'traffic-mirror-session',
      ...tag,
    },
    DescribeTrafficMirrorSessions: {
      'Filter.1.Name': 'network-interface-id',
      'Filter.1.Value.1': w.sourceEni,
    },
    ModifyTrafficMirrorSession: {
      TrafficMirrorSessionId: w.session,
      SessionNumber: '3',
      'RemoveField.1': 'packet-length',
    },
    DeleteTrafficMirrorSession: { TrafficMirrorSessionId: w.session },
  };
}

/** The requests to throw, built once the ids of real resources are known. */
function requests(w: World) {
  const ids = Object.values(w);
  const base = templates(w);
  const value = () =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...WORDS) },
      { weight: 4, arbitrary: fc.constantFrom(...ids) },
      { weight: 1, arbitrary: fc.integer().map(String) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
    );

  /** A parameter name: a known one, one with a broken list position, or noise. */
  const name = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...NAMES) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...NAMES),
          fc.constantFrom('.0', '.01', '.x', '.', '..', '.1.', '.99999999999999999999', '.1.Key.1'),
        )
        .map(([n, suffix]) => n + suffix),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  );

  /** A request that names a real action and version, with random parameters. */
  const nearlyRight = fc
    .record({
      action: fc.constantFrom(...ACTIONS),
      version: fc.oneof(
        { weight: 9, arbitrary: fc.constant('2016-11-15') },
        { weight: 1, arbitrary: value() },
      ),
      params: fc.array(fc.tuple(name, value()), { maxLength: 8 }),
    })
    .map(({ action, version, params }) => {
      const search = new URLSearchParams([['Action', action], ['Version', version], ...params]);
      return { body: search.toString() as string | Uint8Array, action };
    });

  const noise = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }).map((body) => ({ body: body as string | Uint8Array })),
    fc.uint8Array({ maxLength: 200 }).map((body) => ({ body: body as string | Uint8Array })),
    fc
      .array(fc.tuple(name, value()), { maxLength: 6 })
      .map((params) => ({ body: new URLSearchParams(params).toString() as string | Uint8Array })),
  );

  /** A template bent: each parameter kept or not, some values swapped, some parameters added. */
  const bent = fc
    .record({
      action: fc.constantFrom(...Object.keys(base)),
      keep: fc.array(fc.nat(9), { minLength: 16, maxLength: 16 }),
      swaps: fc.array(fc.tuple(fc.nat(15), value()), { maxLength: 2 }),
      extra: fc.array(fc.tuple(name, value()), { maxLength: 2 }),
      dryRun: fc.boolean(),
      token: fc.option(fc.constantFrom('t1', 't2', 't3'), { freq: 3 }),
    })
    .map(({ action, keep, swaps, extra, dryRun, token }) => {
      const entries = Object.entries(base[action] ?? {});
      const params = entries.filter((_, i) => keep[i] !== 0); // each kept nine times in ten
      for (const [i, v] of swaps) {
        const entry = params[i % Math.max(1, params.length)];
        if (entry) entry[1] = v;
      }
      const search = new URLSearchParams([
        ['Action', action],
        ['Version', '2016-11-15'],
        ...params,
        ...extra,
      ]);
      if (dryRun) search.set('DryRun', 'true');
      if (token) search.set('ClientToken', token);
      return { body: search.toString() as string | Uint8Array, action };
    });

  const request = fc.oneof(
    { weight: 5, arbitrary: bent },
    { weight: 2, arbitrary: nearlyRight },
    { weight: 1, arbitrary: noise.map((r) => ({ ...r, action: undefined })) },
  );
  return request;
}

test(`${RUNS} random requests each get a well-formed answer, and refused ones change nothing`, async () => {
  const seen = { ok: 0, errors: new Map<string, number>() };
  for (let round = 0; round < ROUNDS; round++) {
    const account = String(210_000_000_000 + round);
    const world = await createWorld(account);
    const headers = {
      authorization: `AWS4-HMAC-SHA256 Credential=${account}/20260101/us-east-1/ec2/aws4_request, Signature=0`,
    };
    await fc.assert(
      fc.asyncProperty(requests(world), async ({ body, action }) => {
        const before = fingerprint(env.emulator.world, account);
        const response = await send(env.url, body, { headers });
        expect(response.requestId).toMatch(/^[0-9a-f-]{36}$/);
        expect(isWellFormedXml(response.body), response.body).toBe(true);
        if (response.status === 200) {
          seen.ok++;
          expect(action).toBeDefined();
          expect(response.body).toContain(
            `<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${response.requestId}</requestId>`,
          );
          return;
        }
        const error = parseError(response.body);
        expect(error, response.body).toBeDefined();
        expect(error?.requestId).toBe(response.requestId);
        expect([400, 412, 413], `${error?.code}: ${error?.message}`).toContain(response.status);
        expect(fingerprint(env.emulator.world, account), `${error?.code}: ${error?.message}`).toBe(before);
        const code = error?.code ?? '';
        seen.errors.set(code, (seen.errors.get(code) ?? 0) + 1);
      }),
      { numRuns: RUNS_PER_ROUND },
    );
  }
  // The generator reached into the actions: successes, and refusals from deep inside them.
  expect(seen.ok).toBeGreaterThan(RUNS / 10);
  for (const code of [
    'MissingParameter',
    'InvalidParameterValue',
    'DryRunOperation',
    'IdempotentParameterMismatch',
  ]) {
    expect(seen.errors.get(code), code).toBeGreaterThan(0);
  }
  const out = await ec2For(env.url).send(new DescribeVpcsCommand({}));
  expect(out.$metadata.httpStatusCode).toBe(200);
}, 120_000);
