import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAddress, parseCidr } from '../../shared/domain/cidr.ts';
import {
  compileFilter,
  covers,
  type FilterSpec,
  FULL_SCOPE,
  filterHash,
  RULE_BUDGET,
  type RuleSpec,
  type Scope,
  scopeOfFilter,
  unionScope,
} from '../../shared/domain/scope.ts';

const RUNS = { numRuns: 150 };

/** A remote as findings and tags give it: an address, or a CIDR block (host bits possibly set). */
const remoteOf = (family: 4 | 6, value: fc.Arbitrary<bigint>) => {
  const bits = family === 4 ? 32 : 128;
  return fc
    .tuple(
      value,
      fc.option(fc.oneof(fc.integer({ min: bits - 8, max: bits }), fc.integer({ min: 0, max: bits }))),
    )
    .map(([v, prefix]) => `${formatAddress(family, v)}${prefix === null ? '' : `/${prefix}`}`);
};
const remote = fc.oneof(
  remoteOf(4, fc.bigInt({ min: 0n, max: (1n << 32n) - 1n })),
  // Crowded into 203.0.113.0/24 so that aggregation and containment happen often.
  remoteOf(4, fc.bigInt({ min: 0xcb007100n, max: 0xcb0071ffn })),
  remoteOf(6, fc.bigInt({ min: 0n, max: (1n << 128n) - 1n })),
  remoteOf(6, fc.bigInt({ min: 0x20010db8n << 96n, max: (0x20010db8n << 96n) + 0xffn })),
);
const scope: fc.Arbitrary<Scope> = fc.record({
  remotes: fc.array(remote, { maxLength: 30 }),
  dns: fc.boolean(),
});

const familyOf = (text: string) => {
  const cidr = parseCidr(text);
  if (!cidr) throw new Error(`not a CIDR block: ${text}`);
  return cidr.family;
};

describe('compileFilter', () => {
  it('mirrors one remote address both ways: in from it, out to it', () => {
    expect(compileFilter({ remotes: ['198.51.100.7'], dns: false })).toEqual({
      rules: [
        {
          direction: 'ingress',
          ruleNumber: 10,
          action: 'accept',
          sourceCidrBlock: '198.51.100.7/32',
          destinationCidrBlock: '0.0.0.0/0',
        },
        {
          direction: 'egress',
          ruleNumber: 10,
          action: 'accept',
          sourceCidrBlock: '0.0.0.0/0',
          destinationCidrBlock: '198.51.100.7/32',
        },
      ],
      networkServices: [],
    });
  });

  it('pairs an IPv6 remote with ::/0, and all traffic is both families', () => {
    const v6 = compileFilter({ remotes: ['2001:db8::7'], dns: false });
    expect(v6.rules.map((r) => [r.direction, r.sourceCidrBlock, r.destinationCidrBlock])).toEqual([
      ['ingress', '2001:db8::7/128', '::/0'],
      ['egress', '::/0', '2001:db8::7/128'],
    ]);
    const full = compileFilter(FULL_SCOPE);
    expect(
      full.rules.map((r) => [r.direction, r.ruleNumber, r.sourceCidrBlock, r.destinationCidrBlock]),
    ).toEqual([
      ['ingress', 10, '0.0.0.0/0', '0.0.0.0/0'],
      ['egress', 10, '0.0.0.0/0', '0.0.0.0/0'],
      ['ingress', 20, '::/0', '::/0'],
      ['egress', 20, '::/0', '::/0'],
    ]);
  });

  it('adds the amazon-dns network service for DNS, which takes no rule', () => {
    expect(compileFilter({ remotes: [], dns: true })).toEqual({ rules: [], networkServices: ['amazon-dns'] });
  });

  it('aggregates 40 probing addresses into 5 blocks, 10 rules', () => {
    const remotes = [
      ...Array.from({ length: 20 }, (_, i) => `198.51.100.${1 + i}`),
      ...Array.from({ length: 20 }, (_, i) => `203.0.113.${200 + i}`),
    ];
    const spec = compileFilter({ remotes, dns: false });
    expect(spec.rules).toHaveLength(RULE_BUDGET);
    expect(spec.rules.filter((r) => r.direction === 'ingress').map((r) => r.sourceCidrBlock)).toEqual([
      '198.51.100.0/28',
      '198.51.100.16/29',
      '203.0.113.200/29',
      '203.0.113.208/29',
      '203.0.113.216/30',
    ]);
  });

  it('refuses a remote that is not an address or block', () => {
    for (const bad of ['example.com', '10.0.0.256', '10.0.0.0/33', '', '2001:db8::/129']) {
      expect(() => compileFilter({ remotes: [bad], dns: false })).toThrow(RangeError);
    }
  });

  it('stays within the rule budget, numbers rules uniquely per direction in 1..32766, never mixes families', () => {
    fc.assert(
      fc.property(scope, (s) => {
        const { rules } = compileFilter(s);
        expect(rules.length).toBeLessThanOrEqual(RULE_BUDGET);
        for (const direction of ['ingress', 'egress'] as const) {
          const numbers = rules.filter((r) => r.direction === direction).map((r) => r.ruleNumber);
          expect(new Set(numbers).size).toBe(numbers.length);
          for (const n of numbers) expect(Number.isInteger(n) && n >= 1 && n <= 32766).toBe(true);
        }
        for (const r of rules) expect(familyOf(r.sourceCidrBlock)).toBe(familyOf(r.destinationCidrBlock));
      }),
      RUNS,
    );
  });

  it('covers every remote of the scope it was compiled from, and any part of it', () => {
    fc.assert(
      fc.property(
        scope.chain((s) => fc.tuple(fc.constant(s), fc.subarray(s.remotes), fc.boolean())),
        ([s, some, dns]) => {
          const spec = compileFilter(s);
          expect(covers(spec, s)).toBe(true);
          expect(covers(spec, { remotes: some, dns: dns && s.dns })).toBe(true);
        },
      ),
      RUNS,
    );
  });
});

describe('covers', () => {
  const one = compileFilter({ remotes: ['10.0.0.1'], dns: false });

  it('is false for an address outside the filter, or DNS the filter does not mirror', () => {
    expect(covers(one, { remotes: ['10.0.0.2'], dns: false })).toBe(false);
    expect(covers(one, { remotes: ['10.0.0.0/31'], dns: false })).toBe(false);
    expect(covers(one, { remotes: ['10.0.0.1'], dns: true })).toBe(false);
    expect(
      covers(compileFilter({ remotes: ['10.0.0.0/8'], dns: true }), { remotes: ['10.9.9.9'], dns: true }),
    ).toBe(true);
  });

  it('does not count a remote that is mirrored in one direction only (a filter whose rules are half written)', () => {
    const [ingress, egress] = one.rules as [RuleSpec, RuleSpec];
    const want = { remotes: ['10.0.0.1'], dns: false };
    expect(covers({ rules: [ingress], networkServices: [] }, want)).toBe(false);
    expect(covers({ rules: [egress], networkServices: [] }, want)).toBe(false);
    expect(covers({ rules: [egress, ingress], networkServices: [] }, want)).toBe(true);
  });

  it('does not count a rule that rejects, or one narrowed to a single local address', () => {
    const want = { remotes: ['10.0.0.1'], dns: false };
    const rejecting = one.rules.map((r): RuleSpec => ({ ...r, action: 'reject' }));
    expect(covers({ rules: rejecting, networkServices: [] }, want)).toBe(false);
    const narrowed = one.rules.map(
      (r): RuleSpec => (r.direction === 'ingress' ? { ...r, destinationCidrBlock: '172.31.0.5/32' } : r),
    );
    expect(covers({ rules: narrowed, networkServices: [] }, want)).toBe(false);
  });

  it('reads blocks that together make a larger one, as AWS may list a filter someone split', () => {
    const halves = compileFilter({ remotes: ['10.0.0.0/25'], dns: false }).rules.concat(
      compileFilter({ remotes: ['10.0.0.128/25'], dns: false }).rules.map((r) => ({ ...r, ruleNumber: 20 })),
    );
    expect(covers({ rules: halves, networkServices: [] }, { remotes: ['10.0.0.0/24'], dns: false })).toBe(
      true,
    );
  });
});

describe('scopeOfFilter', () => {
  it('reads back the remotes and DNS of a compiled filter', () => {
    const spec = compileFilter({ remotes: ['10.0.0.1', '2001:db8::/64'], dns: true });
    expect(scopeOfFilter(spec)).toEqual({ remotes: ['10.0.0.1/32', '2001:db8::/64'], dns: true });
  });

  it('compiles back to the same filter (stable round trip)', () => {
    fc.assert(
      fc.property(scope, (s) => {
        const spec = compileFilter(s);
        const back = scopeOfFilter(spec);
        expect(back.dns).toBe(s.dns);
        expect(filterHash(compileFilter(back))).toBe(filterHash(spec));
        expect(compileFilter(back)).toEqual(spec);
      }),
      RUNS,
    );
  });
});

describe('filterHash', () => {
  it('does not depend on the order rules are listed in', () => {
    fc.assert(
      fc.property(
        scope.chain((s) => {
          const spec = compileFilter(s);
          return fc.tuple(
            fc.constant(spec),
            fc.shuffledSubarray(spec.rules, { minLength: spec.rules.length }),
          );
        }),
        ([spec, shuffled]) => {
          expect(filterHash({ ...spec, rules: shuffled })).toBe(filterHash(spec));
        },
      ),
      RUNS,
    );
  });

  it('changes when any field of any rule changes, or the network services do', () => {
    const change: Record<keyof RuleSpec, (r: RuleSpec) => RuleSpec> = {
      direction: (r) => ({ ...r, direction: r.direction === 'ingress' ? 'egress' : 'ingress' }),
      ruleNumber: (r) => ({ ...r, ruleNumber: r.ruleNumber + 1 }),
      action: (r) => ({ ...r, action: r.action === 'accept' ? 'reject' : 'accept' }),
      sourceCidrBlock: (r) => ({
        ...r,
        sourceCidrBlock: r.sourceCidrBlock === '192.0.2.0/24' ? '192.0.2.0/25' : '192.0.2.0/24',
      }),
      destinationCidrBlock: (r) => ({
        ...r,
        destinationCidrBlock: r.destinationCidrBlock === '192.0.2.0/24' ? '192.0.2.0/25' : '192.0.2.0/24',
      }),
    };
    fc.assert(
      fc.property(
        scope
          .map(compileFilter)
          .filter((spec) => spec.rules.length > 0)
          .chain((spec) =>
            fc.tuple(
              fc.constant(spec),
              fc.nat({ max: spec.rules.length - 1 }),
              fc.constantFrom(...(Object.keys(change) as (keyof RuleSpec)[])),
            ),
          ),
        ([spec, index, field]) => {
          const rules = spec.rules.map((r, i) => (i === index ? change[field](r) : r));
          expect(filterHash({ ...spec, rules })).not.toBe(filterHash(spec));
          const services: FilterSpec['networkServices'] =
            spec.networkServices.length > 0 ? [] : ['amazon-dns'];
          expect(filterHash({ ...spec, networkServices: services })).not.toBe(filterHash(spec));
        },
      ),
      RUNS,
    );
  });

  it('is short lowercase hex, fit for a tag value', () => {
    expect(filterHash(compileFilter(FULL_SCOPE))).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('unionScope', () => {
  it('covers both scopes and compiles to the same filter in either order', () => {
    fc.assert(
      fc.property(scope, scope, (a, b) => {
        const ab = compileFilter(unionScope(a, b));
        expect(filterHash(compileFilter(unionScope(b, a)))).toBe(filterHash(ab));
        expect(covers(ab, a)).toBe(true);
        expect(covers(ab, b)).toBe(true);
      }),
      RUNS,
    );
  });

  it('mirrors DNS when either side does', () => {
    expect(unionScope({ remotes: [], dns: false }, { remotes: ['10.0.0.1'], dns: true }).dns).toBe(true);
    expect(unionScope({ remotes: [], dns: false }, { remotes: [], dns: false }).dns).toBe(false);
  });
});
