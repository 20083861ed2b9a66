import type { EC2Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-ec2';
import type { FinalizeRequestMiddleware, HandlerExecutionContext } from '@smithy/types';
import {
  type BucketName,
  type BucketState,
  bucketOf,
  EC2_BUCKETS,
  type Rate,
  reserve,
} from '../domain/intake.ts';

/**
 * Time for the intake, in milliseconds: a real one in Lambda; a test or benchmark gives one it
 * moves itself, shared with the emulator's token buckets, so a burst of minutes runs in seconds.
 */
export interface Clock {
  now(): number;
  /** Resolves once `now()` has reached `at`. */
  sleepUntil(at: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleepUntil: (at) =>
    new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.ceil(at - performance.now())))),
};

/**
 * A client-side copy of EC2's token buckets for this account and Region: every request waits for
 * a token its bucket will have, so a burst is spread at EC2's refill rate instead of being
 * answered RequestLimitExceeded and retried blindly. One per container; the intake runs one
 * container at a time (reserved concurrency 1), so its budget is the account's.
 */
export class TokenBudget {
  private readonly state = new Map<BucketName, BucketState>();

  constructor(
    private readonly clock: Clock,
    private readonly rates: Readonly<Record<BucketName, Rate>> = EC2_BUCKETS,
  ) {}

  /** Waits until a call drawing from `bucket` may go, and counts it. */
  async take(bucket: BucketName): Promise<void> {
    const now = this.clock.now();
    const { at, state } = reserve(this.state.get(bucket), now, this.rates[bucket]);
    this.state.set(bucket, state);
    if (at > now) await this.clock.sleepUntil(at);
  }
}

/**
 * Makes every attempt of `client`'s requests wait for its token: the middleware sits after the
 * SDK's retry middleware, so a retry counts as EC2 counts it, one more request.
 */
export function paced(client: EC2Client, budget: TokenBudget): EC2Client {
  const middleware: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> =
    (next, context: HandlerExecutionContext) => async (args) => {
      const action = (context.commandName ?? '').replace(/Command$/, '');
      await budget.take(bucketOf(action));
      return next(args);
    };
  client.middlewareStack.addRelativeTo(middleware, {
    name: 'mirroropsTokenBudget',
    relation: 'after',
    toMiddleware: 'retryMiddleware',
    override: true,
  });
  return client;
}
