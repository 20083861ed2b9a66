import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { AccountAccessError, accountFailure } from '../../shared/aws/accounts.ts';
import { eachAccount, sweepOrder } from '../../shared/fleet.ts';
import { silentLogger } from '../../shared/runtime/log.ts';

const named = (name: string) => Object.assign(new Error(`${name} happened`), { name });
const accountId = fc.integer({ min: 100000000000, max: 999999999999 }).map(String);

describe('sweepOrder', () => {
  test('accounts never started first, in the listed order, then the ones started longest ago', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(accountId, { maxLength: 30 }),
        fc.func(fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined })),
        (accounts, startedAt) => {
          const last = new Map(
            accounts.flatMap((a) => {
              const at = startedAt(a);
              return at === undefined ? [] : [[a, at] as const];
            }),
          );
          const order = sweepOrder(accounts, last);
          expect([...order].sort()).toEqual([...accounts].sort());
          const never = accounts.filter((a) => !last.has(a));
          expect(order.slice(0, never.length)).toEqual(never);
          const rest = order.slice(never.length).map((a) => last.get(a) ?? -1);
          for (let i = 1; i < rest.length; i++) expect(rest[i]).toBeGreaterThanOrEqual(rest[i - 1] ?? 0);
        },
      ),
    );
  });
});

describe('accountFailure', () => {
  test('names why an account failed as an operator acts on it', () => {
    expect(accountFailure(new AccountAccessError('no ExternalId'))).toBe('no-access');
    expect(accountFailure(named('AccessDenied'))).toBe('no-access');
    expect(accountFailure(named('RequestLimitExceeded'))).toBe('throttled');
    expect(accountFailure(named('Throttling'))).toBe('throttled');
    expect(accountFailure(named('UnauthorizedOperation'))).toBe('denied');
    expect(accountFailure(named('InternalError'))).toBe('failed');
    expect(accountFailure('not an error')).toBe('failed');
  });
});

describe('eachAccount', () => {
  test('one outcome per account in order, at most `concurrency` at once, a failure isolated, the rest skipped once time is up', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(accountId, { maxLength: 25 }),
        fc.integer({ min: 1, max: 8 }),
        fc.func(fc.boolean()),
        fc.nat({ max: 30 }),
        async (accounts, concurrency, fails, startable) => {
          let running = 0;
          let most = 0;
          let asked = 0;
          const outcomes = await eachAccount(
            accounts,
            async (account) => {
              running++;
              most = Math.max(most, running);
              await new Promise((resolve) => setImmediate(resolve));
              running--;
              if (fails(account)) throw named('AccessDenied');
              return account.length;
            },
            { concurrency, canStart: () => asked++ < startable, log: silentLogger, task: 'test' },
          );
          expect(outcomes.map((o) => o.account)).toEqual(accounts);
          expect(most).toBeLessThanOrEqual(concurrency);
          const firstSkipped = outcomes.findIndex((o) => 'skipped' in o);
          if (firstSkipped >= 0) expect(outcomes.slice(firstSkipped).every((o) => 'skipped' in o)).toBe(true);
          for (const o of outcomes) {
            if ('skipped' in o) continue;
            expect(o).toEqual(
              fails(o.account)
                ? { account: o.account, why: 'no-access', error: 'AccessDenied: AccessDenied happened' }
                : { account: o.account, value: 12 },
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
