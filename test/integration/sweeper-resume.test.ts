import { beforeAll, describe, expect, test } from 'vitest';
import { silentLogger } from '../../shared/runtime/log.ts';
import { useEmulator } from '../support/emulator.ts';
import { buildFleet, type Fleet, memberState, sweeperContainer } from '../support/fleet.ts';
import { must } from '../support/topology.ts';

/**
 * A fleet sweep whose time runs out (the Lambda context's getRemainingTimeInMillis), then the next
 * run: as the deployed SweeperRole, in eight members through their spoke roles.
 */
const HUB = '150000000000';
const members = Array.from({ length: 8 }, (_, i) => `1500000001${String(i).padStart(2, '0')}`);
const EXTERNAL_ID = 'mirrorops-resume';
const BUS = 'mirrorops-audit-resume';

const env = useEmulator({ organization: { managementAccount: HUB, members: [HUB, ...members] } });

let fleet: Fleet;

beforeAll(async () => {
  fleet = await buildFleet(env.url, {
    hub: HUB,
    members,
    expired: 40,
    live: 0,
    externalId: EXTERNAL_ID,
    auditBus: BUS,
  });
}, 120_000);

async function stoppedEvents() {
  const response = await fetch(`${env.url}/_emulator/events?bus=${BUS}`);
  const all = (await response.json()) as { 'detail-type': string; detail: { sessionId: string } }[];
  return all.filter((e) => e['detail-type'] === 'Mirror Session Stopped').map((e) => e.detail.sessionId);
}

describe('a sweep whose time runs out', () => {
  test('stops between sessions, leaves the rest whole, and the next run finishes with nothing left behind', async () => {
    const later = () => new Date(Date.now() + 60_000);
    const before = new Map(
      await Promise.all(members.map(async (a) => [a, await memberState(env.url, a)] as const)),
    );
    const { sweepFleet, config } = await sweeperContainer(env.url, fleet);
    // The run's clock: each look at the time left costs a second of an 80-second run, so the run
    // ends part-way through an account's 40 sessions, after the hub and one whole member (one
    // account at a time, so where it ends does not depend on timing).
    let left = 80_000;
    const remainingMs = () => {
      left -= 1_000;
      return left;
    };

    const first = await sweepFleet(config, silentLogger, { concurrency: 1, remainingMs, now: later });

    expect(first.accounts.filter((a) => 'error' in a)).toEqual([]);
    const skipped = first.accounts.filter((a) => 'skipped' in a).map((a) => a.account);
    const partial = first.accounts.flatMap((a) =>
      'result' in a && a.result.deferred > 0 ? [a.account] : [],
    );
    const finished = first.accounts.flatMap((a) =>
      'result' in a && a.result.deferred === 0 && members.includes(a.account) ? [a.account] : [],
    );
    expect({ skipped: skipped.length > 0, partial: partial.length, finished: finished.length > 0 }).toEqual({
      skipped: true,
      partial: 1,
      finished: true,
    });
    // Nothing half-done: a session is either gone, or still there with its filter.
    for (const account of members) {
      const was = must(before.get(account), 'state before');
      const now = await memberState(env.url, account);
      const done = first.accounts.find((a) => a.account === account);
      const deleted = done && 'result' in done ? done.result.deleted : [];
      expect(now.sessions).toEqual(was.sessions.filter((s) => !deleted.includes(s)));
      for (const s of now.sessions) expect(now.filters).toContain(now.filterOf.get(s));
    }

    const second = await sweepFleet(config, silentLogger, {
      concurrency: 1,
      remainingMs: () => 600_000,
      now: later,
    });

    // The accounts the first run did not reach come first in the next, in the order they were left.
    expect(second.accounts.slice(0, skipped.length).map((a) => a.account)).toEqual(skipped);
    expect(second.accounts.filter((a) => !('result' in a))).toEqual([]);
    for (const account of members) {
      const now = await memberState(env.url, account);
      expect({ account, sessions: now.sessions, filters: now.filters }).toEqual({
        account,
        sessions: [],
        filters: [],
      });
    }
    // Every session was stopped once, by one of the two runs, and told on the audit bus once.
    const all = [...first.accounts, ...second.accounts].flatMap((a) =>
      'result' in a ? a.result.deleted : [],
    );
    const expected = members.flatMap((a) => must(before.get(a), 'state before').sessions);
    expect([...all].sort()).toEqual([...expected].sort());
    const told = await stoppedEvents();
    expect([...told].sort()).toEqual([...expected].sort());
  });
});
