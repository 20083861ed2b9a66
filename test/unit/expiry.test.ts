import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EXPIRY,
  type ExpiryPolicy,
  expiryFrom,
  isExpired,
  lifetimeForSeverity,
  readExpiry,
} from '../../shared/domain/expiry.ts';

const HOUR = 3_600_000;
const RUNS = { numRuns: 300 };
/** Instants a Date can hold, far on both sides of now. */
const instant = fc.integer({ min: 0, max: 4_102_444_800_000 });

describe('lifetimeForSeverity', () => {
  it.each([
    [10, 24],
    [9, 24],
    [7, 24],
    [6.9, 6],
    [4, 6],
    [3.9, 1],
    [1, 1],
    [0, 1],
  ])('gives severity %d %d h by default', (severity, hours) => {
    expect(lifetimeForSeverity(DEFAULT_EXPIRY, severity)).toBe(hours * HOUR);
  });

  it('gives a severity below every tier, or none readable, the lowest tier: never more than a higher one', () => {
    expect(lifetimeForSeverity(DEFAULT_EXPIRY, -1)).toBe(HOUR);
    expect(lifetimeForSeverity(DEFAULT_EXPIRY, Number.NaN)).toBe(HOUR);
    const noLowTier: ExpiryPolicy = { ...DEFAULT_EXPIRY, bySeverity: DEFAULT_EXPIRY.bySeverity.slice(0, 2) };
    expect(lifetimeForSeverity(noLowTier, 2)).toBe(6 * HOUR);
    // Without tiers, the default lifetime applies.
    expect(lifetimeForSeverity({ ...DEFAULT_EXPIRY, bySeverity: [] }, 8)).toBe(DEFAULT_EXPIRY.defaultMs);
  });

  it('never exceeds the cap', () => {
    const capped: ExpiryPolicy = { ...DEFAULT_EXPIRY, maxMs: 2 * HOUR };
    expect(lifetimeForSeverity(capped, 8)).toBe(2 * HOUR);
    expect(lifetimeForSeverity(capped, 5)).toBe(2 * HOUR);
    expect(lifetimeForSeverity(capped, 2)).toBe(HOUR);
    expect(lifetimeForSeverity({ ...capped, bySeverity: [] }, 8)).toBe(2 * HOUR);
  });

  it('grows with severity, whatever order the tiers are listed in, within the cap', () => {
    const severity = fc.oneof(fc.double({ min: -1, max: 11, noNaN: true }), fc.constantFrom(0, 4, 7, 9, 10));
    fc.assert(
      fc.property(
        fc.shuffledSubarray([...DEFAULT_EXPIRY.bySeverity], { minLength: DEFAULT_EXPIRY.bySeverity.length }),
        fc.integer({ min: 1, max: 48 }),
        severity,
        severity,
        (tiers, capHours, a, b) => {
          const policy: ExpiryPolicy = { ...DEFAULT_EXPIRY, bySeverity: tiers, maxMs: capHours * HOUR };
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(lifetimeForSeverity(policy, low)).toBeLessThanOrEqual(lifetimeForSeverity(policy, high));
          expect(lifetimeForSeverity(policy, a)).toBe(
            Math.min(lifetimeForSeverity(DEFAULT_EXPIRY, a), capHours * HOUR),
          );
          expect(lifetimeForSeverity(policy, high)).toBeLessThanOrEqual(policy.maxMs);
        },
      ),
      RUNS,
    );
  });
});

describe('expiryFrom', () => {
  it('is start plus the lifetime, never more than the cap past start', () => {
    fc.assert(
      fc.property(instant, fc.integer({ min: 0, max: 30 * 24 * HOUR }), (start, lifetime) => {
        const at = expiryFrom(DEFAULT_EXPIRY, new Date(start), lifetime);
        expect(at.getTime() - start).toBe(Math.min(lifetime, DEFAULT_EXPIRY.maxMs));
      }),
      RUNS,
    );
    expect(expiryFrom(DEFAULT_EXPIRY, new Date('2026-11-24T10:00:00Z'), 6 * HOUR).toISOString()).toBe(
      '2026-11-24T16:00:00.000Z',
    );
  });
});

describe('isExpired', () => {
  const at = new Date('2026-11-24T10:00:00.000Z');

  it('is due exactly at the instant, not a millisecond before', () => {
    expect(isExpired('2026-11-24T10:00:00.000Z', at)).toBe(true);
    expect(isExpired('2026-11-24T10:00:00Z', at)).toBe(true);
    expect(isExpired('2026-11-24T11:00:00+01:00', at)).toBe(true);
    expect(isExpired('2026-11-24T10:00:00.001Z', at)).toBe(false);
    expect(isExpired('2026-11-24T09:59:59.999Z', at)).toBe(true);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['not a time', 'yes'],
    ['a duration', '4h'],
    ['a bare number Date.parse reads as year 99999', '99999'],
    ['a date without a time', '2099-01-01'],
    ['a time without a zone', '2099-01-01T00:00:00'],
    ['a US date', '12/31/2099'],
    ['an impossible month', '2099-13-01T00:00:00Z'],
  ])('counts an unreadable expiry (%s) as expired: nothing mirrors forever', (_, value) => {
    expect(isExpired(value, at)).toBe(true);
  });

  it('reads the instant only from an ISO-8601 date and time with a zone', () => {
    expect(readExpiry('2026-11-24T11:00:00+01:00')).toBe(at.getTime());
    expect(readExpiry(' 2026-11-24T10:00Z ')).toBe(at.getTime());
    for (const bad of [undefined, '', '99999', '2026-11-24', '2026-11-24T10:00:00', '2026-13-01T00:00:00Z']) {
      expect(readExpiry(bad)).toBeUndefined();
    }
  });

  it('agrees with the clock for every instant written as mirrorops writes it', () => {
    fc.assert(
      fc.property(instant, instant, (expiry, now) => {
        expect(isExpired(new Date(expiry).toISOString(), new Date(now))).toBe(expiry <= now);
      }),
      RUNS,
    );
  });
});
