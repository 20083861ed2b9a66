import {
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  DeleteTrafficMirrorSessionCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { contains, parseCidr } from '../../shared/domain/cidr.ts';
import { sessionExpiry } from '../../shared/domain/claims.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { Memory } from '../../shared/memory.ts';
import { apply } from '../../shared/mirror.ts';
import { useEmulator } from '../support/emulator.ts';
import { findingFor, type Incident, incident, intentOf, tagsOf } from '../support/incident.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

const HOUR = 3_600_000;

describe('duplicate delivery', () => {
  test('the same event three times in sequence: one session per ENI', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(2);
    const event = findingFor('network-connection', world, instance);
    for (let i = 0; i < 3; i++) await apply(intentOf(structuredClone(event), world.config), world.deps());
    const sessions = await world.sessions();
    expect(sessions.map((s) => s.NetworkInterfaceId).sort()).toEqual([...instance.eniIds].sort());
    expect(await world.filters()).toHaveLength(1);
  });

  test('the same event three times at once: one session per ENI, one filter', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(3);
    const event = findingFor('network-connection', world, instance);
    const results = await Promise.all(
      [0, 1, 2].map(() => apply(intentOf(structuredClone(event), world.config), world.deps())),
    );
    for (const r of results)
      expect(r.outcomes.every((o) => o.status === 'started' || o.status === 'extended')).toBe(true);
    const sessions = await world.sessions();
    expect(sessions).toHaveLength(3);
    expect(new Set(sessions.map((s) => s.NetworkInterfaceId)).size).toBe(3);
    expect(await world.filters()).toHaveLength(1);
  });
});

describe('a redelivery after the sessions were stopped', () => {
  test('mirrors again, and reports the session that now exists', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const event = findingFor('network-connection', world, instance);
    await apply(intentOf(structuredClone(event), world.config), world.deps({ memory: new Memory() }));
    const [stopped] = await world.sessions();
    await world.ec2.send(
      new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: stopped?.TrafficMirrorSessionId }),
    );

    // Another container, which never saw the first delivery.
    const result = await apply(
      intentOf(structuredClone(event), world.config),
      world.deps({ memory: new Memory() }),
    );

    const [session, ...more] = await world.sessions();
    expect(more).toEqual([]);
    expect(session?.TrafficMirrorSessionId).not.toBe(stopped?.TrafficMirrorSessionId);
    expect(result.outcomes).toMatchObject([
      { status: 'started', sessionId: session?.TrafficMirrorSessionId },
    ]);
  });
});

describe('a repeat or a new finding for the same instance', () => {
  test('a repeat (same id, higher count, later) extends the expiry instead of taking a slot', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const now = Date.now();
    const first = findingFor('network-connection', world, instance, (d) => {
      d.updatedAt = new Date(now - HOUR).toISOString();
    });
    await apply(intentOf(first, world.config), world.deps());
    const before = must((await world.sessions())[0], 'session');
    const repeat = findingFor('network-connection', world, instance, (d) => {
      d.updatedAt = new Date(now).toISOString();
      d.service.count = 7;
    });
    const result = await apply(intentOf(repeat, world.config), world.deps());
    expect(result.outcomes[0]).toMatchObject({
      status: 'extended',
      sessionId: before.TrafficMirrorSessionId,
      widened: false,
    });
    const [after, ...more] = await world.sessions();
    expect(more).toHaveLength(0);
    expect(
      Date.parse(tagsOf(after ?? {})[TAG.expiresAt] ?? '') - Date.parse(tagsOf(before)[TAG.expiresAt] ?? ''),
    ).toBe(HOUR);
    const extended = (await world.auditEvents()).filter(
      (e) => e['detail-type'] === 'Mirror Session Extended',
    );
    expect(extended).toHaveLength(1);
  });

  test('an older event arriving late never shortens the expiry', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    await apply(intentOf(findingFor('network-connection', world, instance), world.config), world.deps());
    const before = tagsOf(must((await world.sessions())[0], 'session'))[TAG.expiresAt];
    const late = findingFor('network-connection', world, instance, (d) => {
      d.updatedAt = new Date(Date.now() - 2 * HOUR).toISOString();
    });
    await apply(intentOf(late, world.config), world.deps());
    expect(tagsOf(must((await world.sessions())[0], 'session'))[TAG.expiresAt]).toBe(before);
  });

  test('a new finding widens the scope and raises the priority of the same session', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    await apply(intentOf(findingFor('network-connection', world, instance), world.config), world.deps());
    const [before] = await world.sessions();
    const result = await apply(
      intentOf(findingFor('network-connection-high', world, instance), world.config),
      world.deps(),
    );
    expect(result.outcomes[0]).toMatchObject({ status: 'extended', widened: true, sessionNumber: 2 });
    const [after, ...more] = await world.sessions();
    expect(more).toHaveLength(0);
    expect(after?.TrafficMirrorSessionId).toBe(before?.TrafficMirrorSessionId);
    expect(after?.SessionNumber).toBe(2);
    const filter = (await world.filters()).find(
      (f) => f.TrafficMirrorFilterId === after?.TrafficMirrorFilterId,
    );
    const sources = (filter?.IngressFilterRules ?? []).map((r) => r.SourceCidrBlock).sort();
    expect(sources).toEqual(['192.0.2.66/32', '198.51.100.7/32']);
    expect(tagsOf(after ?? {})[TAG.severity]).toBe('8');
  });

  test('ten different findings for one instance at once: at most three sessions per ENI, unique numbers, the most severe wins', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(2);
    const severities = [4, 5, 6, 7, 8, 9.5, 4.5, 5.5, 6.5, 7.5];
    const events = severities.map((severity, i) =>
      findingFor('network-connection', world, instance, (d) => {
        d.id = `finding-${i}`;
        d.severity = severity;
        d.service.action = {
          actionType: 'NETWORK_CONNECTION',
          networkConnectionAction: { remoteIpDetails: { ipAddressV4: `198.51.100.${i + 1}` } },
        };
      }),
    );
    const results = await Promise.allSettled(
      events.map((e) => apply(intentOf(e, world.config), world.deps())),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const sessions = await world.sessions();
    for (const eniId of instance.eniIds) {
      const onEni = sessions.filter((s) => s.NetworkInterfaceId === eniId);
      expect(onEni.length).toBeGreaterThanOrEqual(1);
      expect(onEni.length).toBeLessThanOrEqual(3);
      expect(new Set(onEni.map((s) => s.SessionNumber)).size).toBe(onEni.length);
      // The most severe finding (9.5 -> number 1) holds the first slot.
      expect(Math.min(...onEni.map((s) => s.SessionNumber ?? 99))).toBe(1);
    }
    // No finding's scope was lost to a racing write: the filters in use cover every remote address.
    const inUse = new Set(sessions.map((s) => s.TrafficMirrorFilterId));
    const blocks = (await world.filters())
      .filter((f) => inUse.has(f.TrafficMirrorFilterId))
      .flatMap((f) => (f.IngressFilterRules ?? []).map((r) => parseCidr(r.SourceCidrBlock ?? '')));
    for (let i = 0; i < severities.length; i++) {
      const want = parseCidr(`198.51.100.${i + 1}/32`);
      expect(blocks.some((b) => b !== undefined && want !== undefined && contains(b, want))).toBe(true);
    }
  });
});

describe('a long incident', () => {
  test('forty different findings on one instance: one session, within EC2 50-tag limit, nothing forgotten', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const base = Date.now();
    for (let i = 0; i < 40; i++) {
      const event = findingFor('network-connection', world, instance, (d) => {
        d.id = `long-incident-${i}`;
        d.severity = i === 17 ? 8.5 : 5;
        d.updatedAt = new Date(base - (i === 23 ? 0 : HOUR)).toISOString();
        d.service.action = {
          actionType: 'NETWORK_CONNECTION',
          networkConnectionAction: { remoteIpDetails: { ipAddressV4: `203.0.113.${i + 1}` } },
        };
      });
      await apply(intentOf(event, world.config), world.deps());
    }
    const [session, ...more] = await world.sessions();
    expect(more).toHaveLength(0);
    const tags = tagsOf(session ?? {});
    expect(Object.keys(tags).length).toBeLessThanOrEqual(50);
    // Claims were folded, not dropped: finding 17 (severity 8.5: 24 h from an hour ago) sets the
    // expiry and the number (2), though its own claim tag is long folded away.
    expect(Object.keys(tags).filter((k) => k.startsWith('mirrorops:claim:')).length).toBeLessThan(40);
    expect(sessionExpiry(tags)).toBe(new Date(base - HOUR + 24 * HOUR).toISOString());
    expect(session?.SessionNumber).toBe(2);
    const filter = (await world.filters()).find(
      (f) => f.TrafficMirrorFilterId === session?.TrafficMirrorFilterId,
    );
    const blocks = (filter?.IngressFilterRules ?? []).map((r) => parseCidr(r.SourceCidrBlock ?? ''));
    for (let i = 0; i < 40; i++) {
      const want = parseCidr(`203.0.113.${i + 1}/32`);
      expect(blocks.some((b) => b !== undefined && want !== undefined && contains(b, want))).toBe(true);
    }
  }, 120_000);
});

describe('slots', () => {
  async function occupy(
    world: Incident,
    eniId: string,
    numbers: number[],
    tags: Record<string, string>[] = [],
  ) {
    const filter = await world.ec2.send(new CreateTrafficMirrorFilterCommand({}));
    for (const [i, number] of numbers.entries()) {
      const t = tags[i] ?? {};
      await world.ec2.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: eniId,
          TrafficMirrorTargetId: world.targetId,
          TrafficMirrorFilterId: filter.TrafficMirrorFilter?.TrafficMirrorFilterId,
          SessionNumber: number,
          ...(Object.keys(t).length > 0
            ? {
                TagSpecifications: [
                  {
                    ResourceType: 'traffic-mirror-session',
                    Tags: Object.entries(t).map(([Key, Value]) => ({ Key, Value })),
                  },
                ],
              }
            : {}),
        }),
      );
    }
  }

  test('three sessions mirrorops did not create: rejected with the reason, nothing touched', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    await occupy(world, must(instance.eniIds[0], 'eni'), [20, 30, 40]);
    const before = await world.sessions();
    const result = await apply(
      intentOf(findingFor('network-connection', world, instance), world.config),
      world.deps(),
    );
    expect(result.outcomes[0]).toMatchObject({
      status: 'rejected',
      reason: expect.stringContaining('not managed by mirrorops'),
    });
    expect(await world.sessions()).toEqual(before);
    const rejected = (await world.auditEvents()).filter(
      (e) => e['detail-type'] === 'Mirror Request Rejected',
    );
    expect(rejected).toHaveLength(1);
  });

  test('full slots with a lower-priority managed session: it gives way, and the audit says which', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const managedTag = { [TAG.managed]: 'true', [TAG.reason]: 'tag', [TAG.instance]: instance.instanceId };
    await occupy(world, must(instance.eniIds[0], 'eni'), [15, 20, 40], [{}, managedTag, {}]);
    const evicted = must(
      (await world.sessions()).find((s) => s.SessionNumber === 20),
      'the tag session',
    );
    const result = await apply(
      intentOf(findingFor('network-connection', world, instance), world.config),
      world.deps(),
    );
    expect(result.outcomes[0]).toMatchObject({ status: 'started', replaced: evicted.TrafficMirrorSessionId });
    expect((await world.sessions()).map((s) => s.SessionNumber).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([
      5, 15, 40,
    ]);
    const stopped = (await world.auditEvents()).filter((e) => e['detail-type'] === 'Mirror Session Stopped');
    expect(stopped.map((e) => e.detail.sessionId)).toEqual([evicted.TrafficMirrorSessionId]);
  });
});

describe('targets and audit', () => {
  test('a per-VPC target override is used; a VPC with no reachable target is a rejection, not a crash', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const missingTarget = 'tmt-0000000000000000a';
    const overridden = await incident(env.url, {});
    void overridden;
    const config = { ...world.config, targetPools: { [world.network.vpcId]: [{ targetId: missingTarget }] } };
    const result = await apply(
      intentOf(findingFor('network-connection', world, instance), world.config),
      world.deps({ config }),
    );
    expect(result.outcomes[0]).toMatchObject({
      status: 'rejected',
      reason: expect.stringContaining(missingTarget),
    });
    expect(await world.sessions()).toHaveLength(0);
  });

  test('a failing audit call neither undoes nor blocks mirroring', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    env.emulator.faults.set({ failActions: ['PutEvents'] });
    try {
      const result = await apply(
        intentOf(findingFor('network-connection', world, instance), world.config),
        world.deps(),
      );
      expect(result.outcomes[0]?.status).toBe('started');
    } finally {
      env.emulator.faults.set({});
    }
    expect(await world.sessions()).toHaveLength(1);
    expect(await world.auditEvents()).toHaveLength(0);
  });
});
