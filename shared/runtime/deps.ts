import { Accounts } from '../aws/accounts.ts';
import { eventBridgeAudit } from '../aws/audit.ts';
import { eventBridgeClient, sqsClient, stsClient } from '../aws/clients.ts';
import { type DeadLetters, sqsDeadLetters } from '../aws/dlq.ts';
import { ec2Gateway } from '../aws/ec2.ts';
import { Memory } from '../memory.ts';
import type { MirrorDeps } from '../mirror.ts';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';

let accounts: Accounts | undefined;
/** One per container, kept across invocations: see Memory. */
const memory = new Memory();

/** The account access of this container, made once from the configuration. */
export function accountsFor(config: Config): Accounts {
  accounts ??= new Accounts(
    { hubAccount: config.hubAccount, spokeRoleName: config.spokeRoleName, externalId: config.externalId },
    stsClient(config.region),
  );
  return accounts;
}

/**
 * The real dependencies of the use cases for one account and Region: EC2 in that account (the
 * hub's own, or a member's through its spoke role), audit and dead letters in the hub.
 */
export async function mirrorDeps(
  config: Config,
  account: string,
  region: string,
  log: Logger,
): Promise<MirrorDeps> {
  return {
    account,
    region,
    ec2: ec2Gateway(await accountsFor(config).ec2(account, region)),
    audit: eventBridgeAudit(eventBridgeClient(config.region), config.auditBus, (message, extra) =>
      log.warn(message, extra),
    ),
    config,
    now: () => new Date(),
    log,
    memory,
  };
}

export const deadLettersFor = (config: Config) => (): DeadLetters | undefined =>
  config.deadLetterQueueUrl ? sqsDeadLetters(sqsClient(config.region), config.deadLetterQueueUrl) : undefined;
