import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  DescribeTagsCommand,
  type EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import { freshClient, rejectsWith } from '../support/mirroring.ts';
import { createNetwork, launch } from '../support/topology.ts';

const env = useEmulator();

async function tagsOf(ec2: EC2Client, resourceId: string): Promise<Tag[]> {
  const out = await ec2.send(
    new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [resourceId] }] }),
  );
  return (out.Tags ?? []).map(({ Key, Value }) => ({ Key, Value }));
}

const tags = (record: Record<string, string>): Tag[] =>
  Object.entries(record).map(([Key, Value]) => ({ Key, Value }));

describe('CreateTags', () => {
  it('adds and overwrites tags on several resources; the resources show them', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    const { instanceId, eniId } = await launch(ec2, network.subnetId, 'm5.large', { env: 'dev' });

    await ec2.send(
      new CreateTagsCommand({ Resources: [instanceId, eniId], Tags: tags({ env: 'prod', mirror: 'on' }) }),
    );
    const instance = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));

    expect(instance.Reservations?.[0]?.Instances?.[0]?.Tags).toEqual(tags({ env: 'prod', mirror: 'on' }));
    expect(await tagsOf(ec2, eniId)).toEqual(tags({ env: 'prod', mirror: 'on' }));
  });

  it('a tag without a value gets the empty string', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);

    await ec2.send(new CreateTagsCommand({ Resources: [network.vpcId], Tags: [{ Key: 'flag' }] }));

    expect(await tagsOf(ec2, network.vpcId)).toEqual([{ Key: 'flag', Value: '' }]);
  });

  it('refuses keys starting with aws: (any case) with InvalidParameterValue, changing nothing', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);

    for (const Key of ['aws:cloudformation:stack', 'AWS:x']) {
      await rejectsWith(
        ec2.send(
          new CreateTagsCommand({
            Resources: [network.vpcId],
            Tags: [
              { Key: 'ok', Value: '1' },
              { Key, Value: 'x' },
            ],
          }),
        ),
        'InvalidParameterValue',
      );
    }

    expect(await tagsOf(ec2, network.vpcId)).toEqual([]);
  });

  it('allows 50 tags on a resource and refuses the 51st with TagLimitExceeded', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    const fifty = Array.from({ length: 50 }, (_, i) => ({
      Key: `k${String(i).padStart(2, '0')}`,
      Value: 'v',
    }));
    await ec2.send(new CreateTagsCommand({ Resources: [network.subnetId], Tags: fifty }));

    await ec2.send(
      new CreateTagsCommand({ Resources: [network.subnetId], Tags: [{ Key: 'k00', Value: 'again' }] }),
    );
    await rejectsWith(
      ec2.send(new CreateTagsCommand({ Resources: [network.subnetId], Tags: [{ Key: 'k50', Value: 'v' }] })),
      'TagLimitExceeded',
    );

    const now = await tagsOf(ec2, network.subnetId);
    expect(now).toHaveLength(50);
    expect(now.find((t) => t.Key === 'k00')?.Value).toBe('again');
  });

  it('refuses a value over 255 characters with InvalidParameterValue', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);

    await rejectsWith(
      ec2.send(
        new CreateTagsCommand({ Resources: [network.vpcId], Tags: [{ Key: 'k', Value: 'x'.repeat(256) }] }),
      ),
      'InvalidParameterValue',
    );
  });

  it.each([
    ['i-0123456789abcdef0', 'InvalidInstanceID.NotFound'],
    ['eni-0123456789abcdef0', 'InvalidNetworkInterfaceID.NotFound'],
    ['vpc-0123456789abcdef0', 'InvalidVpcID.NotFound'],
    ['subnet-0123456789abcdef0', 'InvalidSubnetID.NotFound'],
    ['sg-0123456789abcdef0', 'InvalidGroup.NotFound'],
    ['nonsense', 'InvalidID'],
  ])('refuses the unknown %s with %s, tagging none of the others', async (id, code) => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);

    await rejectsWith(
      ec2.send(new CreateTagsCommand({ Resources: [network.vpcId, id], Tags: [{ Key: 'a', Value: 'b' }] })),
      code,
    );

    expect(await tagsOf(ec2, network.vpcId)).toEqual([]);
  });
});

describe('DeleteTags', () => {
  it('deletes by key whatever the value; with a value only when it matches; with "" only an empty value', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    await ec2.send(
      new CreateTagsCommand({
        Resources: [network.vpcId],
        Tags: tags({ any: 'x', match: 'yes', mismatch: 'no', empty: '', notEmpty: 'v' }),
      }),
    );

    await ec2.send(
      new DeleteTagsCommand({
        Resources: [network.vpcId],
        Tags: [
          { Key: 'any' },
          { Key: 'match', Value: 'yes' },
          { Key: 'mismatch', Value: 'yes' },
          { Key: 'empty', Value: '' },
          { Key: 'notEmpty', Value: '' },
        ],
      }),
    );

    expect(await tagsOf(ec2, network.vpcId)).toEqual(tags({ mismatch: 'no', notEmpty: 'v' }));
  });

  it('without tags deletes every tag of the resources', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    await ec2.send(
      new CreateTagsCommand({ Resources: [network.vpcId, network.subnetId], Tags: tags({ a: '1', b: '2' }) }),
    );

    await ec2.send(new DeleteTagsCommand({ Resources: [network.vpcId] }));

    expect(await tagsOf(ec2, network.vpcId)).toEqual([]);
    expect(await tagsOf(ec2, network.subnetId)).toEqual(tags({ a: '1', b: '2' }));
  });

  it('refuses an aws: key with InvalidParameterValue and an unknown resource with its NotFound code', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    await ec2.send(new CreateTagsCommand({ Resources: [network.vpcId], Tags: tags({ a: '1' }) }));

    await rejectsWith(
      ec2.send(new DeleteTagsCommand({ Resources: [network.vpcId], Tags: [{ Key: 'aws:x' }] })),
      'InvalidParameterValue',
    );
    await rejectsWith(
      ec2.send(new DeleteTagsCommand({ Resources: [network.vpcId, 'vpc-0123456789abcdef0'] })),
      'InvalidVpcID.NotFound',
    );

    expect(await tagsOf(ec2, network.vpcId)).toEqual(tags({ a: '1' }));
  });
});

describe('DescribeTags', () => {
  it('answers resource id, type, key and value; filters by key, value, resource type and wildcards', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    const { instanceId, eniId } = await launch(ec2, network.subnetId);
    await ec2.send(
      new CreateTagsCommand({
        Resources: [instanceId],
        Tags: tags({ 'mirror:scope': 'full', Name: 'web-1' }),
      }),
    );
    await ec2.send(new CreateTagsCommand({ Resources: [eniId], Tags: tags({ 'mirror:scope': 'dns' }) }));
    await ec2.send(new CreateTagsCommand({ Resources: [network.vpcId], Tags: tags({ Name: 'lab' }) }));

    const byKey = await ec2.send(
      new DescribeTagsCommand({ Filters: [{ Name: 'key', Values: ['mirror:scope'] }] }),
    );
    const byType = await ec2.send(
      new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['network-interface'] }] }),
    );
    const byWildcard = await ec2.send(
      new DescribeTagsCommand({
        Filters: [
          { Name: 'key', Values: ['Na*'] },
          { Name: 'value', Values: ['web-?'] },
        ],
      }),
    );

    expect(byKey.Tags).toEqual([
      { ResourceId: instanceId, ResourceType: 'instance', Key: 'mirror:scope', Value: 'full' },
      { ResourceId: eniId, ResourceType: 'network-interface', Key: 'mirror:scope', Value: 'dns' },
    ]);
    expect(byType.Tags?.map((t) => t.ResourceId)).toEqual([eniId]);
    expect(byWildcard.Tags).toEqual([
      { ResourceId: instanceId, ResourceType: 'instance', Key: 'Name', Value: 'web-1' },
    ]);
  });

  it('tag:KEY selects the resources with that tag and lists all their tags', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    await ec2.send(
      new CreateTagsCommand({ Resources: [network.vpcId], Tags: tags({ team: 'sec', Name: 'a' }) }),
    );
    await ec2.send(
      new CreateTagsCommand({ Resources: [network.subnetId], Tags: tags({ team: 'ops', Name: 'b' }) }),
    );

    const out = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'tag:team', Values: ['sec'] }] }));

    expect(out.Tags?.map((t) => [t.ResourceId, t.Key])).toEqual([
      [network.vpcId, 'Name'],
      [network.vpcId, 'team'],
    ]);
  });

  it('refuses an unknown filter name with InvalidParameterValue', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource', Values: ['x'] }] })),
      'InvalidParameterValue',
    );
  });

  it('pages without skipping a tag when tags already listed are deleted between pages', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    const keys = Array.from({ length: 12 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    await ec2.send(
      new CreateTagsCommand({ Resources: [network.vpcId], Tags: keys.map((Key) => ({ Key, Value: Key })) }),
    );

    const first = await ec2.send(new DescribeTagsCommand({ MaxResults: 5 }));
    const seen = (first.Tags ?? []).map((t) => t.Key);
    await ec2.send(new DeleteTagsCommand({ Resources: [network.vpcId], Tags: seen.map((Key) => ({ Key })) }));
    const rest: (string | undefined)[] = [];
    let token = first.NextToken;
    while (token) {
      const page = await ec2.send(new DescribeTagsCommand({ MaxResults: 5, NextToken: token }));
      rest.push(...(page.Tags ?? []).map((t) => t.Key));
      token = page.NextToken;
    }

    expect(new Set([...seen, ...rest]).size).toBe(12);
    expect([...seen, ...rest].sort()).toEqual(keys);
  });
});
