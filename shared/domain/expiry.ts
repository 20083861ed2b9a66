/**
 * When a session ends. GuardDuty severity bands are low 1-3.9, medium 4-6.9, high 7-8.9 and
 * critical 9+ (guardduty_findings-severity.html); the policy maps a minimum severity to a
 * lifetime, and every expiry is capped so that nothing mirrors forever by mistake.
 */
export interface ExpiryPolicy {
  /** Tiers by minimum severity; the first whose minimum the severity reaches applies. */
  bySeverity: readonly { minSeverity: number; ms: number }[];
  /** For sessions without a severity (tag and launch reasons) when no duration is given. */
  defaultMs: number;
  maxMs: number;
}

const HOUR = 3_600_000;

export const DEFAULT_EXPIRY: ExpiryPolicy = {
  bySeverity: [
    { minSeverity: 7, ms: 24 * HOUR },
    { minSeverity: 4, ms: 6 * HOUR },
    { minSeverity: 0, ms: 1 * HOUR },
  ],
  defaultMs: 24 * HOUR,
  maxMs: 7 * 24 * HOUR,
};

/**
 * The lifetime for a finding of this severity, within the cap: the tier with the highest minimum
 * the severity reaches. A severity below every tier (or NaN) gets the lowest tier, so a higher
 * severity never gets a shorter lifetime; `defaultMs` applies only when there are no tiers.
 */
export function lifetimeForSeverity(policy: ExpiryPolicy, severity: number): number {
  const tiers = [...policy.bySeverity].sort((a, b) => b.minSeverity - a.minSeverity);
  const tier = tiers.find((t) => severity >= t.minSeverity) ?? tiers[tiers.length - 1];
  return Math.min(tier?.ms ?? policy.defaultMs, policy.maxMs);
}

/**
 * `start + lifetime`, never more than the cap from `start`. `start` is the event's own time, so a
 * redelivered event (EventBridge delivers at least once) computes the same expiry.
 */
export function expiryFrom(policy: ExpiryPolicy, start: Date, lifetimeMs: number): Date {
  return new Date(start.getTime() + Math.min(lifetimeMs, policy.maxMs));
}

/** An ISO-8601 date and time with a zone, as `Date.prototype.toISOString` writes it. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * The instant a `mirrorops:expires-at` value names, in ms since the epoch, or undefined when it is
 * missing or not an ISO-8601 date and time with a zone. Date.parse alone is too lenient for this:
 * it reads `99999` as the year 99999, and a time without a zone in the machine's local time.
 */
export function readExpiry(value: string | undefined): number | undefined {
  const text = value?.trim();
  if (text === undefined || !INSTANT.test(text)) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Whether a managed session with this `mirrorops:expires-at` value is due for removal at `now`;
 * due exactly at the instant. A missing or unreadable value (see readExpiry) counts as expired,
 * so that nothing mirrors forever: every session mirrorops creates carries the tag (DESIGN.md).
 */
export function isExpired(expiresAt: string | undefined, now: Date): boolean {
  const t = readExpiry(expiresAt);
  return t === undefined || t <= now.getTime();
}
