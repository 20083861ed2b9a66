import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
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
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** One value of one metric; `reason` only on RequestsRejected (its extra dimension). */
export interface Measure {
  name: MetricName;
  value: number;
  reason?: RejectReason;
}

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

const count = (name: MetricName, value: number): Measure[] => (value > 0 ? [{ name, value }] : []);

/** Rejections counted by kind of reason, one measure per kind. */
function rejections(reasons: readonly string[]): Measure[] {
  const byKind = new Map<RejectReason, number>();
  for (const r of reasons) byKind.set(rejectReason(r), (byKind.get(rejectReason(r)) ?? 0) + 1);
  return [...byKind].map(([reason, value]) => ({ name: 'RequestsRejected', value, reason }));
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

/** The sweep of every account: sessions deleted, and expired ones left for the next run. */
export function sweepMeasures(result: FleetSweep): Measure[] {
  let deleted = 0;
  let deferred = 0;
  for (const a of result.accounts) {
    if ('result' in a) {
      deleted += a.result.deleted.length;
      deferred += a.result.deferred;
    }
  }
  return [...count('SweepDeleted', deleted), ...count('SweepDeferred', deferred)];
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
 * percentiles). RequestsRejected twice: in all (by function, what the alarm adds up) and on a line
 * per reason (its extra dimension, for the dashboard); CloudWatch keeps each set of dimensions
 * apart, so neither counts the other.
 */
export function publish(metrics: Metrics, measures: readonly Measure[]): void {
  const sums = new Map<MetricName, number>();
  const rejected = new Map<RejectReason, number>();
  for (const m of measures) {
    if (m.name === 'TimeToMirror') metrics.addMetric(m.name, MetricUnit.Milliseconds, m.value);
    else {
      sums.set(m.name, (sums.get(m.name) ?? 0) + m.value);
      if (m.name === 'RequestsRejected') {
        const reason = m.reason ?? 'other';
        rejected.set(reason, (rejected.get(reason) ?? 0) + m.value);
      }
    }
  }
  for (const [name, value] of sums) metrics.addMetric(name, MetricUnit.Count, value);
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  for (const [reason, value] of rejected) {
    const single = metrics.singleMetric();
    single.addDimension('reason', reason);
    single.addMetric('RequestsRejected', MetricUnit.Count, value);
  }
}
