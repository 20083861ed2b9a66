import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { inject } from 'vitest';
import type { Keys } from './accounts.ts';
import { iamFor } from './accounts.ts';
import { parseTemplate } from './cloudformation.ts';
import { PACKAGED_TARGET } from './global-setup.ts';

/**
 * The IAM roles of mirrorops' templates, made in the emulator from the templates themselves (the
 * hub's as `osls package` writes it, the spoke's as it is in spoke/), so that tests run the
 * handlers and the workflow with the permissions a deployment gives them, not with an account's
 * root. The emulator authorizes every request of a role session against the role's policies.
 */

type Node = Record<string, unknown>;
export interface CfnTemplate {
  Parameters?: Record<string, { Type: string; Default?: unknown }>;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, { Type: string; Properties?: Node; Condition?: string }>;
  Outputs?: Record<string, { Value: unknown }>;
}

/** What a resource stands for once deployed: `Ref` and its attributes (`Arn`, `QueueName`...). */
export interface Physical {
  ref: string;
  attributes: Record<string, string>;
}

export interface StackContext {
  account: string;
  region: string;
  /** Stack parameters over their defaults (a CommaDelimitedList as one comma-separated string). */
  parameters?: Record<string, string>;
  /** Deployed values of resources that the default naming does not give (e.g. a queue's URL). */
  physical?: Record<string, Physical>;
}

const NO_VALUE = Symbol('AWS::NoValue');

/** What CloudFormation would call a resource of this type, from its properties (or its logical id). */
function physicalOf(
  id: string,
  type: string,
  props: Node,
  c: StackContext,
  resolve: (v: unknown) => unknown,
) {
  const { account, region } = c;
  const named = (key: string, fallback: string) => String(resolve(props[key]) ?? fallback);
  switch (type) {
    case 'AWS::IAM::Role': {
      const name = named('RoleName', `stack-${id}`);
      return {
        ref: name,
        attributes: { Arn: `arn:aws:iam::${account}:role${String(resolve(props.Path) ?? '/')}${name}` },
      };
    }
    case 'AWS::Events::EventBus': {
      const name = named('Name', id);
      return {
        ref: name,
        attributes: { Arn: `arn:aws:events:${region}:${account}:event-bus/${name}`, Name: name },
      };
    }
    case 'AWS::SQS::Queue': {
      const name = named('QueueName', id);
      return {
        ref: `https://sqs.${region}.amazonaws.com/${account}/${name}`,
        attributes: { Arn: `arn:aws:sqs:${region}:${account}:${name}`, QueueName: name },
      };
    }
    case 'AWS::Logs::LogGroup': {
      const name = named('LogGroupName', id);
      return { ref: name, attributes: { Arn: `arn:aws:logs:${region}:${account}:log-group:${name}:*` } };
    }
    case 'AWS::StepFunctions::StateMachine': {
      const name = named('StateMachineName', id);
      const arn = `arn:aws:states:${region}:${account}:stateMachine:${name}`;
      return { ref: arn, attributes: { Arn: arn, Name: name } };
    }
    case 'AWS::Lambda::Function': {
      const name = named('FunctionName', id);
      return { ref: name, attributes: { Arn: `arn:aws:lambda:${region}:${account}:function:${name}` } };
    }
    case 'AWS::SNS::Topic': {
      const arn = `arn:aws:sns:${region}:${account}:${named('TopicName', id)}`;
      return { ref: arn, attributes: { TopicArn: arn } };
    }
    default:
      return { ref: id, attributes: { Arn: `arn:aws:cloudformation:${region}:${account}:resource/${id}` } };
  }
}

/**
 * A CloudFormation template's values worked out as CloudFormation would for one account and
 * Region: `Ref`, `Fn::GetAtt`, `Fn::Sub` (both forms), `Fn::Join`, `Fn::Select`, `Fn::Split`,
 * `Fn::If` with the template's Conditions (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`,
 * `Condition`), and `AWS::NoValue`. Anything else is an error naming it, so a template using an
 * intrinsic this does not know fails the test instead of deploying something else.
 */
export function resolver(template: CfnTemplate, c: StackContext) {
  const parameters: Record<string, string> = {};
  for (const [name, p] of Object.entries(template.Parameters ?? {})) {
    const value = c.parameters?.[name] ?? (p.Default === undefined ? undefined : String(p.Default));
    if (value !== undefined) parameters[name] = value;
  }
  const pseudo: Record<string, string> = {
    'AWS::AccountId': c.account,
    'AWS::Region': c.region,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': 'mirrorops-test',
  };
  const physical = new Map<string, Physical>(Object.entries(c.physical ?? {}));

  const physicalFor = (id: string): Physical => {
    let known = physical.get(id);
    if (!known) {
      const resource = template.Resources[id];
      if (!resource) throw new Error(`template: no resource ${id}`);
      known = physicalOf(id, resource.Type, resource.Properties ?? {}, c, resolve);
      physical.set(id, known);
    }
    return known;
  };

  const ref = (name: string): unknown => {
    if (name === 'AWS::NoValue') return NO_VALUE;
    if (name in pseudo) return pseudo[name];
    if (name in parameters) {
      const type = template.Parameters?.[name]?.Type ?? 'String';
      return type.startsWith('CommaDelimitedList') || type.startsWith('List<')
        ? (parameters[name] as string).split(',')
        : parameters[name];
    }
    if (name in (template.Parameters ?? {})) throw new Error(`template: parameter ${name} has no value`);
    return physicalFor(name).ref;
  };

  const getAtt = (id: string, attribute: string): string => {
    const value = physicalFor(id).attributes[attribute];
    if (value === undefined) throw new Error(`template: no attribute ${attribute} known for ${id}`);
    return value;
  };

  const sub = (text: string, vars: Record<string, unknown>): string =>
    text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
      if (name in vars) return String(vars[name]);
      const dot = name.indexOf('.');
      return dot > 0 ? getAtt(name.slice(0, dot), name.slice(dot + 1)) : String(ref(name));
    });

  const condition = (name: string): boolean => {
    const expression = template.Conditions?.[name];
    if (expression === undefined) throw new Error(`template: no condition ${name}`);
    return Boolean(resolve(expression));
  };

  function resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(resolve).filter((v) => v !== NO_VALUE);
    if (!value || typeof value !== 'object') return value;
    const node = value as Node;
    const keys = Object.keys(node);
    const [key] = keys;
    if (keys.length === 1 && key && (key === 'Ref' || key.startsWith('Fn::') || key === 'Condition')) {
      const arg = node[key];
      switch (key) {
        case 'Ref':
          return ref(String(arg));
        case 'Condition':
          return condition(String(arg));
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split(/\.(.*)/);
          return getAtt(String(id), String(attribute));
        }
        case 'Fn::Sub': {
          if (typeof arg === 'string') return sub(arg, {});
          const [text, vars] = arg as [string, Node];
          return sub(text, resolve(vars) as Record<string, unknown>);
        }
        case 'Fn::Join': {
          const [separator, items] = arg as [string, unknown];
          return (resolve(items) as unknown[]).map(String).join(separator);
        }
        case 'Fn::Select': {
          const [index, items] = arg as [unknown, unknown];
          return (resolve(items) as unknown[])[Number(resolve(index))];
        }
        case 'Fn::Split': {
          const [separator, text] = arg as [string, unknown];
          return String(resolve(text)).split(separator);
        }
        case 'Fn::If': {
          const [name, yes, no] = arg as [string, unknown, unknown];
          return resolve(condition(name) ? yes : no);
        }
        case 'Fn::Equals': {
          const [a, b] = (arg as unknown[]).map(resolve);
          return JSON.stringify(a) === JSON.stringify(b);
        }
        case 'Fn::Not':
          return !(resolve((arg as unknown[])[0]) as boolean);
        case 'Fn::And':
          return (arg as unknown[]).every((c) => resolve(c) === true);
        case 'Fn::Or':
          return (arg as unknown[]).some((c) => resolve(c) === true);
        default:
          throw new Error(`template: ${key} is not supported by the test resolver`);
      }
    }
    const out: Node = {};
    for (const [k, v] of Object.entries(node)) {
      const resolved = resolve(v);
      if (resolved !== NO_VALUE) out[k] = resolved;
    }
    return out;
  }

  return { resolve, physicalFor, condition, parameters };
}

export interface DeployedRole {
  logicalId: string;
  name: string;
  arn: string;
}

/**
 * Creates every AWS::IAM::Role of the template in `c.account` through the emulator's IAM: its
 * trust policy, inline policies, attached managed policies and boundary, as CloudFormation would.
 * A role that already exists (another test of the file made it) gets its inline policies put again.
 */
export async function deployRoles(
  url: string,
  template: CfnTemplate,
  c: StackContext,
): Promise<Record<string, DeployedRole>> {
  const { resolve, physicalFor, condition } = resolver(template, c);
  const iam = iamFor(url, c.account);
  const roles: Record<string, DeployedRole> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Role') continue;
    if (resource.Condition && !condition(resource.Condition)) continue;
    const props = resolve(resource.Properties ?? {}) as Node;
    const { ref: name, attributes } = physicalFor(id);
    const exists = await iam.send(new GetRoleCommand({ RoleName: name })).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await iam.send(
        new CreateRoleCommand({
          RoleName: name,
          AssumeRolePolicyDocument: JSON.stringify(props.AssumeRolePolicyDocument),
          ...(typeof props.Path === 'string' ? { Path: props.Path } : {}),
          ...(typeof props.PermissionsBoundary === 'string'
            ? { PermissionsBoundary: props.PermissionsBoundary }
            : {}),
        }),
      );
    }
    for (const policy of (props.Policies ?? []) as { PolicyName: string; PolicyDocument: unknown }[]) {
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: name,
          PolicyName: policy.PolicyName,
          PolicyDocument: JSON.stringify(policy.PolicyDocument),
        }),
      );
    }
    for (const arn of (props.ManagedPolicyArns ?? []) as string[]) {
      await iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: arn }));
    }
    roles[id] = { logicalId: id, name, arn: attributes.Arn as string };
  }
  return roles;
}

/** Removes one inline policy statement by Sid from a deployed role (to show a test then fails). */
export async function withoutPolicy(
  url: string,
  account: string,
  role: string,
  policyName: string,
): Promise<void> {
  await iamFor(url, account).send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: policyName }));
}

/**
 * Credentials of a role as an AWS service gets them for it (Lambda for a function's execution role,
 * Step Functions for a state machine's): the emulator checks the role's trust policy for that service.
 */
export async function serviceCredentials(
  url: string,
  roleArn: string,
  service: 'lambda.amazonaws.com' | 'states.amazonaws.com',
  sourceAccount?: string,
): Promise<Keys> {
  const response = await fetch(`${url}/_emulator/service-credentials`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ roleArn, service, ...(sourceAccount ? { sourceAccount } : {}) }),
  });
  const body = (await response.json()) as {
    accessKeyId?: string;
    secretAccessKey?: string;
    sessionToken?: string;
    message?: string;
  };
  if (!response.ok || !body.accessKeyId || !body.secretAccessKey || !body.sessionToken) {
    throw new Error(`${service} cannot assume ${roleArn}: ${body.message ?? response.status}`);
  }
  return {
    accessKeyId: body.accessKeyId,
    secretAccessKey: body.secretAccessKey,
    sessionToken: body.sessionToken,
  };
}

let packaged: string | undefined;

/**
 * The hub stack as `osls package` wrote it: vitest's global setup packages it once per run;
 * outside vitest (a benchmark), it is packaged here once per process.
 */
export function hubTemplate(): CfnTemplate {
  packaged ??= templateFromVitest() ?? packageNow();
  return JSON.parse(readFileSync(packaged, 'utf8')) as CfnTemplate;
}

function templateFromVitest(): string | undefined {
  try {
    return inject('hubTemplatePath');
  } catch {
    return undefined;
  }
}

function packageNow(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mirrorops-package-'));
  execFileSync(
    join('node_modules', '.bin', 'osls'),
    ['package', '--package', dir, '--param', `targetId=${PACKAGED_TARGET}`],
    {
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
      stdio: 'ignore',
      timeout: 240_000,
    },
  );
  return join(dir, 'cloudformation-template-update-stack.json');
}

/** The spoke template, as a member account deploys it. */
export function spokeTemplate(): CfnTemplate {
  return parseTemplate(
    readFileSync(new URL('../../spoke/mirrorops-spoke.yaml', import.meta.url), 'utf8'),
  ) as CfnTemplate;
}

/** The hub's roles, by what runs as them. */
export const HUB_ROLES = {
  'guardduty-finding': 'EventFunctionsRole',
  'tag-change': 'EventFunctionsRole',
  'instance-launch': 'EventFunctionsRole',
  'ttl-sweeper': 'SweeperRole',
  'share-target': 'ShareTargetRole',
} as const;
export type HubPrincipal = keyof typeof HUB_ROLES;

export interface HubDeployment {
  roles: Record<string, DeployedRole>;
  /** The stack's outputs, as CloudFormation would give them (what the spoke stack is told). */
  outputs: Record<string, string>;
  /** Credentials of the role `who` runs as, as Lambda or Step Functions would get them. */
  credentials(who: HubPrincipal): Promise<Keys>;
}

/**
 * The hub stack's roles deployed in `account`, for a target, an audit bus and a dead-letter queue
 * of the test's making (the names the template gives them are replaced by the test's).
 */
export async function deployHub(
  url: string,
  c: {
    account: string;
    region?: string;
    targetId: string;
    auditBus: string;
    deadLetterQueue?: string;
    parameters?: Record<string, string>;
  },
): Promise<HubDeployment> {
  const region = c.region ?? 'us-east-1';
  const queue = c.deadLetterQueue ?? 'mirrorops-dead-letters-test';
  const template = hubTemplate();
  const context: StackContext = {
    account: c.account,
    region,
    parameters: { TargetId: c.targetId, ...c.parameters },
    physical: {
      AuditBus: {
        ref: c.auditBus,
        attributes: {
          Arn: `arn:aws:events:${region}:${c.account}:event-bus/${c.auditBus}`,
          Name: c.auditBus,
        },
      },
      DeadLetterQueue: {
        ref: `${url}/${c.account}/${queue}`,
        attributes: { Arn: `arn:aws:sqs:${region}:${c.account}:${queue}`, QueueName: queue },
      },
    },
  };
  const roles = await deployRoles(url, template, context);
  const { resolve } = resolver(template, context);
  const outputs = Object.fromEntries(
    Object.entries(template.Outputs ?? {}).map(([name, output]) => [name, String(resolve(output.Value))]),
  );
  return {
    roles,
    outputs,
    credentials(who) {
      const role = roles[HUB_ROLES[who]];
      if (!role) throw new Error(`the hub template has no ${HUB_ROLES[who]}`);
      const service = who === 'share-target' ? 'states.amazonaws.com' : 'lambda.amazonaws.com';
      return serviceCredentials(url, role.arn, service, c.account);
    },
  };
}

/**
 * The spoke template's role in a member account, trusting the hub's roles as the hub stack's
 * outputs name them, with the ExternalId the hub's functions pass.
 */
export async function deploySpoke(
  url: string,
  c: {
    account: string;
    hub: string;
    externalId: string;
    hubOutputs: Record<string, string>;
    region?: string;
  },
): Promise<DeployedRole> {
  const output = (name: string) => {
    const value = c.hubOutputs[name];
    if (value === undefined) throw new Error(`the hub stack has no output ${name}`);
    return value;
  };
  const roles = await deployRoles(url, spokeTemplate(), {
    account: c.account,
    region: c.region ?? 'us-east-1',
    parameters: {
      HubAccountId: c.hub,
      ExternalId: c.externalId,
      HubFunctionRoleArns: output('HubFunctionRoleArns'),
      HubShareTargetRoleArn: output('HubShareTargetRoleArn'),
      // HubEventBusArn left out: the hub's default bus in the stack's Region.
    },
  });
  const spoke = roles.SpokeRole;
  if (!spoke) throw new Error('the spoke template has no SpokeRole');
  return spoke;
}
