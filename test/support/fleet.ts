import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  DescribeTrafficMirrorFiltersCommand,
  DescribeTrafficMirrorTargetsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateResourceShareCommand } from '@aws-sdk/client-ram';
import { vi } from 'vitest';
import { TAG } from '../../shared/domain/tags.ts';
import { associationStatuses, ramFor, targetArnOf } from './accounts.ts';
import { ec2For } from './emulator.ts';
import { allSessions, nlbTarget } from './mirroring.ts';
import { deployHub, deploySpoke, type HubDeployment } from './roles.ts';
import { createNetwork, must } from './topology.ts';

/**
 * An organisation as the sweeper sees it: a hub with a load balancer target (any number of
 * sources), the hub stack's roles, the target shared through RAM with every member (mirrorops'
 * share: named mirrorops-<target>, tagged managed), and in each member its spoke role (unless the
 * member is one "without a role") and managed sessions on the hub's target: `expired` of them past
 * their expiry, `live` not yet, each ENI holding up to three, all through one managed filter made
 * long ago (past the grace period).
 */
export interface FleetOptions {
  hub: string;
  members: readonly string[];
  /** Members enrolled (shared with) whose spoke role was never deployed. */
  withoutRole?: readonly string[];
  expired: number;
  live: number;
  externalId: string;
  auditBus: string;
  /** SDK attempts of the members' calls: 1 (the default) unless EC2's buckets are on while building. */
  maxAttempts?: number;
}

export interface Fleet {
  options: FleetOptions;
  targetId: string;
  stack: HubDeployment;
  /** Per member, the ids of its expired and live sessions, and its filter. */
  sessions: Map<string, { expired: string[]; live: string[]; filterId: string }>;
}

/** Runs `task` on each item, `concurrency` at once. */
export async function pool<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

const longAgo = () => new Date(Date.now() - 30 * 24 * 3_600_000).toISOString();

export async function buildFleet(url: string, o: FleetOptions): Promise<Fleet> {
  const hub = ec2For(url, o.hub);
  const targetId = await nlbTarget(hub, o.hub);
  const stack = await deployHub(url, { account: o.hub, targetId, auditBus: o.auditBus });
  const ram = ramFor(url, o.hub);
  const share = await ram.send(
    new CreateResourceShareCommand({
      name: `mirrorops-${targetId}`,
      resourceArns: [targetArnOf(o.hub, targetId)],
      principals: [...o.members],
      allowExternalPrincipals: false,
      tags: [{ key: TAG.managed, value: 'true' }],
    }),
  );
  const shareArn = must(share.resourceShare?.resourceShareArn, 'resourceShareArn');
  // RAM associates asynchronously (the emulator at the second read).
  for (let read = 0; ; read++) {
    const all = [
      ...(await associationStatuses(ram, shareArn, 'PRINCIPAL')),
      ...(await associationStatuses(ram, shareArn, 'RESOURCE')),
    ];
    if (all.every((a) => a.status === 'ASSOCIATED')) break;
    if (read === 5) throw new Error(`the share ${shareArn} did not complete in five reads`);
  }
  const sessions: Fleet['sessions'] = new Map();
  const without = new Set(o.withoutRole ?? []);
  await pool(o.members, 8, async (member) => {
    if (!without.has(member)) {
      await deploySpoke(url, {
        account: member,
        hub: o.hub,
        externalId: o.externalId,
        hubOutputs: stack.outputs,
      });
    }
    const ec2 = new EC2Client({
      endpoint: url,
      region: 'us-east-1',
      maxAttempts: o.maxAttempts ?? 1,
      credentials: { accessKeyId: member, secretAccessKey: 'test' },
    });
    const seen = await ec2.send(new DescribeTrafficMirrorTargetsCommand({}));
    if (!(seen.TrafficMirrorTargets ?? []).some((t) => t.TrafficMirrorTargetId === targetId)) {
      throw new Error(`member ${member} does not see the hub's target ${targetId}`);
    }
    const net = await createNetwork(ec2);
    const filter = await ec2.send(
      new CreateTrafficMirrorFilterCommand({
        TagSpecifications: [
          {
            ResourceType: 'traffic-mirror-filter',
            Tags: [
              { Key: TAG.managed, Value: 'true' },
              { Key: TAG.createdAt, Value: longAgo() },
            ],
          },
        ],
      }),
    );
    const filterId = must(filter.TrafficMirrorFilter?.TrafficMirrorFilterId, 'filter id');
    const mine = { expired: [] as string[], live: [] as string[], filterId };
    const total = o.expired + o.live;
    let eniId = '';
    for (let i = 0; i < total; i++) {
      if (i % 3 === 0) {
        const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: net.subnetId }));
        eniId = must(eni.NetworkInterface?.NetworkInterfaceId, 'ENI id');
      }
      const expired = i < o.expired;
      const at = new Date(Date.now() + (expired ? -3_600_000 : 24 * 3_600_000)).toISOString();
      const out = await ec2.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: eniId,
          TrafficMirrorTargetId: targetId,
          TrafficMirrorFilterId: filterId,
          SessionNumber: 20 + (i % 3),
          TagSpecifications: [
            {
              ResourceType: 'traffic-mirror-session',
              Tags: [
                { Key: TAG.managed, Value: 'true' },
                { Key: TAG.reason, Value: 'tag' },
                { Key: TAG.expiresAt, Value: at },
              ],
            },
          ],
        }),
      );
      const id = must(out.TrafficMirrorSession?.TrafficMirrorSessionId, 'session id');
      (expired ? mine.expired : mine.live).push(id);
    }
    sessions.set(member, mine);
  });
  return { options: o, targetId, stack, sessions };
}

/** A member's own sessions and filters as they are now (its root's view), ids sorted. */
export async function memberState(url: string, member: string) {
  const ec2 = ec2For(url, member);
  const sessions = (await allSessions(ec2)).filter((s) => s.OwnerId === member);
  const filters = (await ec2.send(new DescribeTrafficMirrorFiltersCommand({}))).TrafficMirrorFilters ?? [];
  return {
    sessions: sessions.map((s) => must(s.TrafficMirrorSessionId, 'session id')).sort(),
    /** For each session, its filter. */
    filterOf: new Map(sessions.map((s) => [s.TrafficMirrorSessionId, s.TrafficMirrorFilterId])),
    filters: filters.map((f) => must(f.TrafficMirrorFilterId, 'filter id')).sort(),
  };
}

/**
 * A new ttl-sweeper container of the fleet's hub, as Lambda makes one: the product's modules loaded
 * anew, with the role's credentials and the stack's settings in the environment (deletions at 100
 * a second: these tests are not about pacing, bench/fleet.ts is). Import the modules after it.
 */
export async function enterSweeper(url: string, fleet: Fleet): Promise<void> {
  const keys = await fleet.stack.credentials('ttl-sweeper');
  for (const key of Object.keys(process.env)) if (key.startsWith('MIRROROPS_')) delete process.env[key];
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_SESSION_TOKEN: keys.sessionToken,
    MIRROROPS_TARGET_ID: fleet.targetId,
    MIRROROPS_HUB_ACCOUNT_ID: fleet.options.hub,
    MIRROROPS_EXTERNAL_ID: fleet.options.externalId,
    MIRROROPS_AUDIT_BUS: fleet.options.auditBus,
    MIRROROPS_SWEEP_RATE: '100',
    MIRROROPS_LOG_LEVEL: 'silent',
  });
  vi.resetModules();
}

/** shared/fleet.ts as a new sweeper container has it, with its configuration. */
export async function sweeperContainer(url: string, fleet: Fleet) {
  await enterSweeper(url, fleet);
  const [module, { loadConfig }] = await Promise.all([
    import('../../shared/fleet.ts'),
    import('../../shared/runtime/config.ts'),
  ]);
  return { ...module, config: loadConfig() };
}
