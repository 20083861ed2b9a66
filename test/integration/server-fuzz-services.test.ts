import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import { CreateResourceShareCommand, GetResourceSharesCommand } from '@aws-sdk/client-ram';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { describe, expect, test, vi } from 'vitest';
import { ec2Actions } from '../../emulator/ec2/index.ts';
import { MAX_BODY_BYTES } from '../../emulator/index.ts';
import { iamFor, ramFor, stsFor } from '../support/accounts.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { expectEc2Error, parseQueryError, type RawResponse, send } from '../support/http.ts';
import { must } from '../support/topology.ts';

/**
 * The emulator's other protocols (the JSON ones, RAM's rest-json, STS and IAM) under malformed
 * input: regressions for bugs found by fuzzing them as server-fuzz.test.ts fuzzes EC2.
 */

const RAM_MANAGEMENT = '650000000000';
const env = useEmulator();

/** A SigV4 Authorization header whose credential scope selects the account and Region. */
const authorization = (account: string, region = 'us-east-1', service = 'events') =>
  `AWS4-HMAC-SHA256 Credential=${account}/20260101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`;

const sdkConfig = (account: string) => ({
  endpoint: env.url,
  region: 'us-east-1',
  maxAttempts: 1,
  credentials: { accessKeyId: account, secretAccessKey: 'test' },
});

/** `depth` levels of arrays or objects, as text. */
const nested = (depth: number, kind: 'array' | 'object') =>
  kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;

/** The error of a JSON protocol: 4xx, `{"__type", "message"}` and the same code in `x-amzn-errortype`. */
function expectJsonError(response: RawResponse, contentType: RegExp): string {
  expect(response.status, response.body).toBeGreaterThanOrEqual(400);
  expect(response.status, response.body).toBeLessThan(500);
  expect(response.contentType).toMatch(contentType);
  const error = JSON.parse(response.body) as Record<string, unknown>;
  expect(Object.keys(error).sort(), response.body).toEqual(['__type', 'message']);
  expect(typeof error.__type).toBe('string');
  expect(typeof error.message).toBe('string');
  const type = error.__type as string;
  const code = type.includes('#') ? type.slice(type.indexOf('#') + 1) : type;
  expect(code).toMatch(/^[A-Za-z]+$/);
  expect(response.headers['x-amzn-errortype']).toBe(code);
  return code;
}

/** The error of RAM's rest-json: 4xx, `{"message"}`, the code in `x-amzn-errortype`. */
function expectRamError(response: RawResponse): string {
  expect(response.status, response.body).toBeGreaterThanOrEqual(400);
  expect(response.status, response.body).toBeLessThan(500);
  expect(response.contentType).toBe('application/json');
  const error = JSON.parse(response.body) as Record<string, unknown>;
  expect(Object.keys(error), response.body).toEqual(['message']);
  expect(typeof error.message).toBe('string');
  const code = response.headers['x-amzn-errortype'];
  expect(code, response.body).toMatch(/^[A-Za-z]+$/);
  return code as string;
}

const RAM_ROUTES = {
  CreateResourceShare: '/createresourceshare',
  AssociateResourceShare: '/associateresourceshare',
  DisassociateResourceShare: '/disassociateresourceshare',
  GetResourceShares: '/getresourceshares',
  GetResourceShareAssociations: '/getresourceshareassociations',
  GetResourceShareInvitations: '/getresourceshareinvitations',
  AcceptResourceShareInvitation: '/acceptresourceshareinvitation',
  ListResources: '/listresources',
} as const;
const STS = { version: '2011-06-15', namespace: 'https://sts.amazonaws.com/doc/2011-06-15/' };
const IAM = { version: '2010-05-08', namespace: 'https://iam.amazonaws.com/doc/2010-05-08/' };
describe('regressions the fuzzing found', () => {
  const jsonHeaders = (target: string, account = '680000000000') => ({
    'x-amz-target': target,
    'content-type': 'application/x-amz-json-1.1',
    authorization: authorization(account),
  });
  /** The events the emulator's view lists for a source (read through `GET /_emulator/events`). */
  const eventsFrom = async (source: string) => {
    const view = await send(env.url, undefined, {
      method: 'GET',
      path: `/_emulator/events?source=${source}`,
    });
    expect(view.status).toBe(200);
    return JSON.parse(view.body) as { id: string; detail: unknown }[];
  };

  test('a PutEvents refused for a member of the wrong type in a later entry stores none of its entries', async () => {
    const valid = { Source: 'regression.partial', DetailType: 'T', Detail: '{"n":1}' };
    for (const bad of [
      { ...valid, Source: 5 },
      { ...valid, Resources: 'arn:aws:ec2:us-east-1:680000000000:instance/i-1' },
      { ...valid, EventBusName: ['default'] },
      { Source: [[]], DetailType: 'T', Detail: '{}' },
    ]) {
      const response = await send(env.url, JSON.stringify({ Entries: [valid, valid, bad] }), {
        headers: jsonHeaders('AWSEvents.PutEvents'),
      });
      expect(expectJsonError(response, /^application\/x-amz-json-1\.1$/)).toBe('ValidationException');
    }
    expect(await eventsFrom('regression.partial')).toEqual([]);
  });

  test('JSON nested more than 1000 levels deep is SerializationException (JSON protocols and RAM), never a 500', async () => {
    const entry = (extra: string) =>
      `{"Entries":[{"Source":"regression.deep","DetailType":"T","Detail":"{}","Extra":${extra}}]}`;
    // The body's own three levels (object, Entries, entry) and the member's: 1000 in all is read.
    const ok = await send(env.url, entry(nested(997, 'array')), {
      headers: jsonHeaders('AWSEvents.PutEvents'),
    });
    expect(ok.status, ok.body).toBe(200);
    for (const depth of [998, 5000, 200_000]) {
      const deep = await send(env.url, entry(nested(depth, 'array')), {
        headers: jsonHeaders('AWSEvents.PutEvents'),
      });
      expect(expectJsonError(deep, /^application\/x-amz-json-1\.1$/)).toBe('SerializationException');
    }
    expect(await eventsFrom('regression.deep')).toHaveLength(1);

    const queueUrl = must(
      (
        await new SQSClient(sdkConfig('680000000000')).send(
          new CreateQueueCommand({ QueueName: 'regression-deep' }),
        )
      ).QueueUrl,
      'QueueUrl',
    );
    const message = await send(
      env.url,
      `{"QueueUrl":"${queueUrl}","MessageBody":"b","MessageAttributes":{"a":${nested(5000, 'object')}}}`,
      { headers: { ...jsonHeaders('AmazonSQS.SendMessage'), 'content-type': 'application/x-amz-json-1.0' } },
    );
    expect(expectJsonError(message, /^application\/x-amz-json-1\.0$/)).toBe('SerializationException');
    expect(JSON.parse(message.body).__type).toBe('com.amazonaws.sqs#SerializationException');

    for (const path of Object.values(RAM_ROUTES)) {
      const ram = await send(env.url, `{"resourceOwner":"SELF","x":${nested(5000, 'array')}}`, { path });
      expect(expectRamError(ram), path).toBe('SerializationException');
    }
    // Nothing deep was kept: the server answers these reads as before.
    const shares = await ramFor(env.url, '680000000000').send(
      new GetResourceSharesCommand({ resourceOwner: 'SELF' }),
    );
    expect(shares.resourceShares).toEqual([]);
  });

  test('a Detail nested more than 1000 levels deep fails its entry alone, and the events view still answers', async () => {
    const detail = (depth: number) => `{"a":${nested(depth - 1, 'array')}}`;
    const entry = (depth: number) => ({
      Source: 'regression.detail',
      DetailType: 'T',
      Detail: detail(depth),
    });
    const response = await send(
      env.url,
      JSON.stringify({ Entries: [entry(1000), entry(1001), entry(60_000)] }),
      {
        headers: jsonHeaders('AWSEvents.PutEvents'),
      },
    );
    expect(response.status, response.body).toBe(200);
    const out = JSON.parse(response.body) as { FailedEntryCount: number; Entries: Record<string, string>[] };
    expect(out.FailedEntryCount).toBe(2);
    expect(out.Entries[1]).toEqual({ ErrorCode: 'InvalidArgument', ErrorMessage: 'Detail is malformed.' });
    expect(out.Entries[2]).toEqual({ ErrorCode: 'InvalidArgument', ErrorMessage: 'Detail is malformed.' });
    // The view writes the stored detail back (1000 levels inside the list and the event): it answers.
    const stored = await eventsFrom('regression.detail');
    expect(stored.map((e) => e.id)).toEqual([out.Entries[0]?.EventId]);
    let depth = 0;
    for (let node: unknown = stored[0]?.detail; typeof node === 'object' && node !== null; depth++) {
      node = Array.isArray(node) ? node[0] : (node as Record<string, unknown>).a;
    }
    expect(depth).toBe(1000);
  });

  test('a RAM page token that decodes to JSON null, or to anything but an object RAM wrote, is InvalidNextTokenException', async () => {
    const ram = ramFor(env.url, RAM_MANAGEMENT);
    for (const text of ['null', '1', '"q"', '[]', 'true', '{}']) {
      const nextToken = Buffer.from(text).toString('base64url');
      for (const path of ['/getresourceshares', '/listresources']) {
        const response = await send(env.url, JSON.stringify({ resourceOwner: 'SELF', nextToken }), { path });
        expect(expectRamError(response), `${path} ${text}`).toBe('InvalidNextTokenException');
      }
      await expect(
        ram.send(new GetResourceSharesCommand({ resourceOwner: 'SELF', nextToken })),
      ).rejects.toMatchObject({ name: 'InvalidNextTokenException', $metadata: { httpStatusCode: 400 } });
    }
  });

  test('a body too large is refused in the shape of the protocol its headers or path name', async () => {
    const big = 'x'.repeat(MAX_BODY_BYTES + 1);
    const json = await send(env.url, big, { headers: jsonHeaders('AWSEvents.PutEvents') });
    expect(json.status).toBe(413);
    expect(expectJsonError(json, /^application\/x-amz-json-1\.1$/)).toBe('RequestEntityTooLarge');
    const sqs = await send(env.url, big, { headers: jsonHeaders('AmazonSQS.SendMessage') });
    expect(expectJsonError(sqs, /^application\/x-amz-json-1\.0$/)).toBe('RequestEntityTooLarge');
    expect(JSON.parse(sqs.body).__type).toBe('com.amazonaws.sqs#RequestEntityTooLarge');
    const ram = await send(env.url, big, { path: '/createresourceshare' });
    expect(ram.status).toBe(413);
    expect(expectRamError(ram)).toBe('RequestEntityTooLarge');
    expect(JSON.parse(ram.body)).toEqual({ message: `The request body exceeds ${MAX_BODY_BYTES} bytes` });
    for (const [version, namespace] of [
      [STS.version, STS.namespace],
      [IAM.version, IAM.namespace],
    ]) {
      const query = await send(env.url, `Action=CreateRole&Version=${version}&Policy=${big}`);
      expect(query.status).toBe(413);
      const error = parseQueryError(query.body);
      expect(error, query.body).toMatchObject({ namespace, type: 'Sender', code: 'RequestEntityTooLarge' });
      expect(error?.requestId).toBe(query.requestId);
    }

    // And so the SDKs read them as errors with a name, not as answers they cannot parse.
    const events = new EventBridgeClient(sdkConfig('680000000000'));
    await expect(
      events.send(
        new PutEventsCommand({
          Entries: [{ Source: 'regression.big', DetailType: 'T', Detail: JSON.stringify({ pad: big }) }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'RequestEntityTooLarge', $metadata: { httpStatusCode: 413 } });
    await expect(
      ramFor(env.url, RAM_MANAGEMENT).send(new CreateResourceShareCommand({ name: big })),
    ).rejects.toMatchObject({ name: 'RequestEntityTooLarge', $metadata: { httpStatusCode: 413 } });
    await expect(
      stsFor(env.url, '680000000000').send(
        new AssumeRoleCommand({
          RoleArn: 'arn:aws:iam::680000000000:role/r',
          RoleSessionName: 's',
          Policy: big,
        }),
      ),
    ).rejects.toMatchObject({ name: 'RequestEntityTooLarge', $metadata: { httpStatusCode: 413 } });
    await expect(
      iamFor(env.url, '680000000000').send(
        new CreateRoleCommand({ RoleName: 'big', AssumeRolePolicyDocument: big }),
      ),
    ).rejects.toMatchObject({ name: 'RequestEntityTooLarge', $metadata: { httpStatusCode: 413 } });
    expect(await eventsFrom('regression.big')).toEqual([]);
  });

  test('an exception the emulator did not plan for is answered 500 InternalError, not left without an answer', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const broken = vi.spyOn(ec2Actions, 'DescribeVpcs').mockImplementation(() => {
      throw new TypeError('a bug in a handler');
    });
    try {
      // Before, a request whose body had been read looked like a client gone away: no answer ever came.
      const response = await send(env.url, 'Action=DescribeVpcs&Version=2016-11-15');
      expect(expectEc2Error(response, 500, 'InternalError')).toBe('The emulator failed: a bug in a handler');
      expect(logged).toHaveBeenCalledTimes(1);
      await expect(ec2For(env.url).send(new DescribeVpcsCommand({}))).rejects.toMatchObject({
        name: 'InternalError',
        $metadata: { httpStatusCode: 500 },
      });
    } finally {
      broken.mockRestore();
      logged.mockRestore();
    }
    const out = await ec2For(env.url).send(new DescribeVpcsCommand({}));
    expect(out.$metadata.httpStatusCode).toBe(200);
  });
});
