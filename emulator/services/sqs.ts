import { createHash, randomUUID } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { JsonCtx, JsonService } from './json.ts';
import { str } from './json.ts';

export interface StoredMessage {
  messageId: string;
  body: string;
  attributes: Record<string, unknown>;
  receiptHandle?: string;
}

export interface Queue {
  name: string;
  url: string;
  messages: StoredMessage[];
}

const noQueue = (url: string) =>
  new ApiError('QueueDoesNotExist', `The specified queue ${url} does not exist.`);

function queueAt(ctx: JsonCtx): Queue {
  const url = str(ctx.input, 'QueueUrl', true);
  const queue = ctx.world.queues.get(url);
  if (!queue) throw noQueue(url);
  return queue;
}

/**
 * The SQS operations mirrorops uses (its dead-letter queue), on the JSON 1.0 protocol. Messages
 * are kept in order; a received message stays until deleted (no visibility timeout here).
 */
export const sqsService: JsonService = {
  prefix: 'AmazonSQS',
  contentType: 'application/x-amz-json-1.0',
  errorNamespace: 'com.amazonaws.sqs',
  operations: {
    CreateQueue({ account, world, input, baseUrl }) {
      const name = str(input, 'QueueName', true);
      if (!/^[A-Za-z0-9_-]{1,80}(\.fifo)?$/.test(name)) {
        throw new ApiError('InvalidParameterValue', `Queue name '${name}' is not valid`);
      }
      // On the emulator's own host: the SDK sends a queue's calls to its URL's host.
      const url = `${baseUrl}/${account}/${name}`;
      if (!world.queues.has(url)) world.queues.set(url, { name, url, messages: [] });
      return { QueueUrl: url };
    },
    GetQueueUrl({ account, world, input, baseUrl }) {
      const name = str(input, 'QueueName', true);
      const url = `${baseUrl}/${account}/${name}`;
      if (!world.queues.has(url)) throw noQueue(name);
      return { QueueUrl: url };
    },
    SendMessage(ctx) {
      const queue = queueAt(ctx);
      const body = str(ctx.input, 'MessageBody', true);
      if (body.length === 0 || Buffer.byteLength(body) > 256 * 1024) {
        throw new ApiError('InvalidParameterValue', 'MessageBody must be 1 byte to 256 KiB');
      }
      const attributes = (ctx.input.MessageAttributes ?? {}) as Record<string, unknown>;
      const message = { messageId: randomUUID(), body, attributes };
      queue.messages.push(message);
      return { MessageId: message.messageId, MD5OfMessageBody: createHash('md5').update(body).digest('hex') };
    },
    ReceiveMessage(ctx) {
      const queue = queueAt(ctx);
      const max = Number(ctx.input.MaxNumberOfMessages ?? 1);
      if (!Number.isInteger(max) || max < 1 || max > 10) {
        throw new ApiError('InvalidParameterValue', 'MaxNumberOfMessages must be between 1 and 10');
      }
      const messages = queue.messages.slice(0, max).map((m) => {
        m.receiptHandle = randomUUID();
        return {
          MessageId: m.messageId,
          ReceiptHandle: m.receiptHandle,
          Body: m.body,
          MD5OfBody: createHash('md5').update(m.body).digest('hex'),
          MessageAttributes: m.attributes,
        };
      });
      return { Messages: messages };
    },
    DeleteMessage(ctx) {
      const queue = queueAt(ctx);
      const handle = str(ctx.input, 'ReceiptHandle', true);
      const index = queue.messages.findIndex((m) => m.receiptHandle === handle);
      if (index < 0)
        throw new ApiError('ReceiptHandleIsInvalid', `The receipt handle ${handle} is not valid`);
      queue.messages.splice(index, 1);
      return {};
    },
  },
};
