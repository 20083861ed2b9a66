import { type AuditEvent, sessionStopped } from './aws/audit.ts';
import type { SessionView } from './aws/ec2.ts';
import { errorName } from './aws/errors.ts';
import { sessionExpiry } from './domain/claims.ts';
import { isExpired } from './domain/expiry.ts';
import { isManaged, TAG } from './domain/tags.ts';
import { forgetSession, type MirrorDeps } from './mirror.ts';
import { Pace } from './runtime/pace.ts';

export interface SweepResult {
  /** Managed sessions found past their expiry. */
  expired: number;
  deleted: string[];
  /** Expired sessions left for the next run because time ran out. */
  deferred: number;
  /** Sessions changed after they were listed (extended, or mirrorops:managed removed): kept. */
  kept: number;
  filtersDeleted: string[];
  failures: { id: string; error: string }[];
}

export interface SweepOptions {
  /** Milliseconds left in this invocation; the sweep stops starting work when it nears zero. */
  remainingMs: () => number;
  /** Stop this long before the deadline, for the last calls to finish. */
  marginMs?: number;
}

const SWEEP_BATCH = 50;
const SWEEP_CONCURRENCY = 8;

/**
 * Removes managed sessions past `mirrorops:expires-at`, then managed filters that no session uses
 * and that are older than the grace period (a filter being set up for a session is left alone).
 * Nothing without `mirrorops:managed=true` is touched. Deletions are paced to the configured
 * rate; when time runs short the rest waits for the next run, and nothing is lost: state is
 * only the tags, read again each time. Each batch is read again just before it is deleted, so a
 * session extended since the listing is kept; a request that finds a session at its expiry renews
 * it rather than extending it (mirror.ts), so no extension is deleted with a session swept here.
 */
export async function sweep(deps: MirrorDeps, options: SweepOptions): Promise<SweepResult> {
  const { ec2, config, now } = deps;
  const margin = options.marginMs ?? 5_000;
  const timeLeft = () => options.remainingMs() > margin;
  const pace = new Pace(config.sweepRatePerSecond, Math.max(1, Math.ceil(config.sweepRatePerSecond)));
  const result: SweepResult = {
    expired: 0,
    deleted: [],
    deferred: 0,
    kept: 0,
    filtersDeleted: [],
    failures: [],
  };

  const expired: SessionView[] = [];
  const filterUse = new Map<string, number>();
  const at = now();
  // Only the account's own sessions: the owner of a target also sees the sessions member accounts
  // created on it, and only their owners can delete them. Without a known account id (a schedule
  // event without one), all are listed and another account's session shows up as a failure.
  const owner = /^\d{12}$/.test(deps.account) ? deps.account : undefined;
  for await (const page of ec2.sessionPages(owner)) {
    for (const s of page) {
      filterUse.set(s.filterId, (filterUse.get(s.filterId) ?? 0) + 1);
      if (isManaged(s.tags) && isExpired(sessionExpiry(s.tags), at)) expired.push(s);
    }
  }
  result.expired = expired.length;

  const stopped: AuditEvent[] = [];
  for (let i = 0; i < expired.length; i += SWEEP_BATCH) {
    if (!timeLeft()) {
      result.deferred = expired.length - i;
      break;
    }
    const batch = expired.slice(i, i + SWEEP_BATCH);
    const fresh = new Map((await ec2.sessionsById(batch.map((s) => s.id))).map((s) => [s.id, s]));
    const due = batch.filter((s) => {
      const current = fresh.get(s.id);
      if (!current) return false; // already gone
      // Extended since the listing, or no longer ours (someone removed mirrorops:managed): kept.
      if (!isManaged(current.tags) || !isExpired(sessionExpiry(current.tags), at)) {
        result.kept++;
        return false;
      }
      return true;
    });
    let next = 0;
    let started = 0;
    const worker = async () => {
      while (next < due.length) {
        // Claimed before the wait for the pace, so no worker spends a token on nothing at the end
        // of a batch; time is checked after the wait, which can be long with many workers queued,
        // so that no deletion starts past the margin and outlives the invocation.
        const s = due[next++] as SessionView;
        await pace.take();
        if (!timeLeft()) return;
        started++;
        try {
          await ec2.deleteSession(s.id);
        } catch (error) {
          if (errorName(error) !== 'InvalidTrafficMirrorSessionId.NotFound') {
            result.failures.push({ id: s.id, error: `${errorName(error)}: ${(error as Error).message}` });
            continue;
          }
        }
        result.deleted.push(s.id);
        forgetSession(deps, s);
        filterUse.set(s.filterId, (filterUse.get(s.filterId) ?? 1) - 1);
        const expiresAt = s.tags[TAG.expiresAt];
        stopped.push(sessionStopped(deps, s, 'expired', expiresAt ? { expiresAt } : {}));
      }
    };
    await Promise.all(Array.from({ length: SWEEP_CONCURRENCY }, worker));
    // Published batch by batch: a sweep that fails or runs out of time later has already told of
    // every session it deleted (publish itself never throws).
    if (stopped.length > 0) await deps.audit.publish(stopped.splice(0));
    const unfinished = due.length - started;
    if (unfinished > 0) {
      result.deferred = unfinished + (expired.length - i - batch.length);
      break;
    }
  }

  // Filters: managed, unused, and past the grace period.
  if (timeLeft()) {
    pages: for await (const page of ec2.managedFilterPages()) {
      for (const f of page) {
        if ((filterUse.get(f.id) ?? 0) > 0) continue;
        const created = Date.parse(f.tags[TAG.createdAt] ?? '');
        if (!Number.isNaN(created) && at.getTime() - created < config.filterGraceMs) continue;
        await pace.take();
        if (!timeLeft()) break pages;
        try {
          await ec2.deleteFilter(f.id);
          result.filtersDeleted.push(f.id);
        } catch (error) {
          const name = errorName(error);
          if (name === 'InvalidTrafficMirrorFilterId.NotFound') continue;
          // A session started using it after we listed: it stays.
          if (name === 'TrafficMirrorFilterInUse') continue;
          result.failures.push({ id: f.id, error: `${name}: ${(error as Error).message}` });
        }
      }
    }
  }
  return result;
}
