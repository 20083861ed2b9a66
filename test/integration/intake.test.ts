import { EC2Client } from '@aws-sdk/client-ec2';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, test } from 'vitest';
import { startEmulator } from '../../emulator/index.ts';
import { sqsDeadLetters } from '../../shared/aws/dlq.ts';
import { ec2Gateway } from '../../shared/aws/ec2.ts';
import { paced, realClock, TokenBudget } from '../../shared/aws/pacing.ts';
import { sqsFindingQueues } from '../../shared/aws/queues.ts';
import { expiryFrom } from '../../shared/domain/expiry.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { findingToIntent } from '../../shared/events/guardduty.ts';
import { drain, findingPreparer } from '../../shared/intake.ts';
import { apply } from '../../shared/mirror.ts';
import { silentLogger } from '../../shared/runtime/log.ts';
import { sweep } from '../../shared/sweep.ts';
import { findingFor, type GuardDutyDetail, incident, tagsOf } from '../support/incident.ts';
import { intakeQueues, virtualClock } from '../support/intake.ts';
import { nlbTarget } from '../support/mirroring.ts';
import { recordAttempts } from '../support/requests.ts';
import { must } from '../support/topology.ts';

const MINUTE = 60_000;

/**
 * A burst of findings through the intake with EC2's token buckets on and 20% of requests answered
 * InternalError. The emulator's buckets and the intake's waits run on one clock the test moves
 * (a wait moves it to the instant waited for), so minutes of EC2's refill pass in seconds.
 */
describe('a burst of findings, throttled at EC2 rates and 20% InternalError', () => {
  test('every ENI of every finding is mirrored once, the severe ones first, nothing dead-lettered, no orphan filter after a sweep', async () => {
    const clock = virtualClock();
    const emulator = await startEmulator({ clock: () => clock.now() });
    try {
      const { url } = emulator;
      const world = await incident(url);
      // ~90 sources: more than an ENI target takes, so the target is a load balancer.
      const config = await world.useTarget(await nlbTarget(world.ec2, world.account));
      const { sqs: root, deadLetters: deadLetterUrl, ...queues } = await intakeQueues(url, world.account);

      // 50 findings on 50 instances (1 or 2 ENIs), severities from 4 to 9.5, remote addresses
      // shared by some (their filters are one); then 10 more deliveries: 5 redelivered as they
      // were, 5 repeats of the finding (a later occurrence).
      const severities = [8, 5, 9.5, 4, 7, 6.5, 4.2, 7.5, 4.5, 6];
      const findings: { event: Record<string, unknown>; severity: number; eniIds: string[] }[] = [];
      for (let i = 0; i < 50; i++) {
        const instance = await world.instance(1 + (i % 2));
        const severity = severities[i % severities.length] ?? 5;
        const event = findingFor('network-connection', world, instance, (d: GuardDutyDetail) => {
          d.id = `burst-${i}`;
          d.severity = severity;
          const action = d.service.action as { networkConnectionAction: { remoteIpDetails: object } };
          action.networkConnectionAction.remoteIpDetails = { ipAddressV4: `203.0.113.${i % 20}` };
        });
        findings.push({ event, severity, eniIds: instance.eniIds });
      }
      const deliveries = findings.map((f) => f.event);
      for (let i = 0; i < 5; i++) deliveries.push(structuredClone(must(findings[i * 7], 'finding').event));
      for (let i = 0; i < 5; i++) {
        const repeat = structuredClone(must(findings[i * 9 + 1], 'finding').event) as {
          detail: GuardDutyDetail;
        };
        repeat.detail.updatedAt = new Date(Date.now() + MINUTE).toISOString();
        repeat.detail.service.count = 2;
        deliveries.push(repeat as unknown as Record<string, unknown>);
      }
      // As the stack's two rules route them: severity 7 and above to the high queue.
      for (const event of deliveries) {
        const { severity } = (event as { detail: GuardDutyDetail }).detail;
        await root.send(
          new SendMessageCommand({
            QueueUrl: severity >= 7 ? queues.high : queues.low,
            MessageBody: JSON.stringify(event),
          }),
        );
      }

      // The function's clients, as its role, with the SDK's default retries (3 attempts).
      const settings = { endpoint: url, region: 'us-east-1', credentials: world.functionKeys };
      const ec2 = paced(new EC2Client(settings), new TokenBudget(clock));
      const attempts = recordAttempts(ec2);
      const sqs = new SQSClient(settings);
      const deps = world.deps({ config, ec2: ec2Gateway(ec2) });
      emulator.faults.set({ throttle: true, failureRate: 0.2, seed: 11 });

      const result = await drain({
        queues,
        sqs: sqsFindingQueues(sqs),
        deadLetters: sqsDeadLetters(sqs, deadLetterUrl),
        prepare: findingPreparer(
          (event) => findingToIntent(event, config),
          (intent) => expiryFrom(config.expiry, intent.startAt, intent.lifetimeMs),
          (intent) => apply(intent, deps),
        ),
        clock,
        // Queues made without attributes: SQS's default visibility timeout.
        visibilityTimeoutMs: 30_000,
        now: () => new Date(),
        remainingMs: () => 60 * MINUTE,
        log: silentLogger,
        random: () => 0.5,
      });
      const elapsed = clock.now();
      emulator.faults.set({});

      expect(result).toMatchObject({ ignored: 0, expired: 0, deadLettered: 0, left: 0 });
      // Each of the 60 deliveries applied (one whose removal failed may come back and be applied again).
      expect(new Set(result.order.map((o) => o.id)).size).toBe(60);
      // InternalError came (and was retried); no attempt found EC2's bucket empty: the budget paced them.
      expect(attempts.filter((a) => a.error === 'InternalError').length).toBeGreaterThan(0);
      expect(attempts.filter((a) => a.error === 'RequestLimitExceeded')).toEqual([]);
      // The floor: the mutating attempts beyond the bucket's 50, at 5 a second (on the test's clock).
      const mutating = attempts.filter((a) => !/^(Describe|CreateTags|DeleteTags)/.test(a.action)).length;
      expect(elapsed).toBeGreaterThanOrEqual(((mutating - 50) / 5) * 1000 - 200);
      const dead = await root.send(
        new ReceiveMessageCommand({ QueueUrl: deadLetterUrl, MaxNumberOfMessages: 10 }),
      );
      expect(dead.Messages ?? []).toEqual([]);
      for (const url of Object.values(queues)) {
        const left = await root.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
        expect(left.Messages ?? []).toEqual([]);
      }

      // Every ENI of every finding has one guardduty session, no ENI two.
      const sessions = (await world.sessions()).filter((s) => tagsOf(s)[TAG.reason] === 'guardduty');
      const eniIds = findings.flatMap((f) => f.eniIds).sort();
      expect(sessions.map((s) => s.NetworkInterfaceId).sort()).toEqual(eniIds);

      // The sessions in the order EC2 made them: every severity >= 7 one before the first < 7 one.
      const severityOf = new Map(findings.flatMap((f) => f.eniIds.map((id) => [id, f.severity] as const)));
      const order = sessions.map((s) => severityOf.get(must(s.NetworkInterfaceId, 'ENI')) ?? -1);
      const firstLow = order.findIndex((s) => s < 7);
      const lastHigh = order.findLastIndex((s) => s >= 7);
      expect({ firstLow, lastHigh, high: order.filter((s) => s >= 7).length }).toEqual({
        firstLow: lastHigh + 1,
        lastHigh,
        high: findings.filter((f) => f.severity >= 7).reduce((n, f) => n + f.eniIds.length, 0),
      });

      // One sweep past the filters' grace period leaves no managed filter without a session.
      const swept = await sweep(
        world.sweeperDeps({ config, now: () => new Date(Date.now() + 11 * MINUTE) }),
        {
          remainingMs: () => 10 * MINUTE,
        },
      );
      expect(swept.failures).toEqual([]);
      const used = new Set((await world.sessions()).map((s) => s.TrafficMirrorFilterId));
      const orphans = (await world.filters()).filter(
        (f) => tagsOf(f)[TAG.managed] === 'true' && !used.has(f.TrafficMirrorFilterId),
      );
      expect(orphans).toEqual([]);
    } finally {
      await emulator.stop();
    }
  }, 180_000);
});

describe('calls per finding', () => {
  test('findings of one filter arriving together make the filter and its rules once: 1 + 2 + a session each', async () => {
    const emulator = await startEmulator();
    try {
      const { url } = emulator;
      const world = await incident(url);
      const { sqs: root, high, low } = await intakeQueues(url, world.account);
      const queues = { high, low };
      // Four findings on four 1-ENI instances about the same remote address: one filter of 2 rules.
      for (let i = 0; i < 4; i++) {
        const event = findingFor('network-connection', world, await world.instance(1), (d) => {
          d.id = `same-remote-${i}`;
        });
        await root.send(new SendMessageCommand({ QueueUrl: queues.low, MessageBody: JSON.stringify(event) }));
      }
      const settings = { endpoint: url, region: 'us-east-1', credentials: world.functionKeys };
      const ec2 = paced(new EC2Client(settings), new TokenBudget(realClock));
      const attempts = recordAttempts(ec2);
      const sqs = new SQSClient(settings);
      const deps = world.deps({ ec2: ec2Gateway(ec2) });
      const intake = {
        queues,
        sqs: sqsFindingQueues(sqs),
        deadLetters: undefined,
        prepare: findingPreparer(
          (event) => findingToIntent(event, world.config),
          (intent) => expiryFrom(world.config.expiry, intent.startAt, intent.lifetimeMs),
          (intent) => apply(intent, deps),
        ),
        clock: realClock,
        visibilityTimeoutMs: 30_000,
        now: () => new Date(),
        remainingMs: () => 10 * MINUTE,
        log: silentLogger,
      };
      const result = await drain(intake);
      expect(result).toMatchObject({ applied: 4, deadLettered: 0, left: 0 });
      const mutating = attempts.filter((a) => !/^(Describe|CreateTags|DeleteTags)/.test(a.action));
      expect(mutating.map((a) => a.action).sort()).toEqual([
        'CreateTrafficMirrorFilter',
        'CreateTrafficMirrorFilterRule',
        'CreateTrafficMirrorFilterRule',
        'CreateTrafficMirrorSession',
        'CreateTrafficMirrorSession',
        'CreateTrafficMirrorSession',
        'CreateTrafficMirrorSession',
      ]);
      // Tags are given on create: no CreateTags for a new finding.
      expect(attempts.filter((a) => a.action === 'CreateTags')).toEqual([]);

      // A repeat of a finding on a 2-ENI instance (a later occurrence): no mutating call, one CreateTags.
      const first = findingFor('network-connection', world, await world.instance(2), (d) => {
        d.id = 'repeated';
      });
      await root.send(new SendMessageCommand({ QueueUrl: queues.high, MessageBody: JSON.stringify(first) }));
      await drain(intake);
      const repeat = structuredClone(first) as unknown as { detail: GuardDutyDetail };
      repeat.detail.updatedAt = new Date(Date.now() + MINUTE).toISOString();
      repeat.detail.service.count = 2;
      await root.send(new SendMessageCommand({ QueueUrl: queues.high, MessageBody: JSON.stringify(repeat) }));
      attempts.length = 0;
      expect(await drain(intake)).toMatchObject({ applied: 1 });
      expect(attempts.filter((a) => !a.action.startsWith('Describe')).map((a) => a.action)).toEqual([
        'CreateTags',
      ]);
    } finally {
      await emulator.stop();
    }
  });
});

describe('a finding that must wait past the invocation', () => {
  test('is hidden in its queue until its next attempt is due, not for the whole visibility timeout', async () => {
    const clock = virtualClock();
    const emulator = await startEmulator({ clock: () => clock.now() });
    try {
      const { url } = emulator;
      const world = await incident(url);
      const { sqs: root, high, low } = await intakeQueues(url, world.account);
      const queues = { high, low };
      const event = findingFor('network-connection', world, await world.instance(1));
      await root.send(new SendMessageCommand({ QueueUrl: queues.high, MessageBody: JSON.stringify(event) }));
      const settings = {
        endpoint: url,
        region: 'us-east-1',
        credentials: world.functionKeys,
        maxAttempts: 1,
      };
      const deps = world.deps({ ec2: ec2Gateway(new EC2Client(settings)) });
      emulator.faults.set({ failActions: ['CreateTrafficMirrorSession'] });
      const result = await drain({
        queues,
        sqs: sqsFindingQueues(new SQSClient(settings)),
        deadLetters: undefined,
        prepare: findingPreparer(
          (e) => findingToIntent(e, world.config),
          (intent) => expiryFrom(world.config.expiry, intent.startAt, intent.lifetimeMs),
          (intent) => apply(intent, deps),
        ),
        clock,
        visibilityTimeoutMs: 30_000,
        now: () => new Date(),
        // The intake stops 20 s before the end: 100 ms to go, less than the first wait (0.5 to 1 s).
        remainingMs: () => 20_100,
        log: silentLogger,
        random: () => 1,
      });
      emulator.faults.set({});
      expect(result).toMatchObject({ applied: 0, deadLettered: 0, left: 1 });
      const receive = () => root.send(new ReceiveMessageCommand({ QueueUrl: queues.high }));
      // Hidden while its wait (1 s, from when it failed) runs; shown once it is over, 29 s before
      // its visibility timeout would have ended.
      expect((await receive()).Messages ?? []).toEqual([]);
      clock.advance(1_001);
      expect((await receive()).Messages?.map((m) => m.Body)).toEqual([JSON.stringify(event)]);
    } finally {
      await emulator.stop();
    }
  });
});
