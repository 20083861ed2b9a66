/**
 * IAM, as much as roles and their permissions need: roles with trust policies (CreateRole, GetRole,
 * DeleteRole), their inline policies (Put/Get/List/DeleteRolePolicy), customer managed policies
 * (CreatePolicy, GetPolicy, DeletePolicy) attached to roles (Attach/Detach/ListAttachedRolePolicies)
 * or set as their permissions boundary (Put/DeleteRolePermissionsBoundary, or CreateRole's
 * PermissionsBoundary). IAM is global, so roles and policies belong to an account, not to a Region.
 * Identity policies are checked with the IAM policy grammar (@cloud-copilot/iam-policy) and refused
 * as IAM refuses them: MalformedPolicyDocument. (IAM/latest/APIReference/API_Operations.html)
 */

import { randomBytes } from 'node:crypto';
import { validateIdentityPolicy } from '@cloud-copilot/iam-policy';
import { ApiError } from '../errors.ts';
import type { Params } from '../query.ts';
import type { World } from '../state.ts';
import type { XmlValue } from '../xml.ts';
import {
  checkedInt,
  checkedString,
  type IdentityHandler,
  type ManagedPolicy,
  type QueryService,
  type Role,
  tagsOf,
  validation,
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

const POLICY_NAME = ROLE_NAME;
const POLICY_ARN = /^arn:aws[a-z-]*:iam::(\d{12}|aws):policy(\/(?:[\u0021-\u007E]+\/)?)?([\w+=,.@-]+)$/;
/** IAM's limits on policy documents (reference_iam-quotas.html): inline role policies 10,240 characters in all, managed 6,144. */
const INLINE_POLICY_TOTAL = 10_240;
const MANAGED_POLICY_SIZE = 6_144;
/** Managed policies attached to one role (default quota). */
const ATTACHED_PER_ROLE = 10;

/**
 * An identity policy document, parsed and checked as IAM checks it before storing it. The size IAM
 * counts excludes whitespace.
 */
function identityPolicy(document: string, limit: number): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(document);
  } catch {
    throw new ApiError('MalformedPolicyDocument', 'This policy contains invalid Json', 400);
  }
  const errors = validateIdentityPolicy(parsed);
  const first = errors[0];
  if (first) {
    throw new ApiError(
      'MalformedPolicyDocument',
      `Syntax errors in policy. ${first.message} (${first.path})`,
      400,
    );
  }
  if (document.replace(/\s/g, '').length > limit) {
    throw new ApiError('LimitExceeded', `Cannot exceed quota for PolicySize: ${limit}`, 409);
  }
  return parsed;
}

/** The customer managed policy an ARN names; AWS managed policies are not emulated. */
function policyByArn(world: World, arn: string): ManagedPolicy {
  if (!POLICY_ARN.test(arn)) throw validation('policyArn', arn, 'Member must be the ARN of an IAM policy');
  const policy = world.policies.get(arn);
  if (!policy) throw new ApiError('NoSuchEntity', `Policy ${arn} does not exist or is not attachable.`, 404);
  return policy;
}

const policyXml = (policy: ManagedPolicy, attachments: number): Record<string, XmlValue> => ({
  PolicyName: policy.name,
  PolicyId: policy.id,
  Arn: policy.arn,
  Path: policy.path,
  DefaultVersionId: 'v1',
  AttachmentCount: attachments,
  PermissionsBoundaryUsageCount: 0,
  IsAttachable: true,
  Description: policy.description,
  CreateDate: policy.created.toISOString(),
  UpdateDate: policy.created.toISOString(),
});

/** How many roles have the policy attached, and how many have it as their boundary. */
function usageOf(world: World, arn: string): { attached: number; boundary: number } {
  let attached = 0;
  let boundary = 0;
  for (const roles of world.roles.values()) {
    for (const role of roles.values()) {
      if (role.attached.has(arn)) attached++;
      if (role.boundary === arn) boundary++;
    }
  }
  return { attached, boundary };
}

/** A role of the caller's account by name, or NoSuchEntity. */
function roleNamed(world: World, account: string, p: Params): Role {
  const name = checkedString(p, 'RoleName', 'roleName', ROLE_NAME, true);
  const role = world.roles.get(account)?.get(name.toLowerCase());
  if (!role) throw noSuchRole(name);
  return role;
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
  PermissionsBoundary:
    role.boundary === undefined
      ? undefined
      : { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: role.boundary },
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
    const boundaryArn = p.str('PermissionsBoundary');
    const boundary = boundaryArn === undefined ? undefined : policyByArn(world, boundaryArn).arn;
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
      boundary,
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

  /** IAM refuses to delete a role that still has policies: they must be removed first (API_DeleteRole.html). */
  DeleteRole({ world, account, p }) {
    const role = roleNamed(world, account, p);
    if (role.inline.size > 0 || role.attached.size > 0) {
      throw new ApiError('DeleteConflict', 'Cannot delete entity, must delete policies first.', 409);
    }
    world.roles.get(account)?.delete(role.name.toLowerCase());
    return undefined;
  },

  PutRolePolicy({ world, account, p }) {
    const role = roleNamed(world, account, p);
    const name = checkedString(p, 'PolicyName', 'policyName', POLICY_NAME, true);
    const document = checkedString(p, 'PolicyDocument', 'policyDocument', { min: 1, max: 131072 }, true);
    const others = [...role.inline]
      .filter(([key]) => key !== name)
      .reduce((size, [, doc]) => size + JSON.stringify(doc).length, 0);
    const parsed = identityPolicy(document, INLINE_POLICY_TOTAL - others);
    role.inline.set(name, parsed);
    return undefined;
  },

  GetRolePolicy({ world, account, p }) {
    const role = roleNamed(world, account, p);
    const name = checkedString(p, 'PolicyName', 'policyName', POLICY_NAME, true);
    const document = role.inline.get(name);
    if (document === undefined) {
      throw new ApiError('NoSuchEntity', `The role policy with name ${name} cannot be found.`, 404);
    }
    return {
      RoleName: role.name,
      PolicyName: name,
      PolicyDocument: encodeURIComponent(JSON.stringify(document)),
    };
  },

  ListRolePolicies({ world, account, p }) {
    const role = roleNamed(world, account, p);
    return { PolicyNames: [...role.inline.keys()].sort(), IsTruncated: false };
  },

  DeleteRolePolicy({ world, account, p }) {
    const role = roleNamed(world, account, p);
    const name = checkedString(p, 'PolicyName', 'policyName', POLICY_NAME, true);
    if (!role.inline.delete(name)) {
      throw new ApiError('NoSuchEntity', `The role policy with name ${name} cannot be found.`, 404);
    }
    return undefined;
  },

  CreatePolicy({ world, account, p }) {
    const name = checkedString(p, 'PolicyName', 'policyName', POLICY_NAME, true);
    const path = checkedString(p, 'Path', 'path', PATH) ?? '/';
    const document = checkedString(p, 'PolicyDocument', 'policyDocument', { min: 1, max: 131072 }, true);
    const description = checkedString(p, 'Description', 'description', { min: 0, max: 1000 });
    const arn = `arn:aws:iam::${account}:policy${path}${name}`;
    const taken = [...world.policies.values()].some(
      (policy) => policy.account === account && policy.name.toLowerCase() === name.toLowerCase(),
    );
    if (taken) {
      throw new ApiError(
        'EntityAlreadyExists',
        `A policy called ${name} already exists. Duplicate names are not allowed.`,
        409,
      );
    }
    const policy: ManagedPolicy = {
      name,
      arn,
      id: `ANPA${roleId().slice(4)}`,
      path,
      account,
      created: new Date(),
      document: identityPolicy(document, MANAGED_POLICY_SIZE),
      description,
    };
    world.policies.set(arn, policy);
    return { Policy: policyXml(policy, 0) };
  },

  GetPolicy({ world, p }) {
    const policy = policyByArn(
      world,
      checkedString(p, 'PolicyArn', 'policyArn', { min: 20, max: 2048 }, true),
    );
    return { Policy: policyXml(policy, usageOf(world, policy.arn).attached) };
  },

  /** A policy still attached to or bounding a role cannot be deleted (API_DeletePolicy.html). */
  DeletePolicy({ world, p }) {
    const policy = policyByArn(
      world,
      checkedString(p, 'PolicyArn', 'policyArn', { min: 20, max: 2048 }, true),
    );
    const usage = usageOf(world, policy.arn);
    if (usage.attached > 0 || usage.boundary > 0) {
      throw new ApiError('DeleteConflict', 'Cannot delete a policy attached to entities.', 409);
    }
    world.policies.delete(policy.arn);
    return undefined;
  },

  AttachRolePolicy({ world, account, p }) {
    const role = roleNamed(world, account, p);
    const policy = policyByArn(
      world,
      checkedString(p, 'PolicyArn', 'policyArn', { min: 20, max: 2048 }, true),
    );
    if (!role.attached.has(policy.arn) && role.attached.size >= ATTACHED_PER_ROLE) {
      throw new ApiError(
        'LimitExceeded',
        `Cannot exceed quota for PoliciesPerRole: ${ATTACHED_PER_ROLE}`,
        409,
      );
    }
    role.attached.add(policy.arn);
    return undefined;
  },

  DetachRolePolicy({ world, account, p }) {
    const role = roleNamed(world, account, p);
    const arn = checkedString(p, 'PolicyArn', 'policyArn', { min: 20, max: 2048 }, true);
    if (!role.attached.delete(arn)) {
      throw new ApiError('NoSuchEntity', `Policy ${arn} was not found.`, 404);
    }
    return undefined;
  },

  ListAttachedRolePolicies({ world, account, p }) {
    const role = roleNamed(world, account, p);
    return {
      AttachedPolicies: [...role.attached].map((arn) => ({
        PolicyName: world.policies.get(arn)?.name ?? arn.slice(arn.lastIndexOf('/') + 1),
        PolicyArn: arn,
      })),
      IsTruncated: false,
    };
  },

  PutRolePermissionsBoundary({ world, account, p }) {
    const role = roleNamed(world, account, p);
    const arn = checkedString(p, 'PermissionsBoundary', 'permissionsBoundary', { min: 20, max: 2048 }, true);
    role.boundary = policyByArn(world, arn).arn;
    return undefined;
  },

  DeleteRolePermissionsBoundary({ world, account, p }) {
    const role = roleNamed(world, account, p);
    if (role.boundary === undefined) {
      throw new ApiError('NoSuchEntity', `The role ${role.name} has no permissions boundary.`, 404);
    }
    role.boundary = undefined;
    return undefined;
  },
};

export const iamService: QueryService = {
  name: 'AmazonIdentityManagement',
  version: '2010-05-08',
  namespace: 'https://iam.amazonaws.com/doc/2010-05-08/',
  actions,
};
