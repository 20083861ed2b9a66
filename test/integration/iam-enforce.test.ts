import {
  CreateNetworkInterfaceCommand,
  CreateTagsCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  type CreateTrafficMirrorSessionCommandInput,
  CreateTrafficMirrorTargetCommand,
  DeleteNetworkInterfaceCommand,
  DeleteTagsCommand,
  DeleteTrafficMirrorFilterCommand,
  DeleteTrafficMirrorSessionCommand,
  DescribeInstancesCommand,
  DescribeTrafficMirrorFiltersCommand,
  DescribeTrafficMirrorSessionsCommand,
  type EC2Client,
  ModifyTrafficMirrorSessionCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreatePolicyCommand,
  CreateRoleCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { CreateResourceShareCommand } from '@aws-sdk/client-ram';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  AssumeRoleCommand,
  type AssumeRoleCommandInput,
  DecodeAuthorizationMessageCommand,
  GetCallerIdentityCommand,
} from '@aws-sdk/client-sts';
import { describe, expect, test } from 'vitest';
import {
  ec2With,
  iamFor,
  type Keys,
  keysFrom,
  ramFor,
  shareTarget,
  stsFor,
  targetArnOf,
  trustPolicy,
} from '../support/accounts.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { send } from '../support/http.ts';
import { createFilter, createSession, eniTarget, launchMany, rejectsWith } from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

const MANAGEMENT = '610000000000';
const MEMBERS = Array.from({ length: 60 }, (_, i) => String(610_000_000_001 + i));
const env = useEmulator({ organization: { managementAccount: MANAGEMENT, members: MEMBERS } });

let nextMember = 0;
/** An account of the organisation that no other test uses. */
const fresh = () => must(MEMBERS[nextMember++], 'a free organisation member');
let nextOutsider = 620_000_000_000;
/** An account outside the organisation. */
const outsider = () => String(++nextOutsider);

type Statement = Record<string, unknown>;
const doc = (statements: Statement[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

const REGION = 'us-east-1';
const arn = (account: string, type: string, id = '*') => `arn:aws:ec2:${REGION}:${account}:${type}/${id}`;

interface Session {
  keys: Keys;
  /** The role's ARN. */
  roleArn: string;
  /** The session's ARN (`assumed-role/NAME/test`), which refusals name. */
  sessionArn: string;
  ec2: EC2Client;
}

/**
 * A role in `account` with one inline identity policy of these statements (and a permissions
 * boundary of those, if given), assumed by the account's root.
 */
async function roleWith(
  account: string,
  statements: Statement[],
  options: { name?: string; boundary?: Statement[] } = {},
): Promise<Session> {
  const name = options.name ?? 'mirrorops-test';
  const iam = iamFor(env.url, account);
  const created = await iam.send(
    new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trustPolicy(account) }),
  );
  const roleArn = must(created.Role?.Arn, 'Role.Arn');
  if (statements.length > 0) {
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: name,
        PolicyName: 'permissions',
        PolicyDocument: doc(statements),
      }),
    );
  }
  if (options.boundary) {
    const policy = await iam.send(
      new CreatePolicyCommand({ PolicyName: `${name}-boundary`, PolicyDocument: doc(options.boundary) }),
    );
    await iam.send(
      new PutRolePermissionsBoundaryCommand({
        RoleName: name,
        PermissionsBoundary: must(policy.Policy?.Arn, 'Policy.Arn'),
      }),
    );
  }
  const out = await stsFor(env.url, account).send(
    new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'test' }),
  );
  const keys = keysFrom(out.Credentials);
  return {
    keys,
    roleArn,
    sessionArn: must(out.AssumedRoleUser?.Arn, 'AssumedRoleUser.Arn'),
    ec2: ec2With(env.url, keys),
  };
}

/** The error a call fails with (it must fail). */
async function failure(call: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected the call to fail');
  return error;
}

/** An account's mirroring resources, made with its root key: a source ENI, an ENI target, a filter. */
async function mirrorOf(account: string) {
  const ec2 = ec2For(env.url, account);
  const network = await createNetwork(ec2);
  const [source, appliance] = await launchMany(ec2, network.subnetId, 2);
  const targetId = await eniTarget(ec2, must(appliance, 'appliance').eniId);
  const filterId = await createFilter(ec2);
  return { ec2, eniId: must(source, 'source').eniId, targetId, filterId };
}

const MANAGED = [
  { ResourceType: 'traffic-mirror-session' as const, Tags: [{ Key: 'mirrorops:managed', Value: 'true' }] },
];
const sessionInput = (
  m: { eniId: string; targetId: string; filterId: string },
  changes: Partial<CreateTrafficMirrorSessionCommandInput> = {},
): CreateTrafficMirrorSessionCommandInput => ({
  NetworkInterfaceId: m.eniId,
  TrafficMirrorTargetId: m.targetId,
  TrafficMirrorFilterId: m.filterId,
  SessionNumber: 1,
  TagSpecifications: MANAGED,
  ...changes,
});

/** What mirrorops' roles need to start a managed session: each of the four contexts on its own terms. */
const preciseSessionPolicy = (account: string, targetOwner = account): Statement[] => [
  {
    Effect: 'Allow',
    Action: 'ec2:CreateTrafficMirrorSession',
    Resource: [
      arn(account, 'network-interface'),
      arn(account, 'traffic-mirror-filter'),
      arn(targetOwner, 'traffic-mirror-target'),
    ],
  },
  {
    Effect: 'Allow',
    Action: 'ec2:CreateTrafficMirrorSession',
    Resource: arn(account, 'traffic-mirror-session'),
    Condition: { StringEquals: { 'aws:RequestTag/mirrorops:managed': 'true' } },
  },
  {
    Effect: 'Allow',
    Action: 'ec2:CreateTags',
    Resource: arn(account, 'traffic-mirror-session'),
    Condition: { StringEquals: { 'ec2:CreateAction': 'CreateTrafficMirrorSession' } },
  },
];

describe('EC2: CreateTrafficMirrorSession authorizes four resources, each in its own context', () => {
  test("a statement conditioning all four on aws:RequestTag fails where the tag is not in the context (issue 9's policy)", async () => {
    const account = fresh();
    const m = await mirrorOf(account);
    const role = await roleWith(account, [
      {
        Effect: 'Allow',
        Action: 'ec2:CreateTrafficMirrorSession',
        Resource: [
          arn(account, 'network-interface'),
          arn(account, 'traffic-mirror-filter'),
          arn(account, 'traffic-mirror-target'),
          arn(account, 'traffic-mirror-session'),
        ],
        Condition: { StringEquals: { 'aws:RequestTag/mirrorops:managed': 'true' } },
      },
      preciseSessionPolicy(account)[2] as Statement,
    ]);

    const error = await failure(role.ec2.send(new CreateTrafficMirrorSessionCommand(sessionInput(m))));

    expect(error).toMatchObject({ name: 'UnauthorizedOperation', $metadata: { httpStatusCode: 403 } });
    expect(error.message).toMatch(
      new RegExp(
        `^You are not authorized to perform this operation\\. User: ${role.sessionArn} is not authorized to perform: ec2:CreateTrafficMirrorSession on resource: ${arn(account, 'network-interface', m.eniId)} because no identity-based policy allows the ec2:CreateTrafficMirrorSession action\\. Encoded authorization failure message: [A-Za-z0-9_-]+$`,
      ),
    );
  });

  test('the filter context alone fails when only its statement carries the aws:RequestTag condition', async () => {
    const account = fresh();
    const m = await mirrorOf(account);
    const [enisAndTargets, session, tagging] = preciseSessionPolicy(account);
    const role = await roleWith(account, [
      {
        ...enisAndTargets,
        Resource: [arn(account, 'network-interface'), arn(account, 'traffic-mirror-target')],
      },
      {
        Effect: 'Allow',
        Action: 'ec2:CreateTrafficMirrorSession',
        Resource: arn(account, 'traffic-mirror-filter'),
        Condition: { StringEquals: { 'aws:RequestTag/mirrorops:managed': 'true' } },
      },
      session as Statement,
      tagging as Statement,
    ]);

    const error = await failure(role.ec2.send(new CreateTrafficMirrorSessionCommand(sessionInput(m))));

    expect(error.message).toContain(
      `on resource: ${arn(account, 'traffic-mirror-filter', m.filterId)} because`,
    );
  });

  test('a policy that gives each context its own statement starts the managed session', async () => {
    const account = fresh();
    const m = await mirrorOf(account);
    const role = await roleWith(account, preciseSessionPolicy(account));

    const session = await createSession(role.ec2, sessionInput(m));

    expect(session.Tags).toEqual([{ Key: 'mirrorops:managed', Value: 'true' }]);
    expect([...(env.emulator.world.authorizedCalls.get(role.roleArn) ?? [])]).toEqual([
      'ec2:CreateTrafficMirrorSession',
      'ec2:CreateTags',
    ]);
  });

  test('a session without the managed tag is refused on the session context', async () => {
    const account = fresh();
    const m = await mirrorOf(account);
    const role = await roleWith(account, preciseSessionPolicy(account));

    const error = await failure(
      role.ec2.send(new CreateTrafficMirrorSessionCommand(sessionInput(m, { TagSpecifications: [] }))),
    );

    expect(error.message).toContain(`on resource: ${arn(account, 'traffic-mirror-session')} because`);
  });

  test('tags at creation also need ec2:CreateTags on the new session, which ec2:CreateAction limits to creation', async () => {
    const account = fresh();
    const m = await mirrorOf(account);
    const withoutTagging = await roleWith(account, preciseSessionPolicy(account).slice(0, 2), {
      name: 'no-tagging',
    });
    const withTagging = await roleWith(account, preciseSessionPolicy(account), { name: 'tagging' });
    const existing = await createSession(m.ec2, sessionInput(m, { SessionNumber: 2, TagSpecifications: [] }));

    const refused = await failure(
      withoutTagging.ec2.send(new CreateTrafficMirrorSessionCommand(sessionInput(m))),
    );
    const tagLater = await failure(
      withTagging.ec2.send(
        new CreateTagsCommand({
          Resources: [must(existing.TrafficMirrorSessionId, 'id')],
          Tags: [{ Key: 'mirrorops:managed', Value: 'true' }],
        }),
      ),
    );

    expect(refused.message).toContain(
      `not authorized to perform: ec2:CreateTags on resource: ${arn(account, 'traffic-mirror-session')} because`,
    );
    expect(tagLater).toMatchObject({ name: 'UnauthorizedOperation' });
    expect(tagLater.message).toContain(
      `ec2:CreateTags on resource: ${arn(account, 'traffic-mirror-session', existing.TrafficMirrorSessionId)}`,
    );
  });
});

describe('EC2: tags and ownership', () => {
  /** A role that may tag managed sessions, except the ownership tag itself. */
  const tagPolicy = (account: string): Statement[] => [
    {
      Effect: 'Allow',
      Action: ['ec2:CreateTags', 'ec2:DeleteTags'],
      Resource: arn(account, 'traffic-mirror-session'),
      Condition: { StringEquals: { 'aws:ResourceTag/mirrorops:managed': 'true' } },
    },
    {
      Effect: 'Deny',
      Action: ['ec2:CreateTags', 'ec2:DeleteTags'],
      Resource: '*',
      Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['mirrorops:managed'] } },
    },
  ];

  test('a Deny on aws:TagKeys keeps the ownership tag from being removed or overwritten; other tags may change', async () => {
    const account = fresh();
    const m = await mirrorOf(account);
    const sessionId = must((await createSession(m.ec2, sessionInput(m))).TrafficMirrorSessionId, 'id');
    const role = await roleWith(account, tagPolicy(account));

    const removed = await failure(
      role.ec2.send(new DeleteTagsCommand({ Resources: [sessionId], Tags: [{ Key: 'mirrorops:managed' }] })),
    );
    const overwritten = await failure(
      role.ec2.send(
        new CreateTagsCommand({
          Resources: [sessionId],
          Tags: [{ Key: 'mirrorops:managed', Value: 'false' }],
        }),
      ),
    );
    await role.ec2.send(
      new CreateTagsCommand({ Resources: [sessionId], Tags: [{ Key: 'mirrorops:finding', Value: 'abc' }] }),
    );

    for (const error of [removed, overwritten]) {
      expect(error).toMatchObject({ name: 'UnauthorizedOperation' });
      expect(error.message).toContain('with an explicit deny in an identity-based policy');
    }
    const { TrafficMirrorSessions = [] } = await m.ec2.send(
      new DescribeTrafficMirrorSessionsCommand({
        TrafficMirrorSessionIds: [sessionId],
      }),
    );
    expect(TrafficMirrorSessions[0]?.Tags).toEqual([
      { Key: 'mirrorops:managed', Value: 'true' },
      { Key: 'mirrorops:finding', Value: 'abc' },
    ]);
  });

  test('the ownership tag cannot be added to a session mirrorops did not create (aws:ResourceTag of the existing session)', async () => {
    const account = fresh();
    const m = await mirrorOf(account);
    const foreign = must(
      (await createSession(m.ec2, sessionInput(m, { TagSpecifications: [] }))).TrafficMirrorSessionId,
      'id',
    );
    const role = await roleWith(account, tagPolicy(account).slice(0, 1));

    const error = await failure(
      role.ec2.send(
        new CreateTagsCommand({ Resources: [foreign], Tags: [{ Key: 'mirrorops:managed', Value: 'true' }] }),
      ),
    );

    expect(error.message).toContain(
      `ec2:CreateTags on resource: ${arn(account, 'traffic-mirror-session', foreign)} because no identity-based policy`,
    );
  });

  test('DeleteTrafficMirrorSession and ModifyTrafficMirrorSession follow aws:ResourceTag; a new target is authorized too', async () => {
    const account = fresh();
    const m = await mirrorOf(account);
    const managed = must((await createSession(m.ec2, sessionInput(m))).TrafficMirrorSessionId, 'managed');
    const other = must(
      (await createSession(m.ec2, sessionInput(m, { SessionNumber: 2, TagSpecifications: [] })))
        .TrafficMirrorSessionId,
      'other',
    );
    const role = await roleWith(account, [
      {
        Effect: 'Allow',
        Action: ['ec2:DeleteTrafficMirrorSession', 'ec2:ModifyTrafficMirrorSession'],
        Resource: arn(account, 'traffic-mirror-session'),
        Condition: { StringEquals: { 'ec2:ResourceTag/mirrorops:managed': 'true' } },
      },
    ]);

    const modifyOther = await failure(
      role.ec2.send(
        new ModifyTrafficMirrorSessionCommand({ TrafficMirrorSessionId: other, Description: 'x' }),
      ),
    );
    const deleteOther = await failure(
      role.ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: other })),
    );
    await role.ec2.send(
      new ModifyTrafficMirrorSessionCommand({ TrafficMirrorSessionId: managed, Description: 'x' }),
    );
    const retarget = await failure(
      role.ec2.send(
        new ModifyTrafficMirrorSessionCommand({
          TrafficMirrorSessionId: managed,
          TrafficMirrorTargetId: m.targetId,
        }),
      ),
    );
    await role.ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: managed }));

    expect(modifyOther.message).toContain(arn(account, 'traffic-mirror-session', other));
    expect(deleteOther.message).toContain(arn(account, 'traffic-mirror-session', other));
    expect(retarget.message).toContain(
      `on resource: ${arn(account, 'traffic-mirror-target', m.targetId)} because`,
    );
  });

  test('a parameter too malformed to name resources is refused before any evaluation, never let through', async () => {
    const account = fresh();
    const network = await createNetwork(ec2For(env.url, account));
    const [instance] = await launchMany(ec2For(env.url, account), network.subnetId, 1);
    const role = await roleWith(account, []);
    const body = new URLSearchParams({
      Action: 'TerminateInstances',
      Version: '2016-11-15',
      'InstanceId.1': must(instance, 'instance').instanceId,
      'TagSpecification.0.ResourceType': 'instance',
    }).toString();

    const answer = await send(env.url, body, {
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=${account}/20260101/${REGION}/ec2/aws4_request, SignedHeaders=host, Signature=00`,
        'x-amz-security-token': must(role.keys.sessionToken, 'sessionToken'),
      },
    });
    const described = await ec2For(env.url, account).send(
      new DescribeInstancesCommand({ InstanceIds: [must(instance, 'instance').instanceId] }),
    );

    expect(answer.status).toBe(400);
    expect(answer.body).toContain('<Code>InvalidParameter</Code>');
    expect(described.Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe('running');
  });

  test('a session that does not exist is answered by the action (NotFound), not by IAM', async () => {
    const account = fresh();
    const role = await roleWith(account, []);

    await rejectsWith(
      role.ec2.send(
        new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: 'tms-0123456789abcdef0' }),
      ),
      'InvalidTrafficMirrorSessionId.NotFound',
    );
  });
});

describe('EC2: targets, boundaries, explicit denies', () => {
  test("a target shared from another account carries that account in its ARN: a policy pins targets to the appliance's account", async () => {
    const [appliance, workload] = [fresh(), fresh()];
    const m = await mirrorOf(workload);
    const applianceEc2 = ec2For(env.url, appliance);
    const network = await createNetwork(applianceEc2);
    const [box] = await launchMany(applianceEc2, network.subnetId, 1);
    const sharedTarget = await eniTarget(applianceEc2, must(box, 'appliance').eniId);
    await shareTarget(env.url, appliance, sharedTarget, workload);
    const pinnedToOwn = await roleWith(workload, preciseSessionPolicy(workload), { name: 'own-targets' });
    const pinnedToAppliance = await roleWith(workload, preciseSessionPolicy(workload, appliance), {
      name: 'appliance',
    });

    const error = await failure(
      pinnedToOwn.ec2.send(
        new CreateTrafficMirrorSessionCommand(sessionInput(m, { TrafficMirrorTargetId: sharedTarget })),
      ),
    );
    const ownTarget = await failure(
      pinnedToAppliance.ec2.send(
        new CreateTrafficMirrorSessionCommand(sessionInput(m, { SessionNumber: 3 })),
      ),
    );
    const session = await createSession(
      pinnedToAppliance.ec2,
      sessionInput(m, { TrafficMirrorTargetId: sharedTarget }),
    );

    expect(error.message).toContain(`on resource: ${targetArnOf(appliance, sharedTarget)} because`);
    expect(ownTarget.message).toContain(`on resource: ${targetArnOf(workload, m.targetId)} because`);
    expect(session.TrafficMirrorTargetId).toBe(sharedTarget);
  });

  test('a permissions boundary cuts an action the identity policy allows', async () => {
    const account = fresh();
    const role = await roleWith(account, [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*' }], {
      boundary: [{ Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' }],
    });

    const error = await failure(role.ec2.send(new CreateTrafficMirrorFilterCommand({})));
    const described = await role.ec2.send(new DescribeTrafficMirrorFiltersCommand({}));

    expect(error.message).toContain(
      `ec2:CreateTrafficMirrorFilter on resource: ${arn(account, 'traffic-mirror-filter')} because no permissions boundary allows the ec2:CreateTrafficMirrorFilter action`,
    );
    expect(described.TrafficMirrorFilters).toEqual([]);
  });

  test('an explicit Deny wins over an Allow; the account root is not evaluated at all', async () => {
    const account = fresh();
    const filterId = await createFilter(ec2For(env.url, account));
    const role = await roleWith(account, [
      { Effect: 'Allow', Action: 'ec2:*', Resource: '*' },
      { Effect: 'Deny', Action: 'ec2:DeleteTrafficMirrorFilter', Resource: '*' },
    ]);

    const error = await failure(
      role.ec2.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: filterId })),
    );
    const byRoot = await ec2For(env.url, account).send(
      new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: filterId }),
    );

    expect(error.message).toContain(
      `ec2:DeleteTrafficMirrorFilter on resource: ${arn(account, 'traffic-mirror-filter', filterId)} with an explicit deny in an identity-based policy`,
    );
    const encoded = must(/Encoded authorization failure message: (\S+)$/.exec(error.message)?.[1], 'encoded');
    const decoded = await stsFor(env.url, account).send(
      new DecodeAuthorizationMessageCommand({ EncodedMessage: encoded }),
    );
    expect(JSON.parse(must(decoded.DecodedMessage, 'DecodedMessage'))).toMatchObject({
      allowed: false,
      explicitDeny: true,
      matchedStatements: { items: [{ effect: 'DENY', policy: 'permissions', index: 2 }] },
    });
    expect(byRoot.TrafficMirrorFilterId).toBe(filterId);
  });

  test('a role without policies may do nothing, and its refusal decodes with sts:DecodeAuthorizationMessage', async () => {
    const account = fresh();
    const nothing = await roleWith(account, [], { name: 'nothing' });
    const decoder = await roleWith(
      account,
      [{ Effect: 'Allow', Action: 'sts:DecodeAuthorizationMessage', Resource: '*' }],
      {
        name: 'decoder',
      },
    );
    const error = await failure(nothing.ec2.send(new CreateTrafficMirrorFilterCommand({})));
    const encoded = must(
      /Encoded authorization failure message: (\S+)$/.exec(error.message)?.[1],
      'encoded message',
    );

    const refused = await failure(
      stsFor(env.url, nothing.keys).send(new DecodeAuthorizationMessageCommand({ EncodedMessage: encoded })),
    );
    const out = await stsFor(env.url, decoder.keys).send(
      new DecodeAuthorizationMessageCommand({ EncodedMessage: encoded }),
    );
    const garbage = await failure(
      stsFor(env.url, decoder.keys).send(
        new DecodeAuthorizationMessageCommand({ EncodedMessage: 'not-a-message' }),
      ),
    );

    expect(refused).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(refused.message).toContain('sts:DecodeAuthorizationMessage on resource: *');
    const decoded = JSON.parse(must(out.DecodedMessage, 'DecodedMessage'));
    expect(decoded).toMatchObject({
      allowed: false,
      explicitDeny: false,
      context: {
        principal: { arn: nothing.sessionArn },
        action: 'ec2:CreateTrafficMirrorFilter',
        resource: arn(account, 'traffic-mirror-filter'),
      },
    });
    expect(decoded.context.conditions.items).toContainEqual({
      key: 'ec2:Region',
      values: { items: [{ value: REGION }] },
    });
    expect(decoded.context.conditions.items).toContainEqual({
      key: 'aws:PrincipalArn',
      values: { items: [{ value: nothing.roleArn }] },
    });
    expect(garbage).toMatchObject({ name: 'InvalidAuthorizationMessageException' });
  });
});

describe('EC2: the actions mapped approximately', () => {
  test('a role allowed ec2:* builds and tears down a topology (every context is one the Reference can place)', async () => {
    const account = fresh();
    const role = await roleWith(account, [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*' }]);

    const network = await createNetwork(role.ec2);
    const [source, appliance] = await launchMany(role.ec2, network.subnetId, 2);
    const eni = await role.ec2.send(
      new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId, Groups: [network.securityGroupId] }),
    );
    const targetId = await eniTarget(role.ec2, must(appliance, 'appliance').eniId);
    const filterId = await createFilter(role.ec2);
    const session = await createSession(
      role.ec2,
      sessionInput({ eniId: must(source, 'source').eniId, targetId, filterId }),
    );
    await role.ec2.send(
      new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: session.TrafficMirrorSessionId }),
    );
    await role.ec2.send(
      new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eni.NetworkInterface?.NetworkInterfaceId }),
    );
    const terminated = await role.ec2.send(
      new TerminateInstancesCommand({ InstanceIds: [must(source, 'source').instanceId] }),
    );

    expect(terminated.TerminatingInstances?.[0]?.CurrentState?.Name).toBe('shutting-down');
  });

  test('CreateTrafficMirrorTarget authorizes the Gateway Load Balancer endpoint it names as well as the new target', async () => {
    const account = fresh();
    const endpoint = 'vpce-0123456789abcdef0';
    const onlyTargets = await roleWith(
      account,
      [
        {
          Effect: 'Allow',
          Action: 'ec2:CreateTrafficMirrorTarget',
          Resource: arn(account, 'traffic-mirror-target'),
        },
      ],
      { name: 'targets' },
    );
    const both = await roleWith(
      account,
      [
        {
          Effect: 'Allow',
          Action: 'ec2:CreateTrafficMirrorTarget',
          Resource: [arn(account, 'traffic-mirror-target'), arn(account, 'vpc-endpoint', endpoint)],
        },
      ],
      { name: 'both' },
    );

    const error = await failure(
      onlyTargets.ec2.send(new CreateTrafficMirrorTargetCommand({ GatewayLoadBalancerEndpointId: endpoint })),
    );
    const created = await both.ec2.send(
      new CreateTrafficMirrorTargetCommand({ GatewayLoadBalancerEndpointId: endpoint }),
    );

    expect(error.message).toContain(`on resource: ${arn(account, 'vpc-endpoint', endpoint)} because`);
    expect(created.TrafficMirrorTarget?.GatewayLoadBalancerEndpointId).toBe(endpoint);
  });

  test('an approximated action naming a resource that does not exist is still evaluated (by its id)', async () => {
    const account = fresh();
    const role = await roleWith(account, []);

    const error = await failure(
      role.ec2.send(
        new RunInstancesCommand({ MinCount: 1, MaxCount: 1, SubnetId: 'subnet-0123456789abcdef0' }),
      ),
    );

    expect(error).toMatchObject({ name: 'UnauthorizedOperation' });
  });

  test('RunInstances with tags needs ec2:CreateTags with ec2:CreateAction RunInstances', async () => {
    const account = fresh();
    const network = await createNetwork(ec2For(env.url, account));
    const role = await roleWith(account, [{ Effect: 'Allow', Action: 'ec2:RunInstances', Resource: '*' }]);

    const error = await failure(
      role.ec2.send(
        new RunInstancesCommand({
          MinCount: 1,
          MaxCount: 1,
          SubnetId: network.subnetId,
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'team', Value: 'a' }] }],
        }),
      ),
    );
    const untagged = await role.ec2.send(
      new RunInstancesCommand({ MinCount: 1, MaxCount: 1, SubnetId: network.subnetId }),
    );

    expect(error.message).toContain(`ec2:CreateTags on resource: ${arn(account, 'instance')} because`);
    expect(untagged.Instances).toHaveLength(1);
  });
});

describe('the other services refuse in their own protocol', () => {
  const client = <T>(Client: new (c: object) => T, keys: Keys) =>
    new Client({ endpoint: env.url, region: REGION, maxAttempts: 1, credentials: keys });

  test('EventBridge PutEvents: events:source is in the context; a refusal is 400 AccessDeniedException', async () => {
    const account = fresh();
    const role = await roleWith(account, [
      {
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Resource: `arn:aws:events:${REGION}:${account}:event-bus/mirrorops-audit`,
        // events:source is multivalued in the Reference (ArrayOfString): a set operator is needed.
        Condition: { 'ForAnyValue:StringEquals': { 'events:source': 'mirrorops' } },
      },
    ]);
    const events = client(EventBridgeClient, role.keys);
    const entry = { EventBusName: 'mirrorops-audit', DetailType: 'Session', Detail: '{}' };

    const ok = await events.send(new PutEventsCommand({ Entries: [{ ...entry, Source: 'mirrorops' }] }));
    const error = await failure(
      events.send(
        new PutEventsCommand({
          Entries: [
            { ...entry, Source: 'mirrorops' },
            { ...entry, Source: 'other' },
          ],
        }),
      ),
    );

    expect(ok.FailedEntryCount).toBe(0);
    expect(error).toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    expect(error.message).toContain(
      `events:PutEvents on resource: arn:aws:events:${REGION}:${account}:event-bus/mirrorops-audit`,
    );
  });

  test('SQS SendMessage is authorized on the queue ARN; a refusal is AccessDenied (403) as the SDK reads SQS JSON', async () => {
    const account = fresh();
    const { QueueUrl } = await client(SQSClient, { accessKeyId: account, secretAccessKey: 't' }).send(
      new CreateQueueCommand({ QueueName: 'mirrorops-dlq' }),
    );
    const allowed = await roleWith(
      account,
      [
        {
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Resource: `arn:aws:sqs:${REGION}:${account}:mirrorops-dlq`,
        },
      ],
      { name: 'sender' },
    );
    const other = await roleWith(
      account,
      [
        {
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Resource: `arn:aws:sqs:${REGION}:${account}:another-queue`,
        },
      ],
      { name: 'other' },
    );

    const sent = await client(SQSClient, allowed.keys).send(
      new SendMessageCommand({ QueueUrl, MessageBody: 'x' }),
    );
    const error = await failure(
      client(SQSClient, other.keys).send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' })),
    );

    expect(sent.MessageId).toBeTruthy();
    expect(error).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(error.message).toContain(
      `sqs:SendMessage on resource: arn:aws:sqs:${REGION}:${account}:mirrorops-dlq`,
    );
  });

  test('RAM CreateResourceShare is wildcard-only, bounded by ram:RequestedAllowsExternalPrincipals; a refusal is 403 AccessDeniedException', async () => {
    const [owner, member] = [fresh(), fresh()];
    const targetId = await eniTarget(
      ec2For(env.url, owner),
      must(
        (
          await launchMany(ec2For(env.url, owner), (await createNetwork(ec2For(env.url, owner))).subnetId, 1)
        )[0],
        'i',
      ).eniId,
    );
    const role = await roleWith(owner, [
      {
        Effect: 'Allow',
        Action: 'ram:CreateResourceShare',
        Resource: '*',
        Condition: {
          Bool: { 'ram:RequestedAllowsExternalPrincipals': 'false' },
          StringLike: { 'ram:ResourceArn': `arn:aws:ec2:*:${owner}:traffic-mirror-target/*` },
        },
      },
    ]);
    const ram = ramFor(env.url, role.keys);
    const input = { name: 'share', resourceArns: [targetArnOf(owner, targetId)], principals: [member] };

    const error = await failure(
      ram.send(new CreateResourceShareCommand({ ...input, allowExternalPrincipals: true })),
    );
    const created = await ram.send(
      new CreateResourceShareCommand({ ...input, allowExternalPrincipals: false }),
    );

    expect(error).toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });
    expect(error.message).toBe(
      `User: ${role.sessionArn} is not authorized to perform: ram:CreateResourceShare on resource: * because no identity-based policy allows the ram:CreateResourceShare action`,
    );
    expect(created.resourceShare?.allowExternalPrincipals).toBe(false);
  });

  test('IAM: a role session creating a role needs iam:CreateRole (403 AccessDenied in IAM XML)', async () => {
    const account = fresh();
    const role = await roleWith(account, [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*' }]);

    const error = await failure(
      iamFor(env.url, role.keys).send(
        new CreateRoleCommand({ RoleName: 'escalate', AssumeRolePolicyDocument: trustPolicy(account) }),
      ),
    );

    expect(error).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(error.message).toContain(`iam:CreateRole on resource: arn:aws:iam::${account}:role/escalate`);
  });
});

describe('trust policies through the same evaluator', () => {
  const assume = (who: string | Keys, input: Partial<AssumeRoleCommandInput> & { RoleArn: string }) =>
    stsFor(env.url, who).send(new AssumeRoleCommand({ RoleSessionName: 'caller', ...input }));

  /** A role in `account` trusting everyone under these conditions. */
  async function trusting(
    account: string,
    condition: Record<string, unknown>,
    principal: unknown = { AWS: '*' },
  ) {
    const out = await iamFor(env.url, account).send(
      new CreateRoleCommand({
        RoleName: 'trusting',
        AssumeRolePolicyDocument: doc([
          { Effect: 'Allow', Principal: principal, Action: 'sts:AssumeRole', Condition: condition },
        ]),
      }),
    );
    return must(out.Role?.Arn, 'Role.Arn');
  }

  /** A role session of `account` that may assume roles (its identity side of a cross-account call). */
  const caller = (account: string, name = 'mirrorops-hub') =>
    roleWith(account, [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }], { name });

  test('ArnEquals on aws:PrincipalArn: the named role is trusted, its account root is not', async () => {
    const [hub, spoke] = [fresh(), fresh()];
    const hubRole = await caller(hub);
    const roleArn = await trusting(spoke, { ArnEquals: { 'aws:PrincipalArn': hubRole.roleArn } });

    await assume(hubRole.keys, { RoleArn: roleArn });
    await rejectsWith(assume(hub, { RoleArn: roleArn }), 'AccessDenied');
  });

  test('ArnLike on aws:PrincipalArn matches role names by pattern', async () => {
    const [hub, spoke] = [fresh(), fresh()];
    const matching = await caller(hub, 'mirrorops-dev-lambdaRole');
    const other = await caller(hub, 'intruder');
    const roleArn = await trusting(spoke, {
      ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${hub}:role/mirrorops-*` },
    });

    await assume(matching.keys, { RoleArn: roleArn });
    await rejectsWith(assume(other.keys, { RoleArn: roleArn }), 'AccessDenied');
  });

  test('aws:PrincipalOrgID holds for accounts of the organisation only', async () => {
    const [member, spoke, stranger] = [fresh(), fresh(), outsider()];
    const roleArn = await trusting(spoke, { StringEquals: { 'aws:PrincipalOrgID': 'o-exampleorgid' } });

    await assume(member, { RoleArn: roleArn });
    await rejectsWith(assume(stranger, { RoleArn: roleArn }), 'AccessDenied');
  });

  test('Null on sts:ExternalId requires one; ForAnyValue:StringLike on the session name; Bool on aws:SecureTransport holds', async () => {
    const [hub, spoke] = [fresh(), fresh()];
    const roleArn = await trusting(spoke, {
      Null: { 'sts:ExternalId': 'false' },
      'ForAnyValue:StringLike': { 'sts:RoleSessionName': ['finding-*', 'sweeper'] },
      Bool: { 'aws:SecureTransport': 'true' },
    });

    await assume(hub, { RoleArn: roleArn, ExternalId: 'any-id', RoleSessionName: 'finding-42' });
    await rejectsWith(assume(hub, { RoleArn: roleArn, RoleSessionName: 'finding-42' }), 'AccessDenied');
    await rejectsWith(
      assume(hub, { RoleArn: roleArn, ExternalId: 'any-id', RoleSessionName: 'other' }),
      'AccessDenied',
    );
  });

  test('across accounts the caller needs sts:AssumeRole in its own policies too; in the same account a trust naming its role is enough', async () => {
    const [hub, spoke] = [fresh(), fresh()];
    const bare = await roleWith(hub, [], { name: 'bare' });
    const crossArn = await trusting(spoke, {}, { AWS: bare.roleArn });
    const sameOut = await iamFor(env.url, hub).send(
      new CreateRoleCommand({
        RoleName: 'same-account',
        AssumeRolePolicyDocument: trustPolicy(bare.roleArn),
      }),
    );
    const byAccount = await iamFor(env.url, hub).send(
      new CreateRoleCommand({ RoleName: 'by-account', AssumeRolePolicyDocument: trustPolicy(hub) }),
    );

    await rejectsWith(assume(bare.keys, { RoleArn: crossArn }), 'AccessDenied');
    await assume(bare.keys, { RoleArn: must(sameOut.Role?.Arn, 'Arn') });
    await rejectsWith(assume(bare.keys, { RoleArn: must(byAccount.Role?.Arn, 'Arn') }), 'AccessDenied');
  });
});

describe('service credentials (POST /_emulator/service-credentials)', () => {
  const ask = (body: Record<string, unknown>) =>
    send(env.url, JSON.stringify(body), {
      path: '/_emulator/service-credentials',
      headers: { 'content-type': 'application/json' },
    });

  async function lambdaRole(account: string): Promise<string> {
    const out = await iamFor(env.url, account).send(
      new CreateRoleCommand({
        RoleName: 'mirrorops-lambda',
        AssumeRolePolicyDocument: doc([
          {
            Effect: 'Allow',
            Principal: { Service: 'lambda.amazonaws.com' },
            Action: 'sts:AssumeRole',
            Condition: { StringEquals: { 'aws:SourceAccount': account } },
          },
        ]),
      }),
    );
    return must(out.Role?.Arn, 'Role.Arn');
  }

  test('the service the trust names gets a session of the role, which acts as the role', async () => {
    const account = fresh();
    const roleArn = await lambdaRole(account);

    const answer = await ask({ roleArn, service: 'lambda.amazonaws.com', sourceAccount: account });
    const credentials = JSON.parse(answer.body);
    const keys = {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      sessionToken: credentials.sessionToken,
    };
    const identity = await stsFor(env.url, keys).send(new GetCallerIdentityCommand({}));
    const denied = await failure(ec2With(env.url, keys).send(new CreateTrafficMirrorFilterCommand({})));

    expect(answer.status).toBe(200);
    expect(credentials).toMatchObject({
      accessKeyId: account,
      arn: `arn:aws:sts::${account}:assumed-role/mirrorops-lambda/lambda.amazonaws.com`,
    });
    expect(new Date(credentials.expiration).getTime()).toBeGreaterThan(Date.now());
    expect(identity.Arn).toBe(credentials.arn);
    expect(denied).toMatchObject({ name: 'UnauthorizedOperation' });
  });

  test.each([
    ['another service', (account: string) => ({ service: 'states.amazonaws.com', sourceAccount: account })],
    ['another source account', () => ({ service: 'lambda.amazonaws.com', sourceAccount: '999999999999' })],
    ['no source account', () => ({ service: 'lambda.amazonaws.com' })],
  ])('%s is refused (403, naming why)', async (_case, body) => {
    const account = fresh();
    const roleArn = await lambdaRole(account);

    const answer = await ask({ roleArn, ...body(account) });

    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body).message).toContain(
      `is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
    );
  });

  test('a request without a role or service is 400', async () => {
    const answer = await ask({ service: 'lambda.amazonaws.com' });

    expect(answer.status).toBe(400);
  });
});
