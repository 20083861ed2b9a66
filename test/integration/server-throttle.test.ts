import {
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  DescribeVpcsCommand,
  type EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { beforeEach, describe, expect, test } from 'vitest';
import { type BucketName, EC2_RATES, startEmulator } from '../../emulator/index.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { expectEc2Error, form, send } from '../support/http.ts';
import { freshClient } from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

/**
 * EC2's token buckets. The emulator's bucket clock is held still here, so a burst is counted
 * exactly however long the calls take; the last test lets real time refill them.
 */
let now = 0;
const env = useEmulator({ faults: { throttle: true }, clock: () => now });
beforeEach(() => {
  now = 0;
  env.emulator.faults.set({ throttle: true }); // full buckets
});

/** Sends `n` calls at once and counts how many got through; all others must be EC2's 503. */
async function burst(n: number, call: () => Promise<unknown>): Promise<number> {
  const results = await Promise.allSettled(Array.from({ length: n }, call));
  for (const r of results) {
    if (r.status === 'rejected') {
      expect(r.reason).toMatchObject({ name: 'RequestLimitExceeded', $metadata: { httpStatusCode: 503 } });
    }
  }
  return results.filter((r) => r.status === 'fulfilled').length;
}

let cidr = 0;
const createVpc = (ec2: EC2Client) => () =>
  ec2.send(new CreateVpcCommand({ CidrBlock: `10.${cidr++ % 256}.0.0/16` }));
const describeVpcs = (ec2: EC2Client) => () => ec2.send(new DescribeVpcsCommand({}));

describe('each bucket lets exactly its burst through at once, then answers 503 RequestLimitExceeded', () => {
  const cases: [
    BucketName,
    string,
    (ec2: EC2Client, setup: { vpcId: string; subnetId: string }) => () => Promise<unknown>,
  ][] = [
    ['mutating', 'CreateVpc', (ec2) => createVpc(ec2)],
    ['describe', 'DescribeVpcs', (ec2) => describeVpcs(ec2)],
    [
      'describe',
      'DescribeInstances with a filter',
      (ec2) => () =>
        ec2.send(
          new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['running'] }] }),
        ),
    ],
    [
      'describeUnfiltered',
      'DescribeInstances, unfiltered',
      (ec2) => () => ec2.send(new DescribeInstancesCommand({})),
    ],
    [
      'tags',
      'CreateTags',
      (ec2, { vpcId }) =>
        () =>
          ec2.send(new CreateTagsCommand({ Resources: [vpcId], Tags: [{ Key: 'k', Value: 'v' }] })),
    ],
    [
      'runInstances',
      'RunInstances',
      (ec2, { subnetId }) =>
        () =>
          ec2.send(
            new RunInstancesCommand({
              MinCount: 1,
              MaxCount: 1,
              ImageId: 'ami-12345678',
              SubnetId: subnetId,
            }),
          ),
    ],
  ];
  test.each(cases)('%s: %s', async (bucket, _what, call) => {
    const { ec2 } = freshClient(env.url);
    const { vpcId, subnetId } = await createNetwork(ec2); // three mutating calls, not from this bucket's count
    env.emulator.faults.set({ throttle: true });
    const { burst: size } = EC2_RATES[bucket];
    expect(await burst(size + 5, call(ec2, { vpcId, subnetId }))).toBe(size);
  });

  test('the 503 is an EC2 error body with the request id', async () => {
    const request = form({ Action: 'DescribeVpcs', Version: '2016-11-15' });
    const answers = [];
    for (let i = 0; i <= EC2_RATES.describe.burst; i++) answers.push(await send(env.url, request));
    expect(answers.slice(0, -1).every((a) => a.status === 200)).toBe(true);
    const last = answers.at(-1);
    expect(last && expectEc2Error(last, 503, 'RequestLimitExceeded')).toBe('Request limit exceeded.');
  });
});

describe('buckets are per account, per Region and per category', () => {
  test("exhausting one account's mutating bucket throttles nothing else", async () => {
    const ec2 = ec2For(env.url, '333333333333');
    expect(await burst(51, createVpc(ec2))).toBe(50);
    await expect(createVpc(ec2)()).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
    // Same account and Region, other categories.
    await expect(describeVpcs(ec2)()).resolves.toBeDefined();
    const vpcs = await ec2.send(new DescribeVpcsCommand({}));
    const vpcId = must(vpcs.Vpcs?.[0]?.VpcId, 'VpcId');
    await expect(
      ec2.send(new CreateTagsCommand({ Resources: [vpcId], Tags: [{ Key: 'k' }] })),
    ).resolves.toBeDefined();
    // Another account, same Region; same account, another Region.
    await expect(createVpc(ec2For(env.url, '444444444444'))()).resolves.toBeDefined();
    await expect(createVpc(ec2For(env.url, '333333333333', 'eu-west-1'))()).resolves.toBeDefined();
    // And the exhausted one stays exhausted while the clock stands still.
    await expect(createVpc(ec2)()).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
  });

  test('a throttled request changes nothing', async () => {
    const ec2 = ec2For(env.url, '555555555555');
    expect(await burst(60, createVpc(ec2))).toBe(50);
    const vpcs = await ec2.send(new DescribeVpcsCommand({ MaxResults: 1000 }));
    expect(vpcs.Vpcs).toHaveLength(50);
  });
});

describe('refill', () => {
  test("tokens come back at the bucket's rate, never beyond the burst", async () => {
    const ec2 = ec2For(env.url, '666666666666');
    const create = createVpc(ec2);
    expect(await burst(50, create)).toBe(50);
    now += 199; // mutating refills 5 a second: one token each 200 ms
    expect(await burst(3, create)).toBe(0);
    now += 1;
    expect(await burst(3, create)).toBe(1);
    now += 1000;
    expect(await burst(8, create)).toBe(5);
    now += 3_600_000;
    expect(await burst(55, create)).toBe(50);
  });

  test('describe refills at 20 a second', async () => {
    const ec2 = ec2For(env.url, '777777777777');
    expect(await burst(100, describeVpcs(ec2))).toBe(100);
    now += 1000;
    expect(await burst(25, describeVpcs(ec2))).toBe(20);
  });

  test("overridden rates apply to their bucket; the others keep EC2's", async () => {
    env.emulator.faults.set({ throttle: { mutating: { burst: 2, perSecond: 1 } } });
    const ec2 = ec2For(env.url, '888888888888');
    expect(await burst(4, createVpc(ec2))).toBe(2);
    now += 1000;
    expect(await burst(4, createVpc(ec2))).toBe(1);
    expect(await burst(101, describeVpcs(ec2))).toBe(100);
  });

  test('with the real clock, the next tokens arrive no sooner than the rate allows', async () => {
    const emulator = await startEmulator({ faults: { throttle: true } });
    try {
      const ec2 = ec2For(emulator.url);
      const { burst: size, perSecond } = EC2_RATES.mutating;
      const start = performance.now();
      let succeeded = await burst(size + 1, createVpc(ec2));
      expect(succeeded).toBeGreaterThanOrEqual(size);
      const extra = 3;
      while (succeeded < size + extra) {
        // Poll until the bucket gives the tokens back; the test's timeout bounds the wait.
        succeeded += await createVpc(ec2)().then(
          () => 1,
          () => 0,
        );
        if (succeeded < size + extra) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const elapsed = performance.now() - start;
      expect(elapsed).toBeGreaterThanOrEqual(((succeeded - size) * 1000) / perSecond - 2);
    } finally {
      await emulator.stop();
    }
  });
});
