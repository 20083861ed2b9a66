import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from 'vitest';

const run = promisify(execFile);

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
interface Template {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
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

let template: Template;
let outDir: string;

// `osls package`, offline, exactly as a user runs it: the template and the bundles are what deploys.
beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'mirrorops-package-'));
  await run(
    join('node_modules', '.bin', 'osls'),
    ['package', '--package', outDir, '--param', 'targetId=tmt-0123456789abcdef0'],
    { env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' }, timeout: 240_000 },
  );
  template = JSON.parse(
    await readFile(join(outDir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
  return () => rm(outDir, { recursive: true, force: true });
}, 300_000);

const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);

function statements(): Statement[] {
  return ofType('AWS::IAM::Role').flatMap(([, role]) =>
    (
      (role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[] | undefined) ?? []
    ).flatMap((p) => p.PolicyDocument.Statement),
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

  test('no IAM statement allows every action of a service or of all services', () => {
    const actions = statements().flatMap((s) => list(s.Action));
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions) expect(action).not.toMatch(/(^\*$)|(:\*$)/);
    for (const s of statements()) expect(s.Effect).toBe('Allow');
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
    for (const s of statements()) {
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

  test('failed events are retried a bounded number of times, then kept in the dead-letter queue', () => {
    const configs = ofType('AWS::Lambda::EventInvokeConfig').map(([, c]) => c.Properties);
    const finding = configs.find((c) => JSON.stringify(c).includes('GuarddutyDashfinding'));
    expect(finding).toMatchObject({ MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 });
    expect(JSON.stringify(finding?.DestinationConfig)).toContain('DeadLetterQueue');
    const patternRules = ofType('AWS::Events::Rule').filter(([, r]) => r.Properties.EventPattern);
    expect(patternRules.length).toBe(4);
    for (const [, rule] of patternRules)
      expect(JSON.stringify(rule.Properties.Targets)).toContain('DeadLetterQueue');
    expect(ofType('AWS::CloudWatch::Alarm').length).toBeGreaterThanOrEqual(1);
  });
});

describe('the packaged share-target state machine', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub placeholder, not a template
  const AUDIT_BUS_SUB = '${AuditBus}';
  const machines = () => ofType('AWS::StepFunctions::StateMachine');
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

  test('the spoke template trusts the packaged Lambda and state machine roles by name', async () => {
    const spoke = await readFile(join('spoke', 'mirrorops-spoke.yaml'), 'utf8');
    const patterns = [...spoke.matchAll(/:role\/(mirrorops-[^\s"]+)/g)].map((m) => m[1] as string);
    const lambdaRole = template.Resources.IamRoleLambdaExecution?.Properties.RoleName as {
      'Fn::Join': [string, unknown[]];
    };
    const [separator, parts] = lambdaRole['Fn::Join'];
    const lambdaRoleName = parts.map((p) => (typeof p === 'string' ? p : 'us-east-1')).join(separator);
    for (const name of [lambdaRoleName, machineRole().RoleName])
      expect({ name, trusted: patterns.some((p) => globMatch(p, name)) }).toEqual({ name, trusted: true });
    const machineName = ofType('AWS::StepFunctions::StateMachine')[0]?.[1].Properties.StateMachineName;
    expect(spoke).toContain(':stateMachine:mirrorops-*-share-target');
    expect(globMatch('mirrorops-*-share-target', String(machineName))).toBe(true);
  });
});
