import { randomBytes, randomInt } from 'node:crypto';
import type { ManagedPolicy, Role, RoleSession } from './identity/context.ts';
import { type Organization, RamState } from './ram/state.ts';
import type { StoredEvent } from './services/events.ts';
import type { Queue } from './services/sqs.ts';

/** Every resource the emulator keeps: an id, an order of creation (for paging), and tags. */
export interface Resource {
  readonly id: string;
  readonly seq: number;
  readonly tags: Map<string, string>;
}

export interface Vpc extends Resource {
  cidrBlock: string;
}

export interface Subnet extends Resource {
  vpcId: string;
  cidrBlock: string;
  availabilityZone: string;
  /** Next host offset to hand out inside the CIDR. */
  nextHost: number;
}

export interface IpPermission {
  ipProtocol: string;
  fromPort?: number;
  toPort?: number;
  cidrs: string[];
  groupIds: string[];
}

export interface SecurityGroup extends Resource {
  vpcId: string;
  groupName: string;
  description: string;
  ingress: IpPermission[];
  egress: IpPermission[];
}

export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';

export interface Instance extends Resource {
  instanceType: string;
  subnetId: string;
  vpcId: string;
  securityGroupIds: string[];
  state: InstanceState;
  launchTime: Date;
  primaryEniId: string;
  privateIpAddress: string;
}

export interface Attachment {
  attachmentId: string;
  instanceId: string;
  deviceIndex: number;
  deleteOnTermination: boolean;
  attachTime: Date;
}

export interface NetworkInterface extends Resource {
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  description: string;
  privateIpAddress: string;
  securityGroupIds: string[];
  interfaceType: string;
  attachment?: Attachment;
}

export interface MirrorTarget extends Resource {
  ownerId: string;
  networkInterfaceId?: string;
  networkLoadBalancerArn?: string;
  gatewayLoadBalancerEndpointId?: string;
  description?: string;
}

/** A filter rule is a Resource too: DescribeTrafficMirrorFilterRules pages by its order, and it takes tags. */
export interface FilterRule extends Resource {
  readonly filterId: string;
  direction: 'ingress' | 'egress';
  ruleNumber: number;
  action: 'accept' | 'reject';
  protocol?: number;
  sourceCidrBlock: string;
  destinationCidrBlock: string;
  sourcePortRange?: { from: number; to: number };
  destinationPortRange?: { from: number; to: number };
  description?: string;
}

export interface MirrorFilter extends Resource {
  description?: string;
  networkServices: Set<string>;
  rules: FilterRule[];
}

export interface MirrorSession extends Resource {
  ownerId: string;
  networkInterfaceId: string;
  targetId: string;
  /** The account that owns the target (differs from the session's account for a shared target). */
  targetOwner: string;
  filterId: string;
  sessionNumber: number;
  virtualNetworkId: number;
  packetLength?: number;
  description?: string;
}

/** A VPC endpoint service of Gateway Load Balancers (CreateVpcEndpointServiceConfiguration). */
export interface EndpointService extends Resource {
  serviceName: string;
  gatewayLoadBalancerArns: string[];
  zones: string[];
  acceptanceRequired: boolean;
  /** Principals allowed to connect (ModifyVpcEndpointServicePermissions), besides the owner. */
  allowedPrincipals: Set<string>;
}

/** A Gateway Load Balancer endpoint (CreateVpcEndpoint, VpcEndpointType=GatewayLoadBalancer). */
export interface VpcEndpoint extends Resource {
  vpcId: string;
  subnetId: string;
  serviceName: string;
  serviceId: string;
  serviceOwner: string;
  state: 'pendingAcceptance' | 'available' | 'rejected';
  networkInterfaceId: string;
  created: Date;
}

/** What a ClientToken was first used for, so a repeat returns the same answer. */
export interface TokenRecord {
  request: string;
  response: Record<string, unknown>;
}

/**
 * Order of creation, shared by all accounts: a Describe call that lists resources of several
 * accounts (shared targets, sessions on the caller's target) pages them by this number.
 */
let lastSeq = 0;

/** The EC2 state of one account in one Region. Handlers run synchronously on it, so each is atomic. */
export class RegionState {
  readonly vpcs = new Map<string, Vpc>();
  readonly subnets = new Map<string, Subnet>();
  readonly securityGroups = new Map<string, SecurityGroup>();
  readonly instances = new Map<string, Instance>();
  readonly networkInterfaces = new Map<string, NetworkInterface>();
  readonly targets = new Map<string, MirrorTarget>();
  readonly filters = new Map<string, MirrorFilter>();
  readonly sessions = new Map<string, MirrorSession>();
  readonly tokens = new Map<string, TokenRecord>();
  readonly usedVnis = new Set<number>();
  readonly endpointServices = new Map<string, EndpointService>();
  readonly vpcEndpoints = new Map<string, VpcEndpoint>();

  constructor(
    readonly account: string,
    readonly region: string,
  ) {}

  nextSeq(): number {
    return ++lastSeq;
  }

  /** A resource with its id, order and tags filled in. */
  base(prefix: string): Resource {
    return { id: newId(prefix), seq: this.nextSeq(), tags: new Map() };
  }

  /** Any taggable resource of this account and Region by id. */
  findTaggable(id: string): Resource | undefined {
    return (
      this.instances.get(id) ??
      this.networkInterfaces.get(id) ??
      this.vpcs.get(id) ??
      this.subnets.get(id) ??
      this.securityGroups.get(id) ??
      this.targets.get(id) ??
      this.filters.get(id) ??
      this.sessions.get(id)
    );
  }

  /** A VXLAN id not yet used in this account, as AWS picks one when none is given. */
  randomVni(): number {
    for (;;) {
      const vni = randomInt(1, 16_777_216);
      if (!this.usedVnis.has(vni)) return vni;
    }
  }
}

/** Targets shared with other accounts (AWS RAM), keyed by `region/targetId`. */
export interface TargetShares {
  isSharedWith(region: string, targetId: string, account: string): boolean;
}

/**
 * Traffic Mirroring's quotas per account and Region (traffic-mirroring-quotas.html: 10,000 sessions,
 * 10,000 targets, 10,000 filters; none adjustable). A test may lower them (EmulatorOptions.limits)
 * to reach one quickly; the default is AWS's.
 */
export interface AccountLimits {
  sessions: number;
  targets: number;
  filters: number;
}

export const AWS_ACCOUNT_LIMITS: Readonly<AccountLimits> = {
  sessions: 10_000,
  targets: 10_000,
  filters: 10_000,
};

/** All accounts and Regions the emulator has seen. */
export class World {
  /** The quotas each account has in each Region. */
  limits: AccountLimits = { ...AWS_ACCOUNT_LIMITS };
  private readonly regions = new Map<string, RegionState>();
  /** Every event put on any bus (EventBridge PutEvents), oldest first. */
  readonly events: StoredEvent[] = [];
  /** SQS queues by URL. */
  readonly queues = new Map<string, Queue>();
  /** `region/targetId` -> accounts it is shared with. Filled by the RAM emulation. */
  readonly sharedTargets = new Map<string, Set<string>>();
  /** IAM roles: account -> lower-cased role name -> role (IAM is global: no Region). */
  readonly roles = new Map<string, Map<string, Role>>();
  /** Customer managed IAM policies, by ARN. */
  readonly policies = new Map<string, ManagedPolicy>();
  /** Sessions STS handed out, by session token. */
  readonly roleSessions = new Map<string, RoleSession>();
  /**
   * What IAM allowed each role to do: role ARN -> the actions (`ec2:CreateTrafficMirrorSession`)
   * its sessions were authorized for, so that tests can compare the calls that ran with what a
   * role's policies allow. Filled by emulator/identity/enforce.ts (and sts:AssumeRole by sts.ts).
   */
  readonly authorizedCalls = new Map<string, Set<string>>();
  /** RAM: resource shares, associations, invitations; it keeps `sharedTargets` up to date. */
  readonly ram: RamState;

  constructor(organization?: Organization) {
    this.ram = new RamState(this.sharedTargets, organization);
  }

  state(account: string, region: string): RegionState {
    const key = `${account}/${region}`;
    let state = this.regions.get(key);
    if (!state) {
      state = new RegionState(account, region);
      this.regions.set(key, state);
    }
    return state;
  }

  /** The account and state that own a target visible to `account`: its own, or one shared with it. */
  findTarget(
    account: string,
    region: string,
    targetId: string,
  ): { owner: RegionState; target: MirrorTarget } | undefined {
    const own = this.state(account, region).targets.get(targetId);
    if (own) return { owner: this.state(account, region), target: own };
    this.ram.observe(account, region, targetId);
    const sharedWith = this.sharedTargets.get(`${region}/${targetId}`);
    if (!sharedWith?.has(account)) return undefined;
    for (const state of this.regions.values()) {
      const target = state.region === region ? state.targets.get(targetId) : undefined;
      if (target) return { owner: state, target };
    }
    return undefined;
  }

  /** Every state of a Region, for cross-account questions (a target's sessions in other accounts). */
  statesIn(region: string): RegionState[] {
    return [...this.regions.values()].filter((state) => state.region === region);
  }
}

export const newId = (prefix: string) => `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
