import {
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  DeleteTagsCommand,
  EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import type { Context } from 'aws-lambda';
import { describe, expect, test } from 'vitest';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../emulator/index.ts';
import { type Ec2Gateway, ec2Gateway } from '../../shared/aws/ec2.ts';
import { TAG } from '../../shared/domain/tags.ts';
import type { FleetSweep } from '../../shared/fleet.ts';
import { type ApplyResult, apply, type MirrorDeps } from '../../shared/mirror.ts';
import { silentLogger } from '../../shared/runtime/log.ts';
import { type SweepResult, sweep } from '../../shared/sweep.ts';
import { useEmulator } from '../support/emulator.ts';
import {
  findingFor,
  type GuardDutyDetail,
  type Incident,
  incident,
  intentOf,
  tagsOf,
} from '../support/incident.ts';
import { nlbTarget } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The sweeper's default rate (5/s) is EC2's; tests that are not about pacing go faster. */
const FAST = { MIRROROPS_SWEEP_RATE: '100' };
const plenty = { remainingMs: () => 10 * MINUTE };
/** A clock `ms` from now: the sweeper's view of time, moved without waiting. */
const inFuture = (ms: number) => () => new Date(Date.now() + ms);

const toTags = (tags: Record<string, string>): Tag[] =>
  Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

/** A change to a network-connection finding: another finding id and remote address. */
const another =
  (id: string, remote: string) =>
  (detail: GuardDutyDetail): void => {
    detail.id = id;
    const action = detail.service.action as { networkConnectionAction: { remoteIpDetails: object } };
    action.networkConnectionAction.remoteIpDetails = { ipAddressV4: remote };
  };

async function mirror(
  world: Incident,
  instance: { instanceId: string; eniIds: string[] },
  fixture = 'network-connection',
  change?: (detail: GuardDutyDetail) => void,
): Promise<ApplyResult> {
  const result = await apply(
    intentOf(findingFor(fixture, world, instance, change), world.config),
    world.deps(),
  );
  expect(result.outcomes.map((o) => o.status)).toEqual(instance.eniIds.map(() => 'started'));
  return result;
}

const sessionIds = (result: ApplyResult) =>
  result.outcomes.flatMap((o) => (o.status === 'started' ? [o.sessionId] : []));

async function stoppedEvents(world: Incident) {
  return (await world.auditEvents()).filter((e) => e['detail-type'] === 'Mirror Session Stopped');
}

/** A session or filter created by hand (a person, another tool), not by mirrorops. */
async function handSession(
  world: Incident,
  input: { eniId: string; filterId: string; number: number; tags?: Record<string, string> },
): Promise<string> {
  const out = await world.ec2.send(
    new CreateTrafficMirrorSessionCommand({
      NetworkInterfaceId: input.eniId,
      TrafficMirrorTargetId: world.targetId,
      TrafficMirrorFilterId: input.filterId,
      SessionNumber: input.number,
      ...(input.tags
        ? { TagSpecifications: [{ ResourceType: 'traffic-mirror-session', Tags: toTags(input.tags) }] }
        : {}),
    }),
  );
  return must(out.TrafficMirrorSession?.TrafficMirrorSessionId, 'session id');
}

async function handFilter(world: Incident, tags?: Record<string, string>): Promise<string> {
  const out = await world.ec2.send(
    new CreateTrafficMirrorFilterCommand(
      tags ? { TagSpecifications: [{ ResourceType: 'traffic-mirror-filter', Tags: toTags(tags) }] } : {},
    ),
  );
  return must(out.TrafficMirrorFilter?.TrafficMirrorFilterId, 'filter id');
}

/** An emulator of the test's own, for faults that must not reach other tests. */
async function withEmulator<T>(options: EmulatorOptions, run: (emulator: Emulator) => Promise<T>) {
  const emulator = await startEmulator(options);
  try {
    return await run(emulator);
  } finally {
    await emulator.stop();
  }
}

const longAgo = new Date(Date.now() - 30 * 24 * HOUR).toISOString();

describe('the sweeper', () => {
  test('removes expired managed sessions, keeps those not yet due, and reports each stop on the audit bus', async () => {
    const world = await incident(env.url, FAST);
    const medium = await world.instance(2); // severity 5: 6 h
    const high = await world.instance(1); // severity 8: 24 h
    const mediumRun = await mirror(world, medium);
    const highRun = await mirror(world, high, 'network-connection-high');

    const first = await sweep(world.sweeperDeps({ now: inFuture(7 * HOUR) }), plenty);

    expect([...first.deleted].sort()).toEqual(sessionIds(mediumRun).sort());
    expect(first).toMatchObject({ expired: 2, deferred: 0, kept: 0, failures: [] });
    expect((await world.sessions()).map((s) => s.TrafficMirrorSessionId)).toEqual(sessionIds(highRun));
    // The medium finding's filter has no session left and is older than the grace period.
    expect(first.filtersDeleted).toEqual([mediumRun.filterId]);
    expect((await world.filters()).map((f) => f.TrafficMirrorFilterId)).toEqual([highRun.filterId]);
    const stopped = await stoppedEvents(world);
    expect(stopped.map((e) => e.detail.sessionId).sort()).toEqual(sessionIds(mediumRun).sort());
    for (const event of stopped) {
      const outcome = mediumRun.outcomes.find(
        (o) => o.status === 'started' && o.sessionId === event.detail.sessionId,
      );
      expect(event.source).toBe('mirrorops');
      expect(event.detail).toEqual({
        account: world.account,
        region: 'us-east-1',
        instanceId: medium.instanceId,
        networkInterfaceId: outcome?.eniId,
        sessionId: event.detail.sessionId,
        sessionNumber: 5,
        reason: 'guardduty',
        intent: '16afba5c5c43e07c9e3e5e2e544e95df',
        expiresAt: mediumRun.expiresAt,
        message: 'expired',
      });
    }

    const second = await sweep(world.sweeperDeps({ now: inFuture(25 * HOUR) }), plenty);

    expect(second.deleted).toEqual(sessionIds(highRun));
    expect(second.filtersDeleted).toEqual([highRun.filterId]);
    expect(await world.sessions()).toEqual([]);
    expect(await world.filters()).toEqual([]);
  });

  test('never modifies or deletes a session or filter without mirrorops:managed=true', async () => {
    const world = await incident(env.url, FAST);
    const { eniIds } = await world.instance(2);
    const [eni, other] = [must(eniIds[0], 'ENI'), must(eniIds[1], 'ENI')];
    // Looks like ours and long expired, but nobody said managed=true.
    const lookalikeFilter = await handFilter(world, {
      [TAG.filterHash]: 'abc',
      [TAG.createdAt]: longAgo,
      [TAG.managed]: 'false',
    });
    await handFilter(world); // unused, untagged
    await handSession(world, {
      eniId: eni,
      filterId: lookalikeFilter,
      number: 1,
      tags: { [TAG.expiresAt]: longAgo, [TAG.reason]: 'guardduty' },
    });
    await handSession(world, {
      eniId: eni,
      filterId: lookalikeFilter,
      number: 2,
      tags: { [TAG.managed]: 'false', [TAG.expiresAt]: longAgo },
    });
    // A managed filter an unmanaged session uses: in use, so it stays.
    const managedFilter = await handFilter(world, { [TAG.managed]: 'true', [TAG.createdAt]: longAgo });
    await handSession(world, { eniId: eni, filterId: managedFilter, number: 3 });
    // A managed, expired session through an unmanaged filter: the session goes, the filter stays.
    const plainFilter = await handFilter(world);
    const ours = await handSession(world, {
      eniId: other,
      filterId: plainFilter,
      number: 1,
      tags: { [TAG.managed]: 'true', [TAG.expiresAt]: longAgo },
    });
    const sessionsBefore = await world.sessions();
    const filtersBefore = await world.filters();

    const result = await sweep(world.sweeperDeps({ now: inFuture(365 * 24 * HOUR) }), plenty);

    expect(result).toMatchObject({ expired: 1, deleted: [ours], filtersDeleted: [], failures: [] });
    expect(await world.sessions()).toEqual(sessionsBefore.filter((s) => s.TrafficMirrorSessionId !== ours));
    expect(await world.filters()).toEqual(filtersBefore);
  });

  test('removes an unused managed filter only after the grace period, and never one a session uses', async () => {
    const world = await incident(env.url, FAST); // grace: 10 minutes
    const instance = await world.instance(1);
    const used = must((await mirror(world, instance)).filterId, 'filter id');
    const unused = await handFilter(world, {
      [TAG.managed]: 'true',
      [TAG.createdAt]: new Date().toISOString(),
    });

    // EC2 itself refuses to delete a filter in use; the sweeper must not even try.
    const real = world.sweeperDeps().ec2;
    const attempted: string[] = [];
    const ec2: Ec2Gateway = {
      ...real,
      deleteFilter: (id) => {
        attempted.push(id);
        return real.deleteFilter(id);
      },
    };

    const early = await sweep(world.sweeperDeps({ ec2, now: inFuture(9 * MINUTE) }), plenty);
    expect(early.filtersDeleted).toEqual([]);

    const late = await sweep(world.sweeperDeps({ ec2, now: inFuture(11 * MINUTE) }), plenty);
    expect(late.filtersDeleted).toEqual([unused]);

    // An hour on, past every grace period but before the session expires: its filter stays.
    const hourLater = await sweep(world.sweeperDeps({ ec2, now: inFuture(HOUR) }), plenty);
    expect(hourLater).toMatchObject({ deleted: [], filtersDeleted: [], failures: [] });
    expect((await world.filters()).map((f) => f.TrafficMirrorFilterId)).toEqual([used]);
    expect(attempted).toEqual([unused]);
  });

  test('keeps a session extended, or taken over by a person, between its listing and its deletion', async () => {
    const world = await incident(env.url, FAST);
    const extended = await world.instance(1);
    const takenOver = await world.instance(1);
    const first = await mirror(world, extended);
    const [person] = sessionIds(
      await mirror(world, takenOver, 'network-connection', another('f2', '192.0.2.9')),
    );
    const sevenHours = Date.now() + 7 * HOUR;

    // The sweep lists both as expired; before it deletes, a repeat of the finding extends one and
    // a responder removes the managed tag of the other (it is theirs now). The gateway is the real
    // one; the only thing added is when those two changes happen: inside the sweep's window.
    const real = world.sweeperDeps().ec2;
    let window = 0;
    const ec2: Ec2Gateway = {
      ...real,
      async sessionsById(ids) {
        if (window++ === 0) {
          const repeat = findingFor('network-connection', world, extended, (d) => {
            d.updatedAt = new Date(sevenHours).toISOString();
            d.service.count = 2;
          });
          await apply(intentOf(repeat, world.config), world.deps());
          await world.ec2.send(
            new DeleteTagsCommand({ Resources: [must(person, 'session')], Tags: [{ Key: TAG.managed }] }),
          );
        }
        return real.sessionsById(ids);
      },
    };

    const result = await sweep(world.sweeperDeps({ ec2, now: () => new Date(sevenHours) }), plenty);

    expect(window).toBeGreaterThan(0);
    expect(result).toMatchObject({ expired: 2, deleted: [], kept: 2, failures: [] });
    const sessions = await world.sessions();
    expect(sessions.map((s) => s.TrafficMirrorSessionId).sort()).toEqual(
      [...sessionIds(first), must(person, 'session')].sort(),
    );
    const renewed = sessions.find((s) => s.TrafficMirrorSessionId === sessionIds(first)[0]);
    expect(Date.parse(tagsOf(renewed ?? {})[TAG.expiresAt] ?? '')).toBe(sevenHours + 6 * HOUR);
    expect(await stoppedEvents(world)).toEqual([]);
  });

  test('with little time left it starts no deletion past the margin, defers the rest, and the next sweep finishes', async () => {
    const world = await incident(env.url); // EC2's rate, 5 a second: deletions wait for the pace
    const runs: ApplyResult[] = [];
    for (const [i, remote] of ['198.51.100.7', '198.51.100.8', '198.51.100.9'].entries()) {
      runs.push(await mirror(world, await world.instance(3), 'network-connection', another(`f${i}`, remote)));
    }
    const all = runs.flatMap(sessionIds).sort();
    const real = world.sweeperDeps().ec2;
    let deleted = 0;
    const startedWith: number[] = [];
    // The invocation's clock: plenty of time until the first deletion is done, then none.
    const remainingMs = () => (deleted === 0 ? MINUTE : 1_000);
    const ec2: Ec2Gateway = {
      ...real,
      async deleteSession(id) {
        startedWith.push(remainingMs());
        await real.deleteSession(id);
        deleted++;
      },
    };
    const deps = world.sweeperDeps({ ec2, now: inFuture(7 * HOUR) });

    const first = await sweep(deps, { remainingMs, marginMs: 5_000 });

    expect(startedWith.every((ms) => ms > 5_000)).toBe(true);
    expect(first.expired).toBe(9);
    expect(first.deferred).toBeGreaterThan(0);
    expect(first.deleted.length + first.deferred).toBe(9);
    expect(first.filtersDeleted).toEqual([]);
    expect(await world.sessions()).toHaveLength(first.deferred);

    const second = await sweep(deps, plenty);

    expect(second).toMatchObject({ expired: first.deferred, deferred: 0, failures: [] });
    expect([...first.deleted, ...second.deleted].sort()).toEqual(all);
    expect(await world.sessions()).toEqual([]);
    expect(second.filtersDeleted.sort()).toEqual(runs.map((r) => r.filterId).sort());
    expect((await stoppedEvents(world)).map((e) => e.detail.sessionId).sort()).toEqual(all);
  });

  test('a crash between creating a filter and creating the session leaves nothing after the next sweep', async () => {
    await withEmulator({ faults: { failActions: ['CreateTrafficMirrorSession'] } }, async ({ url }) => {
      const world = await incident(url, FAST);
      const instance = await world.instance(2);
      const event = findingFor('network-connection', world, instance);

      await expect(apply(intentOf(event, world.config), world.deps())).rejects.toMatchObject({
        name: 'InternalError',
      });
      const [orphan, ...others] = await world.filters();
      expect(others).toEqual([]);
      expect(tagsOf(orphan ?? {})[TAG.managed]).toBe('true');
      expect(await world.sessions()).toEqual([]);

      // Within the grace period the filter may be a request still setting up: it stays.
      const soon = await sweep(world.sweeperDeps({ now: inFuture(MINUTE) }), plenty);
      expect(soon.filtersDeleted).toEqual([]);

      const next = await sweep(world.sweeperDeps({ now: inFuture(11 * MINUTE) }), plenty);
      expect(next.filtersDeleted).toEqual([orphan?.TrafficMirrorFilterId]);
      expect(await world.filters()).toEqual([]);
      expect(await world.sessions()).toEqual([]);
    });
  });

  test('publishes the stops it made even when a later step fails', async () => {
    await withEmulator({}, async ({ url, faults }) => {
      const world = await incident(url, FAST);
      const run = await mirror(world, await world.instance(2));
      faults.set({ failActions: ['DescribeTrafficMirrorFilters'] });

      await expect(sweep(world.sweeperDeps({ now: inFuture(7 * HOUR) }), plenty)).rejects.toMatchObject({
        name: 'InternalError',
      });

      faults.set({});
      expect(await world.sessions()).toEqual([]);
      expect((await stoppedEvents(world)).map((e) => e.detail.sessionId).sort()).toEqual(
        sessionIds(run).sort(),
      );
    });
  });

  test("leaves other accounts' sessions on the account's target to their owners", async () => {
    await withEmulator({}, async ({ url, world: state }) => {
      const hub = await incident(url, FAST);
      const member = await incident(url, { ...FAST, MIRROROPS_TARGET_ID: hub.targetId });
      // RAM sharing as the cross-account emulator tests do it: their one setup shortcut.
      state.sharedTargets.set(`us-east-1/${hub.targetId}`, new Set([member.account]));
      const { eniIds } = await member.instance(1);
      const filterId = await handFilter(member, { [TAG.managed]: 'true', [TAG.createdAt]: longAgo });
      const session = await handSession(
        { ...member, targetId: hub.targetId },
        {
          eniId: must(eniIds[0], 'ENI'),
          filterId,
          number: 1,
          tags: { [TAG.managed]: 'true', [TAG.expiresAt]: longAgo },
        },
      );
      expect((await hub.sessions()).map((s) => s.TrafficMirrorSessionId)).toEqual([session]);

      const atHub = await sweep(hub.sweeperDeps(), plenty);
      expect(atHub).toMatchObject({ expired: 0, deleted: [], failures: [] });

      const atMember = await sweep(member.sweeperDeps(), plenty);
      expect(atMember).toMatchObject({ expired: 1, deleted: [session], filtersDeleted: [filterId] });
    });
  });
});

describe('under throttling at EC2 rates and 20% InternalError', () => {
  test('every finding ends with its sessions, and one sweep leaves no managed filter without a session', async () => {
    // The token buckets run on real time plus the minutes Lambda waits before retrying an invocation.
    let skew = 0;
    await withEmulator({ clock: () => performance.now() + skew }, async ({ url, faults }) => {
      const world = await incident(url);
      const instances = [];
      for (let i = 0; i < 10; i++) instances.push(await world.instance(2));
      // 20 sources: more than an ENI target takes, so the target is a load balancer.
      const config = await world.useTarget(await nlbTarget(world.ec2, world.account));
      /** One invocation: a Lambda environment of its own, so an SDK client with default retries of its own. */
      const invocation = (overrides: Partial<MirrorDeps> = {}) =>
        world.deps({
          config,
          ec2: ec2Gateway(
            new EC2Client({
              endpoint: url,
              region: 'us-east-1',
              credentials: world.functionKeys,
            }),
          ),
          ...overrides,
        });
      const sweeperKeys = await world.hub.credentials('ttl-sweeper');
      const intents = instances.map((instance, i) =>
        intentOf(
          findingFor('network-connection', world, instance, another(`finding-${i}`, `203.0.113.${i + 1}`)),
          world.config,
        ),
      );
      faults.set({ throttle: true, failureRate: 0.2, seed: 7 });

      // Lambda invokes a failed asynchronous event twice more (maximumRetryAttempts: 2 in
      // serverless.yml), a minute or more later; the test does the same, moving the buckets' clock.
      const results: (ApplyResult | undefined)[] = intents.map(() => undefined);
      for (let round = 0; round < 3 && results.includes(undefined); round++) {
        if (round > 0) skew += MINUTE;
        await Promise.all(
          intents.map(async (intent, i) => {
            if (results[i]) return;
            results[i] = await apply(intent, invocation()).catch(() => undefined);
          }),
        );
      }
      // The schedule runs the sweeper again after a failed invocation; the first that completes counts.
      let swept: SweepResult | undefined;
      for (let run = 0; run < 3 && !swept; run++) {
        skew += MINUTE;
        swept = await sweep(
          world.sweeperDeps({
            config,
            ec2: ec2Gateway(new EC2Client({ endpoint: url, region: 'us-east-1', credentials: sweeperKeys })),
            now: inFuture(11 * MINUTE),
          }),
          plenty,
        ).catch(() => undefined);
      }
      faults.set({});

      expect(swept).toBeDefined();
      for (const result of results) {
        // A retried invocation finds what an earlier attempt made and extends it.
        for (const o of result?.outcomes ?? [{ status: 'no result' }]) {
          expect(['started', 'extended']).toContain(o.status);
        }
      }
      const sessions = await world.sessions();
      const eniIds = instances.flatMap((i) => i.eniIds).sort();
      expect(sessions.map((s) => s.NetworkInterfaceId).sort()).toEqual(eniIds);
      const used = new Set(sessions.map((s) => s.TrafficMirrorFilterId));
      const orphans = (await world.filters()).filter(
        (f) => tagsOf(f)[TAG.managed] === 'true' && !used.has(f.TrafficMirrorFilterId),
      );
      expect(orphans).toEqual([]);
    });
  });
});

describe('the ttl-sweeper function', () => {
  test('sweeps the account through middy with the Lambda context', async () => {
    const world = await incident(env.url);
    const { eniIds } = await world.instance(1);
    const filterId = await handFilter(world, { [TAG.managed]: 'true', [TAG.createdAt]: longAgo });
    const expired = await handSession(world, {
      eniId: must(eniIds[0], 'ENI'),
      filterId,
      number: 7,
      tags: { [TAG.managed]: 'true', [TAG.expiresAt]: longAgo, [TAG.reason]: 'manual' },
    });
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: env.url,
      AWS_ACCESS_KEY_ID: world.account,
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      MIRROROPS_TARGET_ID: world.targetId,
      MIRROROPS_AUDIT_BUS: 'mirrorops-audit-test',
      MIRROROPS_HUB_ACCOUNT_ID: world.account,
    });
    try {
      const { handler } = await import('../../functions/ttl-sweeper.ts');
      const context: Context & {
        log: typeof silentLogger & { append(): void };
        measure: () => void;
        defer: () => void;
      } = {
        callbackWaitsForEmptyEventLoop: false,
        functionName: 'mirrorops-test-ttl-sweeper',
        functionVersion: '$LATEST',
        invokedFunctionArn: `arn:aws:lambda:us-east-1:${world.account}:function:mirrorops-test-ttl-sweeper`,
        memoryLimitInMB: '256',
        awsRequestId: 'c0ffee00-0000-4000-8000-000000000001',
        logGroupName: '/aws/lambda/mirrorops-test-ttl-sweeper',
        logStreamName: '2026/11/24/[$LATEST]0',
        getRemainingTimeInMillis: () => 55_000,
        done: () => undefined,
        fail: () => undefined,
        succeed: () => undefined,
        log: { ...silentLogger, append: () => undefined },
        measure: () => undefined,
        defer: () => undefined,
      };
      const event = {
        version: '0',
        id: 'a5b8e9c1-0000-4000-8000-000000000000',
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: world.account,
        time: new Date().toISOString(),
        region: 'us-east-1',
        resources: [`arn:aws:events:us-east-1:${world.account}:rule/mirrorops-ttl-sweeper`],
        detail: {},
      };

      const result = (await handler(event, context)) as FleetSweep;

      // No resource share exists, so the hub is the only enrolled account.
      expect(result.accounts).toEqual([
        {
          account: world.account,
          result: expect.objectContaining({
            expired: 1,
            deleted: [expired],
            filtersDeleted: [filterId],
            failures: [],
          }),
        },
      ]);
      expect(await world.sessions()).toEqual([]);
      expect((await stoppedEvents(world)).map((e) => e.detail)).toEqual([
        expect.objectContaining({ account: world.account, sessionId: expired, reason: 'manual' }),
      ]);
    } finally {
      process.env = saved;
    }
  });
});
