import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** A message of an intake queue, as the intake needs it. */
export interface QueuedMessage {
  id: string;
  receiptHandle: string;
  body: string;
}

/**
 * The intake's queues (one per severity band, EventBridge's targets): the only module that
 * talks to SQS for them. Receiving hides a message for the queue's visibility timeout; deleting
 * it is the end of that finding.
 */
export interface FindingQueues {
  /**
   * Up to `max` messages. `mayHaveHidden`: the SDK retried the call, so an earlier attempt may
   * have received messages whose answer was lost: they stay hidden for the visibility timeout.
   */
  receive(
    queueUrl: string,
    max: number,
    waitSeconds?: number,
  ): Promise<{ messages: QueuedMessage[]; mayHaveHidden: boolean }>;
  delete(queueUrl: string, receiptHandle: string): Promise<void>;
  /** Hides a received message for `seconds` from now (its visibility timeout changed): it shows again then. */
  postpone(queueUrl: string, receiptHandle: string, seconds: number): Promise<void>;
}

/** SQS's longest visibility timeout: 12 hours (sqs-visibility-timeout.html). */
const MAX_VISIBILITY_SECONDS = 43_200;

export function sqsFindingQueues(sqs: SQSClient): FindingQueues {
  return {
    async receive(queueUrl, max, waitSeconds = 0) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, Math.max(1, max)),
          ...(waitSeconds > 0 ? { WaitTimeSeconds: waitSeconds } : {}),
        }),
      );
      const messages = (out.Messages ?? []).flatMap((m) =>
        m.MessageId && m.ReceiptHandle && m.Body !== undefined
          ? [{ id: m.MessageId, receiptHandle: m.ReceiptHandle, body: m.Body }]
          : [],
      );
      return { messages, mayHaveHidden: (out.$metadata.attempts ?? 1) > 1 };
    },
    async delete(queueUrl, receiptHandle) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
    },
    async postpone(queueUrl, receiptHandle, seconds) {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(seconds))),
        }),
      );
    },
  };
}
