import {
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  CreateTrafficMirrorTargetCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import {
  allFilters,
  allSessions,
  allTargets,
  createFilter,
  freshClient,
  launchMany,
  nlbArn,
  nlbTarget,
  rejectsWith,
} from '../support/mirroring.ts';
import { createNetwork, type Launched } from '../support/topology.ts';

const env = useEmulator();
const QUOTA = 10_000;

/** Runs `count` calls, `width` at a time (the quotas take 10,000 creates each: ~10 s per test). */
async function inBatches(count: number, width: number, call: (i: number) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < count; start += width) {
    await Promise.all(Array.from({ length: Math.min(width, count - start) }, (_, k) => call(start + k)));
  }
}

const fill = (count: number, call: (i: number) => Promise<unknown>) => inBatches(count, 100, call);

// Each test makes 10,000 creates through the SDK: ~10 s alone, several times that on a loaded machine.
describe('account quotas (10,000 each per account and Region, traffic-mirroring-limits.html)', {
  timeout: 180_000,
}, () => {
  it('refuses the 10,001st filter with TrafficMirrorFilterLimitExceeded', async () => {
    const { ec2 } = freshClient(env.url);
    await fill(QUOTA, () => ec2.send(new CreateTrafficMirrorFilterCommand({})));

    await rejectsWith(ec2.send(new CreateTrafficMirrorFilterCommand({})), 'TrafficMirrorFilterLimitExceeded');

    expect(await allFilters(ec2)).toHaveLength(QUOTA);
  });

  it('refuses the 10,001st target with TrafficMirrorTargetLimitExceeded', async () => {
    const { ec2, account } = freshClient(env.url);
    await fill(QUOTA, () =>
      ec2.send(new CreateTrafficMirrorTargetCommand({ NetworkLoadBalancerArn: nlbArn(account) })),
    );

    await rejectsWith(nlbTarget(ec2, account), 'TrafficMirrorTargetLimitExceeded');

    expect(await allTargets(ec2)).toHaveLength(QUOTA);
  });

  it('refuses the 10,001st session with TrafficMirrorSessionLimitExceeded', async () => {
    const { ec2, account } = freshClient(env.url);
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const sources: Launched[] = [];
    for (let i = 0; i < 4; i++) sources.push(...(await launchMany(ec2, network.subnetId, 1000)));
    const [targetId, filterId] = await Promise.all([nlbTarget(ec2, account), createFilter(ec2)]);
    const input = (i: number) => ({
      NetworkInterfaceId: sources[Math.floor(i / 3)]?.eniId,
      TrafficMirrorTargetId: targetId,
      TrafficMirrorFilterId: filterId,
      SessionNumber: (i % 3) + 1,
    });
    await fill(QUOTA, (i) => ec2.send(new CreateTrafficMirrorSessionCommand(input(i))));

    await rejectsWith(
      ec2.send(new CreateTrafficMirrorSessionCommand(input(QUOTA))),
      'TrafficMirrorSessionLimitExceeded',
    );

    expect(await allSessions(ec2)).toHaveLength(QUOTA);
  });
});
