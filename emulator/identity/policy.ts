/**
 * Role trust policies: parsed and checked when the role is created (IAM's MalformedPolicyDocument
 * cases), evaluated when someone asks STS to assume the role. Only what a trust policy can say is
 * modelled: statements with Effect, Action/NotAction, Principal and Condition.
 * (IAM/latest/UserGuide/reference_policies_elements_principal.html, id_roles_create_for-user_externalid.html)
 */
import { ApiError } from '../errors.ts';

/** Who a statement names, resolved when the policy was written. */
export type PrincipalRef =
  | { kind: 'any' }
  | { kind: 'account'; account: string }
  /** A role by its unique id: a role deleted and created again under the same name is another principal. */
  | { kind: 'role'; arn: string; roleId: string }
  | { kind: 'session'; arn: string }
  /** Service and federated principals: valid, but no caller of the emulator is one. */
  | { kind: 'other'; name: string };

export interface Condition {
  operator: string;
  key: string;
  values: string[];
}

export interface Statement {
  effect: 'Allow' | 'Deny';
  actions: string[] | undefined;
  notActions: string[] | undefined;
  principals: PrincipalRef[];
  conditions: Condition[];
}

export interface TrustPolicy {
  statements: Statement[];
}

/** Who is calling, as a trust policy sees it. */
export interface Caller {
  account: string;
  /** `aws:PrincipalArn`: the account's root, or the role of an assumed-role session. */
  principalArn: string;
  /** For an assumed-role session: the role's unique id and the session's own ARN. */
  roleId?: string;
  sessionArn?: string;
}

const malformed = (message: string) => new ApiError('MalformedPolicyDocument', message);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (value: Json | undefined): value is { [key: string]: Json } =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A string or a list of strings; `what` names the field in the error. */
function stringsOf(value: Json | undefined, what: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => {
    if (typeof item !== 'string')
      throw malformed(`Syntax errors in policy: ${what} must be a string or a list of strings.`);
    return item;
  });
}

const ACCOUNT = /^\d{12}$/;
const ROOT = /^arn:aws[a-z-]*:iam::(\d{12}):root$/;
const ROLE = /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/;
const SESSION = /^arn:aws[a-z-]*:sts::\d{12}:assumed-role\/[\w+=,.@-]+\/[\w+=,.@-]+$/;

/**
 * One `"AWS"` principal. A role ARN must name an existing role (IAM refuses the policy otherwise:
 * "Invalid principal in policy"); IAM users are not emulated, so a user ARN is refused the same way.
 */
function awsPrincipal(value: string, roleIdOf: (arn: string) => string | undefined): PrincipalRef {
  if (value === '*') return { kind: 'any' };
  if (ACCOUNT.test(value)) return { kind: 'account', account: value };
  const root = ROOT.exec(value);
  if (root) return { kind: 'account', account: root[1] as string };
  if (ROLE.test(value)) {
    const roleId = roleIdOf(value);
    if (roleId !== undefined) return { kind: 'role', arn: value, roleId };
  }
  if (SESSION.test(value)) return { kind: 'session', arn: value };
  throw malformed(`Invalid principal in policy: "AWS":"${value}"`);
}

function principalsOf(
  value: Json | undefined,
  roleIdOf: (arn: string) => string | undefined,
): PrincipalRef[] {
  if (value === undefined) throw malformed('Missing required field Principal');
  if (value === '*') return [{ kind: 'any' }];
  if (!isObject(value)) throw malformed('Syntax errors in policy: Principal must be "*" or an object.');
  const out: PrincipalRef[] = [];
  for (const [type, names] of Object.entries(value)) {
    for (const name of stringsOf(names, `Principal.${type}`)) {
      if (type === 'AWS') out.push(awsPrincipal(name, roleIdOf));
      else if (type === 'Service' || type === 'Federated' || type === 'CanonicalUser')
        out.push({ kind: 'other', name });
      else throw malformed(`Invalid principal in policy: "${type}":"${name}"`);
    }
  }
  if (out.length === 0) throw malformed('Missing required field Principal');
  return out;
}

function conditionsOf(value: Json | undefined): Condition[] {
  if (value === undefined) return [];
  if (!isObject(value)) throw malformed('Syntax errors in policy: Condition must be an object.');
  const out: Condition[] = [];
  for (const [operator, block] of Object.entries(value)) {
    if (!isObject(block))
      throw malformed(`Syntax errors in policy: Condition ${operator} must be an object.`);
    for (const [key, raw] of Object.entries(block)) {
      const list = Array.isArray(raw) ? raw : [raw];
      const values = list.map((item) => {
        if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean')
          return String(item);
        throw malformed(`Syntax errors in policy: the values of condition key ${key} must be strings.`);
      });
      out.push({ operator, key: key.toLowerCase(), values });
    }
  }
  return out;
}

/** A trust policy may name only STS actions ("AssumeRole policy may only specify STS AssumeRole actions."). */
function checkActions(actions: string[]): void {
  for (const action of actions) {
    if (action !== '*' && !action.toLowerCase().startsWith('sts:')) {
      throw malformed('AssumeRole policy may only specify STS AssumeRole actions.');
    }
  }
}

/**
 * Parses a role's trust policy as IAM checks it at CreateRole. `roleIdOf` resolves a role ARN to
 * the unique id of the role it names now, or undefined when no such role exists.
 */
export function parseTrustPolicy(
  document: string,
  roleIdOf: (arn: string) => string | undefined,
): TrustPolicy {
  let json: Json;
  try {
    json = JSON.parse(document) as Json;
  } catch {
    throw malformed('This policy contains invalid Json');
  }
  if (!isObject(json)) throw malformed('Syntax errors in policy.');
  const version = json.Version;
  if (version !== undefined && version !== '2012-10-17' && version !== '2008-10-17') {
    throw malformed(`The policy version ${String(version)} is not valid.`);
  }
  const raw = json.Statement;
  if (raw === undefined) throw malformed('Missing required field Statement');
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw malformed('Missing required field Statement');
  const statements = list.map((entry): Statement => {
    if (!isObject(entry)) throw malformed('Syntax errors in policy.');
    if (entry.Resource !== undefined || entry.NotResource !== undefined)
      throw malformed('Has prohibited field Resource');
    if (entry.NotPrincipal !== undefined) throw malformed('Has prohibited field NotPrincipal');
    const effect = entry.Effect;
    if (effect !== 'Allow' && effect !== 'Deny')
      throw malformed('Syntax errors in policy: Effect must be Allow or Deny.');
    if (entry.Action === undefined && entry.NotAction === undefined)
      throw malformed('Missing required field Action');
    const actions = entry.Action === undefined ? undefined : stringsOf(entry.Action, 'Action');
    const notActions = entry.NotAction === undefined ? undefined : stringsOf(entry.NotAction, 'NotAction');
    checkActions([...(actions ?? []), ...(notActions ?? [])]);
    return {
      effect,
      actions,
      notActions,
      principals: principalsOf(entry.Principal, roleIdOf),
      conditions: conditionsOf(entry.Condition),
    };
  });
  return { statements };
}

/** IAM wildcards: `*` any run, `?` exactly one character; case-insensitive where `ignoreCase`. */
function wildcard(pattern: string, value: string, ignoreCase: boolean): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

function actionMatches(patterns: string[], action: string): boolean {
  return patterns.some((pattern) => wildcard(pattern, action, true));
}

function principalMatches(ref: PrincipalRef, caller: Caller): boolean {
  switch (ref.kind) {
    case 'any':
      return true;
    case 'account':
      return ref.account === caller.account;
    case 'role':
      return caller.roleId === ref.roleId;
    case 'session':
      return caller.sessionArn === ref.arn;
    case 'other':
      return false;
  }
}

/**
 * One condition against the request's context (keys in lower case). The string operators, their
 * `IfExists` forms and `Null` are evaluated; any other operator never matches, so a statement that
 * relies on one does not apply (an Allow grants nothing, a Deny denies nothing).
 */
function conditionHolds(condition: Condition, context: ReadonlyMap<string, string>): boolean {
  const value = context.get(condition.key);
  if (condition.operator === 'Null') {
    const wantsAbsent = condition.values.some((v) => v.toLowerCase() === 'true');
    return wantsAbsent === (value === undefined);
  }
  const ifExists = condition.operator.endsWith('IfExists');
  const operator = ifExists ? condition.operator.slice(0, -'IfExists'.length) : condition.operator;
  const tests: Record<string, (expected: string, actual: string) => boolean> = {
    StringEquals: (e, a) => e === a,
    StringNotEquals: (e, a) => e === a,
    StringEqualsIgnoreCase: (e, a) => e.toLowerCase() === a.toLowerCase(),
    StringNotEqualsIgnoreCase: (e, a) => e.toLowerCase() === a.toLowerCase(),
    StringLike: (e, a) => wildcard(e, a, false),
    StringNotLike: (e, a) => wildcard(e, a, false),
  };
  const test = Object.hasOwn(tests, operator) ? tests[operator] : undefined;
  if (!test) return false;
  const negated = operator.includes('Not');
  if (value === undefined) return ifExists || negated;
  const matched = condition.values.some((expected) => test(expected, value));
  return negated ? !matched : matched;
}

function statementApplies(
  statement: Statement,
  action: string,
  caller: Caller,
  context: ReadonlyMap<string, string>,
): boolean {
  if (statement.actions && !actionMatches(statement.actions, action)) return false;
  if (statement.notActions && actionMatches(statement.notActions, action)) return false;
  if (!statement.principals.some((ref) => principalMatches(ref, caller))) return false;
  return statement.conditions.every((condition) => conditionHolds(condition, context));
}

/**
 * Whether the trust policy lets `caller` perform `action` on the role: an explicit Deny wins, then
 * any Allow; nothing allowed is denied. `context` holds the request's condition keys in lower case
 * (`sts:externalid` only when the caller gave one).
 */
export function trusts(
  policy: TrustPolicy,
  action: string,
  caller: Caller,
  context: ReadonlyMap<string, string>,
): boolean {
  const applies = (s: Statement) => statementApplies(s, action, caller, context);
  if (policy.statements.some((s) => s.effect === 'Deny' && applies(s))) return false;
  return policy.statements.some((s) => s.effect === 'Allow' && applies(s));
}
