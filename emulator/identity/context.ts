import { ApiError } from '../errors.ts';
import type { Params } from '../query.ts';
import type { World } from '../state.ts';
import type { XmlValue } from '../xml.ts';
import type { Caller, TrustPolicy } from './policy.ts';

/** What an STS or IAM action gets: the caller (its account, and its role when it uses a session token). */
export interface IdentityCtx {
  readonly action: string;
  readonly account: string;
  readonly region: string;
  readonly world: World;
  readonly p: Params;
  readonly caller: Caller;
  /** The assumed-role session the request's session token belongs to, if any. */
  readonly session: RoleSession | undefined;
}

/**
 * An action's result members (written inside `<ActionResult>`), or undefined for an action without
 * output; a Promise for actions that evaluate policies (iam-simulate is asynchronous).
 */
export type IdentityHandler = (
  ctx: IdentityCtx,
) => Record<string, XmlValue> | undefined | Promise<Record<string, XmlValue> | undefined>;

/** A Query service other than EC2, chosen by the request's `Version`. */
export interface QueryService {
  /** The service's name in errors, e.g. `AWSSecurityTokenService`. */
  name: string;
  version: string;
  namespace: string;
  actions: Record<string, IdentityHandler>;
}

export interface Role {
  name: string;
  path: string;
  arn: string;
  /** The unique id (AROA...), which is what a trust policy naming this role keeps. */
  id: string;
  account: string;
  created: Date;
  /** The trust policy as the caller wrote it. */
  document: string;
  policy: TrustPolicy;
  description: string | undefined;
  maxSessionDuration: number;
  tags: { key: string; value: string }[];
  /** Inline identity policies (PutRolePolicy): policy name -> the parsed JSON document. */
  inline: Map<string, unknown>;
  /** Managed policies attached to the role (AttachRolePolicy), by policy ARN. */
  attached: Set<string>;
  /** The permissions boundary (PutRolePermissionsBoundary): a managed policy's ARN. */
  boundary: string | undefined;
}

/** A customer managed policy (CreatePolicy): its default version's parsed JSON document. */
export interface ManagedPolicy {
  name: string;
  arn: string;
  id: string;
  path: string;
  account: string;
  created: Date;
  document: unknown;
  description: string | undefined;
}

/** Credentials STS handed out: the session token is the key the emulator finds them by. */
export interface RoleSession {
  account: string;
  roleName: string;
  roleArn: string;
  roleId: string;
  sessionName: string;
  /** `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`. */
  arn: string;
  expiration: Date;
}

/**
 * STS's and IAM's validation error: `ValidationError`, with the constraint in the message, as
 * they answer a value the model refuses (the SDK does not check these before sending).
 */
export function validation(field: string, value: string, constraint: string): ApiError {
  return new ApiError(
    'ValidationError',
    `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`,
  );
}

/** A required string within [min, max] characters matching `pattern` (anchored). */
export function checkedString(
  p: Params,
  name: string,
  field: string,
  rule: { min: number; max: number; pattern?: RegExp; text?: string },
  required: true,
): string;
export function checkedString(
  p: Params,
  name: string,
  field: string,
  rule: { min: number; max: number; pattern?: RegExp; text?: string },
  required?: false,
): string | undefined;
export function checkedString(
  p: Params,
  name: string,
  field: string,
  rule: { min: number; max: number; pattern?: RegExp; text?: string },
  required = false,
): string | undefined {
  const value = p.str(name);
  if (value === undefined || (required && value === '')) {
    if (required) throw validation(field, 'null', 'Member must not be null');
    return undefined;
  }
  if (value.length < rule.min)
    throw validation(field, value, `Member must have length greater than or equal to ${rule.min}`);
  if (value.length > rule.max)
    throw validation(field, value, `Member must have length less than or equal to ${rule.max}`);
  if (rule.pattern && !rule.pattern.test(value))
    throw validation(field, value, `Member must satisfy regular expression pattern: ${rule.text ?? ''}`);
  return value;
}

/** An integer within [min, max], or undefined when absent. */
export function checkedInt(
  p: Params,
  name: string,
  field: string,
  min: number,
  max: number,
): number | undefined {
  const raw = p.str(name);
  if (raw === undefined) return undefined;
  if (!/^-?\d+$/.test(raw)) throw validation(field, raw, 'Member must be an integer');
  const value = Number(raw);
  if (value < min) throw validation(field, raw, `Member must have value greater than or equal to ${min}`);
  if (value > max) throw validation(field, raw, `Member must have value less than or equal to ${max}`);
  return value;
}

/** `Tags.member.N.Key` / `.Value`, as the Query services send lists. */
export function tagsOf(p: Params): { key: string; value: string }[] {
  const tags = (p.struct('Tags')?.list('member') ?? []).map((tag) => ({
    key: checkedString(tag, 'Key', 'tags.member.key', { min: 1, max: 128 }, true),
    value: tag.str('Value') ?? '',
  }));
  if (tags.length > 50)
    throw validation('tags', `${tags.length} tags`, 'Member must have length less than or equal to 50');
  for (const tag of tags) {
    if (tag.value.length > 256)
      throw validation('tags.member.value', tag.value, 'Member must have length less than or equal to 256');
  }
  return tags;
}
