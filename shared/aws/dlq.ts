import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * The dead-letter queue for events that can never succeed. Lambda's own retries are for errors
 * that may pass (throttling, a dependency down); a malformed event is sent here at once instead,
 * with the reason, so it neither burns retries nor disappears.
 */
export interface DeadLetters {
  send(functionName: string, event: unknown, reason: string): Promise<void>;
}

export function sqsDeadLetters(client: SQSClient, queueUrl: string): DeadLetters {
  return {
    async send(functionName, event, reason) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify({ function: functionName, reason, event }),
          MessageAttributes: {
            function: { DataType: 'String', StringValue: functionName },
            reason: { DataType: 'String', StringValue: reason.slice(0, 1000) },
          },
        }),
      );
    },
  };
}
