import { describe, expect, test } from 'vitest';
import { apply } from '../../shared/mirror.ts';
import { useEmulator } from '../support/emulator.ts';
import { findingFor, incident, intentOf } from '../support/incident.ts';
import { recordRequests } from '../support/requests.ts';

/**
 * A finding on an instance whose type cannot be a Traffic Mirroring source, end to end: the
 * GuardDuty event, the use case through the real SDK against the emulator, the audit event.
 */
const env = useEmulator();

const rejections = async (world: Awaited<ReturnType<typeof incident>>) =>
  (await world.auditEvents()).filter((e) => e['detail-type'] === 'Mirror Request Rejected');

describe('a finding on an instance type Traffic Mirroring does not support', () => {
  test.each([
    ['names the type in the event', true],
    ['is described when an older finding leaves the type out', false],
  ])(
    'r7g.large (%s): rejected with a reason naming r7g.large, without asking EC2 for a session',
    async (_, typed) => {
      const world = await incident(env.url);
      const instance = await world.instance(1, 'r7g.large');
      const calls = recordRequests(world.functionEc2);
      const event = findingFor('network-connection', world, instance, (d) => {
        if (typed) d.resource.instanceDetails.instanceType = 'r7g.large';
        else delete d.resource.instanceDetails.instanceType;
      });

      const result = await apply(intentOf(event, world.config), world.deps());

      const reason =
        'r7g.large is in the memory optimized family R7G, which Traffic Mirroring does not support as a source';
      expect(result.outcomes).toEqual([{ eniId: instance.eniIds[0], status: 'skipped', reason }]);
      expect((await rejections(world)).map((e) => e.detail)).toEqual([
        expect.objectContaining({
          instanceId: instance.instanceId,
          networkInterfaceId: instance.eniIds[0],
          findingId: '16afba5c5c43e07c9e3e5e2e544e95df',
          message: `skipped: ${reason}`,
        }),
      ]);
      expect(calls.map((c) => c.action)).not.toContain('CreateTrafficMirrorSession');
      expect(await world.sessions()).toEqual([]);
    },
  );
});

describe('a source AWS refuses although mirrorops allows its type (a family added after our list)', () => {
  test('is rejected once, naming the type and that AWS refused it; a redelivery asks once more, no loop', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(2, 'm8i.large');
    const calls = recordRequests(world.functionEc2);
    const event = findingFor('network-connection', world, instance, (d) => {
      d.resource.instanceDetails.instanceType = 'm8i.large';
    });
    env.emulator.faults.set({ refuseSourceTypes: ['m8i'] });
    let first: Awaited<ReturnType<typeof apply>>;
    let again: Awaited<ReturnType<typeof apply>>;
    try {
      first = await apply(intentOf(event, world.config), world.deps());
      again = await apply(intentOf(event, world.config), world.deps());
    } finally {
      env.emulator.faults.set({});
    }

    for (const result of [first, again]) {
      expect(result.outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      for (const outcome of result.outcomes) {
        expect(outcome).toMatchObject({
          reason: expect.stringMatching(
            new RegExp(
              `^AWS refused ${instance.instanceId} \\(m8i\\.large\\) as a Traffic Mirroring source, .*; not retried\\. NetworkInterfaceNotSupported: .*m8i\\.large`,
            ),
          ),
        });
      }
    }
    // One CreateTrafficMirrorSession per ENI per delivery: the refusal is an answer, not a retry.
    expect(calls.filter((c) => c.action === 'CreateTrafficMirrorSession')).toEqual([
      expect.objectContaining({ error: 'NetworkInterfaceNotSupported' }),
      expect.objectContaining({ error: 'NetworkInterfaceNotSupported' }),
      expect.objectContaining({ error: 'NetworkInterfaceNotSupported' }),
      expect.objectContaining({ error: 'NetworkInterfaceNotSupported' }),
    ]);
    const messages = (await rejections(world)).map((e) => String(e.detail.message));
    expect(messages).toHaveLength(4);
    for (const message of messages) expect(message).toMatch(/^rejected: AWS refused i-\w+ \(m8i\.large\)/);
    expect(await world.sessions()).toEqual([]);
  });
});
