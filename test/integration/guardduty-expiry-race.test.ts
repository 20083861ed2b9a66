import type { EC2Client } from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { ec2Gateway } from '../../shared/aws/ec2.ts';
import { sessionExpiry } from '../../shared/domain/claims.ts';
import { Memory } from '../../shared/memory.ts';
import { apply } from '../../shared/mirror.ts';
import { sweep } from '../../shared/sweep.ts';
import { ec2With } from '../support/accounts.ts';
import { useEmulator } from '../support/emulator.ts';
import { findingFor, type Incident, incident, intentOf, tagsOf } from '../support/incident.ts';

/**
 * The sweeper deletes what it read as expired some time after reading it (its deletions are
 * paced). A repeat extending such a session in between would be deleted with it, and the instance
 * left unmirrored until the finding repeats again, hours later. A session at its expiry is
 * therefore renewed (deleted and started again), never extended.
 */
const env = useEmulator();
const HOUR = 3_600_000;

function occurrence(
  world: Incident,
  instance: { instanceId: string; eniIds: string[] },
  at: number,
  count: number,
) {
  return intentOf(
    findingFor('network-connection', world, instance, (d) => {
      d.id = `race-${instance.instanceId}`;
      d.service.count = count;
      d.updatedAt = new Date(at).toISOString();
    }),
    world.config,
  );
}

/** Resolves when the client has finished `count` requests of `action`. */
function after(client: EC2Client, action: string, count: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === `${action}Command` && ++seen === count) resolve();
        return out;
      },
      { step: 'initialize', name: `after${action}` },
    );
  });
}

describe('a repeat at the expiry of its session', () => {
  test('renews the session: the old one is deleted, a new one started, and the audit says both', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    // Severity 5 lasts 6 hours: this occurrence's session ends in 30 seconds.
    const first = Date.now() - 6 * HOUR + 30_000;
    await apply(occurrence(world, instance, first, 1), world.deps());
    const [old] = await world.sessions();

    const result = await apply(occurrence(world, instance, Date.now(), 2), world.deps());

    const [outcome] = result.outcomes;
    expect(outcome).toMatchObject({ status: 'started', renewed: old?.TrafficMirrorSessionId });
    const sessions = await world.sessions();
    expect(sessions).toHaveLength(1);
    expect(sessions[0]?.TrafficMirrorSessionId).not.toBe(old?.TrafficMirrorSessionId);
    expect(Date.parse(sessionExpiry(tagsOf(sessions[0] ?? {})) ?? '')).toBeGreaterThan(Date.now() + 5 * HOUR);
    const stopped = (await world.auditEvents()).filter((e) => e['detail-type'] === 'Mirror Session Stopped');
    expect(stopped.map((e) => e.detail.sessionId)).toEqual([old?.TrafficMirrorSessionId]);
    expect(stopped[0]?.detail.message).toMatch(/^expired; renewed as /);
  });

  test('while the sweeper is deleting it: every instance stays mirrored', async () => {
    const world = await incident(env.url);
    const instances = [];
    for (let i = 0; i < 8; i++) instances.push(await world.instance(1));
    const expired = Date.now() - 6 * HOUR - 60_000;
    for (const instance of instances) {
      await apply(occurrence(world, instance, expired, 1), { ...world.deps(), now: () => new Date(expired) });
    }
    // The sweeper in its own container, deleting two a second: it reads all eight as expired first.
    const sweeperClient = ec2With(env.url, await world.hub.credentials('ttl-sweeper'));
    const reread = after(sweeperClient, 'DescribeTrafficMirrorSessions', 2);
    const sweeping = sweep(
      world.sweeperDeps({
        ec2: ec2Gateway(sweeperClient),
        config: { ...world.config, sweepRatePerSecond: 2 },
        memory: new Memory(),
      }),
      { remainingMs: () => 60_000 },
    );
    await reread;
    // Now the findings repeat, handled by another container, while the sweeper deletes.
    const repeats = await Promise.all(
      instances.map((instance) => apply(occurrence(world, instance, Date.now(), 2), world.deps())),
    );
    await sweeping;

    const sessions = await world.sessions();
    expect(sessions.map((s) => s.NetworkInterfaceId).sort()).toEqual(
      instances.flatMap((i) => i.eniIds).sort(),
    );
    for (const s of sessions)
      expect(Date.parse(sessionExpiry(tagsOf(s)) ?? '')).toBeGreaterThan(Date.now() + 5 * HOUR);
    for (const result of repeats) expect(result.outcomes[0]?.status).toBe('started');
  });
});
