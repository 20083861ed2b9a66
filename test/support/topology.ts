import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  type EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';

export interface Network {
  vpcId: string;
  subnetId: string;
  /** A security group of the VPC (not `default`), for instances and ENIs that need one. */
  securityGroupId: string;
}

export interface Launched {
  instanceId: string;
  /** The primary ENI (device index 0), the one a mirror session takes as its source. */
  eniId: string;
  privateIpAddress: string;
}

/** Strips `undefined` off a field the test needs, failing with its name rather than later on a `!`. */
export function must<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`expected ${what} in the response`);
  return value;
}

/**
 * A VPC with one subnet and one security group, through the SDK. The subnet takes the VPC's
 * block unless `subnetCidr` says otherwise.
 */
export async function createNetwork(
  ec2: EC2Client,
  options: { cidr?: string; subnetCidr?: string; availabilityZone?: string } = {},
): Promise<Network> {
  const cidr = options.cidr ?? '10.0.0.0/16';
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
  const vpcId = must(vpc.Vpc?.VpcId, 'Vpc.VpcId');
  const subnet = await ec2.send(
    new CreateSubnetCommand({
      VpcId: vpcId,
      CidrBlock: options.subnetCidr ?? cidr,
      ...(options.availabilityZone ? { AvailabilityZone: options.availabilityZone } : {}),
    }),
  );
  const group = await ec2.send(
    new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: 'app', Description: 'test instances' }),
  );
  return {
    vpcId,
    subnetId: must(subnet.Subnet?.SubnetId, 'Subnet.SubnetId'),
    securityGroupId: must(group.GroupId, 'GroupId'),
  };
}

/** One running instance in the subnet, with tags on the instance when given. */
export async function launch(
  ec2: EC2Client,
  subnetId: string,
  instanceType = 'm5.large',
  tags: Record<string, string> = {},
): Promise<Launched> {
  const entries = Object.entries(tags);
  const out = await ec2.send(
    new RunInstancesCommand({
      MinCount: 1,
      MaxCount: 1,
      ImageId: 'ami-12345678',
      InstanceType: instanceType as RunInstancesCommand['input']['InstanceType'],
      SubnetId: subnetId,
      ...(entries.length > 0
        ? {
            TagSpecifications: [
              { ResourceType: 'instance', Tags: entries.map(([Key, Value]) => ({ Key, Value })) },
            ],
          }
        : {}),
    }),
  );
  const instance = must(out.Instances?.[0], 'Instances[0]');
  const primary = instance.NetworkInterfaces?.find((eni) => eni.Attachment?.DeviceIndex === 0);
  return {
    instanceId: must(instance.InstanceId, 'InstanceId'),
    eniId: must(primary?.NetworkInterfaceId, 'the primary NetworkInterfaceId'),
    privateIpAddress: must(instance.PrivateIpAddress, 'PrivateIpAddress'),
  };
}
