import {
  AcceptVpcEndpointConnectionsCommand,
  CreateVpcEndpointCommand,
  CreateVpcEndpointServiceConfigurationCommand,
  DeleteVpcEndpointsCommand,
  DescribeNetworkInterfacesCommand,
  DescribeVpcEndpointServiceConfigurationsCommand,
  DescribeVpcEndpointsCommand,
  ModifyVpcEndpointServicePermissionsCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { ec2With } from '../support/accounts.ts';
import { sessionAllowed } from '../support/doctor.ts';
import { useEmulator } from '../support/emulator.ts';
import { elbFor, gwlbEndpoint, gwlbService, network } from '../support/gwlb.ts';
import { freshClient, rejectsWith } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

async function provider() {
  const { ec2, account } = freshClient(env.url);
  const net = await network(ec2, '10.0.0.0/16', [['10.0.0.0/24'], ['10.0.1.0/24', 'us-east-1b']]);
  const service = await gwlbService(ec2, elbFor(env.url, account), net.vpcId, net.subnetIds[0] as string);
  return { ec2, account, net, ...service };
}

describe('VPC endpoint services of Gateway Load Balancers', () => {
  test('CreateVpcEndpointServiceConfiguration names the service after its id; Describe finds it by id and name', async () => {
    const p = await provider();
    expect(p.serviceName).toBe(`com.amazonaws.vpce.us-east-1.${p.serviceId}`);
    expect(p.serviceId).toMatch(/^vpce-svc-[0-9a-f]{17}$/);
    const out = await p.ec2.send(
      new DescribeVpcEndpointServiceConfigurationsCommand({
        Filters: [{ Name: 'service-name', Values: [p.serviceName] }],
      }),
    );
    expect(out.ServiceConfigurations).toMatchObject([
      {
        ServiceId: p.serviceId,
        ServiceType: [{ ServiceType: 'GatewayLoadBalancer' }],
        GatewayLoadBalancerArns: [p.lbArn],
        AvailabilityZones: ['us-east-1a'],
        AcceptanceRequired: false,
      },
    ]);
    await rejectsWith(
      p.ec2.send(
        new DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: ['vpce-svc-0123456789abcdef0'] }),
      ),
      'InvalidVpcEndpointServiceId.NotFound',
    );
  });

  test('the Gateway Load Balancer must exist in the account', async () => {
    const p = await provider();
    const other = freshClient(env.url);
    await rejectsWith(
      other.ec2.send(
        new CreateVpcEndpointServiceConfigurationCommand({ GatewayLoadBalancerArns: [p.lbArn] }),
      ),
      'InvalidParameter',
    );
    await rejectsWith(p.ec2.send(new CreateVpcEndpointServiceConfigurationCommand({})), 'MissingParameter');
    const listed = await other.ec2.send(new DescribeVpcEndpointServiceConfigurationsCommand({}));
    expect(listed.ServiceConfigurations).toEqual([]);
  });
});

describe('Gateway Load Balancer endpoints', () => {
  test('CreateVpcEndpoint: available at once, one ENI in the subnet without security groups; Describe and Delete', async () => {
    const p = await provider();
    const subnetId = p.net.subnetIds[0] as string;
    const endpoint = await gwlbEndpoint(p.ec2, p.serviceName, p.net.vpcId, subnetId);
    expect(endpoint).toMatchObject({
      VpcEndpointType: 'GatewayLoadBalancer',
      VpcId: p.net.vpcId,
      ServiceName: p.serviceName,
      State: 'available',
      SubnetIds: [subnetId],
      OwnerId: p.account,
    });
    const endpointId = must(endpoint.VpcEndpointId, 'VpcEndpointId');
    const eniId = must(endpoint.NetworkInterfaceIds?.[0], 'ENI');
    const eni = (await p.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] })))
      .NetworkInterfaces?.[0];
    expect(eni).toMatchObject({
      SubnetId: subnetId,
      InterfaceType: 'gateway_load_balancer_endpoint',
      Groups: [],
      AvailabilityZone: 'us-east-1a',
    });
    expect(eni?.PrivateIpAddress).toMatch(/^10\.0\.0\./);

    const byFilter = await p.ec2.send(
      new DescribeVpcEndpointsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [p.net.vpcId] },
          { Name: 'vpc-endpoint-state', Values: ['available'] },
        ],
      }),
    );
    expect(byFilter.VpcEndpoints?.map((e) => e.VpcEndpointId)).toEqual([endpointId]);

    const deleted = await p.ec2.send(
      new DeleteVpcEndpointsCommand({ VpcEndpointIds: [endpointId, 'vpce-0123456789abcdef0'] }),
    );
    expect(deleted.Unsuccessful).toMatchObject([
      { ResourceId: 'vpce-0123456789abcdef0', Error: { Code: 'InvalidVpcEndpoint.NotFound' } },
    ]);
    await rejectsWith(
      p.ec2.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [endpointId] })),
      'InvalidVpcEndpointId.NotFound',
    );
    const enis = await p.ec2.send(
      new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'subnet-id', Values: [subnetId] }] }),
    );
    expect(enis.NetworkInterfaces).toEqual([]);
  });

  test('a repeated ClientToken returns the same endpoint; each endpoint has an address of its own', async () => {
    const p = await provider();
    const input = {
      VpcEndpointType: 'GatewayLoadBalancer' as const,
      ServiceName: p.serviceName,
      VpcId: p.net.vpcId,
      SubnetIds: [p.net.subnetIds[0] as string],
      ClientToken: 'once',
    };
    const first = await p.ec2.send(new CreateVpcEndpointCommand(input));
    const again = await p.ec2.send(new CreateVpcEndpointCommand(input));
    expect(again.VpcEndpoint?.VpcEndpointId).toBe(first.VpcEndpoint?.VpcEndpointId);
    const second = await gwlbEndpoint(p.ec2, p.serviceName, p.net.vpcId, p.net.subnetIds[0] as string);
    const enis = await p.ec2.send(new DescribeNetworkInterfacesCommand({}));
    const addresses = enis.NetworkInterfaces?.map((e) => e.PrivateIpAddress) ?? [];
    expect(addresses).toHaveLength(2);
    expect(new Set(addresses).size).toBe(2);
    expect(enis.NetworkInterfaces?.map((e) => e.NetworkInterfaceId).sort()).toEqual(
      [first.VpcEndpoint?.NetworkInterfaceIds?.[0], second.NetworkInterfaceIds?.[0]].sort(),
    );
  });

  test('bad requests change nothing: unknown service, two subnets, a subnet of another VPC or zone', async () => {
    const p = await provider();
    const other = await network(p.ec2, '10.1.0.0/16', [['10.1.0.0/24']]);
    const create = (input: Partial<ConstructorParameters<typeof CreateVpcEndpointCommand>[0]>) =>
      p.ec2.send(
        new CreateVpcEndpointCommand({
          VpcEndpointType: 'GatewayLoadBalancer',
          ServiceName: p.serviceName,
          VpcId: p.net.vpcId,
          SubnetIds: [p.net.subnetIds[0] as string],
          ...input,
        }),
      );
    await rejectsWith(
      create({ ServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0' }),
      'InvalidServiceName',
    );
    await rejectsWith(create({ SubnetIds: p.net.subnetIds }), 'InvalidParameter');
    await rejectsWith(create({ SubnetIds: other.subnetIds }), 'InvalidParameter');
    await rejectsWith(create({ SubnetIds: [p.net.subnetIds[1] as string] }), 'InvalidParameter');
    await rejectsWith(create({ VpcId: 'vpc-0123456789abcdef0' }), 'InvalidVpcID.NotFound');
    await rejectsWith(create({ DryRun: true }), 'DryRunOperation');
    expect((await p.ec2.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints).toEqual([]);
    expect((await p.ec2.send(new DescribeNetworkInterfacesCommand({}))).NetworkInterfaces).toEqual([]);
  });

  test('another account: InvalidServiceName until allowed; pendingAcceptance until the owner accepts', async () => {
    const p = await provider();
    await p.ec2.send(
      new CreateVpcEndpointServiceConfigurationCommand({
        GatewayLoadBalancerArns: [p.lbArn],
        AcceptanceRequired: true,
      }),
    );
    const manual = must(
      (
        await p.ec2.send(
          new DescribeVpcEndpointServiceConfigurationsCommand({
            Filters: [{ Name: 'service-id', Values: ['*'] }],
          }),
        )
      ).ServiceConfigurations?.find((s) => s.AcceptanceRequired),
      'manual service',
    );
    const consumer = freshClient(env.url);
    const net = await network(consumer.ec2, '10.2.0.0/16', [['10.2.0.0/24']]);
    const subnetId = net.subnetIds[0] as string;
    await rejectsWith(
      gwlbEndpoint(consumer.ec2, must(manual.ServiceName, 'name'), net.vpcId, subnetId),
      'InvalidServiceName',
    );
    await p.ec2.send(
      new ModifyVpcEndpointServicePermissionsCommand({
        ServiceId: manual.ServiceId,
        AddAllowedPrincipals: [`arn:aws:iam::${consumer.account}:root`],
      }),
    );
    const pending = await gwlbEndpoint(consumer.ec2, must(manual.ServiceName, 'name'), net.vpcId, subnetId);
    expect(pending.State).toBe('pendingAcceptance');
    const accepted = await p.ec2.send(
      new AcceptVpcEndpointConnectionsCommand({
        ServiceId: manual.ServiceId,
        VpcEndpointIds: [pending.VpcEndpointId as string],
      }),
    );
    expect(accepted.Unsuccessful).toEqual([]);
    const now = await consumer.ec2.send(
      new DescribeVpcEndpointsCommand({ VpcEndpointIds: [pending.VpcEndpointId as string] }),
    );
    expect(now.VpcEndpoints?.[0]?.State).toBe('available');
    // The provider's own endpoints are accepted at once.
    const own = await gwlbEndpoint(
      p.ec2,
      must(manual.ServiceName, 'name'),
      p.net.vpcId,
      p.net.subnetIds[0] as string,
    );
    expect(own.State).toBe('available');
  });

  test('IAM: a role allowed only DescribeVpcEndpoints cannot create one; one allowed CreateVpcEndpoint can', async () => {
    const p = await provider();
    const keys = await sessionAllowed(env.url, p.account, ['ec2:DescribeVpcEndpoints']);
    const role = ec2With(env.url, keys);
    await rejectsWith(
      role.send(
        new CreateVpcEndpointCommand({
          VpcEndpointType: 'GatewayLoadBalancer',
          ServiceName: p.serviceName,
          VpcId: p.net.vpcId,
          SubnetIds: [p.net.subnetIds[0] as string],
        }),
      ),
      'UnauthorizedOperation',
    );
    expect((await role.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints).toEqual([]);
    const allowed = ec2With(
      env.url,
      await sessionAllowed(env.url, p.account, ['ec2:CreateVpcEndpoint', 'ec2:DescribeVpcEndpoints']),
    );
    const made = await gwlbEndpoint(allowed, p.serviceName, p.net.vpcId, p.net.subnetIds[0] as string);
    expect(
      (await allowed.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints?.map((e) => e.VpcEndpointId),
    ).toEqual([made.VpcEndpointId]);
  });
});
