import { createHash, randomUUID } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { JsonCtx, JsonService } from './json.ts';
import { arr, str } from './json.ts';

export interface StoredMessage {
  messageId: string;
  body: string;
  /** Message attributes as the JSON protocol writes them: name -> {DataType, StringValue | BinaryValue}. */
  attributes: Record<string, MessageAttribute>;
  receiptHandle?: string;
  /** The sender's account (SQS's SenderId for an account's root credentials). */
  senderId: string;
  sentAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
}

export interface MessageAttribute {
  DataType: string;
  StringValue?: string;
  /** Base64, as both protocols carry it. */
  BinaryValue?: string;
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

/** The most message attributes a message may carry (SQS quotas). */
const MAX_MESSAGE_ATTRIBUTES = 10;

/**
 * A message's attributes, checked as SQS checks them: at most ten, each with a type of the String,
 * Number or Binary family (`Number.float` and the like are custom types) and the value that type needs.
 */
function messageAttributesOf(input: Record<string, unknown>): Record<string, MessageAttribute> {
  const raw = input.MessageAttributes;
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ApiError('ValidationException', "Value at 'MessageAttributes' must be a map");
  }
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_MESSAGE_ATTRIBUTES) {
    throw new ApiError(
      'InvalidParameterValue',
      `Number of message attributes [${entries.length}] exceeds the allowed maximum [${MAX_MESSAGE_ATTRIBUTES}].`,
    );
  }
  const out: Record<string, MessageAttribute> = {};
  for (const [name, value] of entries) {
    if (!validAttributeName(name)) {
      throw new ApiError(
        'InvalidParameterValue',
        `The message attribute name '${name}' is invalid. Attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters.`,
      );
    }
    const v = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Record<
      string,
      unknown
    >;
    const dataType = str(v, 'DataType');
    if (!dataType) {
      throw new ApiError(
        'InvalidParameterValue',
        `The message attribute '${name}' must contain non-empty message attribute type.`,
      );
    }
    if (!/^(String|Number|Binary)(\..+)?$/.test(dataType)) {
      throw new ApiError(
        'InvalidParameterValue',
        `The type of message attribute '${name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String.`,
      );
    }
    const member = dataType.startsWith('Binary') ? 'BinaryValue' : 'StringValue';
    const text = str(v, member);
    if (!text) {
      throw new ApiError(
        'InvalidParameterValue',
        `The message attribute '${name}' must contain non-empty message attribute value.`,
      );
    }
    out[name] = { DataType: dataType, [member]: text };
  }
  return out;
}

/**
 * A message attribute's name as SQS's developer guide allows it: up to 256 letters, digits, `_`,
 * `-` and `.`, not starting with `AWS.` or `Amazon.` (any case), no period first, last or twice in a row.
 */
const validAttributeName = (name: string) =>
  /^[A-Za-z0-9_.-]{1,256}$/.test(name) &&
  !/^(aws|amazon)\./i.test(name) &&
  !name.startsWith('.') &&
  !name.endsWith('.') &&
  !name.includes('..');

/**
 * MD5OfMessageAttributes as SQS documents it ("Calculating the MD5 message digest for message
 * attributes"): names in order, each as length-prefixed name, data type, a transport byte (1 for
 * String and Number, 2 for Binary) and length-prefixed value; lengths are 4 bytes big-endian.
 */
export function md5OfMessageAttributes(attributes: Record<string, MessageAttribute>): string | undefined {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const parts: Buffer[] = [];
  const field = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  };
  for (const name of names) {
    const attribute = attributes[name] as MessageAttribute;
    field(Buffer.from(name, 'utf8'));
    field(Buffer.from(attribute.DataType, 'utf8'));
    const binary = attribute.BinaryValue !== undefined;
    parts.push(Buffer.from([binary ? 2 : 1]));
    field(
      binary
        ? Buffer.from(attribute.BinaryValue ?? '', 'base64')
        : Buffer.from(attribute.StringValue ?? '', 'utf8'),
    );
  }
  return md5(Buffer.concat(parts));
}

const md5 = (data: string | Buffer) => createHash('md5').update(data).digest('hex');

/** The names a ReceiveMessage list asks for (`All` and `.*` for every one, `prefix.*` for a family). */
function selects(requested: string[], name: string): boolean {
  return requested.some(
    (r) => r === 'All' || r === '.*' || r === name || (r.endsWith('.*') && name.startsWith(r.slice(0, -1))),
  );
}

/** The system attributes of a received message that ReceiveMessage may return. */
const SYSTEM_ATTRIBUTES = [
  'SenderId',
  'SentTimestamp',
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
] as const;

function systemAttribute(m: StoredMessage, name: (typeof SYSTEM_ATTRIBUTES)[number]): string {
  switch (name) {
    case 'SenderId':
      return m.senderId;
    case 'SentTimestamp':
      return String(m.sentAt);
    case 'ApproximateReceiveCount':
      return String(m.receiveCount);
    case 'ApproximateFirstReceiveTimestamp':
      return String(m.firstReceivedAt ?? m.sentAt);
  }
}

const strings = (input: Record<string, unknown>, name: string) =>
  arr(input, name).filter((v): v is string => typeof v === 'string');

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
      const attributes = messageAttributesOf(ctx.input);
      const message: StoredMessage = {
        messageId: randomUUID(),
        body,
        attributes,
        senderId: ctx.account,
        sentAt: Date.now(),
        receiveCount: 0,
      };
      queue.messages.push(message);
      return {
        MessageId: message.messageId,
        MD5OfMessageBody: md5(body),
        MD5OfMessageAttributes: md5OfMessageAttributes(attributes),
      };
    },
    /**
     * Up to MaxNumberOfMessages messages, with the system attributes `AttributeNames` (or its
     * successor `MessageSystemAttributeNames`) and the message attributes `MessageAttributeNames`
     * ask for: SQS returns none unasked.
     */
    ReceiveMessage(ctx) {
      const queue = queueAt(ctx);
      const max = Number(ctx.input.MaxNumberOfMessages ?? 1);
      if (!Number.isInteger(max) || max < 1 || max > 10) {
        throw new ApiError('InvalidParameterValue', 'MaxNumberOfMessages must be between 1 and 10');
      }
      const system = [
        ...strings(ctx.input, 'AttributeNames'),
        ...strings(ctx.input, 'MessageSystemAttributeNames'),
      ];
      const wanted = strings(ctx.input, 'MessageAttributeNames');
      const now = Date.now();
      const messages = queue.messages.slice(0, max).map((m) => {
        m.receiptHandle = randomUUID();
        m.receiveCount++;
        m.firstReceivedAt ??= now;
        const attributes = Object.fromEntries(
          SYSTEM_ATTRIBUTES.filter((name) => selects(system, name)).map((name) => [
            name,
            systemAttribute(m, name),
          ]),
        );
        const messageAttributes = Object.fromEntries(
          Object.entries(m.attributes).filter(([name]) => selects(wanted, name)),
        );
        const hasAttributes = Object.keys(messageAttributes).length > 0;
        return {
          MessageId: m.messageId,
          ReceiptHandle: m.receiptHandle,
          MD5OfBody: md5(m.body),
          Body: m.body,
          ...(Object.keys(attributes).length > 0 ? { Attributes: attributes } : {}),
          ...(hasAttributes
            ? {
                MD5OfMessageAttributes: md5OfMessageAttributes(messageAttributes),
                MessageAttributes: messageAttributes,
              }
            : {}),
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
