import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { describe, expect, test, vi } from 'vitest';
import { ec2Actions } from '../../emulator/ec2/index.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { expectEc2Error, type RawResponse, send } from '../support/http.ts';

/**
 * The emulator's other protocols (the JSON ones, RAM's rest-json, STS and IAM) under malformed
 * input: regressions for bugs found by fuzzing them as server-fuzz.test.ts fuzzes EC2.
 */

const env = useEmulator();

/** A SigV4 Authorization header whose credential scope selects the account and Region. */
const authorization = (account: string, region = 'us-east-1', service = 'events') =>
  `AWS4-HMAC-SHA256 Credential=${account}/20260101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`;

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
