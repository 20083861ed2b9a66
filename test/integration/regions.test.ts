import {
  CreateTagsCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  DescribeTrafficMirrorSessionsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { ec2Gateway } from '../../shared/aws/ec2.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { tagTrigger } from '../../shared/events/tag.ts';
import { apply } from '../../shared/mirror.ts';
import { onTagChange } from '../../shared/optin.ts';
import { type Config, loadConfig } from '../../shared/runtime/config.ts';
import { sweep } from '../../shared/sweep.ts';
import { useEmulator } from '../support/emulator.ts';
import { findingFor, type Incident, incident, intentOf, tagEventFor, tagsOf } from '../support/incident.ts';
import { rejectsWith } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

/**
 * Several Regions (issue 15): findings, tags, sessions and targets are regional, and a session's
 * target must be in its source's Region. The hub stack runs in each Region it serves, each with
 * that Region's targets (one MIRROROPS_TARGETS_BY_REGION for all of them) and its own sweeper.
 */
const env = useEmulator();
const EAST = 'us-east-1';
const WEST = 'eu-west-1';
const HOUR = 3_600_000;

interface TwoRegions {
  east: Incident;
  west: Incident;
  /** Each Region's stack configuration, from the one map of targets by Region. */
  config: Record<string, Config>;
}

/** One account with a network, a target and the hub stack in each of two Regions. */
async function twoRegions(): Promise<TwoRegions> {
  const east = await incident(env.url, {}, { region: EAST });
  const west = await incident(env.url, {}, { account: east.account, region: WEST });
  const targetsByRegion = JSON.stringify({ [EAST]: east.targetId, [WEST]: west.targetId });
  const configIn = (region: string) =>
    loadConfig({
      AWS_REGION: region,
      MIRROROPS_TARGETS_BY_REGION: targetsByRegion,
      MIRROROPS_AUDIT_BUS: 'mirrorops-audit-test',
    });
  return { east, west, config: { [EAST]: configIn(EAST), [WEST]: configIn(WEST) } };
}

/** A GuardDuty finding of `world`'s Region on one of its instances, as that Region's GuardDuty sends it. */
function regionalFinding(world: Incident, instance: { instanceId: string; eniIds: string[] }, id: string) {
  const event = findingFor('network-connection', world, instance, (detail) => {
    detail.id = id;
    (detail as unknown as { region: string }).region = world.region;
  });
  event.region = world.region;
  return event;
}

const sessionsIn = async (world: Incident) =>
  (await world.ec2.send(new DescribeTrafficMirrorSessionsCommand({}))).TrafficMirrorSessions ?? [];

describe('two Regions of one account, a hub in each', () => {
  test("a finding in eu-west-1 gets sessions on eu-west-1's target, one in us-east-1 on us-east-1's: never another Region's", async () => {
    const { east, west, config } = await twoRegions();
    const westInstance = await west.instance(2);
    const eastInstance = await east.instance(1);

    const westIntent = intentOf(
      regionalFinding(west, westInstance, 'finding-west'),
      must(config[WEST], WEST),
    );
    const eastIntent = intentOf(
      regionalFinding(east, eastInstance, 'finding-east'),
      must(config[EAST], EAST),
    );
    const westResult = await apply(westIntent, west.deps({ config: must(config[WEST], WEST) }));
    const eastResult = await apply(eastIntent, east.deps({ config: must(config[EAST], EAST) }));

    expect([westIntent.region, eastIntent.region]).toEqual([WEST, EAST]);
    expect(westResult.outcomes.map((o) => o.status)).toEqual(['started', 'started']);
    expect(eastResult.outcomes.map((o) => o.status)).toEqual(['started']);
    const westSessions = await sessionsIn(west);
    const eastSessions = await sessionsIn(east);
    expect(westSessions.map((s) => [s.NetworkInterfaceId, s.TrafficMirrorTargetId]).sort()).toEqual(
      westInstance.eniIds.map((eni) => [eni, west.targetId]).sort(),
    );
    expect(eastSessions.map((s) => [s.NetworkInterfaceId, s.TrafficMirrorTargetId])).toEqual([
      [eastInstance.eniIds[0], east.targetId],
    ]);
    expect(west.targetId).not.toBe(east.targetId);
    // Filters are regional too: each Region made its own for the same scope.
    const [westFilters, eastFilters] = await Promise.all([west.filters(), east.filters()]);
    expect([westFilters.length, eastFilters.length]).toEqual([1, 1]);
    expect(tagsOf(westFilters[0])[TAG.filterHash]).toBe(tagsOf(eastFilters[0])[TAG.filterHash]);
    expect(new Set(westSessions.map((s) => s.TrafficMirrorFilterId))).toEqual(
      new Set([westFilters[0]?.TrafficMirrorFilterId]),
    );
    // Each Region's audit events are that Region's stack's.
    const started = async (world: Incident) =>
      (await world.auditEvents()).filter((e) => e['detail-type'] === 'Mirror Session Started').length;
    expect([await started(west), await started(east)]).toEqual([2, 1]);
  });

  test("a tag set in eu-west-1 mirrors there, on eu-west-1's target; the same event in us-east-1 finds no instance and makes nothing", async () => {
    const { east, west, config } = await twoRegions();
    const instance = await west.instance(1);
    await west.ec2.send(
      new CreateTagsCommand({ Resources: [instance.instanceId], Tags: [{ Key: TAG.mirror, Value: 'true' }] }),
    );
    /** The Tag Change event of that instance as the Region `region`'s EventBridge would send it. */
    const tagEventIn = (region: string) => {
      const event = tagEventFor(west, instance.instanceId, 'true') as { region: string; resources: string[] };
      event.region = region;
      event.resources = event.resources.map((arn) => arn.replace(':us-east-1:', `:${region}:`));
      return event;
    };

    const there = await onTagChange(
      tagTrigger(tagEventIn(WEST)),
      west.deps({ config: must(config[WEST], WEST) }),
    );
    const elsewhere = await onTagChange(
      tagTrigger(tagEventIn(EAST)),
      east.deps({ config: must(config[EAST], EAST) }),
    );

    expect(there.status === 'mirrored' && there.result.outcomes.map((o) => o.status)).toEqual(['started']);
    expect(elsewhere).toEqual({
      status: 'rejected',
      reason: `instance ${instance.instanceId} no longer exists`,
    });
    expect((await sessionsIn(west)).map((s) => [s.NetworkInterfaceId, s.TrafficMirrorTargetId])).toEqual([
      [instance.eniIds[0], west.targetId],
    ]);
    expect(await sessionsIn(east)).toEqual([]);
  });

  test("EC2 does not find another Region's target: a session on it is refused, and mirrorops rejects the request", async () => {
    const { east, west, config } = await twoRegions();
    const instance = await west.instance(1);
    const eni = must(instance.eniIds[0], 'ENI');
    const filter = await west.ec2.send(new CreateTrafficMirrorFilterCommand({}));
    const filterId = must(filter.TrafficMirrorFilter?.TrafficMirrorFilterId, 'filter');
    const session = (targetId: string) =>
      west.ec2.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: eni,
          TrafficMirrorTargetId: targetId,
          TrafficMirrorFilterId: filterId,
          SessionNumber: 1,
        }),
      );

    // The account's own target in us-east-1, asked for in eu-west-1: not found there.
    await rejectsWith(session(east.targetId), 'InvalidTrafficMirrorTargetId.NotFound');

    // A eu-west-1 finding handled with us-east-1's targets (a stack of the wrong Region): rejected, nothing made.
    const misrouted = await apply(
      intentOf(regionalFinding(west, instance, 'finding-misrouted'), must(config[EAST], EAST)),
      west.deps({ config: must(config[EAST], EAST), ec2: ec2Gateway(west.ec2) }),
    );
    expect(misrouted.outcomes).toEqual([
      {
        eniId: eni,
        status: 'rejected',
        reason: expect.stringContaining(
          `target ${east.targetId} is not visible from account ${west.account}`,
        ),
      },
    ]);
    expect([await sessionsIn(west), await sessionsIn(east)]).toEqual([[], []]);

    // With the right Region's target the same session is made.
    await expect(session(west.targetId)).resolves.toBeDefined();
  });

  test("each Region's hub acts in its own Region only: us-east-1's functions may not create sessions in eu-west-1", async () => {
    const { east, west } = await twoRegions();
    const instance = await west.instance(1);
    const filter = await west.ec2.send(
      new CreateTrafficMirrorFilterCommand({
        TagSpecifications: [
          { ResourceType: 'traffic-mirror-filter', Tags: [{ Key: TAG.managed, Value: 'true' }] },
        ],
      }),
    );
    const session = (ec2: EC2Client) =>
      ec2.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: instance.eniIds[0],
          TrafficMirrorTargetId: west.targetId,
          TrafficMirrorFilterId: filter.TrafficMirrorFilter?.TrafficMirrorFilterId,
          SessionNumber: 1,
          TagSpecifications: [
            { ResourceType: 'traffic-mirror-session', Tags: [{ Key: TAG.managed, Value: 'true' }] },
          ],
        }),
      );
    const asEastFunctions = new EC2Client({
      endpoint: env.url,
      region: WEST,
      maxAttempts: 1,
      credentials: east.functionKeys,
    });

    await rejectsWith(session(asEastFunctions), 'UnauthorizedOperation');
    expect(await sessionsIn(west)).toEqual([]);

    await expect(session(west.functionEc2)).resolves.toBeDefined();
  });

  test("the sweeper covers both Regions: each Region's sweeper removes that Region's expired sessions and filters, and only those", async () => {
    const { east, west, config } = await twoRegions();
    const made = new Date();
    for (const world of [east, west]) {
      const instance = await world.instance(2);
      const result = await apply(
        intentOf(
          regionalFinding(world, instance, `finding-${world.region}`),
          must(config[world.region], 'config'),
        ),
        world.deps({ config: must(config[world.region], 'config') }),
      );
      expect(result.outcomes.map((o) => o.status)).toEqual(['started', 'started']);
    }
    // Severity 5: 6 hours. Past it, and past the filters' grace of 10 minutes on a second run.
    const at = (ms: number) => () => new Date(made.getTime() + ms);
    const plenty = { remainingMs: () => 10 * 60_000 };

    const eastFirst = await sweep(east.sweeperDeps({ now: at(7 * HOUR) }), plenty);

    expect(eastFirst.deleted).toHaveLength(2);
    expect([(await sessionsIn(east)).length, (await sessionsIn(west)).length]).toEqual([0, 2]);

    const westFirst = await sweep(west.sweeperDeps({ now: at(7 * HOUR) }), plenty);
    expect(westFirst.deleted).toHaveLength(2);
    for (const world of [east, west]) {
      await sweep(world.sweeperDeps({ now: at(8 * HOUR) }), plenty);
    }
    expect([await sessionsIn(east), await sessionsIn(west)]).toEqual([[], []]);
    expect([await east.filters(), await west.filters()]).toEqual([[], []]);
  });
});
