/**
 * AWS RAM on its rest-json protocol (`POST /createresourceshare` and so on, JSON in and out, the
 * error code in `x-amzn-errortype`), for the one resource type mirrorops shares:
 * `ec2:TrafficMirrorTarget`. Shapes and paths follow the RAM API reference and the SDK's model;
 * where AWS leaves a behaviour open, the choice is listed in emulator/README.md.
 */
import { randomUUID } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { World } from '../state.ts';
import {
  type Association,
  type AssociationStatus,
  type Invitation,
  parseOuArn,
  parseTargetArn,
  type ResourceShare,
} from './state.ts';

export interface RamCtx {
  readonly operation: string;
  readonly account: string;
  readonly region: string;
  readonly world: World;
  readonly input: Record<string, unknown>;
}

type RamOperation = (ctx: RamCtx) => Record<string, unknown>;

export const TRAFFIC_MIRROR_TARGET = 'ec2:TrafficMirrorTarget';

// ---- reading the request ------------------------------------------------------------------------

const ramError = (code: string, message: string) => new ApiError(code, message, 400);
const invalidParameter = (message: string) => ramError('InvalidParameterException', message);

function optionalString(input: Record<string, unknown>, name: string): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParameter(`The parameter ${name} must be a string.`);
  return value;
}

function requiredString(input: Record<string, unknown>, name: string): string {
  const value = optionalString(input, name);
  if (value === undefined || value === '') {
    throw ramError('MissingRequiredParameterException', `The request must include the parameter ${name}.`);
  }
  return value;
}

function stringList(input: Record<string, unknown>, name: string): string[] {
  const value = input[name];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw invalidParameter(`The parameter ${name} must be a list of strings.`);
  }
  return [...new Set(value)];
}

function optionalBool(input: Record<string, unknown>, name: string): boolean | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalidParameter(`The parameter ${name} must be a boolean.`);
  return value;
}

function oneOf<const T extends string>(
  input: Record<string, unknown>,
  name: string,
  values: readonly T[],
): T | undefined {
  const value = optionalString(input, name);
  if (value === undefined) return undefined;
  const found = values.find((v) => v === value);
  if (found === undefined) {
    throw invalidParameter(`The value ${value} of ${name} is not valid. Valid values: ${values.join(', ')}.`);
  }
  return found;
}

function requiredOneOf<const T extends string>(
  input: Record<string, unknown>,
  name: string,
  values: readonly T[],
): T {
  const value = oneOf(input, name, values);
  if (value === undefined) {
    throw ramError('MissingRequiredParameterException', `The request must include the parameter ${name}.`);
  }
  return value;
}

const SHARE_ARN = /^arn:aws[a-z-]*:ram:[a-z0-9-]+:\d{12}:resource-share\/[0-9a-f-]{36}$/;
const INVITATION_ARN = /^arn:aws[a-z-]*:ram:[a-z0-9-]+:\d{12}:resource-share-invitation\/[0-9a-f-]{36}$/;

function checkArn(arn: string, pattern: RegExp): string {
  if (!pattern.test(arn)) throw ramError('MalformedArnException', `The ARN ${arn} is malformed.`);
  return arn;
}

/** A traffic mirror target's ARN; any other ARN is malformed here (the only type the emulator shares). */
function checkTargetArn(arn: string): { region: string; owner: string; id: string } {
  const target = parseTargetArn(arn);
  if (!target) {
    throw ramError(
      'MalformedArnException',
      `The ARN ${arn} is malformed or not of a resource type the emulator shares (only ${TRAFFIC_MIRROR_TARGET}: arn:aws:ec2:REGION:ACCOUNT:traffic-mirror-target/tmt-...).`,
    );
  }
  return target;
}

function tagsOf(input: Record<string, unknown>): Map<string, string> {
  const raw = input.tags;
  const tags = new Map<string, string>();
  if (raw === undefined || raw === null) return tags;
  if (!Array.isArray(raw)) throw invalidParameter('The parameter tags must be a list of {key, value}.');
  for (const entry of raw as unknown[]) {
    const tag = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const key = requiredString(tag, 'key');
    const value = optionalString(tag, 'value') ?? '';
    if (key.length > 128 || value.length > 256) {
      throw invalidParameter('A tag key is 1 to 128 characters and a tag value up to 256.');
    }
    if (key.toLowerCase().startsWith('aws:'))
      throw invalidParameter(`Tag keys starting with 'aws:' are reserved.`);
    tags.set(key, value);
  }
  if (tags.size > 50)
    throw ramError('TagLimitExceededException', 'A resource share can have at most 50 tags.');
  return tags;
}

// ---- paging and idempotency ---------------------------------------------------------------------

/** Sorted keys at every level, so that two requests with the same members compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function without(input: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(input).filter(([key]) => !names.includes(key)));
}

/** A page of `items` (in order of creation); the token remembers the query and where the page ended. */
function paged<T extends { seq: number }>(
  ctx: RamCtx,
  items: T[],
  maxResultsError = 'InvalidParameterException',
): { page: T[]; nextToken: string | undefined } {
  const raw = ctx.input.maxResults;
  let maxResults: number | undefined;
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > 500) {
      throw ramError(maxResultsError, `The value ${String(raw)} of maxResults is not valid: 1 to 500.`);
    }
    maxResults = raw;
  }
  const query = canonical([
    ctx.operation,
    ctx.account,
    ctx.region,
    without(ctx.input, ['nextToken', 'maxResults']),
  ]);
  const token = optionalString(ctx.input, 'nextToken');
  let after = 0;
  if (token !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    } catch {
      // not a token we wrote
    }
    // Any JSON may come back from a forged token (`null` included): only an object we wrote will do.
    const { q, s } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
      q?: unknown;
      s?: unknown;
    };
    if (q !== query || typeof s !== 'number') {
      throw ramError('InvalidNextTokenException', `The token ${token} is not valid for this request.`);
    }
    after = s;
  }
  const rest = items.filter((item) => item.seq > after).sort((a, b) => a.seq - b.seq);
  if (maxResults === undefined || rest.length <= maxResults) return { page: rest, nextToken: undefined };
  const page = rest.slice(0, maxResults);
  const last = page[page.length - 1] as T;
  return { page, nextToken: Buffer.from(JSON.stringify({ q: query, s: last.seq })).toString('base64url') };
}

/**
 * clientToken idempotency: the same token with the same request returns the first answer and
 * changes nothing; with another request it is IdempotentParameterMismatchException.
 */
function idempotent(ctx: RamCtx, run: () => Record<string, unknown>): Record<string, unknown> {
  const token = optionalString(ctx.input, 'clientToken');
  if (token === undefined) return run();
  if (token.length < 1 || token.length > 64) {
    throw ramError('InvalidClientTokenException', 'A clientToken is 1 to 64 characters.');
  }
  const key = `${ctx.account}/${ctx.region}/${ctx.operation}/${token}`;
  const request = canonical(without(ctx.input, ['clientToken']));
  const seen = ctx.world.ram.tokens.get(key);
  if (seen) {
    if (seen.request !== request) {
      throw ramError(
        'IdempotentParameterMismatchException',
        `The client token ${token} was already used with different parameters.`,
      );
    }
    return seen.response;
  }
  const response = { ...run(), clientToken: token };
  ctx.world.ram.tokens.set(key, { request, response });
  return response;
}

// ---- what the answers hold ----------------------------------------------------------------------

/** rest-json timestamps are epoch seconds. */
const seconds = (date: Date) => date.getTime() / 1000;

const shareJson = (share: ResourceShare) => ({
  resourceShareArn: share.arn,
  name: share.name,
  owningAccountId: share.owner,
  allowExternalPrincipals: share.allowExternalPrincipals,
  status: share.status,
  tags: [...share.tags].map(([key, value]) => ({ key, value })),
  creationTime: seconds(share.created),
  lastUpdatedTime: seconds(share.updated),
  featureSet: 'STANDARD',
});

const associationJson = (association: Association, status: AssociationStatus = association.status) => ({
  resourceShareArn: association.share.arn,
  resourceShareName: association.share.name,
  associatedEntity: association.entity,
  associationType: association.type,
  status,
  ...(association.statusMessage === undefined ? {} : { statusMessage: association.statusMessage }),
  creationTime: seconds(association.created),
  lastUpdatedTime: seconds(association.updated),
  external: association.external,
});

const invitationJson = (invitation: Invitation) => ({
  resourceShareInvitationArn: invitation.arn,
  resourceShareName: invitation.share.name,
  resourceShareArn: invitation.share.arn,
  senderAccountId: invitation.share.owner,
  receiverAccountId: invitation.receiver,
  invitationTimestamp: seconds(invitation.created),
  status: invitation.status,
});

// ---- rules --------------------------------------------------------------------------------------

/** A share of the caller in this Region; others' shares are unknown to it, as in RAM. */
function ownShare(ctx: RamCtx, arn: string): ResourceShare {
  checkArn(arn, SHARE_ARN);
  const share = ctx.world.ram.shares.get(arn);
  if (!share || share.owner !== ctx.account || share.region !== ctx.region) {
    throw ramError('UnknownResourceException', `ResourceShare ${arn} could not be found.`);
  }
  return share;
}

/** A target the caller owns in this Region: RAM shares only the caller's own resources. */
function ownTarget(ctx: RamCtx, arn: string): string {
  const target = checkTargetArn(arn);
  const exists =
    target.region === ctx.region &&
    target.owner === ctx.account &&
    ctx.world.state(ctx.account, ctx.region).targets.has(target.id);
  if (!exists) {
    throw ramError(
      'UnknownResourceException',
      `The resource ${arn} does not exist, or is not owned by account ${ctx.account} in Region ${ctx.region}.`,
    );
  }
  return arn;
}

/** An account id or an OU ARN (the principals the emulator shares with); not checked to exist. */
function checkPrincipal(principal: string): string {
  if (/^\d{12}$/.test(principal) || parseOuArn(principal)) return principal;
  if (principal.startsWith('arn:')) {
    throw invalidParameter(
      `Principal ${principal} is not supported by the emulator: share with twelve-digit account ids or OU ARNs.`,
    );
  }
  throw invalidParameter(`Principal ID ${principal} is malformed. Verify the ID and try again.`);
}

/**
 * A principal the share may be associated with: not its owner, and inside the owner's organisation
 * unless the share allows external principals. Returns whether it is external (needs an invitation).
 * An OU ARN must name an OU of the caller's organisation: it is never external.
 */
function sharePrincipal(
  ctx: RamCtx,
  allowExternal: boolean,
  principal: string,
): { entity: string; external: boolean } {
  const ou = parseOuArn(checkPrincipal(principal));
  if (ou) {
    if (!ctx.world.ram.unitAccounts(principal, ctx.account)) {
      throw ramError('UnknownResourceException', `OrganizationalUnit ${ou.ouId} could not be found.`);
    }
    return { entity: principal, external: false };
  }
  const account = principal;
  if (account === ctx.account) {
    throw invalidParameter(
      `Principal ${account} owns the resource share and cannot be one of its principals.`,
    );
  }
  const external = !ctx.world.ram.sameOrganization(ctx.account, account);
  if (external && !allowExternal) {
    throw invalidParameter(
      `Principal ${account} is not in your AWS organization. You do not have permission to add external AWS accounts to a resource share.`,
    );
  }
  return { entity: account, external };
}

function ownInvitation(ctx: RamCtx, arn: string): Invitation {
  checkArn(arn, INVITATION_ARN);
  const invitation = ctx.world.ram.invitations.get(arn);
  if (!invitation || invitation.receiver !== ctx.account || invitation.share.region !== ctx.region) {
    throw ramError(
      'ResourceShareInvitationArnNotFoundException',
      `ResourceShareInvitation ${arn} could not be found.`,
    );
  }
  return invitation;
}

/** Shares in the Region that `account` receives: its association with them reads ASSOCIATED. */
function receivedShares(ctx: RamCtx): ResourceShare[] {
  const ram = ctx.world.ram;
  return [...ram.shares.values()].filter((share) => {
    if (share.region !== ctx.region || share.owner === ctx.account) return false;
    // Its own association and those of its OUs: each is read, as each is looked at.
    const statuses = ram.principalAssociations(share, ctx.account).map((a) => ram.read(a));
    return statuses.includes('ASSOCIATED');
  });
}

const SHARE_STATUSES = ['PENDING', 'ACTIVE', 'FAILED', 'DELETING', 'DELETED'] as const;
const ASSOCIATION_STATUSES = [
  'ASSOCIATING',
  'ASSOCIATED',
  'FAILED',
  'DISASSOCIATING',
  'DISASSOCIATED',
  'SUSPENDED',
  'SUSPENDING',
  'RESTORING',
] as const;
const OWNERS = ['SELF', 'OTHER-ACCOUNTS'] as const;

// ---- operations ---------------------------------------------------------------------------------

/** The resources and principals of an (Dis)AssociateResourceShare request: at least one of them. */
function associationInput(input: Record<string, unknown>): { resourceArns: string[]; principals: string[] } {
  const resourceArns = stringList(input, 'resourceArns');
  const principals = stringList(input, 'principals');
  if (resourceArns.length === 0 && principals.length === 0) {
    throw ramError(
      'MissingRequiredParameterException',
      'The request must include resourceArns or principals.',
    );
  }
  return { resourceArns, principals };
}

const operations: Record<string, RamOperation> = {
  CreateResourceShare(ctx) {
    return idempotent(ctx, () => {
      const { input, world } = ctx;
      const name = requiredString(input, 'name');
      const resourceArns = stringList(input, 'resourceArns');
      const principals = stringList(input, 'principals');
      const allowExternalPrincipals = optionalBool(input, 'allowExternalPrincipals') ?? true;
      const tags = tagsOf(input);
      const resources = resourceArns.map((arn) => ownTarget(ctx, arn));
      const accounts = principals.map((p) => sharePrincipal(ctx, allowExternalPrincipals, p));
      const now = new Date();
      const share: ResourceShare = {
        arn: `arn:aws:ram:${ctx.region}:${ctx.account}:resource-share/${randomUUID()}`,
        name,
        owner: ctx.account,
        region: ctx.region,
        allowExternalPrincipals,
        tags,
        status: 'ACTIVE',
        created: now,
        updated: now,
        seq: world.ram.nextSeq(),
      };
      world.ram.shares.set(share.arn, share);
      for (const arn of resources) world.ram.associate(share, 'RESOURCE', arn, false);
      for (const { entity, external } of accounts) world.ram.associate(share, 'PRINCIPAL', entity, external);
      return { resourceShare: shareJson(share) };
    });
  },

  AssociateResourceShare(ctx) {
    return idempotent(ctx, () => {
      const { input, world } = ctx;
      const share = ownShare(ctx, requiredString(input, 'resourceShareArn'));
      const { resourceArns, principals } = associationInput(input);
      const resources = resourceArns.map((arn) => ownTarget(ctx, arn));
      const accounts = principals.map((p) => sharePrincipal(ctx, share.allowExternalPrincipals, p));
      const touched = [
        ...resources.map((arn) => world.ram.associate(share, 'RESOURCE', arn, false)),
        ...accounts.map(({ entity, external }) => world.ram.associate(share, 'PRINCIPAL', entity, external)),
      ];
      share.updated = new Date();
      return { resourceShareAssociations: touched.map((a) => associationJson(a)) };
    });
  },

  DisassociateResourceShare(ctx) {
    return idempotent(ctx, () => {
      const { input, world } = ctx;
      const share = ownShare(ctx, requiredString(input, 'resourceShareArn'));
      const { resourceArns, principals } = associationInput(input);
      const find = (type: Association['type'], entity: string): Association => {
        const association = world.ram.association(share, type, entity);
        if (!association) {
          throw ramError(
            'UnknownResourceException',
            `${entity} is not associated with resource share ${share.arn}.`,
          );
        }
        return association;
      };
      const found = [
        ...resourceArns.map((arn) => {
          checkTargetArn(arn);
          return find('RESOURCE', arn);
        }),
        ...principals.map((p) => find('PRINCIPAL', checkPrincipal(p))),
      ];
      const answer = found.map((association) => {
        // The answer says DISASSOCIATING as RAM's does; the association has ended by the next read.
        const status = association.status === 'DISASSOCIATED' ? 'DISASSOCIATED' : 'DISASSOCIATING';
        world.ram.disassociate(association);
        return associationJson(association, status);
      });
      share.updated = new Date();
      return { resourceShareAssociations: answer };
    });
  },

  GetResourceShares(ctx) {
    const { input, world } = ctx;
    const owner = requiredOneOf(input, 'resourceOwner', OWNERS);
    const arns = new Set(stringList(input, 'resourceShareArns').map((arn) => checkArn(arn, SHARE_ARN)));
    const status = oneOf(input, 'resourceShareStatus', SHARE_STATUSES);
    const name = optionalString(input, 'name');
    const principal = optionalString(input, 'principal');
    if (principal !== undefined) checkPrincipal(principal);
    const rawFilters = input.tagFilters;
    if (rawFilters !== undefined && rawFilters !== null && !Array.isArray(rawFilters)) {
      throw invalidParameter('The parameter tagFilters must be a list of {tagKey, tagValues}.');
    }
    const tagFilters = ((rawFilters ?? []) as unknown[]).map((entry) => {
      const filter = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
      return { key: requiredString(filter, 'tagKey'), values: stringList(filter, 'tagValues') };
    });
    const candidates =
      owner === 'SELF'
        ? [...world.ram.shares.values()].filter((s) => s.owner === ctx.account && s.region === ctx.region)
        : receivedShares(ctx);
    const selected = candidates.filter((share) => {
      if (arns.size > 0 && !arns.has(share.arn)) return false;
      if (status !== undefined && share.status !== status) return false;
      if (name !== undefined && share.name !== name) return false;
      for (const filter of tagFilters) {
        const value = share.tags.get(filter.key);
        if (value === undefined || (filter.values.length > 0 && !filter.values.includes(value))) return false;
      }
      if (principal !== undefined) {
        const association = world.ram.association(share, 'PRINCIPAL', principal);
        if (!association || association.status === 'DISASSOCIATED') return false;
      }
      return true;
    });
    const { page, nextToken } = paged(ctx, selected);
    return { resourceShares: page.map(shareJson), ...(nextToken === undefined ? {} : { nextToken }) };
  },

  GetResourceShareAssociations(ctx) {
    const { input, world } = ctx;
    const type = requiredOneOf(input, 'associationType', ['PRINCIPAL', 'RESOURCE', 'SOURCE'] as const);
    const shares = stringList(input, 'resourceShareArns').map((arn) => ownShare(ctx, arn));
    const resourceArn = optionalString(input, 'resourceArn');
    const principal = optionalString(input, 'principal');
    if (resourceArn !== undefined && type !== 'RESOURCE') {
      throw invalidParameter('resourceArn can be given only with associationType RESOURCE.');
    }
    if (principal !== undefined && type !== 'PRINCIPAL') {
      throw invalidParameter('principal can be given only with associationType PRINCIPAL.');
    }
    if (resourceArn !== undefined) checkTargetArn(resourceArn);
    if (principal !== undefined) checkPrincipal(principal);
    const status = oneOf(input, 'associationStatus', ASSOCIATION_STATUSES);
    const owned =
      shares.length > 0
        ? shares
        : [...world.ram.shares.values()].filter((s) => s.owner === ctx.account && s.region === ctx.region);
    const rows = owned
      .flatMap((share) => world.ram.associationsOf(share))
      .filter(
        (a) =>
          a.type === type &&
          (resourceArn === undefined || a.entity === resourceArn) &&
          (principal === undefined || a.entity === principal),
      )
      .sort((a, b) => a.seq - b.seq)
      .map((association) => ({ seq: association.seq, association, status: world.ram.read(association) }))
      .filter((row) => status === undefined || row.status === status);
    const { page, nextToken } = paged(ctx, rows);
    return {
      resourceShareAssociations: page.map((row) => associationJson(row.association, row.status)),
      ...(nextToken === undefined ? {} : { nextToken }),
    };
  },

  GetResourceShareInvitations(ctx) {
    const { input, world } = ctx;
    const arns = new Set(
      stringList(input, 'resourceShareInvitationArns').map((arn) => ownInvitation(ctx, arn).arn),
    );
    const shareArns = new Set(stringList(input, 'resourceShareArns').map((arn) => checkArn(arn, SHARE_ARN)));
    const selected = [...world.ram.invitations.values()].filter(
      (invitation) =>
        invitation.receiver === ctx.account &&
        invitation.share.region === ctx.region &&
        (arns.size === 0 || arns.has(invitation.arn)) &&
        (shareArns.size === 0 || shareArns.has(invitation.share.arn)),
    );
    const { page, nextToken } = paged(ctx, selected, 'InvalidMaxResultsException');
    return {
      resourceShareInvitations: page.map(invitationJson),
      ...(nextToken === undefined ? {} : { nextToken }),
    };
  },

  AcceptResourceShareInvitation(ctx) {
    return idempotent(ctx, () => {
      const invitation = ownInvitation(ctx, requiredString(ctx.input, 'resourceShareInvitationArn'));
      if (invitation.status === 'ACCEPTED') {
        throw ramError(
          'ResourceShareInvitationAlreadyAcceptedException',
          `ResourceShareInvitation ${invitation.arn} has already been accepted.`,
        );
      }
      if (invitation.status === 'REJECTED') {
        throw ramError(
          'ResourceShareInvitationAlreadyRejectedException',
          `ResourceShareInvitation ${invitation.arn} has already been rejected.`,
        );
      }
      if (invitation.status === 'EXPIRED') {
        throw ramError(
          'ResourceShareInvitationExpiredException',
          `ResourceShareInvitation ${invitation.arn} has expired.`,
        );
      }
      ctx.world.ram.accepted(invitation);
      return { resourceShareInvitation: invitationJson(invitation) };
    });
  },

  ListResources(ctx) {
    const { input, world } = ctx;
    const owner = requiredOneOf(input, 'resourceOwner', OWNERS);
    const principal = optionalString(input, 'principal');
    if (principal !== undefined) {
      if (owner !== 'SELF') throw invalidParameter('principal can be given only with resourceOwner SELF.');
      checkPrincipal(principal);
    }
    const resourceType = optionalString(input, 'resourceType');
    if (resourceType !== undefined && resourceType !== TRAFFIC_MIRROR_TARGET) {
      throw ramError(
        'InvalidResourceTypeException',
        `The resource type ${resourceType} is not valid here: the emulator shares only ${TRAFFIC_MIRROR_TARGET}.`,
      );
    }
    const resourceArns = new Set(
      stringList(input, 'resourceArns').map((arn) => {
        checkTargetArn(arn);
        return arn;
      }),
    );
    const shareArns = new Set(stringList(input, 'resourceShareArns').map((arn) => checkArn(arn, SHARE_ARN)));
    const scope = oneOf(input, 'resourceRegionScope', ['ALL', 'REGIONAL', 'GLOBAL'] as const);
    const ram = world.ram;
    const shares = (
      owner === 'SELF'
        ? [...ram.shares.values()].filter((s) => s.owner === ctx.account && s.region === ctx.region)
        : receivedShares(ctx)
    ).filter((share) => {
      if (shareArns.size > 0 && !shareArns.has(share.arn)) return false;
      if (principal === undefined) return true;
      const association = ram.association(share, 'PRINCIPAL', principal);
      return association !== undefined && ram.read(association) === 'ASSOCIATED';
    });
    const rows =
      scope === 'GLOBAL'
        ? []
        : shares
            .flatMap((share) => ram.associationsOf(share))
            .filter((a) => a.type === 'RESOURCE' && (resourceArns.size === 0 || resourceArns.has(a.entity)))
            .sort((a, b) => a.seq - b.seq)
            .filter((a) => ram.read(a) === 'ASSOCIATED');
    const { page, nextToken } = paged(ctx, rows);
    return {
      resources: page.map((a) => ({
        arn: a.entity,
        type: TRAFFIC_MIRROR_TARGET,
        resourceShareArn: a.share.arn,
        status: 'AVAILABLE',
        creationTime: seconds(a.created),
        lastUpdatedTime: seconds(a.updated),
        resourceRegionScope: 'REGIONAL',
      })),
      ...(nextToken === undefined ? {} : { nextToken }),
    };
  },
};

/** RAM's operations by the path the SDK posts them to. */
export const RAM_ROUTES: Readonly<Record<string, string>> = {
  '/createresourceshare': 'CreateResourceShare',
  '/associateresourceshare': 'AssociateResourceShare',
  '/disassociateresourceshare': 'DisassociateResourceShare',
  '/getresourceshares': 'GetResourceShares',
  '/getresourceshareassociations': 'GetResourceShareAssociations',
  '/getresourceshareinvitations': 'GetResourceShareInvitations',
  '/acceptresourceshareinvitation': 'AcceptResourceShareInvitation',
  '/listresources': 'ListResources',
};

export const ramOperations: Readonly<Record<string, RamOperation>> = operations;
