/**
 * The decisions of the finding intake (a burst of GuardDuty findings held in queues and worked
 * through at EC2's rate): which band a finding waits in, which waiting finding goes next, when a
 * failed one is tried again, which errors are worth waiting out, and how long a call must wait
 * for EC2's token bucket. Pure: no SDK, no I/O, no clock (time comes in as milliseconds).
 */

/** GuardDuty's high band starts at 7 (high 7-8.9, critical 9+; guardduty_findings-severity.html). */
export const HIGH_SEVERITY = 7;

export type Band = 'high' | 'low';

/** The queue a finding waits in: severity 7 and above in the high one, everything else in the low one. */
export const bandOf = (severity: number): Band => (severity >= HIGH_SEVERITY ? 'high' : 'low');

/**
 * Whether a finding of `band` may be started now. A high one always may; a low one only when the
 * high queue was just seen empty, no high finding is still being applied, and none can be hidden
 * in the queue: a receive whose answer was lost (the SDK retried it) hides its messages for the
 * visibility timeout (sqs-visibility-timeout.html), until `highHiddenUntil`. So every high finding
 * waiting has its sessions before any low one is started.
 */
export function mayStart(
  band: Band,
  state: { highQueueEmpty: boolean; highInFlight: number; now: number; highHiddenUntil: number },
): boolean {
  if (band === 'high') return true;
  return state.highQueueEmpty && state.highInFlight === 0 && state.now >= state.highHiddenUntil;
}

/**
 * What to do about an error of one attempt at a finding. EC2 answers an empty token bucket with
 * 503 RequestLimitExceeded and its own faults with 5xx (InternalError, Unavailable;
 * AWSEC2/latest/APIReference/errors-overview.html): those pass, so they are waited out. A network
 * failure (no status) passes too. Anything else (a 4xx that is not throttling) is a refusal that
 * the same request would get again: permanent.
 */
export function retryDecision(error: { name: string; status?: number | undefined }): 'retry' | 'permanent' {
  if (THROTTLING.has(error.name) || TRANSIENT.has(error.name)) return 'retry';
  if (error.status === undefined) return NETWORK.has(error.name) ? 'retry' : 'permanent';
  return error.status >= 500 || error.status === 429 ? 'retry' : 'permanent';
}

const THROTTLING = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);
const TRANSIENT = new Set([
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'Unavailable',
  'InsufficientInstanceCapacity',
]);
const NETWORK = new Set([
  'TimeoutError',
  'RequestTimeout',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
]);

export interface Backoff {
  /** The first wait. */
  baseMs: number;
  /** No wait is longer (EC2's buckets refill a token in 200 ms; a minute is far past any burst). */
  capMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 1_000, capMs: 60_000 };

/**
 * The wait before attempt `attempt + 1` after `attempt` failed attempts (1, 2, ...): exponential
 * with "equal jitter" (half fixed, half random), so retries of many findings spread out instead of
 * meeting again at the bucket (AWS Architecture Blog, "Exponential Backoff And Jitter").
 * `random` is in [0, 1).
 */
export function backoffMs(attempt: number, random: number, policy: Backoff = DEFAULT_BACKOFF): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  const r = Math.min(Math.max(random, 0), 1);
  return Math.round(exp / 2 + (exp / 2) * r);
}

/**
 * When a finding that failed `attempt` times is tried again, or `give-up` when that would be past
 * its own expiry (its sessions would be expired on arrival: apply rejects it anyway), or `later`
 * when it would be past the invocation's deadline (the message is left in its queue, hidden until
 * `at`, for a later invocation).
 */
export function nextAttempt(
  attempt: number,
  random: number,
  times: { now: number; expiresAt: number; deadline: number },
  policy: Backoff = DEFAULT_BACKOFF,
): { kind: 'retry'; at: number } | { kind: 'give-up' } | { kind: 'later'; at: number } {
  const at = times.now + backoffMs(attempt, random, policy);
  if (at >= times.expiresAt) return { kind: 'give-up' };
  if (at >= times.deadline) return { kind: 'later', at };
  return { kind: 'retry', at };
}

/** EC2's request token buckets (ec2/latest/devguide/ec2-api-throttling.html). */
export type BucketName = 'describe' | 'describeUnfiltered' | 'mutating' | 'tags';
export interface Rate {
  burst: number;
  perSecond: number;
}

export const EC2_BUCKETS: Readonly<Record<BucketName, Rate>> = {
  describe: { burst: 100, perSecond: 20 },
  describeUnfiltered: { burst: 50, perSecond: 10 },
  mutating: { burst: 50, perSecond: 5 },
  tags: { burst: 100, perSecond: 10 },
};

/**
 * The bucket an EC2 action draws from: CreateTags and DeleteTags their own, Describe* the
 * non-mutating one (DescribeInstances and DescribeNetworkInterfaces without a filter, ids or page
 * size the smaller one; mirrorops always filters), everything else the mutating one.
 */
export function bucketOf(action: string, unfilteredUnpaged = false): BucketName {
  if (action === 'CreateTags' || action === 'DeleteTags') return 'tags';
  if (action.startsWith('Describe')) {
    const big = action === 'DescribeInstances' || action === 'DescribeNetworkInterfaces';
    return big && unfilteredUnpaged ? 'describeUnfiltered' : 'describe';
  }
  return 'mutating';
}

/**
 * One bucket as the caller keeps it: the instant it will be full again (the generic cell rate
 * algorithm, the same answers as counting tokens). `undefined` is a full bucket.
 */
export type BucketState = number | undefined;

/**
 * When the next call may go so that the bucket has a token for it, and the bucket after that call.
 * Calls reserved one after another are spaced `1000 / perSecond` ms apart once the burst is
 * spent; a call whose time has come draws a token EC2's bucket also has, as long as nothing else
 * draws from it.
 */
export function reserve(state: BucketState, now: number, rate: Rate): { at: number; state: number } {
  const interval = 1000 / rate.perSecond;
  const fullAt = Math.max(state ?? now, now);
  const room = (rate.burst - 1) * interval;
  const fits = (t: number) => fullAt - t <= room;
  // Rates such as 6 a second have no exact interval in floating point: a call that must wait waits
  // for the first whole millisecond at which the bucket's own test passes.
  let at = now;
  if (!fits(at)) {
    at = Math.ceil(fullAt - room);
    while (!fits(at)) at++;
  }
  return { at, state: Math.max(fullAt, at) + interval };
}

/**
 * How long a burst of `calls` mutating calls takes at least, in ms: what the bucket holds goes at
 * once, the rest at its refill rate. The floor the intake is measured against.
 */
export function burstFloorMs(calls: number, rate: Rate = EC2_BUCKETS.mutating): number {
  return (Math.max(0, calls - rate.burst) / rate.perSecond) * 1000;
}
