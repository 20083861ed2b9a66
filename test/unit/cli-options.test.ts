import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { outputOf } from '../../cli/aws.ts';
import { CredentialsError, credentialsFailure, EXIT, UsageError } from '../../cli/command.ts';
import { checkId, durationOf, instantOf, reasonOf } from '../../cli/ids.ts';
import { checkLifetime, manualKey, scopeOf } from '../../cli/mirroring.ts';
import { FULL_SCOPE } from '../../shared/domain/scope.ts';

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));

describe('--scope', () => {
  test('absent or all: all traffic', () => {
    expect(scopeOf(undefined)).toEqual(FULL_SCOPE);
    expect(scopeOf('all')).toEqual(FULL_SCOPE);
  });

  test('addresses become /32 blocks, once each, in the order given', () => {
    fc.assert(
      fc.property(fc.array(ipv4, { minLength: 1, maxLength: 8 }), (addresses) => {
        const scope = scopeOf(addresses.join(','));
        expect(scope.dns).toBe(false);
        expect(scope.remotes).toEqual([...new Set(addresses.map((a) => `${a}/32`))]);
      }),
    );
  });

  test('blocks keep their prefix with host bits cleared; IPv6 addresses become /128', () => {
    expect(scopeOf('203.0.113.77/24, 2001:db8::1').remotes).toEqual(['203.0.113.0/24', '2001:db8::1/128']);
  });

  test('anything that is not an address or block is a usage error naming it', () => {
    fc.assert(
      fc.property(
        fc
          .string({ minLength: 1, maxLength: 12 })
          .filter((s) => !/^[\d.:/a-fA-F\s,]*$/.test(s) && s.trim() !== 'all'),
        (junk) => {
          expect(() => scopeOf(`192.0.2.1,${junk}`)).toThrow(UsageError);
        },
      ),
    );
    expect(() => scopeOf('not-an-ip')).toThrow("--scope: 'not-an-ip' is not an IP address or CIDR block");
    expect(() => scopeOf('10.0.0.1,,10.0.0.2')).toThrow('has an empty entry');
    expect(() => scopeOf('all,10.0.0.1')).toThrow("'all' cannot be combined");
  });
});

describe('ids, durations, instants, reasons', () => {
  test('ids: the prefix and 8 or 17 hex digits', () => {
    expect(checkId('--instance', 'i-0123abcd', 'i')).toBe('i-0123abcd');
    expect(checkId('--eni', 'eni-0123456789abcdef0', 'eni')).toBe('eni-0123456789abcdef0');
    for (const bad of ['i-0123abc', 'i-0123456789ABCDEF0', 'eni-0123abcd', 'i-0123abcd ', 'i-'])
      expect(() => checkId('--instance', bad, 'i')).toThrow(UsageError);
  });

  test('--for takes what the mirrorops:mirror tag takes; 0 and fractions are refused', () => {
    expect(durationOf('--for', '2h')).toBe(7_200_000);
    for (const bad of ['0', '0h', '1.5h', '-1h', '2 hours', ''])
      expect(() => durationOf('--for', bad)).toThrow(/is not a duration such as 30m, 2h or 1d/);
  });

  test('--until: an instant with a zone, in the future', () => {
    const now = new Date('2026-12-04T12:00:00Z');
    expect(instantOf('--until', '2026-12-05T18:00Z', now).toISOString()).toBe('2026-12-05T18:00:00.000Z');
    expect(() => instantOf('--until', '2026-12-05T18:00', now)).toThrow(/with a zone/);
    expect(() => instantOf('--until', '2026-12-04T11:59Z', now)).toThrow(/not in the future/);
  });

  test('--reason: one of the four', () => {
    expect(reasonOf('manual')).toBe('manual');
    expect(() => reasonOf('Manual')).toThrow(/must be one of guardduty, manual, tag, launch/);
  });

  test('the lifetime is capped by MIRROROPS_MAX_EXPIRY', () => {
    expect(() => checkLifetime('--for', 8 * 86_400_000, {})).toThrow(/\(7d, MIRROROPS_MAX_EXPIRY\)/);
    expect(() => checkLifetime('--for', 7 * 86_400_000, {})).not.toThrow();
    expect(() => checkLifetime('--for', 3 * 3_600_000, { MIRROROPS_MAX_EXPIRY: '2h' })).toThrow(
      /\(7200s|\(2h/,
    );
    expect(() => checkLifetime('--for', 1, { MIRROROPS_MAX_EXPIRY: 'forever' })).toThrow(
      /MIRROROPS_MAX_EXPIRY: 'forever'/,
    );
  });
});

describe('output, keys and credentials', () => {
  test('--output: table by default, --json is json, anything else a usage error', () => {
    expect(outputOf({})).toBe('table');
    expect(outputOf({ json: true })).toBe('json');
    expect(outputOf({ output: 'text' })).toBe('text');
    expect(() => outputOf({ output: 'yaml' })).toThrow(UsageError);
    expect(() => outputOf({ json: true, output: 'table' })).toThrow(/contradict/);
  });

  test('the intent key names who and why, and fits in a tag value', () => {
    expect(manualKey('start', 'arn:aws:sts::1:assumed-role/R/alice', 'case 4711')).toBe(
      'start by arn:aws:sts::1:assumed-role/R/alice: case 4711',
    );
    fc.assert(
      fc.property(
        fc.string({ maxLength: 400 }),
        fc.option(fc.string({ maxLength: 100 }), { nil: undefined }),
        (arn, note) => {
          expect(manualKey('extend', arn, note).length).toBeLessThanOrEqual(255);
        },
      ),
    );
  });

  test('credential errors become exit 5 naming the profile; others are left alone', () => {
    const expired = Object.assign(new Error('The SSO session associated with this profile has expired.'), {
      name: 'CredentialsProviderError',
    });
    const failure = credentialsFailure(expired, 'responder');
    expect(failure).toBeInstanceOf(CredentialsError);
    expect(failure?.exitCode).toBe(EXIT.credentials);
    expect(failure?.message).toMatch(/^the credentials of profile 'responder' have expired: /);
    expect(
      credentialsFailure(Object.assign(new Error('no'), { name: 'UnauthorizedOperation' }), undefined),
    ).toBeUndefined();
  });
});
