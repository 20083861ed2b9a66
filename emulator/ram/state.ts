import { randomUUID } from 'node:crypto';

/**
 * AWS RAM's resource shares, their associations and invitations, for every account and Region,
 * and what they make visible in EC2: a target whose resource association and a principal's
 * association both read ASSOCIATED is in `World.sharedTargets` for that principal.
 *
 * RAM completes associations asynchronously ("can take minutes"). Without a clock, the emulator
 * completes an association at its second read: the first request that reads it after it was made
 * sees ASSOCIATING, every later one ASSOCIATED. An association whose invitation is pending does not
 * advance until the invitation is accepted. A test may make a principal's associations end FAILED
 * instead, or stay ASSOCIATING (`completeAs`). See emulator/README.md.
 */

export type AssociationStatus = 'ASSOCIATING' | 'ASSOCIATED' | 'DISASSOCIATING' | 'DISASSOCIATED' | 'FAILED';
export type InvitationStatus = 'PENDING' | 'ACCEPTED' | 'REJECTED' | 'EXPIRED';

export interface ResourceShare {
  arn: string;
  name: string;
  owner: string;
  region: string;
  allowExternalPrincipals: boolean;
  tags: Map<string, string>;
  status: 'ACTIVE';
  created: Date;
  updated: Date;
  seq: number;
}

export interface Invitation {
  arn: string;
  share: ResourceShare;
  receiver: string;
  status: InvitationStatus;
  created: Date;
  seq: number;
}

export interface Association {
  share: ResourceShare;
  type: 'PRINCIPAL' | 'RESOURCE';
  /** An account id or an OU ARN (PRINCIPAL), or a resource ARN (RESOURCE). */
  entity: string;
  status: AssociationStatus;
  /** Read once since it was last made: the next read completes it. */
  seen: boolean;
  external: boolean;
  created: Date;
  updated: Date;
  statusMessage?: string;
  seq: number;
  /** An account outside the owner's organisation must accept this before the association completes. */
  invitation?: Invitation;
}

/**
 * How the ASSOCIATING associations of one entity end, in place of ASSOCIATED at their second read:
 * FAILED with RAM's `statusMessage`, or never (they stay ASSOCIATING however often read).
 */
export type AssociationOutcome = { status: 'FAILED'; statusMessage: string } | { status: 'ASSOCIATING' };

/** The organisation the emulator pretends the accounts belong to, with RAM sharing enabled in it. */
export interface Organization {
  managementAccount: string;
  members: readonly string[];
  /** The organisation's id, `o-` and 10 to 32 lower-case letters or digits; DEFAULT_ORGANIZATION_ID if absent. */
  id?: string;
  /**
   * Organizational units by id (`ou-abcd-11111111`), each with its accounts (the management account
   * or members). An OU's ARN is `arn:aws:organizations::MANAGEMENT:ou/ORG-ID/OU-ID`.
   */
  units?: Readonly<Record<string, readonly string[]>>;
}

export const DEFAULT_ORGANIZATION_ID = 'o-exampleorgid';

const OU_ARN =
  /^arn:aws[a-z-]*:organizations::(\d{12}):ou\/(o-[a-z0-9]{10,32})\/(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32})$/;

/** The parts of an organizational unit ARN, or undefined for any other string. */
export function parseOuArn(arn: string): { management: string; orgId: string; ouId: string } | undefined {
  const match = OU_ARN.exec(arn);
  if (!match) return undefined;
  const [, management = '', orgId = '', ouId = ''] = match;
  return { management, orgId, ouId };
}

const TARGET_ARN = /^arn:aws[a-z-]*:ec2:([a-z0-9-]+):(\d{12}):traffic-mirror-target\/(tmt-[0-9a-f]+)$/;

/** A traffic mirror target's ARN, as RAM names it. */
export const targetArn = (region: string, owner: string, targetId: string) =>
  `arn:aws:ec2:${region}:${owner}:traffic-mirror-target/${targetId}`;

/** The parts of a traffic mirror target ARN, or undefined for any other string. */
export function parseTargetArn(arn: string): { region: string; owner: string; id: string } | undefined {
  const match = TARGET_ARN.exec(arn);
  if (!match) return undefined;
  const [, region = '', owner = '', id = ''] = match;
  return { region, owner, id };
}

export class RamState {
  readonly shares = new Map<string, ResourceShare>();
  readonly invitations = new Map<string, Invitation>();
  /** Per share ARN: its associations by `TYPE/entity`. */
  private readonly associations = new Map<string, Map<string, Association>>();
  /** ClientTokens of RAM calls: `account/region/operation/token` -> the request and the answer. */
  readonly tokens = new Map<string, { request: string; response: Record<string, unknown> }>();
  /** What RAM has put into `sharedTargets`, so that only that is taken out again. */
  private granted = new Map<string, Set<string>>();
  private dirty = false;
  private lastSeq = 0;
  /** Entities whose associations do not complete as ASSOCIATED: see `completeAs`. */
  private readonly outcomes = new Map<string, AssociationOutcome>();

  constructor(
    private readonly sharedTargets: Map<string, Set<string>>,
    readonly organization: Organization | undefined,
  ) {}

  nextSeq(): number {
    return ++this.lastSeq;
  }

  /** Whether both accounts are in the emulated organisation (so sharing needs no invitation). */
  sameOrganization(a: string, b: string): boolean {
    return this.inOrganization(a) && this.inOrganization(b);
  }

  /** Whether the account is the emulated organisation's management account or one of its members. */
  inOrganization(account: string): boolean {
    const org = this.organization;
    return org !== undefined && (account === org.managementAccount || org.members.includes(account));
  }

  /**
   * The accounts of the OU an ARN names, when it is an OU of the emulated organisation (and, given
   * `caller`, that account is in the organisation too); undefined otherwise.
   */
  unitAccounts(arn: string, caller?: string): readonly string[] | undefined {
    const org = this.organization;
    const ou = parseOuArn(arn);
    if (!org || !ou) return undefined;
    if (caller !== undefined && !this.inOrganization(caller)) return undefined;
    if (ou.management !== org.managementAccount || ou.orgId !== (org.id ?? DEFAULT_ORGANIZATION_ID)) {
      return undefined;
    }
    return org.units && Object.hasOwn(org.units, ou.ouId) ? org.units[ou.ouId] : undefined;
  }

  /** The accounts a principal association's entity stands for: an account id, or an OU's accounts. */
  private accountsOf(entity: string): readonly string[] {
    return /^\d{12}$/.test(entity) ? [entity] : (this.unitAccounts(entity) ?? []);
  }

  /**
   * The live principal associations of a share through which `account` receives it: its own, and
   * those of OUs that hold it. None for the share's owner.
   */
  principalAssociations(share: ResourceShare, account: string): Association[] {
    if (share.owner === account) return [];
    return this.associationsOf(share).filter(
      (a) =>
        a.type === 'PRINCIPAL' && a.status !== 'DISASSOCIATED' && this.accountsOf(a.entity).includes(account),
    );
  }

  associationsOf(share: ResourceShare): Association[] {
    return [...(this.associations.get(share.arn)?.values() ?? [])];
  }

  association(share: ResourceShare, type: Association['type'], entity: string): Association | undefined {
    return this.associations.get(share.arn)?.get(`${type}/${entity}`);
  }

  /**
   * For tests (RAM has no such call): the associations of `entity` (an account id, an OU ARN or a
   * resource ARN), in any share, that are or will be ASSOCIATING end as `outcome` at the read that
   * would have completed them, rather than ASSOCIATED; without `outcome`, they complete again as
   * usual. AWS documents FAILED and statusMessage, not what makes RAM fail an association.
   */
  completeAs(entity: string, outcome?: AssociationOutcome): void {
    if (outcome === undefined) this.outcomes.delete(entity);
    else this.outcomes.set(entity, { ...outcome });
  }

  /**
   * Adds an association, or makes a dissociated or failed one anew (associating again is how a
   * failed association is retried). Either way it starts ASSOCIATING.
   */
  associate(share: ResourceShare, type: Association['type'], entity: string, external: boolean): Association {
    let byKey = this.associations.get(share.arn);
    if (!byKey) {
      byKey = new Map();
      this.associations.set(share.arn, byKey);
    }
    const existing = byKey.get(`${type}/${entity}`);
    if (existing && existing.status !== 'DISASSOCIATED' && existing.status !== 'FAILED') return existing;
    const now = new Date();
    const association: Association = {
      share,
      type,
      entity,
      status: 'ASSOCIATING',
      seen: false,
      external,
      created: existing?.created ?? now,
      updated: now,
      seq: existing?.seq ?? this.nextSeq(),
    };
    if (type === 'PRINCIPAL' && external) {
      const invitation: Invitation = {
        arn: `arn:aws:ram:${share.region}:${share.owner}:resource-share-invitation/${randomUUID()}`,
        share,
        receiver: entity,
        status: 'PENDING',
        created: now,
        seq: this.nextSeq(),
      };
      this.invitations.set(invitation.arn, invitation);
      association.invitation = invitation;
    }
    byKey.set(`${type}/${entity}`, association);
    this.dirty = true;
    return association;
  }

  /** Ends an association at once (visibility goes with it); a pending invitation for it expires. */
  disassociate(association: Association, message?: string): void {
    if (association.status === 'DISASSOCIATED') return;
    association.status = 'DISASSOCIATED';
    association.updated = new Date();
    if (message === undefined) delete association.statusMessage;
    else association.statusMessage = message;
    if (association.invitation?.status === 'PENDING') association.invitation.status = 'EXPIRED';
    this.dirty = true;
  }

  /** The receiver accepted: the association may now complete (at its second read from now on). */
  accepted(invitation: Invitation): void {
    invitation.status = 'ACCEPTED';
    const association = this.association(invitation.share, 'PRINCIPAL', invitation.receiver);
    if (association && association.invitation === invitation && association.status === 'ASSOCIATING') {
      association.seen = false;
      association.updated = new Date();
    }
  }

  /**
   * An association's status as one request reads it: the first read of an ASSOCIATING association
   * sees ASSOCIATING, the next completes it (as ASSOCIATED, or as `completeAs` says). A pending
   * invitation holds it.
   */
  read(association: Association): AssociationStatus {
    if (association.status !== 'ASSOCIATING') return association.status;
    if (association.invitation && association.invitation.status !== 'ACCEPTED') return association.status;
    if (!association.seen) {
      association.seen = true;
      return association.status;
    }
    const outcome = this.outcomes.get(association.entity);
    if (outcome?.status === 'ASSOCIATING') return association.status;
    if (outcome?.status === 'FAILED') {
      association.status = 'FAILED';
      association.statusMessage = outcome.statusMessage;
    } else {
      association.status = 'ASSOCIATED';
    }
    association.updated = new Date();
    this.dirty = true;
    return association.status;
  }

  /**
   * An EC2 request of `account` that looks at shared targets reads its associations in the Region
   * (those of one target, when it names one): the principal's own (its account's, and those of OUs
   * that hold it) and the targets'.
   */
  observe(account: string, region: string, targetId?: string): void {
    for (const share of this.shares.values()) {
      if (share.region !== region) continue;
      const principals = this.principalAssociations(share, account);
      if (principals.length === 0) continue;
      const resources = this.associationsOf(share).filter(
        (a) =>
          a.type === 'RESOURCE' &&
          a.status !== 'DISASSOCIATED' &&
          (targetId === undefined || parseTargetArn(a.entity)?.id === targetId),
      );
      if (targetId !== undefined && resources.length === 0) continue;
      for (const principal of principals) this.read(principal);
      for (const resource of resources) this.read(resource);
    }
    this.settle();
  }

  /** A target was deleted: its associations end. */
  resourceGone(arn: string): void {
    for (const byKey of this.associations.values()) {
      const association = byKey.get(`RESOURCE/${arn}`);
      if (association) this.disassociate(association, 'The resource was deleted.');
    }
    this.settle();
  }

  /**
   * Brings `sharedTargets` in line with the associations: each target whose resource association
   * is ASSOCIATED, for each principal whose association in the same share is ASSOCIATED.
   */
  settle(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const next = new Map<string, Set<string>>();
    for (const share of this.shares.values()) {
      const all = this.associationsOf(share).filter((a) => a.status === 'ASSOCIATED');
      const principals = all
        .filter((a) => a.type === 'PRINCIPAL')
        .flatMap((a) => this.accountsOf(a.entity))
        .filter((account) => account !== share.owner);
      for (const resource of all) {
        const target = resource.type === 'RESOURCE' ? parseTargetArn(resource.entity) : undefined;
        if (!target || principals.length === 0) continue;
        const key = `${target.region}/${target.id}`;
        const accounts = next.get(key) ?? new Set<string>();
        for (const principal of principals) accounts.add(principal);
        next.set(key, accounts);
      }
    }
    for (const [key, before] of this.granted) {
      const after = next.get(key);
      const shared = this.sharedTargets.get(key);
      for (const account of before) if (!after?.has(account)) shared?.delete(account);
      if (shared?.size === 0) this.sharedTargets.delete(key);
    }
    for (const [key, after] of next) {
      const before = this.granted.get(key);
      let shared = this.sharedTargets.get(key);
      for (const account of after) {
        if (before?.has(account)) continue;
        if (!shared) {
          shared = new Set();
          this.sharedTargets.set(key, shared);
        }
        shared.add(account);
      }
    }
    this.granted = next;
  }
}
