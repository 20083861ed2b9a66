import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  DeleteTrafficMirrorFilterCommand,
  DeleteTrafficMirrorSessionCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { eventBridgeAudit } from '../shared/aws/audit.ts';
import { ec2Gateway } from '../shared/aws/ec2.ts';
import { findingToIntent } from '../shared/events/guardduty.ts';
import { Memory } from '../shared/memory.ts';
import { apply } from '../shared/mirror.ts';
import { findingFor, type Incident, incident } from '../test/support/incident.ts';
import { type Call, recordRequests } from '../test/support/requests.ts';
import { type EmulatorThread, startEmulatorThread } from './emulator-thread.ts';
import { recordSent, replayBare, type Sent, wavesOf } from './replay.ts';
import { fixed, median, table, verdict } from './table.ts';

/**
 * The critical path of an incident: a GuardDuty finding on a 4-ENI instance, with a new filter
 * of 4 rules (policy scope=full: ingress and egress, IPv4 and IPv6), against the emulator at a
 * fixed latency per request. Wall time over latency is the number of round trips on the
 * critical path, whatever the machine; issue 12 asks for two waves, at most 2.3 (the reads with
 * the filter's create -> its rules and the sessions together), and for a repeat 1 wave (<= 1.2) in
 * the container that handled the finding (it remembers the sessions) and 2 (<= 2.3) in another
 * one (read, then write). A DNS finding takes the same two waves (its filter is the amazon-dns
 * network service: nothing to read first). A new container's first finding is measured in a fresh
 * process, as a ratio to the warm one: what the first use of each client costs. Under them all, the
 * floor: the new finding's own requests replayed by a bare SDK client (bench/replay.ts).
 */

export interface CriticalPathOptions {
  latencyMs: number;
  runs: number;
}

export const DEFAULT_CRITICAL_PATH: CriticalPathOptions = { latencyMs: 50, runs: 5 };

interface Sample {
  ms: number;
  /** Until the deferred audit events were delivered too: when the Lambda invocation would end. */
  withAuditMs: number;
  calls: Call[];
  statuses: string[];
}

/** The calls as waves: those started within half a latency of each other, in order. */
function waves(calls: readonly Call[], origin: number, latencyMs: number): string[] {
  const sorted = [...calls].sort((a, b) => a.start - b.start);
  const groups: Call[][] = [];
  for (const call of sorted) {
    const last = groups[groups.length - 1];
    if (last && call.start - (last[0]?.start ?? 0) < latencyMs / 2) last.push(call);
    else groups.push([call]);
  }
  return groups.map((group) => {
    const counts = new Map<string, number>();
    for (const c of group) counts.set(c.action, (counts.get(c.action) ?? 0) + 1);
    const names = [...counts].map(([action, n]) => (n > 1 ? `${n}x ${action}` : action)).join(' + ');
    const at = ((group[0]?.start ?? origin) - origin).toFixed(0);
    return `t=${at}ms ${names}`;
  });
}

/**
 * A finding handled by a process that has handled none (bench/first-finding.ts), as the account's
 * root: the same credentials as the warm measurements, so the two differ only in first use.
 */
async function firstInFreshProcess(world: Incident, finding: Record<string, unknown>): Promise<Sample> {
  const env = await world.lambdaEnv('guardduty-finding');
  const { MIRROROPS_HUB_ACCOUNT_ID: _known, ...withoutHub } = env;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./first-finding.ts', import.meta.url))],
    {
      env: {
        PATH: process.env.PATH,
        ...withoutHub,
        AWS_ACCESS_KEY_ID: world.account,
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_SESSION_TOKEN: '',
        AWS_REGION: 'us-east-1',
        AWS_MAX_ATTEMPTS: '1',
        MIRROROPS_SCOPE: 'full',
        BENCH_FINDING: JSON.stringify(finding),
        BENCH_FUNCTION_ARN: `arn:aws:lambda:us-east-1:${world.account}:function:mirrorops-bench-guardduty-finding`,
      },
    },
  );
  return JSON.parse(stdout) as Sample;
}

/**
 * The new finding's own requests, wave by wave, sent again by a bare client in another account
 * (bench/replay.ts): the floor the SDK, the loopback and the emulator set on this machine. The
 * client is warmed first by the same requests on another instance, at no latency, and what they
 * made is deleted so that the measured reads find what the new finding's found: nothing.
 */
async function floorOf(
  emulator: EmulatorThread,
  world: Incident,
  instance: { instanceId: string; eniIds: string[] },
  waves: Sent[][],
  latencyMs: number,
): Promise<number> {
  await emulator.setFaults({});
  const bare = await incident(emulator.url, { MIRROROPS_SCOPE: 'full' });
  const warm = await bare.instance(4);
  const measured = await bare.instance(4);
  const ec2 = new EC2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: bare.account, secretAccessKey: 'bench' },
  });
  const idsFor = (to: { instanceId: string; eniIds: string[] }) =>
    new Map([
      [world.targetId, bare.targetId],
      [instance.instanceId, to.instanceId],
      ...instance.eniIds.map((id, i): [string, string] => [id, to.eniIds[i] ?? id]),
    ]);
  try {
    await replayBare(ec2, waves, idsFor(warm), 'warm');
    for (const session of await bare.sessions()) {
      await ec2.send(
        new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: session.TrafficMirrorSessionId }),
      );
    }
    for (const filter of await bare.filters()) {
      await ec2.send(
        new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: filter.TrafficMirrorFilterId }),
      );
    }
    await emulator.setFaults({ latencyMs });
    return await replayBare(ec2, waves, idsFor(measured), 'bare');
  } finally {
    ec2.destroy();
  }
}

export async function benchCriticalPath(
  options: CriticalPathOptions = DEFAULT_CRITICAL_PATH,
): Promise<string> {
  const emulator = await startEmulatorThread();
  try {
    const first: Sample[] = [];
    const repeat: Sample[] = [];
    const coldRepeat: Sample[] = [];
    const firstInProcess: Sample[] = [];
    const floor: number[] = [];
    const dnsFirst: Sample[] = [];
    // One warm-up run (JIT), then the measured ones.
    for (let run = 0; run <= options.runs; run++) {
      await emulator.setFaults({});
      const world = await incident(emulator.url, { MIRROROPS_SCOPE: 'full' });
      const instance = await world.instance(4);
      const calls: Call[] = [];
      // The container's own clients (made once, as shared/aws/clients.ts does), at the emulator.
      const client = { endpoint: emulator.url, region: 'us-east-1', maxAttempts: 1 };
      const credentials = { accessKeyId: world.account, secretAccessKey: 'bench' };
      const ec2 = new EC2Client({ ...client, credentials });
      recordRequests(ec2, calls);
      const sent: Sent[] = [];
      recordSent(ec2, sent);
      const events = new EventBridgeClient({ ...client, credentials });
      recordRequests(events, calls);
      const deps = world.deps({
        ec2: ec2Gateway(ec2),
        audit: eventBridgeAudit(events, world.config.auditBus, () => undefined),
      });
      const event = findingFor('network-connection', world, instance);
      const repeatOf = (count: number) =>
        findingFor('network-connection', world, instance, (d) => {
          d.service.count = count;
          d.updatedAt = new Date(Date.now() + count * 60_000).toISOString();
        });
      const measure = async (
        finding: Record<string, unknown>,
        memory = deps.memory,
        config = world.config,
      ): Promise<Sample> => {
        const outcome = findingToIntent(finding, config);
        if (outcome.kind !== 'mirror') throw new Error(`the finding was ignored: ${outcome.reason}`);
        calls.length = 0;
        sent.length = 0;
        const deferred: Promise<unknown>[] = [];
        const start = performance.now();
        // As the handler chain runs it: audit events deferred until after the answer.
        const result = await apply(outcome.intent, {
          ...deps,
          defer: (work) => deferred.push(work),
          ...(memory ? { memory } : {}),
        });
        const ms = performance.now() - start;
        await Promise.all(deferred);
        const withAuditMs = performance.now() - start;
        return {
          ms,
          withAuditMs,
          calls: calls.map((c) => ({ ...c, start: c.start - start, end: c.end - start })),
          statuses: result.outcomes.map((o) => o.status),
        };
      };

      // The container has handled a finding before (another instance, a filter of the finding's
      // own scope), as a warm Lambda container has: the first use of each command on a new client
      // is not what is measured.
      const other = await world.instance(1);
      const dnsHost = await world.instance(4);
      const warmUp = new Memory();
      const scoped = { ...world.config, scope: 'finding' as const };
      for (const count of [1, 2]) {
        const finding = findingFor('network-connection', world, other, (d) => {
          d.service.count = count;
        });
        await measure(finding, warmUp, scoped);
      }

      await emulator.setFaults({ latencyMs: options.latencyMs });
      const a = await measure(event);
      const newFinding = wavesOf(sent, options.latencyMs);
      const b = await measure(repeatOf(2));
      // Another container, which has not seen this instance: it reads before it writes.
      const c = await measure(repeatOf(3), new Memory());
      // A DNS finding (scope from the finding): its filter is the amazon-dns network service.
      const e = await measure(findingFor('dns-request', world, dnsHost), deps.memory, scoped);
      events.destroy();
      ec2.destroy();
      // A new Lambda container's first finding: another account, so its filter is new too.
      await emulator.setFaults({});
      const fresh = await incident(emulator.url, { MIRROROPS_SCOPE: 'full' });
      const freshInstance = await fresh.instance(4);
      await emulator.setFaults({ latencyMs: options.latencyMs });
      const d = await firstInFreshProcess(fresh, findingFor('network-connection', fresh, freshInstance));
      const bare = await floorOf(emulator, world, instance, newFinding, options.latencyMs);
      if (run > 0) {
        first.push(a);
        repeat.push(b);
        coldRepeat.push(c);
        firstInProcess.push(d);
        floor.push(bare);
        dnsFirst.push(e);
      }
    }

    const rows = [
      { name: 'new finding, 4 ENIs, new 4-rule filter', samples: first, target: 2.3 },
      { name: 'repeat, same container (sessions remembered)', samples: repeat, target: 1.2 },
      { name: 'repeat, new container (reads first)', samples: coldRepeat, target: 2.3 },
      { name: 'new DNS finding, 4 ENIs, new amazon-dns filter', samples: dnsFirst, target: 2.3 },
      { name: 'new finding, first in a fresh process', samples: firstInProcess },
    ].map(({ name, samples, target }: { name: string; samples: Sample[]; target?: number }) => {
      const ms = median(samples.map((s) => s.ms));
      const trips = ms / options.latencyMs;
      const calls = median(samples.map((s) => s.calls.length));
      const outcomes = [...new Set(samples.flatMap((s) => s.statuses))].join(',');
      // When the last session is in place (created, or its expiry written): packets flow from then.
      const ready = median(
        samples.map((s) =>
          Math.max(
            ...s.calls
              .filter((c) =>
                /^(CreateTrafficMirrorSession|CreateTags|ModifyTrafficMirrorSession)$/.test(c.action),
              )
              .map((c) => c.end),
          ),
        ),
      );
      return {
        cells: [
          name,
          fixed(ms, 0),
          fixed(trips, 2),
          target === undefined ? '-' : `<= ${target}`,
          target === undefined ? '' : verdict(trips <= target),
          fixed(ready / options.latencyMs, 2),
          fixed(median(samples.map((s) => s.withAuditMs)) / options.latencyMs, 2),
          fixed(
            median(
              samples.map(
                (s) =>
                  waves(
                    s.calls.filter((c) => c.action !== 'PutEvents'),
                    0,
                    options.latencyMs,
                  ).length,
              ),
            ),
            0,
          ),
          fixed(calls, 0),
          outcomes,
        ],
        path: waves(samples[0]?.calls ?? [], 0, options.latencyMs),
        name,
      };
    });
    const warm = median(first.map((s) => s.ms));
    const cold = median(firstInProcess.map((s) => s.ms));
    const bare = median(floor);
    const newFindingWaves = median(
      first.map(
        (s) =>
          waves(
            s.calls.filter((c) => c.action !== 'PutEvents'),
            0,
            options.latencyMs,
          ).length,
      ),
    );
    return [
      `Critical path: emulator latency ${options.latencyMs} ms per request (emulator in a thread of its own), median of ${options.runs} runs (each a fresh account)`,
      table(
        [
          'case',
          'wall ms',
          'wall/latency',
          'target',
          '',
          'sessions in place/latency',
          'with audit/latency',
          'sequential waves',
          'requests',
          'outcomes',
        ],
        rows.map((r) => r.cells),
      ),
      '',
      `The new finding's own requests sent again by a bare SDK client, in its ${fixed(newFindingWaves, 0)} waves with nothing between them (bench/replay.ts): ${fixed(bare, 0)} ms, ${fixed(bare / options.latencyMs, 2)} latencies. That is the floor the SDK, the loopback and the emulator set on this machine; mirrorops' own work on the path is the rest: ${fixed(warm - bare, 1)} ms, ${fixed((warm - bare) / options.latencyMs, 2)} latencies.`,
      '',
      `First finding in a fresh process / in a warm one: ${fixed(cold / warm, 2)} (${fixed(cold, 0)} ms / ${fixed(warm, 0)} ms; the difference is first-use CPU: no request is added)`,
      '',
      ...rows.flatMap((r) => [
        `Requests of one run, "${r.name}", grouped by when they started:`,
        ...r.path.map((p) => `  ${p}`),
      ]),
    ].join('\n');
  } finally {
    await emulator.stop();
  }
}
