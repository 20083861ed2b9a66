import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorTargetCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import fc from 'fast-check';
import { beforeAll, expect, test } from 'vitest';
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
const DEFAULT = '123456789012';
const RUNS = 2000;

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

/** Ids of resources that exist, so random requests can name them. */
const ids: string[] = [];

beforeAll(async () => {
  const ec2 = ec2For(env.url, DEFAULT);
  const net = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
  const a = await launch(ec2, net.subnetId, 'm5.large', { k: 'v' });
  const b = await launch(ec2, net.subnetId, 'c5.large');
  const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: net.subnetId }));
  const targetEni = must(eni.NetworkInterface?.NetworkInterfaceId, 'NetworkInterfaceId');
  const target = await ec2.send(new CreateTrafficMirrorTargetCommand({ NetworkInterfaceId: targetEni }));
  const filter = await ec2.send(new CreateTrafficMirrorFilterCommand({}));
  ids.push(
    net.vpcId,
    net.subnetId,
    net.securityGroupId,
    a.instanceId,
    a.eniId,
    b.instanceId,
    b.eniId,
    targetEni,
    must(target.TrafficMirrorTarget?.TrafficMirrorTargetId, 'TrafficMirrorTargetId'),
    must(filter.TrafficMirrorFilter?.TrafficMirrorFilterId, 'TrafficMirrorFilterId'),
  );
});

/** The requests to throw, built once the ids of real resources are known. */
function requests(ids: readonly string[]) {
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

  const request = fc.oneof(
    { weight: 4, arbitrary: nearlyRight },
    { weight: 1, arbitrary: noise.map((r) => ({ ...r, action: undefined })) },
  );
  return request;
}

test(`${RUNS} random requests each get a well-formed answer, and refused ones change nothing`, async () => {
  const seen = { ok: 0, errors: new Map<string, number>() };
  await fc.assert(
    fc.asyncProperty(requests(ids), async ({ body, action }) => {
      const before = fingerprint(env.emulator.world, DEFAULT);
      const response = await send(env.url, body);
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
      expect([400, 412, 413]).toContain(response.status);
      expect(fingerprint(env.emulator.world, DEFAULT), `${error?.code}: ${error?.message}`).toBe(before);
      const code = error?.code ?? '';
      seen.errors.set(code, (seen.errors.get(code) ?? 0) + 1);
    }),
    { numRuns: RUNS },
  );
  // The generator reached past the envelope: successes and refusals from within the actions.
  expect(seen.ok).toBeGreaterThan(RUNS / 50);
  expect(seen.errors.get('MissingParameter')).toBeGreaterThan(0);
  expect(seen.errors.get('InvalidParameterValue')).toBeGreaterThan(0);
  const out = await ec2For(env.url, DEFAULT).send(new DescribeVpcsCommand({}));
  expect(out.Vpcs?.length).toBeGreaterThan(0);
}, 60_000);
