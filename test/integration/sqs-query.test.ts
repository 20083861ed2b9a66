import { createHash } from 'node:crypto';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { describe, expect, test } from 'vitest';
import { iamFor, keysFrom, stsFor, trustPolicy } from '../support/accounts.ts';
import { useEmulator } from '../support/emulator.ts';
import { parseQueryError, type RawResponse, send } from '../support/http.ts';
import { isWellFormedXml } from '../support/xml.ts';

/**
 * SQS on the AWS Query protocol, as the AWS CLI v1 and the SDKs from before late 2023 speak it:
 * hand-written form requests (`Action=...&Version=2012-11-05`), XML answers in SQS's namespace,
 * errors with the Query codes (`AWS.SimpleQueueService.NonExistentQueue`, not `QueueDoesNotExist`).
 * Names and list encodings are those of botocore's and the SDK's query model of SQS.
 */

const env = useEmulator();
const NS = 'http://queue.amazonaws.com/doc/2012-11-05/';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

const authorization = (account: string) =>
  `AWS4-HMAC-SHA256 Credential=${account}/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0`;

/** A Query request as the SDKs write it: form-encoded, to `/` unless a path (the queue's URL) is given. */
function query(account: string, params: [string, string][], path = '/'): Promise<RawResponse> {
  const body = new URLSearchParams(params).toString();
  return send(env.url, body, { path, headers: { authorization: authorization(account) } });
}

const call = (account: string, action: string, params: Record<string, string> = {}, path?: string) =>
  query(account, [['Action', action], ['Version', '2012-11-05'], ...Object.entries(params)], path);

/** The members of a successful answer's Result, asserting the envelope SQS writes around them. */
function resultOf(response: RawResponse, action: string): string {
  expect(response.status, response.body).toBe(200);
  expect(response.contentType).toMatch(/^text\/xml/);
  expect(isWellFormedXml(response.body), response.body).toBe(true);
  const envelope = new RegExp(
    `^<\\?xml version="1\\.0" encoding="UTF-8"\\?>\\n<${action}Response xmlns="${NS.replace(/\./g, '\\.')}">(?:<${action}Result>(.*)</${action}Result>)?<ResponseMetadata><RequestId>(${UUID})</RequestId></ResponseMetadata></${action}Response>$`,
    's',
  );
  const match = envelope.exec(response.body);
  expect(match, response.body).not.toBeNull();
  expect(match?.[2]).toBe(response.requestId);
  return match?.[1] ?? '';
}

/** A refusal in SQS's Query shape; returns its code and message. */
function errorOf(response: RawResponse, status = 400): { code: string; message: string } {
  expect(response.status, response.body).toBe(status);
  expect(response.contentType).toMatch(/^text\/xml/);
  const error = parseQueryError(response.body);
  expect(error, response.body).toBeDefined();
  expect(error?.namespace).toBe(NS);
  expect(error?.type).toBe(status >= 500 ? 'Receiver' : 'Sender');
  expect(error?.requestId).toBe(response.requestId);
  return { code: error?.code ?? '', message: error?.message ?? '' };
}

/** Every `<name>` element's text, in order. */
const texts = (xml: string, name: string) =>
  [...xml.matchAll(new RegExp(`<${name}>([^<]*)</${name}>`, 'g'))].map((m) => m[1] ?? '');

/** `<Message>` elements of a ReceiveMessage result. */
const messagesOf = (result: string) =>
  [...result.matchAll(/<Message>(.*?)<\/Message>/gs)].map((m) => m[1] ?? '');

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

async function newQueue(account: string, name: string): Promise<string> {
  const result = resultOf(await call(account, 'CreateQueue', { QueueName: name }), 'CreateQueue');
  const [url] = texts(result, 'QueueUrl');
  expect(url).toBe(`${env.url}/${account}/${name}`);
  return url ?? '';
}

describe('SQS on the Query protocol', () => {
  test('CreateQueue, GetQueueUrl, SendMessage with message attributes, ReceiveMessage with attributes, DeleteMessage', async () => {
    const account = '700000000001';
    const created = resultOf(
      await call(account, 'CreateQueue', {
        QueueName: 'dead-letters',
        'Attribute.1.Name': 'VisibilityTimeout',
        'Attribute.1.Value': '30',
        'Tag.1.Key': 'team',
        'Tag.1.Value': 'net',
      }),
      'CreateQueue',
    );
    const queueUrl = `${env.url}/${account}/dead-letters`;
    expect(created).toBe(`<QueueUrl>${queueUrl}</QueueUrl>`);
    const found = resultOf(await call(account, 'GetQueueUrl', { QueueName: 'dead-letters' }), 'GetQueueUrl');
    expect(found).toBe(`<QueueUrl>${queueUrl}</QueueUrl>`);

    const body = 'a finding <&> "quoted" é';
    const sent = resultOf(
      await call(account, 'SendMessage', {
        QueueUrl: queueUrl,
        MessageBody: body,
        'MessageAttribute.1.Name': 'k',
        'MessageAttribute.1.Value.DataType': 'String',
        'MessageAttribute.1.Value.StringValue': 'v',
      }),
      'SendMessage',
    );
    const [messageId] = texts(sent, 'MessageId');
    expect(messageId).toMatch(new RegExp(`^${UUID}$`));
    expect(texts(sent, 'MD5OfMessageBody')).toEqual([md5(body)]);
    // SQS's documented digest of the attributes; the same value moto computes for {k: String v}.
    expect(texts(sent, 'MD5OfMessageAttributes')).toEqual(['0a77b0642718c3d9dd47090567d11e0d']);

    const before = Date.now();
    const received = resultOf(
      await call(account, 'ReceiveMessage', {
        QueueUrl: queueUrl,
        MaxNumberOfMessages: '10',
        'AttributeName.1': 'All',
        'MessageAttributeName.1': 'All',
      }),
      'ReceiveMessage',
    );
    const [message, ...others] = messagesOf(received);
    expect(others).toEqual([]);
    expect(texts(message ?? '', 'MessageId')).toEqual([messageId]);
    expect(texts(message ?? '', 'Body')).toEqual(['a finding &lt;&amp;&gt; &quot;quoted&quot; é']);
    expect(texts(message ?? '', 'MD5OfBody')).toEqual([md5(body)]);
    expect(texts(message ?? '', 'MD5OfMessageAttributes')).toEqual(['0a77b0642718c3d9dd47090567d11e0d']);
    // Flattened maps: one <Attribute> per system attribute, one <MessageAttribute> per message attribute.
    const system = Object.fromEntries(
      [
        ...(message ?? '').matchAll(/<Attribute><Name>([^<]+)<\/Name><Value>([^<]*)<\/Value><\/Attribute>/g),
      ].map((m) => [m[1], m[2]]),
    );
    expect(Object.keys(system).sort()).toEqual([
      'ApproximateFirstReceiveTimestamp',
      'ApproximateReceiveCount',
      'SenderId',
      'SentTimestamp',
    ]);
    expect(system.SenderId).toBe(account);
    expect(system.ApproximateReceiveCount).toBe('1');
    expect(Number(system.SentTimestamp)).toBeLessThanOrEqual(Number(system.ApproximateFirstReceiveTimestamp));
    expect(Number(system.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(before);
    expect(message).toContain(
      '<MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>',
    );

    const [receiptHandle = ''] = texts(message ?? '', 'ReceiptHandle');
    const deleted = await call(account, 'DeleteMessage', {
      QueueUrl: queueUrl,
      ReceiptHandle: receiptHandle,
    });
    expect(resultOf(deleted, 'DeleteMessage')).toBe('');
    expect(deleted.body).not.toContain('DeleteMessageResult');
    const empty = resultOf(await call(account, 'ReceiveMessage', { QueueUrl: queueUrl }), 'ReceiveMessage');
    expect(empty).toBe('');
  });

  test('a request sent to the queue URL names the queue without a QueueUrl parameter', async () => {
    const account = '700000000002';
    const queueUrl = await newQueue(account, 'by-path');
    const path = new URL(queueUrl).pathname;
    resultOf(await call(account, 'SendMessage', { MessageBody: 'one' }, path), 'SendMessage');
    const received = resultOf(await call(account, 'ReceiveMessage', {}, path), 'ReceiveMessage');
    expect(texts(received, 'Body')).toEqual(['one']);
    // Without either, the request names no queue.
    const error = errorOf(await call(account, 'SendMessage', { MessageBody: 'two' }));
    expect(error).toEqual({
      code: 'MissingParameter',
      message: 'The request must contain the parameter QueueUrl',
    });
  });

  test('ReceiveMessage returns only the attributes asked for, by name, prefix or All', async () => {
    const account = '700000000003';
    const queueUrl = await newQueue(account, 'attributes');
    const attributes = {
      'MessageAttribute.1.Name': 'mirror.session',
      'MessageAttribute.1.Value.DataType': 'String',
      'MessageAttribute.1.Value.StringValue': 'tms-1',
      'MessageAttribute.2.Name': 'mirror.count',
      'MessageAttribute.2.Value.DataType': 'Number.int',
      'MessageAttribute.2.Value.StringValue': '3',
      'MessageAttribute.3.Name': 'raw',
      'MessageAttribute.3.Value.DataType': 'Binary',
      'MessageAttribute.3.Value.BinaryValue': Buffer.from([0, 1, 2]).toString('base64'),
    };
    const sent = resultOf(
      await call(account, 'SendMessage', { QueueUrl: queueUrl, MessageBody: 'm', ...attributes }),
      'SendMessage',
    );
    const receive = async (names: Record<string, string>) => {
      const result = resultOf(
        // VisibilityTimeout 0: the message stays visible for the next receive.
        await call(account, 'ReceiveMessage', { QueueUrl: queueUrl, VisibilityTimeout: '0', ...names }),
        'ReceiveMessage',
      );
      const [message = ''] = messagesOf(result);
      return {
        message,
        names: [...message.matchAll(/<MessageAttribute><Name>([^<]+)<\/Name>/g)].map((m) => m[1]),
        system: [...message.matchAll(/<Attribute><Name>([^<]+)<\/Name>/g)].map((m) => m[1]),
      };
    };

    const none = await receive({});
    expect(none.names).toEqual([]);
    expect(none.system).toEqual([]);
    expect(none.message).not.toContain('MD5OfMessageAttributes');

    const all = await receive({ 'MessageAttributeName.1': '.*' });
    expect(all.names).toEqual(['mirror.session', 'mirror.count', 'raw']);
    expect(texts(all.message, 'MD5OfMessageAttributes')).toEqual(texts(sent, 'MD5OfMessageAttributes'));
    expect(all.message).toContain(
      '<MessageAttribute><Name>raw</Name><Value><DataType>Binary</DataType><BinaryValue>AAEC</BinaryValue></Value></MessageAttribute>',
    );

    const family = await receive({
      'MessageAttributeName.1': 'mirror.*',
      'AttributeName.1': 'ApproximateReceiveCount',
    });
    expect(family.names).toEqual(['mirror.session', 'mirror.count']);
    expect(family.system).toEqual(['ApproximateReceiveCount']);
    // Three receives so far: the count says so.
    expect(family.message).toContain(
      '<Attribute><Name>ApproximateReceiveCount</Name><Value>3</Value></Attribute>',
    );

    const one = await receive({
      'MessageAttributeName.1': 'raw',
      'MessageSystemAttributeName.1': 'SenderId',
    });
    expect(one.names).toEqual(['raw']);
    expect(one.system).toEqual(['SenderId']);
    // The digest covers the attributes returned, not all the message has.
    expect(texts(one.message, 'MD5OfMessageAttributes')).not.toEqual(texts(sent, 'MD5OfMessageAttributes'));
  });

  test('one queue, two protocols: what the Query protocol sends the JSON SDK receives, and back', async () => {
    const account = '700000000004';
    const queueUrl = await newQueue(account, 'both');
    const sqs = new SQSClient({
      endpoint: env.url,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: account, secretAccessKey: 'test' },
    });
    resultOf(
      await call(account, 'SendMessage', {
        QueueUrl: queueUrl,
        MessageBody: 'from query',
        'MessageAttribute.1.Name': 'k',
        'MessageAttribute.1.Value.DataType': 'String',
        'MessageAttribute.1.Value.StringValue': 'v',
      }),
      'SendMessage',
    );
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: 'from json',
        MessageAttributes: { k: { DataType: 'String', StringValue: 'v' } },
      }),
    );
    const viaJson = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        VisibilityTimeout: 0,
      }),
    );
    expect(viaJson.Messages?.map((m) => m.Body)).toEqual(['from query', 'from json']);
    expect(viaJson.Messages?.[0]?.MessageAttributes).toEqual({ k: { DataType: 'String', StringValue: 'v' } });
    expect(viaJson.Messages?.[0]?.MD5OfMessageAttributes).toBe('0a77b0642718c3d9dd47090567d11e0d');
    const viaQuery = resultOf(
      await call(account, 'ReceiveMessage', { QueueUrl: queueUrl, MaxNumberOfMessages: '10' }),
      'ReceiveMessage',
    );
    expect(texts(viaQuery, 'Body')).toEqual(['from query', 'from json']);
  });

  test("refusals carry SQS's Query error codes", async () => {
    const account = '700000000005';
    const queueUrl = await newQueue(account, 'errors');
    const missingQueue = `${env.url}/${account}/missing`;
    const cases: [string, Record<string, string>, string][] = [
      ['GetQueueUrl', { QueueName: 'missing' }, 'AWS.SimpleQueueService.NonExistentQueue'],
      [
        'SendMessage',
        { QueueUrl: missingQueue, MessageBody: 'x' },
        'AWS.SimpleQueueService.NonExistentQueue',
      ],
      ['ReceiveMessage', { QueueUrl: missingQueue }, 'AWS.SimpleQueueService.NonExistentQueue'],
      [
        'DeleteMessage',
        { QueueUrl: missingQueue, ReceiptHandle: 'h' },
        'AWS.SimpleQueueService.NonExistentQueue',
      ],
      ['CreateQueue', {}, 'MissingParameter'],
      ['SendMessage', { QueueUrl: queueUrl }, 'MissingParameter'],
      ['DeleteMessage', { QueueUrl: queueUrl }, 'MissingParameter'],
      ['CreateQueue', { QueueName: 'bad name!' }, 'InvalidParameterValue'],
      ['ReceiveMessage', { QueueUrl: queueUrl, MaxNumberOfMessages: '11' }, 'InvalidParameterValue'],
      ['ReceiveMessage', { QueueUrl: queueUrl, MaxNumberOfMessages: '1.5' }, 'InvalidParameterValue'],
      [
        'SendMessage',
        {
          QueueUrl: queueUrl,
          MessageBody: 'x',
          'MessageAttribute.1.Name': 'k',
          'MessageAttribute.1.Value.DataType': 'Text',
          'MessageAttribute.1.Value.StringValue': 'v',
        },
        'InvalidParameterValue',
      ],
      [
        'SendMessage',
        {
          QueueUrl: queueUrl,
          MessageBody: 'x',
          'MessageAttribute.1.Name': 'AWS.k',
          'MessageAttribute.1.Value.DataType': 'String',
          'MessageAttribute.1.Value.StringValue': 'v',
        },
        'InvalidParameterValue',
      ],
      [
        'SendMessage',
        { QueueUrl: queueUrl, MessageBody: 'x', 'MessageAttribute.1.Name': 'k' },
        'InvalidParameterValue',
      ],
      [
        'SendMessage',
        { QueueUrl: queueUrl, MessageBody: 'x', 'MessageAttribute.0.Name': 'k' },
        'InvalidParameter',
      ],
      ['ListQueueTags', {}, 'InvalidAction'],
      ['constructor', {}, 'InvalidAction'],
    ];
    for (const [action, params, code] of cases) {
      expect(errorOf(await call(account, action, params)).code, `${action} ${JSON.stringify(params)}`).toBe(
        code,
      );
    }
    // A receipt handle SQS never issued: 404 in SQS's model.
    const invalid = await call(account, 'DeleteMessage', {
      QueueUrl: queueUrl,
      ReceiptHandle: 'not-a-handle',
    });
    expect(errorOf(invalid, 404).code).toBe('ReceiptHandleIsInvalid');
    expect(errorOf(await call(account, 'GetQueueUrl', { QueueName: 'missing' })).message).toBe(
      'The specified queue missing does not exist.',
    );
    expect(errorOf(await query(account, [['Version', '2012-11-05']])).code).toBe('MissingAction');
    // Nothing refused reached the queue.
    const left = resultOf(await call(account, 'ReceiveMessage', { QueueUrl: queueUrl }), 'ReceiveMessage');
    expect(left).toBe('');
  });

  test('injected failures are 500 InternalError of type Receiver, in the Query shape', async () => {
    const account = '700000000006';
    const queueUrl = await newQueue(account, 'faults');
    env.emulator.faults.set({ failActions: ['SendMessage'] });
    try {
      const failed = errorOf(
        await call(account, 'SendMessage', { QueueUrl: queueUrl, MessageBody: 'x' }),
        500,
      );
      expect(failed.code).toBe('InternalError');
    } finally {
      env.emulator.faults.set({});
    }
    const left = resultOf(await call(account, 'ReceiveMessage', { QueueUrl: queueUrl }), 'ReceiveMessage');
    expect(left).toBe('');
  });
  test("a role session's Query requests are authorized as its JSON requests are: a refusal is 403 AccessDenied", async () => {
    const account = '700000000007';
    const [allowedUrl, otherUrl] = [await newQueue(account, 'allowed'), await newQueue(account, 'other')];
    const iam = iamFor(env.url, account);
    const role = await iam.send(
      new CreateRoleCommand({ RoleName: 'sender', AssumeRolePolicyDocument: trustPolicy(account) }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'sender',
        PolicyName: 'send',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'sqs:SendMessage',
              Resource: `arn:aws:sqs:us-east-1:${account}:allowed`,
            },
          ],
        }),
      }),
    );
    const assumed = await stsFor(env.url, account).send(
      new AssumeRoleCommand({ RoleArn: role.Role?.Arn, RoleSessionName: 'query' }),
    );
    const keys = keysFrom(assumed.Credentials);
    const asRole = (params: Record<string, string>) =>
      send(env.url, new URLSearchParams({ Version: '2012-11-05', ...params }).toString(), {
        headers: {
          authorization: authorization(keys.accessKeyId),
          'x-amz-security-token': keys.sessionToken ?? '',
        },
      });

    resultOf(await asRole({ Action: 'SendMessage', QueueUrl: allowedUrl, MessageBody: 'ok' }), 'SendMessage');
    const refused = errorOf(
      await asRole({ Action: 'SendMessage', QueueUrl: otherUrl, MessageBody: 'no' }),
      403,
    );
    expect(refused.code).toBe('AccessDenied');
    expect(refused.message).toContain(`sqs:SendMessage on resource: arn:aws:sqs:us-east-1:${account}:other`);
    expect(errorOf(await asRole({ Action: 'ReceiveMessage', QueueUrl: allowedUrl }), 403).code).toBe(
      'AccessDenied',
    );
    // Nothing reached the refused queue.
    expect(resultOf(await call(account, 'ReceiveMessage', { QueueUrl: otherUrl }), 'ReceiveMessage')).toBe(
      '',
    );
  });
});
