import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FaultInjector } from '../../emulator/faults.ts';
import {
  type BucketState,
  backoffMs,
  bandOf,
  bucketOf,
  burstFloorMs,
  DEFAULT_BACKOFF,
  EC2_BUCKETS,
  mayStart,
  nextAttempt,
  reserve,
  retryDecision,
} from '../../shared/domain/intake.ts';

const RUNS = { numRuns: 300 };
const severity = fc.double({ min: 0, max: 10, noNaN: true });

describe('bandOf', () => {
  it.each([
    [10, 'high'],
    [7, 'high'],
    [6.9, 'low'],
    [4, 'low'],
    [0, 'low'],
  ])('puts severity %d in the %s queue', (s, band) => {
    expect(bandOf(s)).toBe(band);
  });

  it('is high exactly from 7 up', () => {
    fc.assert(
      fc.property(severity, (s) => (bandOf(s) === 'high') === s >= 7),
      RUNS,
    );
  });
});

describe('mayStart: the most severe first', () => {
  it('starts a low finding only when the high queue is empty, no high one is in flight, and none can be hidden', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.nat(20),
        fc.nat(1000),
        fc.nat(1000),
        (highQueueEmpty, highInFlight, now, hidden) => {
          const state = { highQueueEmpty, highInFlight, now, highHiddenUntil: hidden };
          expect(mayStart('high', state)).toBe(true);
          expect(mayStart('low', state)).toBe(highQueueEmpty && highInFlight === 0 && now >= hidden);
        },
      ),
      RUNS,
    );
  });
});

describe('retryDecision', () => {
  it.each([
    [{ name: 'RequestLimitExceeded', status: 503 }, 'retry'],
    [{ name: 'InternalError', status: 500 }, 'retry'],
    [{ name: 'Unavailable', status: 503 }, 'retry'],
    [{ name: 'SomethingNew', status: 502 }, 'retry'],
    [{ name: 'ThrottlingException', status: 400 }, 'retry'],
    [{ name: 'TimeoutError' }, 'retry'],
    [{ name: 'UnauthorizedOperation', status: 403 }, 'permanent'],
    [{ name: 'InvalidParameterValue', status: 400 }, 'permanent'],
    [{ name: 'Error' }, 'permanent'],
  ] as const)('%o: %s', (error, decision) => {
    expect(retryDecision(error)).toBe(decision);
  });
});

describe('backoffMs and nextAttempt', () => {
  it('waits between half and all of an exponential step, never more than the cap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
        const exp = Math.min(DEFAULT_BACKOFF.capMs, DEFAULT_BACKOFF.baseMs * 2 ** (n - 1));
        const wait = backoffMs(n, r);
        expect(wait).toBeGreaterThanOrEqual(Math.floor(exp / 2));
        expect(wait).toBeLessThanOrEqual(exp);
        // The longest wait of an attempt is never shorter than the shortest of the next.
        expect(backoffMs(n + 1, 0)).toBeGreaterThanOrEqual(backoffMs(n, 0));
      }),
      RUNS,
    );
  });

  it('never schedules a retry at or past the finding expiry or the invocation deadline', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat(1_000_000),
        fc.nat(200_000),
        fc.nat(200_000),
        (attempt, r, now, toExpiry, toDeadline) => {
          const times = { now, expiresAt: now + toExpiry, deadline: now + toDeadline };
          const next = nextAttempt(attempt, r, times);
          const at = now + backoffMs(attempt, r);
          if (next.kind === 'retry') {
            expect(next.at).toBe(at);
            expect(at).toBeLessThan(Math.min(times.expiresAt, times.deadline));
          } else if (next.kind === 'give-up') expect(at).toBeGreaterThanOrEqual(times.expiresAt);
          else {
            expect(next).toEqual({ kind: 'later', at });
            expect(at).toBeGreaterThanOrEqual(times.deadline);
            expect(at).toBeLessThan(times.expiresAt);
          }
        },
      ),
      RUNS,
    );
  });
});

describe('the token budget', () => {
  it('names the bucket of each call mirrorops makes', () => {
    expect(bucketOf('CreateTrafficMirrorSession')).toBe('mutating');
    expect(bucketOf('CreateTrafficMirrorFilterRule')).toBe('mutating');
    expect(bucketOf('DeleteTrafficMirrorSession')).toBe('mutating');
    expect(bucketOf('CreateTags')).toBe('tags');
    expect(bucketOf('DescribeTrafficMirrorSessions')).toBe('describe');
    expect(bucketOf('DescribeInstances', true)).toBe('describeUnfiltered');
  });

  it('lets the burst go at once, then spaces calls at the refill rate', () => {
    let state: BucketState;
    const times: number[] = [];
    for (let i = 0; i < 53; i++) {
      const r = reserve(state, 0, EC2_BUCKETS.mutating);
      times.push(r.at);
      state = r.state;
    }
    expect(times.slice(0, 50).every((t) => t === 0)).toBe(true);
    expect(times.slice(50)).toEqual([200, 400, 600]);
  });

  // Differential: the emulator's bucket (written from AWS's documentation on its own) accepts every
  // call made at the time the budget gave it, whatever the arrivals and the rate.
  it("never sends a call the emulator's EC2 bucket would throttle", () => {
    const rate = fc.record({
      burst: fc.integer({ min: 1, max: 60 }),
      perSecond: fc.integer({ min: 1, max: 25 }),
    });
    fc.assert(
      fc.property(rate, fc.array(fc.nat(2_000), { minLength: 1, maxLength: 150 }), (r, gaps) => {
        let clock = 0;
        const bucket = new FaultInjector({ throttle: { mutating: r } }, () => clock);
        let state: BucketState;
        let arrival = 0;
        let last = 0;
        for (const gap of gaps) {
          arrival += gap % 3 === 0 ? 0 : gap; // bursts of simultaneous arrivals among spread ones
          const reserved = reserve(state, Math.max(arrival, last), r);
          state = reserved.state;
          last = reserved.at;
          clock = reserved.at;
          expect(() => bucket.throttle('a/r', 'mutating')).not.toThrow();
        }
      }),
      RUNS,
    );
  });

  it('measures a burst against its floor: the bucket at once, the rest at 5 a second', () => {
    expect(burstFloorMs(50)).toBe(0);
    expect(burstFloorMs(1050)).toBe(200_000);
    fc.assert(
      fc.property(fc.nat(5000), (calls) => burstFloorMs(calls + 1) >= burstFloorMs(calls)),
      RUNS,
    );
  });
});
