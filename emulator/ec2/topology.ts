import { contains, formatAddress, overlaps, parseCidr, size } from '../../shared/domain/cidr.ts';
import { ApiError, invalid, notFound } from '../errors.ts';
import {
  type Instance,
  type InstanceState,
  type NetworkInterface,
  newId,
  type RegionState,
  type SecurityGroup,
  type Subnet,
} from '../state.ts';
import type { XmlValue } from '../xml.ts';
import {
  type Ctx,
  checkTagKey,
  describe,
  dryRun,
  type Handler,
  idempotent,
  tagSet,
  tagsFor,
} from './context.ts';

const STATE_CODES: Record<InstanceState, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

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

function getSecurityGroup(state: RegionState, id: string) {
  const group = state.securityGroups.get(id);
  if (!group) throw notFound('InvalidGroup.NotFound', id, 'security group');
  return group;
}

/** Security groups named in a request, which must exist and belong to the VPC. */
function groupsIn(state: RegionState, ids: string[], vpcId: string): string[] {
  for (const id of ids) {
    if (getSecurityGroup(state, id).vpcId !== vpcId) {
      throw invalid(`Security group ${id} and subnet belong to different networks.`);
    }
  }
  return ids.length > 0 ? ids : [defaultGroup(state, vpcId).id];
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

/** The next free private address of a subnet (AWS keeps the first four and the last). */
function allocateAddress(subnet: Subnet): string {
  const cidr = parseCidr(subnet.cidrBlock, true);
  if (!cidr) throw new Error(`subnet ${subnet.id} has a bad CIDR`);
  if (BigInt(subnet.nextHost) >= size(cidr) - 1n) {
    throw new ApiError(
      'InsufficientFreeAddressesInSubnet',
      `There are not enough free addresses in subnet '${subnet.id}'`,
    );
  }
  const address = formatAddress(cidr.family, cidr.base + BigInt(subnet.nextHost));
  subnet.nextHost++;
  return address;
}

function checkBlock(text: string, what: string) {
  const cidr = parseCidr(text, true);
  if (cidr?.family !== 4)
    throw invalid(`Value (${text}) for parameter cidrBlock is invalid. This is not a valid CIDR block.`);
  if (cidr.prefix < 16 || cidr.prefix > 28) {
    throw new ApiError(
      `Invalid${what}.Range`,
      `The CIDR '${text}' is invalid: the netmask must be between /16 and /28.`,
    );
  }
  return cidr;
}

function newEni(
  state: RegionState,
  subnet: Subnet,
  groupIds: string[],
  description: string,
): NetworkInterface {
  const eni: NetworkInterface = {
    ...state.base('eni'),
    subnetId: subnet.id,
    vpcId: subnet.vpcId,
    availabilityZone: subnet.availabilityZone,
    description,
    privateIpAddress: allocateAddress(subnet),
    securityGroupIds: groupIds,
    interfaceType: 'interface',
  };
  state.networkInterfaces.set(eni.id, eni);
  return eni;
}

const groupSet = (state: RegionState, ids: string[]): XmlValue[] =>
  ids.map((id) => ({ groupId: id, groupName: state.securityGroups.get(id)?.groupName }));

export function eniXml(state: RegionState, eni: NetworkInterface): XmlValue {
  return {
    networkInterfaceId: eni.id,
    subnetId: eni.subnetId,
    vpcId: eni.vpcId,
    availabilityZone: eni.availabilityZone,
    description: eni.description,
    ownerId: state.account,
    requesterManaged: false,
    status: eni.attachment ? 'in-use' : 'available',
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
    tagSet: tagSet(eni.tags),
  };
}

const macOf = (id: string) => `02:${(id.slice(4, 14).match(/../g) ?? []).join(':')}`;

/** The ENIs attached to an instance, primary first. */
export function enisOf(state: RegionState, instanceId: string): NetworkInterface[] {
  return [...state.networkInterfaces.values()]
    .filter((eni) => eni.attachment?.instanceId === instanceId)
    .sort((a, b) => (a.attachment?.deviceIndex ?? 0) - (b.attachment?.deviceIndex ?? 0));
}

function instanceXml(state: RegionState, instance: Instance, shownState = instance.state): XmlValue {
  const gone = instance.state === 'terminated';
  return {
    instanceId: instance.id,
    imageId: 'ami-0mirrorops0000000',
    instanceType: instance.instanceType,
    instanceState: { code: STATE_CODES[shownState], name: shownState },
    launchTime: instance.launchTime.toISOString(),
    placement: {
      availabilityZone: state.subnets.get(instance.subnetId)?.availabilityZone,
      tenancy: 'default',
    },
    subnetId: gone ? undefined : instance.subnetId,
    vpcId: gone ? undefined : instance.vpcId,
    privateIpAddress: gone ? undefined : instance.privateIpAddress,
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    hypervisor: 'xen',
    groupSet: groupSet(state, instance.securityGroupIds),
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
  instanceTenancy: 'default',
  isDefault: false,
  tagSet: tagSet(vpc.tags),
});

const subnetXml = (state: RegionState, subnet: Subnet) => {
  const cidr = parseCidr(subnet.cidrBlock, true);
  return {
    subnetId: subnet.id,
    vpcId: subnet.vpcId,
    state: 'available',
    cidrBlock: subnet.cidrBlock,
    availabilityZone: subnet.availabilityZone,
    availableIpAddressCount: cidr ? Number(size(cidr)) - subnet.nextHost - 1 : 0,
    ownerId: state.account,
    defaultForAz: false,
    mapPublicIpOnLaunch: false,
    subnetArn: `arn:aws:ec2:${state.region}:${state.account}:subnet/${subnet.id}`,
    tagSet: tagSet(subnet.tags),
  };
};

const permissionXml = (perm: SecurityGroup['ingress'][number]) => ({
  ipProtocol: perm.ipProtocol,
  fromPort: perm.fromPort,
  toPort: perm.toPort,
  ipRanges: perm.cidrs.map((cidrIp) => ({ cidrIp })),
  groups: perm.groupIds.map((groupId) => ({ groupId })),
});

const securityGroupXml = (state: RegionState, group: SecurityGroup) => ({
  groupId: group.id,
  groupName: group.groupName,
  groupDescription: group.description,
  vpcId: group.vpcId,
  ownerId: state.account,
  ipPermissions: group.ingress.map(permissionXml),
  ipPermissionsEgress: group.egress.map(permissionXml),
  securityGroupArn: `arn:aws:ec2:${state.region}:${state.account}:security-group/${group.id}`,
  tagSet: tagSet(group.tags),
});

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

function terminate(state: RegionState, instance: Instance): void {
  instance.state = 'terminated';
  for (const eni of enisOf(state, instance.id)) {
    if (eni.attachment?.deleteOnTermination) deleteEni(state, eni);
    else delete eni.attachment;
  }
}

/** Deleting an ENI deletes its mirror sessions, as AWS does (traffic-mirroring-sessions.html). */
function deleteEni(state: RegionState, eni: NetworkInterface): void {
  for (const session of [...state.sessions.values()]) {
    if (session.networkInterfaceId === eni.id) {
      state.sessions.delete(session.id);
      state.usedVnis.delete(session.virtualNetworkId);
    }
  }
  state.networkInterfaces.delete(eni.id);
}

function validInstanceType(type: string): string {
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9-]+$/.test(type)) {
    throw invalid(`Invalid value '${type}' for InstanceType.`);
  }
  return type;
}

export const topologyActions: Record<string, Handler> = {
  CreateVpc(ctx) {
    const cidrBlock = ctx.p.required('CidrBlock');
    checkBlock(cidrBlock, 'Vpc');
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
        'owner-id': () => ctx.account,
        state: () => 'available',
      },
    });
    return { vpcSet: page.map((v) => vpcXml(ctx.state, v)), nextToken };
  },

  CreateSubnet(ctx) {
    const vpc = getVpc(ctx.state, ctx.p.required('VpcId'));
    const cidrBlock = ctx.p.required('CidrBlock');
    const cidr = checkBlock(cidrBlock, 'Subnet');
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
    const tags = tagsFor(ctx, 'subnet');
    dryRun(ctx);
    const subnet: Subnet = {
      ...ctx.state.base('subnet'),
      vpcId: vpc.id,
      cidrBlock,
      availabilityZone: ctx.p.str('AvailabilityZone') ?? `${ctx.region}a`,
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
      },
    });
    return { subnetSet: page.map((s) => subnetXml(ctx.state, s)), nextToken };
  },

  CreateSecurityGroup(ctx) {
    const groupName = ctx.p.required('GroupName');
    const description = ctx.p.required('GroupDescription');
    const vpcId = ctx.p.required('VpcId');
    getVpc(ctx.state, vpcId);
    if (groupName.toLowerCase().startsWith('sg-'))
      throw invalid(`Group names may not be in the format sg-*.`);
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

  AuthorizeSecurityGroupIngress(ctx) {
    const group = getSecurityGroup(ctx.state, ctx.p.required('GroupId'));
    const perms = ctx.p.list('IpPermissions').map((perm) => {
      const ipProtocol = perm.required('IpProtocol');
      if (!['-1', 'tcp', 'udp', 'icmp', 'icmpv6'].includes(ipProtocol) && !/^\d{1,3}$/.test(ipProtocol)) {
        throw invalid(`Invalid value '${ipProtocol}' for IP protocol.`);
      }
      const cidrs = perm.list('IpRanges').map((r) => {
        const cidrIp = r.required('CidrIp');
        if (parseCidr(cidrIp)?.family !== 4) throw invalid(`CIDR block ${cidrIp} is malformed`);
        return cidrIp;
      });
      const groupIds = perm.list('Groups').map((g) => getSecurityGroup(ctx.state, g.required('GroupId')).id);
      const fromPort = perm.int('FromPort', [-1, 65535]);
      const toPort = perm.int('ToPort', [-1, 65535]);
      return {
        ipProtocol,
        cidrs,
        groupIds,
        ...(fromPort === undefined ? {} : { fromPort }),
        ...(toPort === undefined ? {} : { toPort }),
      };
    });
    if (perms.length === 0) throw invalid('The request must contain at least one IpPermissions entry');
    dryRun(ctx);
    group.ingress.push(...perms);
    return {
      return: true,
      securityGroupRuleSet: perms.flatMap((perm) =>
        perm.cidrs.map((cidrIpv4) => ({
          securityGroupRuleId: newId('sgr'),
          groupId: group.id,
          groupOwnerId: ctx.account,
          isEgress: false,
          ipProtocol: perm.ipProtocol,
          fromPort: perm.fromPort,
          toPort: perm.toPort,
          cidrIpv4,
        })),
      ),
    };
  },

  DescribeSecurityGroups(ctx) {
    const { page, nextToken } = describe(ctx, ctx.state.securityGroups.values(), {
      idsParam: 'GroupId',
      notFoundCode: 'InvalidGroup.NotFound',
      what: 'security group',
      filters: {
        'group-id': (g) => g.id,
        'group-name': (g) => g.groupName,
        'vpc-id': (g) => g.vpcId,
        description: (g) => g.description,
      },
    });
    return { securityGroupInfo: page.map((g) => securityGroupXml(ctx.state, g)), nextToken };
  },

  RunInstances(ctx) {
    return idempotent(ctx, () => {
      const { p, state } = ctx;
      const minCount = p.requiredInt('MinCount', [1, 1000]);
      const maxCount = p.requiredInt('MaxCount', [1, 1000]);
      if (minCount > maxCount) throw invalid('MinCount must be less than or equal to MaxCount');
      const instanceType = validInstanceType(p.str('InstanceType') ?? 'm5.large');
      const subnetId = p.str('SubnetId');
      if (!subnetId)
        throw new ApiError(
          'MissingParameter',
          'The request must contain the parameter SubnetId (no default VPC here)',
        );
      const subnet = getSubnet(state, subnetId);
      const groupIds = groupsIn(state, p.strings('SecurityGroupId'), subnet.vpcId);
      const instanceTags = tagsForTypes(ctx).instance;
      const eniTags = tagsForTypes(ctx)['network-interface'];
      dryRun(ctx);
      const instances: Instance[] = [];
      for (let i = 0; i < maxCount; i++) {
        const base = state.base('i');
        const eni = newEni(state, subnet, groupIds, 'Primary network interface');
        for (const [k, v] of eniTags) eni.tags.set(k, v);
        eni.attachment = {
          attachmentId: newId('eni-attach'),
          instanceId: base.id,
          deviceIndex: 0,
          deleteOnTermination: true,
          attachTime: new Date(),
        };
        const instance: Instance = {
          ...base,
          instanceType,
          subnetId: subnet.id,
          vpcId: subnet.vpcId,
          securityGroupIds: groupIds,
          state: 'running',
          launchTime: new Date(),
          primaryEniId: eni.id,
          privateIpAddress: eni.privateIpAddress,
        };
        for (const [k, v] of instanceTags) instance.tags.set(k, v);
        state.instances.set(instance.id, instance);
        instances.push(instance);
      }
      return {
        reservationId: newId('r'),
        ownerId: ctx.account,
        groupSet: groupSet(state, groupIds),
        instancesSet: instances.map((instance) => instanceXml(state, instance, 'pending')),
      };
    });
  },

  TerminateInstances(ctx) {
    const ids = ctx.p.strings('InstanceId');
    if (ids.length === 0)
      throw new ApiError('MissingParameter', 'The request must contain the parameter InstanceId');
    const instances = ids.map((id) => getInstance(ctx.state, id));
    dryRun(ctx);
    return {
      instancesSet: instances.map((instance) => {
        const previous = instance.state;
        terminate(ctx.state, instance);
        const current = previous === 'terminated' ? 'terminated' : 'shutting-down';
        return {
          instanceId: instance.id,
          previousState: { code: STATE_CODES[previous], name: previous },
          currentState: { code: STATE_CODES[current], name: current },
        };
      }),
    };
  },

  DescribeInstances(ctx) {
    const { page, nextToken } = describe(ctx, ctx.state.instances.values(), {
      idsParam: 'InstanceId',
      notFoundCode: 'InvalidInstanceID.NotFound',
      what: 'instance',
      filters: {
        'instance-id': (i) => i.id,
        'instance-type': (i) => i.instanceType,
        'instance-state-name': (i) => i.state,
        'instance-state-code': (i) => STATE_CODES[i.state],
        'vpc-id': (i) => i.vpcId,
        'subnet-id': (i) => i.subnetId,
        'private-ip-address': (i) => i.privateIpAddress,
        'network-interface.network-interface-id': (i) => enisOf(ctx.state, i.id).map((e) => e.id),
      },
    });
    return {
      reservationSet: page.map((instance) => ({
        reservationId: `r-${instance.id.slice(2)}`,
        ownerId: ctx.account,
        groupSet: [],
        instancesSet: [instanceXml(ctx.state, instance)],
      })),
      nextToken,
    };
  },

  CreateNetworkInterface(ctx) {
    return idempotent(ctx, () => {
      const subnet = getSubnet(ctx.state, ctx.p.required('SubnetId'));
      const groupIds = groupsIn(ctx.state, ctx.p.strings('SecurityGroupId'), subnet.vpcId);
      const interfaceType = ctx.p.str('InterfaceType') ?? 'interface';
      if (!['interface', 'efa', 'efa-only', 'trunk'].includes(interfaceType)) {
        throw invalid(`Invalid value '${interfaceType}' for InterfaceType.`);
      }
      const tags = tagsFor(ctx, 'network-interface');
      dryRun(ctx);
      const eni = newEni(ctx.state, subnet, groupIds, ctx.p.str('Description') ?? '');
      eni.interfaceType = interfaceType;
      for (const [k, v] of tags) eni.tags.set(k, v);
      return { networkInterface: eniXml(ctx.state, eni) };
    });
  },

  AttachNetworkInterface(ctx) {
    const eni = getNetworkInterface(ctx.state, ctx.p.required('NetworkInterfaceId'));
    const instance = getInstance(ctx.state, ctx.p.required('InstanceId'));
    const deviceIndex = ctx.p.requiredInt('DeviceIndex', [0, 31]);
    if (instance.state !== 'running' && instance.state !== 'stopped') {
      throw new ApiError(
        'IncorrectInstanceState',
        `The instance '${instance.id}' is not in a valid state for this operation.`,
      );
    }
    if (eni.attachment) {
      throw new ApiError('InvalidNetworkInterface.InUse', `Interface: [${eni.id}] in use.`);
    }
    if (inOtherZone(ctx, eni, instance)) {
      throw invalid(
        `Network interface ${eni.id} and instance ${instance.id} are in different availability zones.`,
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
    return { attachmentId, networkCardIndex: 0 };
  },

  DeleteNetworkInterface(ctx) {
    const eni = getNetworkInterface(ctx.state, ctx.p.required('NetworkInterfaceId'));
    if (eni.attachment)
      throw new ApiError(
        'InvalidNetworkInterface.InUse',
        `The network interface '${eni.id}' is currently in use.`,
      );
    for (const target of ctx.state.targets.values()) {
      if (target.networkInterfaceId === eni.id) {
        throw new ApiError(
          'InvalidNetworkInterface.InUse',
          `The network interface '${eni.id}' is in use by traffic mirror target '${target.id}'.`,
        );
      }
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
      filters: {
        'network-interface-id': (e) => e.id,
        'vpc-id': (e) => e.vpcId,
        'subnet-id': (e) => e.subnetId,
        'availability-zone': (e) => e.availabilityZone,
        'attachment.instance-id': (e) => e.attachment?.instanceId,
        'attachment.device-index': (e) => e.attachment?.deviceIndex,
        'attachment.attachment-id': (e) => e.attachment?.attachmentId,
        status: (e) => (e.attachment ? 'in-use' : 'available'),
        'interface-type': (e) => e.interfaceType,
        'private-ip-address': (e) => e.privateIpAddress,
        'group-id': (e) => e.securityGroupIds,
        description: (e) => e.description,
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
        // A value given deletes the tag only when it matches, as EC2 documents.
        if (v === undefined || resource.tags.get(k) === v) resource.tags.delete(k);
      }
    }
    return { return: true };
  },

  DescribeTags(ctx) {
    const rows = [...allTaggable(ctx.state)].flatMap((resource) =>
      [...resource.tags].map(([key, value], i) => ({
        id: `${resource.id}/${key}`,
        seq: resource.seq * 100 + i,
        tags: new Map([[key, value]]),
        resourceId: resource.id,
        resourceType: resourceType(resource.id),
        key,
        value,
      })),
    );
    const { page, nextToken } = describe(ctx, rows, {
      idsParam: '_none',
      notFoundCode: 'InvalidID',
      what: 'resource',
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

function inOtherZone(ctx: Ctx, eni: NetworkInterface, instance: Instance): boolean {
  const az = ctx.state.subnets.get(instance.subnetId)?.availabilityZone;
  return az !== undefined && az !== eni.availabilityZone;
}

function* allTaggable(state: RegionState) {
  yield* state.vpcs.values();
  yield* state.subnets.values();
  yield* state.securityGroups.values();
  yield* state.instances.values();
  yield* state.networkInterfaces.values();
  yield* state.targets.values();
  yield* state.filters.values();
  yield* state.sessions.values();
}

/** RunInstances takes tag specifications for the instance and its interfaces. */
function tagsForTypes(ctx: Ctx): Record<'instance' | 'network-interface', Map<string, string>> {
  const out = { instance: new Map<string, string>(), 'network-interface': new Map<string, string>() };
  for (const spec of ctx.p.list('TagSpecification')) {
    const type = spec.required('ResourceType');
    if (type !== 'instance' && type !== 'network-interface' && type !== 'volume') {
      throw invalid(`'${type}' is not a valid taggable resource type for this operation.`);
    }
    if (type === 'volume') continue;
    for (const tag of spec.list('Tag'))
      out[type].set(checkTagKey(tag.required('Key')), tag.str('Value') ?? '');
  }
  return out;
}

function tagRequest(ctx: Ctx, create: boolean) {
  const ids = ctx.p.strings('ResourceId');
  if (ids.length === 0)
    throw new ApiError('MissingParameter', 'The request must contain the parameter ResourceId');
  const resources = ids.map((id) => {
    const resource = ctx.state.findTaggable(id);
    if (!resource) throw new ApiError('InvalidID', `The ID '${id}' is not valid`);
    return resource;
  });
  const tags = new Map<string, string | undefined>();
  for (const tag of ctx.p.list('Tag')) tags.set(checkTagKey(tag.required('Key')), tag.str('Value'));
  if (create && tags.size === 0)
    throw new ApiError('MissingParameter', 'The request must contain the parameter Tag');
  if (create) {
    for (const resource of resources) {
      const keys = new Set([...resource.tags.keys(), ...tags.keys()]);
      if (keys.size > 50)
        throw new ApiError('TagLimitExceeded', `Resource ${resource.id} would have more than 50 tags.`);
    }
  }
  return { resources, tags };
}
