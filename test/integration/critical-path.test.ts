import { describe, expect, test } from 'vitest';
import { TAG } from '../../shared/domain/tags.ts';
import { apply } from '../../shared/mirror.ts';
import { sweep } from '../../shared/sweep.ts';
import { useEmulator } from '../support/emulator.ts';
import { findingFor, incident, intentOf, tagsOf } from '../support/incident.ts';
import { type Call, recordRequests } from '../support/requests.ts';

const env = useEmulator();
const HOUR = 3_600_000;
const plenty = { remainingMs: () => 900_000 };

const at = (iso: string) => () => new Date(iso);
const named = (calls: readonly Call[], action: string) => calls.filter((c) => c.action === action);

describe("a new finding's requests, in two waves", () => {
  // A DNS finding's filter is the amazon-dns network service: enabled in the second wave, in place
  // of rules, with nothing more read first (no VPC: the service needs no address).
  test.each([
    ['network-connection', 'CreateTrafficMirrorFilterRule'],
    ['dns-request', 'ModifyTrafficMirrorFilterNetworkServices'],
  ] as const)(
    "a %s finding: the filter's create goes out beside the reads; its %s and the sessions together after them",
    async (fixture, completes) => {
      const world = await incident(env.url);
      const instance = await world.instance(3);
      const calls = recordRequests(world.functionEc2);
      // Each request waits, so requests sent together overlap and requests sent after one another do not.
      env.emulator.faults.set({ latencyMs: 25 });
      try {
        const result = await apply(
          intentOf(findingFor(fixture, world, instance), world.config),
          world.deps(),
        );
        expect(result.outcomes.map((o) => o.status)).toEqual(['started', 'started', 'started']);
      } finally {
        env.emulator.faults.set({});
      }
      const [create] = named(calls, 'CreateTrafficMirrorFilter');
      const [lookup] = named(calls, 'DescribeTrafficMirrorFilters');
      const [read] = named(calls, 'DescribeTrafficMirrorSessions');
      const rules = named(calls, completes);
      const sessions = named(calls, 'CreateTrafficMirrorSession');
      if (!create || !lookup || !read)
        throw new Error(`missing a first-wave request: ${calls.map((c) => c.action)}`);
      expect(rules.length).toBeGreaterThan(0);
      expect(calls.length).toBe(3 + rules.length + sessions.length);
      expect(sessions).toHaveLength(3);
      // Wave 1: sent before any of them was answered.
      expect(create.start).toBeLessThan(Math.min(lookup.end, read.end));
      // Wave 2: each request sent once what it needs is answered (the filter's rules or service:
      // its create and its look-up; a session: every read), and all of them before any of wave 2
      // was answered. (A millisecond of slack: timers against performance.now().)
      const second = [...rules, ...sessions];
      const filterKnown = Math.max(create.end, lookup.end);
      const firstDone = Math.max(filterKnown, read.end);
      const secondAnswered = Math.min(...second.map((c) => c.end));
      for (const c of rules) expect(c.start).toBeGreaterThanOrEqual(filterKnown - 1);
      for (const c of sessions) expect(c.start).toBeGreaterThanOrEqual(firstDone - 1);
      for (const c of second) expect(c.start).toBeLessThan(secondAnswered);
    },
  );

  test('an existing filter of the same content, made an hour earlier, is the one the sessions use', async () => {
    const world = await incident(env.url);
    const [a, b] = [await world.instance(1), await world.instance(2)];
    const event = (instance: typeof a) => findingFor('network-connection', world, instance);
    const earlier = await apply(
      intentOf(event(a), world.config),
      world.deps({ now: at('2026-12-04T09:10:00Z') }),
    );
    const later = await apply(
      intentOf(event(b), world.config),
      world.deps({ now: at('2026-12-04T10:20:00Z') }),
    );
    expect(later.filterId).toBe(earlier.filterId);
    const sessions = await world.sessions();
    expect(new Set(sessions.map((s) => s.TrafficMirrorFilterId))).toEqual(new Set([earlier.filterId]));
    // The create sent beside the look-up made a second filter of that content, which no session
    // uses: the sweeper removes it once its grace period is over, and keeps the one in use.
    const sweptAt = new Date(Date.parse('2026-12-04T10:20:00Z') + world.config.filterGraceMs + 1);
    const swept = await sweep(world.sweeperDeps({ now: () => sweptAt }), plenty);
    expect(swept.deleted).toEqual([]);
    const left = await world.filters();
    expect(left.map((f) => f.TrafficMirrorFilterId)).toEqual([earlier.filterId]);
    expect(tagsOf(left[0] ?? {})[TAG.managed]).toBe('true');
  });

  test("a filter deleted within its hour is made again: the hour's token is not replayed", async () => {
    const world = await incident(env.url);
    const instance = await world.instance(2);
    const event = findingFor('network-connection', world, instance);
    const first = await apply(intentOf(event, world.config), world.deps({ now: at('2026-12-04T11:00:00Z') }));
    expect(first.filterId).toBeDefined();
    // The sessions expire and are swept with their filter (the grace period long over).
    const sweptAt = new Date(Date.parse(first.expiresAt) + HOUR);
    const swept = await sweep(world.sweeperDeps({ now: () => sweptAt }), plenty);
    expect(swept.filtersDeleted).toEqual([first.filterId]);
    // The same content is needed again within the same hour of a (later) day's clock: the create's
    // token names the deleted filter's hour, so it is refused or answered with the deleted filter.
    const again = findingFor('network-connection', world, instance, (d) => {
      d.updatedAt = new Date(sweptAt.getTime() + 60_000).toISOString();
    });
    const second = await apply(
      intentOf(again, world.config),
      world.deps({ now: at('2026-12-04T11:30:00Z') }),
    );
    expect(second.outcomes.map((o) => o.status)).toEqual(['started', 'started']);
    expect(second.filterId).not.toBe(first.filterId);
    const sessions = await world.sessions();
    expect(sessions).toHaveLength(2);
    for (const s of sessions) expect(s.TrafficMirrorFilterId).toBe(second.filterId);
    const [filter] = await world.filters();
    expect((filter?.IngressFilterRules?.length ?? 0) + (filter?.EgressFilterRules?.length ?? 0)).toBe(2);
  });
});
