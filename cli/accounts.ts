import { EC2Client } from '@aws-sdk/client-ec2';
import { RAMClient } from '@aws-sdk/client-ram';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { enrolledAccounts } from '../shared/aws/accounts.ts';
import { ec2Gateway } from '../shared/aws/ec2.ts';
import { type AccountOutcome, eachAccount } from '../shared/fleet.ts';
import { silentLogger } from '../shared/runtime/log.ts';
import type { AwsAccount } from './aws.ts';
import { type Io, UsageError } from './command.ts';

/**
 * `--all-accounts` for the operator's commands: the same command in every account mirrorops works
 * in, entered by assuming a role in each, a bounded number at once; an account that cannot be
 * entered or fails is reported with why, and the others are done.
 */
export const allAccountsFlags = {
  'all-accounts': { type: 'boolean', default: false },
  accounts: { type: 'string' },
  role: { type: 'string' },
  'external-id': { type: 'string' },
} as const;

export const ALL_ACCOUNTS_HELP = `Across accounts:
  --all-accounts    every account mirrorops works in: this one (the hub), the accounts and OUs'
                    accounts its targets are shared with (RAM), any with sessions on its targets;
                    20 at once; an account that fails is reported on stderr with why (exit 1),
                    the others are done
  --accounts IDS    with --all-accounts: only these accounts, comma-separated
  --role NAME       the role to assume in each other account (default mirrorops-spoke, which
                    trusts only the hub's functions: from a shell, name a role you may assume
                    there, such as OrganizationAccountAccessRole)
  --external-id ID  the ExternalId that role requires (else MIRROROPS_EXTERNAL_ID)`;

/** Accounts entered at once: each spends its own EC2 buckets; the bound is the shell's sockets. */
const AT_ONCE = 20;

interface AllAccountsValues {
  'all-accounts'?: boolean | undefined;
  accounts?: string | undefined;
  role?: string | undefined;
  'external-id'?: string | undefined;
  'endpoint-url'?: string | undefined;
}

/** Checks the flags before any call: the fleet ones only with --all-accounts, each well formed. */
export function checkAllAccounts(values: AllAccountsValues): void {
  if (!values['all-accounts']) {
    for (const flag of ['accounts', 'role', 'external-id'] as const)
      if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --all-accounts`);
    return;
  }
  for (const id of values.accounts?.split(',') ?? [])
    if (!/^\d{12}$/.test(id)) throw new UsageError(`--accounts: '${id}' is not a 12-digit account id`);
  if (values.role !== undefined && !/^[\w+=,.@-]{1,64}$/.test(values.role))
    throw new UsageError(`--role: '${values.role}' is not an IAM role name`);
}

/** The accounts to act in: with --accounts those, else the hub and every account enrolled with it. */
async function fleetOf(hub: AwsAccount, values: AllAccountsValues): Promise<string[]> {
  if (values.accounts !== undefined) return [...new Set(values.accounts.split(','))];
  const ram = new RAMClient({
    region: hub.region,
    credentials: hub.ec2.config.credentials,
    ...(values['endpoint-url'] ? { endpoint: values['endpoint-url'] } : {}),
  });
  const shared = await enrolledAccounts(ram, hub.account);
  // Accounts of an OU the target is shared with: seen by the sessions they made on its targets.
  const owners = new Set<string>();
  for await (const page of hub.gateway.sessionPages())
    for (const s of page) if (s.ownerId) owners.add(s.ownerId);
  return [...new Set([hub.account, ...shared, ...owners])];
}

/** The account entered through `role`, with the hub's credentials; the hub itself as it is. */
function enter(hub: AwsAccount, values: AllAccountsValues, env: NodeJS.ProcessEnv) {
  const role = values.role ?? 'mirrorops-spoke';
  const externalId = values['external-id'] ?? env.MIRROROPS_EXTERNAL_ID;
  const partition = hub.callerArn.split(':')[1] ?? 'aws';
  return async (account: string): Promise<AwsAccount> => {
    if (account === hub.account) return hub;
    const endpoint = values['endpoint-url'] ? { endpoint: values['endpoint-url'] } : {};
    const ec2 = new EC2Client({
      region: hub.region,
      ...endpoint,
      credentials: fromTemporaryCredentials({
        masterCredentials: hub.ec2.config.credentials,
        params: {
          RoleArn: `arn:${partition}:iam::${account}:role/${role}`,
          RoleSessionName: 'mirrorops-cli',
          ...(externalId ? { ExternalId: externalId } : {}),
        },
        clientConfig: { region: hub.region, ...endpoint },
      }),
    });
    // Who acts is still the operator; audit events go to the hub's bus.
    return { ...hub, account, ec2, gateway: ec2Gateway(ec2) };
  };
}

/**
 * Runs `work` in this account alone, or with --all-accounts in every account of the fleet (see
 * ALL_ACCOUNTS_HELP). Returns the results of the accounts that succeeded, in the fleet's order; each
 * account that failed is reported on stderr (`account N: why: error`) and counted.
 */
export async function inAccounts<T>(
  hub: AwsAccount,
  values: AllAccountsValues,
  io: Io,
  work: (aws: AwsAccount) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ results: T[]; failed: number }> {
  if (!values['all-accounts']) return { results: [await work(hub)], failed: 0 };
  const into = enter(hub, values, env);
  const outcomes: AccountOutcome<T>[] = await eachAccount(
    await fleetOf(hub, values),
    async (account) => work(await into(account)),
    { concurrency: AT_ONCE, log: silentLogger, task: 'cli' },
  );
  const results: T[] = [];
  let failed = 0;
  for (const o of outcomes) {
    if ('value' in o) results.push(o.value);
    else if ('error' in o) {
      failed++;
      const hint =
        o.why === 'no-access' && (values.role ?? 'mirrorops-spoke') === 'mirrorops-spoke'
          ? " (the spoke role trusts only the hub's functions: pass --role with a role you may assume there)"
          : '';
      io.err(`account ${o.account}: ${o.why}: ${(o.error.split('\n')[0] ?? '').slice(0, 300)}${hint}`);
    }
  }
  return { results, failed };
}
