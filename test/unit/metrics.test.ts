import { describe, expect, test } from 'vitest';
import type { FleetSweep } from '../../shared/fleet.ts';
import type { DrainResult } from '../../shared/intake.ts';
import type { ApplyResult, EniOutcome } from '../../shared/mirror.ts';
import {
  applyMeasures,
  drainMeasures,
  launchMeasures,
  rejectReason,
  sweepMeasures,
  tagMeasures,
} from '../../shared/runtime/metrics.ts';

const since = new Date('2026-12-04T10:00:00.000Z');
const at = new Date('2026-12-04T10:00:04.250Z');
const started = (eniId: string): EniOutcome => ({
  eniId,
  status: 'started',
  sessionId: `tms-${eniId}`,
  sessionNumber: 3,
  expiresAt: '2026-12-05T10:00:00.000Z',
});
const applied = (outcomes: EniOutcome[], rejected?: string): ApplyResult => ({
  instanceId: 'i-0123456789abcdef0',
  intent: 'guardduty:f1',
  expiresAt: '2026-12-05T10:00:00.000Z',
  outcomes,
  ...(rejected ? { rejected } : {}),
});

describe('metrics from the use cases results', () => {
  test('a new finding: sessions started, and the time from the finding to the last of them', () => {
    expect(applyMeasures(applied([started('eni-1'), started('eni-2')]), since, at)).toEqual([
      { name: 'TimeToMirror', value: 4250 },
      { name: 'SessionsStarted', value: 2 },
    ]);
  });

  test('a repeat: sessions extended or unchanged, no TimeToMirror (nothing was started)', () => {
    const result = applied([
      {
        eniId: 'eni-1',
        status: 'extended',
        sessionId: 'tms-1',
        sessionNumber: 3,
        expiresAt: 'x',
        widened: false,
      },
      { eniId: 'eni-2', status: 'unchanged', sessionId: 'tms-2', sessionNumber: 3 },
    ]);
    expect(applyMeasures(result, since, at)).toEqual([{ name: 'SessionsExtended', value: 1 }]);
  });

  test('rejections counted per kind of reason; skips are not rejections', () => {
    const result = applied([
      started('eni-1'),
      { eniId: 'eni-2', status: 'rejected', reason: 'no free session number in the guardduty band 1-9' },
      {
        eniId: 'eni-3',
        status: 'rejected',
        reason: 'all 3 session slots are taken by sessions of equal or higher priority',
      },
      { eniId: 'eni-4', status: 'skipped', reason: 'network interface eni-4 no longer exists' },
    ]);
    expect(applyMeasures(result, since, at)).toEqual([
      { name: 'TimeToMirror', value: 4250 },
      { name: 'SessionsStarted', value: 1 },
      { name: 'RequestsRejected', value: 2, reason: 'slots' },
    ]);
    expect(applyMeasures(applied([], 'instance i-1 was not found in 123456789012'), since, at)).toEqual([
      { name: 'RequestsRejected', value: 1, reason: 'instance' },
    ]);
  });

  test('a reason becomes one of a few dimension values, never the sentence', () => {
    expect(
      [
        'no free session number in the tag band 20-29',
        'target tmt-1 is not visible from account 1: it does not exist there or is not shared with it',
        'c4.large is in the compute family C4, which Traffic Mirroring does not support as a source',
        'the request expired at 2026-12-04T10:00:00.000Z before it was applied',
        'instance i-1 is stopped',
        'instance i-1 has no network interfaces',
        "mirrorops:mirror='soon' is not true, false or a duration such as 30m, 4h or 2d",
        'no room for another source on the target (...): tried tmt-1, tmt-2. TrafficMirrorSourcesPerTargetLimitExceeded: full',
        "the account's quota of Traffic Mirror sessions in this Region is reached (10,000, not adjustable). TrafficMirrorSessionLimitExceeded: no",
        'UnauthorizedOperation: You are not authorized',
      ].map(rejectReason),
    ).toEqual([
      'slots',
      'target',
      'source',
      'expired',
      'instance',
      'instance',
      'tag-value',
      'capacity',
      'quota',
      'other',
    ]);
  });

  test('a tag change: its request, the sessions it stopped, or its refused value', () => {
    expect(
      tagMeasures({ status: 'mirrored', value: '4h', result: applied([started('eni-1')]) }, since, at),
    ).toEqual([
      { name: 'TimeToMirror', value: 4250 },
      { name: 'SessionsStarted', value: 1 },
    ]);
    expect(tagMeasures({ status: 'stopped', sessions: ['tms-1', 'tms-2'] }, since, at)).toEqual([
      { name: 'SessionsStopped', value: 2 },
    ]);
    expect(
      tagMeasures({ status: 'rejected', reason: "mirrorops:mirror='x' is not true" }, since, at),
    ).toEqual([{ name: 'RequestsRejected', value: 1, reason: 'tag-value' }]);
    expect(tagMeasures({ status: 'superseded', eventValue: 'true', currentValue: null }, since, at)).toEqual(
      [],
    );
  });

  test('a launch: each watched instance', () => {
    const result = {
      instances: [
        { instanceId: 'i-1', status: 'mirrored' as const, why: 'tag', result: applied([started('eni-1')]) },
        { instanceId: 'i-2', status: 'not watched' as const, why: 'no tag' },
        { instanceId: 'i-3', status: 'rejected' as const, why: 'instance i-3 is stopping' },
      ],
    };
    expect(launchMeasures(result, since, at)).toEqual([
      { name: 'TimeToMirror', value: 4250 },
      { name: 'SessionsStarted', value: 1 },
      { name: 'RequestsRejected', value: 1, reason: 'instance' },
    ]);
  });

  test('the intake: its retried attempts as Throttled; the sweep: deleted and deferred over all accounts, the accounts failed (by why) and not reached', () => {
    const drain: DrainResult = {
      applied: 3,
      ignored: 0,
      expired: 0,
      deadLettered: 0,
      left: 0,
      retries: 7,
      order: [],
    };
    expect(drainMeasures(drain)).toEqual([{ name: 'Throttled', value: 7 }]);
    expect(drainMeasures({ ...drain, retries: 0 })).toEqual([]);
    const result = (deleted: string[], deferred: number) => ({
      expired: deleted.length + deferred,
      deleted,
      deferred,
      kept: 0,
      filtersDeleted: [],
      failures: [],
    });
    const fleet: FleetSweep = {
      accounts: [
        { account: '111111111111', result: result(['tms-1', 'tms-2'], 0) },
        { account: '222222222222', result: result(['tms-3'], 4) },
        { account: '333333333333', error: 'AccessDenied' },
        { account: '444444444444', error: 'AccessDenied: not authorized', why: 'no-access' },
        { account: '555555555555', error: 'AccessDenied: role gone', why: 'no-access' },
        { account: '666666666666', error: 'RequestLimitExceeded', why: 'throttled' },
        { account: '777777777777', skipped: "the run's time ran out before this account" },
      ],
    };
    expect(sweepMeasures(fleet)).toEqual([
      { name: 'SweepDeleted', value: 3 },
      { name: 'SweepDeferred', value: 4 },
      // By why; an error without one (an older summary) counts as failed.
      { name: 'SweepAccountsFailed', value: 1, reason: 'failed' },
      { name: 'SweepAccountsFailed', value: 2, reason: 'no-access' },
      { name: 'SweepAccountsFailed', value: 1, reason: 'throttled' },
      { name: 'SweepAccountsSkipped', value: 1 },
    ]);
    expect(sweepMeasures({ accounts: [{ account: '1', result: result([], 0) }] })).toEqual([]);
  });
});
