import { createHash } from 'node:crypto';
import { aggregate } from './aggregate.ts';
import { formatCidr, parseCidr } from './cidr.ts';
import { readExpiry } from './expiry.ts';
import type { Scope } from './scope.ts';
import { TAG, type Tags } from './tags.ts';

/**
 * What each request asked of a session, kept on the session as a tag of its own
 * (`mirrorops:claim:<hash of the request's key>` = `severity|expires-at|dns|remotes`; the key is
 * the finding's occurrence, or the tag for a tag opt-in, see `claimKeyOf` in mirror.ts).
 *
 * EC2 has no compare-and-set: two requests extending one session at once would each write the
 * expiry, number and filter they computed, and the last write would win. A claim is written under
 * a key no other request uses, so no write can erase another's; the session's expiry, number and
 * scope are then derived from all its claims, and a request re-reads after changing the number or
 * filter until what it sees agrees with every claim. The sweeper reads the expiry the same way, so a
 * lost write of `mirrorops:expires-at` never ends a session early.
 */
export interface Claim {
  severity?: number;
  expiresAt: string;
  scope: Scope;
}

export const CLAIM_PREFIX = 'mirrorops:claim:';
const MAX_VALUE = 256;

export const claimKey = (intentKey: string) =>
  `${CLAIM_PREFIX}${createHash('sha256').update(intentKey).digest('hex').slice(0, 16)}`;

/** The claim as a tag value; remotes are aggregated further until it fits in 256 characters. */
export function encodeClaim(claim: Claim): string {
  const head = `${claim.severity ?? ''}|${claim.expiresAt}|${claim.scope.dns ? 1 : 0}|`;
  const blocks = claim.scope.remotes.flatMap((r) => {
    const cidr = parseCidr(r.includes('/') ? r : `${r}/${r.includes(':') ? 128 : 32}`);
    return cidr ? [cidr] : [];
  });
  for (let budget = Math.max(2, blocks.length); budget >= 2; budget--) {
    const text = head + aggregate(blocks, budget).map(formatCidr).join(',');
    if (text.length <= MAX_VALUE) return text;
  }
  return `${head}0.0.0.0/0,::/0`;
}

export function decodeClaim(text: string): Claim | undefined {
  const [severity, expiresAt, dns, remotes] = text.split('|');
  if (expiresAt === undefined || Number.isNaN(Date.parse(expiresAt)) || remotes === undefined)
    return undefined;
  const s = severity === '' ? undefined : Number(severity);
  return {
    ...(s !== undefined && Number.isFinite(s) ? { severity: s } : {}),
    expiresAt,
    scope: { remotes: remotes === '' ? [] : remotes.split(','), dns: dns === '1' },
  };
}

export function claimsOf(tags: Tags): Claim[] {
  return Object.entries(tags).flatMap(([key, value]) => {
    if (!key.startsWith(CLAIM_PREFIX)) return [];
    const claim = decodeClaim(value);
    return claim ? [claim] : [];
  });
}

const later = (a: string, b: string) => ((readExpiry(a) ?? 0) >= (readExpiry(b) ?? 0) ? a : b);

/**
 * When a session expires: the latest of its `mirrorops:expires-at` and its claims. Undefined
 * when neither is readable (the sweeper treats that as expired).
 */
export function sessionExpiry(tags: Tags): string | undefined {
  const candidates = [tags[TAG.expiresAt], ...claimsOf(tags).map((c) => c.expiresAt)].filter(
    (t): t is string => readExpiry(t) !== undefined,
  );
  return candidates.length === 0 ? undefined : candidates.reduce(later);
}

/** Everything the claims ask for together: the highest severity, the latest expiry, all scopes. */
export function mergeClaims(claims: readonly Claim[]): Claim | undefined {
  if (claims.length === 0) return undefined;
  const severities = claims.flatMap((c) => (c.severity === undefined ? [] : [c.severity]));
  return {
    ...(severities.length > 0 ? { severity: Math.max(...severities) } : {}),
    expiresAt: claims.map((c) => c.expiresAt).reduce(later),
    scope: {
      remotes: claims.flatMap((c) => c.scope.remotes),
      dns: claims.some((c) => c.scope.dns),
    },
  };
}
