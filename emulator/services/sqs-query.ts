import { ApiError, missing } from '../errors.ts';
import { type FaultInjector, internalError } from '../faults.ts';
import type { Params } from '../query.ts';
import type { World } from '../state.ts';
import { escapeXml, queryError } from '../xml.ts';
import { sqsService } from './sqs.ts';

/**
 * SQS on the AWS Query protocol, which it answered alone until late 2023 and still answers: what
 * the AWS CLI v1 and SDKs of that time send (`Action=SendMessage&Version=2012-11-05&...`, to `/`
 * or to the queue's URL). An adapter only: the request becomes the JSON protocol's input, the
 * operation in sqs.ts runs, and its output or error is written as SQS's Query XML. Element names
 * and list encodings are botocore's and the SDK's query model of SQS (flattened lists and maps:
 * `Attribute.N.Name`, `MessageAttribute.N.Value.StringValue`, `<Message>` repeated).
 */
export const SQS_VERSION = '2012-11-05';
export const SQS_NAMESPACE = 'http://queue.amazonaws.com/doc/2012-11-05/';

/**
 * The Query protocol's error codes where they differ from the JSON protocol's (the model's
 * `awsQueryError` codes; the JSON protocol sends them too, in `x-amzn-query-error`).
 */
const QUERY_CODES: Readonly<Record<string, string>> = {
  QueueDoesNotExist: 'AWS.SimpleQueueService.NonExistentQueue',
  QueueNameExists: 'QueueAlreadyExists',
  QueueDeletedRecently: 'AWS.SimpleQueueService.QueueDeletedRecently',
  MessageNotInflight: 'AWS.SimpleQueueService.MessageNotInflight',
  PurgeQueueInProgress: 'AWS.SimpleQueueService.PurgeQueueInProgress',
  BatchEntryIdsNotDistinct: 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
  BatchRequestTooLong: 'AWS.SimpleQueueService.BatchRequestTooLong',
  EmptyBatchRequest: 'AWS.SimpleQueueService.EmptyBatchRequest',
  InvalidBatchEntryId: 'AWS.SimpleQueueService.InvalidBatchEntryId',
  TooManyEntriesInBatchRequest: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
  UnsupportedOperation: 'AWS.SimpleQueueService.UnsupportedOperation',
  InternalFailure: 'InternalError',
};

/** A name-value map sent as `Prefix.N.Name` / `Prefix.N.Value` (a value may be a structure). */
function mapOf<T>(p: Params, prefix: string, value: (entry: Params) => T): Record<string, T> | undefined {
  if (!p.has(prefix)) return undefined;
  const out: Record<string, T> = {};
  for (const entry of p.list(prefix)) out[entry.required('Name')] = value(entry);
  return out;
}

/** A Query integer, strictly: `5`, not ` 5` or `5.0`. */
function intOf(p: Params, name: string): number | undefined {
  const raw = p.str(name);
  if (raw === undefined) return undefined;
  if (!/^-?\d+$/.test(raw)) {
    throw new ApiError(
      'InvalidParameterValue',
      `Value ${raw} for parameter ${name} is invalid. Reason: Must be an integer.`,
    );
  }
  return Number(raw);
}

/** Message attributes sent as `MessageAttribute.N.Name` and `.Value.DataType/StringValue/BinaryValue`. */
const messageAttributes = (p: Params) =>
  mapOf(p, 'MessageAttribute', (e) => {
    const v = e.struct('Value');
    return {
      DataType: v?.str('DataType'),
      StringValue: v?.str('StringValue'),
      BinaryValue: v?.str('BinaryValue'),
    };
  });

/** A message as SendMessage and each SendMessageBatchRequestEntry carry it. */
const message = (p: Params) => ({
  MessageBody: p.required('MessageBody'),
  DelaySeconds: intOf(p, 'DelaySeconds'),
  MessageAttributes: messageAttributes(p),
  MessageDeduplicationId: p.str('MessageDeduplicationId'),
  MessageGroupId: p.str('MessageGroupId'),
});

/** `Entry.N.Member` lists of the batch actions (each entry's undefined members left out). */
function entries(p: Params, name: string, entry: (e: Params) => Record<string, unknown>) {
  if (!p.has(name)) return undefined;
  return p
    .list(name)
    .map((e) => Object.fromEntries(Object.entries(entry(e)).filter(([, v]) => v !== undefined)));
}

const attributes = (p: Params) => mapOf(p, 'Attribute', (e) => e.str('Value') ?? '');

/** Each action's input, as the JSON protocol would carry it. `queueUrl` is the queue the request names. */
const INPUTS: Readonly<Record<string, (p: Params, queueUrl: () => string) => Record<string, unknown>>> = {
  CreateQueue: (p) => ({
    QueueName: p.required('QueueName'),
    Attributes: attributes(p),
    tags: p.has('Tag')
      ? Object.fromEntries(p.list('Tag').map((t) => [t.required('Key'), t.str('Value') ?? '']))
      : undefined,
  }),
  GetQueueUrl: (p) => ({
    QueueName: p.required('QueueName'),
    QueueOwnerAWSAccountId: p.str('QueueOwnerAWSAccountId'),
  }),
  ListQueues: (p) => ({
    QueueNamePrefix: p.str('QueueNamePrefix'),
    MaxResults: intOf(p, 'MaxResults'),
    NextToken: p.str('NextToken'),
  }),
  GetQueueAttributes: (p, queueUrl) => ({ QueueUrl: queueUrl(), AttributeNames: p.strings('AttributeName') }),
  SetQueueAttributes: (p, queueUrl) => ({ QueueUrl: queueUrl(), Attributes: attributes(p) ?? {} }),
  DeleteQueue: (_p, queueUrl) => ({ QueueUrl: queueUrl() }),
  PurgeQueue: (_p, queueUrl) => ({ QueueUrl: queueUrl() }),
  SendMessage: (p, queueUrl) => ({ QueueUrl: queueUrl(), ...message(p) }),
  SendMessageBatch: (p, queueUrl) => ({
    QueueUrl: queueUrl(),
    Entries:
      entries(p, 'SendMessageBatchRequestEntry', (e) => ({ Id: e.required('Id'), ...message(e) })) ?? [],
  }),
  ReceiveMessage: (p, queueUrl) => ({
    QueueUrl: queueUrl(),
    AttributeNames: p.strings('AttributeName'),
    MessageSystemAttributeNames: p.strings('MessageSystemAttributeName'),
    MessageAttributeNames: p.strings('MessageAttributeName'),
    MaxNumberOfMessages: intOf(p, 'MaxNumberOfMessages'),
    VisibilityTimeout: intOf(p, 'VisibilityTimeout'),
    WaitTimeSeconds: intOf(p, 'WaitTimeSeconds'),
  }),
  DeleteMessage: (p, queueUrl) => ({ QueueUrl: queueUrl(), ReceiptHandle: p.required('ReceiptHandle') }),
  DeleteMessageBatch: (p, queueUrl) => ({
    QueueUrl: queueUrl(),
    Entries:
      entries(p, 'DeleteMessageBatchRequestEntry', (e) => ({
        Id: e.required('Id'),
        ReceiptHandle: e.required('ReceiptHandle'),
      })) ?? [],
  }),
  ChangeMessageVisibility: (p, queueUrl) => ({
    QueueUrl: queueUrl(),
    ReceiptHandle: p.required('ReceiptHandle'),
    VisibilityTimeout: p.required('VisibilityTimeout') && intOf(p, 'VisibilityTimeout'),
  }),
  ChangeMessageVisibilityBatch: (p, queueUrl) => ({
    QueueUrl: queueUrl(),
    Entries:
      entries(p, 'ChangeMessageVisibilityBatchRequestEntry', (e) => ({
        Id: e.required('Id'),
        ReceiptHandle: e.required('ReceiptHandle'),
        VisibilityTimeout: intOf(e, 'VisibilityTimeout'),
      })) ?? [],
  }),
};

/** Actions without output in SQS's model: their answer has no Result element. */
const NO_RESULT = new Set([
  'DeleteMessage',
  'ChangeMessageVisibility',
  'SetQueueAttributes',
  'DeleteQueue',
  'PurgeQueue',
]);

/** Output members whose JSON name is a list or map the Query protocol writes flattened, under another name. */
const FLATTENED: Readonly<Record<string, string>> = {
  Messages: 'Message',
  Attributes: 'Attribute',
  MessageAttributes: 'MessageAttribute',
  QueueUrls: 'QueueUrl',
  Failed: 'BatchResultErrorEntry',
};

/** The batch actions' `Successful` list, flattened under each action's own entry name. */
const SUCCESSFUL: Readonly<Record<string, string>> = {
  SendMessageBatch: 'SendMessageBatchResultEntry',
  DeleteMessageBatch: 'DeleteMessageBatchResultEntry',
  ChangeMessageVisibilityBatch: 'ChangeMessageVisibilityBatchResultEntry',
};

/** One output member as SQS's Query XML: lists as repeated elements, maps as repeated `<Name/><Value/>` pairs. */
function xmlOf(name: string, value: unknown, action = ''): string {
  if (value === undefined || value === null) return '';
  const flat = name === 'Successful' ? SUCCESSFUL[action] : FLATTENED[name];
  if (flat !== undefined && Array.isArray(value)) return value.map((v) => xmlOf(flat, v)).join('');
  if (flat !== undefined && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([key, v]) => `<${flat}><Name>${escapeXml(key)}</Name>${xmlOf('Value', v)}</${flat}>`)
      .join('');
  }
  if (typeof value === 'object') {
    const inner = Object.entries(value as Record<string, unknown>)
      .map(([key, v]) => xmlOf(key, v))
      .join('');
    return `<${name}>${inner}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

export interface SqsQueryRequest {
  p: Params;
  account: string;
  region: string;
  world: World;
  faults: FaultInjector;
  /** The emulator's base URL as the caller reached it, and the request's path (a queue's URL path names the queue). */
  baseUrl: string;
  path: string;
  requestId: string;
  /**
   * IAM: authorizes the operation with its JSON-shaped input, as for the JSON protocol, and throws
   * the refusal (an ApiError whose code, `AccessDenied`, is also the Query protocol's).
   */
  authorize?: (operation: string, input: Record<string, unknown>) => Promise<void>;
}

/** One SQS Query request, answered (status and XML body) as SQS answers it. */
export async function answerSqsQuery(request: SqsQueryRequest): Promise<{ status: number; body: string }> {
  const { p, account, region, world, faults, baseUrl, path, requestId, authorize } = request;
  try {
    const action = p.str('Action');
    if (!action) throw new ApiError('MissingAction', 'The request must contain the parameter Action.');
    const read = Object.hasOwn(INPUTS, action) ? INPUTS[action] : undefined;
    const operation = Object.hasOwn(sqsService.operations, action)
      ? sqsService.operations[action]
      : undefined;
    if (!read || !operation) {
      throw new ApiError('InvalidAction', `The action ${action} is not valid for this endpoint.`);
    }
    // The SDKs send QueueUrl; older clients sent the request to the queue's URL instead.
    const queueUrl = () =>
      p.str('QueueUrl') ?? (/^\/\d{12}\/[^/]+$/.test(path) ? baseUrl + path : missingQueueUrl());
    const input = Object.fromEntries(Object.entries(read(p, queueUrl)).filter(([, v]) => v !== undefined));
    const failure = faults.failure(action);
    if (failure === 'before') throw internalError();
    await authorize?.(action, input);
    const output = await operation({ account, region, world, input, baseUrl });
    if (failure === 'after') throw internalError();
    const members = Object.entries(output)
      .map(([key, v]) => xmlOf(key, v, action))
      .join('');
    // An action without output (DeleteMessage) has no Result element.
    const result = NO_RESULT.has(action) ? '' : `<${action}Result>${members}</${action}Result>`;
    return {
      status: 200,
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${SQS_NAMESPACE}">${result}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
    };
  } catch (error) {
    if (!(error instanceof ApiError)) console.error('emulator: unexpected error', error);
    const api =
      error instanceof ApiError
        ? error
        : new ApiError('InternalError', `The emulator failed: ${(error as Error).message}`, 500);
    const code = Object.hasOwn(QUERY_CODES, api.code) ? (QUERY_CODES[api.code] as string) : api.code;
    return { status: api.status, body: queryError(SQS_NAMESPACE, api.status, code, api.message, requestId) };
  }
}

function missingQueueUrl(): never {
  throw missing('QueueUrl');
}
