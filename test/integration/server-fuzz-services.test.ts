import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { describe, expect, test, vi } from 'vitest';
import { ec2Actions } from '../../emulator/ec2/index.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { expectEc2Error, send } from '../support/http.ts';

/**
 * The emulator's other protocols (the JSON ones, RAM's rest-json, STS and IAM) under malformed
 * input: regressions for bugs found by fuzzing them as server-fuzz.test.ts fuzzes EC2.
 */

const env = useEmulator();

describe('regressions the fuzzing found', () => {
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
