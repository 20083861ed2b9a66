import { CreateVpcCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { form, send } from '../support/http.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();
const DEFAULT = '123456789012';

let n = 0;
/** A VPC tagged with a label unique to the call, and its id. */
async function createVpc(accessKeyId: string, region = 'us-east-1') {
  const label = `vpc-${++n}`;
  const out = await ec2For(env.url, accessKeyId, region).send(
    new CreateVpcCommand({
      CidrBlock: '10.0.0.0/16',
      TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'label', Value: label }] }],
    }),
  );
  return { vpcId: must(out.Vpc?.VpcId, 'VpcId'), ownerId: out.Vpc?.OwnerId, label };
}

/** The labels of the VPCs an access key id sees in a Region. */
async function labelsSeenBy(accessKeyId: string, region = 'us-east-1'): Promise<string[]> {
  const out = await ec2For(env.url, accessKeyId, region).send(new DescribeVpcsCommand({}));
  return (out.Vpcs ?? []).flatMap(
    (v) => v.Tags?.filter((t) => t.Key === 'label').map((t) => t.Value ?? '') ?? [],
  );
}

describe('accounts', () => {
  test('an access key id of twelve digits selects that account, which sees only its own resources', async () => {
    const a = await createVpc('210987654321');
    const b = await createVpc('210987654322');
    expect(a.ownerId).toBe('210987654321');
    expect(b.ownerId).toBe('210987654322');
    expect(await labelsSeenBy('210987654321')).toEqual([a.label]);
    expect(await labelsSeenBy('210987654322')).toEqual([b.label]);
    await expect(
      ec2For(env.url, '210987654322').send(new DescribeVpcsCommand({ VpcIds: [a.vpcId] })),
    ).rejects.toMatchObject({ name: 'InvalidVpcID.NotFound' });
  });

  test(`any other access key id is account ${DEFAULT}`, async () => {
    const keys = [
      'AKIAIOSFODNN7EXAMPLE',
      '12345678901',
      '1234567890123',
      '11112222333a',
      ' 111122223333',
      'test',
    ];
    const labels: string[] = [];
    for (const key of keys) {
      const vpc = await createVpc(key);
      expect(vpc.ownerId, key).toBe(DEFAULT);
      labels.push(vpc.label);
    }
    const seen = await labelsSeenBy(DEFAULT);
    for (const label of labels) expect(seen).toContain(label);
  });

  test(`a request without credentials is account ${DEFAULT} in us-east-1`, async () => {
    const { label } = await createVpc(DEFAULT);
    const response = await send(env.url, form({ Action: 'DescribeVpcs', Version: '2016-11-15' }));
    expect(response.status).toBe(200);
    expect(response.body).toContain(`<value>${label}</value>`);
  });

  test('the signature is not checked: a wrong one still acts as the account in the credential', async () => {
    const { label } = await createVpc('210987654329');
    const response = await send(env.url, form({ Action: 'DescribeVpcs', Version: '2016-11-15' }), {
      headers: {
        authorization:
          'AWS4-HMAC-SHA256 Credential=210987654329/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00',
      },
    });
    expect(response.status).toBe(200);
    expect(response.body).toContain(`<value>${label}</value>`);
  });

  test('a presigned GET names its account and Region in X-Amz-Credential', async () => {
    const { label } = await createVpc('210987654330', 'eu-west-2');
    const query = form({
      Action: 'DescribeVpcs',
      Version: '2016-11-15',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': '210987654330/20260101/eu-west-2/ec2/aws4_request',
    });
    const response = await send(env.url, undefined, { method: 'GET', path: `/?${query}` });
    expect(response.status).toBe(200);
    expect(response.body).toContain(`<value>${label}</value>`);
    expect(response.body).toContain('<ownerId>210987654330</ownerId>');
  });
});

describe('Regions', () => {
  test('each Region of an account has its own resources', async () => {
    const account = '210987654340';
    const east = await createVpc(account, 'us-east-1');
    const west = await createVpc(account, 'eu-west-1');
    expect(await labelsSeenBy(account, 'us-east-1')).toEqual([east.label]);
    expect(await labelsSeenBy(account, 'eu-west-1')).toEqual([west.label]);
    expect(await labelsSeenBy(account, 'ap-southeast-2')).toEqual([]);
    await expect(
      ec2For(env.url, account, 'eu-west-1').send(new DescribeVpcsCommand({ VpcIds: [east.vpcId] })),
    ).rejects.toMatchObject({ name: 'InvalidVpcID.NotFound' });
  });

  test('a credential scope whose Region is not a Region name counts as us-east-1', async () => {
    const create = form({
      Action: 'CreateVpc',
      Version: '2016-11-15',
      CidrBlock: '10.0.0.0/16',
      'TagSpecification.1.ResourceType': 'vpc',
      'TagSpecification.1.Tag.1.Key': 'label',
      'TagSpecification.1.Tag.1.Value': 'junk-region',
    });
    const response = await send(env.url, create, {
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=210987654350/20260101/<bad>/ec2/aws4_request' },
    });
    expect(response.status, response.body).toBe(200);
    expect(await labelsSeenBy('210987654350', 'us-east-1')).toEqual(['junk-region']);
  });
});
