import { ApiError } from './errors.ts';

/**
 * Faults the emulator injects, for tests and benchmarks. All are off unless asked for.
 * - latencyMs: a fixed round trip, or [min, max] for a uniform random one, for each request: the
 *   request is acted on half-way through it and answered at its end (see `latency()`).
 * - throttle: EC2's token buckets per account and Region: `true` for AWS's documented rates, or
 *   some buckets' rates overridden (the others keep AWS's rates).
 * - failureRate: the share of requests answered with 500 InternalError; `failureWhen` says whether
 *   the failure comes before the action (nothing changed) or after it (the change happened, the
 *   caller does not know): the case ClientTokens exist for. Default: either, at random.
 */
export interface Faults {
  latencyMs?: number | [number, number];
  throttle?: boolean | Partial<Record<BucketName, BucketRate>>;
  failureRate?: number;
  failureWhen?: 'before' | 'after' | 'either';
  /** Seed for the failure and latency draws, so a run can be repeated. */
  seed?: number;
  /** Actions that always fail with 500 InternalError before acting (e.g. `PutEvents`, an outage of one service). */
  failActions?: string[];
  /**
   * Instance types (`m8i.large`) or whole families (`m8i`) that CreateTrafficMirrorSession refuses as
   * sources with NetworkInterfaceNotSupported, besides those the limitations page lists: what EC2
   * answers for a family AWS stops supporting, or adds to the page, after the emulator's list.
   */
  refuseSourceTypes?: string[];
}

export type BucketName = 'describe' | 'describeUnfiltered' | 'mutating' | 'tags' | 'runInstances';
export interface BucketRate {
  burst: number;
  perSecond: number;
}

/** EC2's documented request token buckets (ec2/latest/devguide/ec2-api-throttling.html). */
export const EC2_RATES: Readonly<Record<BucketName, BucketRate>> = {
  describe: { burst: 100, perSecond: 20 },
  describeUnfiltered: { burst: 50, perSecond: 10 },
  mutating: { burst: 50, perSecond: 5 },
  tags: { burst: 100, perSecond: 10 },
  runInstances: { burst: 5, perSecond: 2 },
};

/**
 * Which bucket an EC2 action draws from. `unfilteredUnpaged`: the request names no filter, page
 * size or ids, which for DescribeInstances and DescribeNetworkInterfaces is the costlier bucket.
 */
export function bucketOf(action: string, unfilteredUnpaged: boolean): BucketName {
  if (action === 'CreateTags' || action === 'DeleteTags') return 'tags';
  if (action === 'RunInstances') return 'runInstances';
  if (action.startsWith('Describe')) {
    const big = action === 'DescribeInstances' || action === 'DescribeNetworkInterfaces';
    return big && unfilteredUnpaged ? 'describeUnfiltered' : 'describe';
  }
  return 'mutating';
}

/** A clock in milliseconds; `performance.now` unless a test wants to hold time still. */
export type Clock = () => number;

/**
 * A token bucket that refills continuously, `perSecond` tokens a second up to `burst`, kept as
 * the time the bucket will be full again (the generic cell rate algorithm): the same answers as
 * counting tokens, but in whole milliseconds for EC2's rates, so a held clock counts exactly.
 */
class Bucket {
  private readonly interval: number;
  private fullAt: number;
  constructor(
    private readonly rate: BucketRate,
    private readonly clock: Clock,
  ) {
    this.interval = 1000 / rate.perSecond;
    this.fullAt = clock();
  }
  take(): boolean {
    const now = this.clock();
    const fullAt = Math.max(this.fullAt, now);
    if (fullAt - now > (this.rate.burst - 1) * this.interval) return false;
    this.fullAt = fullAt + this.interval;
    return true;
  }
}

/** A small seeded generator (mulberry32) so fault runs can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Checks a Faults value, so a typo in a test or a CLI flag fails loudly instead of injecting nothing. */
export function checkFaults(faults: Faults): void {
  const { latencyMs, failureRate, throttle, seed } = faults;
  if (latencyMs !== undefined) {
    const [min, max] = typeof latencyMs === 'number' ? [latencyMs, latencyMs] : latencyMs;
    if (!(Number.isFinite(min) && Number.isFinite(max) && min >= 0 && max >= min)) {
      throw new RangeError(`latencyMs must be a number >= 0 or [min, max] with 0 <= min <= max`);
    }
  }
  if (failureRate !== undefined && !(failureRate >= 0 && failureRate <= 1)) {
    throw new RangeError(`failureRate must be between 0 and 1, got ${failureRate}`);
  }
  if (seed !== undefined && !Number.isInteger(seed)) throw new RangeError(`seed must be an integer`);
  if (faults.failActions !== undefined && !faults.failActions.every((a) => /^[A-Z][A-Za-z0-9]+$/.test(a))) {
    throw new RangeError(`failActions must be action names such as PutEvents`);
  }
  if (
    faults.refuseSourceTypes !== undefined &&
    !faults.refuseSourceTypes.every((t) => /^[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)?$/.test(t))
  ) {
    throw new RangeError(`refuseSourceTypes must be instance types or families such as m8i.large or m8i`);
  }
  if (typeof throttle === 'object') {
    for (const [name, rate] of Object.entries(throttle)) {
      if (!Object.hasOwn(EC2_RATES, name)) throw new RangeError(`unknown throttle bucket '${name}'`);
      if (!rate || !(Number.isInteger(rate.burst) && rate.burst >= 1 && rate.perSecond > 0)) {
        throw new RangeError(`throttle bucket '${name}' needs an integer burst >= 1 and perSecond > 0`);
      }
    }
  }
}

export class FaultInjector {
  private faults: Faults = {};
  private buckets = new Map<string, Bucket>();
  /** Separate streams, so turning latency on does not change which requests fail. */
  private failureRandom: () => number = Math.random;
  private latencyRandom: () => number = Math.random;

  constructor(
    faults: Faults = {},
    private readonly clock: Clock = () => performance.now(),
  ) {
    this.set(faults);
  }

  /** Replaces the faults in force; the token buckets start full again and a seed starts over. */
  set(faults: Faults): void {
    checkFaults(faults);
    this.faults = structuredClone(faults);
    this.buckets.clear();
    const { seed } = faults;
    this.failureRandom = seed === undefined ? Math.random : random(seed);
    this.latencyRandom = seed === undefined ? Math.random : random(seed ^ 0x5bd1e995);
  }

  get current(): Faults {
    return structuredClone(this.faults);
  }

  /**
   * This request's round trip in milliseconds (0 with no latency set), drawn once per request.
   * The server acts on the request half-way through it (the way there) and holds the answer until
   * its end (the way back), so its own handling is inside the latency unless it takes longer: AWS
   * answers concurrent requests on many servers at once, where the emulator has one thread, and a
   * wave of requests sent together comes back together, not queued behind each other's handling.
   * With a random latency, concurrent requests are still acted on in a random order.
   */
  latency(): number {
    const latency = this.faults.latencyMs;
    if (latency === undefined) return 0;
    return typeof latency === 'number'
      ? latency
      : latency[0] + this.latencyRandom() * (latency[1] - latency[0]);
  }

  /** Throws RequestLimitExceeded when the action's bucket for this account and Region is empty. */
  throttle(scope: string, bucket: BucketName): void {
    const throttle = this.faults.throttle;
    if (!throttle) return;
    const key = `${scope}/${bucket}`;
    let b = this.buckets.get(key);
    if (!b) {
      const rate = (throttle === true ? undefined : throttle[bucket]) ?? EC2_RATES[bucket];
      b = new Bucket(rate, this.clock);
      this.buckets.set(key, b);
    }
    if (!b.take()) throw new ApiError('RequestLimitExceeded', 'Request limit exceeded.', 503);
  }

  /** Whether a source on this instance type is to be refused although the page allows it. */
  refusesSource(instanceType: string): boolean {
    const refused = this.faults.refuseSourceTypes;
    if (!refused) return false;
    const type = instanceType.toLowerCase();
    return refused.includes(type) || refused.includes(type.slice(0, type.indexOf('.')));
  }

  /** Decides whether this request fails, and when. */
  failure(action?: string): 'before' | 'after' | undefined {
    if (action !== undefined && this.faults.failActions?.includes(action)) return 'before';
    const rate = this.faults.failureRate ?? 0;
    if (rate <= 0 || this.failureRandom() >= rate) return undefined;
    const when = this.faults.failureWhen ?? 'either';
    if (when !== 'either') return when;
    return this.failureRandom() < 0.5 ? 'before' : 'after';
  }
}

export const internalError = () =>
  new ApiError('InternalError', 'An internal error has occurred. Please try again.', 500);
