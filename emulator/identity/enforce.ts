/**
 * Where the server asks whether a request may run: one function per protocol, each answering
 * nothing (allowed) or throwing the service's own refusal. Only requests made as a role session
 * (a session token STS handed out) are evaluated; an account's own key is its root, which no
 * policy limits, so it is never evaluated.
 *
 * The caller's identity side is evaluated (its role's identity policies and permissions boundary).
 * Cross-account access (a target shared through RAM, another account's queue) is the emulator's
 * own rules in each action, so the resource is treated as the caller's here.
 */
import { elbInvolved } from '../elbv2/service.ts';
import { ApiError } from '../errors.ts';
import type { Params } from '../query.ts';
import type { World } from '../state.ts';
import {
  type AuthRequest,
  authorize,
  type ContextValues,
  denialMessage,
  ec2Denied,
  JsonAccessDenied,
  sessionActor,
} from './authorize.ts';
import type { RoleSession } from './context.ts';
import { roleByArn } from './iam.ts';
import { ec2Requests, type Involved, requestTags, resourceTags, serviceRequests } from './requests.ts';

/** The role session a session token belongs to, when STS issued it for this account. */
function sessionOf(world: World, account: string, token: string | undefined): RoleSession | undefined {
  const session = token === undefined ? undefined : world.roleSessions.get(token);
  return session?.account === account ? session : undefined;
}

/** Evaluates the contexts as the session; the first denial, with the actor, or undefined. */
async function check(world: World, session: RoleSession, region: string, requests: readonly AuthRequest[]) {
  const actor = sessionActor(world, session, region);
  // The caller's identity side only: see the module comment.
  const own = requests.map((r) => ({ ...r, resourceAccount: session.account }));
  const denial = await authorize(actor, own);
  if (!denial) recordAllowed(world, session.roleArn, requests);
  return denial && { actor, denial };
}

/** Notes the actions a role was allowed (World.authorizedCalls). */
export function recordAllowed(world: World, roleArn: string, requests: readonly { action: string }[]): void {
  let actions = world.authorizedCalls.get(roleArn);
  if (!actions) {
    actions = new Set();
    world.authorizedCalls.set(roleArn, actions);
  }
  for (const request of requests) actions.add(request.action);
}

/** EC2 (Query): 403 UnauthorizedOperation with an encoded authorization failure message. */
export async function enforceEc2(
  world: World,
  account: string,
  region: string,
  token: string | undefined,
  action: string,
  p: Params,
): Promise<void> {
  const session = sessionOf(world, account, token);
  if (!session) return;
  // Parameters too malformed to name resources (`ResourceId.0`) are refused here with the error
  // the action would give them (InvalidParameter), never let through unevaluated.
  const requests = await ec2Requests(world, account, region, action, p);
  if (!requests) return;
  const refused = await check(world, session, region, requests);
  if (refused) throw ec2Denied(refused.actor, refused.denial);
}

/** The resource type RAM names for a resource ARN: `ec2:TrafficMirrorTarget` for a target. */
function ramResourceType(arn: string): string {
  const [, , service = '', , , resource = ''] = arn.split(':');
  const type = resource.split('/')[0] ?? '';
  return `${service}:${type
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')}`;
}

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/** One context per resource ARN and principal named (or one without when none is). */
function perResourceAndPrincipal(input: Record<string, unknown>): ContextValues[] {
  const arns = strings(input.resourceArns);
  const principals = strings(input.principals);
  const out: ContextValues[] = [];
  for (const arn of arns.length > 0 ? arns : [undefined]) {
    for (const principal of principals.length > 0 ? principals : [undefined]) {
      out.push({
        ...(arn === undefined
          ? {}
          : { 'ram:ResourceArn': arn, 'ram:RequestedResourceType': ramResourceType(arn) }),
        ...(principal === undefined ? {} : { 'ram:Principal': principal }),
      });
    }
  }
  return out;
}

function ramTags(input: Record<string, unknown>): Map<string, string> {
  const tags = new Map<string, string>();
  for (const tag of Array.isArray(input.tags) ? input.tags : []) {
    const { key, value } = (tag ?? {}) as { key?: unknown; value?: unknown };
    if (typeof key === 'string') tags.set(key, typeof value === 'string' ? value : '');
  }
  return tags;
}

/** The RAM operation's contexts, or undefined when the share or invitation it names does not exist. */
function ramRequests(
  world: World,
  operation: string,
  account: string,
  input: Record<string, unknown>,
): AuthRequest[] | undefined {
  const action = `ram:${operation}`;
  const one = (resource: string, context: ContextValues): AuthRequest => ({
    action,
    resource,
    resourceAccount: account,
    context,
  });
  switch (operation) {
    case 'CreateResourceShare': {
      const allows =
        typeof input.allowExternalPrincipals === 'boolean' ? input.allowExternalPrincipals : true;
      const common = {
        'ram:RequestedAllowsExternalPrincipals': String(allows),
        ...(typeof input.name === 'string' ? { 'ram:ResourceShareName': input.name } : {}),
        ...requestTags(ramTags(input)),
      };
      return perResourceAndPrincipal(input).map((context) => one('*', { ...common, ...context }));
    }
    case 'AssociateResourceShare':
    case 'DisassociateResourceShare': {
      const arn = input.resourceShareArn;
      const share = typeof arn === 'string' ? world.ram.shares.get(arn) : undefined;
      if (!share || share.owner !== account) return undefined;
      const common = {
        ...resourceTags(share.tags, 'ram'),
        'ram:AllowsExternalPrincipals': String(share.allowExternalPrincipals),
        'ram:ResourceShareName': share.name,
      };
      return perResourceAndPrincipal(input).map((context) => one(share.arn, { ...common, ...context }));
    }
    case 'AcceptResourceShareInvitation': {
      const arn = input.resourceShareInvitationArn;
      const invitation = typeof arn === 'string' ? world.ram.invitations.get(arn) : undefined;
      if (!invitation) return undefined;
      return [
        one(invitation.arn, {
          'ram:ShareOwnerAccountId': invitation.share.owner,
          'ram:ResourceShareName': invitation.share.name,
        }),
      ];
    }
    default:
      // GetResourceShares, GetResourceShareAssociations, GetResourceShareInvitations, ListResources:
      // wildcard-only in the Reference.
      return [one('*', {})];
  }
}

/** RAM (rest-json): 403 AccessDeniedException (RAM's model lists no error for it; AWS's common one). */
export async function enforceRam(
  world: World,
  account: string,
  region: string,
  token: string | undefined,
  operation: string,
  input: Record<string, unknown>,
): Promise<void> {
  const session = sessionOf(world, account, token);
  if (!session) return;
  const requests = ramRequests(world, operation, account, input);
  if (!requests) return;
  const refused = await check(world, session, region, requests);
  if (refused) {
    throw new ApiError('AccessDeniedException', denialMessage(refused.actor, refused.denial), 403);
  }
}

/** The queue ARN a queue URL (`http://HOST/ACCOUNT/NAME`) or name names. */
function queueArn(input: Record<string, unknown>, account: string, region: string): string | undefined {
  if (typeof input.QueueUrl === 'string') {
    const match = /\/(\d{12})\/([^/?#]+)$/.exec(input.QueueUrl);
    return match ? `arn:aws:sqs:${region}:${match[1]}:${match[2]}` : undefined;
  }
  if (typeof input.QueueName === 'string') {
    const owner = typeof input.QueueOwnerAWSAccountId === 'string' ? input.QueueOwnerAWSAccountId : account;
    return `arn:aws:sqs:${region}:${owner}:${input.QueueName}`;
  }
  return undefined;
}

/**
 * The batch operations authorize as their single action: the Service Authorization Reference has
 * no `sqs:SendMessageBatch`, `sqs:DeleteMessageBatch` or `sqs:ChangeMessageVisibilityBatch`, and
 * SQS's API Reference says the batch permissions are those of SendMessage, DeleteMessage and
 * ChangeMessageVisibility (sqs-api-permissions-reference.html).
 */
const SQS_BATCH_ACTIONS: Readonly<Record<string, string>> = {
  SendMessageBatch: 'SendMessage',
  DeleteMessageBatch: 'DeleteMessage',
  ChangeMessageVisibilityBatch: 'ChangeMessageVisibility',
};

/** The bus ARN of a PutEvents entry: its EventBusName (a name or an ARN), `default` without one. */
function busArn(entry: Record<string, unknown>, account: string, region: string): string {
  const bus = typeof entry.EventBusName === 'string' ? entry.EventBusName : 'default';
  return bus.startsWith('arn:') ? bus : `arn:aws:events:${region}:${account}:event-bus/${bus}`;
}

/**
 * EventBridge and SQS (JSON protocols). PutEvents authorizes `events:PutEvents` on each entry's
 * bus with `events:source` and `events:detail-type`; any entry refused refuses the call (400
 * AccessDeniedException). SQS authorizes the operation on the queue and answers as SQS does on
 * its JSON protocol: 403, `__type` `com.amazon.coral.service#AccessDeniedException`, and
 * `x-amzn-query-error: AccessDenied;Sender`, which the SDK turns into the error name `AccessDenied`.
 */
export async function enforceJson(
  world: World,
  account: string,
  region: string,
  token: string | undefined,
  prefix: string,
  operation: string,
  input: Record<string, unknown>,
): Promise<void> {
  const session = sessionOf(world, account, token);
  if (!session) return;
  if (prefix === 'AWSEvents' && operation === 'PutEvents') {
    const entries = Array.isArray(input.Entries) ? input.Entries : [];
    const requests = entries.map((raw): AuthRequest => {
      const entry = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      return {
        action: 'events:PutEvents',
        resource: busArn(entry, account, region),
        resourceAccount: account,
        context: {
          ...(typeof entry.Source === 'string' ? { 'events:source': entry.Source } : {}),
          ...(typeof entry.DetailType === 'string' ? { 'events:detail-type': entry.DetailType } : {}),
        },
      };
    });
    const refused = await check(world, session, region, requests);
    if (refused) {
      throw new ApiError('AccessDeniedException', denialMessage(refused.actor, refused.denial), 400);
    }
    return;
  }
  if (prefix === 'AmazonSQS') {
    const action = Object.hasOwn(SQS_BATCH_ACTIONS, operation) ? SQS_BATCH_ACTIONS[operation] : operation;
    const arn = queueArn(input, account, region);
    // ListQueues is wildcard-only (`*`); any other operation names its queue, or is refused by
    // the operation for the missing QueueUrl/QueueName.
    if (!arn && action !== 'ListQueues') return;
    const tags = new Map<string, string>();
    if (operation === 'CreateQueue' && typeof input.tags === 'object' && input.tags !== null) {
      for (const [k, v] of Object.entries(input.tags)) tags.set(k, String(v));
    }
    const requests = await serviceRequests(
      'sqs',
      action as string,
      account,
      region,
      arn ? [{ type: 'queue', arn, created: tags }] : [],
    );
    const refused = await check(world, session, region, requests);
    if (refused) {
      throw new JsonAccessDenied(
        'AccessDenied',
        denialMessage(refused.actor, refused.denial),
        403,
        'com.amazon.coral.service#AccessDeniedException',
        { 'x-amzn-query-error': 'AccessDenied;Sender' },
      );
    }
  }
}

/** The IAM resource a Query request names: its role or its policy. */
function iamInvolved(world: World, account: string, p: Params): Involved[] {
  const out: Involved[] = [];
  const roleName = p.str('RoleName');
  if (roleName !== undefined) {
    const existing = world.roles.get(account)?.get(roleName.toLowerCase());
    const arn = existing?.arn ?? `arn:aws:iam::${account}:role${p.str('Path') ?? '/'}${roleName}`;
    const tags = new Map((existing?.tags ?? []).map((t) => [t.key, t.value]));
    out.push({ type: 'role', arn, context: resourceTags(tags, 'iam') });
  }
  const policyArn = p.str('PolicyArn');
  const policyName = p.str('PolicyName');
  if (policyArn !== undefined) out.push({ type: 'policy', arn: policyArn });
  else if (policyName !== undefined && roleName === undefined) {
    out.push({ type: 'policy', arn: `arn:aws:iam::${account}:policy${p.str('Path') ?? '/'}${policyName}` });
  }
  return out;
}

/**
 * STS, IAM and ELBv2 (Query): 403 AccessDenied in their XML. GetCallerIdentity needs no permission;
 * AssumeRole is authorized by its handler (the trust policy with the caller's policies).
 */
export async function enforceQuery(
  world: World,
  service: 'sts' | 'iam' | 'elasticloadbalancing',
  account: string,
  region: string,
  session: RoleSession | undefined,
  action: string,
  p: Params,
): Promise<void> {
  if (!session) return;
  if (service === 'sts' && (action === 'GetCallerIdentity' || action === 'AssumeRole')) return;
  const involved =
    service === 'iam'
      ? iamInvolved(world, account, p)
      : service === 'elasticloadbalancing'
        ? elbInvolved(world, account, region, action, p)
        : [];
  const extra: ContextValues = {};
  const boundary = p.str('PermissionsBoundary');
  if (boundary !== undefined) extra['iam:PermissionsBoundary'] = boundary;
  else if (action.endsWith('RolePolicy') || action === 'DeleteRolePermissionsBoundary') {
    const role = roleByArn(world, involved[0]?.arn ?? '');
    if (role?.boundary !== undefined) extra['iam:PermissionsBoundary'] = role.boundary;
  }
  const policyArn = p.str('PolicyArn');
  if (policyArn !== undefined && (action === 'AttachRolePolicy' || action === 'DetachRolePolicy')) {
    extra['iam:PolicyARN'] = policyArn;
  }
  if (action === 'CreateRole' || action === 'CreatePolicy') {
    const tags = new Map<string, string>();
    for (const tag of p.struct('Tags')?.list('member') ?? []) {
      const key = tag.str('Key');
      if (key !== undefined) tags.set(key, tag.str('Value') ?? '');
    }
    const first = involved[0];
    if (first) first.created = tags;
  }
  const requests = await serviceRequests(service, action, account, region, involved, extra);
  const refused = await check(world, session, region, requests);
  if (refused) {
    throw new ApiError('AccessDenied', denialMessage(refused.actor, refused.denial), 403);
  }
}
