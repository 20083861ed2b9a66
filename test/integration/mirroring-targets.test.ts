import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorTargetCommand,
  type CreateTrafficMirrorTargetCommandInput,
  DeleteTrafficMirrorSessionCommand,
  DeleteTrafficMirrorTargetCommand,
  DescribeTrafficMirrorTargetsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import {
  allTargets,
  createFilter,
  createSession,
  freshClient,
  launchMany,
  mirrorSetup,
  nlbArn,
  rejectsWith,
} from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

const env = useEmulator();

async function withInstance() {
  const { ec2, account } = freshClient(env.url);
  const network = await createNetwork(ec2);
  const [appliance] = await launchMany(ec2, network.subnetId, 1, 'c5n.xlarge');
  return { ec2, account, network, eniId: must(appliance, 'appliance').eniId };
}

const create = (ec2: EC2Client, input: CreateTrafficMirrorTargetCommandInput) =>
  ec2.send(new CreateTrafficMirrorTargetCommand(input));

describe('CreateTrafficMirrorTarget', () => {
  it('creates an ENI target that Describe shows with type, owner, description and tags', async () => {
    const { ec2, account, eniId } = await withInstance();

    const out = await create(ec2, {
      NetworkInterfaceId: eniId,
      Description: 'central IDS',
      TagSpecifications: [{ ResourceType: 'traffic-mirror-target', Tags: [{ Key: 'Name', Value: 'ids' }] }],
    });

    const expected = {
      TrafficMirrorTargetId: expect.stringMatching(/^tmt-[0-9a-f]{17}$/),
      NetworkInterfaceId: eniId,
      Type: 'network-interface',
      Description: 'central IDS',
      OwnerId: account,
      Tags: [{ Key: 'Name', Value: 'ids' }],
    };
    expect(out.TrafficMirrorTarget).toEqual(expected);
    expect(await allTargets(ec2)).toEqual([expected]);
  });

  it('creates Network Load Balancer and Gateway Load Balancer endpoint targets', async () => {
    const { ec2, account } = freshClient(env.url);
    const arn = nlbArn(account);

    const nlb = await create(ec2, { NetworkLoadBalancerArn: arn });
    const gwlb = await create(ec2, { GatewayLoadBalancerEndpointId: 'vpce-0a1b2c3d4e5f60718' });

    expect(nlb.TrafficMirrorTarget).toMatchObject({
      NetworkLoadBalancerArn: arn,
      Type: 'network-load-balancer',
    });
    expect(gwlb.TrafficMirrorTarget).toMatchObject({
      GatewayLoadBalancerEndpointId: 'vpce-0a1b2c3d4e5f60718',
      Type: 'gateway-load-balancer-endpoint',
    });
    expect(await allTargets(ec2)).toHaveLength(2);
  });

  it('requires one destination (MissingParameter) and refuses two (InvalidParameterValue)', async () => {
    const { ec2, account, eniId } = await withInstance();

    await rejectsWith(create(ec2, { Description: 'nowhere' }), 'MissingParameter');
    await rejectsWith(
      create(ec2, { NetworkInterfaceId: eniId, NetworkLoadBalancerArn: nlbArn(account) }),
      'InvalidParameterValue',
    );
    await rejectsWith(
      create(ec2, {
        NetworkLoadBalancerArn: nlbArn(account),
        GatewayLoadBalancerEndpointId: 'vpce-0a1b2c3d4e5f60718',
      }),
      'InvalidParameterValue',
    );
    await rejectsWith(
      create(ec2, { NetworkInterfaceId: eniId, GatewayLoadBalancerEndpointId: 'vpce-0a1b2c3d4e5f60718' }),
      'InvalidParameterValue',
    );

    expect(await allTargets(ec2)).toEqual([]);
  });

  it.each([
    [
      {
        NetworkLoadBalancerArn:
          'arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/web/0123',
      },
    ],
    [
      {
        NetworkLoadBalancerArn:
          'arn:aws:elasticloadbalancing:eu-west-1:111111111111:loadbalancer/net/ids/0123',
      },
    ],
    [{ NetworkLoadBalancerArn: 'not-an-arn' }],
  ])('refuses %o with InvalidParameterValue and creates nothing', async (input) => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(create(ec2, input), 'InvalidParameterValue');

    expect(await allTargets(ec2)).toEqual([]);
  });

  it('refuses a malformed endpoint id and tags of another type with InvalidParameterValue', async () => {
    const { ec2, account } = freshClient(env.url);

    await rejectsWith(
      create(ec2, { GatewayLoadBalancerEndpointId: 'eni-0123456789abcdef0' }),
      'InvalidParameterValue',
    );
    await rejectsWith(
      create(ec2, {
        NetworkLoadBalancerArn: nlbArn(account),
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }],
      }),
      'InvalidParameterValue',
    );

    expect(await allTargets(ec2)).toEqual([]);
  });

  it('answers an unknown ENI with InvalidNetworkInterfaceID.NotFound', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      create(ec2, { NetworkInterfaceId: 'eni-0123456789abcdef0' }),
      'InvalidNetworkInterfaceID.NotFound',
    );

    expect(await allTargets(ec2)).toEqual([]);
  });

  it('refuses an ENI that is not of type interface', async () => {
    const { ec2, network } = await withInstance();
    const efa = await ec2.send(
      new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId, InterfaceType: 'efa' }),
    );

    await rejectsWith(
      create(ec2, { NetworkInterfaceId: must(efa.NetworkInterface?.NetworkInterfaceId, 'eni') }),
      'InvalidParameterValue',
    );

    expect(await allTargets(ec2)).toEqual([]);
  });

  it('refuses the source ENI of a session as a target (InterfaceInUseByTrafficMirrorSession)', async () => {
    const { ec2 } = freshClient(env.url);
    const m = await mirrorSetup(ec2);
    await createSession(ec2, {
      NetworkInterfaceId: m.source.eniId,
      TrafficMirrorTargetId: m.targetId,
      TrafficMirrorFilterId: m.filterId,
      SessionNumber: 1,
    });

    await rejectsWith(
      create(ec2, { NetworkInterfaceId: m.source.eniId }),
      'InterfaceInUseByTrafficMirrorSession',
    );

    expect((await allTargets(ec2)).map((t) => t.TrafficMirrorTargetId)).toEqual([m.targetId]);
  });

  it('answers DryRun with DryRunOperation and creates nothing', async () => {
    const { ec2, eniId } = await withInstance();

    await rejectsWith(create(ec2, { NetworkInterfaceId: eniId, DryRun: true }), 'DryRunOperation');

    expect(await allTargets(ec2)).toEqual([]);
  });

  it('returns the first target for a repeated ClientToken, and refuses the token with other parameters', async () => {
    const { ec2, account, eniId } = await withInstance();
    const first = await create(ec2, { NetworkInterfaceId: eniId, ClientToken: 'target-1' });

    const again = await create(ec2, { NetworkInterfaceId: eniId, ClientToken: 'target-1' });
    await rejectsWith(
      create(ec2, { NetworkLoadBalancerArn: nlbArn(account), ClientToken: 'target-1' }),
      'IdempotentParameterMismatch',
    );

    expect(again.TrafficMirrorTarget).toEqual(first.TrafficMirrorTarget);
    expect(again.ClientToken).toBe('target-1');
    expect(await allTargets(ec2)).toEqual([first.TrafficMirrorTarget]);
  });

  it('creates one target for concurrent identical requests with one ClientToken', async () => {
    const { ec2, eniId } = await withInstance();

    const results = await Promise.all(
      Array.from({ length: 6 }, () => create(ec2, { NetworkInterfaceId: eniId, ClientToken: 'target-2' })),
    );

    expect(new Set(results.map((r) => r.TrafficMirrorTarget?.TrafficMirrorTargetId)).size).toBe(1);
    expect(await allTargets(ec2)).toHaveLength(1);
  });
});

describe('DescribeTrafficMirrorTargets', () => {
  async function threeTargets() {
    const { ec2, account, eniId } = await withInstance();
    const arn = nlbArn(account);
    const id = async (input: CreateTrafficMirrorTargetCommandInput) =>
      must((await create(ec2, input)).TrafficMirrorTarget?.TrafficMirrorTargetId, 'TrafficMirrorTargetId');
    const eniTargetId = await id({
      NetworkInterfaceId: eniId,
      Description: 'ids appliance',
      TagSpecifications: [{ ResourceType: 'traffic-mirror-target', Tags: [{ Key: 'team', Value: 'soc' }] }],
    });
    const nlbTargetId = await id({
      NetworkLoadBalancerArn: arn,
      Description: 'ids fleet',
      TagSpecifications: [{ ResourceType: 'traffic-mirror-target', Tags: [{ Key: 'env', Value: 'prod' }] }],
    });
    const gwlbTargetId = await id({ GatewayLoadBalancerEndpointId: 'vpce-0a1b2c3d4e5f60718' });
    return { ec2, account, eniId, arn, eniTargetId, nlbTargetId, gwlbTargetId };
  }

  it('supports the filter names AWS documents and tag filters', async () => {
    const { ec2, account, eniId, arn, eniTargetId, nlbTargetId, gwlbTargetId } = await threeTargets();
    const cases: [string, string[], string[]][] = [
      ['description', ['ids *'], [eniTargetId, nlbTargetId]],
      ['network-interface-id', [eniId], [eniTargetId]],
      ['network-load-balancer-arn', [arn], [nlbTargetId]],
      ['owner-id', [account], [eniTargetId, nlbTargetId, gwlbTargetId]],
      ['traffic-mirror-target-id', [gwlbTargetId, nlbTargetId], [nlbTargetId, gwlbTargetId]],
      ['tag:team', ['soc'], [eniTargetId]],
      ['tag-key', ['env'], [nlbTargetId]],
    ];

    for (const [name, values, expected] of cases) {
      const found = await allTargets(ec2, [{ Name: name, Values: values }]);
      expect(
        found.map((t) => t.TrafficMirrorTargetId),
        name,
      ).toEqual(expected);
    }
  });

  it('rejects an unknown filter name and answers an unknown id with InvalidTrafficMirrorTargetId.NotFound', async () => {
    const { ec2 } = await threeTargets();

    await rejectsWith(allTargets(ec2, [{ Name: 'vpc-id', Values: ['x'] }]), 'InvalidParameterValue');
    await rejectsWith(
      ec2.send(
        new DescribeTrafficMirrorTargetsCommand({ TrafficMirrorTargetIds: ['tmt-0123456789abcdef0'] }),
      ),
      'InvalidTrafficMirrorTargetId.NotFound',
    );
  });

  it('answers DryRun with DryRunOperation', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(ec2.send(new DescribeTrafficMirrorTargetsCommand({ DryRun: true })), 'DryRunOperation');
  });

  it('pages with MaxResults and NextToken', async () => {
    const { ec2, account } = freshClient(env.url);
    const created: string[] = [];
    for (let i = 0; i < 7; i++) {
      const out = await create(ec2, { NetworkLoadBalancerArn: nlbArn(account) });
      created.push(must(out.TrafficMirrorTarget?.TrafficMirrorTargetId, 'id'));
    }

    const first = await ec2.send(new DescribeTrafficMirrorTargetsCommand({ MaxResults: 5 }));
    const second = await ec2.send(
      new DescribeTrafficMirrorTargetsCommand({ MaxResults: 5, NextToken: first.NextToken }),
    );

    expect(first.TrafficMirrorTargets?.map((t) => t.TrafficMirrorTargetId)).toEqual(created.slice(0, 5));
    expect(second.TrafficMirrorTargets?.map((t) => t.TrafficMirrorTargetId)).toEqual(created.slice(5));
    expect(second.NextToken).toBeUndefined();
  });
});

describe('DeleteTrafficMirrorTarget', () => {
  it('deletes a target and returns its id', async () => {
    const { ec2, eniId } = await withInstance();
    const id = must(
      (await create(ec2, { NetworkInterfaceId: eniId })).TrafficMirrorTarget?.TrafficMirrorTargetId,
      'id',
    );

    const out = await ec2.send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: id }));

    expect(out.TrafficMirrorTargetId).toBe(id);
    expect(await allTargets(ec2)).toEqual([]);
  });

  it('refuses a target in use (TrafficMirrorTargetInUseException) until its sessions are gone', async () => {
    const { ec2 } = freshClient(env.url);
    const m = await mirrorSetup(ec2);
    const session = await createSession(ec2, {
      NetworkInterfaceId: m.source.eniId,
      TrafficMirrorTargetId: m.targetId,
      TrafficMirrorFilterId: await createFilter(ec2),
      SessionNumber: 1,
    });

    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: m.targetId })),
      'TrafficMirrorTargetInUseException',
    );
    expect((await allTargets(ec2)).map((t) => t.TrafficMirrorTargetId)).toEqual([m.targetId]);

    await ec2.send(
      new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: session.TrafficMirrorSessionId }),
    );
    await ec2.send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: m.targetId }));
    expect(await allTargets(ec2)).toEqual([]);
  });

  it('answers an unknown id with InvalidTrafficMirrorTargetId.NotFound, DryRun with DryRunOperation', async () => {
    const { ec2, eniId } = await withInstance();
    const id = must(
      (await create(ec2, { NetworkInterfaceId: eniId })).TrafficMirrorTarget?.TrafficMirrorTargetId,
      'id',
    );

    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: 'tmt-0123456789abcdef0' })),
      'InvalidTrafficMirrorTargetId.NotFound',
    );
    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: id, DryRun: true })),
      'DryRunOperation',
    );
    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorTargetCommand({} as { TrafficMirrorTargetId: string })),
      'MissingParameter',
    );

    expect((await allTargets(ec2)).map((t) => t.TrafficMirrorTargetId)).toEqual([id]);
  });
});
