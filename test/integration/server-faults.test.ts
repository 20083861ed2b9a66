import {
  CreateNetworkInterfaceCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeNetworkInterfacesCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { type Faults, startEmulator } from '../../emulator/index.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { expectEc2Error, fingerprint, form, send } from '../support/http.ts';
import { freshClient } from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

const env = useEmulator();
afterEach(() => env.emulator.faults.set({}));

/** How long a call took, in milliseconds, whatever its outcome. */
async function timed(call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await call().catch(() => undefined);
  return performance.now() - start;
}

// Timers may fire up to a millisecond early against performance.now().
const SLACK = 2;

describe('latency', () => {
  test('a fixed latency delays every answer by at least that long, errors included', async () => {
    env.emulator.faults.set({ latencyMs: 150 });
    const ec2 = ec2For(env.url);
    expect(await timed(() => ec2.send(new DescribeVpcsCommand({})))).toBeGreaterThanOrEqual(150 - SLACK);
    expect(await timed(() => send(env.url, form({ Action: 'Nope' })))).toBeGreaterThanOrEqual(150 - SLACK);
  });

  test('a random latency delays each answer by at least its minimum', async () => {
    env.emulator.faults.set({ latencyMs: [80, 120] });
    const ec2 = ec2For(env.url);
    const times = await Promise.all(
      Array.from({ length: 8 }, () => timed(() => ec2.send(new DescribeVpcsCommand({})))),
    );
    for (const ms of times) expect(ms).toBeGreaterThanOrEqual(80 - SLACK);
  });

  test('a request is acted on half-way through its latency and answered at its end', async () => {
    const { ec2, account } = freshClient(env.url);
    env.emulator.faults.set({ latencyMs: 400 });
    let answered = false;
    const created = ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' })).then((out) => {
      answered = true;
      return out;
    });
    // The VPC is there (the way there is over) while its answer is still on the way back.
    const made = () =>
      [...env.emulator.world.state(account, 'us-east-1').vpcs.values()].some(
        (vpc) => vpc.cidrBlock === '10.9.0.0/16',
      );
    await vi.waitFor(() => expect(made()).toBe(true), { timeout: 5_000, interval: 5 });
    expect(answered).toBe(false);
    const vpcId = (await created).Vpc?.VpcId;
    expect(env.emulator.world.state(account, 'us-east-1').vpcs.has(must(vpcId, 'VPC id'))).toBe(true);
  });

  test('latency delays but does not fail', async () => {
    env.emulator.faults.set({ latencyMs: 20 });
    const out = await ec2For(env.url).send(new DescribeVpcsCommand({}));
    expect(out.$metadata.httpStatusCode).toBe(200);
  });
});

describe('failures', () => {
  test('failureRate 1 answers every call 500 InternalError', async () => {
    const ec2 = ec2For(env.url);
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
    env.emulator.faults.set({ failureRate: 1 });
    const calls = [
      () => ec2.send(new DescribeVpcsCommand({})),
      () => ec2.send(new CreateVpcCommand({ CidrBlock: '10.1.0.0/16' })),
      () =>
        ec2.send(new CreateTagsCommand({ Resources: [must(vpc.Vpc?.VpcId, 'VpcId')], Tags: [{ Key: 'k' }] })),
    ];
    for (let round = 0; round < 10; round++) {
      for (const call of calls) {
        await expect(call()).rejects.toMatchObject({
          name: 'InternalError',
          $metadata: { httpStatusCode: 500 },
        });
      }
    }
    expectEc2Error(
      await send(env.url, form({ Action: 'DescribeVpcs', Version: '2016-11-15' })),
      500,
      'InternalError',
    );
  });

  test("failureWhen 'before': nothing changes", async () => {
    const { ec2, account } = freshClient(env.url);
    await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
    const before = fingerprint(env.emulator.world, account);
    env.emulator.faults.set({ failureRate: 1, failureWhen: 'before' });
    for (let i = 0; i < 5; i++) {
      await expect(ec2.send(new CreateVpcCommand({ CidrBlock: '10.1.0.0/16' }))).rejects.toMatchObject({
        name: 'InternalError',
      });
    }
    expect(fingerprint(env.emulator.world, account)).toBe(before);
  });

  test("failureWhen 'after': the change happened though the caller saw 500", async () => {
    const { ec2 } = freshClient(env.url);
    env.emulator.faults.set({ failureRate: 1, failureWhen: 'after' });
    await expect(ec2.send(new CreateVpcCommand({ CidrBlock: '10.42.0.0/16' }))).rejects.toMatchObject({
      name: 'InternalError',
      $metadata: { httpStatusCode: 500 },
    });
    env.emulator.faults.set({});
    const vpcs = await ec2.send(new DescribeVpcsCommand({}));
    expect(vpcs.Vpcs?.map((v) => v.CidrBlock)).toEqual(['10.42.0.0/16']);
  });

  test('after a lost answer, a retry with the same ClientToken returns the resource it created', async () => {
    const { ec2 } = freshClient(env.url);
    const net = await createNetwork(ec2);
    const request = { SubnetId: net.subnetId, Description: 'probe', ClientToken: 'lost-answer-1' };
    env.emulator.faults.set({ failureRate: 1, failureWhen: 'after' });
    await expect(ec2.send(new CreateNetworkInterfaceCommand(request))).rejects.toMatchObject({
      name: 'InternalError',
    });
    env.emulator.faults.set({});
    const retried = await ec2.send(new CreateNetworkInterfaceCommand(request));
    const listed = await ec2.send(
      new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'description', Values: ['probe'] }] }),
    );
    expect(listed.NetworkInterfaces?.map((eni) => eni.NetworkInterfaceId)).toEqual([
      must(retried.NetworkInterface?.NetworkInterfaceId, 'NetworkInterfaceId'),
    ]);
    expect(retried.ClientToken).toBe('lost-answer-1');
  });

  /** The outcomes of `n` calls in a row under a seeded failure rate: '.' success, 'x' failure. */
  async function outcomes(faults: Faults, n = 24): Promise<string> {
    env.emulator.faults.set(faults);
    const ec2 = ec2For(env.url);
    let out = '';
    for (let i = 0; i < n; i++) {
      out += await ec2.send(new DescribeVpcsCommand({})).then(
        () => '.',
        () => 'x',
      );
    }
    return out;
  }

  test('with a seed, the same sequence of outcomes repeats; another seed gives another', async () => {
    const first = await outcomes({ failureRate: 0.5, seed: 7 });
    expect(first).toMatch(/\./);
    expect(first).toMatch(/x/);
    expect(await outcomes({ failureRate: 0.5, seed: 7 })).toBe(first);
    expect(await outcomes({ failureRate: 0.5, seed: 8 })).not.toBe(first);
    // Latency draws come from their own stream: turning latency on does not move the failures.
    expect(await outcomes({ failureRate: 0.5, seed: 7, latencyMs: [0, 2] })).toBe(first);
  });

  test('with the SDK default retries (3 attempts), a 20% failure rate mostly succeeds', async () => {
    env.emulator.faults.set({ failureRate: 0.2, failureWhen: 'before', seed: 1 });
    const ec2 = new EC2Client({
      endpoint: env.url,
      region: 'us-east-1',
      credentials: { accessKeyId: '111111111111', secretAccessKey: 'test' },
    });
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, () => ec2.send(new DescribeVpcsCommand({}))),
    );
    const succeeded = results.filter((r) => r.status === 'fulfilled');
    // Each call fails only if all three attempts do: 0.8%. 40 calls lose one now and then, rarely more.
    expect(succeeded.length).toBeGreaterThanOrEqual(37);
    const attempts = succeeded.map((r) => r.value.$metadata.attempts ?? 1);
    expect(attempts.some((n) => n > 1)).toBe(true);
  });

  test('set() changes the faults of a running emulator', async () => {
    const ec2 = ec2For(env.url);
    env.emulator.faults.set({ failureRate: 1 });
    await expect(ec2.send(new DescribeVpcsCommand({}))).rejects.toMatchObject({ name: 'InternalError' });
    expect(env.emulator.faults.current).toEqual({ failureRate: 1 });
    env.emulator.faults.set({});
    await expect(ec2.send(new DescribeVpcsCommand({}))).resolves.toBeDefined();
  });
});

describe('fault settings', () => {
  test('nonsense is refused at once rather than silently injecting nothing', async () => {
    const bad: Faults[] = [
      { failureRate: 1.5 },
      { failureRate: -0.1 },
      { latencyMs: -1 },
      { latencyMs: [50, 10] },
      { seed: 1.5 },
      { throttle: { mutating: { burst: 0, perSecond: 5 } } },
      { throttle: { mutating: { burst: 5, perSecond: 0 } } },
      { throttle: { bogus: { burst: 5, perSecond: 1 } } } as unknown as Faults,
    ];
    for (const faults of bad) {
      expect(() => env.emulator.faults.set(faults), JSON.stringify(faults)).toThrow(RangeError);
    }
    await expect(startEmulator({ faults: { failureRate: 2 } })).rejects.toThrow(RangeError);
  });
});
