import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Cidr,
  contains,
  type Family,
  formatAddress,
  formatCidr,
  mask,
  overlaps,
  parseAddress,
  parseCidr,
  size,
} from '../../shared/domain/cidr.ts';

const bits = (family: Family) => (family === 4 ? 32 : 128);

const v4 = fc.bigInt({ min: 0n, max: 2n ** 32n - 1n });
/** IPv6 values biased towards zero runs, where '::' compression has its edge cases. */
const v6 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  })
  .map((groups) => groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n));

const cidrOf = (family: Family, value: bigint, prefix: number): Cidr => ({
  family,
  base: value & mask(family, prefix),
  prefix,
});
const cidr4 = fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([v, p]) => cidrOf(4, v, p));
const cidr6 = fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([v, p]) => cidrOf(6, v, p));
const anyCidr = fc.oneof(cidr4, cidr6);

/** A CIDR and one of its sub-blocks (same family, longer or equal prefix, inside). */
const nested = (family: Family) =>
  fc
    .tuple(family === 4 ? v4 : v6, fc.integer({ min: 0, max: bits(family) }), fc.nat({ max: bits(family) }))
    .map(([value, outerPrefix, extra]) => {
      const innerPrefix = Math.min(bits(family), outerPrefix + extra);
      return { outer: cidrOf(family, value, outerPrefix), inner: cidrOf(family, value, innerPrefix) };
    });

const last = (c: Cidr) => c.base + size(c) - 1n;
/** Whether two blocks share an address, computed from their ranges rather than from their masks. */
const sharesAnAddress = (a: Cidr, b: Cidr) => a.family === b.family && a.base <= last(b) && b.base <= last(a);

/** The uncompressed, zero-padded form `0000:0000:...`: a different text for the same address. */
const longForm = (value: bigint) =>
  [...Array(8)]
    .map((_, i) => ((value >> BigInt(112 - i * 16)) & 0xffffn).toString(16).padStart(4, '0'))
    .join(':');

/** WHATWG URL serialises IPv6 hosts as RFC 5952 does (longest zero run of two or more, first on ties). */
const whatwg = (value: bigint) => new URL(`http://[${longForm(value)}]/`).hostname.slice(1, -1);

describe('IPv4 addresses', () => {
  it('parse(format(v)) is v', () => {
    fc.assert(
      fc.property(v4, (value) => {
        expect(parseAddress(formatAddress(4, value))).toEqual({ family: 4, value });
      }),
    );
  });

  it('formats dotted decimal without leading zeros', () => {
    expect(formatAddress(4, 0x0a000105n)).toBe('10.0.1.5');
    expect(formatAddress(4, 0n)).toBe('0.0.0.0');
    expect(formatAddress(4, 2n ** 32n - 1n)).toBe('255.255.255.255');
  });

  it.each(['1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', '1..3.4', ' 1.2.3.4', ''])(
    'rejects %j',
    (text) => {
      expect(parseAddress(text)).toBeUndefined();
    },
  );
});

describe('IPv6 addresses', () => {
  it('parse(format(v)) is v', () => {
    fc.assert(
      fc.property(v6, (value) => {
        expect(parseAddress(formatAddress(6, value))).toEqual({ family: 6, value });
      }),
    );
  });

  it('formats in the RFC 5952 canonical form', () => {
    fc.assert(
      fc.property(v6, (value) => {
        expect(formatAddress(6, value)).toBe(whatwg(value));
      }),
    );
  });

  it('parses the long, upper-case form to the same value', () => {
    fc.assert(
      fc.property(v6, (value) => {
        expect(parseAddress(longForm(value).toUpperCase())).toEqual({ family: 6, value });
      }),
    );
  });

  it.each([
    ['::', 0n],
    ['::1', 1n],
    ['1::', 1n << 112n],
    ['2001:db8::8:800:200c:417a', 0x2001_0db8_0000_0000_0008_0800_200c_417an],
    ['::ffff:10.0.1.5', 0xffff0a000105n],
    ['1:2:3:4:5:6:7::', 0x0001_0002_0003_0004_0005_0006_0007_0000n],
  ])('parses %s', (text, value) => {
    expect(parseAddress(text)).toEqual({ family: 6, value });
  });

  it.each([
    '1::2::3',
    ':::',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1::2:3:4:5:6:7:8',
    '12345::',
    ':1:2:3:4:5:6:7',
    '1.2.3.4::',
    '1.2.3.4::5',
    '::1.2.3.4:5',
    'g::1',
  ])('rejects %j', (text) => {
    expect(parseAddress(text)).toBeUndefined();
  });
});

describe('CIDR blocks', () => {
  it('parse(format(c)) is c for both families', () => {
    fc.assert(
      fc.property(anyCidr, (cidr) => {
        expect(parseCidr(formatCidr(cidr), true)).toEqual(cidr);
      }),
    );
  });

  it('strict parsing refuses host bits; lenient parsing clears them', () => {
    expect(parseCidr('10.0.0.5/24', true)).toBeUndefined();
    expect(parseCidr('10.0.0.5/24')).toEqual({ family: 4, base: 0x0a000000n, prefix: 24 });
    expect(parseCidr('2001:db8::1/32')).toEqual({ family: 6, base: 0x20010db8n << 96n, prefix: 32 });
  });

  it.each([
    '10.0.0.0',
    '10.0.0.0/',
    '10.0.0.0/33',
    '10.0.0.0/016',
    '10.0.0.0/-1',
    '10.0.0.0/1.5',
    '::/129',
    '::/0128',
    'x/8',
  ])('rejects %j', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });

  it('size is 2^(bits - prefix)', () => {
    expect(size(parseCidr('10.0.0.0/16') as Cidr)).toBe(65536n);
    expect(size(parseCidr('10.0.0.0/28') as Cidr)).toBe(16n);
    expect(size(parseCidr('::/0') as Cidr)).toBe(2n ** 128n);
  });
});

describe('contains and overlaps', () => {
  it('contains is reflexive', () => {
    fc.assert(fc.property(anyCidr, (c) => contains(c, c)));
  });

  it('a block contains every sub-block built inside it, and not the other way unless equal', () => {
    fc.assert(
      fc.property(fc.oneof(nested(4), nested(6)), ({ outer, inner }) => {
        expect(contains(outer, inner)).toBe(true);
        expect(contains(inner, outer)).toBe(inner.prefix === outer.prefix);
      }),
    );
  });

  it('contains is antisymmetric and transitive', () => {
    fc.assert(
      fc.property(cidr4, cidr4, cidr4, (a, b, c) => {
        if (contains(a, b) && contains(b, a)) expect(a).toEqual(b);
        if (contains(a, b) && contains(b, c)) expect(contains(a, c)).toBe(true);
      }),
    );
  });

  it('contains means every address of the inner block is in the outer one', () => {
    fc.assert(
      fc.property(anyCidr, anyCidr, (a, b) => {
        const byRange = a.family === b.family && a.base <= b.base && last(b) <= last(a);
        expect(contains(a, b)).toBe(byRange);
      }),
    );
  });

  it('overlaps is symmetric and means the blocks share an address', () => {
    fc.assert(
      fc.property(anyCidr, anyCidr, (a, b) => {
        expect(overlaps(a, b)).toBe(overlaps(b, a));
        expect(overlaps(a, b)).toBe(sharesAnAddress(a, b));
      }),
    );
  });

  it('a block overlaps each of its sub-blocks; sibling halves do not overlap', () => {
    fc.assert(
      fc.property(
        cidr4.filter((c) => c.prefix < 32),
        (c) => {
          const low = { ...c, prefix: c.prefix + 1 };
          const high = { ...low, base: c.base + size(low) };
          expect(overlaps(c, low) && overlaps(c, high)).toBe(true);
          expect(overlaps(low, high)).toBe(false);
        },
      ),
    );
  });

  it('blocks of different families never overlap', () => {
    fc.assert(fc.property(cidr4, cidr6, (a, b) => !overlaps(a, b) && !contains(a, b) && !contains(b, a)));
  });
});
