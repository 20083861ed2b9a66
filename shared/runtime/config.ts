import * as z from 'zod/mini';
import { parseDuration } from '../domain/duration.ts';
import { DEFAULT_EXPIRY, type ExpiryPolicy } from '../domain/expiry.ts';
import { type AlwaysMirror, NO_ALWAYS_MIRROR } from '../domain/optin.ts';
import { LOG_LEVELS, type LogLevel } from './log.ts';
import './zod.ts';

/**
 * Every setting mirrorops reads, checked once at cold start. A bad value fails the cold start
 * with a message naming the variable; nothing else reads process.env.
 */
const duration = (fallback: string) =>
  z.pipe(
    z._default(z.string(), fallback),
    z.transform((text: string, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.issues.push({
          code: 'custom',
          input: text,
          message: `'${text}' is not a duration such as 30m, 6h or 2d`,
        });
        return z.NEVER;
      }
      return ms;
    }),
  );

const severity = (fallback: number) => z._default(z.coerce.number().check(z.gte(0), z.lte(10)), fallback);

/** A whole number from the environment's text, within [min, max]. */
const wholeNumber = (min: number, max: number) =>
  z.pipe(z.coerce.number(), z.int().check(z.gte(min), z.lte(max)));

function region() {
  return z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS Region name such as us-east-1'));
}

const targetId = z
  .string()
  .check(z.regex(/^tmt-[0-9a-f]{8,17}$/, 'must be a traffic mirror target id (tmt-...)'));

/** A target of a VPC's pool, with the Availability Zone it is in when known. */
export interface PoolTarget {
  targetId: string;
  availabilityZone?: string;
}

/** A pool's target: its id, or its id with its zone. */
const poolTarget = z.pipe(
  z.transform((value: unknown) => (typeof value === 'string' ? { targetId: value } : value)),
  z.pipe(
    z.strictObject({
      targetId,
      availabilityZone: z.optional(
        z
          .string()
          .check(
            z.regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'must be an Availability Zone name such as us-east-1a'),
          ),
      ),
    }),
    z.transform(
      (t): PoolTarget => ({
        targetId: t.targetId,
        ...(t.availabilityZone === undefined ? {} : { availabilityZone: t.availabilityZone }),
      }),
    ),
  ),
);

/**
 * Per-VPC targets (MIRROROPS_TARGETS_BY_VPC, and each Region's `targetsByVpc`): VPC id -> a target
 * id, or a pool of them, each with its Availability Zone: `["tmt-a", {"targetId": "tmt-b",
 * "availabilityZone": "us-east-1b"}]`. A session goes to the first target of the pool in its
 * source's zone that has room, then to the others in order.
 */
export const TargetsByVpc = z.record(
  z.string().check(z.regex(/^vpc-[0-9a-f]+$/)),
  z.pipe(
    z.transform((value: unknown) => (Array.isArray(value) ? value : [value])),
    z
      .array(poolTarget)
      .check(
        z.minLength(1, 'a pool lists at least one target'),
        z.maxLength(20, 'a pool lists at most 20 targets'),
      ),
  ),
);

/** The first target of each VPC's pool. */
const firstOfPools = (pools: Record<string, PoolTarget[]>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(pools).flatMap(([vpc, [first]]) => (first ? [[vpc, first.targetId]] : [])),
  );

/**
 * One Region's targets (MIRROROPS_TARGETS_BY_REGION): its default target and its per-VPC ones. A
 * session's target must be in the source's Region (targets, like sessions, are regional: an id of
 * another Region is not found there), so each Region names its own.
 */
const RegionTargets = z.strictObject({ targetId, targetsByVpc: z._default(TargetsByVpc, {}) });

const jsonOf = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.optional(z.string()),
    z.transform((text: string | undefined, ctx): z.infer<T> | undefined => {
      if (text === undefined || text.trim() === '') return undefined;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        ctx.issues.push({ code: 'custom', input: text, message: 'is not valid JSON' });
        return z.NEVER;
      }
      const parsed = schema.safeParse(value);
      if (!parsed.success) {
        ctx.issues.push({
          code: 'custom',
          input: text,
          message: z.prettifyError(parsed.error).replaceAll('\n', '; '),
        });
        return z.NEVER;
      }
      return parsed.data;
    }),
  );

const vpcId = z.string().check(z.regex(/^vpc-[0-9a-f]+$/, 'must be a VPC id'));
const subnetId = z.string().check(z.regex(/^subnet-[0-9a-f]+$/, 'must be a subnet id'));

export const EnvSchema = z.object({
  AWS_REGION: z._default(region(), 'us-east-1'),
  MIRROROPS_DLQ_URL: z.optional(z.url()),
  // Required unless MIRROROPS_TARGETS_BY_REGION names this Region's target (checked in loadConfig).
  MIRROROPS_TARGET_ID: z.optional(targetId),
  MIRROROPS_TARGETS_BY_VPC: jsonOf(TargetsByVpc),
  MIRROROPS_TARGETS_BY_REGION: jsonOf(
    z.record(
      region(),
      z.union([
        z.pipe(
          targetId,
          z.transform((id: string) => ({ targetId: id, targetsByVpc: {} as Record<string, PoolTarget[]> })),
        ),
        RegionTargets,
      ]),
    ),
  ),
  MIRROROPS_MIN_SEVERITY: severity(4),
  MIRROROPS_SCOPE: z._default(z.enum(['finding', 'full']), 'finding'),
  MIRROROPS_EXPIRY_HIGH: duration('24h'),
  MIRROROPS_EXPIRY_MEDIUM: duration('6h'),
  MIRROROPS_EXPIRY_LOW: duration('1h'),
  MIRROROPS_EXPIRY_DEFAULT: duration('24h'),
  MIRROROPS_MAX_EXPIRY: duration('7d'),
  MIRROROPS_FILTER_GRACE: duration('10m'),
  MIRROROPS_SWEEP_RATE: z._default(z.coerce.number().check(z.positive(), z.lte(100)), 5),
  MIRROROPS_AUDIT_BUS: z._default(z.string().check(z.minLength(1)), 'default'),
  MIRROROPS_ALWAYS_MIRROR: jsonOf(
    z.strictObject({
      vpcIds: z._default(z.array(vpcId), []),
      subnetIds: z._default(z.array(subnetId), []),
      tags: z._default(z.array(z.object({ key: z.string().check(z.minLength(1)), value: z.string() })), []),
    }),
  ),
  MIRROROPS_HUB_ACCOUNT_ID: z.optional(
    z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit account id')),
  ),
  MIRROROPS_SPOKE_ROLE: z._default(
    z.string().check(z.regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM role name')),
    'mirrorops-spoke',
  ),
  MIRROROPS_EXTERNAL_ID: z.optional(z.string().check(z.minLength(2), z.maxLength(1224))),
  MIRROROPS_LOG_LEVEL: z._default(z.enum(LOG_LEVELS), 'info'),
  MIRROROPS_PACKET_LENGTH: z.optional(wholeNumber(1, 8500)),
  MIRROROPS_FINDINGS_HIGH_URL: z.optional(z.url()),
  MIRROROPS_FINDINGS_LOW_URL: z.optional(z.url()),
  // EC2's documented bucket is 50 at 5 a second; an account AWS raised the limits for may go higher.
  MIRROROPS_EC2_MUTATING_BURST: z._default(wholeNumber(1, 10_000), 35),
  MIRROROPS_EC2_MUTATING_RATE: z._default(z.coerce.number().check(z.positive(), z.lte(1_000)), 5),
});

export interface Config {
  region: string;
  deadLetterQueueUrl: string | undefined;
  /** This Region's (`region`) default target and per-VPC targets. */
  targetId: string;
  /** This Region's pools of targets by VPC: tried in order, those in the source's zone first. */
  targetPools: Record<string, PoolTarget[]>;
  /**
   * Every Region's targets as MIRROROPS_TARGETS_BY_REGION gives them, this Region's included (as
   * `targetId` and `targetPools` above, each VPC by its pool's first target); empty without it. A Region not listed has no target.
   */
  targetsByRegion: Record<string, { targetId: string; targetsByVpc: Record<string, string> }>;
  minSeverity: number;
  scope: 'finding' | 'full';
  expiry: ExpiryPolicy;
  filterGraceMs: number;
  sweepRatePerSecond: number;
  auditBus: string;
  packetLength: number | undefined;
  alwaysMirror: AlwaysMirror;
  logLevel: LogLevel;
  /** Cross-account: the hub's account (else asked of STS), the spoke role and its ExternalId. */
  hubAccount: string | undefined;
  spokeRoleName: string;
  externalId: string | undefined;
  /**
   * The finding intake: the queue of each severity band (both or neither; without them a finding
   * event is applied as it comes) and the share of EC2's mutating bucket it paces itself to.
   */
  intake: {
    queues: { high: string; low: string } | undefined;
    mutating: { burst: number; perSecond: number };
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and checks the environment; throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty value is no value: CloudFormation passes '' for a parameter left out.
  const parsed = EnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const high = e.MIRROROPS_FINDINGS_HIGH_URL;
  const low = e.MIRROROPS_FINDINGS_LOW_URL;
  if ((high === undefined) !== (low === undefined)) {
    throw new ConfigError(
      'invalid configuration: MIRROROPS_FINDINGS_HIGH_URL and MIRROROPS_FINDINGS_LOW_URL go together: set both or neither',
    );
  }
  const here = localTargets(e);
  return {
    region: e.AWS_REGION,
    deadLetterQueueUrl: e.MIRROROPS_DLQ_URL,
    targetId: here.targetId,
    targetPools: here.targetsByVpc,
    targetsByRegion: Object.fromEntries(
      Object.entries({ ...e.MIRROROPS_TARGETS_BY_REGION, [e.AWS_REGION]: here }).map(([name, entry]) => [
        name,
        { targetId: entry.targetId, targetsByVpc: firstOfPools(entry.targetsByVpc) },
      ]),
    ),
    minSeverity: e.MIRROROPS_MIN_SEVERITY,
    scope: e.MIRROROPS_SCOPE,
    expiry: {
      bySeverity: [
        { minSeverity: 7, ms: e.MIRROROPS_EXPIRY_HIGH },
        { minSeverity: 4, ms: e.MIRROROPS_EXPIRY_MEDIUM },
        { minSeverity: 0, ms: e.MIRROROPS_EXPIRY_LOW },
      ],
      defaultMs: e.MIRROROPS_EXPIRY_DEFAULT ?? DEFAULT_EXPIRY.defaultMs,
      maxMs: e.MIRROROPS_MAX_EXPIRY,
    },
    filterGraceMs: e.MIRROROPS_FILTER_GRACE,
    sweepRatePerSecond: e.MIRROROPS_SWEEP_RATE,
    auditBus: e.MIRROROPS_AUDIT_BUS,
    packetLength: e.MIRROROPS_PACKET_LENGTH,
    alwaysMirror: e.MIRROROPS_ALWAYS_MIRROR ?? NO_ALWAYS_MIRROR,
    logLevel: e.MIRROROPS_LOG_LEVEL,
    hubAccount: e.MIRROROPS_HUB_ACCOUNT_ID,
    spokeRoleName: e.MIRROROPS_SPOKE_ROLE,
    externalId: e.MIRROROPS_EXTERNAL_ID,
    intake: {
      queues: high && low ? { high, low } : undefined,
      mutating: { burst: e.MIRROROPS_EC2_MUTATING_BURST, perSecond: e.MIRROROPS_EC2_MUTATING_RATE },
    },
  };
}

/**
 * This Region's targets: MIRROROPS_TARGET_ID and MIRROROPS_TARGETS_BY_VPC, or this Region's entry
 * of MIRROROPS_TARGETS_BY_REGION. Both may be given (one map for every Region's stack, each stack
 * with its own target id) as long as they agree: a function has one default target.
 */
function localTargets(e: z.infer<typeof EnvSchema>): {
  targetId: string;
  targetsByVpc: Record<string, PoolTarget[]>;
} {
  const entry = e.MIRROROPS_TARGETS_BY_REGION?.[e.AWS_REGION];
  const id = e.MIRROROPS_TARGET_ID;
  if (!entry) {
    if (id === undefined) {
      const listed = Object.keys(e.MIRROROPS_TARGETS_BY_REGION ?? {});
      throw new ConfigError(
        listed.length === 0
          ? 'invalid configuration: MIRROROPS_TARGET_ID: is required (or MIRROROPS_TARGETS_BY_REGION with this Region)'
          : `invalid configuration: MIRROROPS_TARGETS_BY_REGION: has no target for ${e.AWS_REGION}, the Region this runs in (it lists ${listed.join(', ')}), and MIRROROPS_TARGET_ID is not set`,
      );
    }
    return { targetId: id, targetsByVpc: e.MIRROROPS_TARGETS_BY_VPC ?? {} };
  }
  if (id !== undefined && id !== entry.targetId) {
    throw new ConfigError(
      `invalid configuration: MIRROROPS_TARGET_ID (${id}) and MIRROROPS_TARGETS_BY_REGION's ${e.AWS_REGION} (${entry.targetId}) disagree: set one, or the same target in both`,
    );
  }
  if (e.MIRROROPS_TARGETS_BY_VPC !== undefined) {
    throw new ConfigError(
      `invalid configuration: MIRROROPS_TARGETS_BY_VPC: cannot be set with MIRROROPS_TARGETS_BY_REGION's ${e.AWS_REGION}: give this Region's per-VPC targets there (targetsByVpc)`,
    );
  }
  return entry;
}

/**
 * The default target and per-VPC targets of a Region, or undefined for a Region no target is
 * configured for. A session's target must be in its source's Region: EC2 does not find a target id
 * of another Region (traffic-mirroring-targets.html: targets are Regional resources).
 */
export const targetsIn = (config: Config, region: string) => config.targetsByRegion[region];

/** The target for an ENI's VPC: the first of its VPC's pool, else the default. */
export const targetFor = (config: Config, vpcId: string | undefined) =>
  (vpcId && config.targetPools[vpcId]?.[0]?.targetId) || config.targetId;

/**
 * The targets a new session of an ENI may go to, in the order to try them: its VPC's pool with the
 * targets in the source's Availability Zone first (mirroring across zones is billed as data
 * transfer), else the one target `targetFor` names. The next is tried only when one has no room
 * left for another source (TrafficMirrorSourcesPerTargetLimitExceeded).
 */
export function targetCandidates(
  config: Config,
  vpcId: string | undefined,
  availabilityZone: string | undefined,
): string[] {
  const pool = vpcId ? config.targetPools[vpcId] : undefined;
  if (!pool) return [config.targetId];
  const here = pool.filter((t) => availabilityZone !== undefined && t.availabilityZone === availabilityZone);
  return [...new Set([...here, ...pool.filter((t) => !here.includes(t))].map((t) => t.targetId))];
}
