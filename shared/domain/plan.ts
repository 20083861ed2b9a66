import type { FilterView, SessionView } from '../aws/ec2.ts';
import {
  CLAIM_PREFIX,
  type Claim,
  claimKey,
  claimsOf,
  decodeClaim,
  encodeClaim,
  mergeClaims,
  sessionExpiry,
} from './claims.ts';
import { isExpired } from './expiry.ts';
import type { MirrorIntent } from './intent.ts';
import { compileFilter, type FilterSpec, filterHash, type Scope } from './scope.ts';
import { decideSlot, preferredNumber, REASONS, type Reason } from './slots.ts';
import { isManaged, TAG, type Tags } from './tags.ts';

/**
 * What to do on each ENI of a request, decided from what was read and nothing else: no network,
 * no clock but the `now` it is given. shared/mirror.ts reads, calls these, and carries out what
 * they say wave by wave; every decision about sessions, numbers, claims and filters is here.
 */

/** What a request wants of every ENI it names. */
export interface Desired {
  intent: MirrorIntent;
  scope: Scope;
  spec: FilterSpec;
  hash: string;
  expiresAt: string;
  /** The instance's type, from the event or the instance read; what a refusal names. */
  instanceType: string | undefined;
}

export function desiredOf(
  intent: MirrorIntent,
  scope: Scope,
  expiresAt: string,
  instanceType: string | undefined,
): Desired {
  const spec = compileFilter(scope);
  return { intent, scope, spec, hash: filterHash(spec), expiresAt, instanceType };
}

/**
 * A session this close to its expiry, or past it, is replaced rather than extended: the sweeper
 * deletes what it read as expired some time after reading it, and an extension written in between
 * would be deleted with the session. A minute is far more than that time and any clock skew
 * between Lambda containers.
 */
const ENDING_MS = 60_000;
export const nearExpiry = (s: SessionView, now: Date) =>
  isExpired(sessionExpiry(s.tags), new Date(now.getTime() + ENDING_MS));

export const managedReason = (s: SessionView): Reason | undefined => {
  const reason = s.tags[TAG.reason] as Reason | undefined;
  return isManaged(s.tags) && reason && REASONS.includes(reason) ? reason : undefined;
};

/** This reason's sessions of this instance on the ENI, lowest number first (the one kept). */
export const ownSessions = (onEni: readonly SessionView[], intent: MirrorIntent) =>
  onEni
    .filter((s) => managedReason(s) === intent.reason && s.tags[TAG.instance] === intent.instanceId)
    .sort((a, b) => a.number - b.number || (a.id < b.id ? -1 : 1));

/**
 * The tag a request's claim is written under. Each occurrence of a finding (its own `updatedAt`)
 * has a key of its own, so two occurrences handled at once, by two containers, each add their
 * claim and neither can overwrite the other's with an earlier expiry; a redelivery of the same
 * occurrence writes the same key again. A claim that replaces (a tag's new value) keeps one key
 * for the request, so the new value moves the expiry in as well as out.
 */
export const claimKeyOf = (intent: MirrorIntent) =>
  claimKey(intent.replaceClaim ? intent.key : `${intent.key}@${intent.startAt.toISOString()}`);

const claimOf = (desired: Desired): Claim => ({
  ...(desired.intent.severity === undefined ? {} : { severity: desired.intent.severity }),
  expiresAt: desired.expiresAt,
  scope: desired.scope,
});

/** The tags a new session carries: what it is for, until when, and this request's claim. */
export function sessionTags(desired: Desired): Tags {
  const { intent } = desired;
  return {
    [TAG.managed]: 'true',
    [TAG.reason]: intent.reason,
    [TAG.expiresAt]: desired.expiresAt,
    [TAG.intent]: intent.key.slice(0, 256),
    [TAG.instance]: intent.instanceId,
    [TAG.filterHash]: desired.hash,
    ...(intent.severity === undefined ? {} : { [TAG.severity]: String(intent.severity) }),
    [claimKeyOf(intent)]: encodeClaim(claimOf(desired)),
  };
}

/** Claims on one session before they are folded into one (EC2 allows 50 tags on a resource). */
const FOLD_AT = 30;

/** What adding this request's claim to a session comes to: the tags to write and what they ask for. */
export interface Extension {
  merged: Claim;
  spec: FilterSpec;
  hash: string;
  /** The session number the merged severity wants (the current one may be lower already). */
  number: number;
  /** Tags to write: the claim, those handed over by duplicates, and the summary tags that changed. */
  write: Record<string, string>;
  /** Past FOLD_AT claims: the session's other claims, written as one, then removed by value. */
  folding?: { key: string; value: string }[];
}

/**
 * Adds this request's claim to a session (and the claims of its duplicates): the expiry, severity
 * and scope of all its claims together (see domain/claims.ts), and the tags that differ.
 */
export function planExtension(
  desired: Desired,
  own: SessionView,
  duplicates: readonly SessionView[],
): Extension {
  const { intent } = desired;
  const key = claimKeyOf(intent);
  const mine = claimOf(desired);
  // A late or repeated delivery of the same request keeps what its claim already holds.
  const earlier = own.tags[key] === undefined ? undefined : decodeClaim(own.tags[key]);
  const claim = encodeClaim(earlier && !intent.replaceClaim ? (mergeClaims([earlier, mine]) ?? mine) : mine);
  const handedOver: Record<string, string> = {};
  for (const dup of duplicates) {
    for (const [k, v] of Object.entries(dup.tags)) if (k.startsWith(CLAIM_PREFIX)) handedOver[k] = v;
  }
  const tags = { ...handedOver, ...own.tags, [key]: claim };
  const merged = mergeClaims(claimsOf(tags));
  if (!merged) throw new Error(`session ${own.id} has no readable claim`);
  const spec = compileFilter(merged.scope);

  const write: Record<string, string> = {};
  // Many findings on one instance would outgrow EC2's 50 tags: past FOLD_AT claims, the others
  // are written as one combined claim, then removed by value (DeleteTags with a value removes the
  // tag only if it still has that value, so a claim rewritten meanwhile stays).
  const others = Object.fromEntries(
    Object.entries(tags).filter(([k]) => k.startsWith(CLAIM_PREFIX) && k !== key),
  );
  const combined = Object.keys(others).length >= FOLD_AT ? mergeClaims(claimsOf(others)) : undefined;
  if (combined) {
    write[claimKey(`folded:${Object.keys(others).sort().join(',')}`)] = encodeClaim(combined);
    if (own.tags[key] !== claim) write[key] = claim;
  } else {
    for (const [k, v] of Object.entries({ ...handedOver, [key]: claim })) if (own.tags[k] !== v) write[k] = v;
  }
  if (own.tags[TAG.expiresAt] !== merged.expiresAt) write[TAG.expiresAt] = merged.expiresAt;
  if (merged.severity !== undefined && own.tags[TAG.severity] !== String(merged.severity)) {
    write[TAG.severity] = String(merged.severity);
  }
  if (own.tags[TAG.intent] !== intent.key.slice(0, 256)) write[TAG.intent] = intent.key.slice(0, 256);
  return {
    merged,
    spec,
    hash: filterHash(spec),
    number: preferredNumber(intent.reason, merged.severity),
    write,
    ...(combined
      ? {
          folding: Object.entries(others)
            .filter(([k, v]) => own.tags[k] === v)
            .map(([k, v]) => ({ key: k, value: v })),
        }
      : {}),
  };
}

/** What to do on one ENI. Sessions in `retire` (this reason's, at their expiry) are deleted first. */
export type EniPlan =
  | { kind: 'unchanged'; session: SessionView }
  | { kind: 'rejected'; reason: string }
  | {
      kind: 'start';
      retire: SessionView[];
      number: number;
      /** A managed session of lower priority that gives its slot up (deleted before the create). */
      evict?: SessionView;
      tags: Tags;
      /**
       * What the session's ClientToken is derived from: racing requests that read the same sessions
       * compute the same one, so one creates and the others come back to extend it.
       */
      tokenSeed: string;
    }
  | {
      kind: 'extend';
      retire: SessionView[];
      session: SessionView;
      /** This reason's other sessions on the ENI (left by racing requests): they hand over and go. */
      duplicates: SessionView[];
      extension: Extension;
      /** The session must move to the filter of `extension.hash` (found or created first). */
      refilter: boolean;
      /** A higher priority is free: the number to move to. */
      renumber?: number;
    };

/**
 * One ENI's plan from its sessions as read. `filterIdFor` is what the request knows of filters by
 * hash (a session on an older filter of the same content moves to the one in use).
 */
export function planEni(
  desired: Desired,
  eniId: string,
  onEni: readonly SessionView[],
  now: Date,
  filterIdFor: (hash: string) => string | undefined,
): EniPlan {
  const { intent } = desired;
  const own = ownSessions(onEni, intent);
  if (own[0] && intent.onlyNew) return { kind: 'unchanged', session: own[0] };
  // A session at its expiry may be in the sweeper's hands, read as expired and about to be
  // deleted: an extension written now would go with it. It is replaced instead.
  const retire = own.filter((s) => nearExpiry(s, now));
  const rest = onEni.filter((s) => !retire.includes(s));
  const [keep, ...duplicates] = ownSessions(rest, intent);
  if (keep) {
    const extension = planExtension(desired, keep, duplicates);
    const knownId = filterIdFor(extension.hash);
    const refilter =
      keep.tags[TAG.filterHash] !== extension.hash || (knownId !== undefined && knownId !== keep.filterId);
    if (refilter) extension.write[TAG.filterHash] = extension.hash;
    // Higher priority: the lowest free number from the one wanted up to the current one.
    const taken = new Set(rest.filter((s) => s !== keep && !duplicates.includes(s)).map((s) => s.number));
    let renumber: number | undefined;
    for (let n = extension.number; n < keep.number && renumber === undefined; n++) {
      if (!taken.has(n)) renumber = n;
    }
    return {
      kind: 'extend',
      retire,
      session: keep,
      duplicates,
      extension,
      refilter,
      ...(renumber === undefined ? {} : { renumber }),
    };
  }
  const decision = decideSlot(
    rest.map((s) => {
      const reason = managedReason(s);
      return { sessionId: s.id, sessionNumber: s.number, ...(reason ? { managedReason: reason } : {}) };
    }),
    intent.reason,
    preferredNumber(intent.reason, intent.severity),
  );
  if (decision.kind === 'reject') return { kind: 'rejected', reason: decision.reason };
  const evict = decision.kind === 'replace' ? rest.find((s) => s.id === decision.evict.sessionId) : undefined;
  const state = rest
    .map((s) => s.id)
    .sort()
    .join(',');
  return {
    kind: 'start',
    retire,
    number: decision.sessionNumber,
    ...(evict ? { evict } : {}),
    tags: sessionTags(desired),
    tokenSeed: `${eniId}|${intent.reason}|${state}|${desired.expiresAt.slice(0, 13)}`,
  };
}

/**
 * The filter a request uses for a content hash, from the look-up by hash and the create sent
 * beside it (see FilterCache): the oldest managed filter of that hash, so racing requests settle on
 * the same one; else the one just created. A filter someone else made with the same description is
 * never used (nor given rules).
 */
export function chooseFilter(hash: string, found: readonly FilterView[]): FilterView | undefined {
  const age = (f: FilterView) => f.tags[TAG.createdAt] ?? '';
  const [first] = found
    .filter((f) => isManaged(f.tags) && f.tags[TAG.filterHash] === hash)
    .sort((a, b) => (age(a) < age(b) ? -1 : age(a) > age(b) ? 1 : a.id < b.id ? -1 : 1));
  return first;
}

/** The rules and services a filter lacks for a spec (a crash may have left a filter half-made). */
export function missingRules(
  filter: FilterView,
  spec: FilterSpec,
): { rules: FilterSpec['rules']; enableDns: boolean } {
  return {
    rules: spec.rules.filter(
      (want) =>
        !filter.rules.some(
          (r) =>
            r.direction === want.direction &&
            r.ruleNumber === want.ruleNumber &&
            r.sourceCidrBlock === want.sourceCidrBlock &&
            r.destinationCidrBlock === want.destinationCidrBlock,
        ),
    ),
    enableDns: spec.networkServices.length > 0 && !filter.networkServices.includes('amazon-dns'),
  };
}
