import { Accounts } from '../aws/accounts.ts';
import { eventBridgeAudit } from '../aws/audit.ts';
import { eventBridgeClient, sqsClient } from '../aws/clients.ts';
import type { DeadLetters } from '../aws/dlq.ts';
import { ec2Gateway } from '../aws/ec2.ts';
import { paced, realClock, TokenBudget } from '../aws/pacing.ts';
import type { FindingQueues } from '../aws/queues.ts';
import { expiryFrom } from '../domain/expiry.ts';
import { EC2_BUCKETS } from '../domain/intake.ts';
import { findingToIntent } from '../events/guardduty.ts';
import { findingPreparer, type IntakeDeps } from '../intake.ts';
import { Memory } from '../memory.ts';
import type { ApplyResult, MirrorDeps } from '../mirror.ts';
import { apply } from '../mirror.ts';
import type { Config } from './config.ts';
import { functionAccount } from './function-account.ts';
import { type Logger, withKeys } from './log.ts';

let accounts: Accounts | undefined;
/** One per container, kept across invocations: see Memory. */
const memory = new Memory();

/** The account access of this container, made once from the configuration and the function's ARN. */
export function accountsFor(config: Config): Accounts {
  if (accounts) return accounts;
  const hubAccount = config.hubAccount ?? functionAccount();
  const made = new Accounts({
    hubAccount,
    spokeRoleName: config.spokeRoleName,
    externalId: config.externalId,
  });
  // Kept once the hub's account is known; until then (no invocation yet) made again when asked.
  if (hubAccount) accounts = made;
  return made;
}

/** A value made on first use, once. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make();
    made.catch(() => {
      made = undefined;
    });
    return made;
  };
}

/** The intake's queues, with SQS loaded when first received from (see clients.ts). */
function lazyQueues(region: string): FindingQueues {
  const queues = once(async () =>
    (await import('../aws/queues.ts')).sqsFindingQueues(await sqsClient(region)),
  );
  return {
    receive: async (...args) => (await queues()).receive(...args),
    delete: async (...args) => (await queues()).delete(...args),
    postpone: async (...args) => (await queues()).postpone(...args),
  };
}

/** The dead-letter queue, with SQS loaded when an event is first sent to it. */
function lazyDeadLetters(region: string, queueUrl: string): DeadLetters {
  const dlq = once(async () =>
    (await import('../aws/dlq.ts')).sqsDeadLetters(await sqsClient(region), queueUrl),
  );
  return { send: async (...args) => (await dlq()).send(...args) };
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

/** The token budget of each account and Region this container acts in; the clients it paces. */
const budgets = new Map<string, TokenBudget>();
const pacedClients = new WeakSet<object>();

/**
 * The use cases' dependencies for the finding intake: as `mirrorDeps`, with the account's EC2
 * client paced by this container's token budget for that account and Region.
 */
export async function pacedMirrorDeps(
  config: Config,
  account: string,
  region: string,
  log: Logger,
): Promise<MirrorDeps> {
  const client = await accountsFor(config).ec2(account, region);
  if (!pacedClients.has(client)) {
    const key = `${account}/${region}`;
    let budget = budgets.get(key);
    if (!budget) {
      budget = new TokenBudget(realClock, { ...EC2_BUCKETS, mutating: config.intake.mutating });
      budgets.set(key, budget);
    }
    paced(client, budget);
    pacedClients.add(client);
  }
  return mirrorDeps(config, account, region, log);
}

/**
 * What the finding intake needs in Lambda: the stack's queues, this container's clients, a real
 * clock, and each finding applied with the account's paced EC2 client.
 */
export function findingIntake(
  config: Config,
  queues: IntakeDeps['queues'],
  log: Logger,
  remainingMs: () => number,
  /** Told of each finding's result as it is applied, with the finding's updatedAt (metrics). */
  applied: (result: ApplyResult, since: Date) => void = () => undefined,
): IntakeDeps {
  return {
    queues,
    sqs: lazyQueues(config.region),
    deadLetters: deadLettersFor(config)(),
    prepare: findingPreparer(
      (event) => findingToIntent(event, config),
      (intent) => expiryFrom(config.expiry, intent.startAt, intent.lifetimeMs),
      async (intent) => {
        // Each finding's lines carry its correlation ids: findings of one invocation run side by side.
        const keyed = withKeys(log, {
          account: intent.account,
          instanceId: intent.instanceId,
          findingId: intent.findingId,
        });
        const result = await apply(
          intent,
          await pacedMirrorDeps(config, intent.account, intent.region, keyed),
        );
        applied(result, intent.startAt);
        return result;
      },
    ),
    clock: realClock,
    now: () => new Date(),
    remainingMs,
    log,
    // A low finding starts only on an empty high queue: asked of all of SQS's servers.
    emptyCheckSeconds: 1,
    // The intake queues' VisibilityTimeout in serverless.yml.
    visibilityTimeoutMs: 330_000,
  };
}

export const deadLettersFor = (config: Config) => (): DeadLetters | undefined =>
  config.deadLetterQueueUrl ? lazyDeadLetters(config.region, config.deadLetterQueueUrl) : undefined;
