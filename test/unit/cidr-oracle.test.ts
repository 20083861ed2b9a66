import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as oracle from '../../emulator/ec2/cidr.ts';
import * as product from '../../shared/domain/cidr.ts';

/**
 * The emulator's CIDR arithmetic is written apart from the product's (so that a bug in one is not
 * shared by the other): the two must read and print every block alike.
 */
describe("the emulator's CIDRs and the product's agree", () => {
  const v4 = fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
    .map((g) => g.join('.'));
  // Runs of zero groups, so that `::` compression is exercised.
  const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
  const v6 = fc
    .array(group, { minLength: 8, maxLength: 8 })
    .map((g) => g.map((x) => x.toString(16)).join(':'));

  test('on random blocks of both families, strict or not, and their printed addresses', () => {
    fc.assert(
      fc.property(
        fc.oneof(v4, v6),
        fc.integer({ min: 0, max: 130 }),
        fc.boolean(),
        (address, prefix, strict) => {
          const text = `${address}/${prefix}`;
          const expected = product.parseCidr(text, strict);
          expect(oracle.parseCidr(text, strict)).toEqual(expected);
          if (expected) {
            expect(oracle.formatAddress(expected.family, expected.base)).toBe(
              product.formatAddress(expected.family, expected.base),
            );
            expect(oracle.size(expected)).toBe(product.size(expected));
          }
        },
      ),
      { numRuns: 2000, seed: 13 },
    );
  });

  test.each([
    '::/0',
    '::1/128',
    '1::/16',
    '0:0:0:0:0:ffff:10.0.0.1/128',
    '::ffff:10.0.0.1/96',
    '010.0.0.0/8',
    '10.0.0.0/08',
    '10.0.0.0/33',
    '1:2:3:4:5:6:7:8:9/64',
    'fe80::1%eth0/64',
    '10.0.0.0',
  ])('%s', (text) => {
    expect(oracle.parseCidr(text)).toEqual(product.parseCidr(text));
  });
});
