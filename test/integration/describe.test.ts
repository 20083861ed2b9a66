import {
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteNetworkInterfaceCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeTagsCommand,
  DescribeVpcsCommand,
  type EC2Client,
  type Filter,
  paginateDescribeInstances,
  paginateDescribeNetworkInterfaces,
  paginateDescribeSecurityGroups,
  paginateDescribeSubnets,
  paginateDescribeTags,
  paginateDescribeVpcs,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import { freshClient, rejectsWith } from '../support/mirroring.ts';
import { createNetwork, launch, must } from '../support/topology.ts';

const env = useEmulator();

/** The five topology Describe calls, each reduced to "filters and paging in, ids out". */
interface Lister {
  name: string;
  notFound: string;
  unknownId: string;
  list(
    ec2: EC2Client,
    input: { Filters?: Filter[]; MaxResults?: number; NextToken?: string; ids?: string[] },
  ): Promise<{ ids: string[]; next: string | undefined }>;
}

const idsOf = <T>(xs: T[] | undefined, pick: (x: T) => string | undefined) =>
  (xs ?? []).map((x) => String(pick(x)));

const listers: Lister[] = [
  {
    name: 'DescribeVpcs',
    notFound: 'InvalidVpcID.NotFound',
    unknownId: 'vpc-0123456789abcdef0',
    async list(ec2, { ids: VpcIds, ...rest }) {
      const out = await ec2.send(new DescribeVpcsCommand({ ...rest, ...(VpcIds ? { VpcIds } : {}) }));
      return { ids: idsOf(out.Vpcs, (v) => v.VpcId), next: out.NextToken };
    },
  },
  {
    name: 'DescribeSubnets',
    notFound: 'InvalidSubnetID.NotFound',
    unknownId: 'subnet-0123456789abcdef0',
    async list(ec2, { ids: SubnetIds, ...rest }) {
      const out = await ec2.send(
        new DescribeSubnetsCommand({ ...rest, ...(SubnetIds ? { SubnetIds } : {}) }),
      );
      return { ids: idsOf(out.Subnets, (x) => x.SubnetId), next: out.NextToken };
    },
  },
  {
    name: 'DescribeSecurityGroups',
    notFound: 'InvalidGroup.NotFound',
    unknownId: 'sg-0123456789abcdef0',
    async list(ec2, { ids: GroupIds, ...rest }) {
      const out = await ec2.send(
        new DescribeSecurityGroupsCommand({ ...rest, ...(GroupIds ? { GroupIds } : {}) }),
      );
      return { ids: idsOf(out.SecurityGroups, (g) => g.GroupId), next: out.NextToken };
    },
  },
  {
    name: 'DescribeInstances',
    notFound: 'InvalidInstanceID.NotFound',
    unknownId: 'i-0123456789abcdef0',
    async list(ec2, { ids: InstanceIds, ...rest }) {
      const out = await ec2.send(
        new DescribeInstancesCommand({ ...rest, ...(InstanceIds ? { InstanceIds } : {}) }),
      );
      return {
        ids: idsOf(
          out.Reservations?.flatMap((r) => r.Instances ?? []),
          (i) => i.InstanceId,
        ),
        next: out.NextToken,
      };
    },
  },
  {
    name: 'DescribeNetworkInterfaces',
    notFound: 'InvalidNetworkInterfaceID.NotFound',
    unknownId: 'eni-0123456789abcdef0',
    async list(ec2, { ids: NetworkInterfaceIds, ...rest }) {
      const out = await ec2.send(
        new DescribeNetworkInterfacesCommand({
          ...rest,
          ...(NetworkInterfaceIds ? { NetworkInterfaceIds } : {}),
        }),
      );
      return { ids: idsOf(out.NetworkInterfaces, (n) => n.NetworkInterfaceId), next: out.NextToken };
    },
  },
];

const instanceIds = async (ec2: EC2Client, Filters: Filter[]) =>
  ((await ec2.send(new DescribeInstancesCommand({ Filters }))).Reservations ?? []).flatMap((r) =>
    (r.Instances ?? []).map((i) => i.InstanceId),
  );

const eniIds = async (ec2: EC2Client, Filters: Filter[]) =>
  ((await ec2.send(new DescribeNetworkInterfacesCommand({ Filters }))).NetworkInterfaces ?? []).map(
    (n) => n.NetworkInterfaceId,
  );

/** Two VPCs; in the first, a web and a db instance (tagged) and a spare ENI; in the second, one instance. */
async function estate(ec2: EC2Client) {
  const a = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
  const b = await createNetwork(ec2, { cidr: '10.1.0.0/16' });
  const web = await launch(ec2, a.subnetId, 'c5.large', { Name: 'web-1', tier: 'front' });
  const db = await launch(ec2, a.subnetId, 'r5.large', { Name: 'db-1', 'mirror*': 'literal' });
  const other = await launch(ec2, b.subnetId, 'c5.xlarge', { Name: 'web-2' });
  const spare = must(
    (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: a.subnetId }))).NetworkInterface
      ?.NetworkInterfaceId,
    'spare',
  );
  return { a, b, web, db, other, spare };
}

describe('filters', () => {
  it('DescribeInstances: instance-id, vpc-id, subnet-id, instance-state-name, instance-type with a wildcard', async () => {
    const { ec2 } = freshClient(env.url);
    const { a, b, web, db, other } = await estate(ec2);

    expect(
      await instanceIds(ec2, [{ Name: 'instance-id', Values: [web.instanceId, other.instanceId] }]),
    ).toEqual([web.instanceId, other.instanceId]);
    expect(await instanceIds(ec2, [{ Name: 'vpc-id', Values: [b.vpcId] }])).toEqual([other.instanceId]);
    expect(await instanceIds(ec2, [{ Name: 'subnet-id', Values: [a.subnetId] }])).toEqual([
      web.instanceId,
      db.instanceId,
    ]);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [db.instanceId] }));
    // A terminated instance is no longer in a subnet, as in EC2.
    await instanceIds(ec2, []);
    expect(await instanceIds(ec2, [{ Name: 'subnet-id', Values: [a.subnetId] }])).toEqual([web.instanceId]);
    expect(
      await instanceIds(ec2, [{ Name: 'instance-state-name', Values: ['shutting-down', 'terminated'] }]),
    ).toEqual([db.instanceId]);
    expect(await instanceIds(ec2, [{ Name: 'instance-type', Values: ['c5.*'] }])).toEqual([
      web.instanceId,
      other.instanceId,
    ]);
    expect(
      await instanceIds(ec2, [{ Name: 'network-interface.network-interface-id', Values: [other.eniId] }]),
    ).toEqual([other.instanceId]);
  });

  it('DescribeInstances: tag:KEY, tag-key, tag-value, with * and ? wildcards and a backslash for a literal *', async () => {
    const { ec2 } = freshClient(env.url);
    const { web, db, other } = await estate(ec2);

    expect(await instanceIds(ec2, [{ Name: 'tag:Name', Values: ['web-*'] }])).toEqual([
      web.instanceId,
      other.instanceId,
    ]);
    expect(await instanceIds(ec2, [{ Name: 'tag:Name', Values: ['web-?'] }])).toEqual([
      web.instanceId,
      other.instanceId,
    ]);
    expect(await instanceIds(ec2, [{ Name: 'tag:Name', Values: ['web'] }])).toEqual([]);
    // '?' is zero or one character, as the current EC2 documentation words it.
    expect(await instanceIds(ec2, [{ Name: 'tag:Name', Values: ['web-1?'] }])).toEqual([web.instanceId]);
    expect(await instanceIds(ec2, [{ Name: 'tag:Name', Values: ['w?-1'] }])).toEqual([]);
    expect(await instanceIds(ec2, [{ Name: 'tag-key', Values: ['tier'] }])).toEqual([web.instanceId]);
    expect(await instanceIds(ec2, [{ Name: 'tag-key', Values: ['mirror\\*'] }])).toEqual([db.instanceId]);
    expect(await instanceIds(ec2, [{ Name: 'tag-key', Values: ['mirror\\?'] }])).toEqual([]);
    expect(await instanceIds(ec2, [{ Name: 'tag-value', Values: ['lit*'] }])).toEqual([db.instanceId]);
  });

  it('values of one filter are OR-ed and filters are AND-ed', async () => {
    const { ec2 } = freshClient(env.url);
    const { a, web, db } = await estate(ec2);

    const either = await instanceIds(ec2, [{ Name: 'tag:Name', Values: ['web-1', 'db-1'] }]);
    const both = await instanceIds(ec2, [
      { Name: 'tag:Name', Values: ['web-*', 'db-*'] },
      { Name: 'vpc-id', Values: [a.vpcId] },
      { Name: 'instance-type', Values: ['r5.large'] },
    ]);

    expect(either).toEqual([web.instanceId, db.instanceId]);
    expect(both).toEqual([db.instanceId]);
  });

  it('DescribeNetworkInterfaces: attachment.instance-id, vpc-id, subnet-id, status, network-interface-id, tags', async () => {
    const { ec2 } = freshClient(env.url);
    const { a, b, web, db, other, spare } = await estate(ec2);
    await ec2.send(new CreateTagsCommand({ Resources: [spare], Tags: [{ Key: 'role', Value: 'target' }] }));

    expect(await eniIds(ec2, [{ Name: 'attachment.instance-id', Values: [web.instanceId] }])).toEqual([
      web.eniId,
    ]);
    expect(await eniIds(ec2, [{ Name: 'vpc-id', Values: [a.vpcId] }])).toEqual([web.eniId, db.eniId, spare]);
    expect(await eniIds(ec2, [{ Name: 'subnet-id', Values: [b.subnetId] }])).toEqual([other.eniId]);
    expect(await eniIds(ec2, [{ Name: 'status', Values: ['available'] }])).toEqual([spare]);
    expect(await eniIds(ec2, [{ Name: 'network-interface-id', Values: [db.eniId] }])).toEqual([db.eniId]);
    expect(await eniIds(ec2, [{ Name: 'tag:role', Values: ['target'] }])).toEqual([spare]);
    expect(await eniIds(ec2, [{ Name: 'tag-key', Values: ['ro*'] }])).toEqual([spare]);
  });

  it('DescribeVpcs, DescribeSubnets and DescribeSecurityGroups: vpc-id, subnet-id, group-name, tag:KEY', async () => {
    const { ec2 } = freshClient(env.url);
    const { a, b } = await estate(ec2);
    await ec2.send(
      new CreateTagsCommand({ Resources: [b.vpcId, b.subnetId], Tags: [{ Key: 'env', Value: 'prod' }] }),
    );

    const vpcs = await ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'tag:env', Values: ['prod'] }] }),
    );
    const byVpcId = await ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: 'vpc-id', Values: [a.vpcId] }] }),
    );
    const subnets = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [b.vpcId] }] }),
    );
    const bySubnetId = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'subnet-id', Values: [a.subnetId] }] }),
    );
    const groups = await ec2.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [a.vpcId] },
          { Name: 'group-name', Values: ['ap*'] },
        ],
      }),
    );

    expect(vpcs.Vpcs?.map((v) => v.VpcId)).toEqual([b.vpcId]);
    expect(byVpcId.Vpcs?.map((v) => v.VpcId)).toEqual([a.vpcId]);
    expect(subnets.Subnets?.map((s) => s.SubnetId)).toEqual([b.subnetId]);
    expect(bySubnetId.Subnets?.map((s) => s.SubnetId)).toEqual([a.subnetId]);
    expect(groups.SecurityGroups?.map((g) => g.GroupId)).toEqual([a.securityGroupId]);
  });

  it('a filter on an id that names nothing matches nothing, without an error', async () => {
    const { ec2 } = freshClient(env.url);
    await estate(ec2);

    expect(await instanceIds(ec2, [{ Name: 'vpc-id', Values: ['vpc-0123456789abcdef0'] }])).toEqual([]);
  });

  it.each(listers)('$name refuses an unknown filter name with InvalidParameterValue', async (lister) => {
    const { ec2 } = freshClient(env.url);

    for (const Name of ['no-such-filter', 'constructor', 'toString', 'tag']) {
      await rejectsWith(lister.list(ec2, { Filters: [{ Name, Values: ['x'] }] }), 'InvalidParameterValue');
    }
  });
});

describe('ids', () => {
  it.each(listers)('$name answers $notFound for an unknown id, even among known ones', async (lister) => {
    const { ec2 } = freshClient(env.url);
    await estate(ec2);
    const known = (await lister.list(ec2, {})).ids[0];

    await rejectsWith(lister.list(ec2, { ids: [lister.unknownId] }), lister.notFound);
    await rejectsWith(
      lister.list(ec2, { ids: [must(known, 'a known id'), lister.unknownId] }),
      lister.notFound,
    );
  });

  it.each(listers)('$name describes exactly the ids asked for, in order of creation', async (lister) => {
    const { ec2 } = freshClient(env.url);
    await estate(ec2);
    const all = (await lister.list(ec2, {})).ids;
    const wanted = [all[all.length - 1], all[0]].map((id) => must(id, 'id'));

    const out = await lister.list(ec2, { ids: wanted });

    expect(out.ids).toEqual([all[0], all[all.length - 1]]);
  });
});

describe('MaxResults', () => {
  it.each(listers)(
    '$name refuses 4 and 1001 with InvalidParameterValue and accepts 5 and 1000',
    async (lister) => {
      const { ec2 } = freshClient(env.url);
      await estate(ec2);

      await rejectsWith(lister.list(ec2, { MaxResults: 4 }), 'InvalidParameterValue');
      await rejectsWith(lister.list(ec2, { MaxResults: 1001 }), 'InvalidParameterValue');
      expect((await lister.list(ec2, { MaxResults: 5 })).ids.length).toBeLessThanOrEqual(5);
      expect((await lister.list(ec2, { MaxResults: 1000 })).next).toBeUndefined();
    },
  );

  it('DescribeTags refuses 4 and 1001 too', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(ec2.send(new DescribeTagsCommand({ MaxResults: 4 })), 'InvalidParameterValue');
    await rejectsWith(ec2.send(new DescribeTagsCommand({ MaxResults: 1001 })), 'InvalidParameterValue');
  });

  it('DescribeInstances and DescribeNetworkInterfaces refuse MaxResults with ids (InvalidParameterCombination)', async () => {
    const { ec2 } = freshClient(env.url);
    const { web } = await estate(ec2);

    await rejectsWith(
      ec2.send(new DescribeInstancesCommand({ InstanceIds: [web.instanceId], MaxResults: 5 })),
      'InvalidParameterCombination',
    );
    await rejectsWith(
      ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [web.eniId], MaxResults: 5 })),
      'InvalidParameterCombination',
    );
  });
});

async function collect<T>(pages: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) out.push(page);
  return out;
}

describe('paging with the SDK paginators', () => {
  it('paginateDescribeInstances and paginateDescribeNetworkInterfaces list 23 of each once, 5 a page', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    const run = await ec2.send(
      new RunInstancesCommand({
        MinCount: 23,
        MaxCount: 23,
        InstanceType: 'm5.large',
        SubnetId: network.subnetId,
      }),
    );
    const launched = (run.Instances ?? []).map((i) => i.InstanceId);

    const instancePages = await collect(paginateDescribeInstances({ client: ec2, pageSize: 5 }, {}));
    const eniPages = await collect(paginateDescribeNetworkInterfaces({ client: ec2, pageSize: 5 }, {}));

    const instances = instancePages.flatMap((p) => (p.Reservations ?? []).flatMap((r) => r.Instances ?? []));
    expect(instancePages).toHaveLength(5);
    expect(instances.map((i) => i.InstanceId)).toEqual(launched);
    const enis = eniPages.flatMap((p) => p.NetworkInterfaces ?? []);
    expect(eniPages.map((p) => p.NetworkInterfaces?.length)).toEqual([5, 5, 5, 5, 3]);
    expect(enis.map((n) => n.Attachment?.InstanceId)).toEqual(launched);
  });

  it('paginateDescribeVpcs, Subnets, SecurityGroups and Tags list every item once', async () => {
    const { ec2 } = freshClient(env.url);
    const vpcIds: string[] = [];
    const subnetIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const vpcId = must(
        (await ec2.send(new CreateVpcCommand({ CidrBlock: `10.${i}.0.0/16` }))).Vpc?.VpcId,
        'VpcId',
      );
      vpcIds.push(vpcId);
      const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.${i}.0.0/24` }));
      subnetIds.push(must(subnet.Subnet?.SubnetId, 'SubnetId'));
      await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: 'g', Description: 'd' }));
      await ec2.send(
        new CreateTagsCommand({
          Resources: [vpcId],
          Tags: [
            { Key: 'a', Value: String(i) },
            { Key: 'b', Value: String(i) },
          ],
        }),
      );
    }

    const vpcs = (await collect(paginateDescribeVpcs({ client: ec2, pageSize: 5 }, {}))).flatMap(
      (p) => p.Vpcs ?? [],
    );
    const subnets = (await collect(paginateDescribeSubnets({ client: ec2, pageSize: 5 }, {}))).flatMap(
      (p) => p.Subnets ?? [],
    );
    const groups = (await collect(paginateDescribeSecurityGroups({ client: ec2, pageSize: 5 }, {}))).flatMap(
      (p) => p.SecurityGroups ?? [],
    );
    const tags = (await collect(paginateDescribeTags({ client: ec2, pageSize: 5 }, {}))).flatMap(
      (p) => p.Tags ?? [],
    );

    expect(vpcs.map((v) => v.VpcId)).toEqual(vpcIds);
    expect(subnets.map((s) => s.SubnetId)).toEqual(subnetIds);
    expect(groups).toHaveLength(24);
    expect(new Set(groups.map((g) => g.GroupId)).size).toBe(24);
    expect(tags.map((t) => `${t.ResourceId}/${t.Key}`)).toEqual(
      vpcIds.flatMap((id) => [`${id}/a`, `${id}/b`]),
    );
  });

  it('pages a filtered query: only matching items, each once', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    const launched: string[] = [];
    for (let i = 0; i < 14; i++) {
      const { instanceId } = await launch(ec2, network.subnetId, i % 2 === 0 ? 'c5.large' : 'm5.large', {
        parity: i % 2 === 0 ? 'even' : 'odd',
      });
      launched.push(instanceId);
    }

    const pages = await collect(
      paginateDescribeInstances(
        { client: ec2, pageSize: 5 },
        { Filters: [{ Name: 'tag:parity', Values: ['even'] }] },
      ),
    );

    expect(
      pages.flatMap((p) => (p.Reservations ?? []).flatMap((r) => r.Instances ?? [])).map((i) => i.InstanceId),
    ).toEqual(launched.filter((_, i) => i % 2 === 0));
  });
});

describe('paging while resources change', () => {
  it('ENIs created and deleted between pages: those there throughout come once each, deleted unseen ones never', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    const create = async () =>
      must(
        (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }))).NetworkInterface
          ?.NetworkInterfaceId,
        'eni',
      );
    const remove = (id: string) => ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: id }));
    const initial: string[] = [];
    for (let i = 0; i < 20; i++) initial.push(await create());

    const seen: string[] = [];
    const deleted = new Set<string>();
    let token: string | undefined;
    let round = 0;
    do {
      const page = await ec2.send(new DescribeNetworkInterfacesCommand({ MaxResults: 5, NextToken: token }));
      seen.push(...(page.NetworkInterfaces ?? []).map((n) => must(n.NetworkInterfaceId, 'id')));
      token = page.NextToken;
      if (round < 3) {
        // Between pages: delete one already listed and one not yet listed, and create two.
        const listed = seen[seen.length - 1] as string;
        const ahead = initial.find((id) => !seen.includes(id) && !deleted.has(id)) as string;
        await Promise.all([remove(listed), remove(ahead), create(), create()]);
        deleted.add(listed);
        deleted.add(ahead);
      }
      round++;
    } while (token);

    const throughout = initial.filter((id) => !deleted.has(id));
    const unseenDeleted = [...deleted].filter((id) => !seen.includes(id));
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of throughout) expect(seen).toContain(id);
    for (const id of unseenDeleted) expect(seen).not.toContain(id);
    expect(unseenDeleted).toHaveLength(3);
  });

  it('instances launched and terminated between pages: none of the original ones is skipped or repeated', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    const run = await ec2.send(
      new RunInstancesCommand({
        MinCount: 12,
        MaxCount: 12,
        InstanceType: 'm5.large',
        SubnetId: network.subnetId,
      }),
    );
    const initial = (run.Instances ?? []).map((i) => must(i.InstanceId, 'id'));

    const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
    await Promise.all([
      ec2.send(new TerminateInstancesCommand({ InstanceIds: [initial[0] as string, initial[9] as string] })),
      launch(ec2, network.subnetId),
    ]);
    const pages = [first];
    let token = first.NextToken;
    while (token) {
      const page = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: token }));
      pages.push(page);
      token = page.NextToken;
    }

    const seen = pages
      .flatMap((p) => (p.Reservations ?? []).flatMap((r) => r.Instances ?? []))
      .map((i) => i.InstanceId);
    expect(seen.slice(0, 12)).toEqual(initial);
    expect(seen).toHaveLength(13);
  });

  it('a secondary ENI attached between pages does not move the instances', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    const launched: string[] = [];
    for (let i = 0; i < 8; i++) launched.push((await launch(ec2, network.subnetId)).instanceId);
    const spare = must(
      (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }))).NetworkInterface
        ?.NetworkInterfaceId,
      'eni',
    );

    const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
    await ec2.send(
      new AttachNetworkInterfaceCommand({
        NetworkInterfaceId: spare,
        InstanceId: launched[1] as string,
        DeviceIndex: 1,
      }),
    );
    const second = await ec2.send(
      new DescribeInstancesCommand({ MaxResults: 5, NextToken: first.NextToken }),
    );

    const ids = [first, second]
      .flatMap((p) => (p.Reservations ?? []).flatMap((r) => r.Instances ?? []))
      .map((i) => i.InstanceId);
    expect(ids).toEqual(launched);
    expect(second.NextToken).toBeUndefined();
  });
});

describe('NextToken', () => {
  it('a token reused with other filters, on another action, or made up is InvalidNextToken', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    for (let i = 0; i < 7; i++) await launch(ec2, network.subnetId, 'm5.large', { team: 'a' });
    const filters = [{ Name: 'tag:team', Values: ['a'] }];
    const first = await ec2.send(new DescribeInstancesCommand({ Filters: filters, MaxResults: 5 }));
    const token = must(first.NextToken, 'NextToken');

    await rejectsWith(
      ec2.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: 'tag:team', Values: ['b'] }],
          MaxResults: 5,
          NextToken: token,
        }),
      ),
      'InvalidNextToken',
    );
    await rejectsWith(
      ec2.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: token })),
      'InvalidNextToken',
    );
    await rejectsWith(
      ec2.send(new DescribeNetworkInterfacesCommand({ Filters: filters, MaxResults: 5, NextToken: token })),
      'InvalidNextToken',
    );
    await rejectsWith(
      ec2.send(new DescribeInstancesCommand({ Filters: filters, MaxResults: 5, NextToken: 'not-a-token' })),
      'InvalidNextToken',
    );
  });

  it('a token reused with the same query answers the same page again, and a different page size is allowed', async () => {
    const { ec2 } = freshClient(env.url);
    const network = await createNetwork(ec2);
    for (let i = 0; i < 12; i++) await launch(ec2, network.subnetId);
    const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
    const token = must(first.NextToken, 'NextToken');

    const again = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: token }));
    const twice = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: token }));
    const larger = await ec2.send(new DescribeInstancesCommand({ MaxResults: 10, NextToken: token }));

    const idsOf = (p: typeof first) =>
      (p.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId);
    expect(idsOf(twice)).toEqual(idsOf(again));
    expect(idsOf(larger)).toHaveLength(7);
    expect(idsOf(larger).slice(0, 5)).toEqual(idsOf(again));
  });
});
