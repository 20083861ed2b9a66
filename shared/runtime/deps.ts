import { eventBridgeAudit } from '../aws/audit.ts';
import { ec2Client, eventBridgeClient, sqsClient } from '../aws/clients.ts';
import { type DeadLetters, sqsDeadLetters } from '../aws/dlq.ts';
import { ec2Gateway } from '../aws/ec2.ts';
import type { MirrorDeps } from '../mirror.ts';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';

/** The real dependencies of the use cases for one account and Region. */
export function mirrorDeps(config: Config, account: string, region: string, log: Logger): MirrorDeps {
  return {
    account,
    region,
    ec2: ec2Gateway(ec2Client(region)),
    audit: eventBridgeAudit(eventBridgeClient(config.region), config.auditBus, (message, extra) =>
      log.warn(message, extra),
    ),
    config,
    now: () => new Date(),
    log,
  };
}

export const deadLettersFor = (config: Config) => (): DeadLetters | undefined =>
  config.deadLetterQueueUrl ? sqsDeadLetters(sqsClient(config.region), config.deadLetterQueueUrl) : undefined;
