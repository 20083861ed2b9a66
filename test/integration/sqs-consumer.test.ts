import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  PurgeQueueCommand,
  type QueueAttributeName,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { describe, expect, test, vi } from 'vitest';
import { waitingReceives } from '../../emulator/services/sqs.ts';
import { iamFor, type Keys, keysFrom, stsFor, trustPolicy } from '../support/accounts.ts';
import { useEmulator } from '../support/emulator.ts';
import { parseQueryError, type RawResponse, send } from '../support/http.ts';
import { must } from '../support/topology.ts';

/**
 * SQS as a consumer uses it, through the real SDK over HTTP (and, at the end, hand-written Query
 * requests): visibility timeouts, delays, batches, queue attributes, redrive to a dead-letter
 * queue, long polls. The emulator's clock is the test's: time is moved, never slept.
 */

let now = 1_000_000;
const env = useEmulator({ clock: () => now });
/** Moves the emulator's clock by `seconds` and tells it so (waiting long polls look again). */
const advance = (seconds: number) => {
  now += seconds * 1000;
  env.emulator.clockMoved();
};

let accounts = 0;
const fresh = () => String(720_000_000_000 + ++accounts);

const sqsAs = (who: string | Keys) =>
  new SQSClient({
    endpoint: env.url,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: typeof who === 'string' ? { accessKeyId: who, secretAccessKey: 'test' } : who,
  });

async function failure(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

/** A new queue of a fresh account, and that account's client. */
async function queue(attributes: Record<string, string> = {}, name = 'q') {
  const account = fresh();
  const sqs = sqsAs(account);
  const url = must(
    (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl,
    'url',
  );
  return { account, sqs, url };
}

async function counts(sqs: SQSClient, url: string) {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed),
  };
}

const receive = async (sqs: SQSClient, url: string, extra: Partial<ReceiveMessageCommand['input']> = {}) =>
  (
    await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
        ...extra,
      }),
    )
  ).Messages ?? [];

describe('visibility timeout', () => {
  test('a received message is hidden for the queue’s 30 s, then comes back with a new handle and a higher count', async () => {
    const { sqs, url } = await queue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'finding' }));

    const [first] = await receive(sqs, url);
    expect(first?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(await receive(sqs, url)).toEqual([]);
    expect(await counts(sqs, url)).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    advance(29.999);
    expect(await receive(sqs, url)).toEqual([]);
    advance(0.001);
    const [again] = await receive(sqs, url);

    expect(again?.MessageId).toBe(first?.MessageId);
    expect(again?.ReceiptHandle).not.toBe(first?.ReceiptHandle);
    expect(again?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(again?.Attributes?.ApproximateFirstReceiveTimestamp).toBe(
      first?.Attributes?.ApproximateFirstReceiveTimestamp,
    );
  });

  test('DeleteMessage with the handle of an earlier receive succeeds and deletes nothing; the latest handle deletes', async () => {
    const { sqs, url } = await queue({ VisibilityTimeout: '5' });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }));
    const [first] = await receive(sqs, url);
    advance(5);
    const [second] = await receive(sqs, url);

    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first?.ReceiptHandle }));
    expect(await counts(sqs, url)).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: second?.ReceiptHandle }));
    expect(await counts(sqs, url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    // Deleting again, or with a handle SQS never issued.
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: second?.ReceiptHandle }));
    const error = await failure(
      sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: 'made-up' })),
    );
    expect(error).toMatchObject({ name: 'ReceiptHandleIsInvalid', $metadata: { httpStatusCode: 404 } });
  });

  test('the latest handle deletes a message whose visibility ran out, until the handle is 12 hours old', async () => {
    const { sqs, url } = await queue({ VisibilityTimeout: '0' });
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'a', MessageBody: 'a' },
          { Id: 'b', MessageBody: 'b' },
        ],
      }),
    );
    const [a, b] = await receive(sqs, url);
    advance(60);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: a?.ReceiptHandle }));
    advance(43_200);
    const error = await failure(
      sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: b?.ReceiptHandle })),
    );

    expect(error.name).toBe('InvalidParameterValue');
    expect(error.message).toContain('The receipt handle has expired.');
    expect((await receive(sqs, url)).map((m) => m.Body)).toEqual(['b']);
  });

  test('ReceiveMessage’s VisibilityTimeout overrides the queue’s; 0..43200', async () => {
    const { sqs, url } = await queue({ VisibilityTimeout: '600' });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }));
    await receive(sqs, url, { VisibilityTimeout: 2 });
    advance(2);
    expect(await receive(sqs, url, { VisibilityTimeout: 0 })).toHaveLength(1);
    expect(await receive(sqs, url)).toHaveLength(1);
    advance(599);
    expect(await receive(sqs, url)).toEqual([]);

    const error = await failure(receive(sqs, url, { VisibilityTimeout: 43_201 }));
    expect(error.name).toBe('InvalidParameterValue');
  });

  test('ChangeMessageVisibility: counts from now, 0 makes it visible, only while in flight and with the latest handle', async () => {
    const { sqs, url } = await queue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }));
    const [first] = await receive(sqs, url);
    advance(20);
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: first?.ReceiptHandle,
        VisibilityTimeout: 60,
      }),
    );
    advance(59);
    expect(await receive(sqs, url)).toEqual([]);
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: first?.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    const [second] = await receive(sqs, url, { VisibilityTimeout: 1 });
    advance(1);

    // Its visibility is over: not in flight.
    const notInFlight = await failure(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: second?.ReceiptHandle,
          VisibilityTimeout: 10,
        }),
      ),
    );
    expect(notInFlight).toMatchObject({ name: 'MessageNotInflight', $metadata: { httpStatusCode: 400 } });
    const [third] = await receive(sqs, url, { VisibilityTimeout: 43_200 });
    // An older handle of a message received again since.
    const old = await failure(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: first?.ReceiptHandle,
          VisibilityTimeout: 10,
        }),
      ),
    );
    expect(old.name).toBe('InvalidParameterValue');
    expect(old.message).toContain('Message does not exist or is not available for visibility timeout change');
    const invalid = await failure(
      sqs.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: 'nope', VisibilityTimeout: 10 }),
      ),
    );
    expect(invalid.name).toBe('ReceiptHandleIsInvalid');
    const tooLong = await failure(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: third?.ReceiptHandle,
          VisibilityTimeout: 43_201,
        }),
      ),
    );
    expect(tooLong.name).toBe('InvalidParameterValue');
    // 12 hours from the receive at most, in all.
    advance(100);
    const beyond = await failure(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: third?.ReceiptHandle,
          VisibilityTimeout: 43_200,
        }),
      ),
    );
    expect(beyond.message).toContain('Total VisibilityTimeout for the message is beyond the limit');
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: third?.ReceiptHandle,
        VisibilityTimeout: 43_100,
      }),
    );
  });
});

describe('batches', () => {
  test('SendMessageBatch: entries fail one by one; the request fails for its entries', async () => {
    const { sqs, url } = await queue();
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'one', MessageBody: '1', MessageAttributes: { k: { DataType: 'String', StringValue: 'v' } } },
          { Id: 'empty', MessageBody: '' },
          { Id: 'three', MessageBody: '3', DelaySeconds: 901 },
          { Id: 'four', MessageBody: '4', DelaySeconds: 10 },
        ],
      }),
    );
    expect(out.Successful?.map((e) => e.Id)).toEqual(['one', 'four']);
    expect(out.Successful?.[0]?.MD5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
    expect(out.Failed?.map((e) => [e.Id, e.Code, e.SenderFault])).toEqual([
      ['empty', 'InvalidParameterValue', true],
      ['three', 'InvalidParameterValue', true],
    ]);
    expect(await counts(sqs, url)).toEqual({ visible: 1, inFlight: 0, delayed: 1 });

    const entries = (n: number) => Array.from({ length: n }, (_, i) => ({ Id: `e${i}`, MessageBody: 'x' }));
    const refusals = await Promise.all([
      failure(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [] }))),
      failure(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries(11) }))),
      failure(
        sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: url,
            Entries: [
              { Id: 'a', MessageBody: 'x' },
              { Id: 'a', MessageBody: 'y' },
            ],
          }),
        ),
      ),
      failure(
        sqs.send(
          new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'not ok', MessageBody: 'x' }] }),
        ),
      ),
      failure(
        sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: url,
            Entries: [
              { Id: 'a', MessageBody: 'x'.repeat(200_000) },
              { Id: 'b', MessageBody: 'x'.repeat(100_000) },
            ],
          }),
        ),
      ),
    ]);
    expect(refusals.map((e) => e.name)).toEqual([
      'EmptyBatchRequest',
      'TooManyEntriesInBatchRequest',
      'BatchEntryIdsNotDistinct',
      'InvalidBatchEntryId',
      'BatchRequestTooLong',
    ]);
    // Nothing of a refused batch was stored.
    expect(await counts(sqs, url)).toEqual({ visible: 1, inFlight: 0, delayed: 1 });
  });

  test('DeleteMessageBatch and ChangeMessageVisibilityBatch: per-entry outcomes', async () => {
    const { sqs, url } = await queue();
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [1, 2, 3].map((i) => ({ Id: `m${i}`, MessageBody: `${i}` })),
      }),
    );
    const [m1, m2, m3] = await receive(sqs, url);

    const changed = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'a', ReceiptHandle: m1?.ReceiptHandle, VisibilityTimeout: 0 },
          { Id: 'b', ReceiptHandle: 'bogus', VisibilityTimeout: 0 },
          { Id: 'c', ReceiptHandle: m3?.ReceiptHandle, VisibilityTimeout: 300 },
        ],
      }),
    );
    expect(changed.Successful?.map((e) => e.Id)).toEqual(['a', 'c']);
    expect(changed.Failed?.map((e) => [e.Id, e.Code])).toEqual([['b', 'ReceiptHandleIsInvalid']]);
    expect(await counts(sqs, url)).toEqual({ visible: 1, inFlight: 2, delayed: 0 });

    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'x', ReceiptHandle: m2?.ReceiptHandle },
          { Id: 'y', ReceiptHandle: 'bogus' },
          { Id: 'z', ReceiptHandle: m3?.ReceiptHandle },
        ],
      }),
    );
    expect(deleted.Successful?.map((e) => e.Id)).toEqual(['x', 'z']);
    expect(deleted.Failed?.map((e) => [e.Id, e.Code, e.SenderFault])).toEqual([
      ['y', 'ReceiptHandleIsInvalid', true],
    ]);
    expect(await counts(sqs, url)).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
    const empty = await failure(sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: [] })));
    expect(empty.name).toBe('EmptyBatchRequest');
  });
});

describe('delays', () => {
  test('the queue’s DelaySeconds, or the message’s own, hides a new message until its time', async () => {
    const { sqs, url } = await queue({ DelaySeconds: '10' });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'queue delay' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'no delay', DelaySeconds: 0 }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'long delay', DelaySeconds: 900 }));

    expect(await counts(sqs, url)).toEqual({ visible: 1, inFlight: 0, delayed: 2 });
    expect((await receive(sqs, url, { VisibilityTimeout: 0 })).map((m) => m.Body)).toEqual(['no delay']);
    advance(9.999);
    expect((await receive(sqs, url, { VisibilityTimeout: 0 })).map((m) => m.Body)).toEqual(['no delay']);
    advance(0.001);
    expect((await receive(sqs, url, { VisibilityTimeout: 0 })).map((m) => m.Body)).toEqual([
      'queue delay',
      'no delay',
    ]);
    advance(890);
    expect(await receive(sqs, url, { VisibilityTimeout: 0 })).toHaveLength(3);
    const error = await failure(
      sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', DelaySeconds: 901 })),
    );
    expect(error.name).toBe('InvalidParameterValue');
  });
});

describe('queue attributes', () => {
  test('CreateQueue with attributes; GetQueueAttributes All or by name; SetQueueAttributes', async () => {
    const { sqs, url, account } = await queue(
      {
        VisibilityTimeout: '45',
        DelaySeconds: '5',
        MessageRetentionPeriod: '3600',
        ReceiveMessageWaitTimeSeconds: '0',
        SqsManagedSseEnabled: 'false',
      },
      'attributes',
    );
    const all = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
      .Attributes;
    expect(all).toEqual({
      QueueArn: `arn:aws:sqs:us-east-1:${account}:attributes`,
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
      ApproximateNumberOfMessagesDelayed: '0',
      CreatedTimestamp: String(Math.floor(Number(all?.CreatedTimestamp))),
      LastModifiedTimestamp: all?.CreatedTimestamp,
      VisibilityTimeout: '45',
      DelaySeconds: '5',
      MaximumMessageSize: '262144',
      MessageRetentionPeriod: '3600',
      ReceiveMessageWaitTimeSeconds: '0',
      SqsManagedSseEnabled: 'false',
    });
    // Epoch seconds, of the emulator's clock read as the wall clock when it started.
    expect(Math.abs(Number(all?.CreatedTimestamp) - Date.now() / 1000)).toBeLessThan(24 * 3600);

    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [] });
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: url,
        Attributes: { VisibilityTimeout: '0', Policy: policy },
      }),
    );
    const named = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['VisibilityTimeout', 'Policy', 'QueueArn'],
      }),
    );
    expect(named.Attributes).toEqual({
      VisibilityTimeout: '0',
      Policy: policy,
      QueueArn: `arn:aws:sqs:us-east-1:${account}:attributes`,
    });

    const refusals = await Promise.all([
      failure(
        sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['Colour' as QueueAttributeName] }),
        ),
      ),
      failure(
        sqs.send(
          new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: '43201' } }),
        ),
      ),
      failure(
        sqs.send(
          new SetQueueAttributesCommand({
            QueueUrl: url,
            Attributes: { ['Colour' as QueueAttributeName]: 'blue' },
          }),
        ),
      ),
      failure(
        sqs.send(
          new SetQueueAttributesCommand({
            QueueUrl: url,
            Attributes: { DelaySeconds: '1', MessageRetentionPeriod: '59' },
          }),
        ),
      ),
      failure(
        sqs.send(
          new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { MaximumMessageSize: '1048577' } }),
        ),
      ),
    ]);
    expect(refusals.map((e) => e.name)).toEqual([
      'InvalidAttributeName',
      'InvalidAttributeValue',
      'InvalidAttributeName',
      'InvalidAttributeValue',
      'InvalidAttributeValue',
    ]);
    // Up to 1 MiB since 2025.
    await sqs.send(
      new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { MaximumMessageSize: '1048576' } }),
    );
    // A refused SetQueueAttributes set nothing.
    const after = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['DelaySeconds'] }),
    );
    expect(after.Attributes).toEqual({ DelaySeconds: '5' });
  });

  test('CreateQueue of an existing name: its URL when the attributes given match, QueueNameExists when one differs', async () => {
    const { sqs, url } = await queue({ VisibilityTimeout: '60' }, 'same');
    expect((await sqs.send(new CreateQueueCommand({ QueueName: 'same' }))).QueueUrl).toBe(url);
    expect(
      (
        await sqs.send(
          new CreateQueueCommand({
            QueueName: 'same',
            Attributes: { VisibilityTimeout: '60', DelaySeconds: '0' },
          }),
        )
      ).QueueUrl,
    ).toBe(url);
    const error = await failure(
      sqs.send(new CreateQueueCommand({ QueueName: 'same', Attributes: { VisibilityTimeout: '30' } })),
    );
    expect(error.name).toBe('QueueNameExists');
  });

  test('ListQueues by prefix, in pages; DeleteQueue; a name again only after 60 s; PurgeQueue once a minute', async () => {
    const account = fresh();
    const sqs = sqsAs(account);
    for (const name of ['intake-high', 'intake-low', 'dead-letters'])
      await sqs.send(new CreateQueueCommand({ QueueName: name }));
    const all = await sqs.send(new ListQueuesCommand({}));
    expect(all.QueueUrls?.map((u) => u.split('/').pop())).toEqual([
      'dead-letters',
      'intake-high',
      'intake-low',
    ]);
    const first = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'intake-', MaxResults: 1 }));
    expect(first.QueueUrls?.map((u) => u.split('/').pop())).toEqual(['intake-high']);
    const second = await sqs.send(
      new ListQueuesCommand({ QueueNamePrefix: 'intake-', MaxResults: 1, NextToken: first.NextToken }),
    );
    expect(second.QueueUrls?.map((u) => u.split('/').pop())).toEqual(['intake-low']);
    expect(second.NextToken).toBeUndefined();
    // Another account's queues are not listed.
    expect((await sqsAs(fresh()).send(new ListQueuesCommand({}))).QueueUrls ?? []).toEqual([]);

    const low = must(all.QueueUrls?.[2], 'low');
    await sqs.send(new SendMessageCommand({ QueueUrl: low, MessageBody: 'x' }));
    await sqs.send(new PurgeQueueCommand({ QueueUrl: low }));
    expect(await counts(sqs, low)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect((await failure(sqs.send(new PurgeQueueCommand({ QueueUrl: low })))).name).toBe(
      'PurgeQueueInProgress',
    );
    advance(60);
    await sqs.send(new PurgeQueueCommand({ QueueUrl: low }));

    await sqs.send(new DeleteQueueCommand({ QueueUrl: low }));
    expect((await failure(sqs.send(new SendMessageCommand({ QueueUrl: low, MessageBody: 'x' })))).name).toBe(
      'QueueDoesNotExist',
    );
    expect((await failure(sqs.send(new CreateQueueCommand({ QueueName: 'intake-low' })))).name).toBe(
      'QueueDeletedRecently',
    );
    advance(60);
    expect((await sqs.send(new CreateQueueCommand({ QueueName: 'intake-low' }))).QueueUrl).toBe(low);
  });

  test('messages older than MessageRetentionPeriod are gone', async () => {
    const { sqs, url } = await queue({ MessageRetentionPeriod: '60' });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'old' }));
    advance(30);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'new' }));
    advance(30);
    expect((await receive(sqs, url)).map((m) => m.Body)).toEqual(['new']);
  });
});

describe('redrive', () => {
  test('a message received maxReceiveCount times moves to the dead-letter queue when it would be visible again, as it was', async () => {
    const account = fresh();
    const sqs = sqsAs(account);
    const dlq = must((await sqs.send(new CreateQueueCommand({ QueueName: 'dlq' }))).QueueUrl, 'dlq');
    const dlqArn = `arn:aws:sqs:us-east-1:${account}:dlq`;
    const source = must(
      (
        await sqs.send(
          new CreateQueueCommand({
            QueueName: 'source',
            Attributes: {
              VisibilityTimeout: '10',
              RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: '2' }),
            },
          }),
        )
      ).QueueUrl,
      'source',
    );
    const attributes = { severity: { DataType: 'Number', StringValue: '8' } };
    const sent = await sqs.send(
      new SendMessageCommand({ QueueUrl: source, MessageBody: 'poison', MessageAttributes: attributes }),
    );

    expect(await receive(sqs, source)).toHaveLength(1);
    advance(10);
    const [second] = await receive(sqs, source);
    expect(second?.Attributes?.ApproximateReceiveCount).toBe('2');
    advance(9);
    expect(await counts(sqs, dlq)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    advance(1);

    expect(await receive(sqs, source)).toEqual([]);
    expect(await counts(sqs, source)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    const [dead] = await receive(sqs, dlq);
    expect(dead).toMatchObject({
      MessageId: sent.MessageId,
      Body: 'poison',
      MessageAttributes: attributes,
      MD5OfMessageAttributes: sent.MD5OfMessageAttributes,
    });
    expect(dead?.Attributes?.DeadLetterQueueSourceArn).toBe(`arn:aws:sqs:us-east-1:${account}:source`);
    expect(dead?.Attributes?.ApproximateReceiveCount).toBe('1');
    const policy = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: source, AttributeNames: ['RedrivePolicy'] }),
    );
    expect(JSON.parse(policy.Attributes?.RedrivePolicy ?? '')).toEqual({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: 2,
    });
  });

  test('RedrivePolicy must name an existing queue that allows it; RedriveAllowPolicy decides', async () => {
    const account = fresh();
    const sqs = sqsAs(account);
    const arn = (name: string) => `arn:aws:sqs:us-east-1:${account}:${name}`;
    const redrive = (target: string, count: number | string = 3) => ({
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: target, maxReceiveCount: count }),
    });
    await sqs.send(
      new CreateQueueCommand({
        QueueName: 'closed',
        Attributes: { RedriveAllowPolicy: '{"redrivePermission":"denyAll"}' },
      }),
    );
    await sqs.send(
      new CreateQueueCommand({
        QueueName: 'only-a',
        Attributes: {
          RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'byQueue', sourceQueueArns: [arn('a')] }),
        },
      }),
    );

    const refused = await Promise.all([
      failure(sqs.send(new CreateQueueCommand({ QueueName: 'x', Attributes: redrive(arn('missing')) }))),
      failure(sqs.send(new CreateQueueCommand({ QueueName: 'x', Attributes: redrive(arn('closed')) }))),
      failure(sqs.send(new CreateQueueCommand({ QueueName: 'b', Attributes: redrive(arn('only-a')) }))),
      failure(sqs.send(new CreateQueueCommand({ QueueName: 'x', Attributes: redrive(arn('only-a'), 1001) }))),
      failure(
        sqs.send(
          new CreateQueueCommand({
            QueueName: 'x',
            Attributes: { RedriveAllowPolicy: '{"redrivePermission":"byQueue"}' },
          }),
        ),
      ),
    ]);
    expect(refused.map((e) => e.name)).toEqual(Array(5).fill('InvalidParameterValue'));
    expect(refused[0]?.message).toContain('Dead letter target does not exist.');
    expect(
      (await sqs.send(new CreateQueueCommand({ QueueName: 'a', Attributes: redrive(arn('only-a')) })))
        .QueueUrl,
    ).toMatch(/\/a$/);
  });
});

describe('long polling', () => {
  test('a waiting receive answers as soon as a message is sent', async () => {
    const { sqs, url } = await queue();
    const waiting = receive(sqs, url, { WaitTimeSeconds: 20 });
    await vi.waitFor(() => expect(waitingReceives(env.emulator.world, url)).toBe(1));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'arrived' }));
    expect((await waiting).map((m) => m.Body)).toEqual(['arrived']);
    expect(waitingReceives(env.emulator.world, url)).toBe(0);
  });

  test('a waiting receive answers when a message’s visibility ends, or empty when its wait is over', async () => {
    const { sqs, url } = await queue({ ReceiveMessageWaitTimeSeconds: '20' });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'back' }));
    await receive(sqs, url, { VisibilityTimeout: 5 });
    // The queue's ReceiveMessageWaitTimeSeconds: a long poll without WaitTimeSeconds.
    const waiting = receive(sqs, url);
    await vi.waitFor(() => expect(waitingReceives(env.emulator.world, url)).toBe(1));
    advance(5);
    expect((await waiting).map((m) => m.Body)).toEqual(['back']);

    const empty = receive(sqs, url, { WaitTimeSeconds: 20, VisibilityTimeout: 60 });
    await vi.waitFor(() => expect(waitingReceives(env.emulator.world, url)).toBe(1));
    advance(19);
    expect(waitingReceives(env.emulator.world, url)).toBe(1);
    advance(1);
    expect(await empty).toEqual([]);
  });

  test('a message becoming visible with ChangeMessageVisibility 0 ends the wait; WaitTimeSeconds is 0..20', async () => {
    const { sqs, url } = await queue();
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'released' }));
    const [held] = await receive(sqs, url);
    const waiting = receive(sqs, url, { WaitTimeSeconds: 20 });
    await vi.waitFor(() => expect(waitingReceives(env.emulator.world, url)).toBe(1));
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: held?.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    expect((await waiting).map((m) => m.Body)).toEqual(['released']);
    expect((await failure(receive(sqs, url, { WaitTimeSeconds: 21 }))).name).toBe('InvalidParameterValue');
  });
});

describe('IAM', () => {
  test('a consumer role: each call, batches as their single action, on the queue’s ARN; ListQueues on *', async () => {
    const account = fresh();
    const root = sqsAs(account);
    const queueArn = `arn:aws:sqs:us-east-1:${account}:findings`;
    const url = must((await root.send(new CreateQueueCommand({ QueueName: 'findings' }))).QueueUrl, 'url');
    const other = must((await root.send(new CreateQueueCommand({ QueueName: 'other' }))).QueueUrl, 'other');
    const iam = iamFor(env.url, account);
    await iam.send(
      new CreateRoleCommand({ RoleName: 'consumer', AssumeRolePolicyDocument: trustPolicy(account) }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'consumer',
        PolicyName: 'queue',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: [
                'sqs:SendMessage',
                'sqs:ReceiveMessage',
                'sqs:DeleteMessage',
                'sqs:GetQueueAttributes',
              ],
              Resource: queueArn,
            },
          ],
        }),
      }),
    );
    const assumed = await stsFor(env.url, account).send(
      new AssumeRoleCommand({
        RoleArn: `arn:aws:iam::${account}:role/consumer`,
        RoleSessionName: 'consumer-session',
      }),
    );
    const sqs = sqsAs(keysFrom(assumed.Credentials));

    await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'a', MessageBody: 'a' }] }));
    const [m] = await receive(sqs, url);
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
    const refusals = await Promise.all([
      failure(
        sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: url,
            Entries: [{ Id: 'a', ReceiptHandle: m?.ReceiptHandle, VisibilityTimeout: 0 }],
          }),
        ),
      ),
      failure(
        sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: url,
            ReceiptHandle: m?.ReceiptHandle,
            VisibilityTimeout: 0,
          }),
        ),
      ),
      failure(
        sqs.send(new SendMessageBatchCommand({ QueueUrl: other, Entries: [{ Id: 'a', MessageBody: 'a' }] })),
      ),
      failure(sqs.send(new ListQueuesCommand({}))),
      failure(sqs.send(new PurgeQueueCommand({ QueueUrl: url }))),
    ]);
    expect(refusals.map((e) => [e.name, e.$metadata?.httpStatusCode])).toEqual(
      Array(5).fill(['AccessDenied', 403]),
    );
    expect(refusals.map((e) => /perform: (sqs:\w+) on resource: (\S+)/.exec(e.message)?.slice(1))).toEqual([
      ['sqs:ChangeMessageVisibility', queueArn],
      ['sqs:ChangeMessageVisibility', queueArn],
      ['sqs:SendMessage', `arn:aws:sqs:us-east-1:${account}:other`],
      ['sqs:ListQueues', '*'],
      ['sqs:PurgeQueue', queueArn],
    ]);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: [{ Id: 'a', ReceiptHandle: m?.ReceiptHandle }],
      }),
    );
    expect(await counts(root, url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(
      [...(env.emulator.world.authorizedCalls.get(`arn:aws:iam::${account}:role/consumer`) ?? [])].sort(),
    ).toEqual(['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:SendMessage']);
  });
});

// ---- the Query protocol ---------------------------------------------------------------------------

const NS = 'http://queue.amazonaws.com/doc/2012-11-05/';

function call(
  account: string,
  action: string,
  params: Record<string, string> = {},
  sessionToken?: string,
): Promise<RawResponse> {
  const body = new URLSearchParams({ Action: action, Version: '2012-11-05', ...params }).toString();
  const authorization = `AWS4-HMAC-SHA256 Credential=${account}/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0`;
  const token = sessionToken === undefined ? {} : { 'x-amz-security-token': sessionToken };
  return send(env.url, body, { headers: { authorization, ...token } });
}

/** The text of each `<name>` element. */
const texts = (xml: string, name: string) =>
  [...xml.matchAll(new RegExp(`<${name}>([^<]*)</${name}>`, 'g'))].map((m) => m[1]);

function ok(response: RawResponse, action: string): string {
  expect(response.status, response.body).toBe(200);
  expect(response.body).toContain(`<${action}Response xmlns="${NS}">`);
  return response.body;
}

describe('the Query protocol', () => {
  test('batches, attributes, visibility, purge and list, with the query model’s names', async () => {
    const account = fresh();
    const created = ok(
      await call(account, 'CreateQueue', {
        QueueName: 'query',
        'Attribute.1.Name': 'VisibilityTimeout',
        'Attribute.1.Value': '40',
      }),
      'CreateQueue',
    );
    const [url = ''] = texts(created, 'QueueUrl');

    const sent = ok(
      await call(account, 'SendMessageBatch', {
        QueueUrl: url,
        'SendMessageBatchRequestEntry.1.Id': 'one',
        'SendMessageBatchRequestEntry.1.MessageBody': 'first',
        'SendMessageBatchRequestEntry.1.MessageAttribute.1.Name': 'k',
        'SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType': 'String',
        'SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue': 'v',
        'SendMessageBatchRequestEntry.2.Id': 'two',
        'SendMessageBatchRequestEntry.2.MessageBody': 'second',
        'SendMessageBatchRequestEntry.2.DelaySeconds': '5',
        'SendMessageBatchRequestEntry.3.Id': 'bad',
        'SendMessageBatchRequestEntry.3.MessageBody': 'third',
        'SendMessageBatchRequestEntry.3.DelaySeconds': '1000',
      }),
      'SendMessageBatch',
    );
    expect([...sent.matchAll(/<SendMessageBatchResultEntry><Id>(\w+)<\/Id>/g)].map((m) => m[1])).toEqual([
      'one',
      'two',
    ]);
    expect(texts(sent, 'MD5OfMessageAttributes')).toEqual(['0a77b0642718c3d9dd47090567d11e0d']);
    expect(sent).toMatch(
      /<BatchResultErrorEntry><Id>bad<\/Id><SenderFault>true<\/SenderFault><Code>InvalidParameterValue<\/Code><Message>[^<]+<\/Message><\/BatchResultErrorEntry>/,
    );

    const attributes = ok(
      await call(account, 'GetQueueAttributes', {
        QueueUrl: url,
        'AttributeName.1': 'ApproximateNumberOfMessagesDelayed',
        'AttributeName.2': 'VisibilityTimeout',
      }),
      'GetQueueAttributes',
    );
    expect(attributes).toContain('<Attribute><Name>VisibilityTimeout</Name><Value>40</Value></Attribute>');
    expect(attributes).toContain(
      '<Attribute><Name>ApproximateNumberOfMessagesDelayed</Name><Value>1</Value></Attribute>',
    );

    const received = ok(
      await call(account, 'ReceiveMessage', { QueueUrl: url, WaitTimeSeconds: '1' }),
      'ReceiveMessage',
    );
    const [handle = ''] = texts(received, 'ReceiptHandle');
    const changed = await call(account, 'ChangeMessageVisibility', {
      QueueUrl: url,
      ReceiptHandle: handle,
      VisibilityTimeout: '0',
    });
    expect(ok(changed, 'ChangeMessageVisibility')).not.toContain('ChangeMessageVisibilityResult');
    const notInFlight = await call(account, 'ChangeMessageVisibility', {
      QueueUrl: url,
      ReceiptHandle: handle,
      VisibilityTimeout: '0',
    });
    expect(notInFlight.status).toBe(400);
    expect(parseQueryError(notInFlight.body)?.code).toBe('AWS.SimpleQueueService.MessageNotInflight');

    const again = ok(await call(account, 'ReceiveMessage', { QueueUrl: url }), 'ReceiveMessage');
    const [latest = ''] = texts(again, 'ReceiptHandle');
    const batch = ok(
      await call(account, 'ChangeMessageVisibilityBatch', {
        QueueUrl: url,
        'ChangeMessageVisibilityBatchRequestEntry.1.Id': 'a',
        'ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle': latest,
        'ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout': '100',
      }),
      'ChangeMessageVisibilityBatch',
    );
    expect(batch).toContain(
      '<ChangeMessageVisibilityBatchResultEntry><Id>a</Id></ChangeMessageVisibilityBatchResultEntry>',
    );
    const deleted = ok(
      await call(account, 'DeleteMessageBatch', {
        QueueUrl: url,
        'DeleteMessageBatchRequestEntry.1.Id': 'a',
        'DeleteMessageBatchRequestEntry.1.ReceiptHandle': latest,
        'DeleteMessageBatchRequestEntry.2.Id': 'b',
        'DeleteMessageBatchRequestEntry.2.ReceiptHandle': 'bogus',
      }),
      'DeleteMessageBatch',
    );
    expect(deleted).toContain('<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>');
    expect(deleted).toMatch(
      /<BatchResultErrorEntry><Id>b<\/Id><SenderFault>true<\/SenderFault><Code>ReceiptHandleIsInvalid<\/Code>/,
    );

    const empty = await call(account, 'DeleteMessageBatch', { QueueUrl: url });
    expect(parseQueryError(empty.body)?.code).toBe('AWS.SimpleQueueService.EmptyBatchRequest');
    const set = await call(account, 'SetQueueAttributes', {
      QueueUrl: url,
      'Attribute.1.Name': 'DelaySeconds',
      'Attribute.1.Value': '3',
    });
    expect(ok(set, 'SetQueueAttributes')).not.toContain('SetQueueAttributesResult');
    expect(ok(await call(account, 'PurgeQueue', { QueueUrl: url }), 'PurgeQueue')).not.toContain(
      'PurgeQueueResult',
    );
    const purgedAgain = await call(account, 'PurgeQueue', { QueueUrl: url });
    expect([purgedAgain.status, parseQueryError(purgedAgain.body)?.code]).toEqual([
      403,
      'AWS.SimpleQueueService.PurgeQueueInProgress',
    ]);
    const listed = ok(await call(account, 'ListQueues', { QueueNamePrefix: 'qu' }), 'ListQueues');
    expect(listed).toContain(`<ListQueuesResult><QueueUrl>${url}</QueueUrl></ListQueuesResult>`);
    expect(ok(await call(account, 'DeleteQueue', { QueueUrl: url }), 'DeleteQueue')).not.toContain(
      'DeleteQueueResult',
    );
  });

  test('a role session’s batch calls are authorized as their single action there too', async () => {
    const account = fresh();
    const url = must((await sqsAs(account).send(new CreateQueueCommand({ QueueName: 'q' }))).QueueUrl, 'url');
    const iam = iamFor(env.url, account);
    await iam.send(
      new CreateRoleCommand({ RoleName: 'deleter', AssumeRolePolicyDocument: trustPolicy(account) }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'deleter',
        PolicyName: 'queue',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'sqs:DeleteMessage', Resource: `arn:aws:sqs:us-east-1:${account}:q` },
          ],
        }),
      }),
    );
    const assumed = await stsFor(env.url, account).send(
      new AssumeRoleCommand({
        RoleArn: `arn:aws:iam::${account}:role/deleter`,
        RoleSessionName: 'deleter-session',
      }),
    );
    const token = keysFrom(assumed.Credentials).sessionToken;
    const entry = (name: string) => ({
      QueueUrl: url,
      [`${name}.1.Id`]: 'a',
      [`${name}.1.ReceiptHandle`]: 'bogus',
    });

    const deleted = await call(account, 'DeleteMessageBatch', entry('DeleteMessageBatchRequestEntry'), token);
    const changed = await call(
      account,
      'ChangeMessageVisibilityBatch',
      {
        ...entry('ChangeMessageVisibilityBatchRequestEntry'),
        'ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout': '0',
      },
      token,
    );

    // Allowed: the entry fails for its handle, not the call for IAM.
    expect(ok(deleted, 'DeleteMessageBatch')).toContain('<Code>ReceiptHandleIsInvalid</Code>');
    expect(changed.status).toBe(403);
    expect(parseQueryError(changed.body)?.code).toBe('AccessDenied');
    expect(parseQueryError(changed.body)?.message).toContain(
      `sqs:ChangeMessageVisibility on resource: arn:aws:sqs:us-east-1:${account}:q`,
    );
  });
});
