import {
  AcceptVpcPeeringConnectionCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateRouteCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  CreateTrafficMirrorTargetCommand,
  CreateTransitGatewayCommand,
  CreateTransitGatewayVpcAttachmentCommand,
  CreateVpcCommand,
  CreateVpcPeeringConnectionCommand,
  DeleteTrafficMirrorFilterCommand,
  DeleteTrafficMirrorSessionCommand,
  DescribeRouteTablesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { describe, expect, test } from 'vitest';
import { type CheckResult, runDoctor } from '../../cli/doctor/checks.ts';
import { DoctorReader } from '../../cli/doctor/reader.ts';
import { shareTarget } from '../support/accounts.ts';
import { doctor, instanceIn, lines, sessionAllowed } from '../support/doctor.ts';
import { useEmulator } from '../support/emulator.ts';
import { elbFor, gwlbEndpoint, gwlbService } from '../support/gwlb.ts';
import { freshClient, launchMany, nlbTarget } from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

const env = useEmulator();

/** A VPC with one subnet of the same block. */
async function vpc(ec2: EC2Client, cidr: string) {
  const vpcId = must((await ec2.send(new CreateVpcCommand({ CidrBlock: cidr }))).Vpc?.VpcId, 'vpc');
  const subnetId = must(
    (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr }))).Subnet?.SubnetId,
    'subnet',
  );
  const main = await ec2.send(
    new DescribeRouteTablesCommand({
      Filters: [
        { Name: 'vpc-id', Values: [vpcId] },
        { Name: 'association.main', Values: ['true'] },
      ],
    }),
  );
  return { vpcId, subnetId, routeTableId: must(main.RouteTables?.[0]?.RouteTableId, 'main route table') };
}

/** An appliance in the VPC whose group takes UDP 4789 from `from`, and an ENI target on it. */
async function applianceTarget(ec2: EC2Client, net: { vpcId: string; subnetId: string }, from: string) {
  const groupId = must(
    (
      await ec2.send(
        new CreateSecurityGroupCommand({ VpcId: net.vpcId, GroupName: 'appliance', Description: 'vxlan' }),
      )
    ).GroupId,
    'group',
  );
  await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: groupId,
      IpPermissions: [{ IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, IpRanges: [{ CidrIp: from }] }],
    }),
  );
  const appliance = await instanceIn(ec2, net.subnetId, 'c5.large', [groupId]);
  const targetId = must(
    (await ec2.send(new CreateTrafficMirrorTargetCommand({ NetworkInterfaceId: appliance.eniId })))
      .TrafficMirrorTarget?.TrafficMirrorTargetId,
    'target',
  );
  return { appliance, targetId };
}

describe('mirrorops doctor: the path between VPCs', () => {
  test('peering: not joined, pending, no routes, a route one way, then both ways', async () => {
    const { ec2, account } = freshClient(env.url);
    const a = await vpc(ec2, '10.1.0.0/16');
    const b = await vpc(ec2, '10.2.0.0/16');
    const source = await instanceIn(ec2, a.subnetId, 'm5.large');
    const { appliance, targetId } = await applianceTarget(ec2, b, '10.1.0.0/16');
    const run = () => doctor(env.url, account, ['--target', targetId, '--instance', source.instanceId]);
    const failing = async () => {
      const d = await run();
      expect(d.code).toBe(1);
      expect(d.checks.filter((c) => c.status === 'fail').map((c) => c.check)).toEqual(['path']);
      return must(lines(d, 'path')[0], 'path line');
    };

    expect((await failing()).detail).toBe(
      `${a.vpcId} and ${b.vpcId} are not joined: no peering connection, no common transit gateway`,
    );
    const pcx = must(
      (await ec2.send(new CreateVpcPeeringConnectionCommand({ VpcId: a.vpcId, PeerVpcId: b.vpcId })))
        .VpcPeeringConnection?.VpcPeeringConnectionId,
      'pcx',
    );
    const pending = await failing();
    expect(pending.detail).toBe(`peering ${pcx} between ${a.vpcId} and ${b.vpcId} is pending-acceptance`);
    expect(pending.fix).toContain(`accept-vpc-peering-connection --vpc-peering-connection-id ${pcx}`);

    await ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcx }));
    expect((await failing()).detail).toBe(
      `peering ${pcx} is active but routes are missing (source side: no route to ${appliance.address})`,
    );
    await ec2.send(
      new CreateRouteCommand({
        RouteTableId: a.routeTableId,
        DestinationCidrBlock: '10.2.0.0/16',
        VpcPeeringConnectionId: pcx,
      }),
    );
    const oneWay = await failing();
    expect(oneWay.detail).toBe(
      `peering ${pcx} is active but routes are missing (target side: no route to ${source.address})`,
    );
    expect(oneWay.fix).toContain(
      `--destination-cidr-block ${source.address}/32 --vpc-peering-connection-id ${pcx}`,
    );

    await ec2.send(
      new CreateRouteCommand({
        RouteTableId: b.routeTableId,
        DestinationCidrBlock: '10.1.0.0/16',
        VpcPeeringConnectionId: pcx,
      }),
    );
    const fixed = await run();
    expect(fixed.code).toBe(0);
    expect(lines(fixed, 'path')[0]).toMatchObject({
      status: 'ok',
      detail: `peering ${pcx}, routes both ways`,
    });
  });

  test('transit gateway: both VPCs attached and a route each way to it', async () => {
    const { ec2, account } = freshClient(env.url);
    const a = await vpc(ec2, '10.1.0.0/16');
    const b = await vpc(ec2, '10.2.0.0/16');
    const source = await instanceIn(ec2, a.subnetId, 'm5.large');
    const { targetId } = await applianceTarget(ec2, b, '10.1.0.0/16');
    const run = () => doctor(env.url, account, ['--target', targetId, '--eni', source.eniId]);
    const tgw = must(
      (await ec2.send(new CreateTransitGatewayCommand({}))).TransitGateway?.TransitGatewayId,
      'tgw',
    );
    await ec2.send(
      new CreateTransitGatewayVpcAttachmentCommand({
        TransitGatewayId: tgw,
        VpcId: a.vpcId,
        SubnetIds: [a.subnetId],
      }),
    );
    expect(lines(await run(), 'path')[0]?.detail).toContain('are not joined');

    await ec2.send(
      new CreateTransitGatewayVpcAttachmentCommand({
        TransitGatewayId: tgw,
        VpcId: b.vpcId,
        SubnetIds: [b.subnetId],
      }),
    );
    await ec2.send(
      new CreateRouteCommand({
        RouteTableId: a.routeTableId,
        DestinationCidrBlock: '10.0.0.0/8',
        TransitGatewayId: tgw,
      }),
    );
    const oneWay = await run();
    expect(oneWay.code).toBe(1);
    expect(lines(oneWay, 'path')[0]?.detail).toBe(
      `both VPCs are attached to ${tgw} but the target side has no route to ${source.address}`,
    );

    await ec2.send(
      new CreateRouteCommand({
        RouteTableId: b.routeTableId,
        DestinationCidrBlock: '10.1.0.0/16',
        TransitGatewayId: tgw,
      }),
    );
    const fixed = await run();
    expect(fixed.code).toBe(0);
    expect(lines(fixed, 'path')[0]).toMatchObject({
      status: 'ok',
      detail: `transit gateway ${tgw}, routes both ways`,
    });
  });
});

describe('mirrorops doctor: a Network Load Balancer target', () => {
  test('no UDP 4789 listener fails; then no healthy target fails; registered and healthy passes; unhealthy fails again', async () => {
    const { ec2, account } = freshClient(env.url);
    const elb = elbFor(env.url, account);
    const net = await vpc(ec2, '10.0.0.0/16');
    const source = await instanceIn(ec2, net.subnetId, 'm5.large');
    const appliance = await instanceIn(ec2, net.subnetId, 'c5.large');
    const lbArn = must(
      (
        await elb.send(
          new CreateLoadBalancerCommand({
            Name: 'mirror',
            Type: 'network',
            Scheme: 'internal',
            Subnets: [net.subnetId],
          }),
        )
      ).LoadBalancers?.[0]?.LoadBalancerArn,
      'lb',
    );
    const tcp = must(
      (
        await elb.send(
          new CreateTargetGroupCommand({ Name: 'web', Protocol: 'TCP', Port: 80, VpcId: net.vpcId }),
        )
      ).TargetGroups?.[0]?.TargetGroupArn,
      'tcp group',
    );
    await elb.send(
      new CreateListenerCommand({
        LoadBalancerArn: lbArn,
        Protocol: 'TCP',
        Port: 80,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: tcp }],
      }),
    );
    const targetId = must(
      (await ec2.send(new CreateTrafficMirrorTargetCommand({ NetworkLoadBalancerArn: lbArn })))
        .TrafficMirrorTarget?.TrafficMirrorTargetId,
      'target',
    );
    const run = () => doctor(env.url, account, ['--target', targetId, '--instance', source.instanceId]);

    const noListener = await run();
    expect(noListener.code).toBe(1);
    expect(noListener.checks.filter((c) => c.status === 'fail').map((c) => c.check)).toEqual([
      'nlb-listener',
    ]);
    expect(lines(noListener, 'nlb-listener')[0]?.detail).toBe(
      'no UDP listener on port 4789 (listeners: TCP 80); mirrored packets would be dropped silently',
    );
    expect(lines(noListener, 'target-capacity')[0]?.detail).toBe(
      '0 sources in use, no limit for this kind of target',
    );

    const vxlan = must(
      (
        await elb.send(
          new CreateTargetGroupCommand({
            Name: 'vxlan',
            Protocol: 'UDP',
            Port: 4789,
            VpcId: net.vpcId,
            HealthCheckPort: '22',
          }),
        )
      ).TargetGroups?.[0]?.TargetGroupArn,
      'udp group',
    );
    await elb.send(
      new CreateListenerCommand({
        LoadBalancerArn: lbArn,
        Protocol: 'UDP',
        Port: 4789,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: vxlan }],
      }),
    );
    const empty = await run();
    expect(empty.checks.filter((c) => c.status === 'fail').map((c) => c.check)).toEqual(['nlb-targets']);
    expect(lines(empty, 'nlb-targets')[0]).toMatchObject({
      resource: 'vxlan',
      detail: 'no targets registered',
    });

    await elb.send(
      new RegisterTargetsCommand({ TargetGroupArn: vxlan, Targets: [{ Id: appliance.instanceId }] }),
    );
    const healthy = await run();
    expect(healthy.code).toBe(0);
    expect(healthy.checks.map((c) => [c.check, c.status])).toEqual([
      ['target', 'ok'],
      ['target-capacity', 'ok'],
      ['nlb-listener', 'ok'],
      ['nlb-targets', 'ok'],
      ['source-type', 'ok'],
      ['source-slots', 'ok'],
      ['path', 'ok'],
      ['session-quota', 'ok'],
      ['filter-quota', 'ok'],
    ]);
    expect(lines(healthy, 'nlb-targets')[0]?.detail).toBe('1 of 1 targets healthy');

    const set = await fetch(`${env.url}/_emulator/target-health`, {
      method: 'POST',
      body: JSON.stringify({ targetGroupArn: vxlan, targetId: appliance.instanceId, state: 'unhealthy' }),
    });
    expect(set.status).toBe(200);
    const unhealthy = await run();
    expect(unhealthy.code).toBe(1);
    expect(lines(unhealthy, 'nlb-targets')[0]?.detail).toBe(
      `no healthy target: ${appliance.instanceId} unhealthy (Target.FailedHealthChecks)`,
    );
  });
});

describe('mirrorops doctor: a Gateway Load Balancer endpoint target', () => {
  test('no source limit; the endpoint is read and checked (each check of it: doctor-gwlb.test.ts)', async () => {
    const { ec2, account } = freshClient(env.url);
    const net = await vpc(ec2, '10.0.0.0/16');
    const source = await instanceIn(ec2, net.subnetId, 'm5.large');
    const { serviceName } = await gwlbService(ec2, elbFor(env.url, account), net.vpcId, net.subnetId);
    const endpoint = await gwlbEndpoint(ec2, serviceName, net.vpcId, net.subnetId);
    const endpointId = must(endpoint.VpcEndpointId, 'endpoint');
    const targetId = must(
      (await ec2.send(new CreateTrafficMirrorTargetCommand({ GatewayLoadBalancerEndpointId: endpointId })))
        .TrafficMirrorTarget?.TrafficMirrorTargetId,
      'target',
    );
    const d = await doctor(env.url, account, ['--target', targetId, '--instance', source.instanceId]);
    expect(lines(d, 'target')[0]?.detail).toBe(
      `Gateway Load Balancer endpoint target ${endpointId}, owned by this account`,
    );
    expect(lines(d, 'target-capacity')[0]?.detail).toBe('0 sources in use, no limit for this kind of target');
    expect(lines(d, 'gwlb-endpoint')[0]).toMatchObject({ status: 'ok', resource: endpointId });
  });
});

describe('mirrorops doctor: a target of another account', () => {
  test('not visible until shared through RAM; then its owner is named and what is not visible is said', async () => {
    const owner = freshClient(env.url);
    const member = freshClient(env.url);
    const appliances = await vpc(owner.ec2, '10.9.0.0/16');
    const { targetId } = await applianceTarget(owner.ec2, appliances, '10.0.0.0/8');
    const net = await vpc(member.ec2, '10.1.0.0/16');
    const source = await instanceIn(member.ec2, net.subnetId, 'm5.large');
    const run = () => doctor(env.url, member.account, ['--target', targetId, '--eni', source.eniId]);

    const unshared = await run();
    expect(unshared.code).toBe(1);
    expect(lines(unshared, 'target')[0]).toMatchObject({
      status: 'fail',
      detail: `${targetId} not found in account ${member.account}, us-east-1`,
    });

    await shareTarget(env.url, owner.account, targetId, member.account);
    const shared = await run();
    expect(shared.code).toBe(0);
    expect(lines(shared, 'target')[0]?.detail).toMatch(
      new RegExp(
        `^ENI target eni-[0-9a-f]+, owned by ${owner.account}, shared with this account through RAM$`,
      ),
    );
    expect(lines(shared, 'target-network')[0]).toMatchObject({ status: 'warn' });
    expect(lines(shared, 'target-network')[0]?.fix).toBe(
      `run mirrorops doctor --target ${targetId} in account ${owner.account} too`,
    );
    expect(lines(shared, 'target-capacity')[0]?.detail).toContain('the smaller limit assumed');
  });
});

describe('mirrorops doctor: permissions', () => {
  test('reads only: a role allowed ec2:Describe* and elasticloadbalancing:Describe* runs every check', async () => {
    const { ec2, account } = freshClient(env.url);
    const net = await vpc(ec2, '10.0.0.0/16');
    const source = await instanceIn(ec2, net.subnetId, 'm5.large');
    const { targetId } = await applianceTarget(ec2, net, '10.0.0.0/16');
    const keys = await sessionAllowed(env.url, account, ['ec2:Describe*', 'elasticloadbalancing:Describe*']);
    const d = await doctor(env.url, account, ['--target', targetId, '--instance', source.instanceId], {
      AWS_ACCESS_KEY_ID: keys.accessKeyId,
      AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
      AWS_SESSION_TOKEN: keys.sessionToken ?? '',
    });
    expect(d.err).toEqual([]);
    expect(d.code).toBe(0);
    expect(d.checks.every((c) => c.status === 'ok')).toBe(true);
  });
});

describe('mirrorops doctor: account quotas', () => {
  /** `count` calls, 100 at a time; the answers in order. */
  async function fill<T>(count: number, call: (i: number) => Promise<T>): Promise<T[]> {
    const out: T[] = [];
    for (let start = 0; start < count; start += 100) {
      out.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(100, count - start) }, (_, k) => call(start + k)),
        )),
      );
    }
    return out;
  }

  // AWS's quota is 10,000 of each; filling it through the SDK takes minutes on a loaded machine,
  // so the checks run here against a quota of 1,001 (two pages of DescribeTrafficMirror*), through
  // the same reader and rules. The CLI's 10,000 is in every other doctor test's quota lines.
  const QUOTA = 1_001;

  test('session-quota and filter-quota: at the quota they fail, one below they warn; counted over every page', async () => {
    const { ec2, account } = freshClient(env.url);
    const net = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const sources = await launchMany(ec2, net.subnetId, Math.ceil(QUOTA / 3));
    const targetId = await nlbTarget(ec2, account);
    const filters = await fill(QUOTA, () => ec2.send(new CreateTrafficMirrorFilterCommand({})));
    const filterIds = filters.map((f) => must(f.TrafficMirrorFilter?.TrafficMirrorFilterId, 'filter'));
    const sessions = await fill(QUOTA, (i) =>
      ec2.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: sources[Math.floor(i / 3)]?.eniId,
          TrafficMirrorTargetId: targetId,
          TrafficMirrorFilterId: filterIds[0],
          SessionNumber: (i % 3) + 1,
        }),
      ),
    );
    const reader = new DoctorReader(ec2, elbFor(env.url, account));
    const input = { account, region: 'us-east-1', accountQuota: QUOTA };
    const full = await runDoctor(reader, input);
    const line = (checks: CheckResult[], check: string) => checks.find((c) => c.check === check);
    expect(line(full, 'session-quota')).toMatchObject({
      status: 'fail',
      resource: `${account} us-east-1`,
      detail: '1,001 of 1,001 sessions (not adjustable)',
    });
    expect(line(full, 'filter-quota')).toMatchObject({
      status: 'fail',
      detail: '1,001 of 1,001 filters (not adjustable)',
    });

    await ec2.send(
      new DeleteTrafficMirrorSessionCommand({
        TrafficMirrorSessionId: sessions[0]?.TrafficMirrorSession?.TrafficMirrorSessionId,
      }),
    );
    const sessionsNear = await runDoctor(reader, input);
    expect(sessionsNear.map((c) => [c.check, c.status])).toEqual([
      ['target', 'warn'],
      ['sources', 'warn'],
      ['session-quota', 'warn'],
      ['filter-quota', 'fail'],
    ]);
    await ec2.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: filterIds[1] }));
    const near = await runDoctor(reader, input);
    expect(near.some((c) => c.status === 'fail')).toBe(false);
    expect(line(near, 'session-quota')?.detail).toBe('1,000 of 1,001 sessions (not adjustable)');
    expect(line(near, 'filter-quota')).toMatchObject({
      status: 'warn',
      detail: '1,000 of 1,001 filters (not adjustable)',
    });
  });
});
