import {
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  type CreateNetworkInterfaceCommandInput,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  DeleteNetworkInterfaceCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  type EC2Client,
  type Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import { freshClient, rejectsWith } from '../support/mirroring.ts';
import { createNetwork, launch, must } from '../support/topology.ts';

const env = useEmulator();

const run = (ec2: EC2Client, input: Partial<RunInstancesCommandInput> & { SubnetId: string }) =>
  ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, InstanceType: 'm5.large', ...input }));

async function describeInstance(ec2: EC2Client, instanceId: string): Promise<Instance> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return must(out.Reservations?.[0]?.Instances?.[0], `instance ${instanceId}`);
}

const allInstances = async (ec2: EC2Client) =>
  ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);

const allEnis = async (ec2: EC2Client) =>
  (await ec2.send(new DescribeNetworkInterfacesCommand({}))).NetworkInterfaces ?? [];

async function freeAddresses(ec2: EC2Client, subnetId: string): Promise<number> {
  const out = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] }));
  return must(out.Subnets?.[0]?.AvailableIpAddressCount, 'AvailableIpAddressCount');
}

describe('RunInstances', () => {
  it('answers pending instances with the fields SDK users read, and describes them running', async () => {
    const { ec2, account } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.1.0/24' });

    const out = await run(ec2, {
      SubnetId: network.subnetId,
      InstanceType: 'c5.xlarge',
      ImageId: 'ami-0123456789abcdef0',
      SecurityGroupIds: [network.securityGroupId],
      ClientToken: 'launch-fields',
    });
    const launched = must(out.Instances?.[0], 'Instances[0]');
    const instanceId = must(launched.InstanceId, 'InstanceId');
    const described = await describeInstance(ec2, instanceId);

    expect(out.ReservationId).toMatch(/^r-[0-9a-f]{17}$/);
    expect(out.OwnerId).toBe(account);
    expect(launched).toMatchObject({
      InstanceId: expect.stringMatching(/^i-[0-9a-f]{17}$/),
      State: { Code: 0, Name: 'pending' },
      InstanceType: 'c5.xlarge',
      ImageId: 'ami-0123456789abcdef0',
      SubnetId: network.subnetId,
      VpcId: network.vpcId,
      PrivateIpAddress: '10.0.1.4',
      ClientToken: 'launch-fields',
      AmiLaunchIndex: 0,
      Placement: expect.objectContaining({ AvailabilityZone: 'us-east-1a' }),
      SecurityGroups: [{ GroupId: network.securityGroupId, GroupName: 'app' }],
    });
    expect(launched.LaunchTime).toBeInstanceOf(Date);
    expect(described).toMatchObject({ InstanceId: instanceId, State: { Code: 16, Name: 'running' } });
    expect(described.NetworkInterfaces).toEqual([
      expect.objectContaining({
        NetworkInterfaceId: expect.stringMatching(/^eni-/),
        SubnetId: network.subnetId,
        VpcId: network.vpcId,
        PrivateIpAddress: '10.0.1.4',
        Status: 'in-use',
        Attachment: expect.objectContaining({
          DeviceIndex: 0,
          Status: 'attached',
          DeleteOnTermination: true,
        }),
        Groups: [{ GroupId: network.securityGroupId, GroupName: 'app' }],
      }),
    ]);
  });

  it('creates the primary ENI: attached to the instance at device index 0, with the next free address', async () => {
    const { ec2, account } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.2.0/24' });
    const first = await launch(ec2, network.subnetId);

    const second = await launch(ec2, network.subnetId);
    const enis = await ec2.send(
      new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [first.eniId, second.eniId] }),
    );

    expect([first.privateIpAddress, second.privateIpAddress]).toEqual(['10.0.2.4', '10.0.2.5']);
    expect(enis.NetworkInterfaces).toEqual([
      expect.objectContaining({
        NetworkInterfaceId: first.eniId,
        Status: 'in-use',
        OwnerId: account,
        InterfaceType: 'interface',
        Attachment: expect.objectContaining({
          InstanceId: first.instanceId,
          DeviceIndex: 0,
          InstanceOwnerId: account,
        }),
      }),
      expect.objectContaining({
        NetworkInterfaceId: second.eniId,
        Attachment: expect.objectContaining({ InstanceId: second.instanceId, DeviceIndex: 0 }),
      }),
    ]);
  });

  it('puts instances without security groups in the VPC default group', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const defaults = await ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [network.vpcId] },
          { Name: 'group-name', Values: ['default'] },
        ],
      }),
    );

    const out = await run(ec2, { SubnetId: network.subnetId });

    expect(out.Instances?.[0]?.SecurityGroups?.map((g) => g.GroupId)).toEqual([
      defaults.SecurityGroups?.[0]?.GroupId,
    ]);
  });

  it('launches MaxCount instances in one reservation, and DescribeInstances groups them so', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });

    const out = await run(ec2, { SubnetId: network.subnetId, MinCount: 2, MaxCount: 3 });
    const described = await ec2.send(new DescribeInstancesCommand({}));

    expect(out.Instances?.map((i) => i.AmiLaunchIndex)).toEqual([0, 1, 2]);
    expect(described.Reservations).toHaveLength(1);
    expect(described.Reservations?.[0]?.ReservationId).toBe(out.ReservationId);
    expect(described.Reservations?.[0]?.Instances?.map((i) => i.InstanceId)).toEqual(
      out.Instances?.map((i) => i.InstanceId),
    );
  });

  it('launches fewer than MaxCount when the subnet has room for at least MinCount', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.0.0/28' });

    const out = await run(ec2, { SubnetId: network.subnetId, MinCount: 2, MaxCount: 20 });

    expect(out.Instances).toHaveLength(11);
    expect(await freeAddresses(ec2, network.subnetId)).toBe(0);
  });

  it('refuses MinCount beyond the free addresses with InsufficientFreeAddressesInSubnet, launching none', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.0.0/28' });

    await rejectsWith(
      run(ec2, { SubnetId: network.subnetId, MinCount: 12, MaxCount: 12 }),
      'InsufficientFreeAddressesInSubnet',
    );

    expect(await allInstances(ec2)).toEqual([]);
    expect(await allEnis(ec2)).toEqual([]);
    expect(await freeAddresses(ec2, network.subnetId)).toBe(11);
  });

  it.each([
    ['MinCount above MaxCount', { MinCount: 3, MaxCount: 2 }],
    ['MinCount 0', { MinCount: 0, MaxCount: 1 }],
    ['MaxCount 0', { MinCount: 1, MaxCount: 0 }],
    ['a malformed instance type', { InstanceType: 'large' as RunInstancesCommandInput['InstanceType'] }],
    [
      'a tag spec for a VPC',
      { TagSpecifications: [{ ResourceType: 'vpc' as const, Tags: [{ Key: 'a', Value: 'b' }] }] },
    ],
  ])('refuses %s with InvalidParameterValue and launches nothing', async (_, input) => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });

    await rejectsWith(run(ec2, { SubnetId: network.subnetId, ...input }), 'InvalidParameterValue');

    expect(await allInstances(ec2)).toEqual([]);
  });

  it('tags the instance and its primary ENI from TagSpecifications', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });

    const out = await run(ec2, {
      SubnetId: network.subnetId,
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [{ Key: 'mirror', Value: 'baseline' }] },
        { ResourceType: 'network-interface', Tags: [{ Key: 'role', Value: 'source' }] },
      ],
    });
    const instance = must(out.Instances?.[0], 'instance');
    const eniId = must(instance.NetworkInterfaces?.[0]?.NetworkInterfaceId, 'eni');
    const eni = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] }));

    expect(instance.Tags).toEqual([{ Key: 'mirror', Value: 'baseline' }]);
    expect((await describeInstance(ec2, must(instance.InstanceId, 'id'))).Tags).toEqual([
      { Key: 'mirror', Value: 'baseline' },
    ]);
    expect(eni.NetworkInterfaces?.[0]?.TagSet).toEqual([{ Key: 'role', Value: 'source' }]);
  });

  it('refuses 51 tags with TagLimitExceeded and a key starting aws: with InvalidParameterValue', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const tags = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));

    await rejectsWith(
      run(ec2, { SubnetId: network.subnetId, TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] }),
      'TagLimitExceeded',
    );
    await rejectsWith(
      run(ec2, {
        SubnetId: network.subnetId,
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'aws:owner', Value: 'x' }] }],
      }),
      'InvalidParameterValue',
    );
    expect(await allInstances(ec2)).toEqual([]);
  });

  it('refuses a security group of another VPC with InvalidParameter, an unknown one with InvalidGroup.NotFound', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const other = await createNetwork(ec2, { cidr: '10.1.0.0/16' });

    await rejectsWith(
      run(ec2, { SubnetId: network.subnetId, SecurityGroupIds: [other.securityGroupId] }),
      'InvalidParameter',
    );
    await rejectsWith(
      run(ec2, { SubnetId: network.subnetId, SecurityGroupIds: ['sg-0123456789abcdef0'] }),
      'InvalidGroup.NotFound',
    );
    expect(await allInstances(ec2)).toEqual([]);
  });

  it('without a subnet answers VPCIdNotSpecified (no default VPC); an unknown subnet InvalidSubnetID.NotFound', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, InstanceType: 'm5.large' })),
      'VPCIdNotSpecified',
    );
    await rejectsWith(run(ec2, { SubnetId: 'subnet-0123456789abcdef0' }), 'InvalidSubnetID.NotFound');
  });
});

describe('ClientToken', () => {
  it('RunInstances with the same token and parameters returns the first instances and launches no more', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const input = { SubnetId: network.subnetId, ClientToken: 'retry-1' };

    const first = await run(ec2, input);
    const again = await run(ec2, input);

    expect(again.ReservationId).toBe(first.ReservationId);
    expect(again.Instances?.map((i) => i.InstanceId)).toEqual(first.Instances?.map((i) => i.InstanceId));
    expect(await allInstances(ec2)).toHaveLength(1);
  });

  it('RunInstances sent ten times at once with one token launches one instance', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });

    const answers = await Promise.all(
      Array.from({ length: 10 }, () => run(ec2, { SubnetId: network.subnetId, ClientToken: 'burst' })),
    );

    expect(new Set(answers.map((a) => a.Instances?.[0]?.InstanceId)).size).toBe(1);
    expect(await allInstances(ec2)).toHaveLength(1);
  });

  it('RunInstances with the same token and other parameters is IdempotentParameterMismatch; another token launches anew', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    await run(ec2, { SubnetId: network.subnetId, ClientToken: 'once' });

    await rejectsWith(
      run(ec2, { SubnetId: network.subnetId, ClientToken: 'once', InstanceType: 'c5.large' }),
      'IdempotentParameterMismatch',
    );
    await run(ec2, { SubnetId: network.subnetId, ClientToken: 'twice' });

    expect(await allInstances(ec2)).toHaveLength(2);
  });

  it('CreateNetworkInterface with the same token returns the same ENI, also when sent at once; other parameters mismatch', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const input = { SubnetId: network.subnetId, Description: 'target', ClientToken: 'eni-1' };

    const answers = await Promise.all(
      Array.from({ length: 5 }, () => ec2.send(new CreateNetworkInterfaceCommand(input))),
    );
    const later = await ec2.send(new CreateNetworkInterfaceCommand(input));

    const ids = new Set([...answers, later].map((a) => a.NetworkInterface?.NetworkInterfaceId));
    expect(ids.size).toBe(1);
    expect(later.ClientToken).toBe('eni-1');
    expect(await allEnis(ec2)).toHaveLength(1);
    await rejectsWith(
      ec2.send(new CreateNetworkInterfaceCommand({ ...input, Description: 'other' })),
      'IdempotentParameterMismatch',
    );
    expect(await allEnis(ec2)).toHaveLength(1);
  });

  it('a value holding & and = does not pass for other parameters under the same token', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    await ec2.send(
      new CreateNetworkInterfaceCommand({
        SubnetId: network.subnetId,
        Description: `x&SecurityGroupId.1=${network.securityGroupId}`,
        ClientToken: 'look-alike',
      }),
    );

    await rejectsWith(
      ec2.send(
        new CreateNetworkInterfaceCommand({
          SubnetId: network.subnetId,
          Description: 'x',
          Groups: [network.securityGroupId],
          ClientToken: 'look-alike',
        }),
      ),
      'IdempotentParameterMismatch',
    );
  });

  it('a token is scoped to its account', async () => {
    const a = freshClient(env.url);
    const b = freshClient(env.url);
    const netA = await createNetwork(a.ec2, { cidr: '10.0.0.0/16' });
    const netB = await createNetwork(b.ec2, { cidr: '10.0.0.0/16' });

    const inA = await run(a.ec2, { SubnetId: netA.subnetId, ClientToken: 'shared-token' });
    const inB = await run(b.ec2, { SubnetId: netB.subnetId, ClientToken: 'shared-token' });

    expect(inB.Instances?.[0]?.InstanceId).not.toBe(inA.Instances?.[0]?.InstanceId);
  });
});

describe('TerminateInstances', () => {
  it('answers shutting-down, describes shutting-down then terminated, and keeps the instance visible', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const { instanceId } = await launch(ec2, network.subnetId);

    const out = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    const first = await describeInstance(ec2, instanceId);
    const second = await describeInstance(ec2, instanceId);

    expect(out.TerminatingInstances).toEqual([
      {
        InstanceId: instanceId,
        PreviousState: { Code: 16, Name: 'running' },
        CurrentState: { Code: 32, Name: 'shutting-down' },
      },
    ]);
    expect(first.State).toEqual({ Code: 32, Name: 'shutting-down' });
    expect(second.State).toEqual({ Code: 48, Name: 'terminated' });
    expect(second.StateReason?.Code).toBe('Client.UserInitiatedShutdown');
    expect(second.VpcId).toBeUndefined();
  });

  it('deletes the primary ENI and frees its address; a secondary ENI is detached and available', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.0.0/24' });
    const { instanceId, eniId } = await launch(ec2, network.subnetId);
    const secondary = must(
      (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }))).NetworkInterface
        ?.NetworkInterfaceId,
      'eni',
    );
    await ec2.send(
      new AttachNetworkInterfaceCommand({
        NetworkInterfaceId: secondary,
        InstanceId: instanceId,
        DeviceIndex: 1,
      }),
    );
    const freeBefore = await freeAddresses(ec2, network.subnetId);

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));

    await rejectsWith(
      ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] })),
      'InvalidNetworkInterfaceID.NotFound',
    );
    const left = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [secondary] }));
    expect(left.NetworkInterfaces?.[0]?.Status).toBe('available');
    expect(left.NetworkInterfaces?.[0]?.Attachment).toBeUndefined();
    expect(await freeAddresses(ec2, network.subnetId)).toBe(freeBefore + 1);
    expect((await describeInstance(ec2, instanceId)).NetworkInterfaces).toEqual([]);
  });

  it('drops out of instance-state-name=running at once', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const kept = await launch(ec2, network.subnetId);
    const gone = await launch(ec2, network.subnetId);

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone.instanceId] }));
    const running = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['running'] }] }),
    );

    expect(running.Reservations?.flatMap((r) => r.Instances?.map((i) => i.InstanceId))).toEqual([
      kept.instanceId,
    ]);
  });

  it('a second termination reports the state as it is; an unknown id is InvalidInstanceID.NotFound and changes nothing', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const { instanceId } = await launch(ec2, network.subnetId);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    await describeInstance(ec2, instanceId);
    await describeInstance(ec2, instanceId);

    const again = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    const live = await launch(ec2, network.subnetId);
    await rejectsWith(
      ec2.send(new TerminateInstancesCommand({ InstanceIds: [live.instanceId, 'i-0123456789abcdef0'] })),
      'InvalidInstanceID.NotFound',
    );

    expect(again.TerminatingInstances?.[0]?.PreviousState?.Name).toBe('terminated');
    expect(again.TerminatingInstances?.[0]?.CurrentState?.Name).toBe('terminated');
    expect((await describeInstance(ec2, live.instanceId)).State?.Name).toBe('running');
  });
});

describe('network interfaces', () => {
  it('CreateNetworkInterface answers the fields SDK users read', async () => {
    const { ec2, account } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.5.0/24' });

    const out = await ec2.send(
      new CreateNetworkInterfaceCommand({
        SubnetId: network.subnetId,
        Description: 'mirror target',
        Groups: [network.securityGroupId],
        TagSpecifications: [{ ResourceType: 'network-interface', Tags: [{ Key: 'role', Value: 'target' }] }],
      }),
    );
    const eni = must(out.NetworkInterface, 'NetworkInterface');
    const described = await ec2.send(
      new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [must(eni.NetworkInterfaceId, 'id')] }),
    );

    expect(eni).toMatchObject({
      NetworkInterfaceId: expect.stringMatching(/^eni-[0-9a-f]{17}$/),
      SubnetId: network.subnetId,
      VpcId: network.vpcId,
      AvailabilityZone: 'us-east-1a',
      Description: 'mirror target',
      OwnerId: account,
      Status: 'available',
      InterfaceType: 'interface',
      PrivateIpAddress: '10.0.5.4',
      MacAddress: expect.stringMatching(/^02(:[0-9a-f]{2}){5}$/),
      Groups: [{ GroupId: network.securityGroupId, GroupName: 'app' }],
      PrivateIpAddresses: [{ PrivateIpAddress: '10.0.5.4', Primary: true }],
      TagSet: [{ Key: 'role', Value: 'target' }],
    });
    expect(eni.Attachment).toBeUndefined();
    expect(described.NetworkInterfaces).toEqual([eni]);
  });

  it('takes a requested private address; one in use is InvalidIPAddress.InUse, one outside the subnet InvalidParameterValue', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.5.0/24' });

    const out = await ec2.send(
      new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId, PrivateIpAddress: '10.0.5.77' }),
    );
    await rejectsWith(
      ec2.send(
        new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId, PrivateIpAddress: '10.0.5.77' }),
      ),
      'InvalidIPAddress.InUse',
    );
    await rejectsWith(
      ec2.send(
        new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId, PrivateIpAddress: '10.0.6.1' }),
      ),
      'InvalidParameterValue',
    );

    expect(out.NetworkInterface?.PrivateIpAddress).toBe('10.0.5.77');
    expect(await allEnis(ec2)).toHaveLength(1);
  });

  it('AttachNetworkInterface shows the ENI on the instance at device index 1, and the ENI in use', async () => {
    const { ec2, account } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const { instanceId, eniId } = await launch(ec2, network.subnetId);
    const second = must(
      (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }))).NetworkInterface
        ?.NetworkInterfaceId,
      'eni',
    );

    const out = await ec2.send(
      new AttachNetworkInterfaceCommand({
        NetworkInterfaceId: second,
        InstanceId: instanceId,
        DeviceIndex: 1,
      }),
    );
    const instance = await describeInstance(ec2, instanceId);
    const eni = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [second] }));

    expect(out.AttachmentId).toMatch(/^eni-attach-/);
    expect(out.NetworkCardIndex).toBe(0);
    expect(instance.NetworkInterfaces?.map((n) => [n.NetworkInterfaceId, n.Attachment?.DeviceIndex])).toEqual(
      [
        [eniId, 0],
        [second, 1],
      ],
    );
    expect(eni.NetworkInterfaces?.[0]).toMatchObject({
      Status: 'in-use',
      Attachment: {
        AttachmentId: out.AttachmentId,
        InstanceId: instanceId,
        InstanceOwnerId: account,
        DeviceIndex: 1,
        Status: 'attached',
        DeleteOnTermination: false,
      },
    });
  });

  it('refuses an ENI in use (InvalidNetworkInterface.InUse) and a taken device index (InvalidParameterValue)', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const a = await launch(ec2, network.subnetId);
    const b = await launch(ec2, network.subnetId);
    const spare = must(
      (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }))).NetworkInterface
        ?.NetworkInterfaceId,
      'eni',
    );

    await rejectsWith(
      ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: a.eniId,
          InstanceId: b.instanceId,
          DeviceIndex: 1,
        }),
      ),
      'InvalidNetworkInterface.InUse',
    );
    await rejectsWith(
      ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: spare,
          InstanceId: b.instanceId,
          DeviceIndex: 0,
        }),
      ),
      'InvalidParameterValue',
    );

    const eni = await ec2.send(
      new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [spare, a.eniId] }),
    );
    expect(eni.NetworkInterfaces?.map((n) => [n.Status, n.Attachment?.InstanceId])).toEqual([
      ['in-use', a.instanceId],
      ['available', undefined],
    ]);
  });

  it('refuses an ENI of another zone (InvalidParameterCombination) and a terminated instance (IncorrectInstanceState)', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.0.0/24' });
    const otherZone = must(
      (
        await ec2.send(
          new CreateSubnetCommand({
            VpcId: network.vpcId,
            CidrBlock: '10.0.1.0/24',
            AvailabilityZone: 'us-east-1b',
          }),
        )
      ).Subnet?.SubnetId,
      'subnet',
    );
    const far = must(
      (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: otherZone }))).NetworkInterface
        ?.NetworkInterfaceId,
      'eni',
    );
    const near = must(
      (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }))).NetworkInterface
        ?.NetworkInterfaceId,
      'eni',
    );
    const { instanceId } = await launch(ec2, network.subnetId);

    await rejectsWith(
      ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: far,
          InstanceId: instanceId,
          DeviceIndex: 1,
        }),
      ),
      'InvalidParameterCombination',
    );
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    await rejectsWith(
      ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: near,
          InstanceId: instanceId,
          DeviceIndex: 1,
        }),
      ),
      'IncorrectInstanceState',
    );
  });

  it('DeleteNetworkInterface refuses an attached ENI (InvalidParameterValue) and deletes a detached one', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const { eniId } = await launch(ec2, network.subnetId);
    const spare = must(
      (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }))).NetworkInterface
        ?.NetworkInterfaceId,
      'eni',
    );
    const freeBefore = await freeAddresses(ec2, network.subnetId);

    await rejectsWith(
      ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eniId })),
      'InvalidParameterValue',
    );
    await ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: spare }));

    expect((await allEnis(ec2)).map((n) => n.NetworkInterfaceId)).toEqual([eniId]);
    expect(await freeAddresses(ec2, network.subnetId)).toBe(freeBefore + 1);
    await rejectsWith(
      ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: spare })),
      'InvalidNetworkInterfaceID.NotFound',
    );
  });

  it('refuses a security group of another VPC with InvalidParameter', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const other = must(
      (
        await ec2.send(
          new CreateSecurityGroupCommand({
            VpcId: (await createNetwork(ec2, { cidr: '10.1.0.0/16' })).vpcId,
            GroupName: 'elsewhere',
            Description: 'x',
          }),
        )
      ).GroupId,
      'GroupId',
    );
    const input: CreateNetworkInterfaceCommandInput = { SubnetId: network.subnetId, Groups: [other] };

    await rejectsWith(ec2.send(new CreateNetworkInterfaceCommand(input)), 'InvalidParameter');
    expect(await allEnis(ec2)).toEqual([]);
  });
});
