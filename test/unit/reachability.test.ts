import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { sourcesPerEniTarget } from '../../emulator/ec2/instance-types.ts';
import {
  type AclEntry,
  aclVerdict,
  type Endpoint,
  holds,
  type PeeringView,
  pathBetween,
  quotaLevel,
  type RouteView,
  routeFor,
  securityGroupsAllow,
} from '../../shared/domain/reachability.ts';
import { sourcesPerTarget } from '../../shared/domain/target-capacity.ts';

const octet = fc.integer({ min: 0, max: 255 });
const address = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const block = fc.tuple(address, fc.integer({ min: 0, max: 32 })).map(([a, prefix]) => {
  const value = a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const masked = prefix === 0 ? 0 : Math.floor(value / 2 ** (32 - prefix)) * 2 ** (32 - prefix);
  const text = [24, 16, 8, 0].map((shift) => Math.floor(masked / 2 ** shift) % 256).join('.');
  return `${text}/${prefix}`;
});
const entry: fc.Arbitrary<AclEntry> = fc.record({
  ruleNumber: fc.integer({ min: 1, max: 32766 }),
  egress: fc.boolean(),
  protocol: fc.constantFrom('-1', '6', '17', '1'),
  action: fc.constantFrom('allow' as const, 'deny' as const),
  cidrBlock: block,
  portRange: fc.option(
    fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 })).map(([a, b]) => ({
      from: Math.min(a, b),
      to: Math.max(a, b),
    })),
    { nil: undefined },
  ),
});
/** Entries as an ACL holds them: one rule a number and direction. */
const entries = fc.uniqueArray(entry, { selector: (e) => `${e.egress}/${e.ruleNumber}`, maxLength: 12 });

describe('aclVerdict: the first rule by number decides, * denies', () => {
  test('examples', () => {
    const acl: AclEntry[] = [
      {
        ruleNumber: 100,
        egress: false,
        protocol: '17',
        action: 'allow',
        cidrBlock: '10.0.0.0/16',
        portRange: { from: 4789, to: 4789 },
      },
      { ruleNumber: 90, egress: false, protocol: '-1', action: 'deny', cidrBlock: '10.0.5.0/24' },
      { ruleNumber: 32767, egress: false, protocol: '-1', action: 'deny', cidrBlock: '0.0.0.0/0' },
    ];
    expect(aclVerdict(acl, { egress: false, peer: '10.0.1.9' })).toEqual({ allowed: true, ruleNumber: 100 });
    expect(aclVerdict(acl, { egress: false, peer: '10.0.5.9' })).toEqual({ allowed: false, ruleNumber: 90 });
    expect(aclVerdict(acl, { egress: false, peer: '10.1.0.1' })).toEqual({
      allowed: false,
      ruleNumber: 32767,
    });
    expect(aclVerdict(acl, { egress: false, peer: '10.0.1.9', port: 4790 })).toEqual({
      allowed: false,
      ruleNumber: 32767,
    });
    expect(aclVerdict(acl, { egress: true, peer: '10.0.1.9' })).toEqual({
      allowed: false,
      ruleNumber: 32767,
    });
    expect(aclVerdict([], { egress: false, peer: '10.0.1.9' })).toEqual({
      allowed: false,
      ruleNumber: 32767,
    });
  });

  test('the order the entries come in does not matter', () => {
    fc.assert(
      fc.property(
        entries,
        address,
        fc.boolean(),
        fc.integer({ min: 0, max: 1000 }),
        (list, peer, egress, seed) => {
          const shuffled = [...list].sort(
            (a, b) => ((a.ruleNumber * 7919 + seed) % 97) - ((b.ruleNumber * 7919 + seed) % 97),
          );
          expect(aclVerdict(shuffled, { egress, peer })).toEqual(aclVerdict(list, { egress, peer }));
        },
      ),
    );
  });

  test('a rule numbered after the deciding one changes nothing; an allow-all before everything allows', () => {
    fc.assert(
      fc.property(entries, address, fc.boolean(), entry, (list, peer, egress, extra) => {
        const verdict = aclVerdict(list, { egress, peer });
        const later = { ...extra, egress, ruleNumber: Math.min(32766, verdict.ruleNumber + 1) };
        if (
          verdict.ruleNumber < 32766 &&
          !list.some((e) => e.egress === egress && e.ruleNumber === later.ruleNumber)
        ) {
          expect(aclVerdict([...list, later], { egress, peer })).toEqual(verdict);
        }
        const first: AclEntry = {
          ruleNumber: 0,
          egress,
          protocol: '-1',
          action: 'allow',
          cidrBlock: '0.0.0.0/0',
        };
        expect(aclVerdict([...list, first], { egress, peer })).toEqual({ allowed: true, ruleNumber: 0 });
      }),
    );
  });

  test('the other direction’s rules never decide', () => {
    fc.assert(
      fc.property(entries, address, fc.boolean(), (list, peer, egress) => {
        const own = list.filter((e) => e.egress === egress);
        expect(aclVerdict(list, { egress, peer })).toEqual(aclVerdict(own, { egress, peer }));
      }),
    );
  });
});

describe('securityGroupsAllow', () => {
  const sender = { address: '10.0.0.5', groupIds: ['sg-source'] };
  test('UDP 4789 by CIDR or by group; other protocols and ports do not count', () => {
    const group = (ingress: Parameters<typeof securityGroupsAllow>[0][number]['ingress']) => [
      { id: 'sg-t', ingress },
    ];
    expect(
      securityGroupsAllow(
        group([{ protocol: 'udp', fromPort: 4789, toPort: 4789, cidrs: ['10.0.0.0/24'], groupIds: [] }]),
        sender,
      ),
    ).toEqual({
      groupId: 'sg-t',
      rule: 'udp 4789-4789 from 10.0.0.0/24',
    });
    expect(
      securityGroupsAllow(group([{ protocol: '-1', cidrs: [], groupIds: ['sg-source'] }]), sender)?.rule,
    ).toBe('all all from sg-source');
    expect(
      securityGroupsAllow(
        group([{ protocol: '17', fromPort: 4000, toPort: 5000, cidrs: ['0.0.0.0/0'], groupIds: [] }]),
        sender,
      ),
    ).toBeDefined();
    expect(
      securityGroupsAllow(
        group([{ protocol: 'tcp', fromPort: 0, toPort: 65535, cidrs: ['0.0.0.0/0'], groupIds: [] }]),
        sender,
      ),
    ).toBeUndefined();
    expect(
      securityGroupsAllow(
        group([{ protocol: 'udp', fromPort: 4790, toPort: 4790, cidrs: ['0.0.0.0/0'], groupIds: [] }]),
        sender,
      ),
    ).toBeUndefined();
    expect(
      securityGroupsAllow(
        group([
          { protocol: 'udp', fromPort: 4789, toPort: 4789, cidrs: ['10.0.1.0/24'], groupIds: ['sg-other'] },
        ]),
        sender,
      ),
    ).toBeUndefined();
    expect(securityGroupsAllow([], sender)).toBeUndefined();
  });

  test('adding a rule never takes an allowance away (groups only allow)', () => {
    const perm = fc.record({
      protocol: fc.constantFrom('-1', 'udp', 'tcp', '17', '6'),
      fromPort: fc.integer({ min: 0, max: 65535 }),
      toPort: fc.integer({ min: 0, max: 65535 }),
      cidrs: fc.array(block, { maxLength: 2 }),
      groupIds: fc.array(fc.constantFrom('sg-source', 'sg-other'), { maxLength: 1 }),
    });
    fc.assert(
      fc.property(fc.array(perm, { maxLength: 5 }), perm, address, (rules, extra, from) => {
        const who = { address: from, groupIds: ['sg-source'] };
        const before = securityGroupsAllow([{ id: 'sg-t', ingress: rules }], who);
        const after = securityGroupsAllow([{ id: 'sg-t', ingress: [...rules, extra] }], who);
        if (before) expect(after).toBeDefined();
      }),
    );
  });
});

describe('routeFor: the most specific route holding the destination', () => {
  test('longest prefix wins; none holds: undefined', () => {
    const routes: RouteView[] = [
      { destination: '10.0.0.0/16', gatewayId: 'local' },
      { destination: '10.0.0.0/8', transitGatewayId: 'tgw-1' },
      { destination: '10.2.0.0/16', vpcPeeringConnectionId: 'pcx-1' },
    ];
    expect(routeFor(routes, '10.2.3.4')?.vpcPeeringConnectionId).toBe('pcx-1');
    expect(routeFor(routes, '10.9.0.1')?.transitGatewayId).toBe('tgw-1');
    expect(routeFor(routes, '10.0.1.0/24')?.gatewayId).toBe('local');
    expect(routeFor(routes, '192.168.0.1')).toBeUndefined();
  });

  test('property: the route found holds the destination and none holding it is more specific', () => {
    fc.assert(
      fc.property(
        fc.array(
          block.map((destination) => ({ destination })),
          { maxLength: 10 },
        ),
        address,
        (routes, to) => {
          const found = routeFor(routes, to);
          const holding = routes.filter((r) => holds(r.destination, to));
          if (holding.length === 0) {
            expect(found).toBeUndefined();
            return;
          }
          const prefix = (r: RouteView) => Number(r.destination.split('/')[1]);
          expect(found && holds(found.destination, to)).toBe(true);
          expect(Math.max(...holding.map(prefix))).toBe(prefix(found as RouteView));
        },
      ),
    );
  });
});

describe('pathBetween', () => {
  const end = (vpcId: string, addr: string, routes: RouteView[] = []): Endpoint => ({
    vpcId,
    account: '111111111111',
    region: 'us-east-1',
    address: addr,
    routes,
  });
  const peering = (status: string, accepterRegion = 'us-east-1'): PeeringView => ({
    id: 'pcx-1',
    status,
    requester: { vpcId: 'vpc-a', account: '111111111111', region: 'us-east-1' },
    accepter: { vpcId: 'vpc-b', account: '222222222222', region: accepterRegion },
  });
  const viaPcx = (destination: string, state = 'active'): RouteView => ({
    destination,
    vpcPeeringConnectionId: 'pcx-1',
    state,
  });

  test('one VPC needs nothing', () => {
    expect(pathBetween(end('vpc-a', '10.0.0.1'), end('vpc-a', '10.0.1.1'), [], [])).toMatchObject({
      ok: true,
      via: 'same-vpc',
    });
  });

  test('peering: active, one Region, routes both ways; each missing piece named', () => {
    const a = end('vpc-a', '10.1.0.5', [viaPcx('10.2.0.0/16')]);
    const b = end('vpc-b', '10.2.0.5', [viaPcx('10.1.0.0/16')]);
    expect(pathBetween(a, b, [peering('active')], [])).toMatchObject({
      ok: true,
      via: 'peering',
      id: 'pcx-1',
    });
    expect(pathBetween(b, a, [peering('active')], [])).toMatchObject({ ok: true, via: 'peering' });
    expect(pathBetween(a, b, [peering('pending-acceptance')], [])).toMatchObject({ ok: false });
    expect(pathBetween(a, b, [peering('active', 'eu-west-1')], [])).toMatchObject({
      ok: false,
      detail: expect.stringContaining('joins two Regions'),
    });
    expect(
      pathBetween(end('vpc-a', '10.1.0.5', [viaPcx('10.2.0.0/16', 'blackhole')]), b, [peering('active')], []),
    ).toMatchObject({
      ok: false,
      detail: expect.stringContaining('(blackhole)'),
    });
    // A more specific route elsewhere takes the packets away from the peering.
    const stolen = end('vpc-a', '10.1.0.5', [
      viaPcx('10.2.0.0/16'),
      { destination: '10.2.0.0/24', transitGatewayId: 'tgw-9' },
    ]);
    expect(pathBetween(stolen, b, [peering('active')], [])).toMatchObject({ ok: false });
  });

  test('transit gateway: both attached to the same one, routes to it both ways', () => {
    const a = end('vpc-a', '10.1.0.5', [{ destination: '10.0.0.0/8', transitGatewayId: 'tgw-1' }]);
    const b = end('vpc-b', '10.2.0.5', [{ destination: '10.1.0.0/16', transitGatewayId: 'tgw-1' }]);
    const both = [
      { transitGatewayId: 'tgw-1', vpcId: 'vpc-a', state: 'available' },
      { transitGatewayId: 'tgw-1', vpcId: 'vpc-b', state: 'available' },
    ];
    expect(pathBetween(a, b, [], both)).toMatchObject({ ok: true, via: 'transit-gateway', id: 'tgw-1' });
    expect(
      pathBetween(
        a,
        b,
        [],
        [
          both[0] as (typeof both)[number],
          { ...(both[1] as (typeof both)[number]), transitGatewayId: 'tgw-2' },
        ],
      ),
    ).toMatchObject({
      ok: false,
      detail: expect.stringContaining('are not joined'),
    });
  });
});

describe('quotas and capacity', () => {
  test('quotaLevel: ok below 90%, warn from 90%, fail at the quota', () => {
    expect([0, 8999, 9000, 9999, 10000, 10001].map((n) => quotaLevel(n, 10_000))).toEqual([
      'ok',
      'ok',
      'warn',
      'warn',
      'fail',
      'fail',
    ]);
  });

  test('sourcesPerTarget: 10, 100 on the listed types, none for NLB and GWLB endpoint', () => {
    expect(sourcesPerTarget('network-interface', 'm5.large')).toBe(10);
    expect(sourcesPerTarget('network-interface', 'M5.24XLARGE')).toBe(100);
    expect(sourcesPerTarget('network-interface', 'm5.12xlarge')).toBe(10);
    expect(sourcesPerTarget('network-interface')).toBe(10);
    expect(sourcesPerTarget('network-load-balancer', 'm5.24xlarge')).toBeUndefined();
    expect(sourcesPerTarget('gateway-load-balancer-endpoint')).toBeUndefined();
  });

  test('differential: the product and the emulator agree on every instance type either lists', () => {
    const sizes = [
      'large',
      'xlarge',
      '2xlarge',
      '12xlarge',
      '16xlarge',
      '18xlarge',
      '24xlarge',
      '32xlarge',
      '48xlarge',
      '96xlarge',
      '112xlarge',
      'metal',
    ];
    const families = [
      'm5',
      'm5d',
      'c5',
      'c5n',
      'r5',
      'x2gd',
      'u-6tb1',
      'p5',
      'trn2',
      'hpc7g',
      'g6e',
      'i3en',
      't3',
      'z1d',
    ];
    for (const family of families) {
      for (const size of sizes) {
        const type = `${family}.${size}`;
        expect([type, sourcesPerTarget('network-interface', type)]).toEqual([
          type,
          sourcesPerEniTarget(type),
        ]);
      }
    }
  });
});
