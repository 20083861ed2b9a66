/**
 * The EC2 resources Traffic Mirroring hangs off: VPCs, subnets, security groups, instances, network
 * interfaces, tags. Each handler reads and checks the whole request before its first change and runs
 * synchronously, so it is atomic under concurrent requests. Error codes follow the EC2 API reference
 * (AWSEC2/latest/APIReference/errors-overview.html); where AWS leaves a behaviour open, the choice is
 * listed in emulator/README.md.
 */

import { ApiError, invalid, missing, notFound } from '../errors.ts';
import type { Params } from '../query.ts';
import type {
  Instance,
  InstanceState,
  IpPermission,
  NetworkInterface,
  RegionState,
  Resource,
  SecurityGroup,
  Subnet,
} from '../state.ts';
import { newId } from '../state.ts';
import type { XmlValue } from '../xml.ts';
import { type Cidr, contains, formatAddress, overlaps, parseAddress, parseCidr, size } from './cidr.ts';
import {
  type Ctx,
  checkTagKey,
  checkTagValue,
  describe,
  dryRun,
  type Handler,
  idempotent,
  tagSet,
  tagsFor,
} from './context.ts';
import { authorizeRules } from './network.ts';

const STATE_CODES: Record<InstanceState, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

/** The AMI reported for instances launched without ImageId (the emulator has no images). */
const DEFAULT_IMAGE = 'ami-0abcdef1234567890';
const MAX_TAGS = 50;

// ---- lookups ------------------------------------------------------------------------------------

export function getVpc(state: RegionState, id: string) {
  const vpc = state.vpcs.get(id);
  if (!vpc) throw notFound('InvalidVpcID.NotFound', id, 'vpc ID');
  return vpc;
}

export function getSubnet(state: RegionState, id: string) {
  const subnet = state.subnets.get(id);
  if (!subnet) throw notFound('InvalidSubnetID.NotFound', id, 'subnet ID');
  return subnet;
}

export function getInstance(state: RegionState, id: string) {
  const instance = state.instances.get(id);
  if (!instance) throw notFound('InvalidInstanceID.NotFound', id, 'instance ID');
  return instance;
}

export function getNetworkInterface(state: RegionState, id: string) {
  const eni = state.networkInterfaces.get(id);
  if (!eni) throw notFound('InvalidNetworkInterfaceID.NotFound', id, 'networkInterface ID');
  return eni;
}

export function getSecurityGroup(state: RegionState, id: string) {
  const group = state.securityGroups.get(id);
  if (!group) throw notFound('InvalidGroup.NotFound', id, 'security group');
  return group;
}

/** Without a default VPC (the emulator has none), EC2 answers this when no subnet or VPC is named. */
const noDefaultVpc = () =>
  new ApiError('VPCIdNotSpecified', 'No default VPC for this user. Specify a subnet or VPC.');

/** Security groups named in a request: they must exist and be in the subnet's VPC; none means `default`. */
function groupsIn(state: RegionState, ids: string[], vpcId: string, subnetId: string): string[] {
  for (const id of ids) {
    if (getSecurityGroup(state, id).vpcId !== vpcId) {
      throw new ApiError(
        'InvalidParameter',
        `Security group ${id} and subnet ${subnetId} belong to different networks.`,
      );
    }
  }
  return ids.length > 0 ? [...new Set(ids)] : [defaultGroup(state, vpcId).id];
}

/** Each VPC gets a `default` security group, as in EC2. */
function defaultGroup(state: RegionState, vpcId: string): SecurityGroup {
  for (const group of state.securityGroups.values()) {
    if (group.vpcId === vpcId && group.groupName === 'default') return group;
  }
  const group: SecurityGroup = {
    ...state.base('sg'),
    vpcId,
    groupName: 'default',
    description: 'default VPC security group',
    ingress: [],
    egress: [{ ipProtocol: '-1', cidrs: ['0.0.0.0/0'], groupIds: [] }],
  };
  state.securityGroups.set(group.id, group);
  return group;
}

// ---- private addresses --------------------------------------------------------------------------

/**
 * Host offsets in use per subnet. AWS reserves the first four addresses and the last of each
 * subnet (vpc/latest/userguide/subnet-sizing.html); an address is free again once its ENI is deleted.
 */
const usedOffsets = new WeakMap<Subnet, Set<number>>();

function subnetCidr(subnet: Subnet): Cidr {
  const cidr = parseCidr(subnet.cidrBlock, true);
  if (!cidr) throw new Error(`subnet ${subnet.id} has a bad CIDR ${subnet.cidrBlock}`);
  return cidr;
}

function offsetsOf(state: RegionState, subnet: Subnet): Set<number> {
  let used = usedOffsets.get(subnet);
  if (!used) {
    const base = subnetCidr(subnet).base;
    used = new Set();
    for (const eni of state.networkInterfaces.values()) {
      const address = eni.subnetId === subnet.id ? parseAddress(eni.privateIpAddress) : undefined;
      if (address) used.add(Number(address.value - base));
    }
    usedOffsets.set(subnet, used);
  }
  return used;
}

const usableAddresses = (subnet: Subnet) => Number(size(subnetCidr(subnet))) - 5;

const freeAddresses = (state: RegionState, subnet: Subnet) =>
  usableAddresses(subnet) - offsetsOf(state, subnet).size;

/** The next free private address of a subnet, searching on from the last one handed out. */
function allocateAddress(state: RegionState, subnet: Subnet): string {
  const cidr = subnetCidr(subnet);
  const used = offsetsOf(state, subnet);
  const first = 4;
  const last = Number(size(cidr)) - 2;
  const span = last - first + 1;
  const start = subnet.nextHost >= first && subnet.nextHost <= last ? subnet.nextHost : first;
  for (let i = 0; i < span; i++) {
    const offset = first + ((start - first + i) % span);
    if (!used.has(offset)) {
      used.add(offset);
      subnet.nextHost = offset + 1;
      return formatAddress(4, cidr.base + BigInt(offset));
    }
  }
  throw insufficientAddresses(subnet);
}

/** A requested private address's offset: inside the subnet, not reserved, not taken. */
function checkAddress(state: RegionState, subnet: Subnet, text: string): number {
  const cidr = subnetCidr(subnet);
  const address = parseAddress(text);
  if (address?.family !== 4) throw invalid(`Value (${text}) for parameter privateIpAddress is invalid.`);
  const offset = Number(address.value - cidr.base);
  if (address.value < cidr.base || offset < 4 || offset > Number(size(cidr)) - 2) {
    throw invalid(`Address ${text} does not fall within the subnet's address range or is reserved.`);
  }
  if (offsetsOf(state, subnet).has(offset)) {
    throw new ApiError('InvalidIPAddress.InUse', `Address ${text} is in use.`);
  }
  return offset;
}

function claimAddress(state: RegionState, subnet: Subnet, text: string): string {
  offsetsOf(state, subnet).add(checkAddress(state, subnet, text));
  return text;
}

const insufficientAddresses = (subnet: Subnet) =>
  new ApiError(
    'InsufficientFreeAddressesInSubnet',
    `There are not enough free addresses in subnet '${subnet.id}' to satisfy the requested number of instances.`,
  );

// ---- CIDR rules ---------------------------------------------------------------------------------

/** An IPv4 block of /16 to /28 with no host bits (vpc/latest/userguide/vpc-cidr-blocks.html). */
function checkBlock(text: string, rangeCode: 'InvalidVpc.Range' | 'InvalidSubnet.Range'): Cidr {
  const cidr = parseCidr(text, true);
  if (cidr?.family !== 4)
    throw invalid(`Value (${text}) for parameter cidrBlock is invalid. This is not a valid CIDR block.`);
  if (cidr.prefix < 16 || cidr.prefix > 28) {
    throw new ApiError(rangeCode, `The CIDR '${text}' is invalid: the netmask must be between /16 and /28.`);
  }
  return cidr;
}

// ---- network interfaces -------------------------------------------------------------------------

function newEni(
  state: RegionState,
  subnet: Subnet,
  groupIds: string[],
  description: string,
  privateIpAddress?: string,
): NetworkInterface {
  const eni: NetworkInterface = {
    ...state.base('eni'),
    subnetId: subnet.id,
    vpcId: subnet.vpcId,
    availabilityZone: subnet.availabilityZone,
    description,
    privateIpAddress:
      privateIpAddress === undefined
        ? allocateAddress(state, subnet)
        : claimAddress(state, subnet, privateIpAddress),
    securityGroupIds: groupIds,
    interfaceType: 'interface',
  };
  state.networkInterfaces.set(eni.id, eni);
  return eni;
}

/** Deleting an ENI deletes its mirror sessions, as AWS does (traffic-mirroring-sessions.html). */
function deleteEni(state: RegionState, eni: NetworkInterface): void {
  const freed = new Set<number>();
  for (const session of [...state.sessions.values()]) {
    if (session.networkInterfaceId === eni.id) {
      state.sessions.delete(session.id);
      freed.add(session.virtualNetworkId);
    }
  }
  for (const session of state.sessions.values()) freed.delete(session.virtualNetworkId);
  for (const vni of freed) state.usedVnis.delete(vni);
  state.networkInterfaces.delete(eni.id);
  const subnet = state.subnets.get(eni.subnetId);
  const address = parseAddress(eni.privateIpAddress);
  if (subnet && address) offsetsOf(state, subnet).delete(Number(address.value - subnetCidr(subnet).base));
}

/** The ENIs attached to an instance, primary first. */
export function enisOf(state: RegionState, instanceId: string): NetworkInterface[] {
  return [...state.networkInterfaces.values()]
    .filter((eni) => eni.attachment?.instanceId === instanceId)
    .sort((a, b) => (a.attachment?.deviceIndex ?? 0) - (b.attachment?.deviceIndex ?? 0));
}

/** Only the ENI a traffic mirror target points at is blocked from deletion; sessions go with their source. */
function targetOf(state: RegionState, eniId: string) {
  for (const target of state.targets.values()) if (target.networkInterfaceId === eniId) return target;
  return undefined;
}

// ---- instances ----------------------------------------------------------------------------------

/** What RunInstances said about an instance that state.ts does not keep. */
interface Launch {
  reservationId: string;
  imageId: string;
  launchIndex: number;
  clientToken?: string;
}
const launches = new WeakMap<Instance, Launch>();

/**
 * Instances that TerminateInstances moved to `shutting-down`. They show that state until a
 * DescribeInstances of their account and Region has answered, and `terminated` from then on, so a
 * poller sees both states without waiting on a clock. Their ENIs go at once (see README).
 */
const shuttingDown = new WeakMap<RegionState, Set<Instance>>();

function settleTerminations(state: RegionState): void {
  const pending = shuttingDown.get(state);
  if (!pending) return;
  for (const instance of pending) instance.state = 'terminated';
  pending.clear();
}

function terminate(state: RegionState, instance: Instance): void {
  instance.state = 'shutting-down';
  let pending = shuttingDown.get(state);
  if (!pending) {
    pending = new Set();
    shuttingDown.set(state, pending);
  }
  pending.add(instance);
  for (const eni of enisOf(state, instance.id)) {
    if (eni.attachment?.deleteOnTermination) deleteEni(state, eni);
    else delete eni.attachment;
  }
}

const validInstanceType = (type: string): string => {
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9-]+$/.test(type)) {
    throw invalid(`Invalid value '${type}' for InstanceType.`);
  }
  return type;
};

/** RunInstances takes tag specifications for the instance, its interfaces and its volumes (ignored here). */
function launchTags(ctx: Ctx): Record<'instance' | 'network-interface', Map<string, string>> {
  const out = { instance: new Map<string, string>(), 'network-interface': new Map<string, string>() };
  for (const spec of ctx.p.list('TagSpecification')) {
    const type = spec.required('ResourceType');
    if (type !== 'instance' && type !== 'network-interface' && type !== 'volume') {
      throw invalid(`'${type}' is not a valid taggable resource type for this operation.`);
    }
    const tags = type === 'volume' ? new Map<string, string>() : out[type];
    for (const tag of spec.list('Tag'))
      tags.set(checkTagKey(tag.required('Key')), checkTagValue(tag.str('Value')));
    if (tags.size > MAX_TAGS) throw tagLimit(type);
  }
  return out;
}

const tagLimit = (what: string) =>
  new ApiError('TagLimitExceeded', `The maximum number of tags per resource is ${MAX_TAGS} (${what}).`);

// ---- XML ----------------------------------------------------------------------------------------

const groupSet = (state: RegionState, ids: string[]): XmlValue[] =>
  ids.map((id) => ({ groupId: id, groupName: state.securityGroups.get(id)?.groupName }));

const macOf = (id: string) => `02:${(id.slice(4, 14).match(/../g) ?? []).join(':')}`;

const eniStatus = (eni: NetworkInterface) => (eni.attachment ? 'in-use' : 'available');

export function eniXml(state: RegionState, eni: NetworkInterface): XmlValue {
  return {
    networkInterfaceId: eni.id,
    subnetId: eni.subnetId,
    vpcId: eni.vpcId,
    availabilityZone: eni.availabilityZone,
    description: eni.description,
    ownerId: state.account,
    requesterManaged: false,
    status: eniStatus(eni),
    macAddress: macOf(eni.id),
    privateIpAddress: eni.privateIpAddress,
    sourceDestCheck: true,
    interfaceType: eni.interfaceType,
    groupSet: groupSet(state, eni.securityGroupIds),
    attachment: eni.attachment && {
      attachmentId: eni.attachment.attachmentId,
      instanceId: eni.attachment.instanceId,
      instanceOwnerId: state.account,
      deviceIndex: eni.attachment.deviceIndex,
      networkCardIndex: 0,
      status: 'attached',
      attachTime: eni.attachment.attachTime.toISOString(),
      deleteOnTermination: eni.attachment.deleteOnTermination,
    },
    privateIpAddressesSet: [{ privateIpAddress: eni.privateIpAddress, primary: true }],
    ipv6AddressesSet: [],
    tagSet: tagSet(eni.tags),
  };
}

function instanceXml(state: RegionState, instance: Instance, shownState = instance.state): XmlValue {
  const gone = shownState === 'terminated';
  const launch = launches.get(instance);
  const stopping = shownState === 'shutting-down' || shownState === 'terminated';
  return {
    instanceId: instance.id,
    imageId: launch?.imageId ?? DEFAULT_IMAGE,
    instanceType: instance.instanceType,
    instanceState: { code: STATE_CODES[shownState], name: shownState },
    reason: stopping ? 'User initiated' : '',
    stateReason: stopping
      ? {
          code: 'Client.UserInitiatedShutdown',
          message: 'Client.UserInitiatedShutdown: User initiated shutdown',
        }
      : undefined,
    amiLaunchIndex: launch?.launchIndex ?? 0,
    launchTime: instance.launchTime.toISOString(),
    placement: {
      availabilityZone: state.subnets.get(instance.subnetId)?.availabilityZone,
      groupName: '',
      tenancy: 'default',
    },
    monitoring: { state: 'disabled' },
    subnetId: gone ? undefined : instance.subnetId,
    vpcId: gone ? undefined : instance.vpcId,
    privateIpAddress: gone ? undefined : instance.privateIpAddress,
    sourceDestCheck: gone ? undefined : true,
    clientToken: launch?.clientToken,
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/xvda',
    virtualizationType: 'hvm',
    hypervisor: 'xen',
    groupSet: gone ? [] : groupSet(state, instance.securityGroupIds),
    networkInterfaceSet: enisOf(state, instance.id).map((eni) => ({
      networkInterfaceId: eni.id,
      subnetId: eni.subnetId,
      vpcId: eni.vpcId,
      description: eni.description,
      ownerId: state.account,
      status: 'in-use',
      macAddress: macOf(eni.id),
      privateIpAddress: eni.privateIpAddress,
      sourceDestCheck: true,
      interfaceType: eni.interfaceType,
      groupSet: groupSet(state, eni.securityGroupIds),
      attachment: eni.attachment && {
        attachmentId: eni.attachment.attachmentId,
        deviceIndex: eni.attachment.deviceIndex,
        networkCardIndex: 0,
        status: 'attached',
        attachTime: eni.attachment.attachTime.toISOString(),
        deleteOnTermination: eni.attachment.deleteOnTermination,
      },
      privateIpAddressesSet: [{ privateIpAddress: eni.privateIpAddress, primary: true }],
    })),
    tagSet: tagSet(instance.tags),
  };
}

const vpcXml = (state: RegionState, vpc: { id: string; cidrBlock: string; tags: Map<string, string> }) => ({
  vpcId: vpc.id,
  ownerId: state.account,
  state: 'available',
  cidrBlock: vpc.cidrBlock,
  cidrBlockAssociationSet: [
    {
      associationId: `vpc-cidr-assoc-${vpc.id.slice(4)}`,
      cidrBlock: vpc.cidrBlock,
      cidrBlockState: { state: 'associated' },
    },
  ],
  dhcpOptionsId: 'default',
  instanceTenancy: 'default',
  isDefault: false,
  tagSet: tagSet(vpc.tags),
});

const subnetXml = (state: RegionState, subnet: Subnet) => ({
  subnetId: subnet.id,
  vpcId: subnet.vpcId,
  state: 'available',
  cidrBlock: subnet.cidrBlock,
  availabilityZone: subnet.availabilityZone,
  availableIpAddressCount: freeAddresses(state, subnet),
  ownerId: state.account,
  defaultForAz: false,
  mapPublicIpOnLaunch: false,
  assignIpv6AddressOnCreation: false,
  ipv6CidrBlockAssociationSet: [],
  subnetArn: `arn:aws:ec2:${state.region}:${state.account}:subnet/${subnet.id}`,
  tagSet: tagSet(subnet.tags),
});

const permissionXml = (state: RegionState, perm: IpPermission) => ({
  ipProtocol: perm.ipProtocol,
  fromPort: perm.fromPort,
  toPort: perm.toPort,
  ipRanges: perm.cidrs.map((cidrIp) => ({ cidrIp })),
  groups: perm.groupIds.map((groupId) => ({ groupId, userId: state.account })),
  ipv6Ranges: [],
  prefixListIds: [],
});

export const securityGroupXml = (state: RegionState, group: SecurityGroup) => ({
  groupId: group.id,
  groupName: group.groupName,
  groupDescription: group.description,
  vpcId: group.vpcId,
  ownerId: state.account,
  ipPermissions: group.ingress.map((perm) => permissionXml(state, perm)),
  ipPermissionsEgress: group.egress.map((perm) => permissionXml(state, perm)),
  securityGroupArn: `arn:aws:ec2:${state.region}:${state.account}:security-group/${group.id}`,
  tagSet: tagSet(group.tags),
});

// ---- security group rules -----------------------------------------------------------------------

const PROTOCOL_NAMES: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmpv6' };

/** EC2 reports the four named protocols by name whatever the request used; `-1` (or `all`) is every protocol. */
function protocolOf(raw: string): string {
  const lower = raw.toLowerCase();
  if (lower === '-1' || lower === 'all') return '-1';
  if (['tcp', 'udp', 'icmp', 'icmpv6'].includes(lower)) return lower;
  if (/^\d{1,3}$/.test(raw) && Number(raw) <= 255)
    return PROTOCOL_NAMES[String(Number(raw))] ?? String(Number(raw));
  throw invalid(`Invalid value '${raw}' for IP protocol. Unknown protocol.`);
}

/** One IpPermissions entry, or the legacy top-level IpProtocol/CidrIp/FromPort/ToPort form. */
export function permissionFrom(
  state: RegionState,
  perm: Params,
  cidrsOf: (p: Params) => string[],
): IpPermission {
  const ipProtocol = protocolOf(perm.required('IpProtocol'));
  const cidrs = cidrsOf(perm).map((cidrIp) => {
    if (parseCidr(cidrIp)?.family !== 4) throw invalid(`CIDR block ${cidrIp} is malformed`);
    return cidrIp;
  });
  const groupIds = perm.list('Groups').map((g) => getSecurityGroup(state, g.required('GroupId')).id);
  const fromPort = perm.int('FromPort', [-1, 65535]);
  const toPort = perm.int('ToPort', [-1, 65535]);
  if ((ipProtocol === 'tcp' || ipProtocol === 'udp') && (fromPort === undefined || toPort === undefined)) {
    throw invalid(`Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.`);
  }
  if ((ipProtocol === 'tcp' || ipProtocol === 'udp') && (fromPort as number) > (toPort as number)) {
    throw invalid(`Invalid TCP/UDP port range: from port ${fromPort} is greater than to port ${toPort}.`);
  }
  if (cidrs.length === 0 && groupIds.length === 0) {
    throw new ApiError('MissingParameter', 'The request must contain the parameter IpRanges or Groups');
  }
  return {
    ipProtocol,
    cidrs,
    groupIds,
    ...(fromPort === undefined || ipProtocol === '-1' ? {} : { fromPort }),
    ...(toPort === undefined || ipProtocol === '-1' ? {} : { toPort }),
  };
}

/** The single sources of a permission (one CIDR or one group), for duplicate checks. */
export const rulesOf = (perm: IpPermission) => [
  ...perm.cidrs.map((cidr) => `${perm.ipProtocol}/${perm.fromPort}/${perm.toPort}/${cidr}`),
  ...perm.groupIds.map((id) => `${perm.ipProtocol}/${perm.fromPort}/${perm.toPort}/${id}`),
];

// ---- tags ---------------------------------------------------------------------------------------

/** The type of a resource id, as DescribeTags reports it. */
function resourceType(id: string): string {
  const prefix = id.slice(0, id.indexOf('-'));
  return (
    {
      i: 'instance',
      eni: 'network-interface',
      vpc: 'vpc',
      subnet: 'subnet',
      sg: 'security-group',
      tmt: 'traffic-mirror-target',
      tmf: 'traffic-mirror-filter',
      tms: 'traffic-mirror-session',
    }[prefix] ?? prefix
  );
}

/** The not-found code EC2 gives for a well-formed id of each type that names nothing. */
const NOT_FOUND_BY_PREFIX: Record<string, string> = {
  i: 'InvalidInstanceID.NotFound',
  eni: 'InvalidNetworkInterfaceID.NotFound',
  vpc: 'InvalidVpcID.NotFound',
  subnet: 'InvalidSubnetID.NotFound',
  sg: 'InvalidGroup.NotFound',
  tmt: 'InvalidTrafficMirrorTargetId.NotFound',
  tmf: 'InvalidTrafficMirrorFilterId.NotFound',
  tms: 'InvalidTrafficMirrorSessionId.NotFound',
};

function taggable(state: RegionState, id: string): Resource {
  const resource = state.findTaggable(id);
  if (resource) return resource;
  const match = /^([a-z]+)-[0-9a-f]{8,17}$/.exec(id);
  const code = match ? NOT_FOUND_BY_PREFIX[match[1] as string] : undefined;
  if (code) throw new ApiError(code, `The ID '${id}' does not exist`);
  throw new ApiError('InvalidID', `The ID '${id}' is not valid`);
}

function tagRequest(ctx: Ctx, create: boolean) {
  const ids = ctx.p.strings('ResourceId');
  if (ids.length === 0) throw missing('ResourceId');
  const tags = new Map<string, string | undefined>();
  for (const tag of ctx.p.list('Tag')) {
    const value = tag.str('Value');
    tags.set(checkTagKey(tag.required('Key')), create ? checkTagValue(value) : value);
  }
  if (create && tags.size === 0) throw missing('Tag');
  const resources = [...new Set(ids)].map((id) => taggable(ctx.state, id));
  if (create) {
    for (const resource of resources) {
      const keys = new Set([...resource.tags.keys(), ...tags.keys()]);
      if (keys.size > MAX_TAGS) throw tagLimit(resource.id);
    }
  }
  return { resources, tags };
}

function* allTaggable(state: RegionState): Generator<Resource> {
  yield* state.vpcs.values();
  yield* state.subnets.values();
  yield* state.securityGroups.values();
  yield* state.instances.values();
  yield* state.networkInterfaces.values();
  yield* state.targets.values();
  yield* state.filters.values();
  yield* state.sessions.values();
}

// ---- actions ------------------------------------------------------------------------------------

export const topologyActions: Record<string, Handler> = {
  CreateVpc(ctx) {
    const cidrBlock = ctx.p.required('CidrBlock');
    checkBlock(cidrBlock, 'InvalidVpc.Range');
    const tenancy = ctx.p.str('InstanceTenancy') ?? 'default';
    if (!['default', 'dedicated', 'host'].includes(tenancy)) {
      throw invalid(`Value (${tenancy}) for parameter instanceTenancy is invalid.`);
    }
    const tags = tagsFor(ctx, 'vpc');
    dryRun(ctx);
    const vpc = { ...ctx.state.base('vpc'), cidrBlock };
    for (const [k, v] of tags) vpc.tags.set(k, v);
    ctx.state.vpcs.set(vpc.id, vpc);
    defaultGroup(ctx.state, vpc.id);
    return { vpc: vpcXml(ctx.state, vpc) };
  },

  DescribeVpcs(ctx) {
    const { page, nextToken } = describe(ctx, ctx.state.vpcs.values(), {
      idsParam: 'VpcId',
      notFoundCode: 'InvalidVpcID.NotFound',
      what: 'vpc',
      filters: {
        'vpc-id': (v) => v.id,
        'cidr-block': (v) => v.cidrBlock,
        'cidr-block-association.cidr-block': (v) => v.cidrBlock,
        'owner-id': () => ctx.account,
        'is-default': () => 'false',
        state: () => 'available',
      },
    });
    return { vpcSet: page.map((v) => vpcXml(ctx.state, v)), nextToken };
  },

  CreateSubnet(ctx) {
    const vpcId = ctx.p.required('VpcId');
    const cidrBlock = ctx.p.required('CidrBlock');
    const vpc = getVpc(ctx.state, vpcId);
    const cidr = checkBlock(cidrBlock, 'InvalidSubnet.Range');
    const vpcCidr = parseCidr(vpc.cidrBlock, true);
    if (!vpcCidr || !contains(vpcCidr, cidr)) {
      throw new ApiError('InvalidSubnet.Range', `The CIDR '${cidrBlock}' is invalid.`);
    }
    for (const other of ctx.state.subnets.values()) {
      const otherCidr = parseCidr(other.cidrBlock, true);
      if (other.vpcId === vpc.id && otherCidr && overlaps(otherCidr, cidr)) {
        throw new ApiError('InvalidSubnet.Conflict', `The CIDR '${cidrBlock}' conflicts with another subnet`);
      }
    }
    const availabilityZone = ctx.p.str('AvailabilityZone') ?? `${ctx.region}a`;
    if (
      !/^[a-f]$/.test(availabilityZone.slice(ctx.region.length)) ||
      !availabilityZone.startsWith(ctx.region)
    ) {
      throw invalid(
        `Value (${availabilityZone}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: ${['a', 'b', 'c', 'd', 'e', 'f'].map((z) => ctx.region + z).join(', ')}.`,
      );
    }
    const tags = tagsFor(ctx, 'subnet');
    dryRun(ctx);
    const subnet: Subnet = {
      ...ctx.state.base('subnet'),
      vpcId: vpc.id,
      cidrBlock,
      availabilityZone,
      nextHost: 4,
    };
    for (const [k, v] of tags) subnet.tags.set(k, v);
    ctx.state.subnets.set(subnet.id, subnet);
    return { subnet: subnetXml(ctx.state, subnet) };
  },

  DescribeSubnets(ctx) {
    const { page, nextToken } = describe(ctx, ctx.state.subnets.values(), {
      idsParam: 'SubnetId',
      notFoundCode: 'InvalidSubnetID.NotFound',
      what: 'subnet',
      filters: {
        'subnet-id': (s) => s.id,
        'vpc-id': (s) => s.vpcId,
        'cidr-block': (s) => s.cidrBlock,
        'availability-zone': (s) => s.availabilityZone,
        'owner-id': () => ctx.account,
        state: () => 'available',
      },
    });
    return { subnetSet: page.map((s) => subnetXml(ctx.state, s)), nextToken };
  },

  CreateSecurityGroup(ctx) {
    const groupName = ctx.p.required('GroupName');
    const description = ctx.p.required('GroupDescription');
    const vpcId = ctx.p.str('VpcId');
    if (!vpcId) throw noDefaultVpc();
    getVpc(ctx.state, vpcId);
    if (groupName.length > 255 || description.length > 255) {
      throw invalid('Group names and descriptions are limited to 255 characters.');
    }
    if (groupName.toLowerCase().startsWith('sg-'))
      throw invalid(`Group names may not be in the format sg-*.`);
    if (groupName === 'default') {
      throw new ApiError('InvalidGroup.Reserved', `The security group name 'default' is reserved.`);
    }
    for (const group of ctx.state.securityGroups.values()) {
      if (group.vpcId === vpcId && group.groupName === groupName) {
        throw new ApiError(
          'InvalidGroup.Duplicate',
          `The security group '${groupName}' already exists for VPC '${vpcId}'`,
        );
      }
    }
    const tags = tagsFor(ctx, 'security-group');
    dryRun(ctx);
    const group: SecurityGroup = {
      ...ctx.state.base('sg'),
      vpcId,
      groupName,
      description,
      ingress: [],
      egress: [{ ipProtocol: '-1', cidrs: ['0.0.0.0/0'], groupIds: [] }],
    };
    for (const [k, v] of tags) group.tags.set(k, v);
    ctx.state.securityGroups.set(group.id, group);
    return {
      groupId: group.id,
      securityGroupArn: `arn:aws:ec2:${ctx.region}:${ctx.account}:security-group/${group.id}`,
      tagSet: tagSet(group.tags),
    };
  },

  AuthorizeSecurityGroupIngress: (ctx) => authorizeRules(ctx, false),

  DescribeSecurityGroups(ctx) {
    const names = ctx.p.strings('GroupName');
    const groups = [...ctx.state.securityGroups.values()];
    for (const name of names) {
      if (!groups.some((g) => g.groupName === name)) {
        throw new ApiError('InvalidGroup.NotFound', `The security group '${name}' does not exist`);
      }
    }
    const { page, nextToken } = describe(
      ctx,
      names.length === 0 ? groups : groups.filter((g) => names.includes(g.groupName)),
      {
        idsParam: 'GroupId',
        notFoundCode: 'InvalidGroup.NotFound',
        what: 'security group',
        filters: {
          'group-id': (g) => g.id,
          'group-name': (g) => g.groupName,
          'vpc-id': (g) => g.vpcId,
          description: (g) => g.description,
          'owner-id': () => ctx.account,
          'ip-permission.protocol': (g) => g.ingress.map((perm) => perm.ipProtocol),
          'ip-permission.cidr': (g) => g.ingress.flatMap((perm) => perm.cidrs),
          'ip-permission.group-id': (g) => g.ingress.flatMap((perm) => perm.groupIds),
        },
      },
    );
    return { securityGroupInfo: page.map((g) => securityGroupXml(ctx.state, g)), nextToken };
  },

  RunInstances(ctx) {
    return idempotent(ctx, () => {
      const { p, state } = ctx;
      const minCount = p.requiredInt('MinCount', [1, 1000]);
      const maxCount = p.requiredInt('MaxCount', [1, 1000]);
      if (minCount > maxCount) {
        throw invalid(`Value (${minCount}) for parameter minCount is invalid. It must not exceed maxCount.`);
      }
      const imageId = p.str('ImageId') ?? DEFAULT_IMAGE;
      if (!/^ami-[0-9a-f]{8,17}$/.test(imageId)) {
        throw new ApiError('InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`);
      }
      const instanceType = validInstanceType(p.str('InstanceType') ?? 'm1.small');
      const subnetId = p.str('SubnetId');
      if (!subnetId) throw noDefaultVpc();
      const subnet = getSubnet(state, subnetId);
      const groupIds = groupsIn(state, p.strings('SecurityGroupId'), subnet.vpcId, subnet.id);
      const privateIp = p.str('PrivateIpAddress');
      if (privateIp !== undefined && maxCount > 1) {
        throw new ApiError(
          'InvalidParameterCombination',
          'Cannot specify a private IP address when launching more than one instance.',
        );
      }
      if (privateIp !== undefined) checkAddress(state, subnet, privateIp);
      const tags = launchTags(ctx);
      const free = freeAddresses(state, subnet);
      if (free < minCount) throw insufficientAddresses(subnet);
      dryRun(ctx);
      // AWS launches as many as it can between MinCount and MaxCount; here the subnet's free addresses bound it.
      const count = Math.min(maxCount, free);
      const reservationId = newId('r');
      const clientToken = p.str('ClientToken');
      const launchTime = new Date();
      const instances: Instance[] = [];
      for (let i = 0; i < count; i++) {
        const base = state.base('i');
        const eni = newEni(state, subnet, groupIds, '', i === 0 ? privateIp : undefined);
        for (const [k, v] of tags['network-interface']) eni.tags.set(k, v);
        eni.attachment = {
          attachmentId: newId('eni-attach'),
          instanceId: base.id,
          deviceIndex: 0,
          deleteOnTermination: true,
          attachTime: launchTime,
        };
        const instance: Instance = {
          ...base,
          instanceType,
          subnetId: subnet.id,
          vpcId: subnet.vpcId,
          securityGroupIds: groupIds,
          state: 'running',
          launchTime,
          primaryEniId: eni.id,
          privateIpAddress: eni.privateIpAddress,
        };
        for (const [k, v] of tags.instance) instance.tags.set(k, v);
        state.instances.set(instance.id, instance);
        launches.set(instance, {
          reservationId,
          imageId,
          launchIndex: i,
          ...(clientToken === undefined ? {} : { clientToken }),
        });
        instances.push(instance);
      }
      return {
        reservationId,
        ownerId: ctx.account,
        groupSet: [],
        instancesSet: instances.map((instance) => instanceXml(state, instance, 'pending')),
      };
    });
  },

  TerminateInstances(ctx) {
    const ids = ctx.p.strings('InstanceId');
    if (ids.length === 0) throw missing('InstanceId');
    const instances = [...new Set(ids)].map((id) => getInstance(ctx.state, id));
    dryRun(ctx);
    return {
      instancesSet: instances.map((instance) => {
        const previous = instance.state;
        if (previous !== 'terminated' && previous !== 'shutting-down') terminate(ctx.state, instance);
        return {
          instanceId: instance.id,
          previousState: { code: STATE_CODES[previous], name: previous },
          currentState: { code: STATE_CODES[instance.state], name: instance.state },
        };
      }),
    };
  },

  DescribeInstances(ctx) {
    const live = (i: Instance) => i.state !== 'terminated';
    const { page, nextToken } = describe(ctx, ctx.state.instances.values(), {
      idsParam: 'InstanceId',
      notFoundCode: 'InvalidInstanceID.NotFound',
      what: 'instance',
      maxResultsWithIds: false,
      filters: {
        'instance-id': (i) => i.id,
        'instance-type': (i) => i.instanceType,
        'instance-state-name': (i) => i.state,
        'instance-state-code': (i) => STATE_CODES[i.state],
        'vpc-id': (i) => (live(i) ? i.vpcId : undefined),
        'subnet-id': (i) => (live(i) ? i.subnetId : undefined),
        'private-ip-address': (i) => (live(i) ? i.privateIpAddress : undefined),
        'availability-zone': (i) => ctx.state.subnets.get(i.subnetId)?.availabilityZone,
        'image-id': (i) => launches.get(i)?.imageId,
        'reservation-id': (i) => launches.get(i)?.reservationId,
        'client-token': (i) => launches.get(i)?.clientToken,
        'owner-id': () => ctx.account,
        'instance.group-id': (i) => (live(i) ? i.securityGroupIds : undefined),
        'network-interface.network-interface-id': (i) => enisOf(ctx.state, i.id).map((e) => e.id),
        'network-interface.subnet-id': (i) => enisOf(ctx.state, i.id).map((e) => e.subnetId),
        'network-interface.vpc-id': (i) => enisOf(ctx.state, i.id).map((e) => e.vpcId),
      },
    });
    // Instances from one RunInstances call come in order, so neighbours share their reservation.
    const reservations: { reservationId: string; instances: Instance[] }[] = [];
    for (const instance of page) {
      const reservationId = launches.get(instance)?.reservationId ?? `r-${instance.id.slice(2)}`;
      const last = reservations[reservations.length - 1];
      if (last?.reservationId === reservationId) last.instances.push(instance);
      else reservations.push({ reservationId, instances: [instance] });
    }
    const xml = {
      reservationSet: reservations.map((r) => ({
        reservationId: r.reservationId,
        ownerId: ctx.account,
        groupSet: [],
        instancesSet: r.instances.map((instance) => instanceXml(ctx.state, instance)),
      })),
      nextToken,
    };
    settleTerminations(ctx.state);
    return xml;
  },

  CreateNetworkInterface(ctx) {
    return idempotent(ctx, () => {
      const subnet = getSubnet(ctx.state, ctx.p.required('SubnetId'));
      const groupIds = groupsIn(ctx.state, ctx.p.strings('SecurityGroupId'), subnet.vpcId, subnet.id);
      const interfaceType = ctx.p.str('InterfaceType') ?? 'interface';
      if (!['interface', 'efa', 'efa-only', 'trunk'].includes(interfaceType)) {
        throw invalid(`Invalid value '${interfaceType}' for InterfaceType.`);
      }
      const description = ctx.p.str('Description') ?? '';
      if (description.length > 255) throw invalid('Description is limited to 255 characters.');
      const privateIp = ctx.p.str('PrivateIpAddress');
      const tags = tagsFor(ctx, 'network-interface');
      if (privateIp === undefined && freeAddresses(ctx.state, subnet) < 1)
        throw insufficientAddresses(subnet);
      if (privateIp !== undefined) checkAddress(ctx.state, subnet, privateIp);
      dryRun(ctx);
      const eni = newEni(ctx.state, subnet, groupIds, description, privateIp);
      eni.interfaceType = interfaceType;
      for (const [k, v] of tags) eni.tags.set(k, v);
      return { networkInterface: eniXml(ctx.state, eni) };
    });
  },

  AttachNetworkInterface(ctx) {
    const eniId = ctx.p.required('NetworkInterfaceId');
    const instanceId = ctx.p.required('InstanceId');
    const deviceIndex = ctx.p.requiredInt('DeviceIndex', [0, 31]);
    const networkCardIndex = ctx.p.int('NetworkCardIndex', [0, 0]) ?? 0;
    const eni = getNetworkInterface(ctx.state, eniId);
    const instance = getInstance(ctx.state, instanceId);
    if (instance.state !== 'running' && instance.state !== 'stopped') {
      throw new ApiError(
        'IncorrectInstanceState',
        `The instance '${instance.id}' is not in a valid state for this operation.`,
      );
    }
    if (eni.attachment) {
      throw new ApiError('InvalidNetworkInterface.InUse', `Interface: [${eni.id}] in use.`);
    }
    const zone = ctx.state.subnets.get(instance.subnetId)?.availabilityZone;
    if (zone !== undefined && zone !== eni.availabilityZone) {
      throw new ApiError(
        'InvalidParameterCombination',
        'You may not attach a network interface to an instance if they are not in the same availability zone',
      );
    }
    if (enisOf(ctx.state, instance.id).some((other) => other.attachment?.deviceIndex === deviceIndex)) {
      throw invalid(
        `Instance '${instance.id}' already has an interface attached at device index '${deviceIndex}'.`,
      );
    }
    dryRun(ctx);
    const attachmentId = newId('eni-attach');
    eni.attachment = {
      attachmentId,
      instanceId: instance.id,
      deviceIndex,
      deleteOnTermination: false,
      attachTime: new Date(),
    };
    return { attachmentId, networkCardIndex };
  },

  DeleteNetworkInterface(ctx) {
    const eni = getNetworkInterface(ctx.state, ctx.p.required('NetworkInterfaceId'));
    if (eni.attachment) throw invalid(`Network interface '${eni.id}' is currently in use.`);
    const target = targetOf(ctx.state, eni.id);
    if (target) {
      throw invalid(
        `Network interface '${eni.id}' is currently in use by traffic mirror target '${target.id}'.`,
      );
    }
    dryRun(ctx);
    deleteEni(ctx.state, eni);
    return { return: true };
  },

  DescribeNetworkInterfaces(ctx) {
    const { page, nextToken } = describe(ctx, ctx.state.networkInterfaces.values(), {
      idsParam: 'NetworkInterfaceId',
      notFoundCode: 'InvalidNetworkInterfaceID.NotFound',
      what: 'networkInterface',
      maxResultsWithIds: false,
      filters: {
        'network-interface-id': (e) => e.id,
        'vpc-id': (e) => e.vpcId,
        'subnet-id': (e) => e.subnetId,
        'availability-zone': (e) => e.availabilityZone,
        'attachment.instance-id': (e) => e.attachment?.instanceId,
        'attachment.instance-owner-id': (e) => (e.attachment ? ctx.account : undefined),
        'attachment.device-index': (e) => e.attachment?.deviceIndex,
        'attachment.attachment-id': (e) => e.attachment?.attachmentId,
        'attachment.status': (e) => (e.attachment ? 'attached' : undefined),
        'attachment.delete-on-termination': (e) => e.attachment?.deleteOnTermination,
        status: eniStatus,
        'interface-type': (e) => e.interfaceType,
        'private-ip-address': (e) => e.privateIpAddress,
        'addresses.private-ip-address': (e) => e.privateIpAddress,
        'group-id': (e) => e.securityGroupIds,
        description: (e) => e.description,
        'owner-id': () => ctx.account,
        'requester-managed': () => false,
        'source-dest-check': () => true,
        'mac-address': (e) => macOf(e.id),
      },
    });
    return { networkInterfaceSet: page.map((eni) => eniXml(ctx.state, eni)), nextToken };
  },

  CreateTags(ctx) {
    const { resources, tags } = tagRequest(ctx, true);
    dryRun(ctx);
    for (const resource of resources) for (const [k, v] of tags) resource.tags.set(k, v ?? '');
    return { return: true };
  },

  DeleteTags(ctx) {
    const { resources, tags } = tagRequest(ctx, false);
    dryRun(ctx);
    for (const resource of resources) {
      if (tags.size === 0) resource.tags.clear();
      for (const [k, v] of tags) {
        // A value given (even '') deletes the tag only when it matches, as the DeleteTags reference says.
        if (v === undefined || resource.tags.get(k) === v) resource.tags.delete(k);
      }
    }
    return { return: true };
  },

  DescribeTags(ctx) {
    // One row per tag, ordered by its resource's creation and then by key, so paging is stable while
    // tags come and go. A row carries its resource's whole tag set, so `tag:KEY` selects resources.
    const rows = [...allTaggable(ctx.state)].flatMap((resource) =>
      [...resource.tags.keys()].map((key) => ({
        id: `${resource.id}\t${key}`,
        seq: resource.seq,
        tags: resource.tags,
        resourceId: resource.id,
        resourceType: resourceType(resource.id),
        key,
        value: resource.tags.get(key) ?? '',
      })),
    );
    const { page, nextToken } = describe(ctx, rows, {
      idsParam: '_none',
      notFoundCode: 'InvalidID',
      what: 'resource',
      strictIds: false,
      filters: {
        key: (t) => t.key,
        value: (t) => t.value,
        'resource-id': (t) => t.resourceId,
        'resource-type': (t) => t.resourceType,
      },
    });
    return {
      tagSet: page.map((t) => ({
        resourceId: t.resourceId,
        resourceType: t.resourceType,
        key: t.key,
        value: t.value,
      })),
      nextToken,
    };
  },
};
