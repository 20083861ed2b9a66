import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { route, routesOf } from '../../cli/routes.ts';
import { loadStack } from '../../cli/stack.ts';
import { matches } from '../../shared/domain/pattern.ts';
import {
  globMatch,
  list,
  parseTemplate,
  references,
  type Statement,
  type Template,
} from '../support/cloudformation.ts';
import { type CfnTemplate, resolver } from '../support/roles.ts';

const HUB = '111111111111';
const MEMBER = '222222222222';
const OTHER = '333333333333';
const HUB_BUS = `arn:aws:events:us-east-1:${HUB}:event-bus/default`;

const template: Template = parseTemplate(
  readFileSync(new URL('../../spoke/mirrorops-spoke.yaml', import.meta.url), 'utf8'),
);
/** The hub's roles in each Region it is deployed in (the hub stacks' outputs, joined). */
const HUB_FUNCTION_ROLES = ['us-east-1', 'eu-west-1'].flatMap((region) => [
  `arn:aws:iam::${HUB}:role/mirrorops-dev-${region}-events`,
  `arn:aws:iam::${HUB}:role/mirrorops-dev-${region}-sweeper`,
]);
const HUB_SHARE_TARGET_ROLES = ['us-east-1', 'eu-west-1'].map(
  (region) => `arn:aws:iam::${HUB}:role/mirrorops-dev-${region}-share-target`,
);
/** The template as CloudFormation deploys it in MEMBER for HUB, in `region`: intrinsics worked out. */
const deployedIn = (region: string, parameters: Record<string, string> = {}) =>
  resolver(template as CfnTemplate, {
    account: MEMBER,
    region,
    parameters: {
      HubAccountId: HUB,
      ExternalId: 'mirrorops-external-id',
      HubFunctionRoleArns: HUB_FUNCTION_ROLES.join(','),
      HubShareTargetRoleArn: HUB_SHARE_TARGET_ROLES.join(','),
      ...parameters,
    },
  });
const deployed = deployedIn('us-east-1').resolve(template) as Template;

const ofType = (t: Template, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
const roleNamed = (name: string) => {
  const role = deployed.Resources[name];
  if (!role) throw new Error(`no resource ${name}`);
  return role.Properties as {
    RoleName?: string;
    AssumeRolePolicyDocument: { Statement: Statement[] };
    Policies: { PolicyDocument: { Statement: Statement[] } }[];
  };
};
const permissions = (name: string) => roleNamed(name).Policies.flatMap((p) => p.PolicyDocument.Statement);
const allStatements = () =>
  ofType(deployed, 'AWS::IAM::Role').flatMap(([name]) => [
    ...roleNamed(name).AssumeRolePolicyDocument.Statement,
    ...permissions(name),
  ]);
/** Statements of the spoke role that allow `action` on `arn`. */
const allowing = (action: string, arn: string) =>
  permissions('SpokeRole').filter(
    (s) =>
      s.Effect === 'Allow' &&
      list(s.Action).some((a) => globMatch(a, action)) &&
      list(s.Resource as string | string[]).some((r) => typeof r === 'string' && globMatch(r, arn)),
  );

const arn = (account: string, type: string, id: string) => `arn:aws:ec2:us-east-1:${account}:${type}/${id}`;
const SESSION = arn(MEMBER, 'traffic-mirror-session', 'tms-0123456789abcdef0');
const FILTER = arn(MEMBER, 'traffic-mirror-filter', 'tmf-0123456789abcdef0');

describe('the spoke template', () => {
  test('has its seven parameters, a role named mirrorops-spoke, its forwarding role and three rules', () => {
    expect(template.AWSTemplateFormatVersion).toBe('2010-09-09');
    expect(Object.keys(template.Parameters ?? {}).sort()).toEqual([
      'ExternalId',
      'HubAccountId',
      'HubEventBusArn',
      'HubFunctionRoleArns',
      'HubShareTargetRoleArn',
      'Regions',
      'RoleRegion',
    ]);
    const roleArn = new RegExp(String(template.Parameters?.HubShareTargetRoleArn?.AllowedPattern));
    expect(roleArn.test(`arn:aws:iam::${HUB}:role/mirrorops-dev-us-east-1-share-target`)).toBe(true);
    for (const bad of [
      `arn:aws:iam::${HUB}:role/*`,
      `arn:aws:iam::${HUB}:user/x`,
      'mirrorops-dev-us-east-1-share-target',
    ])
      expect({ bad, allowed: roleArn.test(bad) }).toEqual({ bad, allowed: false });
    expect(new RegExp(String(template.Parameters?.HubAccountId?.AllowedPattern)).test(HUB)).toBe(true);
    expect(new RegExp(String(template.Parameters?.HubEventBusArn?.AllowedPattern)).test(HUB_BUS)).toBe(true);
    expect(template.Parameters?.ExternalId?.NoEcho).toBe(true);
    expect(Object.fromEntries(Object.entries(template.Resources).map(([name, r]) => [name, r.Type]))).toEqual(
      {
        SpokeRole: 'AWS::IAM::Role',
        ForwardRole: 'AWS::IAM::Role',
        TagChangeRule: 'AWS::Events::Rule',
        InstanceRunningRule: 'AWS::Events::Rule',
        InterfaceCallsRule: 'AWS::Events::Rule',
      },
    );
    expect(roleNamed('SpokeRole').RoleName).toBe('mirrorops-spoke');
  });

  test('refers only to its parameters, its resources and pseudo parameters', () => {
    const known = new Set([
      ...Object.keys(template.Parameters ?? {}),
      ...Object.keys(template.Resources),
      'AWS::Partition',
      'AWS::AccountId',
      'AWS::Region',
      'AWS::NoValue',
    ]);
    const used = references(template);
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !known.has(name))).toEqual([]);
  });

  test('no statement allows all actions or all actions of a service; the only denials keep ownership; no NotAction', () => {
    const statements = allStatements();
    expect(statements.length).toBeGreaterThan(10);
    for (const s of statements) {
      expect(s).not.toHaveProperty('NotAction');
      expect(s).not.toHaveProperty('NotResource');
      if (s.Effect === 'Allow')
        for (const action of list(s.Action)) expect(action).not.toMatch(/(^\*$)|(:\*$)|\*/);
    }
    expect(statements.filter((s) => s.Effect !== 'Allow').map((s) => `${s.Effect} ${s.Sid}`)).toEqual([
      'Deny KeepOwnership',
      'Deny NoUntagAll',
    ]);
  });

  test("the hub assumes the role only as its exact roles, from the hub's outputs: its functions with the ExternalId", () => {
    const trust = roleNamed('SpokeRole').AssumeRolePolicyDocument.Statement;
    expect(trust).toEqual([
      {
        Sid: 'HubFunctions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${HUB}:root` },
        Action: 'sts:AssumeRole',
        Condition: {
          StringEquals: { 'sts:ExternalId': 'mirrorops-external-id' },
          ArnEquals: { 'aws:PrincipalArn': HUB_FUNCTION_ROLES },
        },
      },
      {
        Sid: 'HubShareTarget',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${HUB}:root` },
        Action: 'sts:AssumeRole',
        Condition: {
          ArnEquals: { 'aws:PrincipalArn': HUB_SHARE_TARGET_ROLES },
        },
      },
    ]);
    expect(template.Parameters?.HubFunctionRoleArns?.Type).toBe('CommaDelimitedList');
    expect(template.Parameters?.HubShareTargetRoleArn?.Type).toBe('CommaDelimitedList');
    // Whether and how the hub may then assume it is checked by the emulator (test/integration/permissions.test.ts).
  });

  test('creating a session or filter requires the request to tag it mirrorops:managed=true', () => {
    for (const [action, resource] of [
      ['ec2:CreateTrafficMirrorSession', SESSION],
      ['ec2:CreateTrafficMirrorFilter', FILTER],
    ] as const) {
      const statements = allowing(action, resource);
      expect(statements.length).toBeGreaterThan(0);
      for (const s of statements)
        expect(s.Condition?.StringEquals?.['aws:RequestTag/mirrorops:managed']).toBe('true');
    }
  });

  test('modifying, deleting and tagging sessions and filters requires mirrorops:managed=true on them', () => {
    const guarded = [
      'ec2:ModifyTrafficMirrorSession',
      'ec2:DeleteTrafficMirrorSession',
      'ec2:DeleteTrafficMirrorFilter',
      'ec2:ModifyTrafficMirrorFilterNetworkServices',
      'ec2:CreateTrafficMirrorFilterRule',
      'ec2:CreateTags',
      'ec2:DeleteTags',
    ];
    let checked = 0;
    for (const action of guarded) {
      for (const resource of [SESSION, FILTER]) {
        for (const s of allowing(action, resource)) {
          checked++;
          const when = s.Condition?.StringEquals ?? {};
          // Tags given in a create call: allowed when the request itself carries managed=true.
          if (action === 'ec2:CreateTags' && when['ec2:CreateAction']) {
            expect(when['aws:RequestTag/mirrorops:managed']).toBe('true');
            continue;
          }
          expect({ sid: s.Sid, action, managed: when['aws:ResourceTag/mirrorops:managed'] }).toEqual({
            sid: s.Sid,
            action,
            managed: 'true',
          });
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(guarded.length);
  });

  test("every other EC2 change is on this account's interfaces and rules or the hub's targets, never another account's", () => {
    for (const s of permissions('SpokeRole').filter((st) => st.Effect === 'Allow')) {
      const changes = list(s.Action).filter((a) => a.startsWith('ec2:') && !a.startsWith('ec2:Describe'));
      if (changes.length === 0) continue;
      for (const resource of list(s.Resource as string | string[])) {
        expect(resource).not.toBe('*');
        const account = resource.split(':')[4];
        if (resource.includes(':traffic-mirror-target/')) expect(account).toBe(HUB);
        else expect(account).toBe(MEMBER);
      }
    }
    expect(allowing('ec2:CreateTrafficMirrorSession', arn(OTHER, 'traffic-mirror-target', 'tmt-1'))).toEqual(
      [],
    );
    expect(allowing('ec2:DeleteTrafficMirrorSession', arn(OTHER, 'traffic-mirror-session', 'tms-1'))).toEqual(
      [],
    );
  });

  test("invitations are accepted only from the hub's shares", () => {
    const accept = permissions('SpokeRole').filter((s) =>
      list(s.Action).includes('ram:AcceptResourceShareInvitation'),
    );
    expect(accept.length).toBe(1);
    expect(accept[0]?.Condition?.StringEquals?.['ram:ShareOwnerAccountId']).toBe(HUB);
    const all = permissions('SpokeRole').flatMap((s) => list(s.Action));
    expect(all.filter((a) => a.startsWith('ram:')).sort()).toEqual([
      'ram:AcceptResourceShareInvitation',
      'ram:GetResourceShareInvitations',
    ]);
  });
});

describe("the spoke's forwarding rules", () => {
  const rules = ofType(deployed, 'AWS::Events::Rule').map(([, r]) => r.Properties);
  const forwarded = (event: unknown) => rules.some((r) => matches(r.EventPattern, event));
  const event = (path: string) =>
    JSON.parse(readFileSync(new URL(`../../events/${path}`, import.meta.url), 'utf8')) as unknown;
  const samples = readdirSync(new URL('../../events/', import.meta.url), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.json'))
    .sort();

  test('send to the hub bus, through a role that may only put events there', () => {
    expect(rules.length).toBe(3);
    for (const rule of rules) {
      expect(rule.State).toBe('ENABLED');
      expect(rule.Targets).toEqual([
        { Id: 'hub', Arn: HUB_BUS, RoleArn: `arn:aws:iam::${MEMBER}:role/stack-ForwardRole` },
      ]);
    }
    expect(permissions('ForwardRole')).toEqual([
      { Sid: 'HubBus', Effect: 'Allow', Action: 'events:PutEvents', Resource: HUB_BUS },
    ]);
    expect(roleNamed('ForwardRole').AssumeRolePolicyDocument.Statement[0]?.Principal).toEqual({
      Service: 'events.amazonaws.com',
    });
  });

  test.each([
    ['tag/mirror-true.json', true],
    ['tag/mirror-4h.json', true],
    ['tag/mirror-false.json', true],
    ['tag/mirror-removed.json', true],
    ['tag/mirror-invalid.json', true],
    ['tag/eni-mirror-2h.json', true],
    ['tag/other-key.json', false],
    ['tag/s3-bucket.json', false],
    ['ec2/running.json', true],
    ['ec2/stopped.json', false],
    ['ec2/run-instances.json', true],
    ['ec2/attach-network-interface.json', true],
    ['ec2/attach-network-interface-denied.json', false],
    ['guardduty/network-connection.json', false],
    ['schedule/every-minute.json', false],
  ] as const)('%s forwarded: %s', (path, expected) => {
    expect(forwarded(event(path))).toBe(expected);
  });

  test("forward exactly the sample events the hub's tag-change and instance-launch rules take", () => {
    const hub = routesOf(loadStack('serverless.yml', { params: { targetId: 'tmt-0123456789abcdef0' } }));
    const memberEvents = samples.filter((f) => f.startsWith('tag/') || f.startsWith('ec2/'));
    expect(memberEvents.length).toBeGreaterThanOrEqual(13);
    for (const path of memberEvents) {
      const reaches = route(hub, event(path)).filter((f) => f === 'tag-change' || f === 'instance-launch');
      expect({ path, forwarded: forwarded(event(path)) }).toEqual({ path, forwarded: reaches.length > 0 });
    }
  });
});

describe('the spoke template in several Regions of one account (a StackSet over Regions)', () => {
  const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2'];
  const stacks = REGIONS.map((region) => {
    const stack = deployedIn(region, { RoleRegion: 'eu-west-1' });
    return { region, stack, resources: stack.resolve(template.Resources) as Template['Resources'] };
  });

  test("only RoleRegion's stack makes the account's role (IAM is global); without RoleRegion every stack does", () => {
    expect(stacks.map(({ region, stack }) => [region, stack.condition('OwnsRole')])).toEqual([
      ['us-east-1', false],
      ['eu-west-1', true],
      ['ap-southeast-2', false],
    ]);
    expect((template.Resources.SpokeRole as { Condition?: string }).Condition).toBe('OwnsRole');
    // Every other resource is made by every Region's stack: the forwarding role has no fixed name.
    const conditional = Object.entries(template.Resources).filter(([, r]) => 'Condition' in r);
    expect(conditional.map(([name]) => name)).toEqual(['SpokeRole']);
    expect(template.Resources.ForwardRole?.Properties).not.toHaveProperty('RoleName');
    expect(deployedIn('ap-southeast-2').condition('OwnsRole')).toBe(true);
    const pattern = new RegExp(String(template.Parameters?.RoleRegion?.AllowedPattern));
    for (const ok of ['', 'us-east-1', 'ap-southeast-2', 'us-gov-west-1'])
      expect(pattern.test(ok)).toBe(true);
    for (const bad of ['us-east', 'US-EAST-1', 'us-east-1 ', '*']) expect(pattern.test(bad)).toBe(false);
  });

  test("each Region's rules forward to the hub's default bus in the same Region, through that stack's own role", () => {
    for (const { region, resources } of stacks) {
      const bus = `arn:aws:events:${region}:${HUB}:event-bus/default`;
      const rules = Object.values(resources).filter((r) => r.Type === 'AWS::Events::Rule');
      expect(rules).toHaveLength(3);
      for (const rule of rules) {
        expect(rule.Properties.Targets).toEqual([
          { Id: 'hub', Arn: bus, RoleArn: `arn:aws:iam::${MEMBER}:role/stack-ForwardRole` },
        ]);
      }
      const forward = resources.ForwardRole?.Properties as {
        Policies: { PolicyDocument: { Statement: Statement[] } }[];
      };
      expect(forward.Policies.flatMap((p) => p.PolicyDocument.Statement)).toEqual([
        { Sid: 'HubBus', Effect: 'Allow', Action: 'events:PutEvents', Resource: bus },
      ]);
    }
  });

  test('HubEventBusArn, when given, is the bus every rule and the forwarding role name', () => {
    const bus = `arn:aws:events:eu-west-1:${HUB}:event-bus/mirrorops-intake`;
    const resources = deployedIn('eu-west-1', { HubEventBusArn: bus }).resolve(
      template.Resources,
    ) as Template['Resources'];
    const arns = Object.values(resources)
      .filter((r) => r.Type === 'AWS::Events::Rule')
      .map((r) => (r.Properties.Targets as { Arn: string }[])[0]?.Arn);
    expect(arns).toEqual([bus, bus, bus]);
    const pattern = new RegExp(String(template.Parameters?.HubEventBusArn?.AllowedPattern));
    expect([pattern.test(''), pattern.test(bus), pattern.test('default')]).toEqual([true, true, false]);
  });

  test("the one role serves every Region's hub: its EC2 permissions hold in each Region, for this account and the hub's targets only", () => {
    for (const region of REGIONS) {
      const at = (account: string, type: string, id: string) =>
        `arn:aws:ec2:${region}:${account}:${type}/${id}`;
      const cases: [string, string, boolean][] = [
        ['ec2:CreateTrafficMirrorSession', at(MEMBER, 'traffic-mirror-session', 'tms-1'), true],
        ['ec2:CreateTrafficMirrorSession', at(MEMBER, 'network-interface', 'eni-1'), true],
        ['ec2:CreateTrafficMirrorSession', at(HUB, 'traffic-mirror-target', 'tmt-1'), true],
        ['ec2:CreateTrafficMirrorSession', at(OTHER, 'traffic-mirror-target', 'tmt-1'), false],
        ['ec2:DeleteTrafficMirrorSession', at(MEMBER, 'traffic-mirror-session', 'tms-1'), true],
        ['ec2:DeleteTrafficMirrorSession', at(OTHER, 'traffic-mirror-session', 'tms-1'), false],
        ['ec2:CreateTrafficMirrorFilter', at(MEMBER, 'traffic-mirror-filter', 'tmf-1'), true],
      ];
      for (const [action, resource, expected] of cases) {
        expect({ region, action, resource, allowed: allowing(action, resource).length > 0 }).toEqual({
          region,
          action,
          resource,
          allowed: expected,
        });
      }
    }
  });

  test('with Regions, one statement denies EC2 and RAM in every other Region; without, there is none', () => {
    const spokeIn = (parameters: Record<string, string>) => {
      const t = deployedIn('us-east-1', parameters).resolve(template) as Template;
      const role = t.Resources.SpokeRole?.Properties as {
        Policies: { PolicyDocument: { Statement: Statement[] } }[];
      };
      return role.Policies.flatMap((p) => p.PolicyDocument.Statement);
    };
    const regional = spokeIn({ Regions: 'us-east-1,eu-west-1' }).filter((s) => s.Sid === 'OnlyHubRegions');
    expect(regional).toEqual([
      {
        Sid: 'OnlyHubRegions',
        Effect: 'Deny',
        Action: ['ec2:*', 'ram:*'],
        Resource: '*',
        Condition: { StringNotEquals: { 'aws:RequestedRegion': ['us-east-1', 'eu-west-1'] } },
      },
    ]);
    expect(spokeIn({}).filter((s) => s.Sid === 'OnlyHubRegions')).toEqual([]);
    const pattern = new RegExp(String(template.Parameters?.Regions?.AllowedPattern));
    for (const ok of ['', 'us-east-1', 'ap-southeast-2']) expect(pattern.test(ok)).toBe(true);
    for (const bad of ['*', 'us-east', 'US-EAST-1']) expect(pattern.test(bad)).toBe(false);
  });

  test("the output names the account's one role, whichever Region's stack is asked", () => {
    for (const { stack } of stacks) {
      expect(
        stack.resolve((template.Outputs as Record<string, { Value: unknown }>).SpokeRoleArn?.Value),
      ).toBe(`arn:aws:iam::${MEMBER}:role/mirrorops-spoke`);
    }
  });
});
