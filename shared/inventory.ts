import type { Ec2Gateway, FilterView, SessionView } from './aws/ec2.ts';
import { sessionExpiry } from './domain/claims.ts';
import { readExpiry } from './domain/expiry.ts';
import { scopeOfFilter } from './domain/scope.ts';
import { isManaged, TAG } from './domain/tags.ts';

/** One mirror session as an operator wants to see it. */
export interface MirrorRow {
  sessionId: string;
  sessionNumber: number;
  networkInterfaceId: string;
  instanceId?: string;
  managed: boolean;
  reason?: string;
  intent?: string;
  targetId: string;
  filterId: string;
  /** What the filter mirrors, in words: `all traffic`, `198.51.100.7/32`, `dns + 10.0.0.2/32`. */
  scope: string;
  expiresAt?: string;
}

/** What a filter mirrors, in a few words. */
export function describeScope(filter: FilterView | undefined): string {
  if (!filter) return 'unknown filter';
  const scope = scopeOfFilter(filter);
  const all = scope.remotes.includes('0.0.0.0/0') && scope.remotes.includes('::/0');
  const parts = [...(scope.dns ? ['dns'] : []), ...(all ? ['all traffic'] : scope.remotes)];
  return parts.length > 0 ? parts.join(' + ') : 'nothing (no rules)';
}

/**
 * Every session of the account and Region, mirrorops' own first (by instance, then number), with
 * what its filter mirrors and when it expires. Sessions mirrorops did not create are listed too,
 * marked, because they hold slots. With `owner`, only that account's: a target's owner also sees
 * the sessions other accounts made on it, whose filters only those accounts can read.
 */
export async function inventory(
  ec2: Ec2Gateway,
  options: { includeUnmanaged?: boolean; owner?: string } = {},
): Promise<MirrorRow[]> {
  const sessions: SessionView[] = [];
  for await (const page of ec2.sessionPages(options.owner)) sessions.push(...page);
  const shown = options.includeUnmanaged ? sessions : sessions.filter((s) => isManaged(s.tags));
  const filters = new Map(
    (await ec2.filtersById([...new Set(shown.map((s) => s.filterId))])).map((f) => [f.id, f] as const),
  );
  return shown
    .map((s): MirrorRow => {
      const managed = isManaged(s.tags);
      const expiresAt = managed ? sessionExpiry(s.tags) : undefined;
      const instanceId = s.tags[TAG.instance];
      const reason = s.tags[TAG.reason];
      const intent = s.tags[TAG.intent];
      return {
        sessionId: s.id,
        sessionNumber: s.number,
        networkInterfaceId: s.eniId,
        ...(instanceId ? { instanceId } : {}),
        managed,
        ...(managed && reason ? { reason } : {}),
        ...(managed && intent ? { intent } : {}),
        targetId: s.targetId,
        filterId: s.filterId,
        scope: describeScope(filters.get(s.filterId)),
        ...(expiresAt ? { expiresAt } : {}),
      };
    })
    .sort(
      (a, b) =>
        Number(b.managed) - Number(a.managed) ||
        (a.instanceId ?? '').localeCompare(b.instanceId ?? '') ||
        a.networkInterfaceId.localeCompare(b.networkInterfaceId) ||
        a.sessionNumber - b.sessionNumber,
    );
}

/** `5h 59m`, `12m`, `expired 3m ago`: how long until an instant, for people. */
export function expiresIn(expiresAt: string | undefined, now: Date): string {
  const t = readExpiry(expiresAt);
  if (t === undefined) return '-';
  const ms = t - now.getTime();
  const minutes = Math.floor(Math.abs(ms) / 60_000);
  const text =
    minutes >= 60 * 24
      ? `${Math.floor(minutes / 1440)}d ${Math.floor((minutes % 1440) / 60)}h`
      : minutes >= 60
        ? `${Math.floor(minutes / 60)}h ${minutes % 60}m`
        : `${minutes}m`;
  return ms >= 0 ? text : `expired ${text} ago`;
}
