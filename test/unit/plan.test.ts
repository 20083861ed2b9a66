import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FilterView, SessionView } from '../../shared/aws/ec2.ts';
import { claimsOf } from '../../shared/domain/claims.ts';
import type { MirrorIntent } from '../../shared/domain/intent.ts';
import {
  chooseFilter,
  type Desired,
  desiredOf,
  type EniPlan,
  missingRules,
  planEni,
  sessionTags,
} from '../../shared/domain/plan.ts';
import { bandOf, REASONS, type Reason } from '../../shared/domain/slots.ts';
import { TAG } from '../../shared/domain/tags.ts';

const NOW = new Date('2026-12-04T12:00:00Z');
const ENI = 'eni-0a';
const nothingKnown = () => undefined;

type Overrides = { [K in keyof MirrorIntent]?: MirrorIntent[K] | undefined };

function intent(overrides: Overrides = {}): MirrorIntent {
  const made: Overrides = {
    account: '111122223333',
    region: 'us-east-1',
    reason: 'guardduty',
    key: 'finding-1',
    instanceId: 'i-0a',
    networkInterfaceIds: [ENI],
    instanceType: 'm5.large',
    severity: 5,
    scope: { remotes: ['198.51.100.7/32'], dns: false },
    startAt: NOW,
    lifetimeMs: 6 * 3_600_000,
    ...overrides,
  };
  // `severity: undefined` asks for a request without one (a tag, a launch).
  if (made.severity === undefined) delete made.severity;
  return made as MirrorIntent;
}

const desired = (overrides: Overrides = {}, expiresAt = '2026-12-04T18:00:00.000Z'): Desired => {
  const i = intent(overrides);
  return desiredOf(i, i.scope, expiresAt, i.instanceType);
};

/** A session as another request of `d` would have left it on the ENI. */
function sessionOf(d: Desired, id: string, number: number, extra: Record<string, string> = {}): SessionView {
  return {
    id,
    eniId: ENI,
    number,
    filterId: 'tmf-0a',
    targetId: 'tmt-0a',
    tags: { ...sessionTags(d), ...extra },
  };
}

const foreign = (id: string, number: number): SessionView => ({
  id,
  eniId: ENI,
  number,
  filterId: 'tmf-x',
  targetId: 'tmt-x',
  tags: { owner: 'network team' },
});

describe('planEni: what one ENI needs, from its sessions as read', () => {
  it('a free ENI: a session at the number the severity asks for, with the claim and a token seed', () => {
    const d = desired();
    const plan = planEni(d, ENI, [], NOW, nothingKnown);
    expect(plan).toMatchObject({ kind: 'start', number: 5, retire: [] });
    if (plan.kind !== 'start') throw new Error(plan.kind);
    expect(plan.tags[TAG.managed]).toBe('true');
    expect(plan.tags[TAG.filterHash]).toBe(d.hash);
    expect(claimsOf(plan.tags)).toEqual([{ severity: 5, expiresAt: d.expiresAt, scope: d.scope }]);
    // Racing requests that read the same sessions derive the same token.
    expect(planEni(d, ENI, [], NOW, nothingKnown)).toMatchObject({ tokenSeed: plan.tokenSeed });
  });

  it('a repeat: the claim goes on the session already there, nothing else changes', () => {
    const first = desired();
    const later = desired({ startAt: new Date(NOW.getTime() + 60_000) }, '2026-12-04T19:00:00.000Z');
    const own = sessionOf(first, 'tms-1', 5);
    const plan = planEni(later, ENI, [own], NOW, nothingKnown);
    expect(plan).toMatchObject({ kind: 'extend', session: own, duplicates: [], refilter: false });
    if (plan.kind !== 'extend') throw new Error(plan.kind);
    expect(plan.renumber).toBeUndefined();
    expect(plan.extension.write[TAG.expiresAt]).toBe('2026-12-04T19:00:00.000Z');
  });

  it('a higher severity moves the session to the lowest free number it may take', () => {
    const own = sessionOf(desired(), 'tms-1', 5);
    const plan = planEni(
      desired({ key: 'finding-2', severity: 8.5 }),
      ENI,
      [own, foreign('tms-f', 2)],
      NOW,
      nothingKnown,
    );
    expect(plan).toMatchObject({ kind: 'extend', renumber: 3 });
  });

  it('a wider scope moves the session to the filter of the merged claims', () => {
    const own = sessionOf(desired(), 'tms-1', 5);
    const wider = desired({ key: 'finding-2', scope: { remotes: ['203.0.113.9/32'], dns: false } });
    const plan = planEni(wider, ENI, [own], NOW, nothingKnown);
    if (plan.kind !== 'extend') throw new Error(plan.kind);
    expect(plan.refilter).toBe(true);
    expect(plan.extension.write[TAG.filterHash]).toBe(plan.extension.hash);
    expect(plan.extension.merged.scope.remotes).toEqual(
      expect.arrayContaining(['198.51.100.7/32', '203.0.113.9/32']),
    );
  });

  it('a session on an older filter of the same content moves to the one in use', () => {
    const d = desired();
    const own = sessionOf(d, 'tms-1', 5);
    const plan = planEni(d, ENI, [own], NOW, (hash) => (hash === d.hash ? 'tmf-newer' : undefined));
    expect(plan).toMatchObject({ kind: 'extend', refilter: true });
  });

  it('duplicates left by racing requests hand their claims over to the lowest-numbered one', () => {
    const a = sessionOf(desired(), 'tms-1', 5);
    const b = sessionOf(desired({ key: 'finding-2' }), 'tms-2', 6);
    const plan = planEni(desired({ key: 'finding-3' }), ENI, [b, a], NOW, nothingKnown);
    if (plan.kind !== 'extend') throw new Error(plan.kind);
    expect(plan.session).toBe(a);
    expect(plan.duplicates).toEqual([b]);
    const handed = Object.keys(plan.extension.write).filter((k) => k.startsWith('mirrorops:claim:'));
    expect(handed.length).toBe(2); // b's claim and this request's
  });

  it('a session at its expiry is retired and a new one started in its place', () => {
    const ending = sessionOf(desired({}, '2026-12-04T12:00:30.000Z'), 'tms-1', 5);
    const plan = planEni(desired(), ENI, [ending], NOW, nothingKnown);
    expect(plan).toMatchObject({ kind: 'start', retire: [ending], number: 5 });
  });

  it('a new interface of an opted-in instance leaves an existing session alone', () => {
    const d = desired({ reason: 'launch', onlyNew: true, severity: undefined });
    const own = sessionOf(d, 'tms-1', 30);
    expect(planEni(d, ENI, [own], NOW, nothingKnown)).toEqual({ kind: 'unchanged', session: own });
  });

  it('three sessions mirrorops did not create: rejected, saying so', () => {
    const plan = planEni(
      desired(),
      ENI,
      [foreign('a', 1), foreign('b', 2), foreign('c', 3)],
      NOW,
      nothingKnown,
    );
    expect(plan.kind).toBe('rejected');
  });

  it('a full ENI gives the slot of the managed session of lowest priority', () => {
    const tag = sessionOf(desired({ reason: 'tag', key: 'tag-1', severity: undefined }), 'tms-t', 20);
    const plan = planEni(desired(), ENI, [foreign('a', 1), foreign('b', 2), tag], NOW, nothingKnown);
    expect(plan).toMatchObject({ kind: 'start', evict: tag });
  });
});

describe('planEni properties', () => {
  const reason = fc.constantFrom<Reason>(...REASONS);
  /** Up to three sessions of unique numbers: mirrorops' of any reason and instance, or someone else's. */
  const onEni = fc
    .uniqueArray(
      fc.record({
        number: fc.integer({ min: 1, max: 45 }),
        kind: fc.constantFrom('foreign', 'mine', 'other-instance', 'other-reason'),
        reason,
        ending: fc.boolean(),
      }),
      { maxLength: 3, selector: (s) => s.number },
    )
    .map((list) =>
      list.map(({ number, kind, reason: r, ending }, i): SessionView => {
        if (kind === 'foreign') return foreign(`tms-${i}`, number);
        const d = desired(
          {
            reason: kind === 'other-reason' ? r : 'guardduty',
            instanceId: kind === 'other-instance' ? 'i-0b' : 'i-0a',
            key: `k-${i}`,
          },
          ending ? '2026-12-04T12:00:10.000Z' : '2026-12-05T00:00:00.000Z',
        );
        return sessionOf(d, `tms-${i}`, number);
      }),
    );

  it('never plans to delete, move or write to a session mirrorops did not create', () => {
    fc.assert(
      fc.property(onEni, fc.double({ min: 0, max: 10, noNaN: true }), (sessions, severity) => {
        const plan: EniPlan = planEni(desired({ severity }), ENI, sessions, NOW, nothingKnown);
        const touched =
          plan.kind === 'start'
            ? [...plan.retire, ...(plan.evict ? [plan.evict] : [])]
            : plan.kind === 'extend'
              ? [...plan.retire, plan.session, ...plan.duplicates]
              : [];
        for (const s of touched) expect(s.tags[TAG.managed]).toBe('true');
      }),
      { numRuns: 500 },
    );
  });

  it('a new session takes a number of its band that no remaining session holds', () => {
    fc.assert(
      fc.property(onEni, (sessions) => {
        const plan = planEni(desired(), ENI, sessions, NOW, nothingKnown);
        if (plan.kind !== 'start') return;
        const [low, high] = bandOf('guardduty');
        expect(plan.number).toBeGreaterThanOrEqual(low);
        expect(plan.number).toBeLessThanOrEqual(high);
        const gone = new Set([...plan.retire, ...(plan.evict ? [plan.evict] : [])]);
        const kept = sessions.filter((s) => !gone.has(s));
        expect(kept.map((s) => s.number)).not.toContain(plan.number);
        expect(kept.length).toBeLessThan(3);
      }),
      { numRuns: 500 },
    );
  });

  it('an ENI with a live session of this reason and instance is extended, never given another', () => {
    fc.assert(
      fc.property(onEni, (sessions) => {
        const plan = planEni(desired(), ENI, sessions, NOW, nothingKnown);
        const live = sessions.filter(
          (s) =>
            s.tags[TAG.reason] === 'guardduty' &&
            s.tags[TAG.instance] === 'i-0a' &&
            (s.tags[TAG.expiresAt] ?? '') > '2026-12-04T12:01',
        );
        if (live.length > 0) expect(plan.kind).toBe('extend');
      }),
      { numRuns: 500 },
    );
  });
});

describe('filters by content', () => {
  const filter = (id: string, createdAt: string, managed = true, hash = 'h1'): FilterView => ({
    id,
    tags: {
      ...(managed ? { [TAG.managed]: 'true' } : {}),
      [TAG.filterHash]: hash,
      [TAG.createdAt]: createdAt,
    },
    rules: [],
    networkServices: [],
  });

  it("the oldest managed filter of the hash is the one used; a stranger's never", () => {
    const found = [
      filter('tmf-0001', '2026-12-04T11:00:00.000Z'),
      filter('tmf-ffff', '2026-12-04T10:00:00.000Z'),
      filter('tmf-0000', '2026-12-04T09:00:00.000Z', false),
      filter('tmf-0002', '2026-12-04T08:00:00.000Z', true, 'h2'),
    ];
    expect(chooseFilter('h1', found)?.id).toBe('tmf-ffff');
    expect(chooseFilter('h3', found)).toBeUndefined();
  });

  it('a half-made filter gets only the rules and services it lacks', () => {
    const { spec } = desired({ scope: { remotes: ['198.51.100.7/32'], dns: true } });
    const [first] = spec.rules;
    if (!first) throw new Error('no rule');
    const half: FilterView = { ...filter('tmf-1', 'x'), rules: [first] };
    const missing = missingRules(half, spec);
    expect(missing.rules).toEqual(spec.rules.slice(1));
    expect(missing.enableDns).toBe(spec.networkServices.length > 0);
    expect(missingRules({ ...half, rules: spec.rules, networkServices: ['amazon-dns'] }, spec)).toEqual({
      rules: [],
      enableDns: false,
    });
  });
});
