import { connect } from 'node:net';
import {
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeTagsCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { MAX_BODY_BYTES } from '../../emulator/index.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { expectEc2Error, fingerprint, form, parseError, rawSocket, send } from '../support/http.ts';
import { createNetwork, must } from '../support/topology.ts';

const env = useEmulator();
/** Raw requests carry no credentials, so they act as the default account. */
const DEFAULT = '123456789012';
const V = { Version: '2016-11-15' };

/** Runs `act` and checks that the default account's state is the same afterwards. */
async function unchanged(act: () => Promise<void>): Promise<void> {
  const before = fingerprint(env.emulator.world, DEFAULT);
  await act();
  expect(fingerprint(env.emulator.world, DEFAULT)).toBe(before);
}

/** The server still does ordinary work. */
async function stillServes(): Promise<void> {
  const out = await ec2For(env.url).send(new DescribeVpcsCommand({}));
  expect(out.$metadata.httpStatusCode).toBe(200);
}

describe('the request line and envelope', () => {
  test('an unknown Action is InvalidAction, in EC2 error XML with the request id in header and body', async () => {
    const response = await send(env.url, form({ Action: 'DescribeUnicorns', ...V }));
    const message = expectEc2Error(response, 400, 'InvalidAction');
    expect(message).toContain('DescribeUnicorns');
    expect(response.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  test('Object prototype names are not actions', async () => {
    for (const action of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expectEc2Error(await send(env.url, form({ Action: action, ...V })), 400, 'InvalidAction');
    }
  });

  test('a request without Action is MissingAction', async () => {
    expectEc2Error(await send(env.url, form(V)), 400, 'MissingAction');
    expectEc2Error(await send(env.url, ''), 400, 'MissingAction');
    expectEc2Error(await send(env.url, form({ Action: '', ...V })), 400, 'MissingAction');
  });

  test('a missing Version is MissingParameter; an unknown one NoSuchVersion, checked before the action', async () => {
    const missing = expectEc2Error(
      await send(env.url, form({ Action: 'DescribeVpcs' })),
      400,
      'MissingParameter',
    );
    expect(missing).toContain('Version');
    const wrong = expectEc2Error(
      await send(env.url, form({ Action: 'DescribeVpcs', Version: '2015-10-01' })),
      400,
      'NoSuchVersion',
    );
    expect(wrong).toBe('The requested version (2015-10-01) of service AmazonEC2 does not exist');
    // As EC2 answers an SNS request sent to it: the version is what it looks at first.
    expectEc2Error(
      await send(env.url, form({ Action: 'CreateTopic', Version: '2010-03-31' })),
      400,
      'NoSuchVersion',
    );
  });

  test('a valid mutating call with a wrong Version creates nothing', async () => {
    await unchanged(async () => {
      const response = await send(
        env.url,
        form({ Action: 'CreateVpc', Version: '2014-01-01', CidrBlock: '10.9.0.0/16' }),
      );
      expectEc2Error(response, 400, 'NoSuchVersion');
    });
  });

  test('GET with the parameters in the URL works as POST does, as EC2 documents', async () => {
    const ok = await send(env.url, undefined, {
      method: 'GET',
      path: `/?${form({ Action: 'DescribeVpcs', ...V })}`,
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatch(
      new RegExp(
        `^<\\?xml version="1.0" encoding="UTF-8"\\?>\\n<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${ok.requestId}</requestId>`,
      ),
    );
    const bad = await send(env.url, undefined, {
      method: 'GET',
      path: `/?${form({ Action: 'Nope', ...V })}`,
    });
    expectEc2Error(bad, 400, 'InvalidAction');
    expectEc2Error(await send(env.url, undefined, { method: 'GET' }), 400, 'MissingAction');
  });

  test('a GET that asks for a change is validated like a POST', async () => {
    await unchanged(async () => {
      const response = await send(env.url, undefined, {
        method: 'GET',
        path: `/?${form({ Action: 'CreateVpc', ...V, CidrBlock: 'not-a-cidr' })}`,
      });
      expectEc2Error(response, 400, 'InvalidParameterValue');
    });
  });

  test('other HTTP methods are refused and change nothing', async () => {
    await unchanged(async () => {
      for (const method of ['PUT', 'DELETE', 'PATCH']) {
        const response = await send(env.url, form({ Action: 'CreateVpc', ...V, CidrBlock: '10.8.0.0/16' }), {
          method,
        });
        expect(expectEc2Error(response, 400, 'InvalidHttpRequest')).toContain(method);
      }
    });
  });
});

describe('parameters', () => {
  test('a missing required parameter is MissingParameter naming it, through the SDK', async () => {
    const ec2 = ec2For(env.url);
    await expect(ec2.send(new CreateVpcCommand({}))).rejects.toMatchObject({
      name: 'MissingParameter',
      message: expect.stringContaining('CidrBlock'),
      $metadata: { httpStatusCode: 400 },
    });
    const { vpcId } = await createNetwork(ec2, { cidr: '10.1.0.0/16' });
    await expect(
      ec2.send(new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: 'x', Description: '' })),
    ).rejects.toMatchObject({
      name: 'MissingParameter',
      message: expect.stringContaining('GroupDescription'),
    });
  });

  test('a missing parameter in a raw request changes nothing', async () => {
    await unchanged(async () => {
      const response = await send(env.url, form({ Action: 'CreateSecurityGroup', ...V, GroupName: 'g' }));
      expectEc2Error(response, 400, 'MissingParameter');
    });
  });

  test('values that are not integers are InvalidParameterValue', async () => {
    for (const value of ['abc', '1.5', '1e3', '', ' 5', '0x10', '5abc']) {
      const response = await send(env.url, form({ Action: 'DescribeVpcs', ...V, MaxResults: value }));
      const message = expectEc2Error(response, 400, 'InvalidParameterValue');
      expect(message).toContain('MaxResults');
    }
  });

  test('integers out of range are InvalidParameterValue, through the SDK', async () => {
    const ec2 = ec2For(env.url);
    for (const MaxResults of [4, 1001, -1, 2 ** 53]) {
      await expect(ec2.send(new DescribeVpcsCommand({ MaxResults }))).rejects.toMatchObject({
        name: 'InvalidParameterValue',
        $metadata: { httpStatusCode: 400 },
      });
    }
  });

  test('a boolean that is not true or false is InvalidParameterValue and changes nothing', async () => {
    await unchanged(async () => {
      const response = await send(
        env.url,
        form({ Action: 'CreateVpc', ...V, CidrBlock: '10.2.0.0/16', DryRun: 'yes' }),
      );
      expectEc2Error(response, 400, 'InvalidParameterValue');
    });
  });

  test('list positions that are not 1, 2, 3... are InvalidParameter', async () => {
    const bad = [
      { 'VpcId.0': 'vpc-1' },
      { 'VpcId.01': 'vpc-1' },
      { 'VpcId.x': 'vpc-1' },
      { 'VpcId.-1': 'vpc-1' },
      { 'Filter..Name': 'vpc-id' },
      { 'Filter.one.Name': 'vpc-id', 'Filter.one.Value.1': 'vpc-1' },
      { 'Filter.1.Name': 'vpc-id', 'Filter.1.Value.first': 'vpc-1' },
    ];
    for (const params of bad) {
      const response = await send(env.url, form({ Action: 'DescribeVpcs', ...V, ...params }));
      expectEc2Error(response, 400, 'InvalidParameter');
    }
  });

  test('a bad list position in a create changes nothing', async () => {
    await unchanged(async () => {
      const response = await send(
        env.url,
        form({
          Action: 'CreateVpc',
          ...V,
          CidrBlock: '10.3.0.0/16',
          'TagSpecification.1.ResourceType': 'vpc',
          'TagSpecification.1.Tag.zero.Key': 'k',
        }),
      );
      expectEc2Error(response, 400, 'InvalidParameter');
    });
  });

  test('a refused CreateTags tags none of the resources, not even the valid ones before the bad one', async () => {
    const ec2 = ec2For(env.url, DEFAULT);
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.4.0.0/16' }));
    const vpcId = must(vpc.Vpc?.VpcId, 'VpcId');
    await unchanged(async () => {
      await expect(
        ec2.send(
          new CreateTagsCommand({
            Resources: [vpcId, 'vpc-00000000000000000'],
            Tags: [{ Key: 'k', Value: 'v' }],
          }),
        ),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 400 } });
      await expect(
        ec2.send(
          new CreateTagsCommand({
            Resources: [vpcId],
            Tags: [
              { Key: 'ok', Value: '1' },
              { Key: 'aws:x', Value: '2' },
            ],
          }),
        ),
      ).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    });
    const tags = await ec2.send(
      new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [vpcId] }] }),
    );
    expect(tags.Tags ?? []).toEqual([]);
  });
});

describe('bodies', () => {
  const describeVpcsPadded = (bytes: number) => {
    const head = form({ Action: 'DescribeVpcs', ...V, 'Filter.1.Name': 'tag:pad', 'Filter.1.Value.1': '' });
    return head + 'x'.repeat(bytes - head.length);
  };

  test(`a body of exactly ${MAX_BODY_BYTES} bytes is read`, async () => {
    const response = await send(env.url, describeVpcsPadded(MAX_BODY_BYTES));
    expect(response.status, response.body).toBe(200);
  });

  test('a body one byte too large is 413 RequestEntityTooLarge, and the server carries on', async () => {
    const response = await send(env.url, describeVpcsPadded(MAX_BODY_BYTES + 1));
    expectEc2Error(response, 413, 'RequestEntityTooLarge');
    const huge = await send(env.url, new Uint8Array(8 * MAX_BODY_BYTES).fill(0x61));
    expectEc2Error(huge, 413, 'RequestEntityTooLarge');
    await stillServes();
  });

  test('an oversized create creates nothing', async () => {
    await unchanged(async () => {
      const body = form({
        Action: 'CreateVpc',
        ...V,
        CidrBlock: '10.5.0.0/16',
        Pad: 'x'.repeat(MAX_BODY_BYTES),
      });
      expectEc2Error(await send(env.url, body), 413, 'RequestEntityTooLarge');
    });
  });

  test('invalid UTF-8 is read with U+FFFD in its place, and answers stay well-formed', async () => {
    const bytes = Buffer.concat([
      Buffer.from('Action=Describe'),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
      Buffer.from('Vpcs&Version=2016-11-15'),
    ]);
    expect(expectEc2Error(await send(env.url, bytes), 400, 'InvalidAction')).toContain(
      'Describe\uFFFD\uFFFD\uFFFD(Vpcs',
    );
    const encoded = await send(env.url, 'Action=Describe%FF%C3%28Vpcs&Version=2016-11-15');
    expect(expectEc2Error(encoded, 400, 'InvalidAction')).toContain('Describe\uFFFD\uFFFD(Vpcs');
    const tagged = Buffer.concat([
      Buffer.from(
        form({
          Action: 'CreateVpc',
          ...V,
          CidrBlock: '10.7.0.0/16',
          'TagSpecification.1.ResourceType': 'vpc',
          'TagSpecification.1.Tag.1.Key': 'k',
        }),
      ),
      Buffer.from('&TagSpecification.1.Tag.1.Value=a'),
      Buffer.from([0xc3]),
    ]);
    const created = await send(env.url, tagged);
    expect(created.status, created.body).toBe(200);
    expect(created.body).toContain('<value>a\uFFFD</value>');
  });

  test('garbage bodies get an EC2 error, never a crash', async () => {
    const garbage = [
      Buffer.from([0x00, 0x01, 0x02, 0xff, 0x80, 0x3d, 0x26]),
      Buffer.from('%%%&&&===.....'),
      Buffer.from('Action=%ZZ&Version=%'),
      Buffer.from('{"Action":"DescribeVpcs","Version":"2016-11-15"}'),
      Buffer.from('<xml>Action=DescribeVpcs</xml>'),
    ];
    for (const body of garbage) {
      const response = await send(env.url, body);
      expect(response.status, response.body).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(parseError(response.body)?.requestId).toBe(response.requestId);
    }
    await stillServes();
  });

  test('control characters a client stores come back as U+FFFD, so strict XML parsers can read the answer', async () => {
    const ec2 = ec2For(env.url);
    const created = await ec2.send(
      new CreateVpcCommand({
        CidrBlock: '10.6.0.0/16',
        TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'note', Value: 'a\u0001b\u001fc' }] }],
      }),
    );
    const vpcId = must(created.Vpc?.VpcId, 'VpcId');
    const raw = await send(env.url, form({ Action: 'DescribeVpcs', ...V, 'VpcId.1': vpcId }), {
      headers: {
        authorization: 'AWS4-HMAC-SHA256 Credential=111111111111/20260101/us-east-1/ec2/aws4_request',
      },
    });
    expect(raw.status).toBe(200);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is that none are there
    expect(raw.body).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    const described = await ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }));
    expect(described.Vpcs?.[0]?.Tags).toEqual([{ Key: 'note', Value: 'a\uFFFDb\uFFFDc' }]);
  });
});

describe('the connection', () => {
  test('a client that goes away in the middle of its body does not hurt the server', async () => {
    const { host, hostname, port } = new URL(env.url);
    const partial = `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nAction=Cre`;
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(partial, () => {
          socket.destroy();
          resolve();
        });
      });
      socket.on('error', reject);
    });
    await stillServes();
  });

  test('bytes that are not HTTP get 400 from the HTTP layer, and the server carries on', async () => {
    const answer = await rawSocket(env.url, 'HELLO THERE\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    await stillServes();
  });

  test('many malformed requests at once are each answered', async () => {
    const bodies = Array.from({ length: 200 }, (_, i) => form({ Action: `Bogus${i}`, ...V }));
    const answers = await Promise.all(bodies.map((body) => send(env.url, body)));
    for (const [i, answer] of answers.entries()) {
      expect(expectEc2Error(answer, 400, 'InvalidAction')).toContain(`Bogus${i}`);
    }
    expect(new Set(answers.map((a) => a.requestId)).size).toBe(200);
  });
});
