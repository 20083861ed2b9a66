import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import { freshClient, rejectsWith } from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

const env = useEmulator();

describe('CreateVpc and DescribeVpcs', () => {
  it('answers the fields SDK users read, and describes the VPC the same way', async () => {
    const { ec2, account } = freshClient(env.url);

    const created = await ec2.send(
      new CreateVpcCommand({
        CidrBlock: '10.1.0.0/16',
        TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: 'lab' }] }],
      }),
    );
    const vpc = must(created.Vpc, 'Vpc');
    const described = await ec2.send(new DescribeVpcsCommand({ VpcIds: [must(vpc.VpcId, 'VpcId')] }));

    expect(vpc).toMatchObject({
      VpcId: expect.stringMatching(/^vpc-[0-9a-f]{17}$/),
      CidrBlock: '10.1.0.0/16',
      State: 'available',
      OwnerId: account,
      IsDefault: false,
      InstanceTenancy: 'default',
      Tags: [{ Key: 'Name', Value: 'lab' }],
      CidrBlockAssociationSet: [{ CidrBlock: '10.1.0.0/16', CidrBlockState: { State: 'associated' } }],
    });
    expect(described.Vpcs).toEqual([vpc]);
  });

  it.each(['10.0.0.0/15', '10.0.0.0/8', '10.0.0.0/29'])(
    'refuses %s with InvalidVpc.Range (VPCs are /16 to /28)',
    async (cidr) => {
      const { ec2 } = freshClient(env.url);
      await rejectsWith(ec2.send(new CreateVpcCommand({ CidrBlock: cidr })), 'InvalidVpc.Range');
      expect((await ec2.send(new DescribeVpcsCommand({}))).Vpcs).toEqual([]);
    },
  );

  it.each(['10.0.0.0/16', '10.0.0.0/28'])('accepts the bounds %s', async (cidr) => {
    const { ec2 } = freshClient(env.url);
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
    expect(vpc.Vpc?.CidrBlock).toBe(cidr);
  });

  it.each(['10.0.0.1/16', '10.0.0/16', 'fd00::/56', 'ten/16'])(
    'refuses the malformed block %s with InvalidParameterValue',
    async (cidr) => {
      const { ec2 } = freshClient(env.url);
      await rejectsWith(ec2.send(new CreateVpcCommand({ CidrBlock: cidr })), 'InvalidParameterValue');
    },
  );

  it('gives each VPC a default security group', async () => {
    const { ec2 } = freshClient(env.url);
    const vpcId = must(
      (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc?.VpcId,
      'VpcId',
    );

    const groups = await ec2.send(
      new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }),
    );

    expect(groups.SecurityGroups?.map((g) => g.GroupName)).toEqual(['default']);
  });
});

describe('CreateSubnet and DescribeSubnets', () => {
  it('answers the fields SDK users read; a /24 has 251 usable addresses', async () => {
    const { ec2, account } = freshClient(env.url);
    const vpcId = must(
      (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.2.0.0/16' }))).Vpc?.VpcId,
      'VpcId',
    );

    const created = await ec2.send(
      new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.2.1.0/24', AvailabilityZone: 'us-east-1b' }),
    );
    const subnet = must(created.Subnet, 'Subnet');
    const described = await ec2.send(
      new DescribeSubnetsCommand({ SubnetIds: [must(subnet.SubnetId, 'id')] }),
    );

    expect(subnet).toMatchObject({
      SubnetId: expect.stringMatching(/^subnet-[0-9a-f]{17}$/),
      VpcId: vpcId,
      CidrBlock: '10.2.1.0/24',
      AvailabilityZone: 'us-east-1b',
      AvailableIpAddressCount: 251,
      State: 'available',
      OwnerId: account,
      SubnetArn: `arn:aws:ec2:us-east-1:${account}:subnet/${subnet.SubnetId}`,
    });
    expect(described.Subnets).toEqual([subnet]);
  });

  it('puts a subnet in the first zone of the Region when none is named', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.3.0.0/16' });

    const subnets = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [network.subnetId] }));

    expect(subnets.Subnets?.[0]?.AvailabilityZone).toBe('us-east-1a');
  });

  it('refuses a zone of another Region with InvalidParameterValue', async () => {
    const { ec2 } = freshClient(env.url);
    const vpcId = must(
      (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.4.0.0/16' }))).Vpc?.VpcId,
      'VpcId',
    );

    await rejectsWith(
      ec2.send(
        new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.4.0.0/24', AvailabilityZone: 'eu-west-1a' }),
      ),
      'InvalidParameterValue',
    );
  });

  it.each([
    ['outside the VPC', '10.6.0.0/24'],
    ['larger than the VPC', '10.4.0.0/15'],
    ['smaller than /28', '10.5.0.0/29'],
  ])('refuses a block %s with InvalidSubnet.Range', async (_, cidr) => {
    const { ec2 } = freshClient(env.url);
    const vpcId = must(
      (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.5.0.0/16' }))).Vpc?.VpcId,
      'VpcId',
    );

    await rejectsWith(
      ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr })),
      'InvalidSubnet.Range',
    );
    expect((await ec2.send(new DescribeSubnetsCommand({}))).Subnets).toEqual([]);
  });

  it.each([
    ['the same block', '10.7.1.0/24'],
    ['a block inside it', '10.7.1.128/25'],
    ['a block around it', '10.7.0.0/23'],
  ])('refuses %s as an existing subnet with InvalidSubnet.Conflict', async (_, cidr) => {
    const { ec2 } = freshClient(env.url);
    const vpcId = must(
      (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.7.0.0/16' }))).Vpc?.VpcId,
      'VpcId',
    );
    await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.7.1.0/24' }));

    await rejectsWith(
      ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr })),
      'InvalidSubnet.Conflict',
    );
    expect((await ec2.send(new DescribeSubnetsCommand({}))).Subnets).toHaveLength(1);
  });

  it('accepts adjacent subnets, and the same block in another VPC', async () => {
    const { ec2 } = freshClient(env.url);
    const first = await createNetwork(ec2, { cidr: '10.8.0.0/16', subnetCidr: '10.8.0.0/24' });
    const other = must(
      (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.8.0.0/16' }))).Vpc?.VpcId,
      'VpcId',
    );

    await ec2.send(new CreateSubnetCommand({ VpcId: first.vpcId, CidrBlock: '10.8.1.0/24' }));
    await ec2.send(new CreateSubnetCommand({ VpcId: other, CidrBlock: '10.8.0.0/24' }));

    expect((await ec2.send(new DescribeSubnetsCommand({}))).Subnets).toHaveLength(3);
  });
});

describe('security groups', () => {
  it('CreateSecurityGroup answers the id and ARN; DescribeSecurityGroups shows name, description, VPC and egress', async () => {
    const { ec2, account } = freshClient(env.url);
    const vpcId = must(
      (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }))).Vpc?.VpcId,
      'VpcId',
    );

    const created = await ec2.send(
      new CreateSecurityGroupCommand({
        VpcId: vpcId,
        GroupName: 'mirror-target',
        Description: 'VXLAN from sources',
        TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'team', Value: 'sec' }] }],
      }),
    );
    const groupId = must(created.GroupId, 'GroupId');
    const described = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));

    expect(created.SecurityGroupArn).toBe(`arn:aws:ec2:us-east-1:${account}:security-group/${groupId}`);
    expect(created.Tags).toEqual([{ Key: 'team', Value: 'sec' }]);
    expect(described.SecurityGroups).toEqual([
      expect.objectContaining({
        GroupId: groupId,
        GroupName: 'mirror-target',
        Description: 'VXLAN from sources',
        VpcId: vpcId,
        OwnerId: account,
        IpPermissions: [],
        IpPermissionsEgress: [
          expect.objectContaining({ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }),
        ],
        Tags: [{ Key: 'team', Value: 'sec' }],
      }),
    ]);
  });

  it('AuthorizeSecurityGroupIngress adds the rule (UDP 4789 for VXLAN) and answers its rule ids', async () => {
    const { ec2, account } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.10.0.0/16' });

    const out = await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: network.securityGroupId,
        IpPermissions: [
          { IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, IpRanges: [{ CidrIp: '10.10.0.0/16' }] },
        ],
      }),
    );
    const described = await ec2.send(
      new DescribeSecurityGroupsCommand({ GroupIds: [network.securityGroupId] }),
    );

    expect(out.Return).toBe(true);
    expect(out.SecurityGroupRules).toEqual([
      expect.objectContaining({
        SecurityGroupRuleId: expect.stringMatching(/^sgr-/),
        GroupId: network.securityGroupId,
        GroupOwnerId: account,
        IsEgress: false,
        IpProtocol: 'udp',
        FromPort: 4789,
        ToPort: 4789,
        CidrIpv4: '10.10.0.0/16',
      }),
    ]);
    expect(described.SecurityGroups?.[0]?.IpPermissions).toEqual([
      expect.objectContaining({
        IpProtocol: 'udp',
        FromPort: 4789,
        ToPort: 4789,
        IpRanges: [{ CidrIp: '10.10.0.0/16' }],
      }),
    ]);
  });

  it('names protocol 17 udp, as EC2 reports it, and accepts a rule from another group', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.11.0.0/16' });
    const other = must(
      (
        await ec2.send(
          new CreateSecurityGroupCommand({ VpcId: network.vpcId, GroupName: 'src', Description: 'x' }),
        )
      ).GroupId,
      'GroupId',
    );

    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: network.securityGroupId,
        IpPermissions: [
          { IpProtocol: '17', FromPort: 4789, ToPort: 4789, UserIdGroupPairs: [{ GroupId: other }] },
        ],
      }),
    );
    const described = await ec2.send(
      new DescribeSecurityGroupsCommand({ GroupIds: [network.securityGroupId] }),
    );

    expect(described.SecurityGroups?.[0]?.IpPermissions).toEqual([
      expect.objectContaining({
        IpProtocol: 'udp',
        UserIdGroupPairs: [expect.objectContaining({ GroupId: other })],
      }),
    ]);
  });

  it('refuses a rule that exists with InvalidPermission.Duplicate, and TCP without ports with InvalidParameterValue', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.12.0.0/16' });
    const rule = { IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, IpRanges: [{ CidrIp: '10.0.0.0/8' }] };
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupId: network.securityGroupId, IpPermissions: [rule] }),
    );

    await rejectsWith(
      ec2.send(
        new AuthorizeSecurityGroupIngressCommand({ GroupId: network.securityGroupId, IpPermissions: [rule] }),
      ),
      'InvalidPermission.Duplicate',
    );
    await rejectsWith(
      ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: network.securityGroupId,
          IpPermissions: [{ IpProtocol: 'tcp', IpRanges: [{ CidrIp: '10.0.0.0/8' }] }],
        }),
      ),
      'InvalidParameterValue',
    );
    const described = await ec2.send(
      new DescribeSecurityGroupsCommand({ GroupIds: [network.securityGroupId] }),
    );
    expect(described.SecurityGroups?.[0]?.IpPermissions).toHaveLength(1);
  });

  it('refuses a second group of the same name in a VPC (InvalidGroup.Duplicate) and the name default (InvalidGroup.Reserved)', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.13.0.0/16' });

    await rejectsWith(
      ec2.send(
        new CreateSecurityGroupCommand({ VpcId: network.vpcId, GroupName: 'app', Description: 'again' }),
      ),
      'InvalidGroup.Duplicate',
    );
    await rejectsWith(
      ec2.send(
        new CreateSecurityGroupCommand({ VpcId: network.vpcId, GroupName: 'default', Description: 'x' }),
      ),
      'InvalidGroup.Reserved',
    );
  });

  it('describes groups by name; an unknown name is InvalidGroup.NotFound', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.14.0.0/16' });

    const byName = await ec2.send(new DescribeSecurityGroupsCommand({ GroupNames: ['app'] }));

    expect(byName.SecurityGroups?.map((g) => g.GroupId)).toEqual([network.securityGroupId]);
    await rejectsWith(
      ec2.send(new DescribeSecurityGroupsCommand({ GroupNames: ['nope'] })),
      'InvalidGroup.NotFound',
    );
  });

  it('without a VPC id answers VPCIdNotSpecified: the emulator has no default VPC', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      ec2.send(new CreateSecurityGroupCommand({ GroupName: 'x', Description: 'no vpc' })),
      'VPCIdNotSpecified',
    );
  });
});
