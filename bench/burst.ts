import { EC2Client } from '@aws-sdk/client-ec2';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startEmulator } from '../emulator/index.ts';
import { sqsDeadLetters } from '../shared/aws/dlq.ts';
import { ec2Gateway } from '../shared/aws/ec2.ts';
import { type Clock, paced, realClock, TokenBudget } from '../shared/aws/pacing.ts';
import { sqsFindingQueues } from '../shared/aws/queues.ts';
import { expiryFrom } from '../shared/domain/expiry.ts';
import { burstFloorMs, EC2_BUCKETS } from '../shared/domain/intake.ts';
import { findingToIntent } from '../shared/events/guardduty.ts';
import { type DrainResult, drain, findingPreparer } from '../shared/intake.ts';
import { apply } from '../shared/mirror.ts';
import { silentLogger } from '../shared/runtime/log.ts';
import { findingFor, type GuardDutyDetail, incident } from '../test/support/incident.ts';
import { intakeQueues, virtualClock } from '../test/support/intake.ts';
import { nlbTarget } from '../test/support/mirroring.ts';
import { recordAttempts } from '../test/support/requests.ts';
import { fixed, table, verdict } from './table.ts';

/**
 * A burst of GuardDuty findings through the intake, with EC2's token buckets on in the emulator:
 * `findings` findings on as many instances (`enis` ENIs each) arrive within `arrivalMs`, in mixed
 * severities, a quarter of them with a remote address another finding has (a filter reused). The
 * wall time from the first arrival to the last finding done is set against the floor EC2's
 * mutating bucket sets: the mutating attempts made beyond its 50, at 5 a second. The intake
 * spends the budget the stack gives it (35 at once, 5 a second). `virtual` runs the emulator's
 * buckets and the intake's waits on a clock the benchmark moves (seconds instead of minutes;
 * what bench.test.ts runs): the ratio is then of that clock.
 */
export interface BurstOptions {
  findings: number;
  enis: number;
  arrivalMs: number;
  virtual: boolean;
}

export const DEFAULT_BURST: BurstOptions = { findings: 200, enis: 4, arrivalMs: 3_000, virtual: false };

const SEVERITIES = [8, 5, 9.5, 4, 7, 6.5, 4.2, 7.5, 4.5, 6, 8.5, 5.5];

export async function benchBurst(options: BurstOptions = DEFAULT_BURST): Promise<string> {
  const clock: Clock = options.virtual ? virtualClock() : realClock;
  const emulator = await startEmulator({ clock: () => clock.now() });
  try {
    const { url } = emulator;
    const world = await incident(url);
    const config = await world.useTarget(await nlbTarget(world.ec2, world.account));
    const { sqs: root, deadLetters: deadLetterUrl, ...queues } = await intakeQueues(url, world.account);

    const findings: { event: Record<string, unknown>; severity: number; id: string }[] = [];
    for (let i = 0; i < options.findings; i++) {
      const instance = await world.instance(options.enis);
      const severity = SEVERITIES[i % SEVERITIES.length] ?? 5;
      const id = `burst-${i}`;
      const remote = i % 4 === 3 ? i - 3 : i; // every fourth shares the address (and filter) of another
      const event = findingFor('network-connection', world, instance, (d: GuardDutyDetail) => {
        d.id = id;
        d.severity = severity;
        const action = d.service.action as { networkConnectionAction: { remoteIpDetails: object } };
        action.networkConnectionAction.remoteIpDetails = {
          ipAddressV4: `198.18.${Math.floor(remote / 250)}.${(remote % 250) + 1}`,
        };
      });
      findings.push({ event, severity, id });
    }

    const settings = { endpoint: url, region: 'us-east-1', credentials: world.functionKeys };
    const ec2 = paced(
      new EC2Client(settings),
      new TokenBudget(clock, { ...EC2_BUCKETS, mutating: config.intake.mutating }),
    );
    const attempts = recordAttempts(ec2, [], () => clock.now());
    const sqs = new SQSClient(settings);
    const deps = world.deps({ config, ec2: ec2Gateway(ec2) });
    const timeline = new Map<string, { start: number; end: number }>();
    emulator.faults.set({ throttle: true });

    // The findings arrive, spread over arrivalMs, in their band's queue (as the stack's two rules route them).
    const origin = clock.now();
    let arrived = false;
    const arrivals = (async () => {
      for (const [i, f] of findings.entries()) {
        const due = origin + (options.arrivalMs * i) / findings.length;
        if (!options.virtual && due > clock.now()) await clock.sleepUntil(due);
        await root.send(
          new SendMessageCommand({
            QueueUrl: f.severity >= 7 ? queues.high : queues.low,
            MessageBody: JSON.stringify(f.event),
          }),
        );
      }
      arrived = true;
    })();

    // Invocations one after another (reserved concurrency 1), as the findings' rule wakes it,
    // until every finding has arrived and a run finds nothing left.
    const runs: DrainResult[] = [];
    for (;;) {
      const done = arrived;
      const result = await drain({
        queues,
        sqs: sqsFindingQueues(sqs),
        deadLetters: sqsDeadLetters(sqs, deadLetterUrl),
        prepare: findingPreparer(
          (event) => findingToIntent(event, config),
          (intent) => expiryFrom(config.expiry, intent.startAt, intent.lifetimeMs),
          async (intent) => {
            const start = clock.now();
            await apply(intent, deps);
            timeline.set(intent.key, { start, end: clock.now() });
          },
        ),
        clock,
        // Queues made without attributes: SQS's default visibility timeout.
        visibilityTimeoutMs: 30_000,
        now: () => new Date(),
        remainingMs: () => 15 * 60_000,
        log: silentLogger,
      });
      runs.push(result);
      if (done && result.order.length === 0) break;
      if (result.order.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await arrivals;
    emulator.faults.set({});

    const ends = [...timeline.values()].map((t) => t.end);
    const wallMs = Math.max(...ends) - origin;
    const mutating = attempts.filter((a) => !/^(Describe|CreateTags|DeleteTags)/.test(a.action)).length;
    const tags = attempts.filter((a) => /^(CreateTags|DeleteTags)/.test(a.action)).length;
    const throttled = attempts.filter((a) => a.error === 'RequestLimitExceeded').length;
    const floorMs = burstFloorMs(mutating);
    const ratio = wallMs / floorMs;

    // Completion order by severity: each band's first start and last end, and in tenths of the
    // findings as they completed, the severities seen.
    const byEnd = findings
      .map((f) => ({ ...f, ...(timeline.get(f.id) ?? { start: Number.NaN, end: Number.NaN }) }))
      .sort((a, b) => a.end - b.end);
    const band = (high: boolean) => byEnd.filter((f) => f.severity >= 7 === high);
    const seconds = (t: number) => fixed((t - origin) / 1000, 1);
    const bandRows = [true, false].map((high) => {
      const fs = band(high);
      return [
        high ? 'severity >= 7' : 'severity < 7',
        String(fs.length),
        seconds(Math.min(...fs.map((f) => f.start))),
        seconds(Math.max(...fs.map((f) => f.end))),
      ];
    });
    const lastHighEnd = Math.max(...band(true).map((f) => f.end));
    const firstLowStart = Math.min(...band(false).map((f) => f.start));
    const tenth = Math.ceil(byEnd.length / 10);
    const deciles = Array.from({ length: Math.ceil(byEnd.length / tenth) }, (_, i) => {
      const slice = byEnd.slice(i * tenth, (i + 1) * tenth);
      const sev = slice.map((f) => f.severity);
      return [
        `${i * tenth + 1}-${i * tenth + slice.length}`,
        seconds(Math.max(...slice.map((f) => f.end))),
        fixed(Math.min(...sev), 1),
        fixed(Math.max(...sev), 1),
      ];
    });
    const clockName = options.virtual ? 'the benchmark clock' : 'wall time';
    return [
      `Burst: ${options.findings} findings on ${options.findings} instances (${options.enis} ENIs each) arriving within ${options.arrivalMs / 1000} s, EC2's buckets on (${clockName})`,
      table(
        ['', 'value'],
        [
          ['mutating attempts (filters, rules, sessions)', String(mutating)],
          ['mutating per finding', fixed(mutating / options.findings, 2)],
          ['CreateTags/DeleteTags attempts', String(tags)],
          ['attempts throttled (RequestLimitExceeded)', String(throttled)],
          ['floor: (mutating - 50) / 5 per second', `${fixed(floorMs / 1000, 1)} s`],
          ['first arrival to last finding done', `${fixed(wallMs / 1000, 1)} s`],
          ['ratio to the floor (goal <= 1.2)', `${fixed(ratio, 3)} ${verdict(ratio <= 1.2)}`],
          ['invocations (drain runs)', String(runs.length)],
          [
            'dead-lettered / expired / left',
            `${runs.reduce((n, r) => n + r.deadLettered, 0)} / ${runs.reduce((n, r) => n + r.expired, 0)} / ${runs.reduce((n, r) => n + r.left, 0)}`,
          ],
          [
            'every severity >= 7 done before the first < 7 started',
            verdict(lastHighEnd <= firstLowStart) === 'ok' ? 'yes' : 'NO',
          ],
        ],
      ),
      '',
      'By band (seconds from the first arrival):',
      table(['band', 'findings', 'first start', 'last done'], bandRows),
      '',
      'Completion order (findings in the order they were done):',
      table(['done', 'by s', 'min severity', 'max severity'], deciles),
    ].join('\n');
  } finally {
    await emulator.stop();
  }
}
