import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

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
  receive(queueUrl: string, max: number, waitSeconds?: number): Promise<QueuedMessage[]>;
  delete(queueUrl: string, receiptHandle: string): Promise<void>;
}

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
      return (out.Messages ?? []).flatMap((m) =>
        m.MessageId && m.ReceiptHandle && m.Body !== undefined
          ? [{ id: m.MessageId, receiptHandle: m.ReceiptHandle, body: m.Body }]
          : [],
      );
    },
    async delete(queueUrl, receiptHandle) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
    },
  };
}
