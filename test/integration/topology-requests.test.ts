import {
  AttachNetworkInterfaceCommand,
  type AttachNetworkInterfaceCommandInput,
  AuthorizeSecurityGroupIngressCommand,
  type AuthorizeSecurityGroupIngressCommandInput,
  CreateNetworkInterfaceCommand,
  type CreateNetworkInterfaceCommandInput,
  CreateSecurityGroupCommand,
  type CreateSecurityGroupCommandInput,
  CreateSubnetCommand,
  type CreateSubnetCommandInput,
  CreateTagsCommand,
  type CreateTagsCommandInput,
  CreateVpcCommand,
  type CreateVpcCommandInput,
  DeleteNetworkInterfaceCommand,
  type DeleteNetworkInterfaceCommandInput,
  DeleteTagsCommand,
  type DeleteTagsCommandInput,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeTagsCommand,
  DescribeVpcsCommand,
  type EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
  type TerminateInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { freshClient, rejectsWith } from '../support/mirroring.ts';
import { createNetwork, type Launched, launch, must, type Network } from '../support/topology.ts';

const env = useEmulator();

/** Everything an account holds in the Region, as the SDK reads it back. */
async function snapshot(ec2: EC2Client) {
  const [vpcs, subnets, groups, instances, enis, tags] = await Promise.all([
    ec2.send(new DescribeVpcsCommand({})),
    ec2.send(new DescribeSubnetsCommand({})),
    ec2.send(new DescribeSecurityGroupsCommand({})),
    ec2.send(new DescribeInstancesCommand({})),
    ec2.send(new DescribeNetworkInterfacesCommand({})),
    ec2.send(new DescribeTagsCommand({})),
  ]);
  return {
    vpcs: vpcs.Vpcs,
    subnets: subnets.Subnets,
    groups: groups.SecurityGroups,
    instances: instances.Reservations,
    enis: enis.NetworkInterfaces,
    tags: tags.Tags,
  };
}

interface World {
  network: Network;
  instance: Launched;
  /** An ENI that is not attached. */
  spareEniId: string;
}

/** A network, a running instance, a spare ENI and a tag, in a fresh account. */
async function prepare(): Promise<{ ec2: EC2Client; world: World }> {
  const { ec2 } = freshClient(env.url);
  const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.0.0/24' });
  const instance = await launch(ec2, network.subnetId, 'm5.large', { keep: 'me' });
  const spare = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }));
  return {
    ec2,
    world: { network, instance, spareEniId: must(spare.NetworkInterface?.NetworkInterfaceId, 'spare ENI') },
  };
}

type Call = (ec2: EC2Client, w: World) => Promise<unknown>;

/** Every mutating topology action, with valid parameters and DryRun set. */
const dryRuns: [string, Call][] = [
  ['CreateVpc', (ec2) => ec2.send(new CreateVpcCommand({ CidrBlock: '10.1.0.0/16', DryRun: true }))],
  [
    'CreateSubnet',
    (ec2, w) =>
      ec2.send(new CreateSubnetCommand({ VpcId: w.network.vpcId, CidrBlock: '10.0.1.0/24', DryRun: true })),
  ],
  [
    'CreateSecurityGroup',
    (ec2, w) =>
      ec2.send(
        new CreateSecurityGroupCommand({
          VpcId: w.network.vpcId,
          GroupName: 'g2',
          Description: 'd',
          DryRun: true,
        }),
      ),
  ],
  [
    'AuthorizeSecurityGroupIngress',
    (ec2, w) =>
      ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: w.network.securityGroupId,
          IpPermissions: [
            { IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, IpRanges: [{ CidrIp: '10.0.0.0/16' }] },
          ],
          DryRun: true,
        }),
      ),
  ],
  [
    'RunInstances',
    (ec2, w) =>
      ec2.send(
        new RunInstancesCommand({
          MinCount: 1,
          MaxCount: 1,
          InstanceType: 'm5.large',
          SubnetId: w.network.subnetId,
          ClientToken: 'dry',
          DryRun: true,
        }),
      ),
  ],
  [
    'TerminateInstances',
    (ec2, w) =>
      ec2.send(new TerminateInstancesCommand({ InstanceIds: [w.instance.instanceId], DryRun: true })),
  ],
  [
    'CreateNetworkInterface',
    (ec2, w) =>
      ec2.send(
        new CreateNetworkInterfaceCommand({ SubnetId: w.network.subnetId, ClientToken: 'dry', DryRun: true }),
      ),
  ],
  [
    'AttachNetworkInterface',
    (ec2, w) =>
      ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: w.spareEniId,
          InstanceId: w.instance.instanceId,
          DeviceIndex: 1,
          DryRun: true,
        }),
      ),
  ],
  [
    'DeleteNetworkInterface',
    (ec2, w) =>
      ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: w.spareEniId, DryRun: true })),
  ],
  [
    'CreateTags',
    (ec2, w) =>
      ec2.send(
        new CreateTagsCommand({
          Resources: [w.network.vpcId],
          Tags: [{ Key: 'new', Value: 'x' }],
          DryRun: true,
        }),
      ),
  ],
  [
    'DeleteTags',
    (ec2, w) => ec2.send(new DeleteTagsCommand({ Resources: [w.instance.instanceId], DryRun: true })),
  ],
];

describe('DryRun', () => {
  it.each(dryRuns)('%s answers DryRunOperation (HTTP 412) and changes nothing', async (_, call) => {
    const { ec2, world } = await prepare();
    const before = await snapshot(ec2);

    const error = await call(ec2, world).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toMatchObject({ name: 'DryRunOperation', $metadata: { httpStatusCode: 412 } });
    expect(await snapshot(ec2)).toEqual(before);
  });

  it('still validates: a DryRun with an unknown id answers the NotFound code, not DryRunOperation', async () => {
    const { ec2 } = await prepare();

    await rejectsWith(
      ec2.send(new TerminateInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'], DryRun: true })),
      'InvalidInstanceID.NotFound',
    );
  });

  it('a DryRun repeating a used ClientToken answers DryRunOperation and launches nothing', async () => {
    const { ec2, world } = await prepare();
    const input = {
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 'm5.large' as const,
      SubnetId: world.network.subnetId,
    };
    await ec2.send(new RunInstancesCommand({ ...input, ClientToken: 'used' }));
    const before = await snapshot(ec2);

    await rejectsWith(
      ec2.send(new RunInstancesCommand({ ...input, ClientToken: 'used', DryRun: true })),
      'DryRunOperation',
    );

    expect(await snapshot(ec2)).toEqual(before);
  });

  it('Describe calls answer DryRunOperation too', async () => {
    const { ec2 } = await prepare();

    await rejectsWith(ec2.send(new DescribeInstancesCommand({ DryRun: true })), 'DryRunOperation');
    await rejectsWith(ec2.send(new DescribeTagsCommand({ DryRun: true })), 'DryRunOperation');
  });
});

/** Each required parameter left out in turn (the SDK sends what it is given; the casts allow the omission). */
const missing: [string, Call][] = [
  ['CreateVpc without CidrBlock', (ec2) => ec2.send(new CreateVpcCommand({} as CreateVpcCommandInput))],
  [
    'CreateSubnet without VpcId',
    (ec2) => ec2.send(new CreateSubnetCommand({ CidrBlock: '10.0.1.0/24' } as CreateSubnetCommandInput)),
  ],
  [
    'CreateSubnet without CidrBlock',
    (ec2, w) => ec2.send(new CreateSubnetCommand({ VpcId: w.network.vpcId } as CreateSubnetCommandInput)),
  ],
  [
    'CreateSecurityGroup without GroupName',
    (ec2, w) =>
      ec2.send(
        new CreateSecurityGroupCommand({
          VpcId: w.network.vpcId,
          Description: 'd',
        } as CreateSecurityGroupCommandInput),
      ),
  ],
  [
    'CreateSecurityGroup without Description',
    (ec2, w) =>
      ec2.send(
        new CreateSecurityGroupCommand({
          VpcId: w.network.vpcId,
          GroupName: 'g',
        } as CreateSecurityGroupCommandInput),
      ),
  ],
  [
    'AuthorizeSecurityGroupIngress without GroupId',
    (ec2) =>
      ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '10.0.0.0/8' }] }],
        } as AuthorizeSecurityGroupIngressCommandInput),
      ),
  ],
  [
    'AuthorizeSecurityGroupIngress without permissions',
    (ec2, w) => ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: w.network.securityGroupId })),
  ],
  [
    'RunInstances without MinCount',
    (ec2, w) =>
      ec2.send(
        new RunInstancesCommand({ MaxCount: 1, SubnetId: w.network.subnetId } as RunInstancesCommandInput),
      ),
  ],
  [
    'RunInstances without MaxCount',
    (ec2, w) =>
      ec2.send(
        new RunInstancesCommand({ MinCount: 1, SubnetId: w.network.subnetId } as RunInstancesCommandInput),
      ),
  ],
  [
    'TerminateInstances without InstanceIds',
    (ec2) => ec2.send(new TerminateInstancesCommand({} as TerminateInstancesCommandInput)),
  ],
  [
    'CreateNetworkInterface without SubnetId',
    (ec2) =>
      ec2.send(
        new CreateNetworkInterfaceCommand({
          Description: 'x',
          ClientToken: 'm',
        } as CreateNetworkInterfaceCommandInput),
      ),
  ],
  [
    'AttachNetworkInterface without DeviceIndex',
    (ec2, w) =>
      ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: w.spareEniId,
          InstanceId: w.instance.instanceId,
        } as AttachNetworkInterfaceCommandInput),
      ),
  ],
  [
    'AttachNetworkInterface without InstanceId',
    (ec2, w) =>
      ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: w.spareEniId,
          DeviceIndex: 1,
        } as AttachNetworkInterfaceCommandInput),
      ),
  ],
  [
    'AttachNetworkInterface without NetworkInterfaceId',
    (ec2, w) =>
      ec2.send(
        new AttachNetworkInterfaceCommand({
          InstanceId: w.instance.instanceId,
          DeviceIndex: 1,
        } as AttachNetworkInterfaceCommandInput),
      ),
  ],
  [
    'DeleteNetworkInterface without NetworkInterfaceId',
    (ec2) => ec2.send(new DeleteNetworkInterfaceCommand({} as DeleteNetworkInterfaceCommandInput)),
  ],
  [
    'CreateTags without Resources',
    (ec2) => ec2.send(new CreateTagsCommand({ Tags: [{ Key: 'a', Value: 'b' }] } as CreateTagsCommandInput)),
  ],
  [
    'CreateTags without Tags',
    (ec2, w) => ec2.send(new CreateTagsCommand({ Resources: [w.network.vpcId] } as CreateTagsCommandInput)),
  ],
  [
    'DeleteTags without Resources',
    (ec2) => ec2.send(new DeleteTagsCommand({ Tags: [{ Key: 'keep' }] } as DeleteTagsCommandInput)),
  ],
];

describe('missing required parameters', () => {
  it.each(missing)('%s answers MissingParameter and changes nothing', async (_, call) => {
    const { ec2, world } = await prepare();
    const before = await snapshot(ec2);

    await rejectsWith(call(ec2, world), 'MissingParameter');

    expect(await snapshot(ec2)).toEqual(before);
  });
});

describe('accounts and Regions', () => {
  it('an instance of 111111111111 is invisible to 222222222222 and to its own account in another Region', async () => {
    const owner = ec2For(env.url, '111111111111');
    const other = ec2For(env.url, '222222222222');
    const elsewhere = ec2For(env.url, '111111111111', 'eu-west-1');
    const network = await createNetwork(owner);
    const { instanceId, eniId } = await launch(owner, network.subnetId);

    const seenByOther = await other.send(new DescribeInstancesCommand({}));
    const seenElsewhere = await elsewhere.send(new DescribeInstancesCommand({}));

    expect(seenByOther.Reservations).toEqual([]);
    expect(seenElsewhere.Reservations).toEqual([]);
    for (const client of [other, elsewhere]) {
      await rejectsWith(
        client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
        'InvalidInstanceID.NotFound',
      );
      await rejectsWith(
        client.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] })),
        'InvalidNetworkInterfaceID.NotFound',
      );
      await rejectsWith(
        client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })),
        'InvalidInstanceID.NotFound',
      );
      await rejectsWith(
        client.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'x', Value: 'y' }] })),
        'InvalidInstanceID.NotFound',
      );
    }
    const own = await owner.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    expect(own.Reservations?.[0]?.Instances?.[0]).toMatchObject({ State: { Name: 'running' }, Tags: [] });
    expect(own.Reservations?.[0]?.OwnerId).toBe('111111111111');
  });

  it.each([
    ['an AWS-style key', 'AKIAIOSFODNN7EXAMPLE'],
    ['eleven digits', '11111111111'],
    ['thirteen digits', '1111111111111'],
  ])('%s selects account 123456789012', async (_, key) => {
    const client = ec2For(env.url, key, 'ap-south-1');
    const byAccount = ec2For(env.url, '123456789012', 'ap-south-1');

    const vpc = await client.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
    const seen = await byAccount.send(new DescribeVpcsCommand({ VpcIds: [must(vpc.Vpc?.VpcId, 'VpcId')] }));

    expect(vpc.Vpc?.OwnerId).toBe('123456789012');
    expect(seen.Vpcs?.[0]?.OwnerId).toBe('123456789012');
  });

  it('takes the Region from the credential scope: zones and ARNs are of that Region', async () => {
    const ec2 = ec2For(env.url, '333333333333', 'eu-central-1');

    const network = await createNetwork(ec2);
    const subnet = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [network.subnetId] }));

    expect(subnet.Subnets?.[0]).toMatchObject({
      AvailabilityZone: 'eu-central-1a',
      SubnetArn: `arn:aws:ec2:eu-central-1:333333333333:subnet/${network.subnetId}`,
    });
  });
});
