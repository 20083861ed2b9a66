/**
 * Session numbers and the three slots of an ENI.
 *
 * AWS evaluates an ENI's sessions by ascending session number and mirrors each packet once, to
 * the first session whose filter accepts it; an ENI has at most three sessions
 * (traffic-mirroring-sessions.html, traffic-mirroring-limits.html). So priority is the session
 * number: each reason gets a band, incidents first, and within the GuardDuty band higher
 * severity takes a lower number.
 */
export type Reason = 'guardduty' | 'manual' | 'tag' | 'launch';

export const REASONS: readonly Reason[] = ['guardduty', 'manual', 'tag', 'launch'];
export const SESSIONS_PER_ENI = 3;

const BANDS: Record<Reason, [number, number]> = {
  guardduty: [1, 9],
  manual: [10, 19],
  tag: [20, 29],
  launch: [30, 39],
};

export const bandOf = (reason: Reason): [number, number] => BANDS[reason];

/**
 * The session number a request asks for. GuardDuty: severity 9 and above (critical) gets 1,
 * 8.x gets 2, down to 9 for severities below 2 (severity bands: guardduty_findings-severity.html).
 * An unknown severity ranks lowest; an infinite one highest, so a higher severity never gets a
 * higher number. Other reasons take the first number of their band.
 */
export function preferredNumber(reason: Reason, severity?: number): number {
  if (reason !== 'guardduty') return BANDS[reason][0];
  const s = severity === undefined || Number.isNaN(severity) ? 0 : severity;
  return Math.min(9, Math.max(1, 10 - Math.floor(s)));
}

/** A session already on the ENI, as the planner sees it. */
export interface SlotHolder {
  sessionId: string;
  sessionNumber: number;
  /** Present only for sessions carrying `mirrorops:managed=true`. */
  managedReason?: Reason;
}

export type SlotDecision =
  | { kind: 'create'; sessionNumber: number }
  | { kind: 'replace'; sessionNumber: number; evict: SlotHolder }
  | { kind: 'reject'; reason: string };

/**
 * Where a new session of `reason` wanting `preferred` goes on an ENI holding `holders`.
 * - A free slot: the preferred number, or the nearest free one in the band (lower first, then higher).
 * - No free slot: the managed session with the highest number (lowest priority) gives way, if its
 *   number is higher than what is asked for. Sessions mirrorops did not create are never touched.
 * - Otherwise a rejection that says why.
 * A `preferred` outside the reason's band is read as the nearest end of it (a tag request cannot
 * outrank incidents by asking for 1), and a fractional one as the next whole number.
 * The new session never ends up with a higher number than the one it displaces.
 */
export function decideSlot(holders: readonly SlotHolder[], reason: Reason, preferred: number): SlotDecision {
  const [low, high] = BANDS[reason];
  const wanted = Number.isNaN(preferred) ? high : Math.min(high, Math.max(low, Math.ceil(preferred)));
  let evict: SlotHolder | undefined;
  if (holders.length >= SESSIONS_PER_ENI) {
    const managed = holders.filter((h) => h.managedReason !== undefined && h.sessionNumber > wanted);
    evict = managed.sort((a, b) => b.sessionNumber - a.sessionNumber)[0];
    if (!evict) {
      const unmanaged = holders.filter((h) => h.managedReason === undefined).length;
      return {
        kind: 'reject',
        reason:
          `all ${SESSIONS_PER_ENI} session slots are taken by sessions of equal or higher priority` +
          (unmanaged > 0 ? ` (${unmanaged} not managed by mirrorops)` : ''),
      };
    }
  }
  const taken = new Set(holders.filter((h) => h !== evict).map((h) => h.sessionNumber));
  const number = nearestFree(taken, wanted, low, high);
  if (number === undefined)
    return { kind: 'reject', reason: `no free session number in the ${reason} band ${low}-${high}` };
  return evict
    ? { kind: 'replace', sessionNumber: number, evict }
    : { kind: 'create', sessionNumber: number };
}

function nearestFree(
  taken: ReadonlySet<number>,
  preferred: number,
  low: number,
  high: number,
): number | undefined {
  for (let distance = 0; distance <= high - low; distance++) {
    for (const candidate of [preferred - distance, preferred + distance]) {
      if (candidate >= low && candidate <= high && !taken.has(candidate)) return candidate;
    }
  }
  return undefined;
}
