import {
  AcceptVpcEndpointConnectionsCommand,
  AcceptVpcPeeringConnectionCommand,
  CreateNetworkAclEntryCommand,
  CreateRouteCommand,
  CreateTrafficMirrorTargetCommand,
  CreateVpcEndpointServiceConfigurationCommand,
  CreateVpcPeeringConnectionCommand,
  DeleteNetworkAclEntryCommand,
  DeleteVpcEndpointsCommand,
  DescribeNetworkAclsCommand,
  DescribeRouteTablesCommand,
  type EC2Client,
  ModifyVpcEndpointServicePermissionsCommand,
} from '@aws-sdk/client-ec2';
import { CreateListenerCommand, RegisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { describe, expect, test } from 'vitest';
import { shareTarget } from '../support/accounts.ts';
import { doctor, instanceIn, lines, statuses } from '../support/doctor.ts';
import { useEmulator } from '../support/emulator.ts';
import { elbFor, gwlbEndpoint, gwlbService, network } from '../support/gwlb.ts';
import { freshClient } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

async function targetFor(ec2: EC2Client, endpointId: string) {
  return must(
    (await ec2.send(new CreateTrafficMirrorTargetCommand({ GatewayLoadBalancerEndpointId: endpointId })))
      .TrafficMirrorTarget?.TrafficMirrorTargetId,
    'target',
  );
}

/**
 * One account, one VPC (10.0.0.0/16): sources in 10.0.0.0/24 (us-east-1a) and 10.0.3.0/24
 * (us-east-1b), a Gateway Load Balancer in 10.0.1.0/24 whose GENEVE group holds a running
 * appliance (with a listener unless `listener: false`), its endpoint service, an endpoint in
 * 10.0.2.0/24 and a mirror target on it. Every check passes for the source in us-east-1a.
 */
async function scene(options: { listener?: boolean; register?: boolean } = {}) {
  const { ec2, account } = freshClient(env.url);
  const elb = elbFor(env.url, account);
  const net = await network(ec2, '10.0.0.0/16', [
    ['10.0.0.0/24'],
    ['10.0.1.0/24'],
    ['10.0.2.0/24'],
    ['10.0.3.0/24', 'us-east-1b'],
  ]);
  const [sourceSubnet, applianceSubnet, endpointSubnet, otherZone] = net.subnetIds as [
    string,
    string,
    string,
    string,
  ];
  const service = await gwlbService(ec2, elb, net.vpcId, applianceSubnet, options);
  const appliance = await instanceIn(ec2, applianceSubnet, 'c5.large');
  if (options.register !== false) {
    await elb.send(
      new RegisterTargetsCommand({
        TargetGroupArn: service.groupArn,
        Targets: [{ Id: appliance.instanceId }],
      }),
    );
  }
  const endpoint = await gwlbEndpoint(ec2, service.serviceName, net.vpcId, endpointSubnet);
  const endpointId = must(endpoint.VpcEndpointId, 'endpoint');
  const targetId = await targetFor(ec2, endpointId);
  const source = await instanceIn(ec2, sourceSubnet, 'm5.large');
  const run = (instanceId = source.instanceId, target = targetId) =>
    doctor(env.url, account, ['--target', target, '--instance', instanceId]);
  return {
    ec2,
    elb,
    account,
    net,
    otherZone,
    endpointSubnet,
    service,
    appliance,
    endpointId,
    endpointEni: must(endpoint.NetworkInterfaceIds?.[0], 'endpoint ENI'),
    targetId,
    source,
    run,
  };
}

const failed = (d: { checks: { check: string; status: string }[] }) =>
  d.checks.filter((c) => c.status === 'fail').map((c) => c.check);

describe('mirrorops doctor: a Gateway Load Balancer endpoint target', () => {
  test('all checks pass on a sound setup: the endpoint, its zone, the GWLB, its appliances, the ACLs, the path', async () => {
    const s = await scene();
    const d = await s.run();
    expect(d.err).toEqual([]);
    expect(d.code).toBe(0);
    expect(d.checks.map((c) => [c.check, c.status])).toEqual([
      ['target', 'ok'],
      ['target-capacity', 'ok'],
      ['gwlb-endpoint', 'ok'],
      ['gwlb-endpoint-zone', 'ok'],
      ['gwlb', 'ok'],
      ['gwlb-listener', 'ok'],
      ['gwlb-targets', 'ok'],
      ['target-nacl-inbound', 'ok'],
      ['source-nacl-outbound', 'ok'],
      ['source-type', 'ok'],
      ['source-slots', 'ok'],
      ['path', 'ok'],
      ['session-quota', 'ok'],
      ['filter-quota', 'ok'],
    ]);
    expect(lines(d, 'gwlb-endpoint')[0]).toMatchObject({
      resource: s.endpointId,
      detail: `available in subnet ${s.endpointSubnet} (us-east-1a), service ${s.service.serviceName}`,
    });
    expect(lines(d, 'gwlb')[0]).toMatchObject({ resource: s.service.lbArn });
    expect(lines(d, 'gwlb-targets')[0]).toMatchObject({
      resource: 'appliances',
      detail: '1 of 1 targets healthy',
    });
    expect(d.checks.some((c) => c.check === 'target-security-group')).toBe(false);
  });

  test('a deleted endpoint fails; a new endpoint and a target on it pass', async () => {
    const s = await scene();
    await s.ec2.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [s.endpointId] }));
    const gone = await s.run();
    expect(gone.code).toBe(1);
    expect(failed(gone)).toEqual(['gwlb-endpoint']);
    expect(lines(gone, 'gwlb-endpoint')[0]).toMatchObject({
      resource: s.endpointId,
      detail: 'the endpoint does not exist (deleted?): mirrored packets go nowhere',
    });
    expect(lines(gone, 'path')).toEqual([]);

    const again = await gwlbEndpoint(s.ec2, s.service.serviceName, s.net.vpcId, s.endpointSubnet);
    const fixed = await s.run(s.source.instanceId, await targetFor(s.ec2, must(again.VpcEndpointId, 'id')));
    expect(fixed.code).toBe(0);
    expect(statuses(fixed, 'gwlb-endpoint')).toEqual(['ok']);
  });

  test('a source in another zone than the endpoint warns (cross-zone cost and outage); one in its zone passes', async () => {
    const s = await scene();
    const away = await instanceIn(s.ec2, s.otherZone, 'm5.large');
    const d = await s.run(away.instanceId);
    expect(d.code).toBe(0);
    expect(lines(d, 'gwlb-endpoint-zone')[0]).toMatchObject({
      status: 'warn',
      resource: s.endpointId,
      detail: `${away.eniId} (us-east-1b) not in the endpoint’s zone us-east-1a: cross-zone traffic is billed, and an outage of either zone cuts the mirror`,
    });
    expect(lines(d, 'gwlb-endpoint-zone')[0]?.fix).toContain(`--service-name ${s.service.serviceName}`);
    expect(statuses(await s.run(), 'gwlb-endpoint-zone')).toEqual(['ok']);
  });

  test('the GWLB: no listener fails, no target registered fails, some unhealthy warns, none healthy fails, all healthy passes', async () => {
    const s = await scene({ listener: false, register: false });
    const noListener = await s.run();
    expect(noListener.code).toBe(1);
    expect(failed(noListener)).toEqual(['gwlb-listener']);
    expect(lines(noListener, 'gwlb-listener')[0]?.fix).toContain(
      `create-listener --load-balancer-arn ${s.service.lbArn}`,
    );

    await s.elb.send(
      new CreateListenerCommand({
        LoadBalancerArn: s.service.lbArn,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: s.service.groupArn }],
      }),
    );
    const empty = await s.run();
    expect(failed(empty)).toEqual(['gwlb-targets']);
    expect(lines(empty, 'gwlb-targets')[0]).toMatchObject({
      resource: 'appliances',
      detail: 'no targets registered',
    });

    const second = await instanceIn(s.ec2, s.net.subnetIds[1] as string, 'c5.large');
    await s.elb.send(
      new RegisterTargetsCommand({
        TargetGroupArn: s.service.groupArn,
        Targets: [{ Id: s.appliance.instanceId }, { Id: second.instanceId }],
      }),
    );
    const setHealth = async (targetId: string, state: string) => {
      const res = await fetch(`${env.url}/_emulator/target-health`, {
        method: 'POST',
        body: JSON.stringify({ account: s.account, targetGroupArn: s.service.groupArn, targetId, state }),
      });
      expect(res.status).toBe(200);
    };
    await setHealth(second.instanceId, 'unhealthy');
    const some = await s.run();
    expect(some.code).toBe(0);
    expect(lines(some, 'gwlb-targets')[0]).toMatchObject({
      status: 'warn',
      detail: `1 of 2 targets healthy; ${second.instanceId} unhealthy (Target.FailedHealthChecks)`,
    });
    await setHealth(s.appliance.instanceId, 'unhealthy');
    const none = await s.run();
    expect(failed(none)).toEqual(['gwlb-targets']);
    await setHealth(s.appliance.instanceId, 'healthy');
    await setHealth(second.instanceId, 'healthy');
    const healthy = await s.run();
    expect(healthy.code).toBe(0);
    expect(lines(healthy, 'gwlb-targets')[0]?.detail).toBe('2 of 2 targets healthy');
  });

  test('the path: a source in an unjoined VPC fails; peering with routes both ways passes; the endpoint subnet’s ACL is checked', async () => {
    const s = await scene();
    const other = await network(s.ec2, '10.5.0.0/16', [['10.5.0.0/24']]);
    const far = await instanceIn(s.ec2, other.subnetIds[0] as string, 'm5.large');
    const unjoined = await s.run(far.instanceId);
    expect(failed(unjoined)).toEqual(['path']);
    expect(lines(unjoined, 'path')[0]?.detail).toBe(
      `${other.vpcId} and ${s.net.vpcId} are not joined: no peering connection, no common transit gateway`,
    );

    const pcx = must(
      (
        await s.ec2.send(
          new CreateVpcPeeringConnectionCommand({ VpcId: other.vpcId, PeerVpcId: s.net.vpcId }),
        )
      ).VpcPeeringConnection?.VpcPeeringConnectionId,
      'pcx',
    );
    await s.ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcx }));
    for (const [vpcId, cidr] of [
      [other.vpcId, '10.0.0.0/16'],
      [s.net.vpcId, '10.5.0.0/16'],
    ] as const) {
      const table = (
        await s.ec2.send(
          new DescribeRouteTablesCommand({
            Filters: [
              { Name: 'vpc-id', Values: [vpcId] },
              { Name: 'association.main', Values: ['true'] },
            ],
          }),
        )
      ).RouteTables?.[0]?.RouteTableId;
      await s.ec2.send(
        new CreateRouteCommand({
          RouteTableId: table,
          DestinationCidrBlock: cidr,
          VpcPeeringConnectionId: pcx,
        }),
      );
    }
    const joined = await s.run(far.instanceId);
    expect(joined.code).toBe(0);
    expect(lines(joined, 'path')[0]).toMatchObject({
      status: 'ok',
      detail: `peering ${pcx}, routes both ways`,
    });

    const acl = must(
      (
        await s.ec2.send(
          new DescribeNetworkAclsCommand({
            Filters: [{ Name: 'association.subnet-id', Values: [s.endpointSubnet] }],
          }),
        )
      ).NetworkAcls?.[0]?.NetworkAclId,
      'acl',
    );
    await s.ec2.send(
      new CreateNetworkAclEntryCommand({
        NetworkAclId: acl,
        RuleNumber: 50,
        Protocol: '17',
        RuleAction: 'deny',
        Egress: false,
        CidrBlock: `${far.address}/32`,
        PortRange: { From: 4789, To: 4789 },
      }),
    );
    const denied = await s.run(far.instanceId);
    expect(failed(denied)).toEqual(['target-nacl-inbound']);
    expect(lines(denied, 'target-nacl-inbound')[0]?.detail).toBe(
      `inbound UDP 4789 denied from ${far.address} (rule 50)`,
    );
    await s.ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 50, Egress: false }));
    expect((await s.run(far.instanceId)).code).toBe(0);
  });

  test('an endpoint of another account’s service: pendingAcceptance fails until accepted; the GWLB is said not visible', async () => {
    const provider = await scene();
    const manual = must(
      (
        await provider.ec2.send(
          new CreateVpcEndpointServiceConfigurationCommand({
            GatewayLoadBalancerArns: [provider.service.lbArn],
            AcceptanceRequired: true,
          }),
        )
      ).ServiceConfiguration,
      'service',
    );
    const consumer = freshClient(env.url);
    await provider.ec2.send(
      new ModifyVpcEndpointServicePermissionsCommand({
        ServiceId: manual.ServiceId,
        AddAllowedPrincipals: [`arn:aws:iam::${consumer.account}:root`],
      }),
    );
    const net = await network(consumer.ec2, '10.7.0.0/16', [['10.7.0.0/24']]);
    const subnetId = net.subnetIds[0] as string;
    const endpoint = await gwlbEndpoint(consumer.ec2, must(manual.ServiceName, 'name'), net.vpcId, subnetId);
    const endpointId = must(endpoint.VpcEndpointId, 'endpoint');
    const targetId = await targetFor(consumer.ec2, endpointId);
    const source = await instanceIn(consumer.ec2, subnetId, 'm5.large');
    const run = () =>
      doctor(env.url, consumer.account, ['--target', targetId, '--instance', source.instanceId]);

    const pending = await run();
    expect(pending.code).toBe(1);
    expect(failed(pending)).toEqual(['gwlb-endpoint']);
    expect(lines(pending, 'gwlb-endpoint')[0]?.detail).toContain('the endpoint is pendingAcceptance (subnet');
    expect(lines(pending, 'gwlb-endpoint')[0]?.fix).toContain(
      `accept-vpc-endpoint-connections --service-id vpce-svc-... --vpc-endpoint-ids ${endpointId}`,
    );
    expect(lines(pending, 'gwlb')[0]).toMatchObject({
      status: 'warn',
      resource: manual.ServiceName,
      detail:
        'the endpoint service belongs to another account: its Gateway Load Balancer and appliances are not visible here',
    });

    await provider.ec2.send(
      new AcceptVpcEndpointConnectionsCommand({ ServiceId: manual.ServiceId, VpcEndpointIds: [endpointId] }),
    );
    const accepted = await run();
    expect(accepted.code).toBe(0);
    expect(statuses(accepted, 'gwlb-endpoint')).toEqual(['ok']);
    expect(statuses(accepted, 'gwlb')).toEqual(['warn']);
    expect(statuses(accepted, 'path')).toEqual(['ok']);
  });

  test('a target shared by another account: what cannot be checked from here is said (warn)', async () => {
    const owner = await scene();
    const member = freshClient(env.url);
    await shareTarget(env.url, owner.account, owner.targetId, member.account);
    const d = await doctor(env.url, member.account, ['--target', owner.targetId]);
    expect(d.code).toBe(0);
    expect(lines(d, 'gwlb-endpoint')[0]).toMatchObject({
      status: 'warn',
      resource: owner.endpointId,
      detail: `the endpoint belongs to ${owner.account}: its state, zone, service and Gateway Load Balancer are not visible here`,
      fix: `run mirrorops doctor --target ${owner.targetId} in account ${owner.account} too`,
    });
    expect(d.checks.filter((c) => c.check.startsWith('gwlb')).map((c) => c.check)).toEqual(['gwlb-endpoint']);
  });
});
