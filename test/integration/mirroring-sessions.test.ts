import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorSessionCommand,
  type CreateTrafficMirrorSessionCommandInput,
  CreateTrafficMirrorTargetCommand,
  DeleteTrafficMirrorFilterCommand,
  DeleteTrafficMirrorSessionCommand,
  DescribeTrafficMirrorFiltersCommand,
  DescribeTrafficMirrorSessionsCommand,
  DescribeTrafficMirrorTargetsCommand,
  ModifyTrafficMirrorSessionCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import {
  allSessions,
  createFilter,
  createSession,
  eniTarget,
  freshClient,
  idsOf,
  launchMany,
  type Mirror,
  mirrorSetup,
  nlbTarget,
  rejectsWith,
} from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

const sessionInput = (m: Mirror, changes: Partial<CreateTrafficMirrorSessionCommandInput> = {}) => ({
  NetworkInterfaceId: m.source.eniId,
  TrafficMirrorTargetId: m.targetId,
  TrafficMirrorFilterId: m.filterId,
  SessionNumber: 1,
  ...changes,
});

async function setup(sourceType?: string) {
  const { ec2, account } = freshClient(env.url);
  const m = await mirrorSetup(ec2, sourceType);
  return { ec2, account, m };
}

describe('CreateTrafficMirrorSession', () => {
  it('creates a session that Describe shows with every field', async () => {
    const { ec2, account, m } = await setup();

    const created = await createSession(
      ec2,
      sessionInput(m, {
        SessionNumber: 7,
        PacketLength: 128,
        VirtualNetworkId: 4242,
        Description: 'incident',
        TagSpecifications: [
          { ResourceType: 'traffic-mirror-session', Tags: [{ Key: 'mirrorops:managed', Value: 'true' }] },
        ],
      }),
    );

    const expected = {
      TrafficMirrorSessionId: expect.stringMatching(/^tms-[0-9a-f]{17}$/),
      NetworkInterfaceId: m.source.eniId,
      TrafficMirrorTargetId: m.targetId,
      TrafficMirrorFilterId: m.filterId,
      OwnerId: account,
      SessionNumber: 7,
      PacketLength: 128,
      VirtualNetworkId: 4242,
      Description: 'incident',
      Tags: [{ Key: 'mirrorops:managed', Value: 'true' }],
    };
    expect(created).toEqual(expected);
    expect(await allSessions(ec2)).toEqual([expected]);
  });

  it('picks a VNI in 1..16777215 when none is given, different for each session of the account', async () => {
    const { ec2, m } = await setup();
    const more = await launchMany(ec2, m.network.subnetId, 5);

    const sessions = await Promise.all(
      more.map((source) => createSession(ec2, sessionInput(m, { NetworkInterfaceId: source.eniId }))),
    );

    const vnis = sessions.map((s) => must(s.VirtualNetworkId, 'VirtualNetworkId'));
    for (const vni of vnis) expect(vni).toBeGreaterThanOrEqual(1);
    for (const vni of vnis) expect(vni).toBeLessThanOrEqual(16_777_215);
    expect(new Set(vnis).size).toBe(vnis.length);
  });

  it.each(['NetworkInterfaceId', 'TrafficMirrorTargetId', 'TrafficMirrorFilterId', 'SessionNumber'] as const)(
    'requires %s (MissingParameter) and creates nothing',
    async (name) => {
      const { ec2, m } = await setup();
      const input: Partial<CreateTrafficMirrorSessionCommandInput> = sessionInput(m);
      delete input[name];

      await rejectsWith(
        ec2.send(new CreateTrafficMirrorSessionCommand(input as CreateTrafficMirrorSessionCommandInput)),
        'MissingParameter',
      );

      expect(await allSessions(ec2)).toEqual([]);
    },
  );

  it.each([
    ['SessionNumber', 0],
    ['SessionNumber', 32767],
    ['VirtualNetworkId', -1],
    ['VirtualNetworkId', 16_777_216],
    ['PacketLength', 0],
    ['PacketLength', 8501],
  ] as const)('rejects %s = %i with InvalidParameterValue and creates nothing', async (name, value) => {
    const { ec2, m } = await setup();

    await rejectsWith(
      ec2.send(new CreateTrafficMirrorSessionCommand(sessionInput(m, { [name]: value }))),
      'InvalidParameterValue',
    );

    expect(await allSessions(ec2)).toEqual([]);
  });

  it('accepts the bounds: session number 1 and 32766, VNI 0 and 16777215, packet length 1 and 8500', async () => {
    const { ec2, m } = await setup();

    const low = await createSession(
      ec2,
      sessionInput(m, { SessionNumber: 1, VirtualNetworkId: 0, PacketLength: 1 }),
    );
    const high = await createSession(
      ec2,
      sessionInput(m, { SessionNumber: 32766, VirtualNetworkId: 16_777_215, PacketLength: 8500 }),
    );

    expect([low.SessionNumber, low.VirtualNetworkId, low.PacketLength]).toEqual([1, 0, 1]);
    expect([high.SessionNumber, high.VirtualNetworkId, high.PacketLength]).toEqual([32766, 16_777_215, 8500]);
  });

  it('keeps session numbers unique per source ENI (InvalidParameterValue), not across ENIs', async () => {
    const { ec2, m } = await setup();
    const [other] = await launchMany(ec2, m.network.subnetId, 1);
    const first = await createSession(ec2, sessionInput(m, { SessionNumber: 5 }));

    await rejectsWith(createSession(ec2, sessionInput(m, { SessionNumber: 5 })), 'InvalidParameterValue');
    const elsewhere = await createSession(
      ec2,
      sessionInput(m, { SessionNumber: 5, NetworkInterfaceId: must(other, 'other').eniId }),
    );

    expect(idsOf(await allSessions(ec2))).toEqual([
      first.TrafficMirrorSessionId,
      elsewhere.TrafficMirrorSessionId,
    ]);
  });

  it('allows 3 sessions per source ENI; the 4th is TrafficMirrorSessionsPerInterfaceLimitExceeded', async () => {
    const { ec2, m } = await setup();
    for (const n of [1, 2, 3]) await createSession(ec2, sessionInput(m, { SessionNumber: n }));

    await rejectsWith(
      createSession(ec2, sessionInput(m, { SessionNumber: 4 })),
      'TrafficMirrorSessionsPerInterfaceLimitExceeded',
    );

    expect((await allSessions(ec2)).map((s) => s.SessionNumber)).toEqual([1, 2, 3]);
  });

  it('lets exactly 3 of 6 concurrent creates on one ENI succeed', async () => {
    const { ec2, m } = await setup();

    const results = await Promise.allSettled(
      [1, 2, 3, 4, 5, 6].map((n) => createSession(ec2, sessionInput(m, { SessionNumber: n }))),
    );

    const failed = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of failed) {
      expect(r.reason).toMatchObject({ name: 'TrafficMirrorSessionsPerInterfaceLimitExceeded' });
    }
    expect(await allSessions(ec2, [{ Name: 'network-interface-id', Values: [m.source.eniId] }])).toHaveLength(
      3,
    );
  });

  it('refuses an ENI that is a mirror target as a source (InterfaceInUseByTrafficMirrorTarget)', async () => {
    const { ec2, m } = await setup();
    const [appliance] = await launchMany(ec2, m.network.subnetId, 1);
    const applianceEni = must(appliance, 'appliance').eniId;
    await eniTarget(ec2, applianceEni);

    await rejectsWith(
      createSession(ec2, sessionInput(m, { NetworkInterfaceId: applianceEni })),
      'InterfaceInUseByTrafficMirrorTarget',
    );

    expect(await allSessions(ec2)).toEqual([]);
  });

  it.each([
    't2.micro',
    't1.micro',
    'm3.medium',
    'c3.large',
    'r3.large',
    'm6i.large',
    'm6a.xlarge',
    'm7i.large',
    'm7g.medium',
    'm8g.large',
    'c6i.large',
    'c6a.large',
    'c7i.large',
    'c7g.large',
    'c8g.large',
    'r6i.large',
    'r7i.large',
    'r8g.large',
    'i4i.large',
    'p5.48xlarge',
    'trn1.2xlarge',
    'hpc6a.48xlarge',
    'x2idn.16xlarge',
    'm6id.large',
    'c7gn.large',
    'm5.metal',
    'c5.metal',
    'i3.metal',
  ])('refuses a source on %s (NetworkInterfaceNotSupported)', async (type) => {
    const { ec2, m } = await setup(type);

    await rejectsWith(createSession(ec2, sessionInput(m)), 'NetworkInterfaceNotSupported');

    expect(await allSessions(ec2)).toEqual([]);
  });

  it.each([
    'm5.large',
    't3.micro',
    'c5n.xlarge',
    'r5.2xlarge',
    'm6g.large',
    'c4.large',
    'd2.xlarge',
    'g3.4xlarge',
    'g3s.xlarge',
    'h1.2xlarge',
    'i3.large',
    'm4.large',
    'p2.xlarge',
    'p3.2xlarge',
    'r4.large',
    'x1.16xlarge',
    'x1e.xlarge',
  ])('accepts a source on %s', async (type) => {
    const { ec2, m } = await setup(type);

    const session = await createSession(ec2, sessionInput(m));

    expect(idsOf(await allSessions(ec2))).toEqual([session.TrafficMirrorSessionId]);
  });

  it('accepts a standalone ENI (no instance) as a source', async () => {
    const { ec2, m } = await setup();
    const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: m.network.subnetId }));
    const eniId = must(eni.NetworkInterface?.NetworkInterfaceId, 'NetworkInterfaceId');

    const session = await createSession(ec2, sessionInput(m, { NetworkInterfaceId: eniId }));

    expect(session.NetworkInterfaceId).toBe(eniId);
  });

  it.each([
    ['NetworkInterfaceId', 'eni-0123456789abcdef0', 'InvalidNetworkInterfaceID.NotFound'],
    ['TrafficMirrorTargetId', 'tmt-0123456789abcdef0', 'InvalidTrafficMirrorTargetId.NotFound'],
    ['TrafficMirrorFilterId', 'tmf-0123456789abcdef0', 'InvalidTrafficMirrorFilterId.NotFound'],
  ] as const)('answers an unknown %s with %s', async (name, id, code) => {
    const { ec2, m } = await setup();

    await rejectsWith(createSession(ec2, sessionInput(m, { [name]: id })), code);

    expect(await allSessions(ec2)).toEqual([]);
  });

  it('rejects tags for another resource type and creates nothing', async () => {
    const { ec2, m } = await setup();

    await rejectsWith(
      createSession(
        ec2,
        sessionInput(m, {
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }],
        }),
      ),
      'InvalidParameterValue',
    );

    expect(await allSessions(ec2)).toEqual([]);
  });

  it('answers DryRun with DryRunOperation and creates nothing', async () => {
    const { ec2, m } = await setup();

    await rejectsWith(createSession(ec2, sessionInput(m, { DryRun: true })), 'DryRunOperation');

    expect(await allSessions(ec2)).toEqual([]);
  });

  it('validates before DryRun: a DryRun over the limit fails with the limit, not DryRunOperation', async () => {
    const { ec2, m } = await setup();
    for (const n of [1, 2, 3]) await createSession(ec2, sessionInput(m, { SessionNumber: n }));

    await rejectsWith(
      createSession(ec2, sessionInput(m, { SessionNumber: 4, DryRun: true })),
      'TrafficMirrorSessionsPerInterfaceLimitExceeded',
    );
  });

  it('returns the first session for a repeated ClientToken with the same parameters', async () => {
    const { ec2, m } = await setup();
    const input = sessionInput(m, { ClientToken: 'finding-1' });
    const first = await ec2.send(new CreateTrafficMirrorSessionCommand(input));

    const again = await ec2.send(new CreateTrafficMirrorSessionCommand(input));

    expect(again.TrafficMirrorSession).toEqual(first.TrafficMirrorSession);
    expect(again.ClientToken).toBe('finding-1');
    expect(idsOf(await allSessions(ec2))).toEqual([first.TrafficMirrorSession?.TrafficMirrorSessionId]);
  });

  it('creates one session for concurrent identical requests with one ClientToken', async () => {
    const { ec2, m } = await setup();
    const input = sessionInput(m, { ClientToken: 'finding-2' });

    const results = await Promise.all(
      Array.from({ length: 8 }, () => ec2.send(new CreateTrafficMirrorSessionCommand(input))),
    );

    const ids = new Set(results.map((r) => r.TrafficMirrorSession?.TrafficMirrorSessionId));
    expect(ids.size).toBe(1);
    expect(idsOf(await allSessions(ec2))).toEqual([...ids]);
  });

  it('answers a reused ClientToken with other parameters with IdempotentParameterMismatch', async () => {
    const { ec2, m } = await setup();
    const first = await createSession(ec2, sessionInput(m, { ClientToken: 'finding-3' }));

    await rejectsWith(
      createSession(ec2, sessionInput(m, { ClientToken: 'finding-3', SessionNumber: 2 })),
      'IdempotentParameterMismatch',
    );

    expect(idsOf(await allSessions(ec2))).toEqual([first.TrafficMirrorSessionId]);
  });
});

describe('sources per target', () => {
  async function sourcesAgainst(targetType: string, sources: number) {
    const { ec2, m } = await setup();
    const [appliance] = await launchMany(ec2, m.network.subnetId, 1, targetType);
    const targetId = await eniTarget(ec2, must(appliance, 'appliance').eniId);
    const launched = await launchMany(ec2, m.network.subnetId, sources);
    return { ec2, m, targetId, launched };
  }

  it('allows 10 source ENIs per ENI target; the 11th is TrafficMirrorSourcesPerTargetLimitExceeded', async () => {
    const { ec2, m, targetId, launched } = await sourcesAgainst('c5.xlarge', 11);
    const [eleventh, ...ten] = launched;
    for (const source of ten) {
      await createSession(
        ec2,
        sessionInput(m, { NetworkInterfaceId: source.eniId, TrafficMirrorTargetId: targetId }),
      );
    }

    await rejectsWith(
      createSession(
        ec2,
        sessionInput(m, {
          NetworkInterfaceId: must(eleventh, 'eleventh').eniId,
          TrafficMirrorTargetId: targetId,
        }),
      ),
      'TrafficMirrorSourcesPerTargetLimitExceeded',
    );

    expect(await allSessions(ec2, [{ Name: 'traffic-mirror-target-id', Values: [targetId] }])).toHaveLength(
      10,
    );
  });

  it('counts source ENIs, not sessions: a full target takes another session from one of its sources', async () => {
    const { ec2, m, targetId, launched } = await sourcesAgainst('c5.xlarge', 10);
    for (const source of launched) {
      await createSession(
        ec2,
        sessionInput(m, { NetworkInterfaceId: source.eniId, TrafficMirrorTargetId: targetId }),
      );
    }

    const second = await createSession(
      ec2,
      sessionInput(m, {
        NetworkInterfaceId: must(launched[0], 'first').eniId,
        TrafficMirrorTargetId: targetId,
        SessionNumber: 2,
      }),
    );

    expect(second.SessionNumber).toBe(2);
  });

  it('allows 100 source ENIs on a target type the quotas page lists (m5.24xlarge); the 101st is refused', async () => {
    const { ec2, m, targetId, launched } = await sourcesAgainst('m5.24xlarge', 101);
    const [last, ...hundred] = launched;
    await Promise.all(
      hundred.map((source) =>
        createSession(
          ec2,
          sessionInput(m, { NetworkInterfaceId: source.eniId, TrafficMirrorTargetId: targetId }),
        ),
      ),
    );

    await rejectsWith(
      createSession(
        ec2,
        sessionInput(m, { NetworkInterfaceId: must(last, 'last').eniId, TrafficMirrorTargetId: targetId }),
      ),
      'TrafficMirrorSourcesPerTargetLimitExceeded',
    );

    expect(await allSessions(ec2, [{ Name: 'traffic-mirror-target-id', Values: [targetId] }])).toHaveLength(
      100,
    );
  });

  it('sets no source limit on NLB and Gateway Load Balancer endpoint targets', async () => {
    const { ec2, account, m } = await setup();
    const nlb = await nlbTarget(ec2, account);
    const gwlb = must(
      (
        await ec2.send(
          new CreateTrafficMirrorTargetCommand({ GatewayLoadBalancerEndpointId: 'vpce-0123456789abcdef0' }),
        )
      ).TrafficMirrorTarget?.TrafficMirrorTargetId,
      'TrafficMirrorTargetId',
    );
    const launched = await launchMany(ec2, m.network.subnetId, 12);

    await Promise.all(
      launched.flatMap((source) => [
        createSession(ec2, sessionInput(m, { NetworkInterfaceId: source.eniId, TrafficMirrorTargetId: nlb })),
        createSession(
          ec2,
          sessionInput(m, {
            NetworkInterfaceId: source.eniId,
            TrafficMirrorTargetId: gwlb,
            SessionNumber: 2,
          }),
        ),
      ]),
    );

    expect(await allSessions(ec2, [{ Name: 'traffic-mirror-target-id', Values: [nlb] }])).toHaveLength(12);
    expect(await allSessions(ec2, [{ Name: 'traffic-mirror-target-id', Values: [gwlb] }])).toHaveLength(12);
  });
});

describe('DescribeTrafficMirrorSessions', () => {
  async function twoSessions() {
    const { ec2, account, m } = await setup();
    const [other] = await launchMany(ec2, m.network.subnetId, 1);
    const otherFilter = await createFilter(ec2);
    const a = await createSession(
      ec2,
      sessionInput(m, { SessionNumber: 3, PacketLength: 100, VirtualNetworkId: 11, Description: 'alpha' }),
    );
    const b = await createSession(
      ec2,
      sessionInput(m, {
        NetworkInterfaceId: must(other, 'other').eniId,
        TrafficMirrorFilterId: otherFilter,
        SessionNumber: 20,
        VirtualNetworkId: 22,
        Description: 'beta',
      }),
    );
    return { ec2, account, m, a, b, otherFilter };
  }

  it('supports the filter names AWS documents', async () => {
    const { ec2, account, m, a, b, otherFilter } = await twoSessions();
    const cases: [string, string[], (string | undefined)[]][] = [
      ['description', ['alp*'], [a.TrafficMirrorSessionId]],
      ['network-interface-id', [m.source.eniId], [a.TrafficMirrorSessionId]],
      ['owner-id', [account], [a.TrafficMirrorSessionId, b.TrafficMirrorSessionId]],
      ['packet-length', ['100'], [a.TrafficMirrorSessionId]],
      ['session-number', ['20'], [b.TrafficMirrorSessionId]],
      ['traffic-mirror-filter-id', [otherFilter], [b.TrafficMirrorSessionId]],
      ['traffic-mirror-session-id', [must(a.TrafficMirrorSessionId, 'id')], [a.TrafficMirrorSessionId]],
      ['traffic-mirror-target-id', [m.targetId], [a.TrafficMirrorSessionId, b.TrafficMirrorSessionId]],
      ['virtual-network-id', ['11', '22'], [a.TrafficMirrorSessionId, b.TrafficMirrorSessionId]],
    ];

    for (const [name, values, expected] of cases) {
      expect(idsOf(await allSessions(ec2, [{ Name: name, Values: values }])), name).toEqual(expected);
    }
  });

  it('finds sessions by id and answers an unknown id with InvalidTrafficMirrorSessionId.NotFound', async () => {
    const { ec2, b } = await twoSessions();

    const byId = await ec2.send(
      new DescribeTrafficMirrorSessionsCommand({
        TrafficMirrorSessionIds: [must(b.TrafficMirrorSessionId, 'id')],
      }),
    );

    expect(idsOf(byId.TrafficMirrorSessions ?? [])).toEqual([b.TrafficMirrorSessionId]);
    await rejectsWith(
      ec2.send(
        new DescribeTrafficMirrorSessionsCommand({ TrafficMirrorSessionIds: ['tms-0123456789abcdef0'] }),
      ),
      'InvalidTrafficMirrorSessionId.NotFound',
    );
  });

  it.each(['tag:mirrorops:managed', 'tag-key', 'no-such-filter'])(
    'rejects the filter %s (not documented for sessions) with InvalidParameterValue',
    async (name) => {
      const { ec2 } = await twoSessions();

      await rejectsWith(allSessions(ec2, [{ Name: name, Values: ['x'] }]), 'InvalidParameterValue');
    },
  );

  it('answers DryRun with DryRunOperation', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      ec2.send(new DescribeTrafficMirrorSessionsCommand({ DryRun: true })),
      'DryRunOperation',
    );
  });

  it.each([4, 1001])('rejects MaxResults %i (allowed 5..1000)', async (max) => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      ec2.send(new DescribeTrafficMirrorSessionsCommand({ MaxResults: max })),
      'InvalidParameterValue',
    );
  });

  it('pages with NextToken while sessions are created and deleted between pages, skipping and repeating nothing', async () => {
    const { ec2, m } = await setup();
    const sources = await launchMany(ec2, m.network.subnetId, 5);
    for (const source of sources) {
      for (const n of [1, 2, 3]) {
        await createSession(ec2, sessionInput(m, { NetworkInterfaceId: source.eniId, SessionNumber: n }));
      }
    }
    const original = idsOf(await allSessions(ec2));
    expect(original).toHaveLength(15);
    const [extraSource] = await launchMany(ec2, m.network.subnetId, 1);

    const seen: (string | undefined)[] = [];
    const deleted = new Set<string>();
    const added: (string | undefined)[] = [];
    let token: string | undefined;
    let page = 0;
    do {
      const out = await ec2.send(
        new DescribeTrafficMirrorSessionsCommand({ MaxResults: 5, NextToken: token }),
      );
      expect(out.TrafficMirrorSessions?.length).toBeLessThanOrEqual(5);
      seen.push(...idsOf(out.TrafficMirrorSessions ?? []));
      token = out.NextToken;
      page++;
      if (token && page <= 2) {
        // Between pages: delete one session already returned and one not yet returned, add one.
        const returned = must(seen[seen.length - 1], 'a returned id');
        const ahead = must(
          original.find((id) => id !== undefined && !seen.includes(id) && !deleted.has(id)),
          'an id ahead',
        );
        await ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: returned }));
        await ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: ahead }));
        deleted.add(returned).add(ahead);
        const created = await createSession(
          ec2,
          sessionInput(m, { NetworkInterfaceId: must(extraSource, 'extra').eniId, SessionNumber: page }),
        );
        added.push(created.TrafficMirrorSessionId);
      }
    } while (token);

    expect(new Set(seen).size).toBe(seen.length);
    const stayed = original.filter((id) => id !== undefined && !deleted.has(id));
    for (const id of stayed) expect(seen).toContain(id);
    for (const id of added) expect(seen).toContain(id);
    for (const id of seen) expect(original.includes(id) || added.includes(id)).toBe(true);
  });

  it('refuses a NextToken with a changed query (InvalidNextToken)', async () => {
    const { ec2, m } = await setup();
    const sources = await launchMany(ec2, m.network.subnetId, 6);
    for (const source of sources)
      await createSession(ec2, sessionInput(m, { NetworkInterfaceId: source.eniId }));
    const first = await ec2.send(new DescribeTrafficMirrorSessionsCommand({ MaxResults: 5 }));

    await rejectsWith(
      ec2.send(
        new DescribeTrafficMirrorSessionsCommand({
          MaxResults: 5,
          NextToken: first.NextToken,
          Filters: [{ Name: 'session-number', Values: ['1'] }],
        }),
      ),
      'InvalidNextToken',
    );
  });
});

describe('ModifyTrafficMirrorSession', () => {
  it('changes target, filter, number, VNI, packet length and description in place', async () => {
    const { ec2, account, m } = await setup();
    const session = await createSession(ec2, sessionInput(m, { VirtualNetworkId: 1 }));
    const newTarget = await nlbTarget(ec2, account);
    const newFilter = await createFilter(ec2);

    const out = await ec2.send(
      new ModifyTrafficMirrorSessionCommand({
        TrafficMirrorSessionId: session.TrafficMirrorSessionId,
        TrafficMirrorTargetId: newTarget,
        TrafficMirrorFilterId: newFilter,
        SessionNumber: 9,
        VirtualNetworkId: 77,
        PacketLength: 64,
        Description: 'narrowed',
      }),
    );

    const expected = {
      ...session,
      TrafficMirrorTargetId: newTarget,
      TrafficMirrorFilterId: newFilter,
      SessionNumber: 9,
      VirtualNetworkId: 77,
      PacketLength: 64,
      Description: 'narrowed',
    };
    expect(out.TrafficMirrorSession).toEqual(expected);
    expect(await allSessions(ec2)).toEqual([expected]);
  });

  it('removes packet length and description with RemoveField, and gives a new VNI for virtual-network-id', async () => {
    const { ec2, m } = await setup();
    const session = await createSession(
      ec2,
      sessionInput(m, { PacketLength: 100, Description: 'x', VirtualNetworkId: 5 }),
    );

    const out = await ec2.send(
      new ModifyTrafficMirrorSessionCommand({
        TrafficMirrorSessionId: session.TrafficMirrorSessionId,
        RemoveFields: ['packet-length', 'description', 'virtual-network-id'],
      }),
    );

    expect(out.TrafficMirrorSession?.PacketLength).toBeUndefined();
    expect(out.TrafficMirrorSession?.Description).toBeUndefined();
    expect(out.TrafficMirrorSession?.VirtualNetworkId).not.toBe(5);
    expect(await allSessions(ec2)).toEqual([out.TrafficMirrorSession]);
  });

  it.each([
    [{ RemoveFields: ['packet-length'], PacketLength: 10 }, 'InvalidParameterValue'],
    [{ RemoveFields: ['no-such-field'] }, 'InvalidParameterValue'],
    [{ SessionNumber: 0 }, 'InvalidParameterValue'],
    [{ VirtualNetworkId: 16_777_216 }, 'InvalidParameterValue'],
    [{ PacketLength: 8501 }, 'InvalidParameterValue'],
    [{ TrafficMirrorTargetId: 'tmt-0123456789abcdef0' }, 'InvalidTrafficMirrorTargetId.NotFound'],
    [{ TrafficMirrorFilterId: 'tmf-0123456789abcdef0' }, 'InvalidTrafficMirrorFilterId.NotFound'],
    [{ SessionNumber: 2, DryRun: true }, 'DryRunOperation'],
  ] as const)('refuses %o with %s and changes nothing', async (changes, code) => {
    const { ec2, m } = await setup();
    const session = await createSession(ec2, sessionInput(m, { PacketLength: 100 }));

    await rejectsWith(
      ec2.send(
        new ModifyTrafficMirrorSessionCommand({
          TrafficMirrorSessionId: session.TrafficMirrorSessionId,
          ...(changes as object),
        }),
      ),
      code,
    );

    expect(await allSessions(ec2)).toEqual([session]);
  });

  it('keeps session numbers unique per ENI when modifying', async () => {
    const { ec2, m } = await setup();
    await createSession(ec2, sessionInput(m, { SessionNumber: 1 }));
    const second = await createSession(ec2, sessionInput(m, { SessionNumber: 2 }));

    await rejectsWith(
      ec2.send(
        new ModifyTrafficMirrorSessionCommand({
          TrafficMirrorSessionId: second.TrafficMirrorSessionId,
          SessionNumber: 1,
        }),
      ),
      'InvalidParameterValue',
    );
    const same = await ec2.send(
      new ModifyTrafficMirrorSessionCommand({
        TrafficMirrorSessionId: second.TrafficMirrorSessionId,
        SessionNumber: 2,
      }),
    );

    expect(same.TrafficMirrorSession?.SessionNumber).toBe(2);
  });

  it('applies the source limit of the new target', async () => {
    const { ec2, account, m } = await setup();
    const [appliance] = await launchMany(ec2, m.network.subnetId, 1);
    const full = await eniTarget(ec2, must(appliance, 'appliance').eniId);
    for (const source of await launchMany(ec2, m.network.subnetId, 10)) {
      await createSession(
        ec2,
        sessionInput(m, { NetworkInterfaceId: source.eniId, TrafficMirrorTargetId: full }),
      );
    }
    const session = await createSession(
      ec2,
      sessionInput(m, { TrafficMirrorTargetId: await nlbTarget(ec2, account) }),
    );

    await rejectsWith(
      ec2.send(
        new ModifyTrafficMirrorSessionCommand({
          TrafficMirrorSessionId: session.TrafficMirrorSessionId,
          TrafficMirrorTargetId: full,
        }),
      ),
      'TrafficMirrorSourcesPerTargetLimitExceeded',
    );
  });

  it('answers an unknown session with InvalidTrafficMirrorSessionId.NotFound', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      ec2.send(
        new ModifyTrafficMirrorSessionCommand({
          TrafficMirrorSessionId: 'tms-0123456789abcdef0',
          SessionNumber: 2,
        }),
      ),
      'InvalidTrafficMirrorSessionId.NotFound',
    );
  });
});

describe('DeleteTrafficMirrorSession', () => {
  it('deletes the session and frees its slot on the ENI', async () => {
    const { ec2, m } = await setup();
    const sessions = [];
    for (const n of [1, 2, 3]) sessions.push(await createSession(ec2, sessionInput(m, { SessionNumber: n })));
    const victim = must(sessions[0]?.TrafficMirrorSessionId, 'id');

    const out = await ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: victim }));
    const replacement = await createSession(ec2, sessionInput(m, { SessionNumber: 1 }));

    expect(out.TrafficMirrorSessionId).toBe(victim);
    expect(idsOf(await allSessions(ec2))).toEqual([
      sessions[1]?.TrafficMirrorSessionId,
      sessions[2]?.TrafficMirrorSessionId,
      replacement.TrafficMirrorSessionId,
    ]);
  });

  it('answers an unknown id with InvalidTrafficMirrorSessionId.NotFound and DryRun with DryRunOperation', async () => {
    const { ec2, m } = await setup();
    const session = await createSession(ec2, sessionInput(m));

    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: 'tms-0123456789abcdef0' })),
      'InvalidTrafficMirrorSessionId.NotFound',
    );
    await rejectsWith(
      ec2.send(
        new DeleteTrafficMirrorSessionCommand({
          TrafficMirrorSessionId: session.TrafficMirrorSessionId,
          DryRun: true,
        }),
      ),
      'DryRunOperation',
    );

    expect(await allSessions(ec2)).toEqual([session]);
  });

  it('requires TrafficMirrorSessionId (MissingParameter)', async () => {
    const { ec2 } = freshClient(env.url);

    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorSessionCommand({} as { TrafficMirrorSessionId: string })),
      'MissingParameter',
    );
  });
});

describe('TerminateInstances', () => {
  it('deletes the sessions of the instance, and keeps filters, targets and other sessions', async () => {
    const { ec2, m } = await setup();
    const [other] = await launchMany(ec2, m.network.subnetId, 1);
    await createSession(ec2, sessionInput(m, { SessionNumber: 1 }));
    await createSession(ec2, sessionInput(m, { SessionNumber: 2 }));
    const kept = await createSession(
      ec2,
      sessionInput(m, { NetworkInterfaceId: must(other, 'other').eniId }),
    );

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [m.source.instanceId] }));

    expect(idsOf(await allSessions(ec2))).toEqual([kept.TrafficMirrorSessionId]);
    const filters = await ec2.send(
      new DescribeTrafficMirrorFiltersCommand({ TrafficMirrorFilterIds: [m.filterId] }),
    );
    expect(filters.TrafficMirrorFilters).toHaveLength(1);
    const targets = await ec2.send(
      new DescribeTrafficMirrorTargetsCommand({ TrafficMirrorTargetIds: [m.targetId] }),
    );
    expect(targets.TrafficMirrorTargets).toHaveLength(1);
  });

  it('leaves the filter deletable once the terminated instance took its sessions', async () => {
    const { ec2, m } = await setup();
    await createSession(ec2, sessionInput(m));
    await rejectsWith(
      ec2.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: m.filterId })),
      'TrafficMirrorFilterInUse',
    );

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [m.source.instanceId] }));
    await ec2.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: m.filterId }));

    expect((await ec2.send(new DescribeTrafficMirrorFiltersCommand({}))).TrafficMirrorFilters).toEqual([]);
  });
});
