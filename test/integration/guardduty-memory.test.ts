import { DeleteTrafficMirrorSessionCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, test } from 'vitest';
import { AccountAccessError } from '../../shared/aws/accounts.ts';
import { ec2Gateway } from '../../shared/aws/ec2.ts';
import { sessionExpiry } from '../../shared/domain/claims.ts';
import type { MirrorIntent } from '../../shared/domain/intent.ts';
import { FULL_SCOPE } from '../../shared/domain/scope.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { Memory } from '../../shared/memory.ts';
import { apply } from '../../shared/mirror.ts';
import { release } from '../../shared/optin.ts';
import { sweep } from '../../shared/sweep.ts';
import { useEmulator } from '../support/emulator.ts';
import {
  findingFor,
  type GuardDutyDetail,
  type Incident,
  incident,
  intentOf,
  tagsOf,
} from '../support/incident.ts';
import { type Call, recordRequests } from '../support/requests.ts';
import { must } from '../support/topology.ts';

/**
 * A warm container remembers the sessions it wrote, and answers a repeat by writing its claim
 * while it reads the sessions again (one round trip). The memory is only a hint: these tests make
 * it wrong in each way it can be (the session deleted, extended or released by another container)
 * and check that the answer is then what a container without memory would have given.
 */
const env = useEmulator();
afterEach(() => env.emulator.faults.set({}));

const HOUR = 3_600_000;
/** Occurrences are placed relative to one instant, so their expiries differ by whole hours. */
const BASE = Date.now();

/** The same finding again, `hoursAgo` before now, seen `count` times. */
const occurrence = (
  world: Incident,
  instance: { instanceId: string; eniIds: string[] },
  hoursAgo: number,
  count = 1,
  id = 'finding-memory',
) =>
  intentOf(
    findingFor('network-connection', world, instance, (d) => {
      d.id = id;
      d.service.count = count;
      d.updatedAt = new Date(BASE - hoursAgo * HOUR).toISOString();
    }),
    world.config,
  );

/** Calls made while `act` runs, with latency on, so that requests in flight together overlap. */
async function during<T>(world: Incident, act: () => Promise<T>): Promise<{ result: T; calls: Call[] }> {
  const calls: Call[] = [];
  recordRequests(world.functionEc2, calls);
  env.emulator.faults.set({ latencyMs: 15 });
  const result = await act();
  env.emulator.faults.set({});
  return { result, calls: [...calls] };
}

describe('a repeat in the container that mirrored the instance', () => {
  test('is one round trip: the claim is written on every ENI while the sessions are read', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(3);
    const deps = world.deps();
    await apply(occurrence(world, instance, 2), deps);
    const before = await world.sessions();

    const { result, calls } = await during(world, () => apply(occurrence(world, instance, 1, 2), deps));

    expect(calls.map((c) => c.action).sort()).toEqual(['CreateTags', 'DescribeTrafficMirrorSessions']);
    // Both were in flight together: neither waited for the other.
    expect(Math.max(...calls.map((c) => c.start))).toBeLessThan(Math.min(...calls.map((c) => c.end)));
    expect(result.outcomes.map((o) => o.status)).toEqual(['extended', 'extended', 'extended']);
    const after = await world.sessions();
    expect(after.map((s) => s.TrafficMirrorSessionId).sort()).toEqual(
      before.map((s) => s.TrafficMirrorSessionId).sort(),
    );
    for (const s of after) {
      const was = tagsOf(before.find((b) => b.TrafficMirrorSessionId === s.TrafficMirrorSessionId));
      expect(Date.parse(tagsOf(s)[TAG.expiresAt] ?? '') - Date.parse(was[TAG.expiresAt] ?? '')).toBe(HOUR);
    }
  });

  test('a container that has not seen the instance reads first, and ends in the same state', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(2);
    await apply(occurrence(world, instance, 2), world.deps());
    const before = tagsOf((await world.sessions())[0])[TAG.expiresAt];

    const { calls } = await during(world, () =>
      apply(occurrence(world, instance, 1, 2), world.deps({ memory: new Memory() })),
    );

    const describe = must(
      calls.find((c) => c.action === 'DescribeTrafficMirrorSessions'),
      'DescribeTrafficMirrorSessions',
    );
    const write = must(
      calls.find((c) => c.action === 'CreateTags'),
      'CreateTags',
    );
    expect(write.start).toBeGreaterThanOrEqual(describe.end);
    const sessions = await world.sessions();
    expect(sessions).toHaveLength(2);
    for (const s of sessions)
      expect(Date.parse(tagsOf(s)[TAG.expiresAt] ?? '') - Date.parse(before ?? '')).toBe(HOUR);
  });

  test("a DNS finding's repeat is one round trip too: its filter needs nothing read", async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const deps = world.deps();
    const dns = (count: number) =>
      intentOf(
        findingFor('dns-request', world, instance, (d) => {
          d.service.count = count;
          d.updatedAt = new Date(BASE - (3 - count) * HOUR).toISOString();
        }),
        world.config,
      );
    await apply(dns(1), deps);

    const { result, calls } = await during(world, () => apply(dns(2), deps));

    expect(calls.map((c) => c.action).sort()).toEqual(['CreateTags', 'DescribeTrafficMirrorSessions']);
    expect(result.outcomes[0]).toMatchObject({ status: 'extended', widened: false });
  });

  test('a remembered session deleted meanwhile: a new one is started, and remembered in turn', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(2);
    const deps = world.deps();
    await apply(occurrence(world, instance, 2), deps);
    const [gone, kept] = await world.sessions();
    await world.ec2.send(
      new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: gone?.TrafficMirrorSessionId }),
    );

    const result = await apply(occurrence(world, instance, 1, 2), deps);

    const byEni = new Map(result.outcomes.map((o) => [o.eniId, o]));
    expect(byEni.get(must(gone?.NetworkInterfaceId, 'ENI'))?.status).toBe('started');
    expect(byEni.get(must(kept?.NetworkInterfaceId, 'ENI'))).toMatchObject({
      status: 'extended',
      sessionId: kept?.TrafficMirrorSessionId,
    });
    const sessions = await world.sessions();
    expect(sessions).toHaveLength(2);
    expect(new Set(sessions.map((s) => s.NetworkInterfaceId)).size).toBe(2);

    // The next repeat knows the new session: one round trip again.
    const { calls } = await during(world, () => apply(occurrence(world, instance, 0, 3), deps));
    expect(calls.map((c) => c.action).sort()).toEqual(['CreateTags', 'DescribeTrafficMirrorSessions']);
    expect(calls.filter((c) => c.error)).toEqual([]);
  });

  test('a later extension by another container is kept: the expiry is never lowered', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const here = world.deps();
    await apply(occurrence(world, instance, 3), here);
    // Another container: a second finding on the same remote, an hour later than this repeat.
    await apply(occurrence(world, instance, 1, 1, 'finding-elsewhere'), world.deps({ memory: new Memory() }));
    const extended = tagsOf((await world.sessions())[0])[TAG.expiresAt];

    const result = await apply(occurrence(world, instance, 2, 2), here);

    expect(result.outcomes[0]?.status).toBe('extended');
    const tags = tagsOf((await world.sessions())[0]);
    expect(tags[TAG.expiresAt]).toBe(extended);
    expect(sessionExpiry(tags)).toBe(extended);
  });

  test('a claim released by another container is not brought back: the expiry is not inflated', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const at = new Date();
    const tagIntent = (key: string, hours: number): MirrorIntent => ({
      account: world.account,
      region: 'us-east-1',
      reason: 'tag',
      key,
      instanceId: instance.instanceId,
      networkInterfaceIds: instance.eniIds,
      instanceType: 'm5.large',
      scope: FULL_SCOPE,
      startAt: at,
      lifetimeMs: hours * HOUR,
      replaceClaim: true,
    });
    const here = world.deps();
    await apply(tagIntent('tag:long', 8), here);
    await apply(tagIntent('tag:short', 1), here);
    await release(
      world.deps({ memory: new Memory() }),
      instance.instanceId,
      instance.eniIds,
      'tag',
      'tag:long',
      'test',
    );

    // The short one changed to two hours: this container's memory still holds the long claim.
    await apply(tagIntent('tag:short', 2), here);

    const tags = tagsOf((await world.sessions())[0]);
    const twoHours = new Date(at.getTime() + 2 * HOUR).toISOString();
    expect(tags[TAG.expiresAt]).toBe(twoHours);
    expect(sessionExpiry(tags)).toBe(twoHours);
  });

  test('an account the hub can no longer reach: a rejection naming it, as without memory', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const deps = world.deps();
    await apply(occurrence(world, instance, 2), deps);
    // The spoke role was removed since: every call fails to get credentials.
    const locked = new EC2Client({
      endpoint: env.url,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: () => Promise.reject(new AccountAccessError(`the spoke role of ${world.account} is gone`)),
    });

    const result = await apply(occurrence(world, instance, 1, 2), { ...deps, ec2: ec2Gateway(locked) });

    expect(result.rejected).toMatch(new RegExp(`cannot act in account ${world.account}: .*spoke role`));
  });

  test('a session the sweeper deleted here is forgotten: no write is sent to it', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const deps = world.deps();
    // Severity 5 lasts 6 hours: seven hours ago has expired.
    await apply(occurrence(world, instance, 7), { ...deps, now: () => new Date(Date.now() - 7 * HOUR) });
    // The sweeper in this container: the same memory, its own role.
    const swept = await sweep(world.sweeperDeps(), { remainingMs: () => 60_000 });
    expect(swept.deleted).toHaveLength(1);

    const { result, calls } = await during(world, () => apply(occurrence(world, instance, 0, 2), deps));

    expect(result.outcomes[0]?.status).toBe('started');
    expect(calls.filter((c) => c.error)).toEqual([]);
    expect(calls.some((c) => c.action === 'CreateTags')).toBe(false);
  });
});

describe('filters across instances', () => {
  test('a widened scope reuses the filter another instance widened to, even minutes later', async () => {
    const world = await incident(env.url);
    const remote = (id: string, ip: string) => (d: GuardDutyDetail) => {
      d.id = id;
      d.service.action = {
        actionType: 'NETWORK_CONNECTION',
        networkConnectionAction: { remoteIpDetails: { ipAddressV4: ip } },
      };
    };
    // Both rounds in one clock hour: the filter's create beside the reads is made once per content
    // and hour (its ClientToken); one in the next hour makes a duplicate that the sweeper removes
    // (critical-path.test.ts). Without this, a run at a quarter to the hour failed.
    const wall = Date.now();
    const first = wall % HOUR >= 50 * 60_000 ? wall - 15 * 60_000 : wall;
    const at = (ms: number) => ({ now: () => new Date(ms) });
    for (const [i, overrides] of [at(first), at(first + 5 * 60_000)].entries()) {
      const instance = await world.instance(1);
      const deps = world.deps({ memory: new Memory(), ...overrides });
      for (const [id, ip] of [
        [`a-${i}`, '198.51.100.1'],
        [`b-${i}`, '198.51.100.2'],
      ] as const)
        await apply(
          intentOf(findingFor('network-connection', world, instance, remote(id, ip)), world.config),
          deps,
        );
    }
    const sessions = await world.sessions();
    expect(sessions).toHaveLength(2);
    expect(sessions[0]?.TrafficMirrorFilterId).toBe(sessions[1]?.TrafficMirrorFilterId);
    const hashes = (await world.filters()).map(
      (f) => (f.Tags ?? []).find((t) => t.Key === TAG.filterHash)?.Value,
    );
    expect(new Set(hashes).size).toBe(hashes.length);
  });
});
