import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { describe, expect, test } from 'vitest';
import type { Keys } from '../support/accounts.ts';
import { sessionAllowed } from '../support/doctor.ts';
import { useEmulator } from '../support/emulator.ts';
import { freshClient } from '../support/mirroring.ts';
import { createNetwork, launch, must } from '../support/topology.ts';

const env = useEmulator();

function elbFor(who: string | Keys): ElasticLoadBalancingV2Client {
  return new ElasticLoadBalancingV2Client({
    endpoint: env.url,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: typeof who === 'string' ? { accessKeyId: who, secretAccessKey: 'test' } : who,
  });
}

async function setHealth(targetGroupArn: string, targetId: string, state: string): Promise<number> {
  const res = await fetch(`${env.url}/_emulator/target-health`, {
    method: 'POST',
    body: JSON.stringify({ targetGroupArn, targetId, state }),
  });
  return res.status;
}

describe('Elastic Load Balancing v2', () => {
  test('an NLB with a UDP 4789 listener forwarding to instances: listeners, groups and health as the SDK reads them', async () => {
    const { ec2, account } = freshClient(env.url);
    const elb = elbFor(account);
    const net = await createNetwork(ec2);
    const appliance = await launch(ec2, net.subnetId, 'c5.large');
    const lb = must(
      (
        await elb.send(
          new CreateLoadBalancerCommand({
            Name: 'mirror',
            Type: 'network',
            Scheme: 'internal',
            Subnets: [net.subnetId],
          }),
        )
      ).LoadBalancers?.[0],
      'LoadBalancers[0]',
    );
    expect(lb.LoadBalancerArn).toMatch(
      new RegExp(`^arn:aws:elasticloadbalancing:us-east-1:${account}:loadbalancer/net/mirror/[0-9a-f]{16}$`),
    );
    expect(lb).toMatchObject({ Type: 'network', VpcId: net.vpcId, State: { Code: 'active' } });
    const lbArn = must(lb.LoadBalancerArn, 'LoadBalancerArn');
    const tg = must(
      (
        await elb.send(
          new CreateTargetGroupCommand({
            Name: 'vxlan',
            Protocol: 'UDP',
            Port: 4789,
            VpcId: net.vpcId,
            HealthCheckProtocol: 'TCP',
            HealthCheckPort: '22',
          }),
        )
      ).TargetGroups?.[0],
      'TargetGroups[0]',
    );
    const tgArn = must(tg.TargetGroupArn, 'TargetGroupArn');
    await elb.send(
      new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: appliance.instanceId }] }),
    );
    const unused = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn }));
    expect(unused.TargetHealthDescriptions?.[0]?.TargetHealth).toMatchObject({
      State: 'unused',
      Reason: 'Target.NotInUse',
    });

    await elb.send(
      new CreateListenerCommand({
        LoadBalancerArn: lbArn,
        Protocol: 'UDP',
        Port: 4789,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: tgArn }],
      }),
    );
    const listeners = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lbArn }));
    expect(
      listeners.Listeners?.map((l) => [l.Protocol, l.Port, l.DefaultActions?.[0]?.TargetGroupArn]),
    ).toEqual([['UDP', 4789, tgArn]]);
    const groups = await elb.send(new DescribeTargetGroupsCommand({ LoadBalancerArn: lbArn }));
    expect(groups.TargetGroups?.map((g) => [g.TargetGroupArn, g.LoadBalancerArns])).toEqual([
      [tgArn, [lbArn]],
    ]);
    const healthy = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn }));
    expect(healthy.TargetHealthDescriptions).toEqual([
      {
        Target: { Id: appliance.instanceId, Port: 4789 },
        HealthCheckPort: '22',
        TargetHealth: { State: 'healthy' },
      },
    ]);

    expect(await setHealth(tgArn, appliance.instanceId, 'unhealthy')).toBe(200);
    const failing = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn }));
    expect(failing.TargetHealthDescriptions?.[0]?.TargetHealth).toMatchObject({
      State: 'unhealthy',
      Reason: 'Target.FailedHealthChecks',
    });
    expect(await setHealth(tgArn, 'i-0123456789abcdef0', 'healthy')).toBe(404);

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [appliance.instanceId] }));
    const gone = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn }));
    expect(gone.TargetHealthDescriptions?.[0]?.TargetHealth).toMatchObject({
      State: 'unused',
      Reason: 'Target.InvalidState',
    });
  });

  test('refusals: a TCP listener on a UDP group, a second listener on the port, unknown ARNs, bad names', async () => {
    const { ec2, account } = freshClient(env.url);
    const elb = elbFor(account);
    const net = await createNetwork(ec2);
    const lbArn = must(
      (
        await elb.send(
          new CreateLoadBalancerCommand({ Name: 'nlb', Type: 'network', Subnets: [net.subnetId] }),
        )
      ).LoadBalancers?.[0]?.LoadBalancerArn,
      'arn',
    );
    const udp = must(
      (
        await elb.send(
          new CreateTargetGroupCommand({ Name: 'udp', Protocol: 'UDP', Port: 4789, VpcId: net.vpcId }),
        )
      ).TargetGroups?.[0]?.TargetGroupArn,
      'arn',
    );
    await expect(
      elb.send(
        new CreateListenerCommand({
          LoadBalancerArn: lbArn,
          Protocol: 'TCP',
          Port: 4789,
          DefaultActions: [{ Type: 'forward', TargetGroupArn: udp }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'IncompatibleProtocolsException' });
    await elb.send(
      new CreateListenerCommand({
        LoadBalancerArn: lbArn,
        Protocol: 'UDP',
        Port: 4789,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: udp }],
      }),
    );
    await expect(
      elb.send(
        new CreateListenerCommand({
          LoadBalancerArn: lbArn,
          Protocol: 'UDP',
          Port: 4789,
          DefaultActions: [{ Type: 'forward', TargetGroupArn: udp }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'DuplicateListenerException' });
    await expect(
      elb.send(
        new DescribeLoadBalancersCommand({
          LoadBalancerArns: [lbArn.replace(/[0-9a-f]{16}$/, '0000000000000000')],
        }),
      ),
    ).rejects.toMatchObject({ name: 'LoadBalancerNotFoundException' });
    await expect(
      elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: `${udp}0` })),
    ).rejects.toMatchObject({
      name: 'TargetGroupNotFoundException',
    });
    await expect(
      elb.send(new CreateLoadBalancerCommand({ Name: '-bad', Type: 'network', Subnets: [net.subnetId] })),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(
      elb.send(
        new CreateTargetGroupCommand({
          Name: 'hc',
          Protocol: 'UDP',
          Port: 4789,
          VpcId: net.vpcId,
          HealthCheckProtocol: 'UDP',
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    const all = await elb.send(new DescribeLoadBalancersCommand({}));
    expect(all.LoadBalancers?.map((l) => l.LoadBalancerName)).toEqual(['nlb']);
  });

  test('a Gateway Load Balancer takes a GENEVE group on 6081 and a listener without protocol or port', async () => {
    const { ec2, account } = freshClient(env.url);
    const elb = elbFor(account);
    const net = await createNetwork(ec2);
    const gwlb = must(
      (
        await elb.send(
          new CreateLoadBalancerCommand({ Name: 'gwlb', Type: 'gateway', Subnets: [net.subnetId] }),
        )
      ).LoadBalancers?.[0],
      'gwlb',
    );
    expect(gwlb.LoadBalancerArn).toContain(':loadbalancer/gwy/gwlb/');
    const tg = must(
      (
        await elb.send(
          new CreateTargetGroupCommand({ Name: 'geneve', Protocol: 'GENEVE', Port: 6081, VpcId: net.vpcId }),
        )
      ).TargetGroups?.[0]?.TargetGroupArn,
      'tg',
    );
    const listener = await elb.send(
      new CreateListenerCommand({
        LoadBalancerArn: gwlb.LoadBalancerArn,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: tg }],
      }),
    );
    expect(listener.Listeners?.[0]?.ListenerArn).toContain(':listener/gwy/gwlb/');
  });

  test('a role session is authorized: Describe* on *, CreateLoadBalancer on the new load balancer', async () => {
    const { ec2, account } = freshClient(env.url);
    const net = await createNetwork(ec2);
    const elb = elbFor(await sessionAllowed(env.url, account, ['elasticloadbalancing:Describe*']));
    expect((await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers).toEqual([]);
    await expect(
      elb.send(new CreateLoadBalancerCommand({ Name: 'nope', Type: 'network', Subnets: [net.subnetId] })),
    ).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect((await elbFor(account).send(new DescribeLoadBalancersCommand({}))).LoadBalancers).toEqual([]);
  });
});
