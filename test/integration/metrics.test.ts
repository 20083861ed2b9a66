import { CreateTrafficMirrorFilterCommand, CreateTrafficMirrorSessionCommand } from '@aws-sdk/client-ec2';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { TAG } from '../../shared/domain/tags.ts';
import { type Handler, invoke } from '../support/emf.ts';
import { useEmulator } from '../support/emulator.ts';
import { findingFor, incident } from '../support/incident.ts';
import { intakeQueues } from '../support/intake.ts';

const env = useEmulator();

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

/** A function's handler as a new container has it, with the environment Lambda gives it. */
async function container(name: 'guardduty-finding' | 'ttl-sweeper', environment: Record<string, string>) {
  for (const key of Object.keys(process.env)) if (key.startsWith('MIRROROPS_')) delete process.env[key];
  Object.assign(process.env, { AWS_REGION: 'us-east-1', ...environment });
  vi.resetModules();
  return ((await import(`../../functions/${name}.ts`)) as { handler: Handler }).handler;
}

const dims = (fn: string, extra: Record<string, string> = {}) => ({
  service: 'mirrorops',
  function: fn,
  ...extra,
});

describe('metrics in embedded metric format, from a handler invocation', () => {
  test('a new finding, a repeat, a rejection and a sweep', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(2);
    const handler = await container('guardduty-finding', await world.lambdaEnv('guardduty-finding'));
    const updatedAt = new Date(Date.now() - 60_000);
    const event = findingFor('network-connection', world, instance, (d) => {
      d.updatedAt = updatedAt.toISOString();
    });

    // A new finding: two sessions started, TimeToMirror from its updatedAt (a minute ago, at least).
    const first = await invoke(handler, event);
    expect(first.result).toMatchObject({ outcomes: [{ status: 'started' }, { status: 'started' }] });
    expect(first.metrics).toEqual([
      {
        namespace: 'mirrorops',
        name: 'TimeToMirror',
        unit: 'Milliseconds',
        value: expect.any(Number),
        dimensions: dims('guardduty-finding'),
      },
      {
        namespace: 'mirrorops',
        name: 'SessionsStarted',
        unit: 'Count',
        value: 2,
        dimensions: dims('guardduty-finding'),
      },
    ]);
    expect(first.metrics[0]?.value).toBeGreaterThanOrEqual(60_000);

    // The same finding updated later: both sessions extended, nothing started.
    const repeat = await invoke(
      handler,
      findingFor('network-connection', world, instance, (d) => {
        d.updatedAt = new Date(updatedAt.getTime() + 30_000).toISOString();
      }),
    );
    expect(repeat.result).toMatchObject({ outcomes: [{ status: 'extended' }, { status: 'extended' }] });
    expect(repeat.metrics).toEqual([
      {
        namespace: 'mirrorops',
        name: 'SessionsExtended',
        unit: 'Count',
        value: 2,
        dimensions: dims('guardduty-finding'),
      },
    ]);

    // A finding updated a month ago, past its expiry before it arrives: rejected, the kind of
    // reason as a dimension.
    const late = await invoke(
      handler,
      findingFor('network-connection', world, instance, (d) => {
        d.updatedAt = new Date(updatedAt.getTime() - 30 * 24 * 3_600_000).toISOString();
      }),
    );
    expect(late.result).toMatchObject({ rejected: expect.stringContaining('expired') });
    expect(late.metrics).toEqual([
      {
        namespace: 'mirrorops',
        name: 'RequestsRejected',
        unit: 'Count',
        value: 1,
        dimensions: dims('guardduty-finding'),
      },
      {
        namespace: 'mirrorops',
        name: 'RequestsRejected',
        unit: 'Count',
        value: 1,
        dimensions: dims('guardduty-finding', { reason: 'expired' }),
      },
    ]);

    // A managed session past its expiry (made by hand, a month ago): the sweeper deletes it.
    const other = await world.instance(1);
    const longAgo = new Date(updatedAt.getTime() - 30 * 24 * 3_600_000).toISOString();
    const managed = (
      resource: 'traffic-mirror-filter' | 'traffic-mirror-session',
      extra: Record<string, string>,
    ) => [
      {
        ResourceType: resource,
        Tags: Object.entries({ [TAG.managed]: 'true', ...extra }).map(([Key, Value]) => ({ Key, Value })),
      },
    ];
    const filter = await world.ec2.send(
      new CreateTrafficMirrorFilterCommand({ TagSpecifications: managed('traffic-mirror-filter', {}) }),
    );
    await world.ec2.send(
      new CreateTrafficMirrorSessionCommand({
        NetworkInterfaceId: other.eniIds[0],
        TrafficMirrorTargetId: world.targetId,
        TrafficMirrorFilterId: filter.TrafficMirrorFilter?.TrafficMirrorFilterId,
        SessionNumber: 12,
        TagSpecifications: managed('traffic-mirror-session', {
          [TAG.expiresAt]: longAgo,
          [TAG.reason]: 'manual',
        }),
      }),
    );
    const sweeper = await container('ttl-sweeper', await world.lambdaEnv('ttl-sweeper'));
    const swept = await invoke(sweeper, {});
    expect(swept.metrics).toEqual([
      {
        namespace: 'mirrorops',
        name: 'SweepDeleted',
        unit: 'Count',
        value: 1,
        dimensions: dims('ttl-sweeper'),
      },
    ]);
    expect(swept.result).toMatchObject({
      accounts: [{ result: { deleted: [expect.any(String)], deferred: 0 } }],
    });
  });

  test("the finding intake: each finding's sessions and TimeToMirror, from the queue it waited in", async () => {
    const world = await incident(env.url);
    const instance = await world.instance(3);
    const { sqs: root, high, low } = await intakeQueues(env.url, world.account);
    const updatedAt = new Date(Date.now() - 120_000);
    const event = findingFor('network-connection-high', world, instance, (d) => {
      d.updatedAt = updatedAt.toISOString();
    });
    await root.send(new SendMessageCommand({ QueueUrl: high, MessageBody: JSON.stringify(event) }));
    const handler = await container('guardduty-finding', {
      ...(await world.lambdaEnv('guardduty-finding')),
      MIRROROPS_FINDINGS_HIGH_URL: high,
      MIRROROPS_FINDINGS_LOW_URL: low,
    });

    // Woken by the finding's rule (or the schedule): the finding itself comes from its queue.
    const { result, metrics } = await invoke(handler, {});
    expect(result).toMatchObject({ applied: 1, done: 1, retries: 0 });
    expect(metrics).toEqual([
      {
        namespace: 'mirrorops',
        name: 'TimeToMirror',
        unit: 'Milliseconds',
        value: expect.any(Number),
        dimensions: dims('guardduty-finding'),
      },
      {
        namespace: 'mirrorops',
        name: 'SessionsStarted',
        unit: 'Count',
        value: 3,
        dimensions: dims('guardduty-finding'),
      },
    ]);
    expect(metrics[0]?.value).toBeGreaterThanOrEqual(120_000);
    expect(await world.sessions()).toHaveLength(3);
  });
});
