import { randomUUID } from 'node:crypto';
import type { FilterView } from './aws/ec2.ts';
import { clientToken, errorName } from './aws/errors.ts';
import type { FilterSpec } from './domain/scope.ts';
import { isManaged, TAG, type Tags } from './domain/tags.ts';
import type { MirrorDeps } from './mirror.ts';

/**
 * Filters by content hash for one request: found ones are reused (and completed if a crash left
 * rules missing); a missing one is created once, however many ENIs need it.
 */
export class FilterCache {
  private readonly known = new Map<string, FilterView>();
  /** Filters whose id alone is known (from a remembered session), not their rules. */
  private readonly noted = new Map<string, string>();
  /** Hashes already looked up: what they found is in `known`. */
  private readonly lookedUp = new Set<string>();
  private readonly pending = new Map<string, Promise<{ id: string; ready: Promise<void> }>>();

  /** `found`: what a look-up of `hash` found, when the request's first read made one. */
  constructor(
    private readonly deps: MirrorDeps,
    found: FilterView[],
    hash: string | undefined,
  ) {
    if (hash !== undefined) this.take(hash, found);
  }

  idFor(hash: string): string | undefined {
    return this.known.get(hash)?.id ?? this.noted.get(hash);
  }

  noteId(hash: string, id: string): void {
    this.noted.set(hash, id);
  }

  forget(hash: string): void {
    this.known.delete(hash);
    this.noted.delete(hash);
    this.lookedUp.delete(hash);
    this.pending.delete(hash);
  }

  /**
   * The oldest managed filter of a hash is the one used, so racing requests settle on the same one;
   * a filter someone else made with the same description is never reused (nor given rules).
   */
  private take(hash: string, found: readonly FilterView[]): FilterView | undefined {
    this.lookedUp.add(hash);
    const [first] = found
      .filter((f) => isManaged(f.tags) && f.tags[TAG.filterHash] === hash)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    if (first) this.known.set(hash, first);
    return first;
  }

  ensure(hash: string, spec: FilterSpec): Promise<{ id: string; ready: Promise<void> }> {
    let p = this.pending.get(hash);
    if (!p) {
      p = this.build(hash, spec);
      this.pending.set(hash, p);
      // A failed build is not cached: the next ENI or attempt tries again.
      p.catch(() => this.pending.delete(hash));
    }
    return p;
  }

  private async build(hash: string, spec: FilterSpec): Promise<{ id: string; ready: Promise<void> }> {
    const { ec2, now } = this.deps;
    let filter = this.known.get(hash);
    // A scope other than the request's own (claims merged) may have its filter already.
    if (!filter && !this.lookedUp.has(hash)) filter = this.take(hash, await ec2.filtersByHash(hash));
    if (!filter) {
      const created = now();
      const tags: Tags = {
        [TAG.managed]: 'true',
        [TAG.filterHash]: hash,
        [TAG.createdAt]: created.toISOString(),
      };
      let id: string;
      try {
        id = await ec2.createFilter(hash, tags, `mof-${hash}-${Math.floor(created.getTime() / 60_000)}`);
      } catch (error) {
        if (errorName(error) !== 'IdempotentParameterMismatch') throw error;
        // Another request created this filter in the same minute: use it.
        const existing = this.take(hash, await ec2.filtersByHash(hash));
        id = existing
          ? existing.id
          : await ec2.createFilter(hash, tags, `mof-${hash}-${randomUUID().slice(0, 8)}`);
        if (existing) filter = existing;
      }
      filter ??= { id, tags, rules: [], networkServices: [] };
      this.known.set(hash, filter);
    }
    const have = filter;
    const missing = spec.rules.filter(
      (want) =>
        !have.rules.some(
          (r) =>
            r.direction === want.direction &&
            r.ruleNumber === want.ruleNumber &&
            r.sourceCidrBlock === want.sourceCidrBlock &&
            r.destinationCidrBlock === want.destinationCidrBlock,
        ),
    );
    const work: Promise<void>[] = missing.map((rule) =>
      ec2
        .addRule(have.id, rule, clientToken('mor', `${have.id}|${rule.direction}|${rule.ruleNumber}`))
        .catch((error: unknown) => {
          // Written by a racing request between our read and our write: the rule is there.
          if (errorName(error) !== 'TrafficMirrorFilterRuleAlreadyExists') throw error;
        }),
    );
    if (spec.networkServices.length > 0 && !have.networkServices.includes('amazon-dns')) {
      work.push(ec2.enableDns(have.id));
    }
    const ready = Promise.all(work).then(() => undefined);
    ready.catch(() => undefined); // awaited by the session paths; never an unhandled rejection
    return { id: have.id, ready };
  }
}
