import {
  CreateTagsCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorFilterRuleCommand,
  CreateTrafficMirrorSessionCommand,
  DeleteTagsCommand,
  DeleteTrafficMirrorFilterCommand,
  DeleteTrafficMirrorSessionCommand,
  DescribeTrafficMirrorSessionsCommand,
  DescribeTrafficMirrorTargetsCommand,
  type EC2Client,
  ModifyTrafficMirrorFilterNetworkServicesCommand,
  ModifyTrafficMirrorSessionCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { AssociateResourceShareCommand, CreateResourceShareCommand } from '@aws-sdk/client-ram';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { beforeAll, describe, expect, test } from 'vitest';
import { TAG } from '../../shared/domain/tags.ts';
import { apply } from '../../shared/mirror.ts';
import {
  ec2With,
  iamFor,
  type Keys,
  keysFrom,
  ouArnOf,
  ramFor,
  stsFor,
  targetArnOf,
} from '../support/accounts.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { findingFor, type Incident, incident, intentOf, tagsOf } from '../support/incident.ts';
import { applianceTargetIn, rejectsWith } from '../support/mirroring.ts';
import { deployHub, deploySpoke, type HubDeployment, serviceCredentials } from '../support/roles.ts';
import { createNetwork, launch, must } from '../support/topology.ts';

/**
 * What the deployed roles must not do, tried as them against the emulator, which authorizes every
 * request of a role session against the role's policies as AWS does (per resource of the action,
 * with the condition keys of each). Each attempt is one a compromised or buggy function could make.
 */
const HUB = '120000000001';
const MEMBER = '120000000002';
const STRANGER = '120000000003';
const EXTERNAL_ID = 'mirrorops-permissions';

const env = useEmulator({ organization: { managementAccount: HUB, members: [HUB, MEMBER, STRANGER] } });

/** EC2's refusal of a request its policies do not allow. */
const denied = (call: Promise<unknown>) => rejectsWith(call, 'UnauthorizedOperation');

/** RAM models no error for a denial: the SDK names it by the code RAM sends. */
const RAM_DENIED = 'AccessDeniedException';

const managed = (extra: Record<string, string> = {}): Tag[] =>
  Object.entries({ [TAG.managed]: 'true', ...extra }).map(([Key, Value]) => ({ Key, Value }));

/** A filter and a session on `eniId` to `targetId`, made by the account's root: tagged as given. */
async function rootSession(ec2: EC2Client, eniId: string, targetId: string, tags: Tag[]) {
  const filter = await ec2.send(
    new CreateTrafficMirrorFilterCommand({
      TagSpecifications: tags.length ? [{ ResourceType: 'traffic-mirror-filter', Tags: tags }] : undefined,
    }),
  );
  const filterId = must(filter.TrafficMirrorFilter?.TrafficMirrorFilterId, 'filter');
  const session = await ec2.send(
    new CreateTrafficMirrorSessionCommand({
      NetworkInterfaceId: eniId,
      TrafficMirrorTargetId: targetId,
      TrafficMirrorFilterId: filterId,
      SessionNumber: 7,
      TagSpecifications: tags.length ? [{ ResourceType: 'traffic-mirror-session', Tags: tags }] : undefined,
    }),
  );
  return { filterId, sessionId: must(session.TrafficMirrorSession?.TrafficMirrorSessionId, 'session') };
}

describe('the event functions role (guardduty-finding, tag-change, instance-launch)', () => {
  let world: Incident;
  let as: EC2Client;
  let eniId: string;
  let unmanaged: { filterId: string; sessionId: string };
  let ours: { filterId: string; sessionId: string };

  beforeAll(async () => {
    world = await incident(env.url);
    as = ec2With(env.url, world.functionKeys);
    const instance = await world.instance(2);
    eniId = must(instance.eniIds[1], 'second ENI');
    unmanaged = await rootSession(world.ec2, must(instance.eniIds[0], 'ENI'), world.targetId, []);
    // A session of mirrorops', made the way the product makes them.
    const result = await apply(
      intentOf(findingFor('network-connection', world, instance), world.config),
      world.deps(),
    );
    const started = result.outcomes.find((o) => o.status === 'started' && o.eniId === eniId);
    const sessionId = must(started?.status === 'started' ? started.sessionId : undefined, 'session');
    const session = (
      await world.ec2.send(new DescribeTrafficMirrorSessionsCommand({ TrafficMirrorSessionIds: [sessionId] }))
    ).TrafficMirrorSessions?.[0];
    ours = { sessionId, filterId: must(session?.TrafficMirrorFilterId, 'filter of the session') };
  });

  test('the product path works as this role: the session it made is managed', async () => {
    const session = (
      await world.ec2.send(
        new DescribeTrafficMirrorSessionsCommand({ TrafficMirrorSessionIds: [ours.sessionId] }),
      )
    ).TrafficMirrorSessions?.[0];
    expect(tagsOf(session)[TAG.managed]).toBe('true');
  });

  test('may not delete, modify or extend a session mirrorops did not create, nor add rules to its filter', async () => {
    await denied(
      as.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: unmanaged.sessionId })),
    );
    await denied(
      as.send(
        new ModifyTrafficMirrorSessionCommand({
          TrafficMirrorSessionId: unmanaged.sessionId,
          SessionNumber: 9,
        }),
      ),
    );
    await denied(
      as.send(
        new CreateTrafficMirrorFilterRuleCommand({
          TrafficMirrorFilterId: unmanaged.filterId,
          TrafficDirection: 'ingress',
          RuleNumber: 1,
          RuleAction: 'reject',
          SourceCidrBlock: '0.0.0.0/0',
          DestinationCidrBlock: '0.0.0.0/0',
        }),
      ),
    );
    await denied(
      as.send(
        new ModifyTrafficMirrorFilterNetworkServicesCommand({
          TrafficMirrorFilterId: unmanaged.filterId,
          AddNetworkServices: ['amazon-dns'],
        }),
      ),
    );
    await denied(
      as.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: unmanaged.filterId })),
    );
    // Nothing changed.
    const after = (
      await world.ec2.send(
        new DescribeTrafficMirrorSessionsCommand({ TrafficMirrorSessionIds: [unmanaged.sessionId] }),
      )
    ).TrafficMirrorSessions;
    expect(after?.[0]?.SessionNumber).toBe(7);
  });

  test('may not claim a session it did not create by tagging it mirrorops:managed=true', async () => {
    await denied(as.send(new CreateTagsCommand({ Resources: [unmanaged.sessionId], Tags: managed() })));
    // Nor write its own keys on it.
    await denied(
      as.send(
        new CreateTagsCommand({
          Resources: [unmanaged.sessionId],
          Tags: [{ Key: TAG.expiresAt, Value: '2099-01-01T00:00:00.000Z' }],
        }),
      ),
    );
  });

  test('may not remove or change mirrorops:managed on its own sessions, nor strip all their tags', async () => {
    await denied(
      as.send(new DeleteTagsCommand({ Resources: [ours.sessionId], Tags: [{ Key: TAG.managed }] })),
    );
    await denied(
      as.send(
        new CreateTagsCommand({ Resources: [ours.sessionId], Tags: [{ Key: TAG.managed, Value: 'false' }] }),
      ),
    );
    await denied(as.send(new DeleteTagsCommand({ Resources: [ours.sessionId] })));
    // A key outside mirrorops' own is refused too; its own keys are what it may write.
    await denied(
      as.send(new CreateTagsCommand({ Resources: [ours.sessionId], Tags: [{ Key: 'Name', Value: 'x' }] })),
    );
    await as.send(
      new CreateTagsCommand({
        Resources: [ours.sessionId],
        Tags: [{ Key: `${TAG.intent}`, Value: 'permissions' }],
      }),
    );
    const session = (
      await world.ec2.send(
        new DescribeTrafficMirrorSessionsCommand({ TrafficMirrorSessionIds: [ours.sessionId] }),
      )
    ).TrafficMirrorSessions?.[0];
    expect(tagsOf(session)).toMatchObject({ [TAG.managed]: 'true', [TAG.intent]: 'permissions' });
  });

  test('may not tag instances or interfaces (people opt hosts in; mirrorops only reads that tag)', async () => {
    const host = await launch(world.ec2, world.network.subnetId);
    for (const resource of [host.instanceId, host.eniId]) {
      await denied(
        as.send(new CreateTagsCommand({ Resources: [resource], Tags: [{ Key: TAG.mirror, Value: 'true' }] })),
      );
      await denied(as.send(new DeleteTagsCommand({ Resources: [resource], Tags: [{ Key: TAG.mirror }] })));
    }
  });

  test('may create a session only when it is tagged managed, through a managed filter, to the configured target', async () => {
    const host = await launch(world.ec2, world.network.subnetId);
    const session = (changes: Partial<ConstructorParameters<typeof CreateTrafficMirrorSessionCommand>[0]>) =>
      as.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: host.eniId,
          TrafficMirrorTargetId: world.targetId,
          TrafficMirrorFilterId: ours.filterId,
          SessionNumber: 5,
          TagSpecifications: [{ ResourceType: 'traffic-mirror-session', Tags: managed() }],
          ...changes,
        }),
      );
    // Untagged, or tagged anything but managed=true.
    await denied(session({ TagSpecifications: undefined }));
    await denied(
      session({
        TagSpecifications: [
          { ResourceType: 'traffic-mirror-session', Tags: [{ Key: TAG.managed, Value: 'yes' }] },
        ],
      }),
    );
    // Through a filter mirrorops did not make.
    await denied(session({ TrafficMirrorFilterId: unmanaged.filterId }));
    // To another target of the same account than the configured one.
    const other = await applianceTargetIn(world.ec2, world.network.subnetId);
    await denied(session({ TrafficMirrorTargetId: other }));
    // And the same request, as the stack allows it, goes through.
    const made = await session({});
    expect(made.TrafficMirrorSession?.TrafficMirrorTargetId).toBe(world.targetId);
  });

  test('may not move its own session to another target', async () => {
    const other = await applianceTargetIn(world.ec2, world.network.subnetId);
    await denied(
      as.send(
        new ModifyTrafficMirrorSessionCommand({
          TrafficMirrorSessionId: ours.sessionId,
          TrafficMirrorTargetId: other,
        }),
      ),
    );
  });

  test("a denial is EC2's UnauthorizedOperation (403) naming the role, the action and the resource", async () => {
    const error = await as
      .send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: unmanaged.sessionId }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'UnauthorizedOperation', $metadata: { httpStatusCode: 403 } });
    const message = (error as Error).message;
    expect(message).toContain('mirrorops-dev-us-east-1-events');
    expect(message).toContain('ec2:DeleteTrafficMirrorSession');
    expect(message).toContain(`traffic-mirror-session/${unmanaged.sessionId}`);
    expect(message).toMatch(/Encoded authorization failure message: \S+/);
  });
});

describe('the sweeper role', () => {
  test('deletes only what is managed, and creates nothing', async () => {
    const world = await incident(env.url);
    const as = ec2With(env.url, await world.hub.credentials('ttl-sweeper'));
    const instance = await world.instance(2);
    const unmanaged = await rootSession(world.ec2, must(instance.eniIds[0], 'ENI'), world.targetId, []);
    const ours = await rootSession(world.ec2, must(instance.eniIds[1], 'ENI'), world.targetId, managed());
    await denied(
      as.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: unmanaged.sessionId })),
    );
    await denied(
      as.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: unmanaged.filterId })),
    );
    await denied(
      as.send(
        new CreateTrafficMirrorFilterCommand({
          TagSpecifications: [{ ResourceType: 'traffic-mirror-filter', Tags: managed() }],
        }),
      ),
    );
    await denied(
      as.send(
        new CreateTagsCommand({
          Resources: [ours.sessionId],
          Tags: [{ Key: TAG.expiresAt, Value: 'never' }],
        }),
      ),
    );
    await as.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: ours.sessionId }));
    await as.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: ours.filterId }));
  });
});

describe('across accounts: the spoke role and the share-target role', () => {
  let hub: HubDeployment;
  let hubTarget: string;
  let strangerTarget: string;
  let member: { ec2: EC2Client; subnetId: string };

  beforeAll(async () => {
    const hubEc2 = ec2For(env.url, HUB);
    const network = await createNetwork(hubEc2);
    hubTarget = await applianceTargetIn(hubEc2, network.subnetId);
    hub = await deployHub(env.url, {
      account: HUB,
      targetId: hubTarget,
      auditBus: 'mirrorops-audit-permissions',
    });
    await deploySpoke(env.url, {
      account: MEMBER,
      hub: HUB,
      externalId: EXTERNAL_ID,
      hubOutputs: hub.outputs,
    });
    // A stranger's appliance, shared with the member: EC2 would let the member mirror to it.
    const strangerEc2 = ec2For(env.url, STRANGER);
    const strangerNet = await createNetwork(strangerEc2);
    strangerTarget = await applianceTargetIn(strangerEc2, strangerNet.subnetId);
    for (const [owner, target] of [
      [HUB, hubTarget],
      [STRANGER, strangerTarget],
    ] as const) {
      await ramFor(env.url, owner).send(
        new CreateResourceShareCommand({
          name: `share-${target}`,
          resourceArns: [targetArnOf(owner, target)],
          principals: [MEMBER],
          allowExternalPrincipals: false,
        }),
      );
    }
    const memberEc2 = ec2For(env.url, MEMBER);
    member = { ec2: memberEc2, subnetId: (await createNetwork(memberEc2)).subnetId };
    // RAM completes the associations some reads later: wait until the member sees both targets.
    let visible = 0;
    for (let reads = 0; reads < 10 && visible < 2; reads++) {
      const out = await memberEc2.send(new DescribeTrafficMirrorTargetsCommand({}));
      visible = (out.TrafficMirrorTargets ?? []).filter((t) =>
        [hubTarget, strangerTarget].includes(t.TrafficMirrorTargetId ?? ''),
      ).length;
    }
    expect(visible).toBe(2);
  });

  const spokeArn = `arn:aws:iam::${MEMBER}:role/mirrorops-spoke`;
  const assumeSpoke = async (keys: Keys, externalId?: string) =>
    keysFrom(
      (
        await stsFor(env.url, keys).send(
          new AssumeRoleCommand({
            RoleArn: spokeArn,
            RoleSessionName: 'mirrorops',
            ...(externalId === undefined ? {} : { ExternalId: externalId }),
          }),
        )
      ).Credentials,
    );

  test('the hub functions assume the spoke role with the ExternalId, never without it', async () => {
    for (const who of ['guardduty-finding', 'ttl-sweeper'] as const) {
      const keys = await hub.credentials(who);
      await expect(assumeSpoke(keys, EXTERNAL_ID)).resolves.toMatchObject({ accessKeyId: MEMBER });
      await rejectsWith(assumeSpoke(keys), 'AccessDenied');
      await rejectsWith(assumeSpoke(keys, 'guess'), 'AccessDenied');
    }
  });

  test('the share-target role assumes it by its ARN alone; the hub account itself or a look-alike role may not', async () => {
    await expect(assumeSpoke(await hub.credentials('share-target'))).resolves.toMatchObject({
      accessKeyId: MEMBER,
    });
    // The hub account's root, with the functions' ExternalId.
    await rejectsWith(
      stsFor(env.url, HUB).send(
        new AssumeRoleCommand({ RoleArn: spokeArn, RoleSessionName: 'someone', ExternalId: EXTERNAL_ID }),
      ),
      'AccessDenied',
    );
    // Another stage's hub, or anyone in the hub account who may create a role of that pattern of name.
    const iam = iamFor(env.url, HUB);
    const lookalike = 'mirrorops-prod-us-east-1-events';
    const made = await iam.send(
      new CreateRoleCommand({
        RoleName: lookalike,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        }),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: lookalike,
        PolicyName: 'assume',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }],
        }),
      }),
    );
    const keys = await serviceCredentials(env.url, must(made.Role?.Arn, 'role'), 'lambda.amazonaws.com');
    await rejectsWith(assumeSpoke(keys, EXTERNAL_ID), 'AccessDenied');
  });

  test("in the member account, sessions go only to the hub's targets, never to a stranger's shared one", async () => {
    const spoke = ec2With(
      env.url,
      await assumeSpoke(await hub.credentials('guardduty-finding'), EXTERNAL_ID),
    );
    const host = await launch(member.ec2, member.subnetId);
    const filter = await spoke.send(
      new CreateTrafficMirrorFilterCommand({
        TagSpecifications: [{ ResourceType: 'traffic-mirror-filter', Tags: managed() }],
      }),
    );
    const input = {
      NetworkInterfaceId: host.eniId,
      TrafficMirrorFilterId: filter.TrafficMirrorFilter?.TrafficMirrorFilterId,
      SessionNumber: 5,
      TagSpecifications: [{ ResourceType: 'traffic-mirror-session' as const, Tags: managed() }],
    };
    await denied(
      spoke.send(new CreateTrafficMirrorSessionCommand({ ...input, TrafficMirrorTargetId: strangerTarget })),
    );
    const made = await spoke.send(
      new CreateTrafficMirrorSessionCommand({ ...input, TrafficMirrorTargetId: hubTarget }),
    );
    expect(made.TrafficMirrorSession?.OwnerId).toBe(MEMBER);
  });

  test("the share-target role shares only this account's targets, inside the organization, in managed shares", async () => {
    const ram = ramFor(env.url, await hub.credentials('share-target'));
    const share = (changes: Partial<ConstructorParameters<typeof CreateResourceShareCommand>[0]>) =>
      ram.send(
        new CreateResourceShareCommand({
          name: `mirrorops-${hubTarget}`,
          resourceArns: [targetArnOf(HUB, hubTarget)],
          principals: [MEMBER],
          allowExternalPrincipals: false,
          tags: [{ key: TAG.managed, value: 'true' }],
          ...changes,
        }),
      );
    await rejectsWith(share({ allowExternalPrincipals: true }), RAM_DENIED);
    await rejectsWith(share({ tags: [] }), RAM_DENIED);
    await rejectsWith(share({ resourceArns: [targetArnOf(STRANGER, strangerTarget)] }), RAM_DENIED);
    await rejectsWith(share({ resourceArns: [] }), RAM_DENIED);
    const made = await share({});
    // A share mirrorops did not make cannot be given principals.
    const theirs = await ramFor(env.url, HUB).send(
      new CreateResourceShareCommand({ name: 'someone-elses', allowExternalPrincipals: false }),
    );
    await rejectsWith(
      ram.send(
        new AssociateResourceShareCommand({
          resourceShareArn: theirs.resourceShare?.resourceShareArn,
          principals: [ouArnOf(HUB, 'ou-abcd-11111111')],
        }),
      ),
      RAM_DENIED,
    );
    expect(made.resourceShare?.resourceShareArn).toBeDefined();
  });
});
