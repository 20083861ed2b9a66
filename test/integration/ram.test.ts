import {
  DeleteTrafficMirrorSessionCommand,
  DeleteTrafficMirrorTargetCommand,
  DescribeTrafficMirrorTargetsCommand,
} from '@aws-sdk/client-ec2';
import {
  AcceptResourceShareInvitationCommand,
  AssociateResourceShareCommand,
  CreateResourceShareCommand,
  type CreateResourceShareCommandInput,
  DisassociateResourceShareCommand,
  GetResourceShareAssociationsCommand,
  GetResourceShareInvitationsCommand,
  GetResourceSharesCommand,
  ListResourcesCommand,
  type RAMClient,
} from '@aws-sdk/client-ram';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../cli/main.ts';
import { type Emulator, startEmulator } from '../../emulator/index.ts';
import { associationStatuses, ouArnOf, ramFor, targetArnOf } from '../support/accounts.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { send } from '../support/http.ts';
import {
  allSessions,
  allTargets,
  createFilter,
  createSession,
  launchMany,
  nlbTarget,
  rejectsWith,
} from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

const MANAGEMENT = '300000000000';
const MEMBERS = Array.from({ length: 200 }, (_, i) => String(300_000_000_001 + i));
const env = useEmulator({ organization: { managementAccount: MANAGEMENT, members: MEMBERS } });

let nextMember = 0;
/** An organisation member no other test uses. */
const member = () => must(MEMBERS[nextMember++], 'a free organisation member');
let nextOutsider = 500_000_000_000;
/** An account outside the organisation that no other test uses. */
const outsider = () => String(++nextOutsider);

/** An NLB target owned by `owner`; returns its id and ARN. */
async function target(owner: string): Promise<{ id: string; arn: string }> {
  const id = await nlbTarget(ec2For(env.url, owner), owner);
  return { id, arn: targetArnOf(owner, id) };
}

async function createShare(
  owner: string,
  input: Partial<CreateResourceShareCommandInput> = {},
): Promise<string> {
  const out = await ramFor(env.url, owner).send(
    new CreateResourceShareCommand({ name: 'mirror-target', ...input }),
  );
  return must(out.resourceShare?.resourceShareArn, 'resourceShareArn');
}

/** What the sharee sees of the target in EC2 (one DescribeTrafficMirrorTargets, one read of its associations). */
const visibleTo = async (account: string) =>
  (await allTargets(ec2For(env.url, account))).map((t) => t.TrafficMirrorTargetId);

/** The principal's association statuses from the owner's side, in order of reads. */
async function reads(
  ram: RAMClient,
  shareArn: string,
  count: number,
  type: 'PRINCIPAL' | 'RESOURCE' = 'PRINCIPAL',
) {
  const out: (string | undefined)[][] = [];
  for (let i = 0; i < count; i++)
    out.push((await associationStatuses(ram, shareArn, type)).map((a) => a.status));
  return out;
}

/** A member account with an instance and a filter, ready to create a session on a shared target. */
async function sourceIn(account: string, targetId: string) {
  const ec2 = ec2For(env.url, account);
  const network = await createNetwork(ec2);
  const [source] = await launchMany(ec2, network.subnetId, 1);
  const filterId = await createFilter(ec2);
  return {
    NetworkInterfaceId: must(source, 'source').eniId,
    TrafficMirrorTargetId: targetId,
    TrafficMirrorFilterId: filterId,
    SessionNumber: 1,
  };
}

describe('CreateResourceShare and GetResourceShares', () => {
  test('creates an ACTIVE share owned by the caller, with its tags; allowExternalPrincipals defaults to true', async () => {
    const owner = member();
    const ram = ramFor(env.url, owner);

    const { resourceShare } = await ram.send(
      new CreateResourceShareCommand({
        name: 'mirror-target',
        tags: [{ key: 'mirrorops:managed', value: 'true' }],
      }),
    );

    expect(resourceShare).toMatchObject({
      name: 'mirror-target',
      owningAccountId: owner,
      allowExternalPrincipals: true,
      status: 'ACTIVE',
      featureSet: 'STANDARD',
      tags: [{ key: 'mirrorops:managed', value: 'true' }],
    });
    expect(resourceShare?.resourceShareArn).toMatch(
      new RegExp(`^arn:aws:ram:us-east-1:${owner}:resource-share/[0-9a-f-]{36}$`),
    );
    expect(resourceShare?.creationTime).toBeInstanceOf(Date);
    const { resourceShares } = await ram.send(new GetResourceSharesCommand({ resourceOwner: 'SELF' }));
    expect(resourceShares).toEqual([resourceShare]);
  });

  test('GetResourceShares filters by ARN, name and tags, and pages', async () => {
    const owner = member();
    const ram = ramFor(env.url, owner);
    const a = await createShare(owner, { name: 'a', tags: [{ key: 'team', value: 'sec' }] });
    const b = await createShare(owner, { name: 'b', tags: [{ key: 'team', value: 'net' }] });
    const c = await createShare(owner, { name: 'a' });
    const arns = async (
      input: Omit<ConstructorParameters<typeof GetResourceSharesCommand>[0], 'resourceOwner'>,
    ) =>
      (await ram.send(new GetResourceSharesCommand({ resourceOwner: 'SELF', ...input }))).resourceShares?.map(
        (s) => s.resourceShareArn,
      );

    expect(await arns({ name: 'a' })).toEqual([a, c]);
    expect(await arns({ resourceShareArns: [b, c] })).toEqual([b, c]);
    expect(await arns({ tagFilters: [{ tagKey: 'team', tagValues: ['sec'] }] })).toEqual([a]);
    expect(await arns({ tagFilters: [{ tagKey: 'team' }] })).toEqual([a, b]);
    const first = await ram.send(new GetResourceSharesCommand({ resourceOwner: 'SELF', maxResults: 2 }));
    const second = await ram.send(
      new GetResourceSharesCommand({ resourceOwner: 'SELF', maxResults: 2, nextToken: first.nextToken }),
    );
    expect(first.resourceShares?.map((s) => s.resourceShareArn)).toEqual([a, b]);
    expect(second.resourceShares?.map((s) => s.resourceShareArn)).toEqual([c]);
    expect(second.nextToken).toBeUndefined();
    await rejectsWith(
      ram.send(
        new GetResourceSharesCommand({ resourceOwner: 'SELF', name: 'b', nextToken: first.nextToken }),
      ),
      'InvalidNextTokenException',
    );
  });

  test("an account's shares are not others' SELF shares, nor its own OTHER-ACCOUNTS shares", async () => {
    const owner = member();
    await createShare(owner);

    const other = await ramFor(env.url, member()).send(
      new GetResourceSharesCommand({ resourceOwner: 'SELF' }),
    );
    const received = await ramFor(env.url, owner).send(
      new GetResourceSharesCommand({ resourceOwner: 'OTHER-ACCOUNTS' }),
    );

    expect(other.resourceShares).toEqual([]);
    expect(received.resourceShares).toEqual([]);
  });

  test('shares are regional: another Region of the same account does not list them', async () => {
    const owner = member();
    await createShare(owner);

    const west = await ramFor(env.url, owner, 'us-west-2').send(
      new GetResourceSharesCommand({ resourceOwner: 'SELF' }),
    );

    expect(west.resourceShares).toEqual([]);
  });

  test('a clientToken makes CreateResourceShare idempotent; reused with other parameters it is IdempotentParameterMismatchException', async () => {
    const owner = member();
    const ram = ramFor(env.url, owner);
    const { arn } = await target(owner);
    const input = {
      name: 'mirror-target',
      resourceArns: [arn],
      principals: [member()],
      clientToken: 'onboard-1',
    };

    const first = await ram.send(new CreateResourceShareCommand(input));
    const again = await ram.send(new CreateResourceShareCommand(input));
    const mismatch = ram.send(new CreateResourceShareCommand({ ...input, name: 'other' }));

    await rejectsWith(mismatch, 'IdempotentParameterMismatchException');
    expect(again).toMatchObject({ resourceShare: first.resourceShare, clientToken: 'onboard-1' });
    const { resourceShares } = await ram.send(new GetResourceSharesCommand({ resourceOwner: 'SELF' }));
    expect(resourceShares?.map((s) => s.resourceShareArn)).toEqual([first.resourceShare?.resourceShareArn]);
  });

  test('without a clientToken every call creates a share', async () => {
    const owner = member();
    await createShare(owner);
    await createShare(owner);

    const { resourceShares } = await ramFor(env.url, owner).send(
      new GetResourceSharesCommand({ resourceOwner: 'SELF' }),
    );

    expect(resourceShares).toHaveLength(2);
  });
});

describe('what can be shared, and with whom', () => {
  interface Targets {
    owner: string;
    id: string;
    foreign: string;
  }
  test.each([
    [
      'a target that does not exist',
      (t: Targets) => targetArnOf(t.owner, 'tmt-0123456789abcdef0'),
      'UnknownResourceException',
    ],
    ["another account's target", (t: Targets) => t.foreign, 'UnknownResourceException'],
    [
      'a target ARN of another Region',
      (t: Targets) => targetArnOf(t.owner, t.id, 'us-west-2'),
      'UnknownResourceException',
    ],
    ['a malformed ARN', (t: Targets) => t.id, 'MalformedArnException'],
    [
      'a resource type the emulator does not share',
      (t: Targets) => `arn:aws:ec2:us-east-1:${t.owner}:subnet/subnet-0123`,
      'MalformedArnException',
    ],
  ])('%s is refused and creates no share', async (_case, arnOf, code) => {
    const owner = member();
    const { id } = await target(owner);
    const foreign = (await target(member())).arn;
    const ram = ramFor(env.url, owner);

    await rejectsWith(
      ram.send(new CreateResourceShareCommand({ name: 'x', resourceArns: [arnOf({ owner, id, foreign })] })),
      code,
    );

    const { resourceShares } = await ram.send(new GetResourceSharesCommand({ resourceOwner: 'SELF' }));
    expect(resourceShares).toEqual([]);
  });

  test.each([
    ['a principal that is no account id', () => 'hub-account'],
    ['an IAM role ARN (not shared with by the emulator)', () => 'arn:aws:iam::300000000001:role/x'],
    ['the owner itself', (owner: string) => owner],
  ])('%s is InvalidParameterException', async (_case, principalOf) => {
    const owner = member();

    await rejectsWith(
      ramFor(env.url, owner).send(
        new CreateResourceShareCommand({ name: 'x', principals: [principalOf(owner)] }),
      ),
      'InvalidParameterException',
    );
  });

  test('with allowExternalPrincipals false, an account outside the organisation is refused (InvalidParameterException); a member is not', async () => {
    const owner = member();
    const ram = ramFor(env.url, owner);
    const { arn } = await target(owner);

    const error = await ram
      .send(
        new CreateResourceShareCommand({
          name: 'x',
          resourceArns: [arn],
          principals: [member(), outsider()],
          allowExternalPrincipals: false,
        }),
      )
      .catch((e: unknown) => e);
    const inside = await createShare(owner, {
      resourceArns: [arn],
      principals: [member()],
      allowExternalPrincipals: false,
    });
    const associating = ram.send(
      new AssociateResourceShareCommand({ resourceShareArn: inside, principals: [outsider()] }),
    );

    expect(error).toMatchObject({ name: 'InvalidParameterException' });
    expect((error as Error).message).toMatch(/is not in your AWS organization/);
    await rejectsWith(associating, 'InvalidParameterException');
    const { resourceShares } = await ram.send(new GetResourceSharesCommand({ resourceOwner: 'SELF' }));
    expect(resourceShares?.map((s) => [s.resourceShareArn, s.allowExternalPrincipals])).toEqual([
      [inside, false],
    ]);
    expect((await associationStatuses(ram, inside)).map((a) => a.associatedEntity)).toHaveLength(1);
  });

  test('a management account sharing with a member needs no invitation either', async () => {
    const sharee = member();
    const { arn } = await target(MANAGEMENT);
    const shareArn = await createShare(MANAGEMENT, {
      resourceArns: [arn],
      principals: [sharee],
      allowExternalPrincipals: false,
    });

    const [association] = await associationStatuses(ramFor(env.url, MANAGEMENT), shareArn);

    expect(association).toMatchObject({ associatedEntity: sharee, external: false });
    const { resourceShareInvitations } = await ramFor(env.url, sharee).send(
      new GetResourceShareInvitationsCommand({}),
    );
    expect(resourceShareInvitations).toEqual([]);
  });
});

describe('inside the organisation: no invitation, the association completes on its own', () => {
  test('the principal association reads ASSOCIATING at its first read, ASSOCIATED from the second', async () => {
    const owner = member();
    const sharee = member();
    const { arn } = await target(owner);
    const ram = ramFor(env.url, owner);

    const shareArn = await createShare(owner, { resourceArns: [arn], principals: [sharee] });

    expect(await reads(ram, shareArn, 3)).toEqual([['ASSOCIATING'], ['ASSOCIATED'], ['ASSOCIATED']]);
    expect(await reads(ram, shareArn, 2, 'RESOURCE')).toEqual([['ASSOCIATING'], ['ASSOCIATED']]);
    const [association] = await associationStatuses(ram, shareArn);
    expect(association).toMatchObject({
      resourceShareArn: shareArn,
      resourceShareName: 'mirror-target',
      associatedEntity: sharee,
      associationType: 'PRINCIPAL',
      external: false,
    });
    const { resourceShareInvitations } = await ramFor(env.url, sharee).send(
      new GetResourceShareInvitationsCommand({}),
    );
    expect(resourceShareInvitations).toEqual([]);
  });

  test('the sharee sees the target in EC2 only once the associations are ASSOCIATED', async () => {
    const owner = member();
    const sharee = member();
    const { id, arn } = await target(owner);
    await createShare(owner, { resourceArns: [arn], principals: [sharee] });

    const first = await visibleTo(sharee);
    const second = await visibleTo(sharee);

    expect(first).toEqual([]);
    expect(second).toEqual([id]);
    const [seen] = await allTargets(ec2For(env.url, sharee));
    expect(seen?.OwnerId).toBe(owner);
  });

  test('describing the target by id before the share completes is NotFound, as for a target never shared', async () => {
    const owner = member();
    const sharee = member();
    const { id, arn } = await target(owner);
    await createShare(owner, { resourceArns: [arn], principals: [sharee] });
    const ec2 = ec2For(env.url, sharee);

    await rejectsWith(
      ec2.send(new DescribeTrafficMirrorTargetsCommand({ TrafficMirrorTargetIds: [id] })),
      'InvalidTrafficMirrorTargetId.NotFound',
    );
    const out = await ec2.send(new DescribeTrafficMirrorTargetsCommand({ TrafficMirrorTargetIds: [id] }));
    expect(out.TrafficMirrorTargets?.map((t) => t.TrafficMirrorTargetId)).toEqual([id]);
  });

  test('the sharee can create a session on the target only once the share has completed', async () => {
    const owner = member();
    const sharee = member();
    const { id, arn } = await target(owner);
    const input = await sourceIn(sharee, id);
    await createShare(owner, { resourceArns: [arn], principals: [sharee] });
    const ec2 = ec2For(env.url, sharee);

    await rejectsWith(createSession(ec2, input), 'InvalidTrafficMirrorTargetId.NotFound');
    const session = await createSession(ec2, input);

    expect(session).toMatchObject({ TrafficMirrorTargetId: id, OwnerId: sharee });
    expect(await allSessions(ec2For(env.url, owner))).toEqual([session]);
  });

  test('a target added to a completed share completes in its turn', async () => {
    const owner = member();
    const sharee = member();
    const [first, second] = [await target(owner), await target(owner)];
    const ram = ramFor(env.url, owner);
    const shareArn = await createShare(owner, { resourceArns: [first.arn], principals: [sharee] });
    await reads(ram, shareArn, 2);
    await reads(ram, shareArn, 2, 'RESOURCE');

    const { resourceShareAssociations } = await ram.send(
      new AssociateResourceShareCommand({ resourceShareArn: shareArn, resourceArns: [second.arn] }),
    );

    expect(resourceShareAssociations?.map((a) => [a.associatedEntity, a.associationType, a.status])).toEqual([
      [second.arn, 'RESOURCE', 'ASSOCIATING'],
    ]);
    expect(await visibleTo(sharee)).toEqual([first.id]);
    expect(await visibleTo(sharee)).toEqual([first.id, second.id]);
  });

  test('GetResourceShares OTHER-ACCOUNTS and ListResources show the sharee what it received, once associated', async () => {
    const owner = member();
    const sharee = member();
    const { arn } = await target(owner);
    const shareArn = await createShare(owner, { resourceArns: [arn], principals: [sharee] });
    const ram = ramFor(env.url, sharee);
    const received = async () =>
      (await ram.send(new GetResourceSharesCommand({ resourceOwner: 'OTHER-ACCOUNTS' }))).resourceShares?.map(
        (s) => s.resourceShareArn,
      );
    const listed = async () =>
      (
        await ram.send(
          new ListResourcesCommand({
            resourceOwner: 'OTHER-ACCOUNTS',
            resourceType: 'ec2:TrafficMirrorTarget',
          }),
        )
      ).resources ?? [];

    expect(await received()).toEqual([]);
    expect(await received()).toEqual([shareArn]);
    expect(await listed()).toEqual([]);
    const [resource] = await listed();

    expect(resource).toMatchObject({
      arn,
      type: 'ec2:TrafficMirrorTarget',
      resourceShareArn: shareArn,
      status: 'AVAILABLE',
      resourceRegionScope: 'REGIONAL',
    });
  });

  test("ListResources SELF lists the owner's shared targets, by principal too; a resource type it does not know is InvalidResourceTypeException", async () => {
    const owner = member();
    const sharee = member();
    const { arn } = await target(owner);
    const shareArn = await createShare(owner, { resourceArns: [arn], principals: [sharee] });
    const ram = ramFor(env.url, owner);
    await reads(ram, shareArn, 2);
    await reads(ram, shareArn, 2, 'RESOURCE');

    const all = await ram.send(new ListResourcesCommand({ resourceOwner: 'SELF' }));
    const forSharee = await ram.send(new ListResourcesCommand({ resourceOwner: 'SELF', principal: sharee }));
    const forOther = await ram.send(new ListResourcesCommand({ resourceOwner: 'SELF', principal: member() }));

    expect(all.resources?.map((r) => [r.arn, r.resourceShareArn])).toEqual([[arn, shareArn]]);
    expect(forSharee.resources?.map((r) => r.arn)).toEqual([arn]);
    expect(forOther.resources).toEqual([]);
    await rejectsWith(
      ram.send(new ListResourcesCommand({ resourceOwner: 'SELF', resourceType: 'ec2:Subnet' })),
      'InvalidResourceTypeException',
    );
  });
});

describe('outside the organisation: an invitation to accept', () => {
  test('the outside account gets a PENDING invitation; the association stays ASSOCIATING and the target hidden until it accepts', async () => {
    const owner = member();
    const sharee = outsider();
    const { id, arn } = await target(owner);
    const shareArn = await createShare(owner, { resourceArns: [arn], principals: [sharee] });
    const ram = ramFor(env.url, owner);
    const shareeRam = ramFor(env.url, sharee);

    const { resourceShareInvitations: [invitation] = [] } = await shareeRam.send(
      new GetResourceShareInvitationsCommand({}),
    );
    expect(invitation).toMatchObject({
      resourceShareArn: shareArn,
      resourceShareName: 'mirror-target',
      senderAccountId: owner,
      receiverAccountId: sharee,
      status: 'PENDING',
    });
    expect(await reads(ram, shareArn, 3)).toEqual([['ASSOCIATING'], ['ASSOCIATING'], ['ASSOCIATING']]);
    expect(await visibleTo(sharee)).toEqual([]);
    expect(await visibleTo(sharee)).toEqual([]);
    expect((await associationStatuses(ram, shareArn))[0]?.external).toBe(true);

    const accepted = await shareeRam.send(
      new AcceptResourceShareInvitationCommand({
        resourceShareInvitationArn: invitation?.resourceShareInvitationArn,
      }),
    );

    expect(accepted.resourceShareInvitation?.status).toBe('ACCEPTED');
    expect(await reads(ram, shareArn, 2)).toEqual([['ASSOCIATING'], ['ASSOCIATED']]);
    expect(await visibleTo(sharee)).toEqual([id]);
    const { resourceShareInvitations } = await shareeRam.send(new GetResourceShareInvitationsCommand({}));
    expect(resourceShareInvitations?.map((i) => i.status)).toEqual(['ACCEPTED']);
  });

  test('the invitation is visible to its receiver only, and filters by ARN and share', async () => {
    const owner = member();
    const sharee = outsider();
    const shareArn = await createShare(owner, { principals: [sharee] });
    const otherShare = await createShare(owner, { principals: [sharee] });
    const shareeRam = ramFor(env.url, sharee);
    const { resourceShareInvitations: all = [] } = await shareeRam.send(
      new GetResourceShareInvitationsCommand({}),
    );
    const invitationArn = must(all[0]?.resourceShareInvitationArn, 'invitation');

    const byShare = await shareeRam.send(
      new GetResourceShareInvitationsCommand({ resourceShareArns: [otherShare] }),
    );
    const byArn = await shareeRam.send(
      new GetResourceShareInvitationsCommand({ resourceShareInvitationArns: [invitationArn] }),
    );
    const ownerSees = await ramFor(env.url, owner).send(new GetResourceShareInvitationsCommand({}));

    expect(all.map((i) => i.resourceShareArn)).toEqual([shareArn, otherShare]);
    expect(byShare.resourceShareInvitations?.map((i) => i.resourceShareArn)).toEqual([otherShare]);
    expect(byArn.resourceShareInvitations?.map((i) => i.resourceShareArn)).toEqual([shareArn]);
    expect(ownerSees.resourceShareInvitations).toEqual([]);
    await rejectsWith(
      ramFor(env.url, outsider()).send(
        new GetResourceShareInvitationsCommand({ resourceShareInvitationArns: [invitationArn] }),
      ),
      'ResourceShareInvitationArnNotFoundException',
    );
  });

  test('accepting twice is ResourceShareInvitationAlreadyAcceptedException, unless with the same clientToken', async () => {
    const owner = member();
    const sharee = outsider();
    await createShare(owner, { principals: [sharee] });
    const shareeRam = ramFor(env.url, sharee);
    const { resourceShareInvitations: [invitation] = [] } = await shareeRam.send(
      new GetResourceShareInvitationsCommand({}),
    );
    const input = {
      resourceShareInvitationArn: invitation?.resourceShareInvitationArn,
      clientToken: 'accept-1',
    };

    const first = await shareeRam.send(new AcceptResourceShareInvitationCommand(input));
    const repeat = await shareeRam.send(new AcceptResourceShareInvitationCommand(input));

    expect(repeat).toMatchObject({ resourceShareInvitation: first.resourceShareInvitation });
    await rejectsWith(
      shareeRam.send(
        new AcceptResourceShareInvitationCommand({
          resourceShareInvitationArn: invitation?.resourceShareInvitationArn,
        }),
      ),
      'ResourceShareInvitationAlreadyAcceptedException',
    );
  });

  test('another account cannot accept the invitation (ResourceShareInvitationArnNotFoundException); a malformed ARN is MalformedArnException', async () => {
    const owner = member();
    const sharee = outsider();
    await createShare(owner, { principals: [sharee] });
    const { resourceShareInvitations: [invitation] = [] } = await ramFor(env.url, sharee).send(
      new GetResourceShareInvitationsCommand({}),
    );
    const stranger = ramFor(env.url, outsider());

    await rejectsWith(
      stranger.send(
        new AcceptResourceShareInvitationCommand({
          resourceShareInvitationArn: invitation?.resourceShareInvitationArn,
        }),
      ),
      'ResourceShareInvitationArnNotFoundException',
    );
    await rejectsWith(
      stranger.send(new AcceptResourceShareInvitationCommand({ resourceShareInvitationArn: 'invitation-1' })),
      'MalformedArnException',
    );
    const { resourceShareInvitations } = await ramFor(env.url, sharee).send(
      new GetResourceShareInvitationsCommand({}),
    );
    expect(resourceShareInvitations?.map((i) => i.status)).toEqual(['PENDING']);
  });

  test('an invitation whose principal was disassociated before accepting has expired', async () => {
    const owner = member();
    const sharee = outsider();
    const shareArn = await createShare(owner, { principals: [sharee] });
    const shareeRam = ramFor(env.url, sharee);
    const { resourceShareInvitations: [invitation] = [] } = await shareeRam.send(
      new GetResourceShareInvitationsCommand({}),
    );
    await ramFor(env.url, owner).send(
      new DisassociateResourceShareCommand({ resourceShareArn: shareArn, principals: [sharee] }),
    );

    await rejectsWith(
      shareeRam.send(
        new AcceptResourceShareInvitationCommand({
          resourceShareInvitationArn: invitation?.resourceShareInvitationArn,
        }),
      ),
      'ResourceShareInvitationExpiredException',
    );
  });
});

describe('AssociateResourceShare and DisassociateResourceShare', () => {
  test('associating a principal later makes a new ASSOCIATING association; an unknown or foreign share is UnknownResourceException', async () => {
    const owner = member();
    const sharee = member();
    const shareArn = await createShare(owner);
    const ram = ramFor(env.url, owner);

    const { resourceShareAssociations } = await ram.send(
      new AssociateResourceShareCommand({ resourceShareArn: shareArn, principals: [sharee] }),
    );

    expect(
      resourceShareAssociations?.map((a) => [a.associatedEntity, a.associationType, a.status, a.external]),
    ).toEqual([[sharee, 'PRINCIPAL', 'ASSOCIATING', false]]);
    await rejectsWith(
      ramFor(env.url, member()).send(
        new AssociateResourceShareCommand({ resourceShareArn: shareArn, principals: [member()] }),
      ),
      'UnknownResourceException',
    );
    await rejectsWith(
      ram.send(
        new AssociateResourceShareCommand({
          resourceShareArn: `${shareArn.slice(0, -4)}ffff`,
          principals: [member()],
        }),
      ),
      'UnknownResourceException',
    );
    await rejectsWith(
      ram.send(new AssociateResourceShareCommand({ resourceShareArn: 'share-1', principals: [member()] })),
      'MalformedArnException',
    );
  });

  test('associating what is already associated changes nothing', async () => {
    const owner = member();
    const sharee = member();
    const shareArn = await createShare(owner, { principals: [sharee] });
    const ram = ramFor(env.url, owner);
    await reads(ram, shareArn, 2);

    const { resourceShareAssociations } = await ram.send(
      new AssociateResourceShareCommand({ resourceShareArn: shareArn, principals: [sharee] }),
    );

    expect(resourceShareAssociations?.map((a) => a.status)).toEqual(['ASSOCIATED']);
  });

  test('disassociating a principal answers DISASSOCIATING, reads DISASSOCIATED, and hides the target from it at once', async () => {
    const owner = member();
    const sharee = member();
    const { id, arn } = await target(owner);
    const shareArn = await createShare(owner, { resourceArns: [arn], principals: [sharee] });
    const ram = ramFor(env.url, owner);
    await visibleTo(sharee);
    expect(await visibleTo(sharee)).toEqual([id]);
    const input = await sourceIn(sharee, id);

    const { resourceShareAssociations } = await ram.send(
      new DisassociateResourceShareCommand({ resourceShareArn: shareArn, principals: [sharee] }),
    );

    expect(resourceShareAssociations?.map((a) => [a.associatedEntity, a.status])).toEqual([
      [sharee, 'DISASSOCIATING'],
    ]);
    expect(await reads(ram, shareArn, 1)).toEqual([['DISASSOCIATED']]);
    expect(await visibleTo(sharee)).toEqual([]);
    await rejectsWith(createSession(ec2For(env.url, sharee), input), 'InvalidTrafficMirrorTargetId.NotFound');
  });

  test('disassociating the target hides it too; associating it again starts over', async () => {
    const owner = member();
    const sharee = member();
    const { id, arn } = await target(owner);
    const shareArn = await createShare(owner, { resourceArns: [arn], principals: [sharee] });
    const ram = ramFor(env.url, owner);
    await visibleTo(sharee);
    expect(await visibleTo(sharee)).toEqual([id]);

    await ram.send(new DisassociateResourceShareCommand({ resourceShareArn: shareArn, resourceArns: [arn] }));
    const hidden = await visibleTo(sharee);
    await ram.send(new AssociateResourceShareCommand({ resourceShareArn: shareArn, resourceArns: [arn] }));

    expect(hidden).toEqual([]);
    expect(await visibleTo(sharee)).toEqual([]);
    expect(await visibleTo(sharee)).toEqual([id]);
  });

  test('a session created before the disassociation keeps existing; the owner still cannot delete the target it uses', async () => {
    const owner = member();
    const sharee = member();
    const { id, arn } = await target(owner);
    const shareArn = await createShare(owner, { resourceArns: [arn], principals: [sharee] });
    const input = await sourceIn(sharee, id);
    await visibleTo(sharee);
    const session = await createSession(ec2For(env.url, sharee), input);

    await ramFor(env.url, owner).send(
      new DisassociateResourceShareCommand({ resourceShareArn: shareArn, principals: [sharee] }),
    );

    expect(await allSessions(ec2For(env.url, sharee))).toEqual([session]);
    expect(await allSessions(ec2For(env.url, owner))).toEqual([session]);
    await rejectsWith(
      ec2For(env.url, owner).send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: id })),
      'TrafficMirrorTargetInUseException',
    );
    await ec2For(env.url, sharee).send(
      new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: session.TrafficMirrorSessionId }),
    );
    await ec2For(env.url, owner).send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: id }));
    expect(await allTargets(ec2For(env.url, owner))).toEqual([]);
  });

  test('disassociating an account never associated is UnknownResourceException; one already disassociated answers DISASSOCIATED again', async () => {
    const owner = member();
    const sharee = member();
    const shareArn = await createShare(owner, { principals: [sharee] });
    const ram = ramFor(env.url, owner);
    const disassociate = (principal: string) =>
      ram.send(new DisassociateResourceShareCommand({ resourceShareArn: shareArn, principals: [principal] }));

    await rejectsWith(disassociate(member()), 'UnknownResourceException');
    await disassociate(sharee);
    const again = await disassociate(sharee);

    expect(again.resourceShareAssociations?.map((a) => a.status)).toEqual(['DISASSOCIATED']);
  });

  test('a target its owner deletes leaves the share: its association is DISASSOCIATED', async () => {
    const owner = member();
    const sharee = member();
    const { id, arn } = await target(owner);
    const shareArn = await createShare(owner, { resourceArns: [arn], principals: [sharee] });
    await visibleTo(sharee);
    expect(await visibleTo(sharee)).toEqual([id]);

    await ec2For(env.url, owner).send(new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: id }));

    expect(await reads(ramFor(env.url, owner), shareArn, 1, 'RESOURCE')).toEqual([['DISASSOCIATED']]);
    expect(await visibleTo(sharee)).toEqual([]);
  });
});

describe('GetResourceShareAssociations', () => {
  test('filters by type, principal, resource and status; a filter of the other type is InvalidParameterException', async () => {
    const owner = member();
    const [a, b] = [member(), member()];
    const { arn } = await target(owner);
    await createShare(owner, { resourceArns: [arn], principals: [a, b] });
    const ram = ramFor(env.url, owner);
    const get = (
      input: Omit<ConstructorParameters<typeof GetResourceShareAssociationsCommand>[0], 'associationType'> & {
        associationType: 'PRINCIPAL' | 'RESOURCE';
      },
    ) =>
      ram
        .send(new GetResourceShareAssociationsCommand(input))
        .then((out) => out.resourceShareAssociations?.map((x) => [x.associatedEntity, x.status]));

    expect(await get({ associationType: 'PRINCIPAL', principal: a })).toEqual([[a, 'ASSOCIATING']]);
    expect(await get({ associationType: 'PRINCIPAL', associationStatus: 'ASSOCIATED' })).toEqual([
      [a, 'ASSOCIATED'],
    ]);
    expect(await get({ associationType: 'RESOURCE', resourceArn: arn })).toEqual([[arn, 'ASSOCIATING']]);
    await rejectsWith(
      ram.send(new GetResourceShareAssociationsCommand({ associationType: 'RESOURCE', principal: a })),
      'InvalidParameterException',
    );
    const other = await ramFor(env.url, a).send(
      new GetResourceShareAssociationsCommand({ associationType: 'PRINCIPAL' }),
    );
    expect(other.resourceShareAssociations).toEqual([]);
  });
});

describe('the rest-json protocol', () => {
  test('an error carries its code in x-amzn-errortype and a JSON body with the message', async () => {
    const response = await send(env.url, JSON.stringify({ resourceOwner: 'NOBODY' }), {
      path: '/getresourceshares',
      headers: { 'content-type': 'application/json' },
    });

    expect(response.status).toBe(400);
    expect(response.contentType).toBe('application/json');
    expect(JSON.parse(response.body)).toEqual({ message: expect.stringContaining('resourceOwner') });
    expect(response.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('injected failures reach RAM as 500 ServerInternalException, and a failure before acting creates nothing', async () => {
    const owner = member();
    env.emulator.faults.set({ failActions: ['CreateResourceShare'] });
    try {
      await expect(
        ramFor(env.url, owner).send(new CreateResourceShareCommand({ name: 'x' })),
      ).rejects.toMatchObject({ name: 'ServerInternalException', $metadata: { httpStatusCode: 500 } });
    } finally {
      env.emulator.faults.set({});
    }

    const { resourceShares } = await ramFor(env.url, owner).send(
      new GetResourceSharesCommand({ resourceOwner: 'SELF' }),
    );
    expect(resourceShares).toEqual([]);
  });

  test('a missing required member is MissingRequiredParameterException', async () => {
    await rejectsWith(
      ramFor(env.url, member()).send(new CreateResourceShareCommand({} as CreateResourceShareCommandInput)),
      'MissingRequiredParameterException',
    );
  });
});

describe('mirrorops emulator --org-members', () => {
  function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
  }

  test('puts the listed accounts in one organisation: sharing among them needs no invitation, others get one', async () => {
    const { io, out, err } = capture();
    const stop = new AbortController();
    const done = main(
      ['emulator', '--port', '0', '--org-members', '611111111111,622222222222'],
      io,
      stop.signal,
    );
    await expect.poll(() => out.length, { timeout: 10_000 }).toBe(1);
    const url = must(out[0], 'url');
    try {
      const ram = ramFor(url, '611111111111');
      await ram.send(
        new CreateResourceShareCommand({ name: 'x', principals: ['622222222222', '633333333333'] }),
      );

      const inside = await ramFor(url, '622222222222').send(new GetResourceShareInvitationsCommand({}));
      const outside = await ramFor(url, '633333333333').send(new GetResourceShareInvitationsCommand({}));

      expect(inside.resourceShareInvitations).toEqual([]);
      expect(outside.resourceShareInvitations?.map((i) => i.status)).toEqual(['PENDING']);
      expect(err.join('\n')).toContain('Organization: management account 611111111111, members 622222222222');
    } finally {
      stop.abort();
    }
    expect(await done).toBe(0);
  });

  test.each([
    [['--org-members', '6111,622222222222']],
    [['--org-members', '']],
    [['--org-management', 'abc']],
  ])('%j is a usage error (exit 2)', async (flags) => {
    const { io, err } = capture();

    expect(await main(['emulator', '--port', '0', ...flags], io)).toBe(2);
    expect(err.join('\n')).toMatch(/--org-m/);
  });

  test('startEmulator refuses an organisation with a malformed account id', async () => {
    const { startEmulator } = await import('../../emulator/index.ts');

    await expect(startEmulator({ organization: { managementAccount: '1234', members: [] } })).rejects.toThrow(
      RangeError,
    );
  });
});

describe('sharing with an organizational unit', () => {
  const ORG = { management: '700000000000', id: 'o-aaaabbbbcc' };
  const [IN_OU, ALSO_IN_OU, OUTSIDE_OU, OTHER_ORG] = [
    '700000000001',
    '700000000002',
    '700000000003',
    '800000000001',
  ];
  const OU = 'ou-abcd-11111111';
  const ouArn = ouArnOf(ORG.management, OU, ORG.id);
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator({
      organization: {
        managementAccount: ORG.management,
        members: [IN_OU, ALSO_IN_OU, OUTSIDE_OU],
        id: ORG.id,
        units: { [OU]: [IN_OU, ALSO_IN_OU], 'ou-abcd-22222222': [OUTSIDE_OU] },
      },
    });
  });
  afterAll(async () => {
    await emulator.stop();
  });
  const ids = async (account: string) =>
    (await allTargets(ec2For(emulator.url, account))).map((t) => t.TrafficMirrorTargetId);

  test('every account of the OU sees the target once the OU association completes, with no invitation; an account outside the OU does not', async () => {
    const owner = OUTSIDE_OU;
    const targetId = await nlbTarget(ec2For(emulator.url, owner), owner);
    const ram = ramFor(emulator.url, owner);

    const shareArn = must(
      (
        await ram.send(
          new CreateResourceShareCommand({
            name: 'mirror-target',
            resourceArns: [targetArnOf(owner, targetId)],
            principals: [ouArn],
            allowExternalPrincipals: false,
          }),
        )
      ).resourceShare?.resourceShareArn,
      'resourceShareArn',
    );

    // The OU account's own EC2 calls read the OU association: the first sees nothing yet.
    expect(await ids(IN_OU)).toEqual([]);
    expect(await ids(IN_OU)).toEqual([targetId]);
    expect(await ids(ALSO_IN_OU)).toEqual([targetId]);
    expect(await ids(ORG.management)).toEqual([]);
    const [association] = await associationStatuses(ram, shareArn);
    expect(association).toMatchObject({ associatedEntity: ouArn, status: 'ASSOCIATED', external: false });
    for (const account of [IN_OU, ALSO_IN_OU]) {
      const received = await ramFor(emulator.url, account).send(
        new GetResourceSharesCommand({ resourceOwner: 'OTHER-ACCOUNTS' }),
      );
      expect(received.resourceShares?.map((s) => s.resourceShareArn)).toEqual([shareArn]);
      const invitations = await ramFor(emulator.url, account).send(
        new GetResourceShareInvitationsCommand({}),
      );
      expect(invitations.resourceShareInvitations).toEqual([]);
    }
    // An OU account may use the target in a session.
    const session = await createSession(
      ec2For(emulator.url, IN_OU),
      await sourceInAt(emulator.url, IN_OU, targetId),
    );
    expect(session.TrafficMirrorTargetId).toBe(targetId);

    // Disassociating the OU ends it for every account of the OU at once.
    await ram.send(new DisassociateResourceShareCommand({ resourceShareArn: shareArn, principals: [ouArn] }));
    expect(await ids(ALSO_IN_OU)).toEqual([]);
  });

  test('an OU added to an existing share by AssociateResourceShare is associated like a member', async () => {
    const owner = ORG.management;
    const targetId = await nlbTarget(ec2For(emulator.url, owner), owner);
    const ram = ramFor(emulator.url, owner);
    const shareArn = must(
      (
        await ram.send(
          new CreateResourceShareCommand({ name: 'x', resourceArns: [targetArnOf(owner, targetId)] }),
        )
      ).resourceShare?.resourceShareArn,
      'arn',
    );

    const out = await ram.send(
      new AssociateResourceShareCommand({ resourceShareArn: shareArn, principals: [ouArn] }),
    );

    expect(out.resourceShareAssociations?.map((a) => [a.associatedEntity, a.status, a.external])).toEqual([
      [ouArn, 'ASSOCIATING', false],
    ]);
    expect(await reads(ram, shareArn, 2)).toEqual([['ASSOCIATING'], ['ASSOCIATED']]);
    // The resource association completes at its second read too (here, the OU account's first look is one).
    await ids(IN_OU);
    expect(await ids(IN_OU)).toContain(targetId);
    expect(await ids(OUTSIDE_OU)).not.toContain(targetId);
  });

  test.each([
    ['an OU the organisation does not have', () => ouArnOf(ORG.management, 'ou-abcd-99999999', ORG.id)],
    ['an OU of another organisation', () => ouArnOf('900000000000', OU, 'o-zzzzyyyyxx')],
    ['an OU ARN naming the right OU id under another organisation id', () => ouArnOf(ORG.management, OU)],
  ])('%s is UnknownResourceException, and nothing is created', async (_case, arnOf) => {
    const owner = IN_OU;
    const targetId = await nlbTarget(ec2For(emulator.url, owner), owner);
    const ram = ramFor(emulator.url, owner);
    const before =
      (await ram.send(new GetResourceSharesCommand({ resourceOwner: 'SELF' }))).resourceShares ?? [];

    const error = await ram
      .send(
        new CreateResourceShareCommand({
          name: 'x',
          resourceArns: [targetArnOf(owner, targetId)],
          principals: [arnOf()],
        }),
      )
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'UnknownResourceException' });
    expect((error as Error).message).toMatch(/^OrganizationalUnit ou-[a-z0-9-]+ could not be found\.$/);
    const after =
      (await ram.send(new GetResourceSharesCommand({ resourceOwner: 'SELF' }))).resourceShares ?? [];
    expect(after).toHaveLength(before.length);
  });

  test('an account outside the organisation cannot share with its OU (UnknownResourceException)', async () => {
    const targetId = await nlbTarget(ec2For(emulator.url, OTHER_ORG), OTHER_ORG);
    const ram = ramFor(emulator.url, OTHER_ORG);
    const shareArn = must(
      (
        await ram.send(
          new CreateResourceShareCommand({ name: 'x', resourceArns: [targetArnOf(OTHER_ORG, targetId)] }),
        )
      ).resourceShare?.resourceShareArn,
      'arn',
    );

    await rejectsWith(
      ram.send(new AssociateResourceShareCommand({ resourceShareArn: shareArn, principals: [ouArn] })),
      'UnknownResourceException',
    );
  });

  test('startEmulator refuses OUs with accounts outside the organisation, or a malformed OU or organisation id', async () => {
    for (const organization of [
      { managementAccount: ORG.management, members: [], units: { [OU]: ['123456789012'] } },
      { managementAccount: ORG.management, members: [], units: { 'ou-1': [] } },
      { managementAccount: ORG.management, members: [], id: 'org-1' },
    ]) {
      await expect(startEmulator({ organization })).rejects.toThrow(RangeError);
    }
  });
});

/** sourceIn, against another emulator than the file's. */
async function sourceInAt(url: string, account: string, targetId: string) {
  const ec2 = ec2For(url, account);
  const network = await createNetwork(ec2);
  const [source] = await launchMany(ec2, network.subnetId, 1);
  const filterId = await createFilter(ec2);
  return {
    NetworkInterfaceId: must(source, 'source').eniId,
    TrafficMirrorTargetId: targetId,
    TrafficMirrorFilterId: filterId,
    SessionNumber: 1,
  };
}
