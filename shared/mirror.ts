import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditSink } from './aws/audit.ts';
import type { Ec2Gateway, FilterView, InstanceView, SessionView } from './aws/ec2.ts';
import { clientToken, errorName } from './aws/errors.ts';
import { sessionExpiry } from './domain/claims.ts';
import { sourceSupport } from './domain/eligibility.ts';
import { expiryFrom } from './domain/expiry.ts';
import type { MirrorIntent } from './domain/intent.ts';
import {
  type Desired,
  desiredOf,
  type EniPlan,
  nearExpiry,
  ownSessions,
  planEni,
  planExtension,
} from './domain/plan.ts';
import type { Reason } from './domain/slots.ts';
import { TAG } from './domain/tags.ts';
import { FilterCache } from './filters.ts';
import type { Memory } from './memory.ts';
import { type Config, targetCandidates } from './runtime/config.ts';
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

/** The ENI is some mirror target's: it cannot be a source (answered as a skip with AWS's words). */
const TARGET_AS_SOURCE = 'InterfaceInUseByTrafficMirrorTarget';
/**
 * EC2 refuses the instance's type as a source although shared/domain/eligibility.ts allows it (a
 * family added to AWS's list after ours): a rejection that names the type, never retried, since
 * the same request would be refused the same way.
 */
const SOURCE_REFUSED = 'NetworkInterfaceNotSupported';
/** A target with as many sources as it takes: the next target of the VPC's pool is tried. */
const TARGET_FULL = 'TrafficMirrorSourcesPerTargetLimitExceeded';
/**
 * AWS's limits (traffic-mirroring-limits.html): a request past one is turned down, not retried,
 * and the rejection names the limit.
 */
const AT_LIMIT: Record<string, string> = {
  TrafficMirrorSourcesPerTargetLimitExceeded:
    'no room for another source on the target (an ENI target takes 10 sources, 100 on some instance sizes; an NLB or a Gateway Load Balancer endpoint has no such limit)',
  TrafficMirrorSessionsPerTargetLimitExceeded: 'the target has as many sessions as it takes',
  TrafficMirrorSessionLimitExceeded:
    "the account's quota of Traffic Mirror sessions in this Region is reached (10,000, not adjustable)",
  TrafficMirrorFilterLimitExceeded:
    "the account's quota of Traffic Mirror filters in this Region is reached (10,000, not adjustable)",
  TrafficMirrorFilterRuleLimitExceeded: 'the filter has as many rules as it takes (10)',
};

/** A rejection at one of AWS's limits: which limit, the targets tried for a full target, EC2's words. */
function atLimit(name: string, error: unknown, targets: readonly string[]): string {
  const tried = name === TARGET_FULL ? `: tried ${targets.join(', ')}` : '';
  return `${AT_LIMIT[name]}${tried}. ${name}: ${(error as Error).message}`;
}
/** Errors that mean another request changed the ENI's sessions between our read and our write. */
const RACE = new Set([
  'TrafficMirrorSessionsPerInterfaceLimitExceeded',
  'IdempotentParameterMismatch',
  // A session we read was removed by a concurrent request folding duplicates together.
  'InvalidTrafficMirrorSessionId.NotFound',
]);

const NO_ACCESS = new Set(['AccessDenied', 'AccountAccessError', 'AuthFailure', 'UnauthorizedOperation']);

const numberTaken = (error: unknown) =>
  errorName(error) === 'InvalidParameterValue' && /session number/i.test((error as Error).message);

/**
 * Mirrors the instance an intent names: one session per ENI for the intent's reason, through the
 * filter its scope compiles to, until its expiry.
 *
 * The requests go out in waves, each as soon as what it needs is known:
 * 1. what is there: the sessions on the ENIs (from the event; the instance is read only when the
 *    event does not name them) and the filter of the scope's content hash, and, for a finding or a
 *    manual request, that filter's create beside the look-up (its ClientToken is derived from its
 *    content, so EC2 makes it once: see FilterCache);
 * 2. what `planEni` decides for each ENI from that read: the new filter's rules and the sessions
 *    together (a session may point at a filter whose rules are still being written), or the claim
 *    written on the session already there.
 * A repeat in a container that remembers the sessions is one wave (see `repeatFromMemory`). Rare
 * paths take more: a session to move to a wider filter, one to evict or renew first, a race.
 * Every create carries a ClientToken derived from what it creates, so a redelivered event creates
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
  if (Date.parse(expiresAt) <= deps.now().getTime()) {
    return reject(deps, intent, base, [], `the request expired at ${expiresAt} before it was applied`);
  }

  // Wave 1: what is there. Each read starts as soon as what it depends on is known.
  const filters = new FilterCache(ec2, deps.now);
  const needInstance = intent.networkInterfaceIds.length === 0 || !intent.instanceType;
  const instanceP = needInstance ? ec2.instance(intent.instanceId) : Promise.resolve(undefined);
  const enisP = instanceP.then((instance) =>
    intent.networkInterfaceIds.length > 0
      ? intent.networkInterfaceIds.map((id) => ({ id, vpcId: intent.vpcId ?? instance?.vpcId }))
      : (instance?.enis.map((e) => ({ id: e.id, vpcId: e.vpcId ?? instance.vpcId })) ?? []),
  );
  const sessionsP = enisP.then((enis) => ec2.sessionsOn(enis.map((e) => e.id)));
  const planned = desiredOf(intent, intent.scope, expiresAt, intent.instanceType);
  const foundP = ec2.filtersByHash(planned.hash);
  if (speculates(intent) && !rememberedFilter(deps, planned.hash)) {
    filters.speculate(planned.hash, planned.spec, foundP);
  }
  let read: [
    InstanceView | undefined,
    { id: string; vpcId: string | undefined }[],
    SessionView[],
    FilterView[],
  ];
  try {
    read = await Promise.all([instanceP, enisP, sessionsP, foundP]);
  } catch (error) {
    return noAccess(error);
  }
  const [instance, enis, sessions, found] = read;
  filters.found(planned.hash, found);

  if (needInstance && !instance) {
    return reject(deps, intent, base, [], `instance ${intent.instanceId} was not found in ${intent.account}`);
  }
  if (instance && (instance.state === 'terminated' || instance.state === 'shutting-down')) {
    return reject(deps, intent, base, [], `instance ${intent.instanceId} is ${instance.state}`);
  }
  if (enis.length === 0)
    return reject(deps, intent, base, [], `instance ${intent.instanceId} has no network interfaces`);

  let desired: Desired = { ...planned, instanceType: intent.instanceType ?? instance?.type };
  // A new interface of an opted-in instance ends with its siblings, not later.
  if (intent.onlyNew) {
    const siblings = ownSessions(sessions, intent).flatMap((s) => sessionExpiry(s.tags) ?? []);
    if (siblings.length > 0) {
      const latest = siblings.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b));
      desired = { ...desired, expiresAt: latest };
    }
  }
  const support = desired.instanceType ? sourceSupport(desired.instanceType) : { ok: true as const };

  // Wave 2 on: each ENI's plan, carried out.
  const outcomes = await Promise.all(
    enis.map(async (eni): Promise<EniOutcome> => {
      if (!support.ok) return { eniId: eni.id, status: 'skipped', reason: support.reason };
      const zone = intent.availabilityZone ?? instance?.availabilityZone;
      const targets = targetCandidates(config, eni.vpcId, zone);
      const onEni = sessions.filter((s) => s.eniId === eni.id);
      return mirrorEni(deps, desired, filters, eni.id, targets, onEni);
    }),
  );
  return finish(deps, base, desired, filters, outcomes);
}

/**
 * The reasons whose filter is created beside the first read: a finding and a responder's request,
 * where seconds count. A tag or a launch reads first and creates only what is missing, so the many
 * instances sharing one all-traffic filter never send a create that finds it made already.
 */
const SPECULATE = new Set<Reason>(['guardduty', 'manual']);
const speculates = (intent: MirrorIntent) =>
  SPECULATE.has(intent.reason) &&
  !intent.onlyNew &&
  (!intent.instanceType || sourceSupport(intent.instanceType).ok);

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
  if (filterId && outcomes.some((o) => o.status === 'started' || o.status === 'extended')) {
    deps.memory?.rememberFilter(filterKey(deps, desired.hash), filterId);
  }
  return { ...base, ...(filterId ? { filterId } : {}), outcomes };
}

/** The container's memory keys: a session by what it is for, a filter by its content. */
const memoryKey = (deps: MirrorDeps, reason: string, instanceId: string, eniId: string) =>
  `${deps.account}|${deps.region}|${reason}|${instanceId}|${eniId}`;
const filterKey = (deps: MirrorDeps, hash: string) => `${deps.account}|${deps.region}|${hash}`;
const rememberedFilter = (deps: MirrorDeps, hash: string) => deps.memory?.filter(filterKey(deps, hash));

/** Drops a session the container may remember, once it is deleted. */
export function forgetSession(deps: MirrorDeps, session: SessionView): void {
  const { [TAG.reason]: reason, [TAG.instance]: instanceId } = session.tags;
  if (deps.memory && reason && instanceId)
    deps.memory.forgetSession(memoryKey(deps, reason, instanceId, session.eniId));
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
  const desired = desiredOf(intent, intent.scope, expiresAt, intent.instanceType);
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
  const filters = new FilterCache(deps.ec2, deps.now);
  const [first] = enis;
  if (first?.session.tags[TAG.filterHash] === desired.hash)
    filters.noteId(desired.hash, first.session.filterId);
  return { desired, filters, enis };
}

/**
 * One round trip: the claim is written on each remembered session while the sessions are read
 * again. The read then checks the memory: with the write laid over it (the read may have been
 * served before or after the write), the usual plan finds nothing left to do when the memory was
 * right, and otherwise does what the full path would have done (corrects the expiry, widens, or
 * starts a session where the remembered one is gone). A session the write did not reach is
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
      return mirrorEni(deps, desired, filters, eniId, [session.targetId], onEni);
    }),
  );
}

/**
 * One ENI: plan from what was read, carry the plan out, and plan again from a fresh read when the
 * plan changed the session's number or filter (so a racing request's write cannot leave the
 * session short of any claim) or when a concurrent change made a request fail.
 */
async function mirrorEni(
  deps: MirrorDeps,
  desired: Desired,
  filters: FilterCache,
  eniId: string,
  /** The targets a new session may go to, in the order to try them (see targetCandidates). */
  targets: readonly string[],
  initial: SessionView[],
): Promise<EniOutcome> {
  let onEni = initial;
  let freshToken = false;
  let widened = false;
  for (let attempt = 1; ; attempt++) {
    try {
      const plan = planEni(desired, eniId, onEni, deps.now(), (hash) => filters.idFor(hash));
      if (plan.kind === 'unchanged') {
        return { eniId, status: 'unchanged', sessionId: plan.session.id, sessionNumber: plan.session.number };
      }
      if (plan.kind === 'rejected') return { eniId, status: 'rejected', reason: plan.reason };
      if (plan.retire.length > 0) {
        await deleteAll(deps, plan.retire);
        onEni = onEni.filter((s) => !plan.retire.includes(s));
      }
      if (plan.kind === 'start') {
        const started = await start(deps, desired, filters, eniId, targets, plan, freshToken);
        const [renewed] = plan.retire;
        return renewed && started.status === 'started' ? { ...started, renewed: renewed.id } : started;
      }
      const step = await extend(deps, desired, filters, plan);
      widened ||= step.widened;
      if (!step.changed || attempt >= ATTEMPTS) {
        return {
          eniId,
          status: 'extended',
          sessionId: plan.session.id,
          sessionNumber: plan.session.number,
          expiresAt: plan.extension.merged.expiresAt,
          widened,
        };
      }
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
          reason: `target ${targets.join(' or ')} is not visible from account ${desired.intent.account}: it does not exist there or is not shared with it (the share-target workflow onboards an account)`,
        };
      }
      if (Object.hasOwn(AT_LIMIT, name)) {
        return { eniId, status: 'rejected', reason: atLimit(name, error, targets) };
      }
      if (name === 'InvalidNetworkInterfaceID.NotFound') {
        deps.memory?.forgetSession(memoryKey(deps, desired.intent.reason, desired.intent.instanceId, eniId));
        return { eniId, status: 'skipped', reason: `network interface ${eniId} no longer exists` };
      }
      const retryable =
        RACE.has(name) || numberTaken(error) || name === 'InvalidTrafficMirrorFilterId.NotFound';
      if (!retryable || attempt >= ATTEMPTS) throw error;
      deps.log.info('re-reading after a concurrent change', { eniId, error: name, attempt });
      if (name === 'InvalidTrafficMirrorFilterId.NotFound') {
        filters.forget(desired.hash);
        deps.memory?.forgetFilter(filterKey(deps, desired.hash));
      }
      // A token whose first use no longer matches what is there now must not be replayed.
      if (name === 'IdempotentParameterMismatch') freshToken = true;
    }
    onEni = await deps.ec2.sessionsOn([eniId]);
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
  targets: readonly string[],
  plan: Extract<EniPlan, { kind: 'start' }>,
  freshToken: boolean,
): Promise<EniOutcome> {
  const { intent } = desired;
  const filter = await filters.ensure(desired.hash, desired.spec);
  if (plan.evict) await deleteAll(deps, [plan.evict]);
  let sessionId: string | undefined;
  let targetId = '';
  for (const [i, candidate] of targets.entries()) {
    targetId = candidate;
    try {
      sessionId = await createSession(deps, desired, eniId, candidate, filter.id, plan, freshToken);
      break;
    } catch (error) {
      // That target has no room for another source: the next of the pool, if any.
      if (errorName(error) !== TARGET_FULL || i === targets.length - 1) throw error;
      deps.log.info('a target has no room for another source; trying the next', {
        eniId,
        targetId: candidate,
        next: targets[i + 1],
      });
    }
  }
  if (sessionId === undefined) throw new Error(`no target to mirror ${eniId} to`);
  await filter.ready;
  remember(deps, intent, {
    id: sessionId,
    eniId,
    number: plan.number,
    filterId: filter.id,
    targetId,
    tags: plan.tags,
  });
  return {
    eniId,
    status: 'started',
    sessionId,
    sessionNumber: plan.number,
    expiresAt: desired.expiresAt,
    ...(plan.evict ? { replaced: plan.evict.id } : {}),
  };
}

/** One CreateTrafficMirrorSession of a plan, to one target. */
function createSession(
  deps: MirrorDeps,
  desired: Desired,
  eniId: string,
  targetId: string,
  filterId: string,
  plan: Extract<EniPlan, { kind: 'start' }>,
  freshToken: boolean,
): Promise<string> {
  const { intent } = desired;
  // Racing requests that read the same sessions compute the same token: one creates, the others
  // get IdempotentParameterMismatch (their descriptions differ) and come back to extend it. The
  // description names the request, so a token is never replayed by another request: EC2 answers a
  // repeated token with its first response even when that session has been deleted since (a
  // finding redelivered after `mirrorops stop`), which would report a session that is not there.
  // An SDK retry of this very request still replays, as it should.
  const token = freshToken ? `mos-${randomUUID()}` : clientToken('mos', `${plan.tokenSeed}|${targetId}`);
  return deps.ec2.createSession({
    eniId,
    targetId,
    filterId,
    number: plan.number,
    ...(deps.config.packetLength ? { packetLength: deps.config.packetLength } : {}),
    description: `mirrorops ${intent.reason} ${intent.instanceId} (request ${randomUUID().slice(0, 8)})`,
    tags: plan.tags,
    token,
  });
}

/**
 * The ENI already has this reason's session: the plan's claim is written on it, and its filter,
 * number and duplicates brought in line with all its claims. `changed` when the filter or number
 * moved or a duplicate went: the caller reads again until a round changes nothing. A plain repeat
 * is one CreateTags.
 */
async function extend(
  deps: MirrorDeps,
  desired: Desired,
  filters: FilterCache,
  plan: Extract<EniPlan, { kind: 'extend' }>,
): Promise<{ changed: boolean; widened: boolean }> {
  const { session: own, duplicates, extension, refilter, renumber } = plan;
  const { spec, hash, write, folding } = extension;
  let changed = false;
  let widened = false;
  let { filterId, number } = own;
  if (refilter) {
    const filter = await filters.ensure(hash, spec);
    await filter.ready;
    if (filter.id !== own.filterId) {
      await deps.ec2.modifySession(own.id, { filterId: filter.id });
      filterId = filter.id;
      widened = true;
      changed = true;
    }
  }
  if (Object.keys(write).length > 0) await deps.ec2.tag([own.id], write);
  if (folding && folding.length > 0) await deps.ec2.untag([own.id], folding);
  if (duplicates.length > 0) {
    await deleteAll(deps, duplicates);
    changed = true;
  }
  if (renumber !== undefined) {
    await deps.ec2.modifySession(own.id, { number: renumber });
    number = renumber;
    changed = true;
  }
  const folded = new Set(folding?.map((f) => f.key));
  const tags = Object.fromEntries(Object.entries({ ...own.tags, ...write }).filter(([k]) => !folded.has(k)));
  remember(deps, desired.intent, { ...own, filterId, number, tags });
  return { changed, widened };
}

/** Keeps what this container now knows of a session it wrote. */
function remember(deps: MirrorDeps, intent: MirrorIntent, session: SessionView): void {
  deps.memory?.rememberSession(memoryKey(deps, intent.reason, intent.instanceId, session.eniId), session);
}

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
