import {
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { allFilters, allSessions, eniTarget, freshClient } from './mirroring.ts';
import { createNetwork, launch, must, type Network } from './topology.ts';

/** What a run of `main` wrote and returned. */
export interface Ran {
  code: number;
  out: string[];
  err: string[];
  /** stdout as one string. */
  stdout: string;
}

export const AUDIT_BUS = 'mirrorops-audit-cli-test';

/**
 * A responder's account on the emulator: a VPC, a subnet, an instance with one ENI and a target
 * on an appliance ENI; the command line runs in process as the account's root, through the SDK.
 */
export interface Responder {
  url: string;
  account: string;
  ec2: EC2Client;
  network: Network;
  instanceId: string;
  eniId: string;
  targetId: string;
  /** `mirrorops ARGS` in process, with this account's credentials and the emulator's endpoint. */
  run(
    argv: string[],
    env?: Record<string, string | undefined>,
    shutdown?: AbortSignal,
    onLine?: (line: string) => void,
  ): Promise<Ran>;
  /** Everything EC2 holds of mirroring in the account: to compare before and after a failure. */
  state(): Promise<unknown>;
  /** The audit events the emulator kept for this account. */
  audit(): Promise<{ 'detail-type': string; detail: Record<string, unknown> }[]>;
  /** Another ENI attached to the instance (device index `index`). */
  attachEni(index: number): Promise<string>;
}

/** Runs `main` with these variables set for the run only (vi.stubEnv), capturing its lines. */
export async function runMain(
  argv: string[],
  env: Record<string, string | undefined>,
  shutdown?: AbortSignal,
  onLine?: (line: string) => void,
): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  for (const key of [
    'AWS_PROFILE',
    'AWS_DEFAULT_REGION',
    'AWS_REGION',
    'AWS_SESSION_TOKEN',
    'MIRROROPS_TARGET_ID',
  ])
    vi.stubEnv(key, undefined);
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  try {
    const io = {
      out: (l: string) => {
        out.push(l);
        onLine?.(l);
      },
      err: (l: string) => err.push(l),
    };
    const code = await main(argv, io, shutdown);
    return { code, out, err, stdout: out.join('\n') };
  } finally {
    vi.unstubAllEnvs();
  }
}

export async function responder(url: string): Promise<Responder> {
  const { ec2, account } = freshClient(url);
  const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.0.0/20' });
  const [source, appliance] = await Promise.all([
    launch(ec2, network.subnetId),
    ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId })),
  ]);
  const targetId = await eniTarget(ec2, must(appliance.NetworkInterface?.NetworkInterfaceId, 'appliance'));
  const base = {
    AWS_ENDPOINT_URL: url,
    AWS_ACCESS_KEY_ID: account,
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    MIRROROPS_AUDIT_BUS: AUDIT_BUS,
  };
  return {
    url,
    account,
    ec2,
    network,
    instanceId: source.instanceId,
    eniId: source.eniId,
    targetId,
    run: (argv, env = {}, shutdown, onLine) => runMain(argv, { ...base, ...env }, shutdown, onLine),
    async state() {
      const [sessions, filters] = await Promise.all([allSessions(ec2), allFilters(ec2)]);
      return { sessions, filters };
    },
    async audit() {
      const response = await fetch(`${url}/_emulator/events?bus=${AUDIT_BUS}`);
      const all = (await response.json()) as {
        account: string;
        'detail-type': string;
        detail: Record<string, unknown>;
      }[];
      return all.filter((e) => e.account === account);
    },
    async attachEni(index) {
      const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }));
      const eniId = must(eni.NetworkInterface?.NetworkInterfaceId, 'ENI');
      await ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: eniId,
          InstanceId: source.instanceId,
          DeviceIndex: index,
        }),
      );
      return eniId;
    },
  };
}
