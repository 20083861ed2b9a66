import {
  CreateTagsCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  DeleteTrafficMirrorSessionCommand,
  ModifyTrafficMirrorSessionCommand,
} from '@aws-sdk/client-ec2';
import type { SessionView } from '../shared/aws/ec2.ts';
import { formatCidr, parseCidr } from '../shared/domain/cidr.ts';
import { formatDuration, parseDuration } from '../shared/domain/duration.ts';
import type { MirrorIntent } from '../shared/domain/intent.ts';
import { chooseFilter, type Desired, type EniPlan, planEni } from '../shared/domain/plan.ts';
import { FULL_SCOPE, type Scope } from '../shared/domain/scope.ts';
import { TAG, type Tags } from '../shared/domain/tags.ts';
import type { ApplyResult, MirrorDeps } from '../shared/mirror.ts';
import { type Config, ConfigError, loadConfig } from '../shared/runtime/config.ts';
import type { Logger } from '../shared/runtime/log.ts';
import { type AwsAccount, type DryRunAnswer, dryRun, type OutputFormat } from './aws.ts';
import { EXIT, type Io, UsageError } from './command.ts';
import { table } from './table.ts';

/**
 * What start and extend share: the scope and configuration they read from the command line and
 * the environment, the use case's dependencies for the command line, the dry run (the plan and
 * EC2's DryRun answer for each call it would make) and how an ApplyResult is printed.
 */

/** `--scope`: `all`, or addresses and CIDR blocks separated by commas. */
export function scopeOf(text: string | undefined): Scope {
  if (text === undefined || text.trim() === 'all') return FULL_SCOPE;
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new UsageError(`--scope '${text}' has an empty entry`);
  const remotes = parts.map((part) => {
    if (part === 'all') throw new UsageError("--scope 'all' cannot be combined with addresses");
    const cidr = parseCidr(part.includes('/') ? part : `${part}/${part.includes(':') ? 128 : 32}`);
    if (!cidr) throw new UsageError(`--scope: '${part}' is not an IP address or CIDR block`);
    return formatCidr(cidr);
  });
  return { remotes: [...new Set(remotes)], dns: false };
}

/** The environment variables of the functions' configuration that the command line honours. */
const PASSED = [
  'MIRROROPS_MAX_EXPIRY',
  'MIRROROPS_PACKET_LENGTH',
  'MIRROROPS_FILTER_GRACE',
  'MIRROROPS_TARGET_ID',
  'MIRROROPS_TARGETS_BY_VPC',
  'MIRROROPS_TARGETS_BY_REGION',
] as const;

/**
 * The functions' configuration for the command line's Region: the environment's MIRROROPS_*
 * settings, or with `target` that target alone (no per-VPC or per-Region map), which is how
 * `--target` wins over the configuration. No target at all is a usage error saying how to give one.
 */
export function commandConfig(region: string, target: string | undefined, env = process.env): Config {
  const settings: Record<string, string | undefined> = { AWS_REGION: region };
  for (const key of PASSED) settings[key] = env[key];
  if (target !== undefined) {
    settings.MIRROROPS_TARGET_ID = target;
    settings.MIRROROPS_TARGETS_BY_VPC = undefined;
    settings.MIRROROPS_TARGETS_BY_REGION = undefined;
  }
  try {
    return loadConfig(settings);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (target === undefined && /MIRROROPS_TARGET_ID: is required/.test(error.message))
      throw new UsageError('no mirror target: pass --target tmt-... or set MIRROROPS_TARGET_ID', {
        cause: error,
      });
    throw new UsageError(error.message, { cause: error });
  }
}

/**
 * The longest mirroring the configuration allows: MIRROROPS_MAX_EXPIRY, 7d unless set (read here
 * before the Region is known, as loadConfig reads it).
 */
export function checkLifetime(option: string, ms: number, env = process.env): void {
  const text = env.MIRROROPS_MAX_EXPIRY || '7d';
  const max = parseDuration(text);
  if (max === undefined)
    throw new UsageError(`MIRROROPS_MAX_EXPIRY: '${text}' is not a duration such as 30m, 6h or 2d`);
  if (ms > max)
    throw new UsageError(
      `${option} asks for more than the longest mirroring allowed (${max % 86_400_000 === 0 ? `${max / 86_400_000}d` : formatDuration(max)}, MIRROROPS_MAX_EXPIRY)`,
    );
}

/** No --target and no target configured: a usage error before any call. */
export function checkTargetGiven(target: string | undefined, env = process.env): void {
  if (target === undefined && !env.MIRROROPS_TARGET_ID && !env.MIRROROPS_TARGETS_BY_REGION)
    throw new UsageError('no mirror target: pass --target tmt-... or set MIRROROPS_TARGET_ID');
}

/** The use case's dependencies for one command line run: no memory, audit awaited in place. */
export function commandDeps(aws: AwsAccount, config: Config, io: Io): MirrorDeps {
  const log: Logger = {
    info() {},
    warn: (message) => io.err(`warning: ${message}`),
    error: (message) => io.err(`error: ${message}`),
  };
  return {
    account: aws.account,
    region: aws.region,
    ec2: aws.gateway,
    audit: aws.audit,
    config,
    now: () => new Date(),
    log,
  };
}

/**
 * The intent key of a request made by hand: who made it and their note. It becomes the sessions'
 * `mirrorops:intent` tag and every audit event's `intent`, so the record says who started or
 * extended the mirroring and why. At most 255 characters (an EC2 tag value).
 */
export function manualKey(verb: 'start' | 'extend', callerArn: string, note: string | undefined): string {
  const key = `${verb} by ${callerArn}${note ? `: ${note}` : ''}`;
  return key.length <= 255 ? key : `${key.slice(0, 254)}…`;
}

/** `--note`: one line, at most 100 characters. */
export function checkNote(note: string | undefined): string | undefined {
  if (note === undefined) return undefined;
  if (/[\r\n]/.test(note)) throw new UsageError('--note must be one line');
  if (note.trim() === '') throw new UsageError('--note is empty');
  if (note.length > 100) throw new UsageError(`--note is ${note.length} characters; at most 100`);
  return note.trim();
}

const DETAIL: Record<string, (o: ApplyResult['outcomes'][number]) => string> = {
  started: (o) =>
    o.status === 'started'
      ? [o.replaced && `replaced ${o.replaced}`, o.renewed && `renewed ${o.renewed}`]
          .filter(Boolean)
          .join(', ')
      : '',
  extended: (o) => (o.status === 'extended' && o.widened ? 'scope widened' : ''),
};

/** An ApplyResult in the chosen format; the exit code it means (1 when any ENI was not mirrored). */
export function printResult(
  io: Io,
  format: OutputFormat,
  aws: AwsAccount,
  result: ApplyResult,
  extra: Record<string, unknown>,
): number {
  const failed =
    result.rejected !== undefined ||
    result.outcomes.some((o) => o.status === 'rejected' || o.status === 'skipped');
  if (format === 'json') {
    io.out(JSON.stringify({ account: aws.account, region: aws.region, ...extra, ...result }, null, 2));
  } else {
    const rows = result.outcomes.map((o) => {
      const session = 'sessionId' in o ? o.sessionId : '-';
      const number = 'sessionNumber' in o ? String(o.sessionNumber) : '-';
      const expires = 'expiresAt' in o ? o.expiresAt : '-';
      const detail = 'reason' in o ? o.reason : (DETAIL[o.status]?.(o) ?? '');
      return [o.eniId, o.status, session, number, expires, detail];
    });
    if (format === 'text') {
      for (const row of rows) io.out(['OUTCOME', result.instanceId, ...row.map((c) => c || '-')].join('\t'));
      if (result.rejected) io.out(['REJECTED', result.instanceId, result.rejected].join('\t'));
    } else {
      if (rows.length > 0) io.out(table(['ENI', 'OUTCOME', 'SESSION', 'NO', 'EXPIRES AT', 'DETAIL'], rows));
      if (result.rejected) io.out(`Turned down: ${result.rejected}`);
    }
  }
  if (failed) {
    const why =
      result.rejected ??
      result.outcomes.flatMap((o) => ('reason' in o ? [`${o.eniId}: ${o.reason}`] : []))[0];
    io.err(`not all mirrored: ${why ?? 'see above'}`);
  }
  return failed ? EXIT.failed : EXIT.ok;
}

/** One call a plan would make, and what EC2 said to it under DryRun (or why it was not asked). */
export interface PlannedCall {
  eniId?: string;
  does: string;
  action: string;
  answer: DryRunAnswer | { skipped: string };
}

/**
 * The dry run of an intent: what apply would do on each ENI (the planner's own decision from what
 * is there now), and each call it would make sent to EC2 with DryRun, so the answer says both what
 * would happen and whether this caller may do it. Nothing is changed. A session whose filter does
 * not exist yet is checked against a filter mirrorops already manages (the same tags, so the same
 * permission answer), when there is one.
 */
export async function dryRunIntent(
  aws: AwsAccount,
  config: Config,
  desired: Desired,
  enis: readonly { id: string; vpcId?: string | undefined }[],
  targetFor: (vpcId: string | undefined) => string,
): Promise<{ plans: { eniId: string; plan: EniPlan }[]; calls: PlannedCall[] }> {
  const { gateway, ec2 } = aws;
  const [sessions, found] = await Promise.all([
    gateway.sessionsOn(enis.map((e) => e.id)),
    gateway.filtersByHash(desired.hash),
  ]);
  const now = new Date();
  const filter = chooseFilter(desired.hash, found);
  const plans = enis.map((eni) => ({
    eniId: eni.id,
    plan: planEni(
      desired,
      eni.id,
      sessions.filter((s) => s.eniId === eni.id),
      now,
      (hash) => (hash === desired.hash ? filter?.id : undefined),
    ),
  }));
  const calls: Promise<PlannedCall>[] = [];
  const check = (eniId: string | undefined, does: string, command: Parameters<typeof dryRun>[1]) => {
    // The action's name, before the request is sent (the SDK's class names survive bundling unminified).
    const action = command.constructor.name.replace(/Command$/, '');
    calls.push(
      dryRun(ec2, command).then((answer) => ({ ...(eniId ? { eniId } : {}), does, action, answer })),
    );
  };
  const needsFilter = plans.some(
    ({ plan }) => (plan.kind === 'start' && !filter) || (plan.kind === 'extend' && plan.refilter),
  );
  let standIn: string | undefined = filter?.id;
  if (needsFilter && !filter) {
    check(
      undefined,
      `create filter for ${describe(desired.scope)} (${desired.spec.rules.length} rules)`,
      new CreateTrafficMirrorFilterCommand({
        Description: `mirrorops ${desired.hash}`,
        TagSpecifications: [
          {
            ResourceType: 'traffic-mirror-filter',
            Tags: toTags({
              [TAG.managed]: 'true',
              [TAG.createdAt]: now.toISOString(),
              [TAG.filterHash]: desired.hash,
            }),
          },
        ],
      }),
    );
    for await (const page of gateway.managedFilterPages()) {
      standIn = page[0]?.id;
      if (standIn) break;
    }
  }
  const deleteCheck = (eniId: string, s: SessionView, why: string) =>
    check(
      eniId,
      `delete ${s.id} (${why})`,
      new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: s.id }),
    );
  for (const { eniId, plan } of plans) {
    const vpcId = enis.find((e) => e.id === eniId)?.vpcId;
    if (plan.kind === 'start') {
      for (const s of plan.retire) deleteCheck(eniId, s, 'at its expiry, renewed');
      if (plan.evict) deleteCheck(eniId, plan.evict, 'lower priority, gives its slot up');
      const target = targetFor(vpcId);
      const does = `start session number ${plan.number} to ${target}`;
      if (!standIn) {
        calls.push(
          Promise.resolve({
            eniId,
            does,
            action: 'CreateTrafficMirrorSession',
            answer: {
              skipped: 'not asked: its filter does not exist yet and no mirrorops filter can stand in',
            },
          }),
        );
      } else {
        check(
          eniId,
          standIn === filter?.id ? does : `${does} (checked with ${standIn} standing in for the new filter)`,
          new CreateTrafficMirrorSessionCommand({
            NetworkInterfaceId: eniId,
            TrafficMirrorTargetId: target,
            TrafficMirrorFilterId: standIn,
            SessionNumber: plan.number,
            ...(config.packetLength ? { PacketLength: config.packetLength } : {}),
            TagSpecifications: [{ ResourceType: 'traffic-mirror-session', Tags: toTags(plan.tags) }],
          }),
        );
      }
    } else if (plan.kind === 'extend') {
      for (const s of plan.retire) deleteCheck(eniId, s, 'at its expiry, renewed');
      for (const s of plan.duplicates) deleteCheck(eniId, s, 'a duplicate, hands its claims over');
      const write = plan.extension.write;
      check(
        eniId,
        `extend ${plan.session.id} until ${plan.extension.merged.expiresAt}`,
        new CreateTagsCommand({ Resources: [plan.session.id], Tags: toTags(write) }),
      );
      if (plan.refilter && standIn)
        check(
          eniId,
          `widen ${plan.session.id} to ${describe(plan.extension.merged.scope)}`,
          new ModifyTrafficMirrorSessionCommand({
            TrafficMirrorSessionId: plan.session.id,
            TrafficMirrorFilterId: standIn,
          }),
        );
      if (plan.renumber !== undefined)
        check(
          eniId,
          `move ${plan.session.id} to number ${plan.renumber}`,
          new ModifyTrafficMirrorSessionCommand({
            TrafficMirrorSessionId: plan.session.id,
            SessionNumber: plan.renumber,
          }),
        );
    }
  }
  return { plans, calls: await Promise.all(calls) };
}

const toTags = (tags: Tags) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

/** A scope in a few words. */
export function describe(scope: Scope): string {
  const all = scope.remotes.includes('0.0.0.0/0') && scope.remotes.includes('::/0');
  return [...(scope.dns ? ['dns'] : []), ...(all ? ['all traffic'] : scope.remotes)].join(' + ') || 'nothing';
}

/** A dry run printed; exit 0 when everything would be done and is allowed, else 1. */
export function printDryRun(
  io: Io,
  format: OutputFormat,
  intent: MirrorIntent,
  expiresAt: string,
  outcome: Awaited<ReturnType<typeof dryRunIntent>>,
): number {
  const { plans, calls } = outcome;
  const denied = calls.filter((c) => 'allowed' in c.answer && !c.answer.allowed);
  const rejected = plans.filter((p) => p.plan.kind === 'rejected');
  const answerText = (c: PlannedCall) =>
    'skipped' in c.answer
      ? c.answer.skipped
      : c.answer.allowed
        ? 'allowed (DryRunOperation)'
        : `REFUSED ${c.answer.code}: ${c.answer.message}`;
  if (format === 'json') {
    io.out(
      JSON.stringify(
        {
          dryRun: true,
          instanceId: intent.instanceId,
          reason: intent.reason,
          intent: intent.key,
          expiresAt,
          plans: plans.map(({ eniId, plan }) => ({ eniId, ...planSummary(plan) })),
          calls,
        },
        null,
        2,
      ),
    );
  } else if (format === 'text') {
    for (const { eniId, plan } of plans) io.out(['PLAN', eniId, planSummary(plan).does].join('\t'));
    for (const c of calls) io.out(['CALL', c.eniId ?? '-', c.action, c.does, answerText(c)].join('\t'));
  } else {
    io.out(`Dry run, nothing changed: ${intent.instanceId}, ${intent.reason}, until ${expiresAt}`);
    io.out(
      table(
        ['ENI', 'WOULD'],
        plans.map(({ eniId, plan }) => [eniId, planSummary(plan).does]),
      ),
    );
    if (calls.length > 0) {
      io.out('');
      io.out(
        table(
          ['ENI', 'CALL', 'DOES', 'EC2 SAYS'],
          calls.map((c) => [c.eniId ?? '-', c.action, c.does, answerText(c)]),
        ),
      );
    }
  }
  if (denied.length > 0) {
    const [first] = denied;
    io.err(`not allowed: ${first?.action} (${first && 'code' in first.answer ? first.answer.code : ''})`);
  } else if (rejected.length > 0) {
    const [first] = rejected;
    io.err(`would not be mirrored: ${first?.eniId}: ${first && planSummary(first.plan).does}`);
  }
  return denied.length > 0 || rejected.length > 0 ? EXIT.failed : EXIT.ok;
}

function planSummary(plan: EniPlan): { kind: EniPlan['kind']; does: string } {
  switch (plan.kind) {
    case 'unchanged':
      return { kind: plan.kind, does: `nothing: ${plan.session.id} is there` };
    case 'rejected':
      return { kind: plan.kind, does: `turned down: ${plan.reason}` };
    case 'start':
      return {
        kind: plan.kind,
        does: `start a session, number ${plan.number}${plan.evict ? `, replacing ${plan.evict.id}` : ''}${plan.retire.length > 0 ? `, renewing ${plan.retire.map((s) => s.id).join(', ')}` : ''}`,
      };
    case 'extend':
      return {
        kind: plan.kind,
        does: `extend ${plan.session.id} until ${plan.extension.merged.expiresAt}${plan.refilter ? `, widened to ${describe(plan.extension.merged.scope)}` : ''}${plan.renumber !== undefined ? `, number ${plan.renumber}` : ''}`,
      };
  }
}
