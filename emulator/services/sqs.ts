import { createHash, randomUUID } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { Clock } from '../faults.ts';
import type { World } from '../state.ts';
import type { JsonCtx, JsonService } from './json.ts';
import { arr, str } from './json.ts';

/**
 * SQS standard queues as a consumer uses them, on the JSON 1.0 protocol (sqs-query.ts adapts the
 * Query protocol to the same operations). Sources: the SQS API Reference (each operation's page),
 * the developer guide (sqs-visibility-timeout.html, sqs-delay-queues.html,
 * sqs-short-and-long-polling.html, sqs-dead-letter-queues.html, sqs-queue-parameters.html) and
 * the SDK's model of SQS (@aws-sdk/client-sqs 3.1169: error codes, HTTP statuses, Query names).
 *
 * Time is the emulator's clock (the `clock` option, the one EC2's token buckets use), read as
 * epoch milliseconds: visibility timeouts, delays, retention, redrive and long polls follow it,
 * so tests move it instead of sleeping. Every time-dependent change (a message becoming visible,
 * moved to its dead-letter queue, expired) is applied when the queue is next looked at.
 */

export interface StoredMessage {
  messageId: string;
  body: string;
  /** Message attributes as the JSON protocol writes them: name -> {DataType, StringValue | BinaryValue}. */
  attributes: Record<string, MessageAttribute>;
  /** The latest receipt handle (each receive issues a new one). */
  receiptHandle?: string;
  /** When the latest receipt handle was issued (SQS time, ms). */
  receivedAt?: number;
  /** The sender's account (SQS's SenderId for an account's root credentials). */
  senderId: string;
  /** When the message was first sent (SQS time, ms); kept when it moves to a dead-letter queue. */
  sentAt: number;
  /** Until when the message cannot be received: its delay, then each visibility timeout. */
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
  /** The source queue's ARN, for a message moved to this (dead-letter) queue. */
  deadLetterSourceArn?: string;
  deleted?: boolean;
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
  arn: string;
  account: string;
  messages: StoredMessage[];
  /** The settable attributes, as strings (SQS's own form), defaults included. */
  attributes: Record<string, string>;
  /** Every receipt handle this queue issued, to the message it was issued for. */
  handles: Map<string, StoredMessage>;
  createdAt: number;
  lastModifiedAt: number;
  purgedAt?: number;
}

// ---- time and long polls ----------------------------------------------------------------------

interface Waiter {
  queue: Queue;
  check(): void;
}

/** One World's SQS time: the clock read as epoch ms, and the ReceiveMessage calls waiting. */
class SqsTime {
  private readonly origin: number;
  readonly waiters = new Set<Waiter>();
  /** Queue URL -> when it was deleted (QueueDeletedRecently). */
  readonly deleted = new Map<string, number>();
  closed = false;
  constructor(private readonly clock: Clock) {
    this.origin = Date.now() - clock();
  }
  now(): number {
    return Math.floor(this.origin + this.clock());
  }
  /** Waiting receives on `queue` (all of them without one) look at their queue again. */
  wake(queue?: Queue): void {
    for (const waiter of [...this.waiters]) if (!queue || waiter.queue === queue) waiter.check();
  }
}

const times = new WeakMap<World, SqsTime>();

function timeOf(world: World): SqsTime {
  let time = times.get(world);
  if (!time) {
    time = new SqsTime(() => performance.now());
    times.set(world, time);
  }
  return time;
}

/** Sets the clock SQS reads in this World (the emulator's `clock` option). */
export function useSqsClock(world: World, clock: Clock): void {
  times.set(world, new SqsTime(clock));
}

/**
 * Tells SQS its clock moved: waiting ReceiveMessage calls look again at once (a message whose
 * visibility or delay ended, a wait that is over), instead of at their next timer.
 */
export function sqsClockMoved(world: World): void {
  timeOf(world).wake();
}

/** Ends every waiting ReceiveMessage (empty) when the emulator stops. */
export function stopSqs(world: World): void {
  const time = timeOf(world);
  time.closed = true;
  time.wake();
}

/** How many ReceiveMessage calls wait on a queue (for tests that must know a long poll is waiting). */
export function waitingReceives(world: World, queueUrl: string): number {
  return [...timeOf(world).waiters].filter((w) => w.queue.url === queueUrl).length;
}

// ---- attributes -------------------------------------------------------------------------------

const SECOND = 1000;
/** The longest visibility timeout, and how long a receipt handle lasts (12 hours). */
const MAX_VISIBILITY = 43_200;
/** SQS allows one PurgeQueue per queue every 60 seconds, and a name again 60 s after DeleteQueue. */
const MINUTE = 60 * SECOND;

const invalidValue = (name: string, value: unknown, reason: string) =>
  new ApiError(
    'InvalidParameterValue',
    `Value ${String(value)} for parameter ${name} is invalid. Reason: ${reason}`,
  );

/** An integer member of a request (JSON number or, from the Query protocol, its digits), in range. */
function intIn(input: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const raw = input[name];
  if (raw === undefined || raw === null) return undefined;
  const value = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidValue(name, raw, `Must be >= ${min} and <= ${max}, if provided.`);
  }
  return value;
}

/**
 * The integer attributes a queue may be created or set with: range and default (API_SetQueueAttributes).
 * MaximumMessageSize goes to 1 MiB since SQS raised its message size in 2025 (older pages say 256
 * KiB); the default stays 256 KiB.
 */
const INTEGER_ATTRIBUTES: Readonly<Record<string, readonly [number, number, number]>> = {
  DelaySeconds: [0, 900, 0],
  MaximumMessageSize: [1024, 1_048_576, 262_144],
  MessageRetentionPeriod: [60, 1_209_600, 345_600],
  ReceiveMessageWaitTimeSeconds: [0, 20, 0],
  VisibilityTimeout: [0, MAX_VISIBILITY, 30],
};
/** Attributes set as text (empty removes RedrivePolicy, RedriveAllowPolicy and Policy). */
const TEXT_ATTRIBUTES = ['Policy', 'RedrivePolicy', 'RedriveAllowPolicy', 'SqsManagedSseEnabled'];
/** What GetQueueAttributes also answers, computed. */
const COMPUTED_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
];

const defaultAttributes = (): Record<string, string> => ({
  ...Object.fromEntries(Object.entries(INTEGER_ATTRIBUTES).map(([name, [, , d]]) => [name, String(d)])),
  // SSE-SQS is on by default for queues created since October 2022 (sqs-server-side-encryption.html).
  SqsManagedSseEnabled: 'true',
});

const unknownAttribute = (name: string) => new ApiError('InvalidAttributeName', `Unknown Attribute ${name}.`);

/** A queue's ARN found among the queues (a dead-letter target). */
const queueByArn = (world: World, arn: string) => [...world.queues.values()].find((q) => q.arn === arn);

/**
 * The settable attributes of a request, checked and in SQS's form: integers in their ranges,
 * `SqsManagedSseEnabled` true or false, `Policy` a JSON object, `RedrivePolicy`
 * `{"deadLetterTargetArn","maxReceiveCount"}` (1..1000) naming an existing queue of the same
 * account that allows redrive from `sourceArn`, `RedriveAllowPolicy` `{"redrivePermission":
 * "allowAll"|"denyAll"|"byQueue","sourceQueueArns"}` (1..10 ARNs with byQueue, none otherwise).
 * FIFO and KMS attributes are not emulated: InvalidAttributeName, as for an unknown name.
 */
function attributesOf(
  world: World,
  input: Record<string, unknown>,
  sourceArn: string,
  account: string,
): Record<string, string> {
  const raw = input.Attributes;
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ApiError('ValidationException', "Value at 'Attributes' must be a map");
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== 'string') {
      throw new ApiError('ValidationException', `Value at 'Attributes.${name}' must be a string`);
    }
    const range = Object.hasOwn(INTEGER_ATTRIBUTES, name) ? INTEGER_ATTRIBUTES[name] : undefined;
    if (range) {
      const [min, max] = range;
      if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
        throw new ApiError('InvalidAttributeValue', `Invalid value for the parameter ${name}.`);
      }
      out[name] = String(Number(value));
    } else if (name === 'SqsManagedSseEnabled') {
      if (value !== 'true' && value !== 'false') {
        throw new ApiError('InvalidAttributeValue', `Invalid value for the parameter ${name}.`);
      }
      out[name] = value;
    } else if (name === 'Policy') {
      if (value !== '' && !isJsonObject(value)) {
        throw new ApiError('InvalidAttributeValue', 'Invalid value for the parameter Policy.');
      }
      out[name] = value;
    } else if (name === 'RedrivePolicy') {
      out[name] = value === '' ? '' : redrivePolicyOf(world, value, sourceArn, account);
    } else if (name === 'RedriveAllowPolicy') {
      out[name] = value === '' ? '' : redriveAllowPolicyOf(value);
    } else {
      throw unknownAttribute(name);
    }
  }
  return out;
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

function parsedObject(name: string, text: string): Record<string, unknown> {
  if (!isJsonObject(text)) throw invalidValue(name, text, 'Invalid JSON.');
  return JSON.parse(text) as Record<string, unknown>;
}

function redrivePolicyOf(world: World, text: string, sourceArn: string, account: string): string {
  const policy = parsedObject('RedrivePolicy', text);
  const target = policy.deadLetterTargetArn;
  const count = Number(policy.maxReceiveCount);
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw invalidValue(
      'RedrivePolicy',
      text,
      `Invalid value for maxReceiveCount: ${String(policy.maxReceiveCount)}, valid values are from 1 to 1000 both inclusive.`,
    );
  }
  const dlq = typeof target === 'string' ? queueByArn(world, target) : undefined;
  // The dead-letter queue must exist, in the same account and Region (sqs-dead-letter-queues.html).
  if (!dlq || dlq.account !== account || dlq.arn.split(':')[3] !== sourceArn.split(':')[3]) {
    throw invalidValue('RedrivePolicy', text, 'Dead letter target does not exist.');
  }
  if (!redriveAllowed(dlq, sourceArn)) {
    throw invalidValue(
      'RedrivePolicy',
      text,
      `Queue ${dlq.url} does not allow this queue to use it as a dead-letter queue.`,
    );
  }
  return JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: count });
}

function redriveAllowPolicyOf(text: string): string {
  const policy = parsedObject('RedriveAllowPolicy', text);
  const permission = policy.redrivePermission;
  const sources = policy.sourceQueueArns;
  if (permission !== 'allowAll' && permission !== 'denyAll' && permission !== 'byQueue') {
    throw invalidValue('RedriveAllowPolicy', text, 'Invalid value for redrivePermission.');
  }
  if (permission === 'byQueue') {
    const ok =
      Array.isArray(sources) &&
      sources.length >= 1 &&
      sources.length <= 10 &&
      sources.every((s) => typeof s === 'string');
    if (!ok) {
      throw invalidValue(
        'RedriveAllowPolicy',
        text,
        'sourceQueueArns must list 1 to 10 queue ARNs when redrivePermission is byQueue.',
      );
    }
    return JSON.stringify({ redrivePermission: permission, sourceQueueArns: sources });
  }
  if (sources !== undefined) {
    throw invalidValue(
      'RedriveAllowPolicy',
      text,
      'sourceQueueArns is allowed only when redrivePermission is byQueue.',
    );
  }
  return JSON.stringify({ redrivePermission: permission });
}

/** Whether a queue's RedriveAllowPolicy lets `sourceArn` use it as its dead-letter queue (allowAll without one). */
function redriveAllowed(dlq: Queue, sourceArn: string): boolean {
  const text = dlq.attributes.RedriveAllowPolicy;
  if (!text) return true;
  const policy = JSON.parse(text) as { redrivePermission: string; sourceQueueArns?: string[] };
  if (policy.redrivePermission === 'denyAll') return false;
  if (policy.redrivePermission === 'byQueue') return (policy.sourceQueueArns ?? []).includes(sourceArn);
  return true;
}

const numberAttribute = (queue: Queue, name: string) => Number(queue.attributes[name]);

// ---- the queue's state, brought up to the clock -------------------------------------------------

/** Received, and its visibility timeout not over yet. */
const inFlight = (m: StoredMessage, now: number) => m.receiptHandle !== undefined && m.visibleAt > now;

/**
 * Brings a queue up to `now`: messages past the retention period are gone (counted from when they
 * were first sent, also in a dead-letter queue: sqs-dead-letter-queues.html), and a message whose
 * visibility timeout ended after its maxReceiveCount-th receive is moved to the dead-letter queue
 * (SQS moves a message "when the ReceiveCount for a message exceeds the maxReceiveCount"; the
 * emulator does it as the message would become visible again, so it is never received once more),
 * keeping its id, body, message attributes and sent time.
 */
function settle(world: World, queue: Queue, now: number): void {
  const retention = numberAttribute(queue, 'MessageRetentionPeriod') * SECOND;
  const redrive = queue.attributes.RedrivePolicy
    ? (JSON.parse(queue.attributes.RedrivePolicy) as { deadLetterTargetArn: string; maxReceiveCount: number })
    : undefined;
  const dlq = redrive ? queueByArn(world, redrive.deadLetterTargetArn) : undefined;
  const kept: StoredMessage[] = [];
  let moved = false;
  for (const m of queue.messages) {
    if (now >= m.sentAt + retention) {
      m.deleted = true;
      continue;
    }
    const overCount = redrive !== undefined && m.receiveCount >= redrive.maxReceiveCount;
    if (dlq && dlq !== queue && overCount && m.receiptHandle !== undefined && m.visibleAt <= now) {
      m.deleted = true;
      dlq.messages.push({
        messageId: m.messageId,
        body: m.body,
        attributes: m.attributes,
        senderId: m.senderId,
        sentAt: m.sentAt,
        visibleAt: m.visibleAt,
        receiveCount: 0,
        deadLetterSourceArn: queue.arn,
      });
      moved = true;
      continue;
    }
    kept.push(m);
  }
  queue.messages = kept;
  if (moved && dlq) timeOf(world).wake(dlq);
}

// ---- requests -----------------------------------------------------------------------------------

const noQueue = (url: string) =>
  new ApiError('QueueDoesNotExist', `The specified queue ${url} does not exist.`);

function queueAt(ctx: JsonCtx): Queue {
  const url = str(ctx.input, 'QueueUrl', true);
  const queue = ctx.world.queues.get(url);
  if (!queue) throw noQueue(url);
  settle(ctx.world, queue, timeOf(ctx.world).now());
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
  'DeadLetterQueueSourceArn',
] as const;

function systemAttribute(m: StoredMessage, name: (typeof SYSTEM_ATTRIBUTES)[number]): string | undefined {
  switch (name) {
    case 'SenderId':
      return m.senderId;
    case 'SentTimestamp':
      return String(m.sentAt);
    case 'ApproximateReceiveCount':
      return String(m.receiveCount);
    case 'ApproximateFirstReceiveTimestamp':
      return String(m.firstReceivedAt ?? m.sentAt);
    case 'DeadLetterQueueSourceArn':
      return m.deadLetterSourceArn;
  }
}

const strings = (input: Record<string, unknown>, name: string) =>
  arr(input, name).filter((v): v is string => typeof v === 'string');

/** A new message for `queue` from a SendMessage input (or a batch entry), checked; not yet stored. */
function messageOf(ctx: JsonCtx, queue: Queue, input: Record<string, unknown>, now: number): StoredMessage {
  const body = str(input, 'MessageBody', true);
  const max = numberAttribute(queue, 'MaximumMessageSize');
  if (body.length === 0 || Buffer.byteLength(body) > max) {
    throw new ApiError(
      'InvalidParameterValue',
      `One or more parameters are invalid. Reason: Message must be between 1 byte and ${max} bytes long.`,
    );
  }
  // A message's own DelaySeconds overrides the queue's (sqs-message-timers.html).
  const delay = intIn(input, 'DelaySeconds', 0, 900) ?? numberAttribute(queue, 'DelaySeconds');
  const attributes = messageAttributesOf(input);
  return {
    messageId: randomUUID(),
    body,
    attributes,
    senderId: ctx.account,
    sentAt: now,
    visibleAt: now + delay * SECOND,
    receiveCount: 0,
  };
}

const sent = (m: StoredMessage) => ({
  MessageId: m.messageId,
  MD5OfMessageBody: md5(m.body),
  MD5OfMessageAttributes: md5OfMessageAttributes(m.attributes),
});

/** A receipt handle: opaque (SQS's are long base64 strings), new at each receive. */
const newHandle = () => randomUUID();

/**
 * The message a receipt handle names, for DeleteMessage and ChangeMessageVisibility. A handle
 * this queue never issued is ReceiptHandleIsInvalid (404 in SQS's model).
 */
function issued(queue: Queue, handle: string): StoredMessage {
  const message = queue.handles.get(handle);
  if (!message) {
    throw new ApiError(
      'ReceiptHandleIsInvalid',
      `The input receipt handle "${handle}" is not a valid receipt handle.`,
      404,
    );
  }
  return message;
}

/**
 * DeleteMessage of one handle. The latest handle deletes the message, in flight or visible again
 * ("Amazon SQS can delete a message from a queue even if a visibility timeout setting causes the
 * message to be locked by another consumer"), until it is 12 hours old: then it has expired
 * (InvalidParameterValue, as SQS answers). An older handle of a message received again since, or
 * one of a message already deleted, succeeds and deletes nothing: "If you use an old ReceiptHandle,
 * the request will succeed, but the message might not be deleted" (API_DeleteMessage).
 */
function deleteOne(queue: Queue, handle: string, now: number): void {
  const message = issued(queue, handle);
  if (message.deleted || message.receiptHandle !== handle) return;
  if (now >= (message.receivedAt ?? 0) + MAX_VISIBILITY * SECOND) {
    throw invalidValue('ReceiptHandle', handle, 'The receipt handle has expired.');
  }
  message.deleted = true;
  queue.messages = queue.messages.filter((m) => m !== message);
}

/**
 * ChangeMessageVisibility of one handle: the timeout counts from now (API_ChangeMessageVisibility),
 * 0 makes the message visible at once. Only the latest handle of a message in flight may change
 * it: a message whose visibility timeout is over is MessageNotInflight ("The specified message
 * isn't in flight"); an older handle, or one of a message deleted or moved to its dead-letter
 * queue, is InvalidParameterValue "Message does not exist or is not available for visibility
 * timeout change" (SQS's answer, not in its model). The total since the receive may not pass 12
 * hours ("If you try to extend the visibility timeout beyond the maximum, your request is rejected").
 */
function changeOne(world: World, queue: Queue, handle: string, timeout: number, now: number): void {
  const message = issued(queue, handle);
  if (message.deleted || message.receiptHandle !== handle) {
    throw invalidValue(
      'ReceiptHandle',
      handle,
      'Message does not exist or is not available for visibility timeout change.',
    );
  }
  if (!inFlight(message, now)) {
    throw new ApiError('MessageNotInflight', 'The message referred to is not in flight.');
  }
  if (now + timeout * SECOND > (message.receivedAt ?? now) + MAX_VISIBILITY * SECOND) {
    throw invalidValue(
      'VisibilityTimeout',
      timeout,
      `Total VisibilityTimeout for the message is beyond the limit [${MAX_VISIBILITY} seconds]`,
    );
  }
  message.visibleAt = now + timeout * SECOND;
  timeOf(world).wake(queue);
}

// ---- batches ------------------------------------------------------------------------------------

/** The most entries a batch may carry, and the largest SendMessageBatch payload (256 KiB). */
const MAX_BATCH = 10;
const MAX_BATCH_BYTES = 262_144;

/**
 * A batch request's entries, checked as SQS checks the whole request before any entry: 1 to 10
 * (EmptyBatchRequest, TooManyEntriesInBatchRequest), each `Id` of letters, digits, `-` and `_`, at
 * most 80 (InvalidBatchEntryId), all different (BatchEntryIdsNotDistinct).
 */
function batchEntries(input: Record<string, unknown>, entryName: string): Record<string, unknown>[] {
  const entries = arr(input, 'Entries');
  if (input.Entries === undefined || input.Entries === null) {
    throw new ApiError(
      'ValidationException',
      "1 validation error detected: Value null at 'Entries' failed to satisfy constraint: Member must not be null",
    );
  }
  if (entries.length === 0) {
    throw new ApiError('EmptyBatchRequest', `There should be at least one ${entryName} in the request.`);
  }
  if (entries.length > MAX_BATCH) {
    throw new ApiError(
      'TooManyEntriesInBatchRequest',
      `Maximum number of entries per request are ${MAX_BATCH}. You have sent ${entries.length}.`,
    );
  }
  const seen = new Set<string>();
  return entries.map((raw) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ApiError('ValidationException', `Value at 'Entries' must be a list of ${entryName}`);
    }
    const entry = raw as Record<string, unknown>;
    const id = str(entry, 'Id', true);
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(id)) {
      throw new ApiError(
        'InvalidBatchEntryId',
        'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
      );
    }
    if (seen.has(id)) throw new ApiError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
    seen.add(id);
    return entry;
  });
}

/** Each entry's outcome: `Successful` entries, and `Failed` ones with SQS's BatchResultErrorEntry. */
function perEntry(
  entries: Record<string, unknown>[],
  one: (entry: Record<string, unknown>) => Record<string, unknown>,
): { Successful: Record<string, unknown>[]; Failed: Record<string, unknown>[] } {
  const out = { Successful: [] as Record<string, unknown>[], Failed: [] as Record<string, unknown>[] };
  for (const entry of entries) {
    const Id = entry.Id as string;
    try {
      out.Successful.push({ Id, ...one(entry) });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500) throw error;
      out.Failed.push({ Id, SenderFault: true, Code: error.code, Message: error.message });
    }
  }
  return out;
}

// ---- ReceiveMessage -----------------------------------------------------------------------------

interface ReceiveRequest {
  queue: Queue;
  max: number;
  visibility: number;
  system: string[];
  wanted: string[];
}

/** Takes up to `max` visible messages (in the order sent), each with a new receipt handle. */
function take(world: World, r: ReceiveRequest, now: number): Record<string, unknown>[] {
  settle(world, r.queue, now);
  const visible = r.queue.messages.filter((m) => m.visibleAt <= now).slice(0, r.max);
  return visible.map((m) => {
    m.receiptHandle = newHandle();
    r.queue.handles.set(m.receiptHandle, m);
    m.receivedAt = now;
    m.receiveCount++;
    m.firstReceivedAt ??= now;
    m.visibleAt = now + r.visibility * SECOND;
    const attributes: Record<string, string> = {};
    for (const name of SYSTEM_ATTRIBUTES) {
      const value = selects(r.system, name) ? systemAttribute(m, name) : undefined;
      if (value !== undefined) attributes[name] = value;
    }
    const messageAttributes = Object.fromEntries(
      Object.entries(m.attributes).filter(([name]) => selects(r.wanted, name)),
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
}

/** When the queue next changes by itself: the earliest delay or visibility timeout to end after `now`. */
function nextChange(queue: Queue, now: number): number {
  let next = Number.POSITIVE_INFINITY;
  for (const m of queue.messages) if (m.visibleAt > now && m.visibleAt < next) next = m.visibleAt;
  return next;
}

/**
 * A long poll (sqs-short-and-long-polling.html): answers as soon as a message can be received, or
 * empty when the wait is over. It looks again when a message is sent, made visible or moved into
 * the queue, when the clock is said to have moved (`Emulator.clockMoved`), and at a timer set for
 * the next delay or visibility timeout to end, or the end of the wait. The wait lasts at most
 * WaitTimeSeconds of real time too, so a clock a test holds still cannot hold a request forever.
 */
function longPoll(world: World, r: ReceiveRequest, seconds: number): Promise<Record<string, unknown>[]> {
  const time = timeOf(world);
  const end = time.now() + seconds * SECOND;
  const realEnd = performance.now() + seconds * SECOND;
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const waiter: Waiter = {
      queue: r.queue,
      check: () => {
        clearTimeout(timer);
        const finish = (messages: Record<string, unknown>[]) => {
          time.waiters.delete(waiter);
          resolve(messages);
        };
        if (time.closed || world.queues.get(r.queue.url) !== r.queue) return finish([]);
        const now = time.now();
        const got = take(world, r, now);
        if (got.length > 0 || now >= end || performance.now() >= realEnd) return finish(got);
        const next = Math.min(end, nextChange(r.queue, now));
        timer = setTimeout(waiter.check, Math.max(1, Math.min(next - now, realEnd - performance.now())));
        timer.unref();
      },
    };
    time.waiters.add(waiter);
    waiter.check();
  });
}

// ---- the service --------------------------------------------------------------------------------

/** A queue's attribute values, by the names asked for (`All` for every one), as GetQueueAttributes answers. */
function queueAttributes(queue: Queue, names: string[], now: number): Record<string, string> {
  for (const name of names) {
    const known =
      name === 'All' ||
      COMPUTED_ATTRIBUTES.includes(name) ||
      TEXT_ATTRIBUTES.includes(name) ||
      Object.hasOwn(INTEGER_ATTRIBUTES, name);
    if (!known) throw unknownAttribute(name);
  }
  const messages = queue.messages;
  const values: Record<string, string> = {
    ...queue.attributes,
    ApproximateNumberOfMessages: String(messages.filter((m) => m.visibleAt <= now).length),
    ApproximateNumberOfMessagesNotVisible: String(messages.filter((m) => inFlight(m, now)).length),
    ApproximateNumberOfMessagesDelayed: String(
      messages.filter((m) => m.receiptHandle === undefined && m.visibleAt > now).length,
    ),
    CreatedTimestamp: String(Math.floor(queue.createdAt / SECOND)),
    LastModifiedTimestamp: String(Math.floor(queue.lastModifiedAt / SECOND)),
    QueueArn: queue.arn,
  };
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (value !== '' && (names.includes('All') || names.includes(name))) out[name] = value;
  }
  return out;
}

/**
 * The SQS operations a producer and a consumer of standard queues use, on the JSON 1.0 protocol.
 * Messages are kept in the order sent (a standard queue promises no order: this is one order).
 */
export const sqsService: JsonService = {
  prefix: 'AmazonSQS',
  contentType: 'application/x-amz-json-1.0',
  errorNamespace: 'com.amazonaws.sqs',
  operations: {
    /**
     * A new queue, or the URL of the existing one when every attribute given has the queue's value
     * (otherwise QueueNameExists: "Amazon SQS returns this error only if the request includes
     * attributes whose values differ from those of the existing queue"). A name deleted less than
     * 60 seconds ago is QueueDeletedRecently (API_CreateQueue). Tags are accepted and not kept.
     */
    CreateQueue({ account, region, world, input, baseUrl }) {
      const name = str(input, 'QueueName', true);
      if (name.endsWith('.fifo')) {
        throw new ApiError('InvalidParameterValue', `Queue name '${name}': FIFO queues are not emulated`);
      }
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
        throw new ApiError('InvalidParameterValue', `Queue name '${name}' is not valid`);
      }
      // On the emulator's own host: the SDK sends a queue's calls to its URL's host.
      const url = `${baseUrl}/${account}/${name}`;
      const arn = `arn:aws:sqs:${region}:${account}:${name}`;
      const time = timeOf(world);
      const now = time.now();
      const existing = world.queues.get(url);
      const given = attributesOf(world, input, existing?.arn ?? arn, account);
      if (existing) {
        for (const [key, value] of Object.entries(given)) {
          if ((existing.attributes[key] ?? '') !== value) {
            throw new ApiError(
              'QueueNameExists',
              `A queue already exists with the same name and a different value for attribute ${key}`,
            );
          }
        }
        return { QueueUrl: url };
      }
      const deletedAt = time.deleted.get(url);
      if (deletedAt !== undefined && now < deletedAt + MINUTE) {
        throw new ApiError(
          'QueueDeletedRecently',
          'You must wait 60 seconds after deleting a queue before you can create another with the same name.',
        );
      }
      const attributes = { ...defaultAttributes(), ...given };
      for (const key of Object.keys(attributes)) if (attributes[key] === '') delete attributes[key];
      world.queues.set(url, {
        name,
        url,
        arn,
        account,
        messages: [],
        attributes,
        handles: new Map(),
        createdAt: now,
        lastModifiedAt: now,
      });
      return { QueueUrl: url };
    },
    GetQueueUrl({ account, world, input, baseUrl }) {
      const name = str(input, 'QueueName', true);
      const owner = str(input, 'QueueOwnerAWSAccountId') ?? account;
      const url = `${baseUrl}/${owner}/${name}`;
      if (!world.queues.has(url)) throw noQueue(name);
      return { QueueUrl: url };
    },
    /** The caller's queues whose name starts with QueueNamePrefix; pages of MaxResults (1..1000) with a NextToken. */
    ListQueues({ account, world, input }) {
      const prefix = str(input, 'QueueNamePrefix') ?? '';
      const max = intIn(input, 'MaxResults', 1, 1000);
      const token = str(input, 'NextToken');
      const after = token === undefined ? undefined : Buffer.from(token, 'base64url').toString('utf8');
      if (token !== undefined && (max === undefined || !after?.startsWith(`${account}/`))) {
        throw new ApiError('InvalidParameterValue', 'Invalid NextToken value.');
      }
      const names = [...world.queues.values()]
        .filter((q) => q.account === account && q.name.startsWith(prefix))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .filter((q) => after === undefined || `${account}/${q.name}` > after);
      const page = names.slice(0, max ?? 1000);
      const more = max !== undefined && names.length > page.length;
      const last = page[page.length - 1];
      return {
        QueueUrls: page.map((q) => q.url),
        ...(more && last ? { NextToken: Buffer.from(`${account}/${last.name}`).toString('base64url') } : {}),
      };
    },
    GetQueueAttributes(ctx) {
      const queue = queueAt(ctx);
      const names = strings(ctx.input, 'AttributeNames');
      return { Attributes: queueAttributes(queue, names, timeOf(ctx.world).now()) };
    },
    /** Sets attributes (all checked before any is set); an empty RedrivePolicy, RedriveAllowPolicy or Policy removes it. */
    SetQueueAttributes(ctx) {
      const queue = queueAt(ctx);
      if (ctx.input.Attributes === undefined || ctx.input.Attributes === null) {
        throw new ApiError(
          'ValidationException',
          "1 validation error detected: Value null at 'Attributes' failed to satisfy constraint: Member must not be null",
        );
      }
      const given = attributesOf(ctx.world, ctx.input, queue.arn, queue.account);
      for (const [key, value] of Object.entries(given)) {
        if (value === '') delete queue.attributes[key];
        else queue.attributes[key] = value;
      }
      queue.lastModifiedAt = timeOf(ctx.world).now();
      timeOf(ctx.world).wake(queue);
      return {};
    },
    /** Deletes the queue and its messages at once (SQS: within 60 seconds); waiting receives end empty. */
    DeleteQueue(ctx) {
      const queue = queueAt(ctx);
      ctx.world.queues.delete(queue.url);
      for (const m of queue.messages) m.deleted = true;
      const time = timeOf(ctx.world);
      time.deleted.set(queue.url, time.now());
      time.wake(queue);
      return {};
    },
    /** Deletes every message, in flight or not; once per 60 seconds (PurgeQueueInProgress, 403). */
    PurgeQueue(ctx) {
      const queue = queueAt(ctx);
      const now = timeOf(ctx.world).now();
      if (queue.purgedAt !== undefined && now < queue.purgedAt + MINUTE) {
        throw new ApiError(
          'PurgeQueueInProgress',
          `Only one PurgeQueue operation on ${queue.name} is allowed every 60 seconds.`,
          403,
        );
      }
      for (const m of queue.messages) m.deleted = true;
      queue.messages = [];
      queue.purgedAt = now;
      return {};
    },
    SendMessage(ctx) {
      const queue = queueAt(ctx);
      const message = messageOf(ctx, queue, ctx.input, timeOf(ctx.world).now());
      queue.messages.push(message);
      timeOf(ctx.world).wake(queue);
      return sent(message);
    },
    /**
     * Up to ten messages; an entry refused for its own content fails alone (`Failed`, SenderFault
     * true). The whole request is refused for its entries (see batchEntries) or when their bodies
     * and attributes pass 256 KiB together (BatchRequestTooLong).
     */
    SendMessageBatch(ctx) {
      const queue = queueAt(ctx);
      const entries = batchEntries(ctx.input, 'SendMessageBatchRequestEntry');
      const size = entries.reduce(
        (n, e) =>
          n +
          Buffer.byteLength(typeof e.MessageBody === 'string' ? e.MessageBody : '') +
          Buffer.byteLength(JSON.stringify(e.MessageAttributes ?? {})),
        0,
      );
      if (size > MAX_BATCH_BYTES) {
        throw new ApiError(
          'BatchRequestTooLong',
          `Batch requests cannot be longer than ${MAX_BATCH_BYTES} bytes. You have sent ${size} bytes.`,
        );
      }
      const now = timeOf(ctx.world).now();
      const out = perEntry(entries, (entry) => {
        const message = messageOf(ctx, queue, entry, now);
        queue.messages.push(message);
        return sent(message);
      });
      timeOf(ctx.world).wake(queue);
      return out;
    },
    /**
     * Up to MaxNumberOfMessages (1..10) messages, each hidden for VisibilityTimeout (the queue's
     * unless given, 0..43200 s), waiting up to WaitTimeSeconds (the queue's
     * ReceiveMessageWaitTimeSeconds unless given, 0..20) when none can be received. The system
     * attributes `AttributeNames` (or its successor `MessageSystemAttributeNames`) and the message
     * attributes `MessageAttributeNames` ask for: SQS returns none unasked.
     */
    async ReceiveMessage(ctx) {
      const queue = queueAt(ctx);
      const request: ReceiveRequest = {
        queue,
        max: intIn(ctx.input, 'MaxNumberOfMessages', 1, 10) ?? 1,
        visibility:
          intIn(ctx.input, 'VisibilityTimeout', 0, MAX_VISIBILITY) ??
          numberAttribute(queue, 'VisibilityTimeout'),
        system: [
          ...strings(ctx.input, 'AttributeNames'),
          ...strings(ctx.input, 'MessageSystemAttributeNames'),
        ],
        wanted: strings(ctx.input, 'MessageAttributeNames'),
      };
      const wait =
        intIn(ctx.input, 'WaitTimeSeconds', 0, 20) ?? numberAttribute(queue, 'ReceiveMessageWaitTimeSeconds');
      const now = timeOf(ctx.world).now();
      const got = take(ctx.world, request, now);
      const messages = got.length > 0 || wait === 0 ? got : await longPoll(ctx.world, request, wait);
      return { Messages: messages };
    },
    DeleteMessage(ctx) {
      const queue = queueAt(ctx);
      deleteOne(queue, str(ctx.input, 'ReceiptHandle', true), timeOf(ctx.world).now());
      return {};
    },
    DeleteMessageBatch(ctx) {
      const queue = queueAt(ctx);
      const entries = batchEntries(ctx.input, 'DeleteMessageBatchRequestEntry');
      const now = timeOf(ctx.world).now();
      return perEntry(entries, (entry) => {
        deleteOne(queue, str(entry, 'ReceiptHandle', true), now);
        return {};
      });
    },
    ChangeMessageVisibility(ctx) {
      const queue = queueAt(ctx);
      const handle = str(ctx.input, 'ReceiptHandle', true);
      const timeout = intIn(ctx.input, 'VisibilityTimeout', 0, MAX_VISIBILITY);
      if (timeout === undefined) {
        throw new ApiError(
          'ValidationException',
          "1 validation error detected: Value null at 'VisibilityTimeout' failed to satisfy constraint: Member must not be null",
        );
      }
      changeOne(ctx.world, queue, handle, timeout, timeOf(ctx.world).now());
      return {};
    },
    ChangeMessageVisibilityBatch(ctx) {
      const queue = queueAt(ctx);
      const entries = batchEntries(ctx.input, 'ChangeMessageVisibilityBatchRequestEntry');
      const now = timeOf(ctx.world).now();
      return perEntry(entries, (entry) => {
        const handle = str(entry, 'ReceiptHandle', true);
        const timeout = intIn(entry, 'VisibilityTimeout', 0, MAX_VISIBILITY) ?? 0;
        changeOne(ctx.world, queue, handle, timeout, now);
        return {};
      });
    },
  },
};
