import {
  CreateSubnetCommand,
  CreateVpcCommand,
  CreateVpcEndpointCommand,
  CreateVpcEndpointServiceConfigurationCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { must } from './topology.ts';

export const elbFor = (url: string, account: string) =>
  new ElasticLoadBalancingV2Client({
    endpoint: url,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: account, secretAccessKey: 'test' },
  });

/** A VPC of this block and a subnet of each block given, in the zones given (us-east-1a by default). */
export async function network(ec2: EC2Client, cidr: string, subnets: [string, string?][]) {
  const vpcId = must((await ec2.send(new CreateVpcCommand({ CidrBlock: cidr }))).Vpc?.VpcId, 'vpc');
  const subnetIds: string[] = [];
  for (const [block, zone] of subnets) {
    const out = await ec2.send(
      new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: block, AvailabilityZone: zone ?? 'us-east-1a' }),
    );
    subnetIds.push(must(out.Subnet?.SubnetId, 'subnet'));
  }
  return { vpcId, subnetIds };
}

/**
 * A Gateway Load Balancer in the subnet with a GENEVE target group, its listener when `listener`,
 * and an endpoint service of it: the ARNs, the group and the service.
 */
export async function gwlbService(
  ec2: EC2Client,
  elb: ElasticLoadBalancingV2Client,
  vpcId: string,
  subnetId: string,
  options: { listener?: boolean; acceptanceRequired?: boolean } = {},
) {
  const lbArn = must(
    (await elb.send(new CreateLoadBalancerCommand({ Name: 'gwlb', Type: 'gateway', Subnets: [subnetId] })))
      .LoadBalancers?.[0]?.LoadBalancerArn,
    'gwlb',
  );
  const groupArn = must(
    (
      await elb.send(
        new CreateTargetGroupCommand({
          Name: 'appliances',
          Protocol: 'GENEVE',
          Port: 6081,
          VpcId: vpcId,
          HealthCheckPort: '80',
          HealthCheckProtocol: 'TCP',
        }),
      )
    ).TargetGroups?.[0]?.TargetGroupArn,
    'group',
  );
  if (options.listener !== false) {
    await elb.send(
      new CreateListenerCommand({
        LoadBalancerArn: lbArn,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: groupArn }],
      }),
    );
  }
  const service = must(
    (
      await ec2.send(
        new CreateVpcEndpointServiceConfigurationCommand({
          GatewayLoadBalancerArns: [lbArn],
          AcceptanceRequired: options.acceptanceRequired ?? false,
        }),
      )
    ).ServiceConfiguration,
    'service',
  );
  return {
    lbArn,
    groupArn,
    serviceId: must(service.ServiceId, 'ServiceId'),
    serviceName: must(service.ServiceName, 'ServiceName'),
  };
}

/** A Gateway Load Balancer endpoint of the service in the subnet. */
export async function gwlbEndpoint(ec2: EC2Client, serviceName: string, vpcId: string, subnetId: string) {
  const out = await ec2.send(
    new CreateVpcEndpointCommand({
      VpcEndpointType: 'GatewayLoadBalancer',
      ServiceName: serviceName,
      VpcId: vpcId,
      SubnetIds: [subnetId],
    }),
  );
  return must(out.VpcEndpoint, 'VpcEndpoint');
}
