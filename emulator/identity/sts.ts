/**
 * STS: AssumeRole, GetCallerIdentity, DecodeAuthorizationMessage. The credentials AssumeRole hands
 * out carry the role's account id as their access key id, so that requests signed with them act as
 * that account (the emulator's account rule); the session token tells the emulator which role
 * session is calling. The role's trust policy is evaluated by iam-simulate as the role's resource
 * policy, with the caller's identity policies when the caller is a role session.
 * (STS/latest/APIReference/API_AssumeRole.html, API_DecodeAuthorizationMessage.html)
 */
import { randomBytes } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { World } from '../state.ts';
import { type Actor, authorize, decodeMessage, rootActor, serviceActor, sessionActor } from './authorize.ts';
import {
  checkedInt,
  checkedString,
  type IdentityHandler,
  type QueryService,
  type Role,
  type RoleSession,
  validation,
} from './context.ts';
import { recordAllowed } from './enforce.ts';
import { roleByArn } from './iam.ts';
import { type Caller, trustDocumentNow } from './policy.ts';

const SESSION_NAME = { min: 2, max: 64, pattern: /^[\w+=,.@-]*$/, text: '[\\w+=,.@-]*' };
const EXTERNAL_ID = { min: 2, max: 1224, pattern: /^[\w+=,.@:/-]*$/, text: '[\\w+=,.@:\\/-]*' };
const DEFAULT_DURATION = 3600;
/** Role chaining (a role session assuming a role) is limited to one hour (id_roles_terms-and-concepts.html). */
const CHAINED_MAX = 3600;

/**
 * The caller of a request: its account (from the access key id) and, when the request carries a
 * session token STS issued for that account, the role session. An unknown token is ignored (the
 * emulator checks no signatures); see emulator/README.md.
 */
export function callerOf(
  world: World,
  account: string,
  sessionToken: string | undefined,
): { caller: Caller; session: RoleSession | undefined } {
  const session = sessionToken === undefined ? undefined : world.roleSessions.get(sessionToken);
  if (session && session.account === account) {
    return {
      caller: { account, principalArn: session.roleArn, roleId: session.roleId, sessionArn: session.arn },
      session,
    };
  }
  return { caller: { account, principalArn: `arn:aws:iam::${account}:root` }, session: undefined };
}

const token = (bytes: number) => randomBytes(bytes).toString('base64');

/**
 * Whether the role's trust policy, with the actor's own identity policies, lets the actor assume it
 * (`sts:AssumeRole`, or `sts:AssumeRole` as a service does). iam-simulate applies AWS's rule: in the
 * role's account a trust naming the principal itself is enough; across accounts, or when the trust
 * names only the account, the caller's identity policies must allow it too.
 */
export async function trustAllows(
  world: World,
  role: Role,
  actor: Actor,
  context: Record<string, string>,
): Promise<boolean> {
  const denial = await authorize(
    actor,
    [
      {
        action: 'sts:AssumeRole',
        resource: role.arn,
        resourceAccount: role.account,
        context: {
          ...context,
          ...Object.fromEntries(role.tags.map((t) => [`iam:ResourceTag/${t.key}`, t.value])),
          ...Object.fromEntries(role.tags.map((t) => [`aws:ResourceTag/${t.key}`, t.value])),
        },
      },
    ],
    trustDocumentNow(role.policy, (arn) => roleByArn(world, arn)?.id),
  );
  return denial === undefined;
}

/** A new session of the role: the credentials STS answers, kept by their session token. */
export function startSession(
  world: World,
  role: Role,
  sessionName: string,
  durationSeconds: number,
): { session: RoleSession; accessKeyId: string; secretAccessKey: string; sessionToken: string } {
  const expiration = new Date(Date.now() + durationSeconds * 1000);
  const sessionToken = token(96);
  const session: RoleSession = {
    account: role.account,
    roleName: role.name,
    roleArn: role.arn,
    roleId: role.id,
    sessionName,
    arn: `arn:aws:sts::${role.account}:assumed-role/${role.name}/${sessionName}`,
    expiration,
  };
  world.roleSessions.set(sessionToken, session);
  return { session, accessKeyId: role.account, secretAccessKey: token(30), sessionToken };
}

/** What a service asking for an execution role's credentials gets: the session, or why not. */
export type ServiceCredentials =
  | {
      ok: true;
      accessKeyId: string;
      secretAccessKey: string;
      sessionToken: string;
      expiration: string;
      arn: string;
    }
  | { ok: false; status: number; message: string };

/**
 * What Lambda or Step Functions does before running as an execution role: assume it as the
 * service principal, which the role's trust policy must allow (with `aws:SourceAccount` and
 * `aws:SourceArn` when given, as services pass them). The session is named after the service.
 */
export async function serviceCredentials(
  world: World,
  input: { roleArn?: unknown; service?: unknown; sourceAccount?: unknown; sourceArn?: unknown },
  region: string,
): Promise<ServiceCredentials> {
  const { roleArn, service, sourceAccount, sourceArn } = input;
  if (
    typeof roleArn !== 'string' ||
    typeof service !== 'string' ||
    !/^[a-z0-9.-]+\.amazonaws\.com$/.test(service)
  ) {
    return {
      ok: false,
      status: 400,
      message:
        'roleArn (a role ARN) and service (a service principal such as lambda.amazonaws.com) are required',
    };
  }
  if (
    (sourceAccount !== undefined && typeof sourceAccount !== 'string') ||
    (sourceArn !== undefined && typeof sourceArn !== 'string')
  ) {
    return { ok: false, status: 400, message: 'sourceAccount and sourceArn must be strings' };
  }
  const role = roleByArn(world, roleArn);
  const actor = serviceActor(service, region, { account: sourceAccount, arn: sourceArn });
  if (!role || !(await trustAllows(world, role, actor, { 'sts:RoleSessionName': service }))) {
    return {
      ok: false,
      status: 403,
      message: [
        `${service} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}:`,
        role ? "the role's trust policy does not allow it" : 'no such role',
        sourceAccount === undefined ? '' : `(aws:SourceAccount ${sourceAccount})`,
        sourceArn === undefined ? '' : `(aws:SourceArn ${sourceArn})`,
      ]
        .filter(Boolean)
        .join(' '),
    };
  }
  const { session, accessKeyId, secretAccessKey, sessionToken } = startSession(
    world,
    role,
    service,
    role.maxSessionDuration,
  );
  return {
    ok: true,
    accessKeyId,
    secretAccessKey,
    sessionToken,
    expiration: session.expiration.toISOString(),
    arn: session.arn,
  };
}

const actions: Record<string, IdentityHandler> = {
  async AssumeRole({ world, p, caller, session, region }) {
    const roleArn = checkedString(p, 'RoleArn', 'roleArn', { min: 20, max: 2048 }, true);
    const sessionName = checkedString(p, 'RoleSessionName', 'roleSessionName', SESSION_NAME, true);
    const externalId = checkedString(p, 'ExternalId', 'externalId', EXTERNAL_ID);
    const duration = checkedInt(p, 'DurationSeconds', 'durationSeconds', 900, 43200);
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(roleArn)) {
      throw validation('roleArn', roleArn, 'Member must be the ARN of an IAM role');
    }
    const role = roleByArn(world, roleArn);
    const actor = session ? sessionActor(world, session, region) : rootActor(world, caller.account, region);
    const context: Record<string, string> = { 'sts:RoleSessionName': sessionName };
    if (externalId !== undefined) context['sts:ExternalId'] = externalId;
    // A role that does not exist is refused like one that does not trust the caller: STS does
    // not tell strangers which roles exist.
    if (!role || !(await trustAllows(world, role, actor, context))) {
      throw new ApiError(
        'AccessDenied',
        `User: ${session?.arn ?? caller.principalArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
        403,
      );
    }
    if (session) recordAllowed(world, session.roleArn, [{ action: 'sts:AssumeRole' }]);
    if (session && duration !== undefined && duration > CHAINED_MAX) {
      throw new ApiError(
        'ValidationError',
        'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.',
      );
    }
    if (duration !== undefined && duration > role.maxSessionDuration) {
      throw new ApiError(
        'ValidationError',
        'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
      );
    }
    const started = startSession(world, role, sessionName, duration ?? DEFAULT_DURATION);
    return {
      Credentials: {
        AccessKeyId: started.accessKeyId,
        SecretAccessKey: started.secretAccessKey,
        SessionToken: started.sessionToken,
        Expiration: started.session.expiration.toISOString(),
      },
      AssumedRoleUser: { AssumedRoleId: `${role.id}:${sessionName}`, Arn: started.session.arn },
    };
  },

  /**
   * The document behind an encoded authorization failure message (EC2's UnauthorizedOperation).
   * Authorized like any STS action (`sts:DecodeAuthorizationMessage`) before it runs.
   */
  DecodeAuthorizationMessage({ p }) {
    const encoded = checkedString(p, 'EncodedMessage', 'encodedMessage', { min: 1, max: 10240 }, true);
    const decoded = decodeMessage(encoded);
    if (!decoded) {
      throw new ApiError(
        'InvalidAuthorizationMessageException',
        'The error message provided is not a valid encoded authorization failure message.',
      );
    }
    return { DecodedMessage: JSON.stringify(decoded) };
  },

  GetCallerIdentity({ account, caller, session }) {
    if (session) {
      return { UserId: `${session.roleId}:${session.sessionName}`, Account: account, Arn: session.arn };
    }
    return { UserId: account, Account: account, Arn: caller.principalArn };
  },
};

export const stsService: QueryService = {
  name: 'AWSSecurityTokenService',
  version: '2011-06-15',
  namespace: 'https://sts.amazonaws.com/doc/2011-06-15/',
  actions,
};
