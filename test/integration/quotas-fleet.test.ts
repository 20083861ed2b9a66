import {
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  CreateTrafficMirrorTargetCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { AWS_ACCOUNT_LIMITS, startEmulator } from '../../emulator/index.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { apply } from '../../shared/mirror.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { findingFor, incident, intentOf, tagsOf } from '../support/incident.ts';
import {
  allFilters,
  allSessions,
  createFilter,
  freshClient,
  nlbArn,
  rejectsWith,
} from '../support/mirroring.ts';
import { createNetwork, launch, must } from '../support/topology.ts';

/**
 * Quotas at fleet scale (issue 15): 10,000 sessions and 10,000 filters per account and Region
 * (traffic-mirroring-quotas.html, none adjustable). The emulator is started with lower quotas so
 * that one is reached in a few dozen requests; mirroring-quotas.test.ts reaches AWS's 10,000.
 */
const SESSIONS = 40;
const env = useEmulator({ limits: { sessions: SESSIONS, filters: 1 } });

describe("the emulator's quotas option", () => {
  test("defaults to AWS's 10,000 sessions, targets and filters; refuses a value that is not a quota", async () => {
    const plain = await startEmulator();
    try {
      expect(plain.world.limits).toEqual({ sessions: 10_000, targets: 10_000, filters: 10_000 });
      expect(AWS_ACCOUNT_LIMITS).toEqual(plain.world.limits);
    } finally {
      await plain.stop();
    }
    for (const [limits, message] of [
      [{ sessions: 0 }, 'limits.sessions must be a whole number from 1 to 10000, got 0'],
      [{ filters: 10_001 }, 'limits.filters must be a whole number from 1 to 10000, got 10001'],
      [{ targets: 2.5 }, 'limits.targets must be a whole number from 1 to 10000, got 2.5'],
      [{ rules: 3 }, 'limits.rules is not a quota (sessions, targets, filters)'],
    ] as const) {
      await expect(startEmulator({ limits: limits as never })).rejects.toThrow(message);
    }
  });

  test('counts per account and Region: a full Region leaves the same account another Region, and other accounts', async () => {
    const { account } = freshClient(env.url);
    const east = ec2For(env.url, account, 'us-east-1');
    const west = ec2For(env.url, account, 'eu-west-1');
    await createFilter(east);

    await rejectsWith(
      east.send(new CreateTrafficMirrorFilterCommand({})),
      'TrafficMirrorFilterLimitExceeded',
    );
    await expect(createFilter(west)).resolves.toMatch(/^tmf-/);
    await expect(createFilter(freshClient(env.url).ec2)).resolves.toMatch(/^tmf-/);

    expect(await allFilters(east)).toHaveLength(1);
    expect(await allFilters(west)).toHaveLength(1);
  });

  test('refuses the session past the quota with TrafficMirrorSessionLimitExceeded, naming the quota', async () => {
    const { ec2, account } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const target = await ec2.send(
      new CreateTrafficMirrorTargetCommand({ NetworkLoadBalancerArn: nlbArn(account) }),
    );
    const targetId = must(target.TrafficMirrorTarget?.TrafficMirrorTargetId, 'target');
    const filterId = await createFilter(ec2);
    const sources = await Promise.all(
      Array.from({ length: SESSIONS / 2 + 1 }, () => launch(ec2, network.subnetId, 'm5.large')),
    );
    const session = (i: number) =>
      ec2.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: sources[Math.floor(i / 2)]?.eniId,
          TrafficMirrorTargetId: targetId,
          TrafficMirrorFilterId: filterId,
          SessionNumber: (i % 2) + 1,
        }),
      );
    await Promise.all(Array.from({ length: SESSIONS }, (_, i) => session(i)));

    const refused = await session(SESSIONS).then(
      () => undefined,
      (error: Error) => error,
    );

    expect(refused?.name).toBe('TrafficMirrorSessionLimitExceeded');
    expect(refused?.message).toBe(
      `The maximum number of traffic mirror sessions (${SESSIONS}) has been reached.`,
    );
    expect(await allSessions(ec2)).toHaveLength(SESSIONS);
  });
});

describe('mirrorops at the quotas: filters shared by content, a rejection naming the quota', () => {
  test(`${SESSIONS} sessions on ${SESSIONS} ENIs of ${Math.ceil(SESSIONS / 3)} instances, one scope: one filter (the filter quota is 1)`, async () => {
    const world = await incident(env.url);
    const nlb = await world.ec2.send(
      new CreateTrafficMirrorTargetCommand({ NetworkLoadBalancerArn: nlbArn(world.account) }),
    );
    // An NLB target takes any number of sources (an ENI target 10 or 100).
    const config = await world.useTarget(must(nlb.TrafficMirrorTarget?.TrafficMirrorTargetId, 'target'));
    // 13 instances of 3 ENIs and one of 1: SESSIONS ENIs.
    const shape = [...Array<number>(Math.floor(SESSIONS / 3)).fill(3), SESSIONS % 3];
    const instances = await Promise.all(shape.map((enis) => world.instance(enis)));
    expect(instances.flatMap((i) => i.eniIds)).toHaveLength(SESSIONS);
    const finding = (
      instance: { instanceId: string; eniIds: string[] },
      n: number,
      remote = '198.51.100.7',
    ) =>
      intentOf(
        findingFor('network-connection', world, instance, (detail) => {
          detail.id = `quota-finding-${n}`;
          (
            detail.service.action as { networkConnectionAction: { remoteIpDetails: { ipAddressV4: string } } }
          ).networkConnectionAction.remoteIpDetails.ipAddressV4 = remote;
        }),
        config,
      );

    const results = [];
    for (const [n, instance] of instances.entries()) {
      results.push(await apply(finding(instance, n), world.deps({ config })));
    }

    expect(results.flatMap((r) => r.outcomes.map((o) => o.status))).toEqual(Array(SESSIONS).fill('started'));
    const sessions = await world.sessions();
    expect(sessions).toHaveLength(SESSIONS);
    const filters = await world.filters();
    expect(filters).toHaveLength(1);
    expect(new Set(sessions.map((s) => s.TrafficMirrorFilterId))).toEqual(
      new Set([filters[0]?.TrafficMirrorFilterId]),
    );
    expect(tagsOf(filters[0])[TAG.filterHash]).toMatch(/\S/);

    // The account has used its sessions: the next ENI's session is refused, and says which quota.
    const more = await world.instance(2);
    const refused = await apply(finding(more, 100), world.deps({ config }));

    expect(refused.outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    for (const outcome of refused.outcomes) {
      expect(outcome.status === 'rejected' && outcome.reason).toContain(
        "the account's quota of Traffic Mirror sessions in this Region is reached",
      );
      expect(outcome.status === 'rejected' && outcome.reason).toContain('TrafficMirrorSessionLimitExceeded');
      expect(outcome.status === 'rejected' && outcome.reason).toContain(
        `The maximum number of traffic mirror sessions (${SESSIONS}) has been reached`,
      );
    }
    expect(await world.sessions()).toHaveLength(SESSIONS);
    const rejected = (await world.auditEvents()).filter(
      (e) => e['detail-type'] === 'Mirror Request Rejected',
    );
    expect(rejected.map((e) => String(e.detail.message))).toEqual([
      expect.stringContaining('TrafficMirrorSessionLimitExceeded'),
      expect.stringContaining('TrafficMirrorSessionLimitExceeded'),
    ]);

    // Another scope needs a filter of its own: refused at the filter quota, which it names.
    const other = await apply(finding(more, 101, '203.0.113.9'), world.deps({ config }));
    expect(other.outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    for (const outcome of other.outcomes) {
      expect(outcome.status === 'rejected' && outcome.reason).toContain(
        "the account's quota of Traffic Mirror filters in this Region is reached",
      );
      expect(outcome.status === 'rejected' && outcome.reason).toContain('TrafficMirrorFilterLimitExceeded');
    }
    expect(await world.filters()).toHaveLength(1);
  });
});
