import {
  DescribeTrafficMirrorTargetsCommand,
  EC2Client,
  type EC2ServiceException,
  type TrafficMirrorTarget,
} from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AuditSink } from '../shared/aws/audit.ts';
import { ec2Client } from '../shared/aws/clients.ts';
import { type Ec2Gateway, ec2Gateway } from '../shared/aws/ec2.ts';
import { errorName } from '../shared/aws/errors.ts';
import { CredentialsError, credentialsFailure, type Io, UsageError } from './command.ts';

const LOCAL = /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\/?$/;

/**
 * Prepares the environment for AWS calls from the command line: against a local endpoint (the
 * emulator) any credentials do, so placeholders are set when none are; the Region defaults to
 * us-east-1. Real AWS uses the usual credential chain untouched. (`invoke`, which runs handlers
 * that read the environment; the operator's commands use `connect` instead.)
 */
export function prepareAwsEnv(env: NodeJS.ProcessEnv = process.env): string {
  if (LOCAL.test(env.AWS_ENDPOINT_URL ?? '') && !env.AWS_ACCESS_KEY_ID) {
    env.AWS_ACCESS_KEY_ID = '123456789012';
    env.AWS_SECRET_ACCESS_KEY = 'local';
  }
  env.AWS_REGION ??= env.AWS_DEFAULT_REGION ?? 'us-east-1';
  return env.AWS_REGION;
}

/** The EC2 gateway for the command line's account and Region, from the environment alone. */
export const cliGateway = () => ec2Gateway(ec2Client(prepareAwsEnv()));

/** The AWS CLI's global options, which the operator's commands take (`mirrorops --help`). */
export const awsFlags = {
  region: { type: 'string' },
  profile: { type: 'string' },
  'endpoint-url': { type: 'string' },
  output: { type: 'string' },
} as const;

export const AWS_FLAGS_HELP = `AWS options:
  --region R        the Region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region)
  --profile P       a profile of ~/.aws/config or ~/.aws/credentials (else AWS_PROFILE)
  --endpoint-url U  another endpoint than AWS's (else AWS_ENDPOINT_URL: the emulator's URL, say)
  --output F        table (the default), json or text (tab-separated, one record a line)`;

export type OutputFormat = 'table' | 'json' | 'text';

/** `--output`, with `--json` as its older spelling; anything else is a usage error. */
export function outputOf(values: { output?: string | undefined; json?: boolean | undefined }): OutputFormat {
  if (values.json) {
    if (values.output !== undefined && values.output !== 'json')
      throw new UsageError(`--json and --output ${values.output} contradict each other`);
    return 'json';
  }
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json' && output !== 'text')
    throw new UsageError(`--output must be table, json or text, not '${output}'`);
  return output;
}

/** One account and Region the command acts in, as whom, and its clients. */
export interface AwsAccount {
  account: string;
  region: string;
  /** The caller's ARN (STS GetCallerIdentity): who started, extended or stopped something. */
  callerArn: string;
  ec2: EC2Client;
  gateway: Ec2Gateway;
  /** The audit bus (MIRROROPS_AUDIT_BUS, else the stack's `mirrorops-audit-dev`). */
  audit: AuditSink;
  auditBus: string;
}

interface AwsOptions {
  region?: string | undefined;
  profile?: string | undefined;
  'endpoint-url'?: string | undefined;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/**
 * The account the command line acts in, as the AWS CLI would resolve it: `--region`, AWS_REGION,
 * AWS_DEFAULT_REGION, then the profile's region; `--profile`, then AWS_PROFILE and the default
 * chain; `--endpoint-url`, then AWS_ENDPOINT_URL. Against a local endpoint with no credentials
 * given, placeholders do (the emulator checks no signatures). STS GetCallerIdentity answers the
 * account and the caller's ARN, and is where missing or expired credentials show: a
 * CredentialsError naming the profile (exit 5), not the SDK's many lines.
 */
export async function connect(
  options: AwsOptions,
  io: Io,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AwsAccount> {
  const profile = options.profile ?? env.AWS_PROFILE;
  const endpoint = options['endpoint-url'] ?? env.AWS_ENDPOINT_URL;
  if (options['endpoint-url'] !== undefined && !URL.canParse(options['endpoint-url']))
    throw new UsageError(`--endpoint-url '${options['endpoint-url']}' is not a URL`);
  const local = endpoint !== undefined && LOCAL.test(endpoint);
  const placeholder =
    local && options.profile === undefined && !env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE
      ? { credentials: { accessKeyId: '123456789012', secretAccessKey: 'local' } }
      : {};
  const common = {
    ...(profile ? { profile } : {}),
    ...(options['endpoint-url'] ? { endpoint: options['endpoint-url'] } : {}),
    ...placeholder,
  };
  const who = profile ? `profile '${profile}'` : 'the default credentials';

  let region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const sts = new STSClient({ ...common, ...(region ? { region } : {}) });
  if (!region) {
    // The profile's `region`, as the SDK reads it.
    region = await sts.config.region().catch(() => undefined);
    if (!region && local) region = 'us-east-1';
    if (!region)
      throw new CredentialsError(
        `no Region: pass --region, set AWS_REGION, or give ${who} a region in ~/.aws/config`,
      );
  }
  if (!REGION.test(region)) throw new UsageError(`'${region}' is not a Region name such as us-east-1`);
  const stsHere =
    options.region || env.AWS_REGION || env.AWS_DEFAULT_REGION ? sts : new STSClient({ ...common, region });
  let identity: { Account?: string | undefined; Arn?: string | undefined };
  try {
    identity = await stsHere.send(new GetCallerIdentityCommand({}));
  } catch (error) {
    throw credentialsFailure(error, profile) ?? error;
  }
  const account = identity.Account ?? '';
  const ec2 = new EC2Client({ ...common, region });
  const auditBus = env.MIRROROPS_AUDIT_BUS || 'mirrorops-audit-dev';
  // The audit bus's client is loaded when something is published: status never does.
  let sink: Promise<AuditSink> | undefined;
  const audit: AuditSink = {
    async publish(events) {
      sink ??= Promise.all([import('@aws-sdk/client-eventbridge'), import('../shared/aws/audit.ts')]).then(
        ([{ EventBridgeClient }, { eventBridgeAudit }]) =>
          eventBridgeAudit(new EventBridgeClient({ ...common, region }), auditBus, (message, extra) =>
            io.err(`warning: ${message} on ${auditBus}: ${(extra as { error?: string }).error ?? ''}`),
          ),
      );
      return (await sink).publish(events);
    },
  };
  return {
    account,
    region,
    callerArn: identity.Arn ?? `arn:aws:iam::${account}:root`,
    ec2,
    gateway: ec2Gateway(ec2),
    audit,
    auditBus,
  };
}

/** The traffic mirror target of this id the account can use (its own, or shared with it by RAM). */
export async function visibleTarget(ec2: EC2Client, id: string): Promise<TrafficMirrorTarget | undefined> {
  try {
    const out = await ec2.send(new DescribeTrafficMirrorTargetsCommand({ TrafficMirrorTargetIds: [id] }));
    return out.TrafficMirrorTargets?.find((t) => t.TrafficMirrorTargetId === id);
  } catch (error) {
    if (errorName(error) === 'InvalidTrafficMirrorTargetId.NotFound') return undefined;
    throw error;
  }
}

/** What EC2 answered a request sent with DryRun: allowed (DryRunOperation), denied, or another error. */
export type DryRunAnswer = { allowed: true } | { allowed: false; code: string; message: string };

/**
 * Sends an EC2 request with DryRun: EC2 checks the parameters and the caller's permissions and
 * changes nothing, answering DryRunOperation when the request would have succeeded and
 * UnauthorizedOperation when it is not allowed (ec2/latest/devguide/ec2-api-dry-run.html... the
 * API's `DryRun` parameter). Any other answer is EC2's reason the request would fail.
 */
export async function dryRun(
  ec2: EC2Client,
  command: { input: { DryRun?: boolean | undefined } },
): Promise<DryRunAnswer> {
  command.input.DryRun = true;
  try {
    await ec2.send(command as never);
  } catch (error) {
    const name = errorName(error);
    if (name === 'DryRunOperation') return { allowed: true };
    const message = ((error as EC2ServiceException).message ?? '').split('\n')[0] ?? '';
    return { allowed: false, code: name || 'Error', message };
  }
  // Nothing changes under DryRun; an endpoint that answered as if it had run the request ignored it.
  return {
    allowed: false,
    code: 'DryRunIgnored',
    message: 'the endpoint ignored DryRun and ran the request',
  };
}
