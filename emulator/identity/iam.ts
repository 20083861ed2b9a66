/**
 * IAM, as much as roles with trust policies need: CreateRole, GetRole, DeleteRole. IAM is global,
 * so roles belong to an account, not to a Region. (IAM/latest/APIReference/API_CreateRole.html)
 */
import { randomBytes } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { World } from '../state.ts';
import type { XmlValue } from '../xml.ts';
import {
  checkedInt,
  checkedString,
  type IdentityHandler,
  type QueryService,
  type Role,
  tagsOf,
} from './context.ts';
import { parseTrustPolicy } from './policy.ts';

const ROLE_NAME = { min: 1, max: 64, pattern: /^[\w+=,.@-]+$/, text: '[\\w+=,.@-]+' };
const PATH = {
  min: 1,
  max: 512,
  pattern: /^(\/|\/[\u0021-\u007E]+\/)$/,
  text: '(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)',
};
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role(\/(?:[\u0021-\u007E]+\/)?)?([\w+=,.@-]+)$/;

/** The account's roles by lower-cased name: IAM role names are unique regardless of case. */
function rolesOf(world: World, account: string): Map<string, Role> {
  let roles = world.roles.get(account);
  if (!roles) {
    roles = new Map();
    world.roles.set(account, roles);
  }
  return roles;
}

/** The role an ARN names, if it exists (its path must match too). */
export function roleByArn(world: World, arn: string): Role | undefined {
  const match = ROLE_ARN.exec(arn);
  if (!match) return undefined;
  const [, account = '', path = '/', name = ''] = match;
  const role = world.roles.get(account)?.get(name.toLowerCase());
  return role && role.path === path && role.name === name ? role : undefined;
}

const noSuchRole = (name: string) =>
  new ApiError('NoSuchEntity', `The role with name ${name} cannot be found.`, 404);

/** Role IDs look like AWS's: `AROA` and 17 upper-case letters and digits. */
function roleId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return `AROA${[...randomBytes(17)].map((b) => alphabet[b % 32]).join('')}`;
}

/**
 * A role as IAM writes it. The trust policy comes back URL-encoded, as IAM returns every policy
 * document (decode it with decodeURIComponent).
 */
const roleXml = (role: Role): Record<string, XmlValue> => ({
  Path: role.path,
  RoleName: role.name,
  RoleId: role.id,
  Arn: role.arn,
  CreateDate: role.created.toISOString(),
  AssumeRolePolicyDocument: encodeURIComponent(role.document),
  Description: role.description,
  MaxSessionDuration: role.maxSessionDuration,
  Tags: role.tags.length > 0 ? role.tags.map((t) => ({ Key: t.key, Value: t.value })) : undefined,
});

const actions: Record<string, IdentityHandler> = {
  CreateRole({ world, account, p }) {
    const name = checkedString(p, 'RoleName', 'roleName', ROLE_NAME, true);
    const path = checkedString(p, 'Path', 'path', PATH) ?? '/';
    const document = checkedString(
      p,
      'AssumeRolePolicyDocument',
      'assumeRolePolicyDocument',
      {
        min: 1,
        max: 131072,
      },
      true,
    );
    const description = checkedString(p, 'Description', 'description', { min: 0, max: 1000 });
    const maxSessionDuration = checkedInt(p, 'MaxSessionDuration', 'maxSessionDuration', 3600, 43200) ?? 3600;
    const tags = tagsOf(p);
    const roles = rolesOf(world, account);
    if (roles.has(name.toLowerCase())) {
      throw new ApiError('EntityAlreadyExists', `Role with name ${name} already exists.`, 409);
    }
    const policy = parseTrustPolicy(document, (arn) => roleByArn(world, arn)?.id);
    const role: Role = {
      name,
      path,
      arn: `arn:aws:iam::${account}:role${path}${name}`,
      id: roleId(),
      account,
      created: new Date(),
      document,
      policy,
      description,
      maxSessionDuration,
      tags,
      inline: new Map(),
      attached: new Set(),
      boundary: undefined,
    };
    roles.set(name.toLowerCase(), role);
    return { Role: roleXml(role) };
  },

  GetRole({ world, account, p }) {
    const name = checkedString(p, 'RoleName', 'roleName', ROLE_NAME, true);
    const role = world.roles.get(account)?.get(name.toLowerCase());
    if (!role) throw noSuchRole(name);
    return { Role: roleXml(role) };
  },

  DeleteRole({ world, account, p }) {
    const name = checkedString(p, 'RoleName', 'roleName', ROLE_NAME, true);
    const roles = world.roles.get(account);
    if (!roles?.has(name.toLowerCase())) throw noSuchRole(name);
    roles.delete(name.toLowerCase());
    return undefined;
  },
};

export const iamService: QueryService = {
  name: 'AmazonIdentityManagement',
  version: '2010-05-08',
  namespace: 'https://iam.amazonaws.com/doc/2010-05-08/',
  actions,
};
