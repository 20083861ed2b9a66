import { CreateTrafficMirrorTargetCommand, DescribeNetworkInterfacesCommand } from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { TAG } from '../../shared/domain/tags.ts';
import { apply } from '../../shared/mirror.ts';
import { postTraffic } from '../support/dataplane.ts';
import { useEmulator } from '../support/emulator.ts';
import { findingFor, incident, intentOf, tagsOf } from '../support/incident.ts';
import { recordRequests } from '../support/requests.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

const rulesOf = (f: {
  IngressFilterRules?: object[] | undefined;
  EgressFilterRules?: object[] | undefined;
}) =>
  [...(f.IngressFilterRules ?? []), ...(f.EgressFilterRules ?? [])] as {
    TrafficDirection?: string;
    SourceCidrBlock?: string;
    DestinationCidrBlock?: string;
  }[];

describe('a GuardDuty finding on an instance', () => {
  test('mirrors every ENI to the target through one filter scoped to the remote address', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(4);
    const event = findingFor('network-connection', world, instance);

    const result = await apply(intentOf(event, world.config), world.deps());

    expect(result.outcomes.map((o) => o.status)).toEqual(['started', 'started', 'started', 'started']);
    const sessions = await world.sessions();
    expect(sessions.map((s) => s.NetworkInterfaceId).sort()).toEqual([...instance.eniIds].sort());
    const filterIds = new Set(sessions.map((s) => s.TrafficMirrorFilterId));
    expect(filterIds.size).toBe(1);
    for (const s of sessions) {
      expect(s.TrafficMirrorTargetId).toBe(world.targetId);
      expect(s.SessionNumber).toBe(5); // severity 5 -> 10 - 5
      const tags = tagsOf(s);
      expect(tags[TAG.managed]).toBe('true');
      expect(tags[TAG.reason]).toBe('guardduty');
      expect(tags[TAG.intent]).toBe('16afba5c5c43e07c9e3e5e2e544e95df');
      expect(
        Date.parse(tags[TAG.expiresAt] ?? '') -
          Date.parse(String((event.detail as { updatedAt: string }).updatedAt)),
      ).toBe(6 * 3_600_000);
    }
    const [filter] = await world.filters();
    expect(
      rulesOf(filter ?? {})
        .map((r) => [r.TrafficDirection, r.SourceCidrBlock, r.DestinationCidrBlock])
        .sort(),
    ).toEqual([
      ['egress', '0.0.0.0/0', '198.51.100.7/32'],
      ['ingress', '198.51.100.7/32', '0.0.0.0/0'],
    ]);
    expect(tagsOf(filter ?? {})[TAG.managed]).toBe('true');
    const started = (await world.auditEvents()).filter((e) => e['detail-type'] === 'Mirror Session Started');
    expect(started).toHaveLength(4);
    expect(started[0]?.source).toBe('mirrorops');
    expect(started[0]?.detail).toMatchObject({
      account: world.account,
      instanceId: instance.instanceId,
      findingId: '16afba5c5c43e07c9e3e5e2e544e95df',
      reason: 'guardduty',
    });
  });

  test('a port probe mirrors every prober, aggregated to fit ten rules', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    await apply(intentOf(findingFor('port-probe', world, instance), world.config), world.deps());
    const [filter] = await world.filters();
    const rules = rulesOf(filter ?? {});
    expect(rules.length).toBeLessThanOrEqual(10);
    const ingress = rules.filter((r) => r.TrafficDirection === 'ingress').map((r) => r.SourceCidrBlock ?? '');
    const probers = [
      '198.51.100.1',
      '198.51.100.2',
      '198.51.100.3',
      '198.51.100.9',
      '203.0.113.40',
      '203.0.113.41',
      '192.0.2.200',
    ];
    const { parseCidr, contains } = await import('../../shared/domain/cidr.ts');
    const blocks = ingress.map((text) => parseCidr(text));
    for (const ip of probers) {
      const want = parseCidr(`${ip}/32`);
      expect(blocks.some((block) => block !== undefined && want !== undefined && contains(block, want))).toBe(
        true,
      );
    }
    expect(ingress).not.toContain('0.0.0.0/0');
  });

  test('a DNS finding mirrors Amazon DNS: the amazon-dns network service alone, with no rule and no read of the VPC', async () => {
    const world = await incident(env.url); // VPC 10.0.0.0/16: Amazon DNS at 10.0.0.2
    const instance = await world.instance(1);
    const calls = recordRequests(world.functionEc2);
    await apply(intentOf(findingFor('dns-request', world, instance), world.config), world.deps());
    const [filter] = await world.filters();
    expect(filter?.NetworkServices).toEqual(['amazon-dns']);
    expect(rulesOf(filter ?? {})).toEqual([]);
    expect(calls.map((c) => c.action)).not.toContain('DescribeVpcs');

    // What the session takes: the instance's queries to Amazon DNS and their answers, only those.
    const eniId = must(instance.eniIds[0], 'ENI');
    const eni = await world.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] }));
    const address = must(eni.NetworkInterfaces?.[0]?.PrivateIpAddress, 'address');
    const udp = (direction: string, source: string, destination: string, ports: [number, number]) => ({
      direction,
      protocol: 17,
      source,
      destination,
      sourcePort: ports[0],
      destinationPort: ports[1],
    });
    const answer = await postTraffic(env.url, world.account, {
      networkInterfaceId: eniId,
      packets: [
        udp('egress', address, '10.0.0.2', [40000, 53]),
        udp('ingress', '10.0.0.2', address, [53, 40000]),
        udp('egress', address, '169.254.169.253', [40001, 53]),
        udp('egress', address, '198.51.100.53', [40002, 53]),
        udp('egress', address, '198.51.100.7', [40003, 443]),
      ],
    });
    expect(answer.json.packets.map((p: { mirrored: boolean }) => p.mirrored)).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  test('another action type, or policy scope=full, mirrors all traffic', async () => {
    for (const [fixture, env2] of [
      ['aws-api-call', {}],
      ['network-connection', { MIRROROPS_SCOPE: 'full' }],
    ] as const) {
      const world = await incident(env.url, env2);
      const instance = await world.instance(1);
      await apply(intentOf(findingFor(fixture, world, instance), world.config), world.deps());
      const [filter] = await world.filters();
      expect(
        rulesOf(filter ?? {})
          .map((r) => r.SourceCidrBlock)
          .sort(),
      ).toEqual(['0.0.0.0/0', '0.0.0.0/0', '::/0', '::/0']);
    }
  });

  test('an older finding without interface ids: the instance is described and all its ENIs mirrored', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(2);
    const event = findingFor('missing-eni-id', world, instance, (d) => {
      for (const n of d.resource.instanceDetails.networkInterfaces) delete n.networkInterfaceId;
    });
    const result = await apply(intentOf(event, world.config), world.deps());
    expect(result.outcomes.map((o) => o.eniId).sort()).toEqual([...instance.eniIds].sort());
    expect(await world.sessions()).toHaveLength(2);
  });

  test('ENIs that cannot be sources are skipped with the reason, in the result and the audit event', async () => {
    const world = await incident(env.url);
    const unsupported = await world.instance(1, 'c6i.large');
    const result = await apply(
      intentOf(
        findingFor('network-connection', world, unsupported, (d) => {
          d.resource.instanceDetails.instanceType = 'c6i.large';
        }),
        world.config,
      ),
      world.deps(),
    );
    expect(result.outcomes).toEqual([
      expect.objectContaining({ status: 'skipped', reason: expect.stringContaining('c6i.large') }),
    ]);

    // An ENI that is itself a mirror target: AWS refuses it as a source.
    const instance = await world.instance(1);
    await world.ec2.send(new CreateTrafficMirrorTargetCommand({ NetworkInterfaceId: instance.eniIds[0] }));
    const second = await apply(
      intentOf(findingFor('network-connection', world, instance), world.config),
      world.deps(),
    );
    expect(second.outcomes).toEqual([
      expect.objectContaining({
        status: 'skipped',
        reason: expect.stringContaining('InterfaceInUseByTrafficMirrorTarget'),
      }),
    ]);
    expect(await world.sessions()).toHaveLength(0);
    const rejected = (await world.auditEvents()).filter(
      (e) => e['detail-type'] === 'Mirror Request Rejected',
    );
    expect(rejected.map((e) => e.detail.message)).toEqual([
      expect.stringContaining('c6i.large'),
      expect.stringContaining('InterfaceInUseByTrafficMirrorTarget'),
    ]);
  });
});
