/**
 * Role trust policies: parsed and checked when the role is created (IAM's MalformedPolicyDocument
 * cases), with the roles they name resolved to their unique ids then. They are evaluated by
 * @cloud-copilot/iam-simulate as the role's resource policy (emulator/identity/authorize.ts).
 * (IAM/latest/UserGuide/reference_policies_elements_principal.html, id_roles_create_for-user_externalid.html)
 */
import { validateTrustPolicy } from '@cloud-copilot/iam-policy';
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

export interface TrustPolicy {
  /** The document as written, parsed. */
  document: { [key: string]: Json };
  /** Each role ARN the policy names, with the unique id of the role it named when the policy was written. */
  roles: ReadonlyMap<string, string>;
}

/** Who is calling: its account and, for a role session, the role. */
export interface Caller {
  account: string;
  /** `aws:PrincipalArn`: the account's root, or the role of an assumed-role session. */
  principalArn: string;
  /** For an assumed-role session: the role's unique id and the session's own ARN. */
  roleId?: string;
  sessionArn?: string;
}

const malformed = (message: string) => new ApiError('MalformedPolicyDocument', message);

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

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

/** Conditions must be objects of objects whose values are strings, numbers or booleans (or lists of them). */
function checkConditions(value: Json | undefined): void {
  if (value === undefined) return;
  if (!isObject(value)) throw malformed('Syntax errors in policy: Condition must be an object.');
  for (const [operator, block] of Object.entries(value)) {
    if (!isObject(block))
      throw malformed(`Syntax errors in policy: Condition ${operator} must be an object.`);
    for (const [key, raw] of Object.entries(block)) {
      for (const item of Array.isArray(raw) ? raw : [raw]) {
        if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean')
          throw malformed(`Syntax errors in policy: the values of condition key ${key} must be strings.`);
      }
    }
  }
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
  const roles = new Map<string, string>();
  for (const entry of list) {
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
    for (const ref of principalsOf(entry.Principal, roleIdOf)) {
      if (ref.kind === 'role') roles.set(ref.arn, ref.roleId);
    }
    checkConditions(entry.Condition);
  }
  const problem = validateTrustPolicy(json)[0];
  if (problem) throw malformed(`Syntax errors in policy. ${problem.message} (${problem.path})`);
  return { document: json, roles };
}

/**
 * The trust policy as it reads now: a role it names that was deleted since, or deleted and created
 * again under the same name, is shown by its old unique id (as IAM shows it), which no caller is.
 */
export function trustDocumentNow(
  policy: TrustPolicy,
  roleIdOf: (arn: string) => string | undefined,
): { [key: string]: Json } {
  const stale = [...policy.roles].filter(([arn, id]) => roleIdOf(arn) !== id);
  if (stale.length === 0) return policy.document;
  const replace = (name: Json): Json => {
    const hit = typeof name === 'string' ? stale.find(([arn]) => arn === name) : undefined;
    return hit ? hit[1] : name;
  };
  const copy = structuredClone(policy.document);
  const list = Array.isArray(copy.Statement) ? copy.Statement : [copy.Statement];
  for (const statement of list) {
    if (!isObject(statement) || !isObject(statement.Principal)) continue;
    const aws = statement.Principal.AWS;
    if (aws === undefined) continue;
    statement.Principal.AWS = Array.isArray(aws) ? aws.map(replace) : replace(aws);
  }
  return copy;
}
