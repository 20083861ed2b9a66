import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from 'vitest';
import { METRIC_NAMES } from '../../shared/runtime/metrics.ts';
import { globMatch, list } from '../support/cloudformation.ts';
import { type CfnTemplate, resolver } from '../support/roles.ts';

/**
 * What the hub stack gives the people who run it: alarms that reach someone, the share-target
 * workflow's log and alarms, the audit archive, and reserved concurrency sized against EC2's
 * mutating-call rate. Read from the template `osls package` writes, with CloudFormation's
 * conditions worked out for the parameter values a deployment would pass.
 */

const run = promisify(execFile);

interface Resource {
  Type: string;
  Condition?: string;
  DependsOn?: string | string[];
  Properties: Record<string, unknown>;
}
interface Template {
  Parameters: Record<string, { Type: string; Default?: unknown; AllowedPattern?: string }>;
  Conditions: Record<string, unknown>;
  Resources: Record<string, Resource>;
}
interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const HUB = '111111111111';
const TOPIC_ARN = 'arn:aws:sns:us-east-1:222222222222:security-alarms';
const EMAIL = 'soc@example.com';
const STAGE = 'dev';

let template: Template;
let workDir: string;

/**
 * `osls package` of a copy of the service (sources and serverless.yml, node_modules linked), as a
 * user runs it: the copy has its own .esbuild folder, so packagings running at the same time in
 * other test files do not clean up each other's builds.
 */
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'mirrorops-operations-'));
  const service = join(workDir, 'service');
  for (const entry of [
    'serverless.yml',
    'package.json',
    'tsconfig.json',
    'functions',
    'shared',
    'statemachines',
  ])
    await cp(entry, join(service, entry), { recursive: true });
  await symlink(resolve('node_modules'), join(service, 'node_modules'), 'dir');
  const out = join(workDir, 'package');
  await run(
    join(service, 'node_modules', '.bin', 'osls'),
    ['package', '--package', out, '--param', 'targetId=tmt-0123456789abcdef0'],
    {
      cwd: service,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
      timeout: 240_000,
    },
  );
  template = JSON.parse(
    await readFile(join(out, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
  return async () => {
    await rm(workDir, { recursive: true, force: true });
  };
}, 300_000);

/**
 * The stack as CloudFormation sees it when deployed in HUB with these parameters (osls passes
 * none, so a `--param` becomes the parameter's Default): values of Ref and Fn::Sub, and which
 * resources their Condition lets CloudFormation create.
 */
function deployed(parameters: Record<string, string> = {}) {
  const values: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': 'us-east-1',
    'AWS::AccountId': HUB,
    ...Object.fromEntries(
      Object.entries(template.Parameters).flatMap(([name, p]) =>
        p.Default === undefined ? [] : [[name, String(p.Default)]],
      ),
    ),
    ...parameters,
  };
  const holds = (expression: unknown): boolean => {
    const node = (expression ?? {}) as Record<string, unknown>;
    if (typeof node.Condition === 'string') return holds(template.Conditions[node.Condition]);
    if (Array.isArray(node['Fn::Not'])) return !holds(node['Fn::Not'][0]);
    if (Array.isArray(node['Fn::And'])) return node['Fn::And'].every(holds);
    if (Array.isArray(node['Fn::Or'])) return node['Fn::Or'].some(holds);
    if (Array.isArray(node['Fn::Equals'])) {
      const [a, b] = node['Fn::Equals'].map(value);
      return a === b;
    }
    throw new Error(`condition not understood: ${JSON.stringify(expression)}`);
  };
  /** Refs to parameters and pseudo parameters become their values; Refs to resources stay Refs. */
  function value(node: unknown): unknown {
    if (Array.isArray(node)) return node.map(value);
    if (!node || typeof node !== 'object') return node;
    const n = node as Record<string, unknown>;
    if (typeof n.Ref === 'string') return values[n.Ref] ?? n;
    if (Array.isArray(n['Fn::If'])) {
      const [condition, then, otherwise] = n['Fn::If'] as [string, unknown, unknown];
      return value(holds({ Condition: condition }) ? then : otherwise);
    }
    if (typeof n['Fn::Sub'] === 'string')
      return n['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (whole, name: string) => values[name] ?? whole);
    return Object.fromEntries(Object.entries(n).map(([k, v]) => [k, value(v)]));
  }
  const resources = Object.entries(template.Resources).filter(
    ([, r]) => r.Condition === undefined || holds({ Condition: r.Condition }),
  );
  return {
    /** Created resources of a type, their properties worked out. */
    ofType: (type: string) =>
      resources
        .filter(([, r]) => r.Type === type)
        .map(([name, r]) => ({ name, properties: value(r.Properties) as Record<string, unknown> })),
    has: (name: string) => resources.some(([n]) => n === name),
  };
}

const statementsOf = (document: unknown) =>
  list((document as { Statement: Statement | Statement[] }).Statement);
const alarms = (stack: ReturnType<typeof deployed>) => stack.ofType('AWS::CloudWatch::Alarm');

describe('alarms reach someone', () => {
  test('by default the stack has its own topic, encrypted with a key of the stack that CloudWatch may use', () => {
    const stack = deployed();
    const [topic, ...others] = stack.ofType('AWS::SNS::Topic');
    expect(others).toEqual([]);
    expect(topic?.properties.TopicName).toBe(`mirrorops-alarms-${STAGE}`);
    // Not the AWS managed alias/aws/sns: its policy cannot let CloudWatch use it, and alarms
    // publishing to a topic encrypted with it are refused (SNS sns-key-management.html).
    const keyRef = (topic?.properties.KmsMasterKeyId as { Ref?: string } | undefined)?.Ref ?? '';
    expect(template.Resources[keyRef]?.Type).toBe('AWS::KMS::Key');
    const key = stack.ofType('AWS::KMS::Key').find((k) => k.name === keyRef);
    expect(key?.properties.EnableKeyRotation).toBe(true);
    const forCloudWatch = statementsOf(key?.properties.KeyPolicy).filter(
      (s) => JSON.stringify(s.Principal) === JSON.stringify({ Service: 'cloudwatch.amazonaws.com' }),
    );
    expect(forCloudWatch).toHaveLength(1);
    expect(list(forCloudWatch[0]?.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
    expect(forCloudWatch[0]?.Condition?.StringEquals?.['aws:SourceAccount']).toBe(HUB);
    expect(forCloudWatch[0]?.Condition?.ArnLike?.['aws:SourceArn']).toBe(
      `arn:aws:cloudwatch:us-east-1:${HUB}:alarm:mirrorops-${STAGE}-*`,
    );
  });

  test("the topic's policy lets only this account's CloudWatch alarms of this stack publish", () => {
    const stack = deployed();
    const [policy, ...others] = stack.ofType('AWS::SNS::TopicPolicy');
    expect(others).toEqual([]);
    expect(policy?.properties.Topics).toEqual([{ Ref: 'AlarmTopic' }]);
    expect(statementsOf(policy?.properties.PolicyDocument)).toEqual([
      {
        Sid: expect.any(String),
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: 'AlarmTopic' },
        Condition: {
          StringEquals: { 'aws:SourceAccount': HUB },
          ArnLike: { 'aws:SourceArn': `arn:aws:cloudwatch:us-east-1:${HUB}:alarm:mirrorops-${STAGE}-*` },
        },
      },
    ]);
  });

  test('every alarm notifies the topic, and is named so that the topic and key policies let it', () => {
    const stack = deployed();
    const all = alarms(stack);
    // Dead letters, the four functions, the workflow's failed and timed-out runs.
    expect(all.length).toBeGreaterThanOrEqual(7);
    const [policy] = stack.ofType('AWS::SNS::TopicPolicy');
    const sourceArn = String(
      statementsOf(policy?.properties.PolicyDocument)[0]?.Condition?.ArnLike?.['aws:SourceArn'],
    );
    for (const { name, properties } of all) {
      const arn = `arn:aws:cloudwatch:us-east-1:${HUB}:alarm:${String(properties.AlarmName)}`;
      expect({ name, actions: properties.AlarmActions, allowed: globMatch(sourceArn, arn) }).toEqual({
        name,
        actions: [{ Ref: 'AlarmTopic' }],
        allowed: true,
      });
      if (properties.OKActions !== undefined) expect(properties.OKActions).toEqual([{ Ref: 'AlarmTopic' }]);
    }
    // A queue that fills and drains, and a sweeper that fails every minute until it does not, are
    // states: their return to OK is news too.
    const ok = all.filter((a) => a.properties.OKActions !== undefined).map((a) => a.name);
    expect(ok.sort()).toEqual([
      'DeadLettersAlarm',
      'SweepAccountsFailedAlarm',
      'SweeperErrorsAlarm',
      'TimeToMirrorAlarm',
    ]);
  });

  test('each function has an error alarm, and the dead-letter queue one', () => {
    const all = alarms(deployed());
    const functions = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
      .map(([name]) => name);
    expect(functions).toHaveLength(4);
    for (const fn of functions) {
      const watching = all.filter(
        (a) =>
          a.properties.Namespace === 'AWS/Lambda' &&
          a.properties.MetricName === 'Errors' &&
          JSON.stringify(a.properties.Dimensions) ===
            JSON.stringify([{ Name: 'FunctionName', Value: { Ref: fn } }]),
      );
      expect({ fn, alarms: watching.length }).toEqual({ fn, alarms: 1 });
    }
    expect(
      all.filter((a) => a.properties.Namespace === 'AWS/SQS').map((a) => a.properties.MetricName),
    ).toEqual(['ApproximateNumberOfMessagesVisible']);
  });

  test('no email subscription by default; alarmEmail subscribes that address to the topic', () => {
    expect(deployed().ofType('AWS::SNS::Subscription')).toEqual([]);
    expect(
      deployed({ AlarmEmail: EMAIL })
        .ofType('AWS::SNS::Subscription')
        .map((s) => s.properties),
    ).toEqual([{ TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: EMAIL }]);
  });

  test('with alarmTopicArn the stack makes no topic, key or topic policy, and every alarm notifies that topic', () => {
    const stack = deployed({ AlarmTopicArn: TOPIC_ARN });
    for (const type of ['AWS::SNS::Topic', 'AWS::SNS::TopicPolicy', 'AWS::KMS::Key', 'AWS::KMS::Alias'])
      expect({ type, created: stack.ofType(type) }).toEqual({ type, created: [] });
    for (const { name, properties } of alarms(stack)) {
      expect({ name, actions: properties.AlarmActions }).toEqual({ name, actions: [TOPIC_ARN] });
      if (properties.OKActions !== undefined) expect(properties.OKActions).toEqual([TOPIC_ARN]);
    }
    const both = deployed({ AlarmTopicArn: TOPIC_ARN, AlarmEmail: EMAIL });
    expect(both.ofType('AWS::SNS::Subscription').map((s) => s.properties)).toEqual([
      { TopicArn: TOPIC_ARN, Protocol: 'email', Endpoint: EMAIL },
    ]);
  });
});

describe('metrics: a dashboard, alarms on rejections and on time to mirror, tracing', () => {
  /** The properties of the stack's alarm of that logical name. */
  const alarmNamed = (name: string) => alarms(deployed()).find((a) => a.name === name)?.properties;
  /** A mirrorops metric of one function, as an alarm names it. */
  const metricOf = (name: string, fn: string) => ({
    Namespace: 'mirrorops',
    MetricName: name,
    Dimensions: [
      { Name: 'service', Value: 'mirrorops' },
      { Name: 'function', Value: fn },
    ],
  });

  /** Every metric name the dashboard's widgets show, as metric rows or in SEARCH expressions. */
  const dashboardMetrics = (stack: ReturnType<typeof deployed>) => {
    const [dashboard] = stack.ofType('AWS::CloudWatch::Dashboard');
    if (!dashboard) throw new Error('no dashboard in the stack');
    const [text, vars] = (
      dashboard.properties.DashboardBody as { 'Fn::Sub': [string, Record<string, unknown>] }
    )['Fn::Sub'];
    const body = JSON.parse(
      text.replace(/\$\{([^}]+)\}/g, (_, name: string) =>
        name === 'AWS::Region' ? 'us-east-1' : String(vars[name]),
      ),
    ) as { widgets: { properties: { metrics: unknown[][]; annotations?: unknown } }[] };
    const names = new Set<string>();
    for (const widget of body.widgets)
      for (const row of widget.properties.metrics) {
        if (row[0] === 'mirrorops' && typeof row[1] === 'string') names.add(row[1]);
        const expression = (row[0] as { expression?: string }).expression;
        for (const m of expression?.matchAll(/MetricName="(\w+)"/g) ?? []) if (m[1]) names.add(m[1]);
      }
    return { names, body };
  };

  test('the dashboard shows every metric the functions publish, and the alarm thresholds', () => {
    const { names, body } = dashboardMetrics(deployed());
    expect([...names].sort()).toEqual([...METRIC_NAMES].sort());
    expect(JSON.stringify(body)).toContain('{"label":"alarm","value":60000}');
    expect(JSON.stringify(dashboardMetrics(deployed({ TimeToMirrorP95Ms: '30000' })).body)).toContain(
      '{"label":"alarm","value":30000}',
    );
  });

  test("a spike of rejections: the three event functions' RequestsRejected added up, over RejectedSpike in 5 minutes", () => {
    const [alarm] = alarms(deployed()).filter((a) => a.name === 'RequestsRejectedAlarm');
    const metrics = alarm?.properties.Metrics as {
      Id: string;
      Expression?: string;
      ReturnData: boolean;
      MetricStat?: {
        Stat: string;
        Period: number;
        Metric: { Namespace: string; MetricName: string; Dimensions: unknown };
      };
    }[];
    expect(metrics.filter((m) => m.ReturnData).map((m) => m.Expression)).toEqual(['SUM(METRICS("f"))']);
    expect(metrics.flatMap((m) => (m.MetricStat ? [m.MetricStat] : []))).toEqual(
      ['guardduty-finding', 'tag-change', 'instance-launch'].map((fn) => ({
        Stat: 'Sum',
        Period: 300,
        Metric: {
          Namespace: 'mirrorops',
          MetricName: 'RequestsRejected',
          Dimensions: [
            { Name: 'service', Value: 'mirrorops' },
            { Name: 'function', Value: fn },
          ],
        },
      })),
    );
    expect(metrics.filter((m) => m.MetricStat).every((m) => m.Id.startsWith('f'))).toBe(true);
    expect(alarm?.properties).toMatchObject({ Threshold: '10', ComparisonOperator: 'GreaterThanThreshold' });
    const [raised] = alarms(deployed({ RejectedSpike: '25' })).filter(
      (a) => a.name === 'RequestsRejectedAlarm',
    );
    expect(raised?.properties.Threshold).toBe('25');
  });

  test("incidents' time to packets: guardduty-finding's TimeToMirror p95 over TimeToMirrorP95Ms (a minute)", () => {
    expect(alarmNamed('TimeToMirrorAlarm')).toMatchObject({
      ...metricOf('TimeToMirror', 'guardduty-finding'),
      ExtendedStatistic: 'p95',
      Period: 300,
      Threshold: '60000',
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  test('an account the sweeper keeps failing in: SweepAccountsFailed in each of three 5-minute periods', () => {
    expect(alarmNamed('SweepAccountsFailedAlarm')).toMatchObject({
      ...metricOf('SweepAccountsFailed', 'ttl-sweeper'),
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  test('tracing is off by default (no X-Ray permission); with Tracing=true the functions are traced and may send segments', () => {
    const xrayOf = (parameters: Record<string, string>) => {
      const { resolve } = resolver(template as unknown as CfnTemplate, {
        account: HUB,
        region: 'us-east-1',
        parameters,
      });
      const modes = Object.values(template.Resources)
        .filter((r) => r.Type === 'AWS::Lambda::Function')
        .map((r) => (resolve(r.Properties.TracingConfig) as { Mode: string }).Mode);
      const roles = ['EventFunctionsRole', 'SweeperRole'].map((id) => {
        const props = resolve(template.Resources[id]?.Properties ?? {}) as {
          Policies: { PolicyDocument: { Statement: Statement[] } }[];
        };
        return props.Policies.flatMap((p) => p.PolicyDocument.Statement)
          .flatMap((st) => list(st.Action))
          .filter((a) => a.startsWith('xray:'));
      });
      return { modes, roles };
    };
    expect(xrayOf({})).toEqual({ modes: Array(4).fill('PassThrough'), roles: [[], []] });
    const segments = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'];
    expect(xrayOf({ Tracing: 'true' })).toEqual({
      modes: Array(4).fill('Active'),
      roles: [segments, segments],
    });
  });
});

describe('the share-target workflow: its log and its failures', () => {
  const machine = () => {
    // The share-target machine (sweep-fleet is the other: test/workflow/sweep-fleet.test.ts).
    const entries = Object.entries(template.Resources).filter(
      ([id, r]) => r.Type === 'AWS::StepFunctions::StateMachine' && id === 'ShareTargetStateMachine',
    );
    expect(entries).toHaveLength(1);
    const [[name, resource] = ['', { Type: '', Properties: {} } as Resource]] = entries;
    return { name, resource };
  };

  test('logs failed steps, without their data, to a log group of the stack kept 30 days', () => {
    const { resource } = machine();
    const logging = resource.Properties.LoggingConfiguration as {
      Level: string;
      IncludeExecutionData: boolean;
      Destinations: { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [string, string] } } }[];
    };
    expect({ level: logging.Level, data: logging.IncludeExecutionData }).toEqual({
      level: 'ERROR',
      data: false,
    });
    expect(logging.Destinations).toHaveLength(1);
    const [group, attribute] =
      logging.Destinations[0]?.CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'] ?? [];
    expect(attribute).toBe('Arn');
    const logGroup = template.Resources[group ?? ''];
    expect(logGroup?.Type).toBe('AWS::Logs::LogGroup');
    expect(logGroup?.Properties).toEqual({
      LogGroupName: `/aws/vendedlogs/states/mirrorops-${STAGE}-share-target`,
      RetentionInDays: 30,
    });
  });

  test('its role may deliver logs as Step Functions documents, and the machine waits for that permission', () => {
    const { resource } = machine();
    const roleName = (resource.Properties.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    // The role's own inline policies, and policies of their own attached to it.
    const role = template.Resources[roleName];
    const inline = ((role?.Properties.Policies as { PolicyDocument: unknown }[] | undefined) ?? []).flatMap(
      (p) => statementsOf(p.PolicyDocument),
    );
    const attached = Object.entries(template.Resources).filter(
      ([, r]) =>
        (r.Type === 'AWS::IAM::RolePolicy' &&
          JSON.stringify(r.Properties.RoleName) === JSON.stringify({ Ref: roleName })) ||
        (r.Type === 'AWS::IAM::Policy' &&
          JSON.stringify(r.Properties.Roles ?? []).includes(JSON.stringify({ Ref: roleName }))),
    );
    const statements = [...inline, ...attached.flatMap(([, r]) => statementsOf(r.Properties.PolicyDocument))];
    const delivery = [
      'logs:CreateLogDelivery',
      'logs:GetLogDelivery',
      'logs:UpdateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:DescribeResourcePolicies',
      'logs:DescribeLogGroups',
    ];
    for (const action of delivery) {
      const allowed = statements.some(
        (s) =>
          s.Effect === 'Allow' && list(s.Action).includes(action) && list(s.Resource as string).includes('*'),
      );
      expect({ action, allowed }).toEqual({ action, allowed: true });
    }
    // Step Functions refuses a logging configuration its role cannot deliver: a policy of its
    // own must exist before the machine is created or updated.
    for (const [name] of attached) expect(list(resource.DependsOn ?? [])).toContain(name);
  });

  test('a failed or timed-out execution of either state machine raises an alarm naming it', () => {
    const machines = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')
      .map(([id]) => id)
      .sort();
    expect(machines).toEqual(['ShareTargetStateMachine', 'SweepFleetStateMachine']);
    // sweep-fleet runs only with fleetSweep=workflow, but its alarms stand whichever way.
    const all = alarms(deployed());
    for (const name of machines) {
      for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
        const found = all.filter(
          (a) =>
            a.properties.Namespace === 'AWS/States' &&
            a.properties.MetricName === metric &&
            JSON.stringify(a.properties.Dimensions) ===
              JSON.stringify([{ Name: 'StateMachineArn', Value: { Ref: name } }]),
        );
        expect({ name, metric, found: found.length }).toEqual({ name, metric, found: 1 });
        expect(found[0]?.properties).toMatchObject({
          Statistic: 'Sum',
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
          AlarmActions: [{ Ref: 'AlarmTopic' }],
        });
      }
    }
  });
});

describe('the audit archive', () => {
  test('keeps every event of the audit bus for auditRetentionDays (365 by default, 0 for ever)', () => {
    const archives = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Events::Archive');
    expect(archives).toHaveLength(1);
    const [archive] = archives;
    expect(archive?.Properties.SourceArn).toEqual({ 'Fn::GetAtt': ['AuditBus', 'Arn'] });
    // No pattern: every event, not a selection.
    expect(archive?.Properties.EventPattern).toBeUndefined();
    expect(archive?.Properties.RetentionDays).toEqual({ Ref: 'AuditRetentionDays' });
    expect(String(template.Parameters.AuditRetentionDays?.Default)).toBe('365');
    expect(
      deployed({ AuditRetentionDays: '0' }).ofType('AWS::Events::Archive')[0]?.properties.RetentionDays,
    ).toBe('0');
  });
});

describe('reserved concurrency sized against EC2', () => {
  // EC2's mutating-call bucket per account and Region (ec2-api-throttling.html, AWS-FACTS.md).
  const BUCKET = 50;
  /**
   * Mutating calls one invocation makes at once: the finding intake's token budget (its burst,
   * MIRROROPS_EC2_MUTATING_BURST); a tag or launch event's sessions; the sweeper's deletions.
   */
  const intakeBurst = () => {
    const [, intake] =
      Object.entries(template.Resources).find(
        ([, r]) =>
          r.Type === 'AWS::Lambda::Function' &&
          r.Properties.FunctionName === `mirrorops-${STAGE}-guardduty-finding`,
      ) ?? [];
    const env = (intake?.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables;
    return Number(env?.MIRROROPS_EC2_MUTATING_BURST);
  };
  const CALLS = () => ({
    'guardduty-finding': intakeBurst(),
    'tag-change': 2,
    'instance-launch': 2,
    'ttl-sweeper': 5,
  });
  const concurrency = (fn: keyof ReturnType<typeof CALLS>) => {
    const [, resource] =
      Object.entries(template.Resources).find(
        ([, r]) =>
          r.Type === 'AWS::Lambda::Function' && r.Properties.FunctionName === `mirrorops-${STAGE}-${fn}`,
      ) ?? [];
    const reserved = resource?.Properties.ReservedConcurrentExecutions;
    const ref = (reserved as { Ref?: string } | undefined)?.Ref;
    return { reserved, value: Number(ref ? template.Parameters[ref]?.Default : reserved) };
  };

  test('each event function has a reserved concurrency, a parameter with a default', () => {
    const sizes = Object.fromEntries(
      (['guardduty-finding', 'tag-change', 'instance-launch', 'ttl-sweeper'] as const).map((fn) => [
        fn,
        concurrency(fn).value,
      ]),
    );
    expect(sizes).toEqual({
      'guardduty-finding': 1,
      'tag-change': 2,
      'instance-launch': 2,
      'ttl-sweeper': 1,
    });
    for (const fn of ['tag-change', 'instance-launch'] as const)
      expect(concurrency(fn).reserved).toEqual({ Ref: expect.any(String) });
    // The finding intake is one consumer: the high band drained before a low finding starts, one budget.
    expect(concurrency('guardduty-finding').reserved).toBe(1);
    expect(intakeBurst()).toBe(35);
  });

  test('all of them at once ask for no more mutating calls than the bucket holds', () => {
    const calls = CALLS();
    const demand = (Object.keys(calls) as (keyof typeof calls)[]).reduce(
      (sum, fn) => sum + concurrency(fn).value * calls[fn],
      0,
    );
    expect(demand).toBeLessThanOrEqual(BUCKET);
  });
});

describe('the parameters refuse what CloudFormation should refuse before the stack changes', () => {
  const pattern = (name: string) => {
    const parameter = template.Parameters[name];
    expect(parameter?.Type).toBe('String');
    return new RegExp(parameter?.AllowedPattern ?? '(?!)');
  };
  const cases: Record<string, { allowed: string[]; refused: string[] }> = {
    AlarmTopicArn: {
      allowed: [
        '',
        TOPIC_ARN,
        'arn:aws:sns:eu-central-1:123456789012:mirrorops_alarms-1',
        'arn:aws-us-gov:sns:us-gov-west-1:123456789012:alarms',
        'arn:aws-cn:sns:cn-north-1:123456789012:alarms',
      ],
      refused: [
        'security-alarms',
        'arn:aws:sns:us-east-1:123456789012',
        'arn:aws:sns:us-east-1:12345678901:alarms',
        'arn:aws:sqs:us-east-1:123456789012:alarms',
        'arn:aws:sns:us-east-1:123456789012:alarms.fifo',
        'arn:aws:sns:us-east-1:123456789012:alarms:5f2b8a6e-0000-4000-8000-000000000000',
        ` ${TOPIC_ARN}`,
      ],
    },
    AlarmEmail: {
      allowed: ['', EMAIL, 'first.last+mirrorops@security.example.co.uk'],
      refused: [
        'soc',
        'soc@example',
        '@example.com',
        'a@b@example.com',
        'soc@example.com, ir@example.com',
        'soc @example.com',
      ],
    },
    AuditRetentionDays: {
      allowed: ['0', '1', '30', '365', '3650'],
      refused: ['', '-1', '1.5', '365d', '0365', 'forever'],
    },
    TagConcurrency: {
      allowed: ['1', '2', '10', '999'],
      refused: ['', '0', '-1', '1000', '2.5', 'two', '02'],
    },
    LaunchConcurrency: { allowed: ['1', '2', '10'], refused: ['', '0', '1000'] },
    TimeToMirrorP95Ms: {
      allowed: ['1', '60000', '9999999'],
      refused: ['', '0', '1m', '60000.5', '10000000', '060000'],
    },
    RejectedSpike: { allowed: ['1', '10', '99999'], refused: ['', '0', '-1', '100000', 'ten'] },
  };

  for (const [name, { allowed, refused }] of Object.entries(cases)) {
    test(`${name}`, () => {
      const re = pattern(name);
      // CloudFormation matches the whole value: the pattern must be anchored to mean that here too.
      expect(re.source.startsWith('^') && re.source.endsWith('$')).toBe(true);
      for (const value of allowed)
        expect({ value, allowed: re.test(value) }).toEqual({ value, allowed: true });
      for (const value of refused)
        expect({ value, allowed: re.test(value) }).toEqual({ value, allowed: false });
      // The default deploys.
      const fallback = String(template.Parameters[name]?.Default ?? '');
      expect({ fallback, allowed: re.test(fallback) }).toEqual({ fallback, allowed: true });
    });
  }
});
