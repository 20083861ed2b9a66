import { Agent } from 'node:http';
import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  DescribeTrafficMirrorSessionsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EC2_RATES, startEmulator } from '../emulator/index.ts';
import { eventBridgeAudit } from '../shared/aws/audit.ts';
import { ec2Gateway } from '../shared/aws/ec2.ts';
import { TAG } from '../shared/domain/tags.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { silentLogger } from '../shared/runtime/log.ts';
import { sweep } from '../shared/sweep.ts';
import { nlbTarget } from '../test/support/mirroring.ts';
import { createNetwork, must } from '../test/support/topology.ts';
import { fixed, table, verdict } from './table.ts';

/**
 * The sweeper against EC2's token buckets: `sessions` expired managed sessions, created with
 * throttling off, then one sweep with `throttle: true` (mutating: 50 burst, 5 a second) and
 * plenty of time. Deletions a second over the mutating refill rate is how close the sweeper gets
 * to what EC2 allows; issue 3 asks for at least 0.9 with no failed deletion. 2,000 sessions take
 * about 400 s by nature; `--sessions N` scales it down.
 */

export interface SweepBenchOptions {
  sessions: number;
}

export const DEFAULT_SWEEP: SweepBenchOptions = { sessions: 2000 };

const ACCOUNT = '444444444444';
const PER_FILTER = 500;

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once. */
async function pool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

export async function benchSweep(options: SweepBenchOptions = DEFAULT_SWEEP): Promise<string> {
  const emulator = await startEmulator();
  const credentials = { accessKeyId: ACCOUNT, secretAccessKey: 'bench' };
  // SDK defaults (standard retries, 3 attempts), as the Lambda has them.
  const ec2 = new EC2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials,
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 32 }) },
  });
  const events = new EventBridgeClient({ endpoint: emulator.url, region: 'us-east-1', credentials });
  const errors = new Map<string, number>();
  try {
    // Prepare, unthrottled: ENIs of three sessions each, through one load balancer target (which,
    // unlike an ENI target, takes any number of sources), a filter per 500 sessions.
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const targetId = await nlbTarget(ec2, ACCOUNT);
    const expiredAt = new Date(Date.now() - 3_600_000).toISOString();
    const filterIds: string[] = [];
    for (let i = 0; i < Math.ceil(options.sessions / PER_FILTER); i++) {
      const out = await ec2.send(
        new CreateTrafficMirrorFilterCommand({
          TagSpecifications: [
            {
              ResourceType: 'traffic-mirror-filter',
              Tags: [
                { Key: TAG.managed, Value: 'true' },
                { Key: TAG.createdAt, Value: expiredAt },
              ],
            },
          ],
        }),
      );
      filterIds.push(must(out.TrafficMirrorFilter?.TrafficMirrorFilterId, 'filter id'));
    }
    const eniIds: string[] = [];
    await pool(Math.ceil(options.sessions / 3), 32, async (i) => {
      const out = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }));
      eniIds[i] = must(out.NetworkInterface?.NetworkInterfaceId, 'ENI id');
    });
    await pool(options.sessions, 32, (i) =>
      ec2.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: eniIds[Math.floor(i / 3)],
          TrafficMirrorTargetId: targetId,
          TrafficMirrorFilterId: filterIds[Math.floor(i / PER_FILTER)],
          SessionNumber: (i % 3) + 1,
          TagSpecifications: [
            {
              ResourceType: 'traffic-mirror-session',
              Tags: [
                { Key: TAG.managed, Value: 'true' },
                { Key: TAG.reason, Value: 'guardduty' },
                { Key: TAG.expiresAt, Value: expiredAt },
              ],
            },
          ],
        }),
      ),
    );

    // Every answer EC2 gave that was an error, retried or not (this step runs once per attempt).
    ec2.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (error) {
          const name = error instanceof Error ? error.name : 'unknown';
          errors.set(name, (errors.get(name) ?? 0) + 1);
          throw error;
        }
      },
      { step: 'deserialize', name: 'benchErrors' },
    );
    const config = loadConfig({
      MIRROROPS_TARGET_ID: targetId,
      MIRROROPS_AUDIT_BUS: 'mirrorops-audit-bench',
    });
    const gateway = ec2Gateway(ec2);
    let deleted = 0;
    const progress = setInterval(() => {
      process.stderr.write(`  sweep: ${deleted}/${options.sessions} sessions deleted\n`);
    }, 30_000);
    progress.unref();
    emulator.faults.set({ throttle: true });
    const start = performance.now();
    const result = await sweep(
      {
        account: ACCOUNT,
        region: 'us-east-1',
        ec2: {
          ...gateway,
          deleteSession: async (id) => {
            await gateway.deleteSession(id);
            deleted++;
          },
        },
        audit: eventBridgeAudit(events, config.auditBus, () => undefined),
        config,
        now: () => new Date(),
        log: silentLogger,
      },
      { remainingMs: () => 3_600_000 },
    );
    const seconds = (performance.now() - start) / 1000;
    clearInterval(progress);
    emulator.faults.set({});
    const left = (await ec2.send(new DescribeTrafficMirrorSessionsCommand({}))).TrafficMirrorSessions ?? [];

    const refill = EC2_RATES.mutating.perSecond;
    const rate = result.deleted.length / seconds;
    const scaled =
      options.sessions === DEFAULT_SWEEP.sessions
        ? ''
        : ` (scaled down from ${DEFAULT_SWEEP.sessions} with --sessions ${options.sessions})`;
    return [
      `Sweep: ${options.sessions} expired managed sessions${scaled}, EC2 token buckets on (mutating ${EC2_RATES.mutating.burst} burst, ${refill}/s), sweeper rate ${config.sweepRatePerSecond}/s, SDK default retries`,
      table(
        [
          'sessions',
          'deleted',
          'seconds',
          'deletions/s',
          'ratio to 5/s',
          'target',
          '',
          'failed',
          'deferred',
          'left',
          'filters deleted',
          'EC2 errors seen',
        ],
        [
          [
            String(options.sessions),
            String(result.deleted.length),
            fixed(seconds, 1),
            fixed(rate, 2),
            fixed(rate / refill, 3),
            '>= 0.9, 0 failed',
            verdict(rate / refill >= 0.9 && result.failures.length === 0 && left.length === 0),
            String(result.failures.length),
            String(result.deferred),
            String(left.length),
            `${result.filtersDeleted.length}/${filterIds.length}`,
            [...errors].map(([name, n]) => `${n} ${name}`).join(', ') || 'none',
          ],
        ],
      ),
    ].join('\n');
  } finally {
    ec2.destroy();
    events.destroy();
    await emulator.stop();
  }
}
