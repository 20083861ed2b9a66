import { randomUUID } from 'node:crypto';
import type { Ec2Gateway, FilterView } from './aws/ec2.ts';
import { clientToken, errorName } from './aws/errors.ts';
import { chooseFilter, missingRules } from './domain/plan.ts';
import type { FilterSpec } from './domain/scope.ts';
import { TAG, type Tags } from './domain/tags.ts';

/** A filter a session can point at now; `ready` once its rules are all written. */
export interface FilterHandle {
  id: string;
  ready: Promise<void>;
}

/**
 * The ClientToken of a filter's create: its content hash and the hour. Within the hour every
 * request for that content sends the same token, so EC2 creates the filter once: a later request's
 * create is refused with IdempotentParameterMismatch (its `created-at` tag differs) and the look-up
 * beside it names the filter. The hour lets a filter the sweeper deleted be made again later.
 */
const filterToken = (hash: string, at: Date) => `mof-${hash}-${Math.floor(at.getTime() / 3_600_000)}`;

/**
 * Filters by content hash for one request: found ones are reused (and completed if a crash left
 * rules missing); a missing one is created once, however many ENIs need it.
 *
 * On the critical path the create is sent beside the look-up by hash (`speculate`), so a new
 * filter's rules go out with the sessions in the next wave. When the look-up finds an older filter
 * of the same content, that one is used (see `chooseFilter`).
 */
export class FilterCache {
  private readonly known = new Map<string, FilterView>();
  /** Filters whose id alone is known (from a remembered session), not their rules. */
  private readonly noted = new Map<string, string>();
  /** Hashes already looked up: what they found is in `known`. */
  private readonly lookedUp = new Set<string>();
  private readonly pending = new Map<string, Promise<FilterHandle>>();
  /** Hashes whose filter turned out deleted: their next create takes a token of its own. */
  private readonly stale = new Set<string>();

  constructor(
    private readonly ec2: Ec2Gateway,
    private readonly now: () => Date,
  ) {}

  idFor(hash: string): string | undefined {
    return this.known.get(hash)?.id ?? this.noted.get(hash);
  }

  noteId(hash: string, id: string): void {
    this.noted.set(hash, id);
  }

  /** What a look-up of `hash` found, when the request's first read made one. */
  found(hash: string, found: readonly FilterView[]): void {
    this.take(hash, found);
  }

  forget(hash: string): void {
    this.known.delete(hash);
    this.noted.delete(hash);
    this.lookedUp.delete(hash);
    this.pending.delete(hash);
    this.stale.add(hash);
  }

  private take(hash: string, found: readonly FilterView[]): FilterView | undefined {
    this.lookedUp.add(hash);
    const chosen = chooseFilter(hash, found);
    if (chosen) this.known.set(hash, chosen);
    return chosen;
  }

  /**
   * Sends the create of `hash`'s filter now, beside `lookup` (the read by hash in flight): `ensure`
   * then has its answer one round trip earlier than a create sent after the read.
   */
  speculate(hash: string, spec: FilterSpec, lookup: Promise<FilterView[]>): void {
    if (this.pending.has(hash)) return;
    const tags = { ...this.tags(), [TAG.filterHash]: hash };
    const created = this.ec2.createFilter(hash, tags, filterToken(hash, this.now())).then(
      (id): string | undefined => id,
      (error: unknown) => {
        if (errorName(error) === 'IdempotentParameterMismatch') return undefined; // made earlier this hour
        throw error;
      },
    );
    created.catch(() => undefined); // awaited below; a failed look-up must not leave it unhandled
    const handle = Promise.all([lookup, created]).then(([found, id]) => {
      const existing = this.take(hash, found);
      if (existing) {
        // A filter this create made beside an older one of the same content (made in an earlier
        // hour) goes unused: the sweeper removes it once its grace period is over.
        return this.complete(existing, spec);
      }
      if (id === undefined) return this.build(hash, spec); // the hour's filter is gone: look again
      const filter: FilterView = { id, tags, rules: [], networkServices: [] };
      this.known.set(hash, filter);
      return this.complete(filter, spec);
    });
    this.hold(hash, handle);
  }

  ensure(hash: string, spec: FilterSpec): Promise<FilterHandle> {
    return this.pending.get(hash) ?? this.hold(hash, this.build(hash, spec));
  }

  private hold(hash: string, handle: Promise<FilterHandle>): Promise<FilterHandle> {
    this.pending.set(hash, handle);
    // A failed build is not cached: the next ENI or attempt tries again.
    handle.catch(() => {
      if (this.pending.get(hash) === handle) this.pending.delete(hash);
    });
    return handle;
  }

  private tags(): Tags {
    return { [TAG.managed]: 'true', [TAG.createdAt]: this.now().toISOString() };
  }

  private async build(hash: string, spec: FilterSpec): Promise<FilterHandle> {
    let filter = this.known.get(hash);
    // A scope other than the request's own (claims merged) may have its filter already.
    if (!filter && !this.lookedUp.has(hash)) filter = this.take(hash, await this.ec2.filtersByHash(hash));
    if (!filter) {
      const tags = { ...this.tags(), [TAG.filterHash]: hash };
      const token = this.stale.has(hash) ? `mof-${randomUUID()}` : filterToken(hash, this.now());
      let id: string;
      try {
        id = await this.ec2.createFilter(hash, tags, token);
      } catch (error) {
        if (errorName(error) !== 'IdempotentParameterMismatch') throw error;
        // Another request created this hour's filter: use it, unless it is gone already.
        const existing = this.take(hash, await this.ec2.filtersByHash(hash));
        id = existing ? existing.id : await this.ec2.createFilter(hash, tags, `mof-${randomUUID()}`);
        if (existing) filter = existing;
      }
      filter ??= { id, tags, rules: [], networkServices: [] };
      this.known.set(hash, filter);
    }
    return this.complete(filter, spec);
  }

  /** Writes the rules and services the filter lacks; the session may point at it meanwhile. */
  private complete(filter: FilterView, spec: FilterSpec): FilterHandle {
    const { rules, enableDns } = missingRules(filter, spec);
    const work: Promise<void>[] = rules.map((rule) =>
      this.ec2
        .addRule(filter.id, rule, clientToken('mor', `${filter.id}|${rule.direction}|${rule.ruleNumber}`))
        .catch((error: unknown) => {
          // Written by a racing request between our read and our write: the rule is there.
          if (errorName(error) !== 'TrafficMirrorFilterRuleAlreadyExists') throw error;
        }),
    );
    if (enableDns) work.push(this.ec2.enableDns(filter.id));
    const ready = Promise.all(work).then(() => undefined);
    ready.catch(() => undefined); // awaited by the session paths; never an unhandled rejection
    return { id: filter.id, ready };
  }
}
