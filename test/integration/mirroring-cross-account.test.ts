import {
  DeleteTrafficMirrorSessionCommand,
  DeleteTrafficMirrorTargetCommand,
  DescribeTrafficMirrorTargetsCommand,
  ModifyTrafficMirrorSessionCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { shareTarget } from '../support/accounts.ts';
import { useEmulator } from '../support/emulator.ts';
import {
  allSessions,
  allTargets,
  createFilter,
  createSession,
  eniTarget,
  freshClient,
  idsOf,
  launchMany,
  mirrorSetup,
  nlbTarget,
  rejectsWith,
} from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

const env = useEmulator();

/**
 * Shares the hub's target with accounts through RAM, as an operator would: a resource share, the
 * invitation accepted in each account (these accounts are in no organisation), the associations
 * read until complete.
 */
async function share(hub: string, targetId: string, ...accounts: string[]): Promise<void> {
  for (const account of accounts) await shareTarget(env.url, hub, targetId, account);
}

/** A security (hub) account with an ENI target, and a member account with an instance and a filter. */
async function hubAndMember() {
  const hub = freshClient(env.url);
  const member = freshClient(env.url);
  const hubNetwork = await createNetwork(hub.ec2);
  const [appliance] = await launchMany(hub.ec2, hubNetwork.subnetId, 1, 'c5n.xlarge');
  const targetId = await eniTarget(hub.ec2, must(appliance, 'appliance').eniId);
  const memberNetwork = await createNetwork(member.ec2);
  const [source] = await launchMany(member.ec2, memberNetwork.subnetId, 1);
  const filterId = await createFilter(member.ec2);
  const input = {
    NetworkInterfaceId: must(source, 'source').eniId,
    TrafficMirrorTargetId: targetId,
    TrafficMirrorFilterId: filterId,
    SessionNumber: 1,
  };
  return { hub, member, targetId, filterId, memberNetwork, input };
}

describe('a target owned by another account', () => {
  it('is neither visible nor usable before it is shared', async () => {
    const { member, targetId, input } = await hubAndMember();

    expect(await allTargets(member.ec2)).toEqual([]);
    await rejectsWith(
      member.ec2.send(new DescribeTrafficMirrorTargetsCommand({ TrafficMirrorTargetIds: [targetId] })),
      'InvalidTrafficMirrorTargetId.NotFound',
    );
    await rejectsWith(createSession(member.ec2, input), 'InvalidTrafficMirrorTargetId.NotFound');

    expect(await allSessions(member.ec2)).toEqual([]);
  });

  it('is visible with its owner id and usable once shared with the account', async () => {
    const { hub, member, targetId, input } = await hubAndMember();
    await share(hub.account, targetId, member.account);

    const visible = await allTargets(member.ec2);
    const session = await createSession(member.ec2, input);

    expect(visible.map((t) => [t.TrafficMirrorTargetId, t.OwnerId])).toEqual([[targetId, hub.account]]);
    expect(await allTargets(member.ec2, [{ Name: 'owner-id', Values: [hub.account] }])).toHaveLength(1);
    expect(session).toMatchObject({ TrafficMirrorTargetId: targetId, OwnerId: member.account });
    expect(idsOf(await allSessions(member.ec2))).toEqual([session.TrafficMirrorSessionId]);
  });

  it('pages own and shared targets together with NextToken, each once', async () => {
    const hub = freshClient(env.url);
    const member = freshClient(env.url);
    const expected: string[] = [];
    for (let i = 0; i < 4; i++) {
      const shared = await nlbTarget(hub.ec2, hub.account);
      await share(hub.account, shared, member.account);
      expected.push(shared, await nlbTarget(member.ec2, member.account));
    }

    const seen: (string | undefined)[] = [];
    let token: string | undefined;
    do {
      const page = await member.ec2.send(
        new DescribeTrafficMirrorTargetsCommand({ MaxResults: 5, NextToken: token }),
      );
      seen.push(...(page.TrafficMirrorTargets ?? []).map((t) => t.TrafficMirrorTargetId));
      token = page.NextToken;
    } while (token);

    expect(seen).toEqual(expected);
  });

  it('stays invisible to accounts it is not shared with', async () => {
    const { hub, member, targetId, input } = await hubAndMember();
    const stranger = freshClient(env.url);
    await share(hub.account, targetId, stranger.account);

    expect(await allTargets(member.ec2)).toEqual([]);
    await rejectsWith(createSession(member.ec2, input), 'InvalidTrafficMirrorTargetId.NotFound');
  });

  it('can be deleted only by its owner (UnauthorizedOperation for the sharee)', async () => {
    const { hub, member, targetId } = await hubAndMember();
    await share(hub.account, targetId, member.account);

    await rejectsWith(
      member.ec2.send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: targetId })),
      'UnauthorizedOperation',
    );

    expect((await allTargets(hub.ec2)).map((t) => t.TrafficMirrorTargetId)).toEqual([targetId]);
  });

  it('cannot be deleted by its owner while another account has a session on it', async () => {
    const { hub, member, targetId, input } = await hubAndMember();
    await share(hub.account, targetId, member.account);
    const session = await createSession(member.ec2, input);

    await rejectsWith(
      hub.ec2.send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: targetId })),
      'TrafficMirrorTargetInUseException',
    );
    expect(await allTargets(hub.ec2)).toHaveLength(1);

    await member.ec2.send(
      new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: session.TrafficMirrorSessionId }),
    );
    await hub.ec2.send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: targetId }));
    expect(await allTargets(hub.ec2)).toEqual([]);
  });

  it('counts sources of all accounts toward the 10 sources of an ENI target', async () => {
    const { hub, member, targetId, filterId, memberNetwork } = await hubAndMember();
    await share(hub.account, targetId, member.account);
    const hubNetwork = await createNetwork(hub.ec2);
    const hubFilter = await createFilter(hub.ec2);
    for (const source of await launchMany(hub.ec2, hubNetwork.subnetId, 5)) {
      await createSession(hub.ec2, {
        NetworkInterfaceId: source.eniId,
        TrafficMirrorTargetId: targetId,
        TrafficMirrorFilterId: hubFilter,
        SessionNumber: 1,
      });
    }
    const [eleventh, ...five] = await launchMany(member.ec2, memberNetwork.subnetId, 6);
    const memberSession = (eniId: string) =>
      createSession(member.ec2, {
        NetworkInterfaceId: eniId,
        TrafficMirrorTargetId: targetId,
        TrafficMirrorFilterId: filterId,
        SessionNumber: 1,
      });
    for (const source of five) await memberSession(source.eniId);

    await rejectsWith(
      memberSession(must(eleventh, 'eleventh').eniId),
      'TrafficMirrorSourcesPerTargetLimitExceeded',
    );

    expect(await allSessions(member.ec2)).toHaveLength(5);
  });
});

describe("sessions on another account's target", () => {
  it('are visible to the target owner with the session owner id, but only the session owner may change them', async () => {
    const { hub, member, targetId, input } = await hubAndMember();
    await share(hub.account, targetId, member.account);
    const session = await createSession(member.ec2, input);
    const id = must(session.TrafficMirrorSessionId, 'id');

    const seenByHub = await allSessions(hub.ec2);
    await rejectsWith(
      hub.ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: id })),
      'UnauthorizedOperation',
    );
    await rejectsWith(
      hub.ec2.send(new ModifyTrafficMirrorSessionCommand({ TrafficMirrorSessionId: id, SessionNumber: 2 })),
      'UnauthorizedOperation',
    );

    expect(seenByHub).toEqual([session]);
    expect(await allSessions(hub.ec2, [{ Name: 'owner-id', Values: [member.account] }])).toEqual([session]);
    expect(await allSessions(member.ec2)).toEqual([session]);
  });

  it("are not visible to a third account, nor to the owner of another account's target", async () => {
    const { hub, member, targetId, input } = await hubAndMember();
    await share(hub.account, targetId, member.account);
    await createSession(member.ec2, input);
    const stranger = freshClient(env.url);
    await nlbTarget(stranger.ec2, stranger.account);

    expect(await allSessions(stranger.ec2)).toEqual([]);
  });
});

describe('resources of another account', () => {
  it("refuses a session on another account's ENI (InvalidNetworkInterfaceID.NotFound)", async () => {
    const hub = freshClient(env.url);
    const other = freshClient(env.url);
    const m = await mirrorSetup(hub.ec2);
    const otherNetwork = await createNetwork(other.ec2);
    const [foreign] = await launchMany(other.ec2, otherNetwork.subnetId, 1);

    await rejectsWith(
      createSession(hub.ec2, {
        NetworkInterfaceId: must(foreign, 'foreign').eniId,
        TrafficMirrorTargetId: m.targetId,
        TrafficMirrorFilterId: m.filterId,
        SessionNumber: 1,
      }),
      'InvalidNetworkInterfaceID.NotFound',
    );

    expect(await allSessions(hub.ec2)).toEqual([]);
    expect(await allSessions(other.ec2)).toEqual([]);
  });

  it("refuses another account's filter, even on a shared target (InvalidTrafficMirrorFilterId.NotFound)", async () => {
    const { hub, member, targetId, input } = await hubAndMember();
    await share(hub.account, targetId, member.account);
    const hubFilter = await createFilter(hub.ec2);

    await rejectsWith(
      createSession(member.ec2, { ...input, TrafficMirrorFilterId: hubFilter }),
      'InvalidTrafficMirrorFilterId.NotFound',
    );

    expect(await allSessions(member.ec2)).toEqual([]);
  });

  it("refuses another account's ENI as a target (InvalidNetworkInterfaceID.NotFound)", async () => {
    const { hub, member } = await hubAndMember();
    const hubNetwork = await createNetwork(hub.ec2);
    const [appliance] = await launchMany(hub.ec2, hubNetwork.subnetId, 1);

    await rejectsWith(
      eniTarget(member.ec2, must(appliance, 'appliance').eniId),
      'InvalidNetworkInterfaceID.NotFound',
    );

    expect(await allTargets(member.ec2)).toEqual([]);
  });
});
