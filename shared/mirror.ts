import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditSink } from './aws/audit.ts';
import type { Ec2Gateway, FilterView, InstanceView, SessionView } from './aws/ec2.ts';
import { clientToken, errorName } from './aws/errors.ts';
import { formatAddress, parseCidr } from './domain/cidr.ts';
import {
  CLAIM_PREFIX,
  type Claim,
  claimKey,
  claimsOf,
  decodeClaim,
  encodeClaim,
  mergeClaims,
  sessionExpiry,
} from './domain/claims.ts';
import { sourceSupport } from './domain/eligibility.ts';
import { expiryFrom, isExpired } from './domain/expiry.ts';
import type { MirrorIntent } from './domain/intent.ts';
import { compileFilter, type FilterSpec, filterHash, type Scope } from './domain/scope.ts';
import { decideSlot, preferredNumber, REASONS, type Reason } from './domain/slots.ts';
import { isManaged, TAG, type Tags } from './domain/tags.ts';
import { FilterCache } from './filters.ts';
import type { Memory } from './memory.ts';
import { type Config, targetFor } from './runtime/config.ts';
import type { Logger } from './runtime/log.ts';

/** What the use cases need, passed in so tests give the real gateway pointed at the emulator. */
export interface MirrorDeps {
  account: string;
  region: string;
  ec2: Ec2Gateway;
  audit: AuditSink;
  config: Config;
  now: () => Date;
  log: Logger;
  /**
   * Takes work that must finish before the invocation ends but need not hold up the answer (the
   * audit events of a started session): the handler chain awaits it after the use case returns,
   * so the mirroring path is not one round trip longer. Without it, such work is awaited in place.
   */
  defer?: (work: Promise<unknown>) => void;
  /**
   * What this container remembers of the sessions it wrote (one per container, kept across
   * invocations): a repeat then writes its claim while it reads, in one round trip. Optional: without
   * it every request reads first.
   */
  memory?: Memory;
}

/** Runs `work` now, awaited in place or handed to `deps.defer`. */
async function deferrable(deps: MirrorDeps, work: Promise<unknown>): Promise<void> {
  if (deps.defer) deps.defer(work);
  else await work;
}

export type EniOutcome =
  | {
      eniId: string;
      status: 'started';
      sessionId: string;
      sessionNumber: number;
      expiresAt: string;
      /** A session of another reason that gave way to this one. */
      replaced?: string;
      /** This reason's session that was at its expiry: deleted, and this one started instead. */
      renewed?: string;
    }
  | {
      eniId: string;
      status: 'extended';
      sessionId: string;
      sessionNumber: number;
      expiresAt: string;
      widened: boolean;
    }
  | { eniId: string; status: 'unchanged'; sessionId: string; sessionNumber: number }
  | { eniId: string; status: 'skipped' | 'rejected'; reason: string };

export interface ApplyResult {
  instanceId: string;
  intent: string;
  expiresAt: string;
  filterId?: string;
  outcomes: EniOutcome[];
  /** Set when the whole request was turned down (no instance, expired...), with why. */
  rejected?: string;
}

const ATTEMPTS = 8;
/** Claims on one session before they are folded into one (EC2 allows 50 tags on a resource). */
const FOLD_AT = 30;

/** The ENI is some mirror target's: it cannot be a source (answered as a skip with AWS's words). */
const TARGET_AS_SOURCE = 'InterfaceInUseByTrafficMirrorTarget';
/**
 * EC2 refuses the instance's type as a source although shared/domain/eligibility.ts allows it (a
 * family added to AWS's list after ours): a rejection that names the type, never retried, since
 * the same request would be refused the same way.
 */
const SOURCE_REFUSED = 'NetworkInterfaceNotSupported';
/** AWS's hard limits (none adjustable): a request past one is turned down, not retried. */
const AT_LIMIT = new Set([
  'TrafficMirrorSourcesPerTargetLimitExceeded',
  'TrafficMirrorSessionsPerTargetLimitExceeded',
  'TrafficMirrorSessionLimitExceeded',
  'TrafficMirrorFilterLimitExceeded',
  'TrafficMirrorFilterRuleLimitExceeded',
]);
/** Errors that mean another request changed the ENI's sessions between our read and our write. */
const RACE = new Set([
  'TrafficMirrorSessionsPerInterfaceLimitExceeded',
  'IdempotentParameterMismatch',
  // A session we read was removed by a concurrent request folding duplicates together.
  'InvalidTrafficMirrorSessionId.NotFound',
]);

/**
 * A session this close to its expiry, or past it, is replaced rather than extended: the sweeper
 * deletes what it read as expired some time after reading it, and an extension written in between
 * would be deleted with the session. A minute is far more than that time and any clock skew
 * between Lambda containers.
 */
const ENDING_MS = 60_000;
const nearExpiry = (s: SessionView, now: Date) =>
  isExpired(sessionExpiry(s.tags), new Date(now.getTime() + ENDING_MS));

const NO_ACCESS = new Set(['AccessDenied', 'AccountAccessError', 'AuthFailure', 'UnauthorizedOperation']);

const numberTaken = (error: unknown) =>
  errorName(error) === 'InvalidParameterValue' && /session number/i.test((error as Error).message);

/**
 * Mirrors the instance an intent names: one session per ENI for the intent's reason, through the
 * filter its scope compiles to, until its expiry.
 *
 * The critical path is three round trips when nothing exists yet: read (sessions on the ENIs and
 * the filter by content hash, in parallel) -> create the filter -> its rules and the sessions, in
 * parallel (a session may point at a filter whose rules are still being written). A repeat is two:
 * read -> tag; one in a container that remembers the sessions (see `repeatFromMemory`). Every
 * create carries a ClientToken derived from what it creates, so a redelivered event creates
 * nothing twice; an ENI that already has this reason's session is extended (expiry, scope,
 * priority), never given a second one.
 */
export async function apply(intent: MirrorIntent, deps: MirrorDeps): Promise<ApplyResult> {
  const { ec2, config } = deps;
  const expiresAt = expiryFrom(config.expiry, intent.startAt, intent.lifetimeMs).toISOString();
  const base = { instanceId: intent.instanceId, intent: intent.key, expiresAt };

  // No way into the account (its spoke role is missing or does not trust the hub): retrying will
  // not help, so this is a rejection that says so, not an error.
  const noAccess = (error: unknown) => {
    if (!NO_ACCESS.has(errorName(error))) throw error;
    const message = `cannot act in account ${intent.account}: ${(error as Error).message}`;
    return reject(deps, intent, base, [], message);
  };

  const remembered = recall(intent, deps, expiresAt);
  if (remembered) {
    let outcomes: EniOutcome[];
    try {
      outcomes = await repeatFromMemory(deps, remembered);
    } catch (error) {
      return noAccess(error);
    }
    return finish(deps, base, remembered.desired, remembered.filters, outcomes);
  }

  // Round 1: what is there. Each read starts as soon as what it depends on is known.
  const needInstance = intent.networkInterfaceIds.length === 0 || !intent.instanceType;
  const instanceP = needInstance ? ec2.instance(intent.instanceId) : Promise.resolve(undefined);
  const enisP = instanceP.then((instance) =>
    intent.networkInterfaceIds.length > 0
      ? intent.networkInterfaceIds.map((id) => ({ id, vpcId: intent.vpcId ?? instance?.vpcId }))
      : (instance?.enis.map((e) => ({ id: e.id, vpcId: e.vpcId ?? instance.vpcId })) ?? []),
  );
  const sessionsP = enisP.then((enis) => ec2.sessionsOn(enis.map((e) => e.id)));
  const scopeP: Promise<Scope> = intent.includeResolver
    ? instanceP.then(async (instance) => {
        const vpcId = intent.vpcId ?? instance?.vpcId;
        return withResolver(intent.scope, vpcId ? await vpcCidr(deps, vpcId) : undefined);
      })
    : Promise.resolve(intent.scope);
  const specP = scopeP.then(compileFilter);
  const foundP = specP.then((spec) => ec2.filtersByHash(filterHash(spec)));
  let read: [
    InstanceView | undefined,
    { id: string; vpcId: string | undefined }[],
    SessionView[],
    Scope,
    FilterSpec,
    FilterView[],
  ];
  try {
    read = await Promise.all([instanceP, enisP, sessionsP, scopeP, specP, foundP]);
  } catch (error) {
    return noAccess(error);
  }
  const [instance, enis, sessions, scope, spec, found] = read;

  if (needInstance && !instance) {
    return reject(deps, intent, base, [], `instance ${intent.instanceId} was not found in ${intent.account}`);
  }
  if (instance && (instance.state === 'terminated' || instance.state === 'shutting-down')) {
    return reject(deps, intent, base, [], `instance ${intent.instanceId} is ${instance.state}`);
  }
  let desiredExpiry = expiresAt;
  if (Date.parse(expiresAt) <= deps.now().getTime()) {
    return reject(deps, intent, base, [], `the request expired at ${expiresAt} before it was applied`);
  }
  if (enis.length === 0)
    return reject(deps, intent, base, [], `instance ${intent.instanceId} has no network interfaces`);

  // A new interface of an opted-in instance ends with its siblings, not later.
  if (intent.onlyNew) {
    const siblings = ownSessions(sessions, intent).flatMap((s) => sessionExpiry(s.tags) ?? []);
    if (siblings.length > 0)
      desiredExpiry = siblings.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b));
  }
  const instanceType = intent.instanceType ?? instance?.type;
  const support = instanceType ? sourceSupport(instanceType) : { ok: true as const };
  const hash = filterHash(spec);
  const filters = new FilterCache(deps, found, hash);
  const desired: Desired = { intent, scope, spec, hash, expiresAt: desiredExpiry, instanceType };

  const outcomes = await Promise.all(
    enis.map(async (eni): Promise<EniOutcome> => {
      if (!support.ok) return { eniId: eni.id, status: 'skipped', reason: support.reason };
      const targetId = targetFor(config, eni.vpcId);
      const onEni = sessions.filter((s) => s.eniId === eni.id);
      return mirrorEni(deps, desired, filters, eni.id, targetId, onEni);
    }),
  );
  return finish(deps, base, desired, filters, outcomes);
}

/** The answer, with its audit events handed to `deps.defer`. */
async function finish(
  deps: MirrorDeps,
  base: Omit<ApplyResult, 'outcomes'>,
  desired: Desired,
  filters: FilterCache,
  outcomes: EniOutcome[],
): Promise<ApplyResult> {
  const events = outcomes.flatMap((o) => auditEvents(desired.intent, o, base.expiresAt));
  if (events.length > 0) await deferrable(deps, deps.audit.publish(events));
  const filterId = filters.idFor(desired.hash);
  return { ...base, ...(filterId ? { filterId } : {}), outcomes };
}

/** The container's memory keys: a session by what it is for, a VPC's CIDR by where it is. */
const memoryKey = (deps: MirrorDeps, reason: string, instanceId: string, eniId: string) =>
  `${deps.account}|${deps.region}|${reason}|${instanceId}|${eniId}`;
const cidrKey = (deps: MirrorDeps, vpcId: string) => `${deps.account}|${deps.region}|${vpcId}`;

/** Drops a session the container may remember, once it is deleted. */
export function forgetSession(deps: MirrorDeps, session: SessionView): void {
  const { [TAG.reason]: reason, [TAG.instance]: instanceId } = session.tags;
  if (deps.memory && reason && instanceId)
    deps.memory.forgetSession(memoryKey(deps, reason, instanceId, session.eniId));
}

async function vpcCidr(deps: MirrorDeps, vpcId: string): Promise<string | undefined> {
  const key = cidrKey(deps, vpcId);
  const known = deps.memory?.cidr(key);
  if (known) return known;
  const cidr = await deps.ec2.vpcCidr(vpcId);
  if (cidr) deps.memory?.rememberCidr(key, cidr);
  return cidr;
}

interface Remembered {
  desired: Desired;
  filters: FilterCache;
  enis: { eniId: string; session: SessionView; write: Record<string, string> }[];
}

/**
 * A repeat the container can answer from memory: every ENI the event names has this reason's
 * session remembered, and adding this request's claim changes only tags (no new filter, no
 * higher priority, nothing to fold). Anything else, or nothing remembered, takes the full path.
 */
function recall(intent: MirrorIntent, deps: MirrorDeps, expiresAt: string): Remembered | undefined {
  const { memory } = deps;
  if (!memory || intent.onlyNew || intent.networkInterfaceIds.length === 0 || !intent.instanceType) return;
  if (!sourceSupport(intent.instanceType).ok || Date.parse(expiresAt) <= deps.now().getTime()) return;
  let scope = intent.scope;
  if (intent.includeResolver) {
    const cidr = intent.vpcId && memory.cidr(cidrKey(deps, intent.vpcId));
    if (!cidr) return;
    scope = withResolver(scope, cidr);
  }
  const spec = compileFilter(scope);
  const hash = filterHash(spec);
  const desired: Desired = { intent, scope, spec, hash, expiresAt, instanceType: intent.instanceType };
  const enis: Remembered['enis'] = [];
  for (const eniId of intent.networkInterfaceIds) {
    const session = memory.session(memoryKey(deps, intent.reason, intent.instanceId, eniId));
    if (!session || nearExpiry(session, deps.now())) return;
    const plan = planExtension(desired, session, []);
    const tagsOnly =
      session.tags[TAG.filterHash] === plan.hash && plan.number >= session.number && !plan.folding;
    if (!tagsOnly) return;
    enis.push({ eniId, session, write: plan.write });
  }
  const filters = new FilterCache(deps, [], undefined);
  const [first] = enis;
  if (first?.session.tags[TAG.filterHash] === hash) filters.noteId(hash, first.session.filterId);
  return { desired, filters, enis };
}

/**
 * One round trip: the claim is written on each remembered session while the sessions are read
 * again. The read then checks the memory: with the write laid over it (the read may have been
 * served before or after the write), the usual extension finds nothing left to do when the memory
 * was right, and otherwise does what the full path would have done (corrects the expiry, widens,
 * or starts a session where the remembered one is gone). A session the write did not reach is
 * handled from the read alone.
 */
async function repeatFromMemory(deps: MirrorDeps, remembered: Remembered): Promise<EniOutcome[]> {
  const { desired, filters, enis } = remembered;
  const [fresh, written] = await Promise.all([
    deps.ec2.sessionsOn(enis.map((e) => e.eniId)),
    Promise.all(
      enis.map(async ({ session, write }) => {
        if (Object.keys(write).length === 0) return true;
        try {
          await deps.ec2.tag([session.id], write);
          return true;
        } catch (error) {
          deps.log.info('a remembered session did not take the claim; using the read', {
            sessionId: session.id,
            error: errorName(error),
          });
          return false;
        }
      }),
    ),
  ]);
  return Promise.all(
    enis.map(({ eniId, session, write }, i) => {
      const onEni = fresh
        .filter((s) => s.eniId === eniId)
        .map((s) => (s.id === session.id && written[i] ? { ...s, tags: { ...s.tags, ...write } } : s));
      return mirrorEni(deps, desired, filters, eniId, session.targetId, onEni);
    }),
  );
}

interface Desired {
  intent: MirrorIntent;
  scope: Scope;
  spec: FilterSpec;
  hash: string;
  expiresAt: string;
  /** The instance's type, from the event or the instance read; what a refusal names. */
  instanceType: string | undefined;
}

/** The resolver of a VPC is its base address plus two (vpc-dns.html). */
function withResolver(scope: Scope, vpcCidr: string | undefined): Scope {
  const cidr = vpcCidr ? parseCidr(vpcCidr) : undefined;
  if (cidr?.family !== 4) return scope;
  return { ...scope, remotes: [...scope.remotes, `${formatAddress(4, cidr.base + 2n)}/32`] };
}

const managedReason = (s: SessionView): Reason | undefined => {
  const reason = s.tags[TAG.reason] as Reason | undefined;
  return isManaged(s.tags) && reason && REASONS.includes(reason) ? reason : undefined;
};

/** This reason's sessions of this instance on the ENI, lowest number first (the one kept). */
const ownSessions = (onEni: readonly SessionView[], intent: MirrorIntent) =>
  onEni
    .filter((s) => managedReason(s) === intent.reason && s.tags[TAG.instance] === intent.instanceId)
    .sort((a, b) => a.number - b.number || (a.id < b.id ? -1 : 1));

async function mirrorEni(
  deps: MirrorDeps,
  desired: Desired,
  filters: FilterCache,
  eniId: string,
  targetId: string,
  initial: SessionView[],
): Promise<EniOutcome> {
  let onEni = initial;
  let freshToken = false;
  for (let attempt = 1; ; attempt++) {
    try {
      const [own] = ownSessions(onEni, desired.intent);
      if (own && desired.intent.onlyNew) {
        return { eniId, status: 'unchanged', sessionId: own.id, sessionNumber: own.number };
      }
      // A session at its expiry may be in the sweeper's hands, read as expired and about to be
      // deleted: an extension written now would go with it. It is replaced instead.
      const ending = ownSessions(onEni, desired.intent).filter((s) => nearExpiry(s, deps.now()));
      if (ending.length > 0) {
        await deleteAll(deps, ending);
        onEni = onEni.filter((s) => !ending.includes(s));
      }
      if (ownSessions(onEni, desired.intent).length > 0)
        return await extend(deps, desired, filters, eniId, onEni);
      const started = await start(deps, desired, filters, eniId, targetId, onEni, freshToken);
      const [renewed] = ending;
      return renewed && started.status === 'started' ? { ...started, renewed: renewed.id } : started;
    } catch (error) {
      const name = errorName(error);
      if (name === TARGET_AS_SOURCE)
        return { eniId, status: 'skipped', reason: `${name}: ${(error as Error).message}` };
      if (name === SOURCE_REFUSED)
        return { eniId, status: 'rejected', reason: refusedSource(desired, error) };
      if (name === 'InvalidTrafficMirrorTargetId.NotFound') {
        return {
          eniId,
          status: 'rejected',
          reason: `target ${targetId} is not visible from account ${desired.intent.account}: it does not exist there or is not shared with it (the share-target workflow onboards an account)`,
        };
      }
      if (AT_LIMIT.has(name)) {
        return { eniId, status: 'rejected', reason: `${name}: ${(error as Error).message}` };
      }
      if (name === 'InvalidNetworkInterfaceID.NotFound') {
        deps.memory?.forgetSession(memoryKey(deps, desired.intent.reason, desired.intent.instanceId, eniId));
        return { eniId, status: 'skipped', reason: `network interface ${eniId} no longer exists` };
      }
      const retryable =
        RACE.has(name) || numberTaken(error) || name === 'InvalidTrafficMirrorFilterId.NotFound';
      if (!retryable || attempt >= ATTEMPTS) throw error;
      deps.log.info('re-reading after a concurrent change', { eniId, error: name, attempt });
      if (name === 'InvalidTrafficMirrorFilterId.NotFound') filters.forget(desired.hash);
      // A token whose first use no longer matches what is there now must not be replayed.
      if (name === 'IdempotentParameterMismatch') freshToken = true;
      onEni = await deps.ec2.sessionsOn([eniId]);
    }
  }
}

/**
 * Why a source EC2 refused is rejected: the instance type, that AWS refused it (mirrorops' list
 * allowed it, so the list needs the family), EC2's own words, and that it is not retried.
 */
function refusedSource(desired: Desired, error: unknown): string {
  const { instanceId } = desired.intent;
  const type = desired.instanceType ?? 'type not known';
  return `AWS refused ${instanceId} (${type}) as a Traffic Mirroring source, although mirrorops' list of unsupported instance families allows it; not retried. ${SOURCE_REFUSED}: ${(error as Error).message}`;
}

async function start(
  deps: MirrorDeps,
  desired: Desired,
  filters: FilterCache,
  eniId: string,
  targetId: string,
  onEni: SessionView[],
  freshToken: boolean,
): Promise<EniOutcome> {
  const { intent } = desired;
  const preferred = preferredNumber(intent.reason, intent.severity);
  const decision = decideSlot(
    onEni.map((s) => {
      const reason = managedReason(s);
      return { sessionId: s.id, sessionNumber: s.number, ...(reason ? { managedReason: reason } : {}) };
    }),
    intent.reason,
    preferred,
  );
  if (decision.kind === 'reject') return { eniId, status: 'rejected', reason: decision.reason };
  const filter = await filters.ensure(desired.hash, desired.spec);
  if (decision.kind === 'replace') {
    const { sessionId } = decision.evict;
    await deps.ec2.deleteSession(sessionId);
    const evicted = onEni.find((s) => s.id === sessionId);
    if (evicted) forgetSession(deps, evicted);
  }
  const tags: Tags = {
    [TAG.managed]: 'true',
    [TAG.reason]: intent.reason,
    [TAG.expiresAt]: desired.expiresAt,
    [TAG.intent]: intent.key.slice(0, 256),
    [TAG.instance]: intent.instanceId,
    [TAG.filterHash]: desired.hash,
    ...(intent.severity === undefined ? {} : { [TAG.severity]: String(intent.severity) }),
    [claimKeyOf(intent)]: encodeClaim({
      ...(intent.severity === undefined ? {} : { severity: intent.severity }),
      expiresAt: desired.expiresAt,
      scope: desired.scope,
    }),
  };
  // Racing requests that read the same sessions compute the same token: one creates, the others
  // get IdempotentParameterMismatch (their descriptions differ) and come back to extend it. The
  // description names the request, so a token is never replayed by another request: EC2 answers a
  // repeated token with its first response even when that session has been deleted since (a
  // finding redelivered after `mirrorops stop`), which would report a session that is not there.
  // An SDK retry of this very request still replays, as it should.
  const state = onEni
    .map((s) => s.id)
    .sort()
    .join(',');
  const token = freshToken
    ? `mos-${randomUUID()}`
    : clientToken('mos', `${eniId}|${intent.reason}|${state}|${desired.expiresAt.slice(0, 13)}`);
  const sessionId = await deps.ec2.createSession({
    eniId,
    targetId,
    filterId: filter.id,
    number: decision.sessionNumber,
    ...(deps.config.packetLength ? { packetLength: deps.config.packetLength } : {}),
    description: `mirrorops ${intent.reason} ${intent.instanceId} (request ${randomUUID().slice(0, 8)})`,
    tags,
    token,
  });
  await filter.ready;
  remember(deps, intent, {
    id: sessionId,
    eniId,
    number: decision.sessionNumber,
    filterId: filter.id,
    targetId,
    tags,
  });
  return {
    eniId,
    status: 'started',
    sessionId,
    sessionNumber: decision.sessionNumber,
    expiresAt: desired.expiresAt,
    ...(decision.kind === 'replace' ? { replaced: decision.evict.sessionId } : {}),
  };
}

/**
 * The tag a request's claim is written under. Each occurrence of a finding (its own `updatedAt`)
 * has a key of its own, so two occurrences handled at once, by two containers, each add their
 * claim and neither can overwrite the other's with an earlier expiry; a redelivery of the same
 * occurrence writes the same key again. A claim that replaces (a tag's new value) keeps one key
 * for the request, so the new value moves the expiry in as well as out.
 */
const claimKeyOf = (intent: MirrorIntent) =>
  claimKey(intent.replaceClaim ? intent.key : `${intent.key}@${intent.startAt.toISOString()}`);

/** What adding this request's claim to a session comes to: the tags to write and what they ask for. */
interface Extension {
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
function planExtension(desired: Desired, own: SessionView, duplicates: readonly SessionView[]): Extension {
  const { intent } = desired;
  const key = claimKeyOf(intent);
  const mine: Claim = {
    ...(intent.severity === undefined ? {} : { severity: intent.severity }),
    expiresAt: desired.expiresAt,
    scope: desired.scope,
  };
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

/**
 * The ENI already has this reason's session: add this request's claim to it, then bring the
 * session's expiry, number and filter in line with all its claims. Duplicates left by racing
 * requests hand their claims over and are removed. Whenever the number or filter changes, the
 * session is read again until a round changes nothing, so a racing request's write cannot leave
 * the session short of any claim. A plain repeat is one CreateTags.
 */
async function extend(
  deps: MirrorDeps,
  desired: Desired,
  filters: FilterCache,
  eniId: string,
  initial: SessionView[],
): Promise<EniOutcome> {
  const { intent } = desired;
  let onEni = initial;
  let widened = false;
  for (let round = 1; ; round++) {
    const [own, ...duplicates] = ownSessions(onEni, intent);
    if (!own) throw raceError(`the ${intent.reason} session on ${eniId} went away`);
    const { merged, spec, hash, number, write, folding } = planExtension(desired, own, duplicates);

    let changed = false;
    let { filterId, number: sessionNumber } = own;
    const knownId = filters.idFor(hash);
    if (own.tags[TAG.filterHash] !== hash || (knownId !== undefined && knownId !== own.filterId)) {
      const filter = await filters.ensure(hash, spec);
      await filter.ready;
      if (filter.id !== own.filterId) {
        await deps.ec2.modifySession(own.id, { filterId: filter.id });
        filterId = filter.id;
        widened = true;
        changed = true;
      }
      write[TAG.filterHash] = hash;
    }
    if (Object.keys(write).length > 0) await deps.ec2.tag([own.id], write);
    if (folding && folding.length > 0) await deps.ec2.untag([own.id], folding);
    if (duplicates.length > 0) {
      await deleteAll(deps, duplicates);
      changed = true;
    }
    if (number < own.number) {
      // Higher priority: the lowest free number from the one wanted up to the current one.
      const taken = new Set(onEni.filter((s) => s !== own && !duplicates.includes(s)).map((s) => s.number));
      for (let n = number; n < own.number; n++) {
        if (taken.has(n)) continue;
        await deps.ec2.modifySession(own.id, { number: n });
        sessionNumber = n;
        changed = true;
        break;
      }
    }
    if (!changed || round >= ATTEMPTS) {
      const folded = new Set(folding?.map((f) => f.key));
      const tags = Object.fromEntries(
        Object.entries({ ...own.tags, ...write }).filter(([k]) => !folded.has(k)),
      );
      remember(deps, intent, { ...own, filterId, number: sessionNumber, tags });
      return {
        eniId,
        status: 'extended',
        sessionId: own.id,
        sessionNumber: own.number,
        expiresAt: merged.expiresAt,
        widened,
      };
    }
    onEni = await deps.ec2.sessionsOn([eniId]);
  }
}

/** Keeps what this container now knows of a session it wrote. */
function remember(deps: MirrorDeps, intent: MirrorIntent, session: SessionView): void {
  deps.memory?.rememberSession(memoryKey(deps, intent.reason, intent.instanceId, session.eniId), session);
}

const raceError = (message: string) =>
  Object.assign(new Error(message), { name: 'InvalidTrafficMirrorSessionId.NotFound' });

/** Deletes sessions, some of which a concurrent request may have deleted already, and forgets them. */
export async function deleteAll(deps: MirrorDeps, sessions: readonly SessionView[]): Promise<void> {
  await Promise.all(
    sessions.map(async (s) => {
      try {
        await deps.ec2.deleteSession(s.id);
      } catch (error) {
        if (errorName(error) !== 'InvalidTrafficMirrorSessionId.NotFound') throw error;
      }
      forgetSession(deps, s);
    }),
  );
}

function auditEvents(intent: MirrorIntent, o: EniOutcome, expiresAt: string): AuditEvent[] {
  const common = {
    account: intent.account,
    region: intent.region,
    instanceId: intent.instanceId,
    networkInterfaceId: o.eniId,
    reason: intent.reason,
    intent: intent.key,
    ...(intent.findingId ? { findingId: intent.findingId } : {}),
  };
  switch (o.status) {
    case 'started': {
      const events: AuditEvent[] = [
        {
          type: 'Mirror Session Started',
          detail: {
            ...common,
            sessionId: o.sessionId,
            sessionNumber: o.sessionNumber,
            expiresAt: o.expiresAt,
          },
        },
      ];
      if (o.renewed) {
        events.push({
          type: 'Mirror Session Stopped',
          detail: { ...common, sessionId: o.renewed, message: `expired; renewed as ${o.sessionId}` },
        });
      }
      if (o.replaced) {
        events.push({
          type: 'Mirror Session Stopped',
          detail: {
            ...common,
            sessionId: o.replaced,
            message: `replaced by ${o.sessionId} (${intent.reason}, session number ${o.sessionNumber})`,
          },
        });
      }
      return events;
    }
    case 'extended':
      return [
        {
          type: 'Mirror Session Extended',
          detail: {
            ...common,
            sessionId: o.sessionId,
            sessionNumber: o.sessionNumber,
            expiresAt: o.expiresAt,
            message: o.widened ? 'scope widened' : 'expiry extended',
          },
        },
      ];
    case 'unchanged':
      return [];
    default:
      return [
        {
          type: 'Mirror Request Rejected',
          detail: { ...common, expiresAt, message: `${o.status}: ${o.reason}` },
        },
      ];
  }
}

async function reject(
  deps: MirrorDeps,
  intent: MirrorIntent,
  base: Omit<ApplyResult, 'outcomes'>,
  outcomes: EniOutcome[],
  message: string,
): Promise<ApplyResult> {
  await deps.audit.publish([
    {
      type: 'Mirror Request Rejected',
      detail: {
        account: intent.account,
        region: intent.region,
        instanceId: intent.instanceId,
        reason: intent.reason,
        intent: intent.key,
        ...(intent.findingId ? { findingId: intent.findingId } : {}),
        message,
      },
    },
  ]);
  return { ...base, outcomes, rejected: message };
}
