import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Clock } from '../../shared/aws/pacing.ts';
import { must } from './topology.ts';

/**
 * A clock the test moves: a wait moves it to the instant waited for (after a turn of the event
 * loop), so minutes of EC2's refill pass in seconds. Give the emulator `() => clock.now()` too, and
 * its buckets and the intake's waits run on one time.
 */
export function virtualClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  return {
    now: () => now,
    sleepUntil: async (at) => {
      now = Math.max(now, at);
      await new Promise((resolve) => setImmediate(resolve));
    },
    advance: (ms) => {
      now += ms;
    },
  };
}

/**
 * The intake's queues and the dead-letter queue in `account`, under the names the packaged
 * template gives them (stage dev; the functions' role may use only those), and a client of the
 * account's own to put findings in them and look.
 */
export async function intakeQueues(
  url: string,
  account: string,
): Promise<{ sqs: SQSClient; high: string; low: string; deadLetters: string }> {
  const sqs = new SQSClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: account, secretAccessKey: 'test' },
  });
  const queue = async (name: string) =>
    must((await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl, name);
  return {
    sqs,
    high: await queue('mirrorops-findings-high-dev'),
    low: await queue('mirrorops-findings-low-dev'),
    deadLetters: await queue('mirrorops-dead-letters-test'),
  };
}
