import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorSessionCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { ec2Gateway } from '../../shared/aws/ec2.ts';
import { apply } from '../../shared/mirror.ts';
import { loadConfig, targetFor } from '../../shared/runtime/config.ts';
import { useEmulator } from '../support/emulator.ts';
import { findingFor, type Incident, incident, intentOf } from '../support/incident.ts';
import { applianceTargetIn, createFilter } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

/** A configuration whose VPC has a pool of targets, as MIRROROPS_TARGETS_BY_VPC gives it. */
const poolConfig = (world: Incident, pool: unknown) =>
  loadConfig({
    MIRROROPS_TARGET_ID: world.targetId,
    MIRROROPS_AUDIT_BUS: world.config.auditBus,
    MIRROROPS_TARGETS_BY_VPC: JSON.stringify({ [world.network.vpcId]: pool }),
  });

/** Fills a target with sources: one session from each of `count` new ENIs of the subnet. */
async function fill(ec2: EC2Client, subnetId: string, targetId: string, count: number): Promise<void> {
  const filterId = await createFilter(ec2);
  for (let i = 0; i < count; i++) {
    const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: subnetId }));
    await ec2.send(
      new CreateTrafficMirrorSessionCommand({
        NetworkInterfaceId: must(eni.NetworkInterface?.NetworkInterfaceId, 'ENI'),
        TrafficMirrorTargetId: targetId,
        TrafficMirrorFilterId: filterId,
        SessionNumber: 1,
      }),
    );
  }
}

/** A finding on `instance`, in Availability Zone `zone`, applied with `config`. */
async function mirror(
  world: Incident,
  instance: { instanceId: string; eniIds: string[] },
  config: ReturnType<typeof loadConfig>,
  zone: string,
) {
  const event = findingFor('network-connection', world, instance, (d) => {
    (d.resource.instanceDetails as { availabilityZone?: string }).availabilityZone = zone;
  });
  // The stack's roles are packaged with one pinned target; a pool is allowed to any target of the
  // account (serverless.yml, PinnedTarget), which the account's own keys stand in for here.
  return apply(intentOf(event, config), world.deps({ config, ec2: ec2Gateway(world.ec2) }));
}

describe('a pool of targets for a VPC', () => {
  test("a target in the source's Availability Zone is preferred, then the pool's order", async () => {
    const world = await incident(env.url);
    const [a, b] = [
      await applianceTargetIn(world.ec2, world.network.subnetId),
      await applianceTargetIn(world.ec2, world.network.subnetId),
    ];
    const config = poolConfig(world, [
      { targetId: a, availabilityZone: 'us-east-1b' },
      { targetId: b, availabilityZone: 'us-east-1a' },
    ]);
    const inA = await mirror(world, await world.instance(1), config, 'us-east-1a');
    const inC = await mirror(world, await world.instance(1), config, 'us-east-1c');
    const sessions = await world.sessions();
    const targetOf = (result: typeof inA) =>
      sessions.find(
        (s) => s.TrafficMirrorSessionId === (result.outcomes[0] as { sessionId: string }).sessionId,
      )?.TrafficMirrorTargetId;
    expect(targetOf(inA)).toBe(b);
    expect(targetOf(inC)).toBe(a);
  });

  test('a full target gives way to the next of the pool; with every one full, a rejection naming the limit and each target', async () => {
    const world = await incident(env.url);
    const [a, b] = [
      await applianceTargetIn(world.ec2, world.network.subnetId),
      await applianceTargetIn(world.ec2, world.network.subnetId),
    ];
    const config = poolConfig(world, [a, b]);
    // An ENI target takes 10 sources (the emulator's appliance is not of a size AWS lists for 100).
    await fill(world.ec2, world.network.subnetId, a, 10);
    const next = await mirror(world, await world.instance(2), config, 'us-east-1a');
    expect(next.outcomes.map((o) => o.status)).toEqual(['started', 'started']);
    const onB = (await world.sessions()).filter((s) => s.TrafficMirrorTargetId === b);
    expect(onB).toHaveLength(2);

    await fill(world.ec2, world.network.subnetId, b, 8);
    const none = await mirror(world, await world.instance(1), config, 'us-east-1a');
    expect(none.outcomes).toEqual([
      {
        eniId: expect.any(String),
        status: 'rejected',
        reason: expect.stringMatching(
          new RegExp(
            `^no room for another source on the target .*: tried ${a}, ${b}\\. TrafficMirrorSourcesPerTargetLimitExceeded`,
          ),
        ),
      },
    ]);
    const rejected = (await world.auditEvents()).filter(
      (e) => e['detail-type'] === 'Mirror Request Rejected',
    );
    expect(rejected).toHaveLength(1);
  });
});

describe('MIRROROPS_TARGETS_BY_VPC', () => {
  const base = { MIRROROPS_TARGET_ID: 'tmt-0123456789abcdef0' };
  const vpc = 'vpc-0123456789abcdef0';
  test('a target id, a list, or targets with their zone; the first of each pool is the VPC target', () => {
    const config = loadConfig({
      ...base,
      MIRROROPS_TARGETS_BY_VPC: JSON.stringify({
        [vpc]: [
          'tmt-0000000000000000a',
          { targetId: 'tmt-0000000000000000b', availabilityZone: 'us-east-1b' },
        ],
        'vpc-0fffffffffffffff0': 'tmt-0000000000000000c',
      }),
    });
    expect([targetFor(config, vpc), targetFor(config, 'vpc-0fffffffffffffff0')]).toEqual([
      'tmt-0000000000000000a',
      'tmt-0000000000000000c',
    ]);
    expect(config.targetPools[vpc]).toEqual([
      { targetId: 'tmt-0000000000000000a' },
      { targetId: 'tmt-0000000000000000b', availabilityZone: 'us-east-1b' },
    ]);
  });

  test.each([
    [[], /MIRROROPS_TARGETS_BY_VPC.*at least one target/],
    [
      [{ targetId: 'tmt-0000000000000000a', availabilityZone: 'mars-1' }],
      /MIRROROPS_TARGETS_BY_VPC.*Availability Zone/,
    ],
    [['tmt-0000000000000000a', 'not-a-target'], /MIRROROPS_TARGETS_BY_VPC/],
    [[{ targetId: 'tmt-0000000000000000a', zone: 'us-east-1a' }], /MIRROROPS_TARGETS_BY_VPC/],
  ])('a bad pool %j fails the cold start naming the variable', (pool, message) => {
    expect(() => loadConfig({ ...base, MIRROROPS_TARGETS_BY_VPC: JSON.stringify({ [vpc]: pool }) })).toThrow(
      message,
    );
  });
});
