import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { parseTemplate, substitute } from '../support/cloudformation.ts';
import { type CfnTemplate, resolver } from '../support/roles.ts';

const run = promisify(execFile);

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
interface Template {
  Parameters?: Record<
    string,
    { Type: string; Default?: string; AllowedPattern?: string; ConstraintDescription?: string }
  >;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, { Type: string; Condition?: string; Properties: Record<string, unknown> }>;
  Outputs?: Record<string, { Value: unknown }>;
}

const list = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);
/** IAM's wildcard match for action names and ARNs (`*` any run, `?` one character). */
const globMatch = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  ).test(value);

const TARGET = 'targetId=tmt-0123456789abcdef0';
const ORGANIZATION = 'o-abcdef1234';

let template: Template;
let outDir: string;
/** The same stack deployed with `--param="organizationId=o-abcdef1234"`. */
let withOrganization: Template;
let organizationDir: string;

/** `osls package`, offline, exactly as a user runs it: the template and the bundles are what deploys. */
async function packageStack(dir: string, ...params: string[]): Promise<Template> {
  await run(
    join('node_modules', '.bin', 'osls'),
    ['package', '--package', dir, ...params.flatMap((p) => ['--param', p])],
    { env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' }, timeout: 240_000 },
  );
  return JSON.parse(
    await readFile(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
}

beforeAll(async () => {
  // The default packaging is the run's (test/support/global-setup.ts); the organization's is this file's.
  outDir = inject('hubPackageDir');
  template = JSON.parse(await readFile(inject('hubTemplatePath'), 'utf8')) as Template;
  organizationDir = await mkdtemp(join(tmpdir(), 'mirrorops-package-org-'));
  withOrganization = await packageStack(organizationDir, TARGET, `organizationId=${ORGANIZATION}`);
  return async () => {
    await rm(organizationDir, { recursive: true, force: true });
  };
}, 300_000);

const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);

/** What the stack's Refs and Subs become in account 123456789012, parameters at their defaults. */
const deployedValues = (): Record<string, string> => ({
  'AWS::Partition': 'aws',
  'AWS::Region': 'us-east-1',
  'AWS::AccountId': '123456789012',
  ...Object.fromEntries(
    Object.entries(template.Parameters ?? {}).flatMap(([name, p]) =>
      p.Default === undefined ? [] : [[name, p.Default]],
    ),
  ),
});

/** Every statement of the roles' permission policies, as deployed in 123456789012. */
function statements(): Statement[] {
  return ofType('AWS::IAM::Role').flatMap(([, role]) =>
    (
      (substitute(role.Properties.Policies, deployedValues()) as
        | { PolicyDocument: { Statement: (Statement | { 'Fn::If': [string, unknown, unknown] })[] } }[]
        | undefined) ?? []
    ).flatMap((p) =>
      // A statement under a condition (X-Ray with Tracing on) counts with each of its branches.
      p.PolicyDocument.Statement.flatMap((s) =>
        'Fn::If' in s
          ? s['Fn::If']
              .slice(1)
              .filter((b): b is Statement => typeof b === 'object' && b !== null && 'Effect' in b)
          : [s],
      ),
    ),
  );
}

describe('the packaged hub stack', () => {
  test('has the contract function names, on nodejs22.x, each bundled on its own as minified ESM', async () => {
    const functions = ofType('AWS::Lambda::Function').map(([, f]) => f.Properties);
    const names = functions.map((f) => String(f.FunctionName));
    expect(names.sort()).toEqual([
      'mirrorops-dev-guardduty-finding',
      'mirrorops-dev-instance-launch',
      'mirrorops-dev-tag-change',
      'mirrorops-dev-ttl-sweeper',
    ]);
    for (const f of functions) expect(f.Runtime).toBe('nodejs22.x');
    const zips = (await readdir(outDir)).filter((f) => f.endsWith('.zip')).sort();
    expect(zips).toEqual([
      'guardduty-finding.zip',
      'instance-launch.zip',
      'tag-change.zip',
      'ttl-sweeper.zip',
    ]);
  });

  test('no IAM statement allows every action of a service or of all services; the only denials keep ownership', () => {
    const allows = statements().filter((s) => s.Effect === 'Allow');
    const actions = allows.flatMap((s) => list(s.Action));
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions) expect(action).not.toMatch(/(^\*$)|(:\*$)/);
    const denials = statements().filter((s) => s.Effect !== 'Allow');
    expect([...new Set(denials.map((s) => `${s.Effect} ${s.Sid}`))].sort()).toEqual([
      'Deny KeepOwnership',
      'Deny NoUntagAll',
    ]);
  });

  test('one role for the event functions, one for the sweeper, one for each state machine; no default role', () => {
    const roleOf = (fn: string) =>
      (
        ofType('AWS::Lambda::Function').find(
          ([, f]) => f.Properties.FunctionName === `mirrorops-dev-${fn}`,
        )?.[1].Properties.Role as { 'Fn::GetAtt': [string, string] } | undefined
      )?.['Fn::GetAtt'][0];
    expect(['guardduty-finding', 'tag-change', 'instance-launch', 'ttl-sweeper'].map(roleOf)).toEqual([
      'EventFunctionsRole',
      'EventFunctionsRole',
      'EventFunctionsRole',
      'SweeperRole',
    ]);
    expect(
      ofType('AWS::IAM::Role')
        .map(([id]) => id)
        .sort(),
    ).toEqual(['EventFunctionsRole', 'ShareTargetRole', 'SweepFleetRole', 'SweeperRole']);
  });

  test('deleting or modifying sessions and filters requires mirrorops:managed=true', () => {
    const guarded = [
      'ec2:DeleteTrafficMirrorSession',
      'ec2:ModifyTrafficMirrorSession',
      'ec2:DeleteTrafficMirrorFilter',
      'ec2:ModifyTrafficMirrorFilterNetworkServices',
      'ec2:CreateTrafficMirrorFilterRule',
      'ec2:CreateTags',
      'ec2:DeleteTags',
    ];
    const arns = [
      'arn:aws:ec2:us-east-1:123456789012:traffic-mirror-session/tms-0123456789abcdef0',
      'arn:aws:ec2:us-east-1:123456789012:traffic-mirror-filter/tmf-0123456789abcdef0',
    ];
    let checked = 0;
    for (const s of statements().filter((st) => st.Effect === 'Allow')) {
      for (const action of guarded) {
        if (!list(s.Action).some((a) => globMatch(a, action))) continue;
        for (const arn of arns) {
          if (!list(s.Resource as string | string[]).some((r) => typeof r === 'string' && globMatch(r, arn)))
            continue;
          checked++;
          const managed = s.Condition?.StringEquals?.['aws:ResourceTag/mirrorops:managed'];
          const onCreate = s.Condition?.StringEquals?.['ec2:CreateAction'];
          // Tagging is allowed unconditionally only as part of creating (the tags then carry managed=true).
          if (action === 'ec2:CreateTags' && onCreate) continue;
          expect({ sid: s.Sid, action, arn, managed }).toEqual({ sid: s.Sid, action, arn, managed: 'true' });
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(guarded.length);
    const creates = statements().filter((s) =>
      list(s.Action).some(
        (a) => a === 'ec2:CreateTrafficMirrorSession' || a === 'ec2:CreateTrafficMirrorFilter',
      ),
    );
    const sessionCreate = creates.find((s) =>
      list(s.Resource as string[]).some((r) => r.includes('traffic-mirror-session/')),
    );
    expect(sessionCreate?.Condition?.StringEquals?.['aws:RequestTag/mirrorops:managed']).toBe('true');
  });

  test('GuardDuty findings on instances at or above severity 4 reach guardduty-finding; the sweeper runs every minute', () => {
    const rules = ofType('AWS::Events::Rule').map(([, r]) => r.Properties);
    const finding = rules.find((r) => JSON.stringify(r.EventPattern ?? '').includes('aws.guardduty'));
    expect(finding?.EventPattern).toEqual({
      source: ['aws.guardduty'],
      'detail-type': ['GuardDuty Finding'],
      detail: { resource: { resourceType: ['Instance'] }, severity: [{ numeric: ['>=', 4] }] },
    });
    expect(rules.some((r) => r.ScheduleExpression === 'rate(1 minute)')).toBe(true);
  });

  test('findings wait in a queue per severity band: 7 and above in the high one, from 4 to below 7 in the low one', () => {
    const rules = ofType('AWS::Events::Rule').map(([, r]) => r.Properties);
    const band = (queue: string) => rules.find((r) => JSON.stringify(r.Targets ?? '').includes(queue));
    const severityOf = (rule: ReturnType<typeof band>) =>
      (rule?.EventPattern as { detail?: { severity?: unknown } } | undefined)?.detail?.severity;
    expect(severityOf(band('FindingsHighQueue'))).toEqual([{ numeric: ['>=', 7] }]);
    expect(severityOf(band('FindingsLowQueue'))).toEqual([{ numeric: ['>=', 4, '<', 7] }]);
    const queues = ofType('AWS::SQS::Queue').map(([, q]) => q.Properties);
    for (const name of ['mirrorops-findings-high-dev', 'mirrorops-findings-low-dev']) {
      const queue = queues.find((q) => q.QueueName === name);
      // Hidden longer than an invocation of guardduty-finding (300 s) works on it; no redrive.
      expect(queue).toMatchObject({ VisibilityTimeout: 330, MessageRetentionPeriod: 1209600 });
      expect(queue?.RedrivePolicy).toBeUndefined();
    }
  });

  test('failed events are retried a bounded number of times, then kept in the dead-letter queue', () => {
    const configs = ofType('AWS::Lambda::EventInvokeConfig').map(([, c]) => c.Properties);
    const finding = configs.find((c) => JSON.stringify(c).includes('GuarddutyDashfinding'));
    expect(finding).toMatchObject({ MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 });
    expect(JSON.stringify(finding?.DestinationConfig)).toContain('DeadLetterQueue');
    const patternRules = ofType('AWS::Events::Rule').filter(([, r]) => r.Properties.EventPattern);
    // guardduty-finding's wake-up, the two intake queues', tag-change's, instance-launch's two.
    expect(patternRules.length).toBe(6);
    for (const [, rule] of patternRules)
      expect(JSON.stringify(rule.Properties.Targets)).toContain('DeadLetterQueue');
    expect(ofType('AWS::CloudWatch::Alarm').length).toBeGreaterThanOrEqual(1);
  });
});

describe('the packaged hub stack in several Regions of one account (the hub runs in each Region it serves)', () => {
  /** Names CloudFormation gives these types are one namespace for the whole account, not per Region. */
  const GLOBAL_NAMES: Record<string, string> = {
    'AWS::IAM::Role': 'RoleName',
    'AWS::IAM::ManagedPolicy': 'ManagedPolicyName',
    'AWS::IAM::InstanceProfile': 'InstanceProfileName',
    'AWS::CloudWatch::Dashboard': 'DashboardName',
  };
  const namesIn = (region: string) => {
    const { resolve } = resolver(template as CfnTemplate, { account: '111111111111', region });
    return Object.values(template.Resources).flatMap((r) => {
      const key = GLOBAL_NAMES[r.Type];
      return key === undefined ? [] : [`${r.Type} ${String(resolve(r.Properties[key]))}`];
    });
  };

  test("one template deploys in any Region: the account-wide names (IAM roles, the dashboard) carry the stack's Region", () => {
    const east = namesIn('us-east-1');
    const west = namesIn('eu-west-1');
    expect(east.length).toBeGreaterThanOrEqual(4);
    expect(east.filter((name) => west.includes(name))).toEqual([]);
    expect(east.filter((name) => !name.includes('us-east-1'))).toEqual([]);
    expect(west).toContain('AWS::IAM::Role mirrorops-dev-eu-west-1-events');
    expect(west).toContain('AWS::CloudWatch::Dashboard mirrorops-dev-eu-west-1');
  });
});

describe("the packaged hub stack and its default bus's permission for the organization", () => {
  const HUB = '111111111111';
  const STATEMENT_ID = 'mirrorops-dev-org';
  const BUS_POLICY = 'AWS::Events::EventBusPolicy';

  /** What Refs become when the stack is deployed in HUB: osls passes no parameter, so each takes its Default. */
  const valuesOf = (t: Template): Record<string, string> => ({
    'AWS::Partition': 'aws',
    'AWS::Region': 'us-east-1',
    'AWS::AccountId': HUB,
    ...Object.fromEntries(
      Object.entries(t.Parameters ?? {}).flatMap(([name, p]) =>
        p.Default === undefined ? [] : [[name, p.Default]],
      ),
    ),
  });
  /** A condition as CloudFormation evaluates it with those values. */
  function holds(t: Template, expression: unknown, values: Record<string, string>): boolean {
    const node = (expression ?? {}) as Record<string, unknown>;
    if (typeof node.Condition === 'string') return holds(t, t.Conditions?.[node.Condition], values);
    if (Array.isArray(node['Fn::Not'])) return !holds(t, node['Fn::Not'][0], values);
    if (Array.isArray(node['Fn::And'])) return node['Fn::And'].every((c) => holds(t, c, values));
    if (Array.isArray(node['Fn::Or'])) return node['Fn::Or'].some((c) => holds(t, c, values));
    if (Array.isArray(node['Fn::Equals'])) {
      const [a, b] = substitute(node['Fn::Equals'], values) as unknown[];
      return a === b;
    }
    throw new Error(`condition not understood: ${JSON.stringify(expression)}`);
  }
  /** The resources of a type CloudFormation creates (no Condition, or one that holds), Refs worked out. */
  const created = (t: Template, type: string) => {
    const values = valuesOf(t);
    return Object.entries(t.Resources)
      .filter(
        ([, r]) =>
          r.Type === type && (r.Condition === undefined || holds(t, { Condition: r.Condition }, values)),
      )
      .map(([name, r]) => [name, substitute(r.Properties, values)] as const);
  };

  test('with organizationId, one statement of its own lets the organization put events on the default bus, nothing more', () => {
    const policies = created(withOrganization, BUS_POLICY);
    expect(policies.map(([name]) => name)).toHaveLength(1);
    // The Statement form, not the deprecated Action/Principal/Condition properties: toEqual admits no other key.
    expect(policies[0]?.[1]).toEqual({
      EventBusName: 'default',
      StatementId: STATEMENT_ID,
      Statement: {
        Sid: STATEMENT_ID,
        Effect: 'Allow',
        Principal: '*',
        Action: 'events:PutEvents',
        Resource: `arn:aws:events:us-east-1:${HUB}:event-bus/default`,
        Condition: { StringEquals: { 'aws:PrincipalOrgID': ORGANIZATION } },
      },
    });
  });

  test('without organizationId, the default bus gets no statement: the policy is conditioned off', () => {
    // Declared, but its condition is false for the empty default: CloudFormation creates nothing.
    expect(ofType(BUS_POLICY).map(([, r]) => r.Condition)).toEqual([expect.any(String)]);
    expect(created(template, BUS_POLICY)).toEqual([]);
  });

  test('an organizationId of the wrong form is refused by CloudFormation before anything changes', () => {
    // The parameter the statement's aws:PrincipalOrgID refers to carries the pattern CloudFormation checks.
    const policy = Object.values(withOrganization.Resources).find((r) => r.Type === BUS_POLICY);
    const statement = policy?.Properties.Statement as Statement | undefined;
    const orgId = statement?.Condition?.StringEquals?.['aws:PrincipalOrgID'] as { Ref?: string } | undefined;
    const parameter = withOrganization.Parameters?.[orgId?.Ref ?? ''];
    expect(parameter?.ConstraintDescription).toMatch(/o-/);
    const allowed = new RegExp(parameter?.AllowedPattern ?? '');
    for (const id of [ORGANIZATION, `o-${'a0'.repeat(16)}`, ''])
      expect({ id, allowed: allowed.test(id) }).toEqual({ id, allowed: true });
    for (const id of [
      'O-ABCDEF1234',
      'abcdef1234',
      'o-abc123',
      `o-${'a'.repeat(33)}`,
      '123456789012',
      'r-ab12',
      'ou-ab12-abcdef12',
    ])
      expect({ id, allowed: allowed.test(id) }).toEqual({ id, allowed: false });
  });
});

describe('the packaged share-target state machine', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub placeholder, not a template
  const AUDIT_BUS_SUB = '${AuditBus}';
  // The share-target machine (sweep-fleet is the other: test/workflow/sweep-fleet.test.ts).
  const machines = () =>
    ofType('AWS::StepFunctions::StateMachine').filter(([id]) => id === 'ShareTargetStateMachine');
  const machineRole = () => {
    const [[, machine] = ['', { Type: '', Properties: {} }]] = machines();
    const roleId = (machine.Properties.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const role = template.Resources[roleId];
    if (!role) throw new Error(`no role ${roleId}`);
    return role.Properties as {
      RoleName: string;
      AssumeRolePolicyDocument: { Statement: Statement[] };
      Policies: { PolicyDocument: { Statement: Statement[] } }[];
    };
  };

  test("is statemachines/share-target.asl.json, with the stack's audit bus put in", async () => {
    expect(machines().length).toBe(1);
    const [[, machine] = ['', { Type: '', Properties: {} }]] = machines();
    expect(machine.Properties.StateMachineName).toBe('mirrorops-dev-share-target');
    const sub = (machine.Properties.DefinitionString as { 'Fn::Sub': string })['Fn::Sub'];
    // The only substitution is the audit bus, a resource of this stack.
    expect([...new Set(sub.match(/\$\{[^}]*\}/g))]).toEqual([AUDIT_BUS_SUB]);
    expect(template.Resources.AuditBus?.Type).toBe('AWS::Events::EventBus');
    const file = await readFile(join('statemachines', 'share-target.asl.json'), 'utf8');
    expect(JSON.parse(sub.replaceAll(AUDIT_BUS_SUB, 'bus'))).toEqual(
      JSON.parse(file.replaceAll('#{AuditBus}', 'bus')),
    );
  });

  test('its role: only Step Functions of this account assumes it; no * action; only spoke roles assumed', () => {
    const role = machineRole();
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({ Principal: { Service: 'states.amazonaws.com' }, Action: 'sts:AssumeRole' }),
    ]);
    const own = role.Policies.flatMap((p) => p.PolicyDocument.Statement);
    for (const s of own) {
      expect(s.Effect).toBe('Allow');
      for (const action of list(s.Action)) expect(action).not.toMatch(/\*/);
    }
    const assume = own.filter((s) => list(s.Action).includes('sts:AssumeRole'));
    expect(assume.length).toBe(1);
    for (const r of list(assume[0]?.Resource as unknown))
      expect(JSON.stringify(r)).toMatch(/:iam::\*:role\/mirrorops-spoke"/);
  });

  test("every SDK call of the workflow is allowed to the role it runs as: the machine's own, or the spoke role", async () => {
    const asl = JSON.parse(await readFile(join('statemachines', 'share-target.asl.json'), 'utf8'));
    const tasks: { state: string; action: string; asSpoke: boolean }[] = [];
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const item of node) visit(item);
        return;
      }
      if (typeof node !== 'object' || node === null) return;
      for (const [name, value] of Object.entries(node)) {
        const state = value as { Type?: string; Resource?: string; Credentials?: unknown };
        const sdk =
          state?.Type === 'Task' ? /^arn:aws:states:::aws-sdk:(\w+):(\w+)$/.exec(state.Resource ?? '') : null;
        if (sdk) {
          const [, service = '', call = ''] = sdk;
          // IAM's service prefix; the SDK integration names the client (eventbridge is events).
          const prefix = service === 'eventbridge' ? 'events' : service;
          tasks.push({
            state: name,
            action: `${prefix}:${call[0]?.toUpperCase()}${call.slice(1)}`,
            asSpoke: state.Credentials !== undefined,
          });
        }
        visit(value);
      }
    };
    visit(asl.States);
    expect(tasks.length).toBeGreaterThan(5);
    const spoke = parseTemplate(await readFile(join('spoke', 'mirrorops-spoke.yaml'), 'utf8'));
    const spokeRole = Object.values(spoke.Resources).find(
      (r) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === 'mirrorops-spoke',
    );
    const allowedBy = (statements: readonly Statement[], action: string) =>
      statements.some((st) => st.Effect === 'Allow' && list(st.Action).some((a) => globMatch(a, action)));
    const machine = machineRole().Policies.flatMap((p) => p.PolicyDocument.Statement);
    const member = (
      (spokeRole?.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[] | undefined) ?? []
    ).flatMap((p) => p.PolicyDocument.Statement);
    for (const { state, action, asSpoke } of tasks) {
      const allowed = allowedBy(asSpoke ? member : machine, action);
      expect({ state, action, asSpoke, allowed }).toEqual({ state, action, asSpoke, allowed: true });
    }
  });

  test("the hub's outputs name exactly the roles the spoke template trusts, and the spoke trusts no name pattern", async () => {
    const outputs = template.Outputs ?? {};
    expect(outputs.HubFunctionRoleArns?.Value).toEqual({
      'Fn::Join': [
        ',',
        [{ 'Fn::GetAtt': ['EventFunctionsRole', 'Arn'] }, { 'Fn::GetAtt': ['SweeperRole', 'Arn'] }],
      ],
    });
    expect(outputs.HubShareTargetRoleArn?.Value).toEqual({ 'Fn::GetAtt': ['ShareTargetRole', 'Arn'] });
    const spoke = parseTemplate(await readFile(join('spoke', 'mirrorops-spoke.yaml'), 'utf8'));
    expect(Object.keys(spoke.Parameters ?? {})).toEqual(
      expect.arrayContaining(['HubFunctionRoleArns', 'HubShareTargetRoleArn']),
    );
    const role = spoke.Resources.SpokeRole;
    if (!role) throw new Error('the spoke template has no SpokeRole');
    const trust = JSON.stringify(
      (role.Properties.AssumeRolePolicyDocument as { Statement: unknown[] }).Statement,
    );
    expect(trust).not.toMatch(/ArnLike|StringLike|\*/);
    expect(trust).toContain('"ArnEquals":{"aws:PrincipalArn":{"Ref":"HubFunctionRoleArns"}}');
    expect(trust).toContain('"ArnEquals":{"aws:PrincipalArn":{"Ref":"HubShareTargetRoleArn"}}');
  });
});

/** EventBridge (the service principal) sending to a queue whose policy is `policy`: IAM's decision. */
async function eventBridgeSendsTo(
  queue: string,
  account: string,
  policy: unknown,
  context: Record<string, string>,
) {
  const result = await runSimulation(
    {
      request: {
        principal: 'events.amazonaws.com',
        action: 'sqs:SendMessage',
        resource: { resource: queue, accountId: account },
        contextVariables: context,
      },
      identityPolicies: [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: policy,
    },
    {},
  );
  if (result.resultType === 'error') throw new Error(result.errors.message);
  return result.overallResult;
}

describe("the dead-letter queue's policy, as IAM evaluates it (@cloud-copilot/iam-simulate)", () => {
  const ACCOUNT = '123456789012';
  const QUEUE = `arn:aws:sqs:us-east-1:${ACCOUNT}:mirrorops-dead-letters-dev`;
  const RULE = `arn:aws:events:us-east-1:${ACCOUNT}:rule/mirrorops-dev-guardduty-finding-rule-1`;

  /** EventBridge sending a dead letter, with the context it brings. */
  async function eventBridgeSends(context: Record<string, string>) {
    const { resolve } = resolver(template as CfnTemplate, { account: ACCOUNT, region: 'us-east-1' });
    const policy = resolve(template.Resources.DeadLetterQueuePolicy?.Properties.PolicyDocument);
    return eventBridgeSendsTo(QUEUE, ACCOUNT, policy, context);
  }

  test("takes this stack's rules' dead letters, over TLS", async () => {
    expect(
      await eventBridgeSends({
        'aws:SourceArn': RULE,
        'aws:SourceAccount': ACCOUNT,
        'aws:SecureTransport': 'true',
      }),
    ).toBe('Allowed');
  });

  test('refuses a rule of another stack or account, a request that names none (confused deputy), and plain HTTP', async () => {
    const other = `arn:aws:events:us-east-1:999999999999:rule/mirrorops-dev-guardduty-finding-rule-1`;
    const cases = {
      otherAccount: {
        'aws:SourceArn': other,
        'aws:SourceAccount': '999999999999',
        'aws:SecureTransport': 'true',
      },
      otherStack: {
        'aws:SourceArn': `arn:aws:events:us-east-1:${ACCOUNT}:rule/someone-elses-rule`,
        'aws:SourceAccount': ACCOUNT,
        'aws:SecureTransport': 'true',
      },
      noSource: { 'aws:SecureTransport': 'true' },
      http: { 'aws:SourceArn': RULE, 'aws:SourceAccount': ACCOUNT, 'aws:SecureTransport': 'false' },
    };
    for (const [name, context] of Object.entries(cases)) {
      expect({ name, result: await eventBridgeSends(context) }).toEqual({
        name,
        result: expect.not.stringMatching(/^Allowed$/),
      });
    }
  });
});

describe("the intake queues' policy, as IAM evaluates it (@cloud-copilot/iam-simulate)", () => {
  const ACCOUNT = '123456789012';
  const queue = (band: string) => `arn:aws:sqs:us-east-1:${ACCOUNT}:mirrorops-findings-${band}-dev`;
  const rule = (name: string) => `arn:aws:events:us-east-1:${ACCOUNT}:rule/${name}`;

  /** EventBridge delivering a finding to a queue, with the context it brings. */
  async function eventBridgeSends(to: string, context: Record<string, string>) {
    const { resolve } = resolver(template as CfnTemplate, {
      account: ACCOUNT,
      region: 'us-east-1',
      // A rule's Arn as CloudFormation gives it (the test resolver knows no rule type).
      physical: Object.fromEntries(
        ['high', 'low'].map((band) => {
          const id = `Findings${band === 'high' ? 'High' : 'Low'}Rule`;
          return [
            id,
            {
              ref: `mirrorops-dev-findings-${band}`,
              attributes: { Arn: rule(`mirrorops-dev-findings-${band}`) },
            },
          ];
        }),
      ),
    });
    const policy = resolve(template.Resources.FindingsQueuePolicy?.Properties.PolicyDocument);
    return eventBridgeSendsTo(to, ACCOUNT, policy, context);
  }

  test('takes the findings of the two finding rules, over TLS', async () => {
    for (const band of ['high', 'low']) {
      const context = {
        'aws:SourceArn': rule(`mirrorops-dev-findings-${band}`),
        'aws:SecureTransport': 'true',
      };
      expect({ band, result: await eventBridgeSends(queue(band), context) }).toEqual({
        band,
        result: 'Allowed',
      });
    }
  });

  test("refuses another rule (this stack's others included), a request that names none, and plain HTTP", async () => {
    const cases = {
      otherRuleOfTheStack: {
        'aws:SourceArn': rule('mirrorops-dev-guardduty-finding-rule-1'),
        'aws:SecureTransport': 'true',
      },
      otherAccount: {
        'aws:SourceArn': 'arn:aws:events:us-east-1:999999999999:rule/mirrorops-dev-findings-high',
        'aws:SecureTransport': 'true',
      },
      noSource: { 'aws:SecureTransport': 'true' },
      http: { 'aws:SourceArn': rule('mirrorops-dev-findings-high'), 'aws:SecureTransport': 'false' },
    };
    for (const [name, context] of Object.entries(cases)) {
      expect({ name, result: await eventBridgeSends(queue('high'), context) }).toEqual({
        name,
        result: expect.not.stringMatching(/^Allowed$/),
      });
    }
  });
});
