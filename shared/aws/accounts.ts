import { EC2Client } from '@aws-sdk/client-ec2';
import type { RAMClient } from '@aws-sdk/client-ram';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { TAG } from '../domain/tags.ts';
import { ec2Client } from './clients.ts';

/**
 * Clients for the account an event is about. The hub's own account uses the Lambda's role; a
 * member account is reached by assuming its spoke role (`mirrorops-spoke`, with the ExternalId the
 * spoke template trusts). Credentials are cached by the SDK's provider and refreshed before they
 * expire; one EC2 client per account and Region lives as long as the Lambda container.
 */
export interface AccountSettings {
  /**
   * The hub's account: from configuration (the stack passes AWS::AccountId), else the account of
   * the function's own ARN (the Lambda context's invokedFunctionArn). Never a round trip to STS.
   */
  hubAccount: string | undefined;
  spokeRoleName: string;
  externalId: string | undefined;
}

export class AccountAccessError extends Error {
  override name = 'AccountAccessError';
}

export class Accounts {
  private readonly clients = new Map<string, EC2Client>();

  constructor(private readonly settings: AccountSettings) {}

  /** The hub's account (see AccountSettings.hubAccount). */
  hubAccount(): Promise<string> {
    const { hubAccount } = this.settings;
    if (hubAccount) return Promise.resolve(hubAccount);
    return Promise.reject(
      new Error(
        "the hub's account is not known: set MIRROROPS_HUB_ACCOUNT_ID, or run in Lambda (the function's ARN names it)",
      ),
    );
  }

  /** An EC2 client acting in `account`. */
  async ec2(account: string, region: string): Promise<EC2Client> {
    if (account === (await this.hubAccount())) return ec2Client(region);
    const key = `${account}/${region}`;
    let client = this.clients.get(key);
    if (!client) {
      const { externalId, spokeRoleName } = this.settings;
      client = new EC2Client({
        region,
        // Without an ExternalId no spoke role can be assumed: every call says so (and the use
        // cases turn that into a rejection naming the account).
        credentials: !externalId
          ? () =>
              Promise.reject(
                new AccountAccessError(
                  `account ${account} is not the hub's, and MIRROROPS_EXTERNAL_ID is not set to assume its ${spokeRoleName} role`,
                ),
              )
          : fromTemporaryCredentials({
              params: {
                RoleArn: `arn:aws:iam::${account}:role/${spokeRoleName}`,
                RoleSessionName: 'mirrorops',
                ExternalId: externalId,
                DurationSeconds: 3600,
              },
              clientConfig: { region },
            }),
      });
      this.clients.set(key, client);
    }
    return client;
  }
}

/**
 * The accounts enrolled with the hub: the principals of mirrorops' resource shares (tagged
 * mirrorops:managed=true) whose association is complete, plus the hub itself.
 */
export async function enrolledAccounts(ram: RAMClient, hubAccount: string): Promise<string[]> {
  // RAM's commands are loaded with its client, when first used (see clients.ts).
  const { paginateGetResourceShareAssociations, paginateGetResourceShares } = await import(
    '@aws-sdk/client-ram'
  );
  const arns: string[] = [];
  // Every page: RAM answers GetResourceShares in pages too (nextToken), one share per target.
  for await (const page of paginateGetResourceShares(
    { client: ram },
    {
      resourceOwner: 'SELF',
      resourceShareStatus: 'ACTIVE',
      tagFilters: [{ tagKey: TAG.managed, tagValues: ['true'] }],
    },
  )) {
    for (const s of page.resourceShares ?? []) if (s.resourceShareArn) arns.push(s.resourceShareArn);
  }
  const accounts = new Set([hubAccount]);
  if (arns.length === 0) return [...accounts];
  for await (const page of paginateGetResourceShareAssociations(
    { client: ram },
    { associationType: 'PRINCIPAL', resourceShareArns: arns, associationStatus: 'ASSOCIATED' },
  )) {
    for (const a of page.resourceShareAssociations ?? []) {
      if (a.associatedEntity && /^\d{12}$/.test(a.associatedEntity)) accounts.add(a.associatedEntity);
    }
  }
  return [...accounts];
}

/**
 * Why work in an account failed, in the words an operator acts on:
 * - `no-access`: its role could not be assumed (missing, not trusting the hub, wrong ExternalId:
 *   STS answers AccessDenied for each alike), or no ExternalId is configured;
 * - `throttled`: EC2 or STS refused for rate (RequestLimitExceeded, Throttling), after the SDK's retries;
 * - `denied`: the role was assumed but EC2 refused the call (UnauthorizedOperation: its policy);
 * - `failed`: anything else (a 5xx after retries, the network).
 * STS error codes: AWS STS API reference, AssumeRole "Errors"; EC2's: errors-overview.html.
 */
export type AccountFailure = 'no-access' | 'throttled' | 'denied' | 'failed';

export function accountFailure(error: unknown): AccountFailure {
  const name = error instanceof Error ? error.name : '';
  if (error instanceof AccountAccessError) return 'no-access';
  if (
    /^(RequestLimitExceeded|Throttling|ThrottlingException|TooManyRequestsException|RequestThrottled)$/.test(
      name,
    )
  )
    return 'throttled';
  // STS's refusals of AssumeRole (the credential provider rethrows them as they are).
  if (
    /^(AccessDenied|AccessDeniedException|ExpiredToken|RegionDisabledException|InvalidClientTokenId)$/.test(
      name,
    )
  )
    return 'no-access';
  if (/^(UnauthorizedOperation|AuthFailure|Blocked|OptInRequired)$/.test(name)) return 'denied';
  return 'failed';
}
