/**
 * STS: AssumeRole and GetCallerIdentity. The credentials AssumeRole hands out carry the role's
 * account id as their access key id, so that requests signed with them act as that account (the
 * emulator's account rule); the session token tells the emulator which role session is calling.
 * (STS/latest/APIReference/API_AssumeRole.html)
 */
import { randomBytes } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { World } from '../state.ts';
import {
  checkedInt,
  checkedString,
  type IdentityHandler,
  type QueryService,
  type RoleSession,
  validation,
} from './context.ts';
import { roleByArn } from './iam.ts';
import { type Caller, trusts } from './policy.ts';

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

const actions: Record<string, IdentityHandler> = {
  AssumeRole({ world, p, caller, session }) {
    const roleArn = checkedString(p, 'RoleArn', 'roleArn', { min: 20, max: 2048 }, true);
    const sessionName = checkedString(p, 'RoleSessionName', 'roleSessionName', SESSION_NAME, true);
    const externalId = checkedString(p, 'ExternalId', 'externalId', EXTERNAL_ID);
    const duration = checkedInt(p, 'DurationSeconds', 'durationSeconds', 900, 43200);
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(roleArn)) {
      throw validation('roleArn', roleArn, 'Member must be the ARN of an IAM role');
    }
    const role = roleByArn(world, roleArn);
    const context = new Map<string, string>([
      ['aws:principalaccount', caller.account],
      ['aws:principalarn', caller.principalArn],
      ['sts:rolesessionname', sessionName],
    ]);
    if (externalId !== undefined) context.set('sts:externalid', externalId);
    // A role that does not exist is refused like one that does not trust the caller: STS does
    // not tell strangers which roles exist.
    if (!role || !trusts(role.policy, 'sts:AssumeRole', caller, context)) {
      throw new ApiError(
        'AccessDenied',
        `User: ${session?.arn ?? caller.principalArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
        403,
      );
    }
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
    const expiration = new Date(Date.now() + (duration ?? DEFAULT_DURATION) * 1000);
    const sessionToken = token(96);
    const assumed: RoleSession = {
      account: role.account,
      roleName: role.name,
      roleArn: role.arn,
      roleId: role.id,
      sessionName,
      arn: `arn:aws:sts::${role.account}:assumed-role/${role.name}/${sessionName}`,
      expiration,
    };
    world.roleSessions.set(sessionToken, assumed);
    return {
      Credentials: {
        AccessKeyId: role.account,
        SecretAccessKey: token(30),
        SessionToken: sessionToken,
        Expiration: expiration.toISOString(),
      },
      AssumedRoleUser: { AssumedRoleId: `${role.id}:${sessionName}`, Arn: assumed.arn },
    };
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
