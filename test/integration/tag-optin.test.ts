import {
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { sessionExpiry } from '../../shared/domain/claims.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { findingToIntent } from '../../shared/events/guardduty.ts';
import { launchTrigger } from '../../shared/events/launch.ts';
import { tagTrigger } from '../../shared/events/tag.ts';
import { apply } from '../../shared/mirror.ts';
import { onLaunch, onTagChange } from '../../shared/optin.ts';
import { useEmulator } from '../support/emulator.ts';
import {
  ec2EventFor,
  findingFor,
  type Incident,
  incident,
  tagEventFor,
  tagsOf,
} from '../support/incident.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();
const HOUR = 3_600_000;

async function setTag(world: Incident, resourceId: string, value: string | undefined) {
  if (value === undefined) {
    await world.ec2.send(new DeleteTagsCommand({ Resources: [resourceId], Tags: [{ Key: TAG.mirror }] }));
  } else {
    await world.ec2.send(
      new CreateTagsCommand({ Resources: [resourceId], Tags: [{ Key: TAG.mirror, Value: value }] }),
    );
  }
}

/** Sets the tag the way a security engineer does, then delivers the event AWS would send. */
async function tagAndDeliver(
  world: Incident,
  resourceId: string,
  value: string | undefined,
  time = new Date(),
) {
  await setTag(world, resourceId, value);
  const event = tagEventFor(world, resourceId, value, time);
  return { event, result: await onTagChange(tagTrigger(event), world.deps()) };
}

const expiries = async (world: Incident) =>
  (await world.sessions()).map((s) => Date.parse(sessionExpiry(tagsOf(s)) ?? ''));

describe('mirrorops:mirror on an instance', () => {
  test('true mirrors every ENI with the default expiry; a duration moves it; false stops them', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(2);
    const t0 = new Date();
    const on = await tagAndDeliver(world, instance.instanceId, 'true', t0);
    expect(on.result).toMatchObject({ status: 'mirrored', value: 'true' });
    const sessions = await world.sessions();
    expect(sessions.map((s) => s.NetworkInterfaceId).sort()).toEqual([...instance.eniIds].sort());
    for (const s of sessions) {
      expect(tagsOf(s)[TAG.reason]).toBe('tag');
      expect(s.SessionNumber).toBe(20);
    }
    expect(await expiries(world)).toEqual([t0.getTime() + 24 * HOUR, t0.getTime() + 24 * HOUR]);

    const t1 = new Date(t0.getTime() + 1000);
    await tagAndDeliver(world, instance.instanceId, '30m', t1);
    expect(await expiries(world)).toEqual([t1.getTime() + 30 * 60_000, t1.getTime() + 30 * 60_000]);
    expect(await world.sessions()).toHaveLength(2);

    const off = await tagAndDeliver(world, instance.instanceId, 'false');
    expect(off.result).toMatchObject({ status: 'stopped' });
    expect(await world.sessions()).toHaveLength(0);
    const stopped = (await world.auditEvents()).filter((e) => e['detail-type'] === 'Mirror Session Stopped');
    expect(stopped).toHaveLength(2);
  });

  test('a duration is capped by the maximum', async () => {
    const world = await incident(env.url, { MIRROROPS_MAX_EXPIRY: '2d' });
    const instance = await world.instance(1);
    const t0 = new Date();
    await tagAndDeliver(world, instance.instanceId, '30d', t0);
    expect(await expiries(world)).toEqual([t0.getTime() + 48 * HOUR]);
  });

  test('removing the tag stops the tag sessions and leaves the incident session alone', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    await tagAndDeliver(world, instance.instanceId, '4h');
    const finding = findingToIntent(findingFor('network-connection', world, instance), world.config);
    if (finding.kind !== 'mirror') throw new Error('expected a finding to mirror');
    await apply(finding.intent, world.deps());
    expect((await world.sessions()).map((s) => tagsOf(s)[TAG.reason]).sort()).toEqual(['guardduty', 'tag']);

    const removed = await tagAndDeliver(world, instance.instanceId, undefined);
    expect(removed.result).toMatchObject({ status: 'stopped' });
    expect((await world.sessions()).map((s) => tagsOf(s)[TAG.reason])).toEqual(['guardduty']);
  });

  test.each(['4 hours', '-1h', 'yes please', '1.5h', '0h'])(
    'an invalid value (%s) is rejected, named, and creates nothing',
    async (value) => {
      const world = await incident(env.url);
      const instance = await world.instance(1);
      const { result } = await tagAndDeliver(world, instance.instanceId, value);
      expect(result).toMatchObject({ status: 'rejected', reason: expect.stringContaining(`'${value}'`) });
      expect(await world.sessions()).toHaveLength(0);
      expect(await world.filters()).toHaveLength(0);
      const rejected = (await world.auditEvents()).filter(
        (e) => e['detail-type'] === 'Mirror Request Rejected',
      );
      expect(rejected.map((e) => e.detail.message)).toEqual([expect.stringContaining(value)]);
    },
  );

  test('a late or duplicate event cannot undo a newer change', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const old = (await tagAndDeliver(world, instance.instanceId, 'true')).event;
    await tagAndDeliver(world, instance.instanceId, 'false');
    expect(await world.sessions()).toHaveLength(0);
    // The 'true' event arrives again, late: the tag now says false, so nothing starts.
    const replay = await onTagChange(tagTrigger(old), world.deps());
    expect(replay).toEqual({ status: 'superseded', eventValue: 'true', currentValue: 'false' });
    expect(await world.sessions()).toHaveLength(0);

    // And the other way: a stale 'false' after a newer '2h' stops nothing.
    const staleOff = (await tagAndDeliver(world, instance.instanceId, '2h')).event;
    const duplicate = await onTagChange(tagTrigger(staleOff), world.deps());
    expect(duplicate).toMatchObject({ status: 'mirrored' });
    expect(await world.sessions()).toHaveLength(1);
    const falseEvent = tagEventFor(world, instance.instanceId, 'false');
    expect(await onTagChange(tagTrigger(falseEvent), world.deps())).toMatchObject({ status: 'superseded' });
    expect(await world.sessions()).toHaveLength(1);
  });

  test('an instance in a VPC with no reachable target is a rejection, not a crash', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const config = {
      ...world.config,
      targetPools: { [world.network.vpcId]: [{ targetId: 'tmt-0000000000000000b' }] },
    };
    await setTag(world, instance.instanceId, 'true');
    const result = await onTagChange(
      tagTrigger(tagEventFor(world, instance.instanceId, 'true')),
      world.deps({ config }),
    );
    expect(result).toMatchObject({
      status: 'mirrored',
      result: {
        outcomes: [{ status: 'rejected', reason: expect.stringContaining('tmt-0000000000000000b') }],
      },
    });
    expect(await world.sessions()).toHaveLength(0);
  });
});

describe('new interfaces of watched instances', () => {
  test('a second interface attached to a tagged instance is mirrored, ending with its sibling', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    await tagAndDeliver(world, instance.instanceId, '4h');
    const [first] = await world.sessions();
    const eni = await world.ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: world.network.subnetId }));
    const eniId = must(eni.NetworkInterface?.NetworkInterfaceId, 'eni');
    await world.ec2.send(
      new AttachNetworkInterfaceCommand({
        NetworkInterfaceId: eniId,
        InstanceId: instance.instanceId,
        DeviceIndex: 1,
      }),
    );

    const outcome = launchTrigger(ec2EventFor('attach-network-interface', world, instance.instanceId, eniId));
    if (outcome.kind !== 'look') throw new Error(outcome.reason);
    const result = await onLaunch(outcome.trigger, world.deps());
    expect(result.instances[0]).toMatchObject({ status: 'mirrored' });
    expect(result.instances[0]?.result?.outcomes.map((o) => o.status).sort()).toEqual([
      'started',
      'unchanged',
    ]);
    const sessions = await world.sessions();
    expect(sessions.map((s) => s.NetworkInterfaceId).sort()).toEqual([instance.eniIds[0], eniId].sort());
    const ends = new Set(sessions.map((s) => sessionExpiry(tagsOf(s))));
    expect(ends).toEqual(new Set([sessionExpiry(tagsOf(first ?? {}))]));
  });

  test('policy: instances launched in an always-mirrored VPC get launch sessions; others do not', async () => {
    const world = await incident(env.url);
    const watched = await incident(env.url);
    const config = {
      ...world.config,
      alwaysMirror: { vpcIds: [world.network.vpcId], subnetIds: [], tags: [] },
    };
    const instance = await world.instance(1);
    const run = launchTrigger(ec2EventFor('running', world, instance.instanceId));
    if (run.kind !== 'look') throw new Error(run.reason);
    const result = await onLaunch(run.trigger, world.deps({ config }));
    expect(result.instances[0]).toMatchObject({
      status: 'mirrored',
      why: `VPC ${world.network.vpcId} is always mirrored`,
    });
    const [session] = await world.sessions();
    expect(tagsOf(session ?? {})[TAG.reason]).toBe('launch');
    expect(session?.SessionNumber).toBe(30);

    // The same event again changes nothing.
    await onLaunch(run.trigger, world.deps({ config }));
    expect(await world.sessions()).toHaveLength(1);

    const other = await watched.instance(1);
    const otherRun = launchTrigger(ec2EventFor('running', watched, other.instanceId));
    if (otherRun.kind !== 'look') throw new Error(otherRun.reason);
    const none = await onLaunch(otherRun.trigger, watched.deps());
    expect(none.instances[0]).toMatchObject({ status: 'not watched' });
    expect(await watched.sessions()).toHaveLength(0);
  });

  test('unsupported instance types are skipped with the reason', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1, 't2.micro');
    await setTag(world, instance.instanceId, 'true');
    const run = launchTrigger(ec2EventFor('run-instances', world, instance.instanceId));
    if (run.kind !== 'look') throw new Error(run.reason);
    const result = await onLaunch(run.trigger, world.deps());
    expect(result.instances[0]?.result?.outcomes).toEqual([
      expect.objectContaining({ status: 'skipped', reason: expect.stringContaining('t2.micro') }),
    ]);
    expect(await world.sessions()).toHaveLength(0);
  });

  test('a stopped instance, a failed API call, or another API call is ignored', () => {
    const world = { account: '123456789012' };
    expect(launchTrigger(ec2EventFor('stopped', world, 'i-0123456789abcdef0'))).toMatchObject({
      kind: 'ignore',
    });
    expect(
      launchTrigger(ec2EventFor('attach-network-interface-denied', world, 'i-0123456789abcdef0')),
    ).toMatchObject({
      kind: 'ignore',
      reason: expect.stringContaining('UnauthorizedOperation'),
    });
  });
});
