import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bandOf,
  decideSlot,
  preferredNumber,
  REASONS,
  type Reason,
  SESSIONS_PER_ENI,
  type SlotDecision,
  type SlotHolder,
} from '../../shared/domain/slots.ts';

const RUNS = { numRuns: 300 };

const reason = fc.constantFrom(...REASONS);
/** Up to three sessions with distinct numbers (AWS keeps them unique per ENI), managed or not. */
const holders = (min: number, max: number) =>
  fc
    .uniqueArray(
      // Mostly in and around the bands, sometimes far above them, as someone else's session may be.
      fc.record({
        sessionNumber: fc.oneof(fc.integer({ min: 1, max: 42 }), fc.integer({ min: 1, max: 32766 })),
        managedReason: fc.option(reason, { nil: undefined }),
      }),
      { minLength: min, maxLength: max, selector: (h) => h.sessionNumber },
    )
    .map((list) =>
      list.map(
        ({ sessionNumber, managedReason }, i): SlotHolder => ({
          sessionId: `tms-${i}`,
          sessionNumber,
          ...(managedReason ? { managedReason } : {}),
        }),
      ),
    );
/** A request: its reason and the number it prefers, inside its band. */
const request = reason.chain((r) => {
  const [low, high] = bandOf(r);
  return fc.tuple(fc.constant(r), fc.integer({ min: low, max: high }));
});

const inBand = (r: Reason, n: number) => n >= bandOf(r)[0] && n <= bandOf(r)[1];
/** The holders left on the ENI after the decision is carried out. */
const remaining = (list: readonly SlotHolder[], d: SlotDecision) =>
  d.kind === 'replace' ? list.filter((h) => h !== d.evict) : list;

describe('preferredNumber', () => {
  it('gives GuardDuty findings 1 (critical) to 9 by severity, other reasons the top of their band', () => {
    expect(
      [10, 9, 8.9, 8, 7.5, 7, 6.9, 4, 3.9, 2, 1.9, 1, 0].map((s) => preferredNumber('guardduty', s)),
    ).toEqual([1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 9, 9]);
    expect(preferredNumber('guardduty')).toBe(9);
    expect(preferredNumber('guardduty', Number.NaN)).toBe(9);
    expect(preferredNumber('guardduty', Number.POSITIVE_INFINITY)).toBe(1);
    expect(preferredNumber('guardduty', -3)).toBe(9);
    expect(preferredNumber('manual', 9)).toBe(10);
    expect(preferredNumber('tag')).toBe(20);
    expect(preferredNumber('launch')).toBe(30);
  });

  it('never gives a higher severity a higher number, and stays in the band', () => {
    const severity = fc.oneof(
      fc.double(),
      fc.double({ min: 0, max: 10 }),
      fc.constantFrom(undefined, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0),
    );
    fc.assert(
      fc.property(severity, severity, (a, b) => {
        const na = preferredNumber('guardduty', a);
        const nb = preferredNumber('guardduty', b);
        for (const n of [na, nb]) expect(Number.isInteger(n) && inBand('guardduty', n)).toBe(true);
        // An unknown severity ranks as the lowest one.
        const rank = (s: number | undefined) => (s === undefined || Number.isNaN(s) ? -Infinity : s);
        if (rank(a) <= rank(b)) expect(na).toBeGreaterThanOrEqual(nb);
      }),
      RUNS,
    );
  });
});

describe('decideSlot', () => {
  it('creates at the preferred number on an empty ENI, or the nearest free one, lower first', () => {
    expect(decideSlot([], 'guardduty', 2)).toEqual({ kind: 'create', sessionNumber: 2 });
    const two: SlotHolder[] = [
      { sessionId: 'a', sessionNumber: 2 },
      { sessionId: 'b', sessionNumber: 1, managedReason: 'guardduty' },
    ];
    expect(decideSlot(two, 'guardduty', 2)).toEqual({ kind: 'create', sessionNumber: 3 });
    expect(decideSlot([{ sessionId: 'a', sessionNumber: 5 }], 'guardduty', 5)).toEqual({
      kind: 'create',
      sessionNumber: 4,
    });
  });

  it('replaces the lowest-priority managed session when the three slots are full', () => {
    const full: SlotHolder[] = [
      { sessionId: 'mine', sessionNumber: 1 },
      { sessionId: 'gd', sessionNumber: 2, managedReason: 'guardduty' },
      { sessionId: 'tag', sessionNumber: 20, managedReason: 'tag' },
    ];
    expect(decideSlot(full, 'guardduty', 2)).toEqual({ kind: 'replace', sessionNumber: 3, evict: full[2] });
    expect(decideSlot(full, 'manual', 10)).toEqual({ kind: 'replace', sessionNumber: 10, evict: full[2] });
    // A tag request does not outrank a tag session of equal number.
    expect(decideSlot(full, 'tag', 20)).toMatchObject({ kind: 'reject' });
  });

  it('rejects with a reason, naming unmanaged sessions, when nothing may give way', () => {
    const unmanaged: SlotHolder[] = [1, 2, 3].map((n) => ({ sessionId: `s${n}`, sessionNumber: 30 + n }));
    const d = decideSlot(unmanaged, 'guardduty', 1);
    expect(d.kind).toBe('reject');
    expect(d.kind === 'reject' && d.reason).toMatch(/3 not managed by mirrorops/);
    const incidents: SlotHolder[] = [1, 2, 3].map((n) => ({
      sessionId: `g${n}`,
      sessionNumber: n,
      managedReason: 'guardduty',
    }));
    expect(decideSlot(incidents, 'tag', 20)).toMatchObject({
      kind: 'reject',
      reason: expect.stringMatching(/\S/),
    });
  });

  it('never touches an unmanaged session, never reuses a held number, stays in the band', () => {
    fc.assert(
      fc.property(holders(0, SESSIONS_PER_ENI), request, (list, [r, preferred]) => {
        const d = decideSlot(list, r, preferred);
        if (d.kind === 'reject') return;
        expect(inBand(r, d.sessionNumber)).toBe(true);
        expect(remaining(list, d).some((h) => h.sessionNumber === d.sessionNumber)).toBe(false);
        expect(remaining(list, d).length).toBeLessThan(SESSIONS_PER_ENI);
        if (d.kind === 'replace') {
          expect(list).toContain(d.evict);
          expect(d.evict.managedReason).toBeDefined();
          // The newcomer never ends up behind the session it displaced.
          expect(d.sessionNumber).toBeLessThanOrEqual(d.evict.sessionNumber);
        }
      }),
      RUNS,
    );
  });

  it('with a free slot, always creates', () => {
    fc.assert(
      fc.property(holders(0, SESSIONS_PER_ENI - 1), request, (list, [r, preferred]) => {
        expect(decideSlot(list, r, preferred).kind).toBe('create');
      }),
      RUNS,
    );
  });

  it('with three holders, evicts the highest-numbered managed one if it ranks below the request, else rejects', () => {
    fc.assert(
      fc.property(holders(SESSIONS_PER_ENI, SESSIONS_PER_ENI), request, (list, [r, preferred]) => {
        const d = decideSlot(list, r, preferred);
        const managed = list.filter((h) => h.managedReason !== undefined);
        const lowest = managed.reduce<SlotHolder | undefined>(
          (worst, h) => (!worst || h.sessionNumber > worst.sessionNumber ? h : worst),
          undefined,
        );
        if (lowest && lowest.sessionNumber > preferred) {
          expect(d).toMatchObject({ kind: 'replace', evict: lowest });
        } else {
          expect(d.kind).toBe('reject');
          expect(d.kind === 'reject' && d.reason.length).toBeGreaterThan(10);
        }
      }),
      RUNS,
    );
  });

  it('keeps the number in the band even when asked for one outside it', () => {
    fc.assert(
      fc.property(
        holders(0, SESSIONS_PER_ENI - 1),
        reason,
        fc.oneof(fc.integer({ min: -5, max: 60 }), fc.double()),
        (list, r, preferred) => {
          const d = decideSlot(list, r, preferred);
          expect(d.kind).toBe('create');
          expect(d.kind === 'create' && inBand(r, d.sessionNumber)).toBe(true);
        },
      ),
      RUNS,
    );
    // Asking for 5 does not let a tag request outrank tag sessions: it is read as 20.
    const tags: SlotHolder[] = [20, 21, 22].map((n) => ({
      sessionId: `t${n}`,
      sessionNumber: n,
      managedReason: 'tag',
    }));
    expect(decideSlot(tags, 'tag', 5)).toEqual({ kind: 'replace', sessionNumber: 22, evict: tags[2] });
  });
});
