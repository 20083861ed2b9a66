import {
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorFilterRuleCommand,
  type CreateTrafficMirrorFilterRuleCommandInput,
  DeleteTrafficMirrorFilterCommand,
  DeleteTrafficMirrorFilterRuleCommand,
  DescribeTrafficMirrorFilterRulesCommand,
  DescribeTrafficMirrorFiltersCommand,
  type EC2Client,
  ModifyTrafficMirrorFilterNetworkServicesCommand,
  ModifyTrafficMirrorFilterRuleCommand,
  type ModifyTrafficMirrorFilterRuleCommandInput,
  type TrafficMirrorNetworkService,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import {
  allFilters,
  allRules,
  createFilter,
  createRule,
  createSession,
  freshClient,
  mirrorSetup,
  rejectsWith,
  ruleInput,
} from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

async function withFilter() {
  const { ec2 } = freshClient(env.url);
  return { ec2, filterId: await createFilter(ec2) };
}

const filterOf = async (ec2: EC2Client, filterId: string) =>
  must(
    (await ec2.send(new DescribeTrafficMirrorFiltersCommand({ TrafficMirrorFilterIds: [filterId] })))
      .TrafficMirrorFilters?.[0],
    'TrafficMirrorFilters[0]',
  );

describe('CreateTrafficMirrorFilter', () => {
  it('creates a filter with no rules and no network services', async () => {
    const { ec2 } = freshClient(env.url);

    const out = await ec2.send(
      new CreateTrafficMirrorFilterCommand({
        Description: 'ssh',
        TagSpecifications: [
          { ResourceType: 'traffic-mirror-filter', Tags: [{ Key: 'mirrorops:filter-hash', Value: 'ab12' }] },
        ],
      }),
    );

    const expected = {
      TrafficMirrorFilterId: expect.stringMatching(/^tmf-[0-9a-f]{17}$/),
      IngressFilterRules: [],
      EgressFilterRules: [],
      NetworkServices: [],
      Description: 'ssh',
      Tags: [{ Key: 'mirrorops:filter-hash', Value: 'ab12' }],
    };
    expect(out.TrafficMirrorFilter).toEqual(expected);
    expect(await allFilters(ec2)).toEqual([expected]);
  });

  it('answers DryRun with DryRunOperation and a wrong tag type with InvalidParameterValue, creating nothing', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(ec2.send(new CreateTrafficMirrorFilterCommand({ DryRun: true })), 'DryRunOperation');
    await rejectsWith(
      ec2.send(
        new CreateTrafficMirrorFilterCommand({
          TagSpecifications: [{ ResourceType: 'traffic-mirror-session', Tags: [{ Key: 'a', Value: 'b' }] }],
        }),
      ),
      'InvalidParameterValue',
    );

    expect(await allFilters(ec2)).toEqual([]);
  });

  it('honours ClientToken: one filter for repeats and concurrent repeats, mismatch for other parameters', async () => {
    const { ec2 } = freshClient(env.url);
    const input = { Description: 'dns', ClientToken: 'filter-1' };

    const results = await Promise.all(
      Array.from({ length: 6 }, () => ec2.send(new CreateTrafficMirrorFilterCommand(input))),
    );
    await rejectsWith(
      ec2.send(new CreateTrafficMirrorFilterCommand({ Description: 'other', ClientToken: 'filter-1' })),
      'IdempotentParameterMismatch',
    );

    expect(new Set(results.map((r) => r.TrafficMirrorFilter?.TrafficMirrorFilterId)).size).toBe(1);
    expect(await allFilters(ec2)).toHaveLength(1);
  });
});

describe('DescribeTrafficMirrorFilters', () => {
  it('supports description, traffic-mirror-filter-id and tag filters', async () => {
    const { ec2 } = freshClient(env.url);
    const a = must(
      (
        await ec2.send(
          new CreateTrafficMirrorFilterCommand({
            Description: 'ssh only',
            TagSpecifications: [
              { ResourceType: 'traffic-mirror-filter', Tags: [{ Key: 'mirrorops:managed', Value: 'true' }] },
            ],
          }),
        )
      ).TrafficMirrorFilter?.TrafficMirrorFilterId,
      'id',
    );
    const b = await createFilter(ec2, 'dns only');
    const cases: [string, string[], string[]][] = [
      ['description', ['ssh*'], [a]],
      ['traffic-mirror-filter-id', [b], [b]],
      ['tag:mirrorops:managed', ['true'], [a]],
      ['tag-key', ['mirrorops:*'], [a]],
    ];

    for (const [name, values, expected] of cases) {
      const found = await allFilters(ec2, [{ Name: name, Values: values }]);
      expect(
        found.map((f) => f.TrafficMirrorFilterId),
        name,
      ).toEqual(expected);
    }
  });

  it('shows ingress and egress rules apart, ordered by rule number, and network services', async () => {
    const { ec2, filterId } = await withFilter();
    const egress = await createRule(ec2, filterId, { TrafficDirection: 'egress', RuleNumber: 10 });
    const ingress20 = await createRule(ec2, filterId, { RuleNumber: 20 });
    const ingress5 = await createRule(ec2, filterId, { RuleNumber: 5 });
    await ec2.send(
      new ModifyTrafficMirrorFilterNetworkServicesCommand({
        TrafficMirrorFilterId: filterId,
        AddNetworkServices: ['amazon-dns'],
      }),
    );

    const filter = await filterOf(ec2, filterId);

    expect(filter.IngressFilterRules).toEqual([ingress5, ingress20]);
    expect(filter.EgressFilterRules).toEqual([egress]);
    expect(filter.NetworkServices).toEqual(['amazon-dns']);
  });

  it('answers DryRun with DryRunOperation', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(ec2.send(new DescribeTrafficMirrorFiltersCommand({ DryRun: true })), 'DryRunOperation');
  });

  it('answers an unknown id with InvalidTrafficMirrorFilterId.NotFound and pages with NextToken', async () => {
    const { ec2 } = freshClient(env.url);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await createFilter(ec2));

    const first = await ec2.send(new DescribeTrafficMirrorFiltersCommand({ MaxResults: 5 }));
    const second = await ec2.send(
      new DescribeTrafficMirrorFiltersCommand({ MaxResults: 5, NextToken: first.NextToken }),
    );

    expect(
      [...(first.TrafficMirrorFilters ?? []), ...(second.TrafficMirrorFilters ?? [])].map(
        (f) => f.TrafficMirrorFilterId,
      ),
    ).toEqual(ids);
    await rejectsWith(
      ec2.send(
        new DescribeTrafficMirrorFiltersCommand({ TrafficMirrorFilterIds: ['tmf-0123456789abcdef0'] }),
      ),
      'InvalidTrafficMirrorFilterId.NotFound',
    );
  });
});

describe('DeleteTrafficMirrorFilter', () => {
  it('deletes the filter and its rules', async () => {
    const { ec2, filterId } = await withFilter();
    const rule = await createRule(ec2, filterId);

    const out = await ec2.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: filterId }));

    expect(out.TrafficMirrorFilterId).toBe(filterId);
    expect(await allFilters(ec2)).toEqual([]);
    expect(await allRules(ec2)).toEqual([]);
    await rejectsWith(
      ec2.send(
        new DescribeTrafficMirrorFilterRulesCommand({
          TrafficMirrorFilterRuleIds: [must(rule.TrafficMirrorFilterRuleId, 'id')],
        }),
      ),
      'InvalidTrafficMirrorFilterRuleId.NotFound',
    );
  });

  it('refuses a filter in use by a session (TrafficMirrorFilterInUse) and keeps it with its rules', async () => {
    const { ec2 } = freshClient(env.url);
    const m = await mirrorSetup(ec2);
    const rule = await createRule(ec2, m.filterId);
    await createSession(ec2, {
      NetworkInterfaceId: m.source.eniId,
      TrafficMirrorTargetId: m.targetId,
      TrafficMirrorFilterId: m.filterId,
      SessionNumber: 1,
    });

    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: m.filterId })),
      'TrafficMirrorFilterInUse',
    );

    expect((await filterOf(ec2, m.filterId)).IngressFilterRules).toEqual([rule]);
  });

  it('answers an unknown id with NotFound, DryRun with DryRunOperation, no id with MissingParameter', async () => {
    const { ec2, filterId } = await withFilter();

    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: 'tmf-0123456789abcdef0' })),
      'InvalidTrafficMirrorFilterId.NotFound',
    );
    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: filterId, DryRun: true })),
      'DryRunOperation',
    );
    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorFilterCommand({} as { TrafficMirrorFilterId: string })),
      'MissingParameter',
    );

    expect((await allFilters(ec2)).map((f) => f.TrafficMirrorFilterId)).toEqual([filterId]);
  });
});

describe('ModifyTrafficMirrorFilterNetworkServices', () => {
  it('adds and removes amazon-dns', async () => {
    const { ec2, filterId } = await withFilter();

    const added = await ec2.send(
      new ModifyTrafficMirrorFilterNetworkServicesCommand({
        TrafficMirrorFilterId: filterId,
        AddNetworkServices: ['amazon-dns'],
      }),
    );
    expect(added.TrafficMirrorFilter?.NetworkServices).toEqual(['amazon-dns']);
    const removed = await ec2.send(
      new ModifyTrafficMirrorFilterNetworkServicesCommand({
        TrafficMirrorFilterId: filterId,
        RemoveNetworkServices: ['amazon-dns'],
      }),
    );

    expect(removed.TrafficMirrorFilter?.NetworkServices).toEqual([]);
    expect((await filterOf(ec2, filterId)).NetworkServices).toEqual([]);
  });

  it('refuses an unknown service, an unknown filter and DryRun, changing nothing', async () => {
    const { ec2, filterId } = await withFilter();

    await rejectsWith(
      ec2.send(
        new ModifyTrafficMirrorFilterNetworkServicesCommand({
          TrafficMirrorFilterId: filterId,
          AddNetworkServices: ['amazon-dns', 'amazon-ntp' as TrafficMirrorNetworkService],
        }),
      ),
      'InvalidParameterValue',
    );
    await rejectsWith(
      ec2.send(
        new ModifyTrafficMirrorFilterNetworkServicesCommand({
          TrafficMirrorFilterId: 'tmf-0123456789abcdef0',
          AddNetworkServices: ['amazon-dns'],
        }),
      ),
      'InvalidTrafficMirrorFilterId.NotFound',
    );
    await rejectsWith(
      ec2.send(
        new ModifyTrafficMirrorFilterNetworkServicesCommand({
          TrafficMirrorFilterId: filterId,
          AddNetworkServices: ['amazon-dns'],
          DryRun: true,
        }),
      ),
      'DryRunOperation',
    );

    expect((await filterOf(ec2, filterId)).NetworkServices).toEqual([]);
  });
});

describe('CreateTrafficMirrorFilterRule', () => {
  it('creates a rule with every field, shown by DescribeTrafficMirrorFilters and DescribeTrafficMirrorFilterRules', async () => {
    const { ec2, filterId } = await withFilter();

    const rule = await createRule(ec2, filterId, {
      TrafficDirection: 'egress',
      RuleNumber: 7,
      RuleAction: 'reject',
      Protocol: 6,
      SourceCidrBlock: '10.0.0.0/16',
      DestinationCidrBlock: '192.0.2.10/32',
      SourcePortRange: { FromPort: 1024, ToPort: 65535 },
      DestinationPortRange: { FromPort: 22, ToPort: 22 },
      Description: 'ssh out',
      TagSpecifications: [{ ResourceType: 'traffic-mirror-filter-rule', Tags: [{ Key: 'k', Value: 'v' }] }],
    });

    const expected = {
      TrafficMirrorFilterRuleId: expect.stringMatching(/^tmfr-[0-9a-f]{17}$/),
      TrafficMirrorFilterId: filterId,
      TrafficDirection: 'egress',
      RuleNumber: 7,
      RuleAction: 'reject',
      Protocol: 6,
      SourceCidrBlock: '10.0.0.0/16',
      DestinationCidrBlock: '192.0.2.10/32',
      SourcePortRange: { FromPort: 1024, ToPort: 65535 },
      DestinationPortRange: { FromPort: 22, ToPort: 22 },
      Description: 'ssh out',
      Tags: [{ Key: 'k', Value: 'v' }],
    };
    expect(rule).toEqual(expected);
    expect((await filterOf(ec2, filterId)).EgressFilterRules).toEqual([expected]);
    expect(await allRules(ec2, filterId)).toEqual([expected]);
  });

  it.each([
    'TrafficMirrorFilterId',
    'TrafficDirection',
    'RuleNumber',
    'RuleAction',
    'SourceCidrBlock',
    'DestinationCidrBlock',
  ] as const)('requires %s (MissingParameter) and creates nothing', async (name) => {
    const { ec2, filterId } = await withFilter();
    const input: Partial<CreateTrafficMirrorFilterRuleCommandInput> = ruleInput(filterId);
    delete input[name];

    await rejectsWith(
      ec2.send(new CreateTrafficMirrorFilterRuleCommand(input as CreateTrafficMirrorFilterRuleCommandInput)),
      'MissingParameter',
    );

    expect(await allRules(ec2)).toEqual([]);
  });

  it.each<[string, Partial<CreateTrafficMirrorFilterRuleCommandInput>]>([
    ['rule number 0', { RuleNumber: 0 }],
    ['rule number 32767', { RuleNumber: 32767 }],
    ['an unknown direction', { TrafficDirection: 'both' as 'ingress' }],
    ['an unknown action', { RuleAction: 'drop' as 'accept' }],
    ['a malformed source CIDR', { SourceCidrBlock: '10.0.0.0/33' }],
    ['a malformed destination CIDR', { DestinationCidrBlock: 'anywhere' }],
    ['IPv4 source with IPv6 destination', { SourceCidrBlock: '10.0.0.0/8', DestinationCidrBlock: '::/0' }],
    [
      'IPv6 source with IPv4 destination',
      { SourceCidrBlock: '2001:db8::/32', DestinationCidrBlock: '0.0.0.0/0' },
    ],
    ['a port range without protocol', { DestinationPortRange: { FromPort: 22, ToPort: 22 } }],
    ['a port range with ICMP', { Protocol: 1, SourcePortRange: { FromPort: 0, ToPort: 10 } }],
    ['a port above 65535', { Protocol: 6, DestinationPortRange: { FromPort: 1, ToPort: 65536 } }],
    ['FromPort above ToPort', { Protocol: 17, DestinationPortRange: { FromPort: 100, ToPort: 99 } }],
    ['protocol 256', { Protocol: 256 }],
    [
      'tags of another type',
      { TagSpecifications: [{ ResourceType: 'traffic-mirror-filter', Tags: [{ Key: 'a' }] }] },
    ],
  ])('refuses %s with InvalidParameterValue and creates nothing', async (_what, changes) => {
    const { ec2, filterId } = await withFilter();

    await rejectsWith(
      ec2.send(new CreateTrafficMirrorFilterRuleCommand(ruleInput(filterId, changes))),
      'InvalidParameterValue',
    );

    expect(await allRules(ec2)).toEqual([]);
  });

  it('accepts rule numbers 1 and 32766, IPv6 pairs, and port ranges with TCP and UDP', async () => {
    const { ec2, filterId } = await withFilter();

    await createRule(ec2, filterId, { RuleNumber: 1 });
    await createRule(ec2, filterId, { RuleNumber: 32766 });
    await createRule(ec2, filterId, {
      RuleNumber: 2,
      SourceCidrBlock: '::/0',
      DestinationCidrBlock: '2001:db8::/32',
    });
    await createRule(ec2, filterId, {
      RuleNumber: 3,
      Protocol: 6,
      DestinationPortRange: { FromPort: 443, ToPort: 443 },
    });
    await createRule(ec2, filterId, {
      RuleNumber: 4,
      Protocol: 17,
      SourcePortRange: { FromPort: 53, ToPort: 53 },
    });

    expect((await allRules(ec2, filterId)).map((r) => r.RuleNumber)).toEqual([1, 32766, 2, 3, 4]);
  });

  it('answers an unknown filter with InvalidTrafficMirrorFilterId.NotFound', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      ec2.send(new CreateTrafficMirrorFilterRuleCommand(ruleInput('tmf-0123456789abcdef0'))),
      'InvalidTrafficMirrorFilterId.NotFound',
    );
  });

  it('keeps rule numbers unique per direction (TrafficMirrorFilterRuleAlreadyExists)', async () => {
    const { ec2, filterId } = await withFilter();
    const first = await createRule(ec2, filterId, { RuleNumber: 100 });

    await rejectsWith(
      ec2.send(
        new CreateTrafficMirrorFilterRuleCommand(
          ruleInput(filterId, { RuleNumber: 100, RuleAction: 'reject' }),
        ),
      ),
      'TrafficMirrorFilterRuleAlreadyExists',
    );
    const egress = await createRule(ec2, filterId, { RuleNumber: 100, TrafficDirection: 'egress' });

    expect(await allRules(ec2, filterId)).toEqual([first, egress]);
  });

  it('allows 10 rules per filter across both directions; the 11th is TrafficMirrorFilterRuleLimitExceeded', async () => {
    const { ec2, filterId } = await withFilter();
    for (let n = 1; n <= 5; n++) {
      await createRule(ec2, filterId, { RuleNumber: n });
      await createRule(ec2, filterId, { RuleNumber: n, TrafficDirection: 'egress' });
    }

    await rejectsWith(
      ec2.send(new CreateTrafficMirrorFilterRuleCommand(ruleInput(filterId, { RuleNumber: 6 }))),
      'TrafficMirrorFilterRuleLimitExceeded',
    );

    expect(await allRules(ec2, filterId)).toHaveLength(10);
  });

  it('keeps the limit under concurrent creates: exactly 10 of 14 succeed', async () => {
    const { ec2, filterId } = await withFilter();

    const results = await Promise.allSettled(
      Array.from({ length: 14 }, (_, i) => createRule(ec2, filterId, { RuleNumber: i + 1 })),
    );

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    expect(await allRules(ec2, filterId)).toHaveLength(10);
  });

  it('answers DryRun with DryRunOperation and honours ClientToken', async () => {
    const { ec2, filterId } = await withFilter();

    await rejectsWith(
      ec2.send(new CreateTrafficMirrorFilterRuleCommand(ruleInput(filterId, { DryRun: true }))),
      'DryRunOperation',
    );
    expect(await allRules(ec2)).toEqual([]);
    const input = ruleInput(filterId, { ClientToken: 'rule-1' });
    const results = await Promise.all(
      [1, 2, 3].map(() => ec2.send(new CreateTrafficMirrorFilterRuleCommand(input))),
    );
    await rejectsWith(
      ec2.send(new CreateTrafficMirrorFilterRuleCommand({ ...input, RuleNumber: 101 })),
      'IdempotentParameterMismatch',
    );

    expect(new Set(results.map((r) => r.TrafficMirrorFilterRule?.TrafficMirrorFilterRuleId)).size).toBe(1);
    expect(results[0]?.ClientToken).toBe('rule-1');
    expect(await allRules(ec2)).toHaveLength(1);
  });
});

describe('DescribeTrafficMirrorFilterRules', () => {
  it('lists the rules of a filter or by id, with the documented filters', async () => {
    const { ec2, filterId } = await withFilter();
    const otherFilter = await createFilter(ec2);
    const a = await createRule(ec2, filterId, { RuleNumber: 1, Protocol: 6, Description: 'tcp' });
    const b = await createRule(ec2, filterId, {
      RuleNumber: 2,
      TrafficDirection: 'egress',
      RuleAction: 'reject',
      SourceCidrBlock: '10.1.0.0/16',
      DestinationCidrBlock: '10.2.0.0/16',
    });
    const c = await createRule(ec2, otherFilter, { RuleNumber: 1 });
    const ids = (rules: { TrafficMirrorFilterRuleId?: string | undefined }[]) =>
      rules.map((r) => r.TrafficMirrorFilterRuleId);
    const find = async (name: string, values: string[]) =>
      ids(
        (
          await ec2.send(
            new DescribeTrafficMirrorFilterRulesCommand({ Filters: [{ Name: name, Values: values }] }),
          )
        ).TrafficMirrorFilterRules ?? [],
      );

    expect(ids(await allRules(ec2, filterId))).toEqual(ids([a, b]));
    expect(ids(await allRules(ec2))).toEqual(ids([a, b, c]));
    const byId = await ec2.send(
      new DescribeTrafficMirrorFilterRulesCommand({
        TrafficMirrorFilterRuleIds: [must(c.TrafficMirrorFilterRuleId, 'id')],
      }),
    );
    expect(byId.TrafficMirrorFilterRules).toEqual([c]);
    expect(await find('traffic-direction', ['egress'])).toEqual(ids([b]));
    expect(await find('rule-action', ['reject'])).toEqual(ids([b]));
    expect(await find('rule-number', ['1'])).toEqual(ids([a, c]));
    expect(await find('protocol', ['6'])).toEqual(ids([a]));
    expect(await find('source-cidr-block', ['10.1.0.0/16'])).toEqual(ids([b]));
    expect(await find('destination-cidr-block', ['10.2.*'])).toEqual(ids([b]));
    expect(await find('description', ['tcp'])).toEqual(ids([a]));
    expect(await find('traffic-mirror-filter-id', [otherFilter])).toEqual(ids([c]));
  });

  it('answers DryRun with DryRunOperation', async () => {
    const { ec2, filterId } = await withFilter();

    await rejectsWith(
      ec2.send(
        new DescribeTrafficMirrorFilterRulesCommand({ TrafficMirrorFilterId: filterId, DryRun: true }),
      ),
      'DryRunOperation',
    );
  });

  it('answers unknown filter and rule ids with their NotFound codes', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      ec2.send(
        new DescribeTrafficMirrorFilterRulesCommand({ TrafficMirrorFilterId: 'tmf-0123456789abcdef0' }),
      ),
      'InvalidTrafficMirrorFilterId.NotFound',
    );
    await rejectsWith(
      ec2.send(
        new DescribeTrafficMirrorFilterRulesCommand({
          TrafficMirrorFilterRuleIds: ['tmfr-0123456789abcdef0'],
        }),
      ),
      'InvalidTrafficMirrorFilterRuleId.NotFound',
    );
  });
});

describe('ModifyTrafficMirrorFilterRule', () => {
  async function withRule() {
    const { ec2, filterId } = await withFilter();
    const rule = await createRule(ec2, filterId, {
      RuleNumber: 10,
      Protocol: 6,
      DestinationPortRange: { FromPort: 22, ToPort: 22 },
      SourcePortRange: { FromPort: 1024, ToPort: 65535 },
      Description: 'ssh',
    });
    const modify = (changes: Partial<ModifyTrafficMirrorFilterRuleCommandInput>) =>
      ec2.send(
        new ModifyTrafficMirrorFilterRuleCommand({
          TrafficMirrorFilterRuleId: rule.TrafficMirrorFilterRuleId,
          ...changes,
        }),
      );
    return { ec2, filterId, rule, modify };
  }

  it('changes fields in place, moving the rule to the other direction', async () => {
    const { ec2, filterId, rule, modify } = await withRule();

    const out = await modify({
      TrafficDirection: 'egress',
      RuleNumber: 11,
      RuleAction: 'reject',
      Protocol: 17,
      DestinationPortRange: { FromPort: 53, ToPort: 53 },
      SourceCidrBlock: '10.0.0.0/8',
      DestinationCidrBlock: '10.9.0.0/16',
      Description: 'dns',
    });

    const expected = {
      ...rule,
      TrafficDirection: 'egress',
      RuleNumber: 11,
      RuleAction: 'reject',
      Protocol: 17,
      DestinationPortRange: { FromPort: 53, ToPort: 53 },
      SourceCidrBlock: '10.0.0.0/8',
      DestinationCidrBlock: '10.9.0.0/16',
      Description: 'dns',
    };
    expect(out.TrafficMirrorFilterRule).toEqual(expected);
    const filter = await filterOf(ec2, filterId);
    expect(filter.IngressFilterRules).toEqual([]);
    expect(filter.EgressFilterRules).toEqual([expected]);
  });

  it('removes fields with RemoveField', async () => {
    const { rule, modify } = await withRule();

    const out = await modify({
      RemoveFields: ['destination-port-range', 'source-port-range', 'protocol', 'description'],
    });

    const { DestinationPortRange, SourcePortRange, Protocol, Description, ...rest } = rule;
    expect(out.TrafficMirrorFilterRule).toEqual(rest);
  });

  it.each<[string, Partial<ModifyTrafficMirrorFilterRuleCommandInput>, string]>([
    ['an ICMP protocol while port ranges stay', { Protocol: 1 }, 'InvalidParameterValue'],
    ['removing the protocol while port ranges stay', { RemoveFields: ['protocol'] }, 'InvalidParameterValue'],
    ['an IPv6 source with an IPv4 destination', { SourceCidrBlock: '::/0' }, 'InvalidParameterValue'],
    ['rule number 32767', { RuleNumber: 32767 }, 'InvalidParameterValue'],
    ['an unknown RemoveField', { RemoveFields: ['rule-number' as 'protocol'] }, 'InvalidParameterValue'],
    [
      'setting and removing one field',
      { Description: 'x', RemoveFields: ['description'] },
      'InvalidParameterValue',
    ],
    ['DryRun', { RuleNumber: 12, DryRun: true }, 'DryRunOperation'],
  ])('refuses %s (%s) and changes nothing', async (_what, changes, code) => {
    const { ec2, filterId, rule, modify } = await withRule();

    await rejectsWith(modify(changes), code);

    expect(await allRules(ec2, filterId)).toEqual([rule]);
  });

  it('keeps rule numbers unique per direction when modifying (TrafficMirrorFilterRuleAlreadyExists)', async () => {
    const { ec2, filterId, rule, modify } = await withRule();
    const other = await createRule(ec2, filterId, { RuleNumber: 20 });
    const egress = await createRule(ec2, filterId, { RuleNumber: 10, TrafficDirection: 'egress' });

    await rejectsWith(modify({ RuleNumber: 20 }), 'TrafficMirrorFilterRuleAlreadyExists');
    await rejectsWith(modify({ TrafficDirection: 'egress' }), 'TrafficMirrorFilterRuleAlreadyExists');

    expect(await allRules(ec2, filterId)).toEqual([rule, other, egress]);
  });

  it('answers an unknown rule with InvalidTrafficMirrorFilterRuleId.NotFound', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      ec2.send(
        new ModifyTrafficMirrorFilterRuleCommand({
          TrafficMirrorFilterRuleId: 'tmfr-0123456789abcdef0',
          RuleNumber: 1,
        }),
      ),
      'InvalidTrafficMirrorFilterRuleId.NotFound',
    );
  });
});

describe('DeleteTrafficMirrorFilterRule', () => {
  it('deletes the rule, freeing its number and a place under the limit', async () => {
    const { ec2, filterId } = await withFilter();
    const rules = [];
    for (let n = 1; n <= 10; n++) rules.push(await createRule(ec2, filterId, { RuleNumber: n }));
    const victim = must(rules[0]?.TrafficMirrorFilterRuleId, 'id');

    const out = await ec2.send(
      new DeleteTrafficMirrorFilterRuleCommand({ TrafficMirrorFilterRuleId: victim }),
    );
    const again = await createRule(ec2, filterId, { RuleNumber: 1 });

    expect(out.TrafficMirrorFilterRuleId).toBe(victim);
    expect((await allRules(ec2, filterId)).map((r) => r.TrafficMirrorFilterRuleId)).toEqual(
      [...rules.slice(1), again].map((r) => r.TrafficMirrorFilterRuleId),
    );
  });

  it('answers an unknown rule with NotFound and DryRun with DryRunOperation, changing nothing', async () => {
    const { ec2, filterId } = await withFilter();
    const rule = await createRule(ec2, filterId);

    await rejectsWith(
      ec2.send(
        new DeleteTrafficMirrorFilterRuleCommand({ TrafficMirrorFilterRuleId: 'tmfr-0123456789abcdef0' }),
      ),
      'InvalidTrafficMirrorFilterRuleId.NotFound',
    );
    await rejectsWith(
      ec2.send(
        new DeleteTrafficMirrorFilterRuleCommand({
          TrafficMirrorFilterRuleId: rule.TrafficMirrorFilterRuleId,
          DryRun: true,
        }),
      ),
      'DryRunOperation',
    );

    expect(await allRules(ec2, filterId)).toEqual([rule]);
  });
});
