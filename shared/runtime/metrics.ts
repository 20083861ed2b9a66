import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AccountFailure } from '../aws/accounts.ts';
import type { FleetSweep } from '../fleet.ts';
import type { DrainResult } from '../intake.ts';
import type { ApplyResult } from '../mirror.ts';
import type { LaunchResult, TagResult } from '../optin.ts';

/** The metrics mirrorops publishes (namespace `mirrorops`, dimensions `service` and `function`). */
export const METRIC_NAMES = [
  'TimeToMirror',
  'SessionsStarted',
  'SessionsExtended',
  'SessionsStopped',
  'RequestsRejected',
  'Throttled',
  'SweepDeleted',
  'SweepDeferred',
  'SweepAccountsFailed',
  'SweepAccountsSkipped',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/**
 * One value of one metric. `reason` is the extra dimension of two: RequestsRejected (why a request
 * was refused) and SweepAccountsFailed (why an account could not be swept: accounts.ts).
 */
export type Measure =
  | { name: 'RequestsRejected'; value: number; reason: RejectReason }
  | { name: 'SweepAccountsFailed'; value: number; reason: AccountFailure }
  | { name: Exclude<MetricName, 'RequestsRejected' | 'SweepAccountsFailed'>; value: number };

export const REJECT_REASONS = [
  'slots',
  'source',
  'target',
  'instance',
  'expired',
  'tag-value',
  'capacity',
  'quota',
  'other',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * A rejection's reason as a dimension value: a few kinds, never the sentence itself (it names
 * instances and ENIs, and each distinct dimension value is a metric of its own, billed as one).
 */
export function rejectReason(reason: string): RejectReason {
  if (/session slots|no free session number/.test(reason)) return 'slots';
  if (/target \S+ is not visible/.test(reason)) return 'target';
  if (/does not support|NetworkInterfaceNotSupported|refused/.test(reason)) return 'source';
  if (/\bexpired\b/.test(reason)) return 'expired';
  if (/^instance \S+ (was not found|is |has no network interfaces)/.test(reason)) return 'instance';
  if (/^mirrorops:mirror=/.test(reason)) return 'tag-value';
  if (/(SourcesPerTarget|SessionsPerTarget)LimitExceeded/.test(reason)) return 'capacity';
  if (/LimitExceeded/.test(reason)) return 'quota';
  return 'other';
}

const count = (
  name: Exclude<MetricName, 'RequestsRejected' | 'SweepAccountsFailed'>,
  value: number,
): Measure[] => (value > 0 ? [{ name, value }] : []);

/** Rejections counted by kind of reason, one measure per kind. */
function rejections(reasons: readonly string[]): Measure[] {
  const byKind = new Map<RejectReason, number>();
  for (const r of reasons) byKind.set(rejectReason(r), (byKind.get(rejectReason(r)) ?? 0) + 1);
  return [...byKind].map(([reason, value]) => ({ name: 'RequestsRejected' as const, value, reason }));
}

/**
 * What one applied request measures: sessions started and extended, rejections (the whole request,
 * or each ENI's), and, when a session started, TimeToMirror: from `since` (the finding's updatedAt,
 * or the event's time) to `at` (when the use case returned, its last session created).
 */
export function applyMeasures(result: ApplyResult, since: Date | undefined, at: Date): Measure[] {
  const started = result.outcomes.filter((o) => o.status === 'started').length;
  const extended = result.outcomes.filter((o) => o.status === 'extended').length;
  const rejected = result.rejected
    ? [result.rejected]
    : result.outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
  return [
    ...(started > 0 && since
      ? [{ name: 'TimeToMirror' as const, value: Math.max(0, at.getTime() - since.getTime()) }]
      : []),
    ...count('SessionsStarted', started),
    ...count('SessionsExtended', extended),
    ...rejections(rejected),
  ];
}

/** A tag change: what its request measured, or the sessions it stopped, or its refused value. */
export function tagMeasures(result: TagResult, since: Date | undefined, at: Date): Measure[] {
  switch (result.status) {
    case 'mirrored':
      return applyMeasures(result.result, since, at);
    case 'stopped':
      return count('SessionsStopped', result.sessions.length);
    case 'rejected':
      return rejections([result.reason]);
    case 'superseded':
      return [];
  }
}

/** A launch: each watched instance's request, or its rejection. */
export function launchMeasures(result: LaunchResult, since: Date | undefined, at: Date): Measure[] {
  return result.instances.flatMap((i) => {
    if (i.result) return applyMeasures(i.result, since, at);
    return i.status === 'rejected' ? rejections([i.why]) : [];
  });
}

/** The intake's attempts that failed with throttling or a 5xx and were tried again. */
export function drainMeasures(result: DrainResult): Measure[] {
  return count('Throttled', result.retries);
}

/**
 * The sweep of every account: sessions deleted, expired ones left for the next run, and the
 * accounts it could not sweep (by why: a spoke role missing or not trusting the hub, throttled,
 * refused) or did not reach in time. An account that fails run after run is an onboarding gone
 * wrong, with expired sessions left running there: the alarm on SweepAccountsFailed says so.
 */
export function sweepMeasures(result: FleetSweep): Measure[] {
  let deleted = 0;
  let deferred = 0;
  let skipped = 0;
  const failed = new Map<AccountFailure, number>();
  for (const a of result.accounts) {
    if ('result' in a) {
      deleted += a.result.deleted.length;
      deferred += a.result.deferred;
    } else if ('error' in a) {
      const why = a.why ?? 'failed';
      failed.set(why, (failed.get(why) ?? 0) + 1);
    } else skipped++;
  }
  return [
    ...count('SweepDeleted', deleted),
    ...count('SweepDeferred', deferred),
    ...[...failed].map(([reason, value]) => ({ name: 'SweepAccountsFailed' as const, value, reason })),
    ...count('SweepAccountsSkipped', skipped),
  ];
}

/** The function's Powertools metrics, made once at cold start. */
export function functionMetrics(name: string): Metrics {
  return new Metrics({
    namespace: 'mirrorops',
    serviceName: 'mirrorops',
    defaultDimensions: { function: name },
  });
}

/**
 * Writes the invocation's measures as embedded metric format (one JSON line on stdout, which
 * CloudWatch Logs turns into metrics): counts summed per name, TimeToMirror's values each kept (its
 * percentiles). A measure with a reason twice: in all (by function, what its alarm adds up) and on
 * a line per reason (its extra dimension, for the dashboard); CloudWatch keeps each set of
 * dimensions apart, so neither counts the other.
 */
export function publish(metrics: Metrics, measures: readonly Measure[]): void {
  const sums = new Map<MetricName, number>();
  const byReason = new Map<string, { name: MetricName; reason: string; value: number }>();
  for (const m of measures) {
    if (m.name === 'TimeToMirror') metrics.addMetric(m.name, MetricUnit.Milliseconds, m.value);
    else {
      sums.set(m.name, (sums.get(m.name) ?? 0) + m.value);
      if ('reason' in m) {
        const key = `${m.name}|${m.reason}`;
        const line = byReason.get(key) ?? { name: m.name, reason: m.reason, value: 0 };
        line.value += m.value;
        byReason.set(key, line);
      }
    }
  }
  for (const [name, value] of sums) metrics.addMetric(name, MetricUnit.Count, value);
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  for (const { name, reason, value } of byReason.values()) {
    const single = metrics.singleMetric();
    single.addDimension('reason', reason);
    single.addMetric(name, MetricUnit.Count, value);
  }
}
