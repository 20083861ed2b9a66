import {
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  type EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { vi } from 'vitest';
import type { CheckResult } from '../../cli/doctor/checks.ts';
import { main } from '../../cli/main.ts';
import { iamFor, type Keys, keysFrom, stsFor, trustPolicy } from './accounts.ts';
import { must } from './topology.ts';

export interface Doctored {
  code: number;
  checks: CheckResult[];
  err: string[];
}

/** `mirrorops doctor ARGS` in process, as the account's root against the emulator: code and lines. */
export async function doctorLines(
  url: string,
  account: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const unset = ['AWS_PROFILE', 'AWS_DEFAULT_REGION', 'AWS_SESSION_TOKEN', 'MIRROROPS_TARGET_ID'];
  for (const key of [...unset, 'MIRROROPS_TARGETS_BY_VPC', 'MIRROROPS_TARGETS_BY_REGION'])
    vi.stubEnv(key, undefined);
  vi.stubEnv('AWS_ENDPOINT_URL', url);
  vi.stubEnv('AWS_ACCESS_KEY_ID', account);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  try {
    const code = await main(['doctor', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  } finally {
    vi.unstubAllEnvs();
  }
}

/** `mirrorops doctor ARGS --output json`: the exit code and the checks. */
export async function doctor(
  url: string,
  account: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Doctored> {
  const { code, out, err } = await doctorLines(url, account, [...args, '--output', 'json'], env);
  const parsed = out.length > 0 ? (JSON.parse(out.join('\n')) as { checks: CheckResult[] }) : { checks: [] };
  return { code, checks: parsed.checks, err };
}

/** The lines of one check. */
export const lines = (d: Doctored, check: string) => d.checks.filter((c) => c.check === check);
export const statuses = (d: Doctored, check: string) => lines(d, check).map((c) => c.status);

/** A running instance of this type in the subnet, in these groups: its id, primary ENI and address. */
export async function instanceIn(ec2: EC2Client, subnetId: string, type: string, groupIds: string[] = []) {
  const out = await ec2.send(
    new RunInstancesCommand({
      MinCount: 1,
      MaxCount: 1,
      ImageId: 'ami-12345678',
      InstanceType: type as RunInstancesCommand['input']['InstanceType'],
      SubnetId: subnetId,
      ...(groupIds.length > 0 ? { SecurityGroupIds: groupIds } : {}),
    }),
  );
  const instance = must(out.Instances?.[0], 'Instances[0]');
  return {
    instanceId: must(instance.InstanceId, 'InstanceId'),
    eniId: must(instance.NetworkInterfaces?.[0]?.NetworkInterfaceId, 'ENI'),
    address: must(instance.PrivateIpAddress, 'PrivateIpAddress'),
  };
}

/** A session on the ENI to the target, with its own filter and these tags. */
export async function session(
  ec2: EC2Client,
  eniId: string,
  targetId: string,
  number: number,
  tags: Record<string, string> = {},
) {
  const filterId = must(
    (await ec2.send(new CreateTrafficMirrorFilterCommand({}))).TrafficMirrorFilter?.TrafficMirrorFilterId,
    'filter',
  );
  const entries = Object.entries(tags);
  const out = await ec2.send(
    new CreateTrafficMirrorSessionCommand({
      NetworkInterfaceId: eniId,
      TrafficMirrorTargetId: targetId,
      TrafficMirrorFilterId: filterId,
      SessionNumber: number,
      ...(entries.length > 0
        ? {
            TagSpecifications: [
              {
                ResourceType: 'traffic-mirror-session',
                Tags: entries.map(([Key, Value]) => ({ Key, Value })),
              },
            ],
          }
        : {}),
    }),
  );
  return must(out.TrafficMirrorSession?.TrafficMirrorSessionId, 'session');
}

/** Keys of a session of a new role of the account that is allowed these actions on `*` only. */
export async function sessionAllowed(url: string, account: string, actions: string[]): Promise<Keys> {
  const iam = iamFor(url, account);
  const name = `allowed-${actions.length}-${Math.random().toString(36).slice(2, 8)}`;
  await iam.send(
    new CreateRoleCommand({
      RoleName: name,
      AssumeRolePolicyDocument: trustPolicy(`arn:aws:iam::${account}:root`),
    }),
  );
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: name,
      PolicyName: 'allowed',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }],
      }),
    }),
  );
  const assumed = await stsFor(url, account).send(
    new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/${name}`, RoleSessionName: 'test' }),
  );
  return keysFrom(assumed.Credentials);
}
