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

/** The lifetime for a finding of this severity, within the cap. */
export function lifetimeForSeverity(policy: ExpiryPolicy, severity: number): number {
  const tiers = [...policy.bySeverity].sort((a, b) => b.minSeverity - a.minSeverity);
  const tier = tiers.find((t) => severity >= t.minSeverity);
  return Math.min(tier?.ms ?? policy.defaultMs, policy.maxMs);
}

/** `start + lifetime`, never more than the cap from `start`. */
export function expiryFrom(policy: ExpiryPolicy, start: Date, lifetimeMs: number): Date {
  return new Date(start.getTime() + Math.min(lifetimeMs, policy.maxMs));
}

/** Whether a session with this `mirrorops:expires-at` value is due for removal at `now`. */
export function isExpired(expiresAt: string | undefined, now: Date): boolean {
  if (expiresAt === undefined) return false;
  const t = Date.parse(expiresAt);
  // An unreadable expiry on a managed session is treated as expired: nothing mirrors forever.
  return Number.isNaN(t) || t <= now.getTime();
}
