/**
 * What decides whether a packet gets from one ENI to another inside AWS, as far as mirrorops'
 * doctor reads it: security group rules (both directions, with rule ids), network ACLs (a default
 * one per VPC that allows everything, custom ones that deny everything until entries are added,
 * one ACL per subnet), route tables (a main one per VPC with its local route, subnet associations,
 * routes to peering connections, transit gateways and ENIs), VPC peering connections (requested,
 * accepted, across accounts), and transit gateways with VPC attachments.
 *
 * Written from the EC2 API Reference (API_CreateNetworkAclEntry.html, API_CreateRoute.html,
 * API_CreateVpcPeeringConnection.html, API_CreateTransitGatewayVpcAttachment.html,
 * API_DescribeSecurityGroupRules.html and their neighbours) and the VPC User Guide
 * (vpc-network-acls.html: "Default network ACL", "Custom network ACL"; VPC_Route_Tables.html:
 * "Main route table"; peering/vpc-peering-basics.html: the life cycle). The default ACL, the main
 * route table and a subnet's association with them are made the first time a call of this module
 * looks at the VPC or the subnet: nothing else in the emulator reads them. Choices where AWS leaves
 * the behaviour open are listed in emulator/README.md.
 */

import { ApiError, invalid, missing, notFound } from '../errors.ts';
import type { Params } from '../query.ts';
import type { IpPermission, RegionState, Resource, SecurityGroup, World } from '../state.ts';
import { newId } from '../state.ts';
import type { XmlValue } from '../xml.ts';
import { overlaps, parseCidr } from './cidr.ts';
import { type Ctx, describe, dryRun, type Handler, idempotent, tagSet, tagsFor } from './context.ts';
import {
  getNetworkInterface,
  getSecurityGroup,
  getSubnet,
  getVpc,
  permissionFrom,
  rulesOf,
} from './topology.ts';

// ---- security group rules -----------------------------------------------------------------------

/**
 * The id of each single rule of a permission (one CIDR or one referenced group), given the first
 * time it is shown and kept while the rule exists, as DescribeSecurityGroupRules and
 * RevokeSecurityGroupIngress's SecurityGroupRuleId need.
 */
const ruleIds = new WeakMap<IpPermission, Map<string, string>>();

function ruleIdOf(perm: IpPermission, source: string): string {
  let ids = ruleIds.get(perm);
  if (!ids) {
    ids = new Map();
    ruleIds.set(perm, ids);
  }
  let id = ids.get(source);
  if (!id) {
    id = newId('sgr');
    ids.set(source, id);
  }
  return id;
}

/** A SecurityGroupRule per CIDR and per referenced group of a permission. */
function ruleRows(
  ctx: Pick<Ctx, 'account' | 'region'>,
  group: SecurityGroup,
  perm: IpPermission,
  isEgress: boolean,
): Record<string, XmlValue>[] {
  const row = (source: string, extra: Record<string, XmlValue>) => {
    const id = ruleIdOf(perm, source);
    return {
      securityGroupRuleId: id,
      groupId: group.id,
      groupOwnerId: ctx.account,
      isEgress,
      ipProtocol: perm.ipProtocol,
      fromPort: perm.fromPort ?? -1,
      toPort: perm.toPort ?? -1,
      ...extra,
      securityGroupRuleArn: `arn:aws:ec2:${ctx.region}:${ctx.account}:security-group-rule/${id}`,
    };
  };
  return [
    ...perm.cidrs.map((cidrIpv4) => row(`cidr:${cidrIpv4}`, { cidrIpv4 })),
    ...perm.groupIds.map((groupId) =>
      row(`group:${groupId}`, { referencedGroupInfo: { groupId, userId: ctx.account } }),
    ),
  ];
}

/** The permissions of an Authorize/Revoke request: IpPermissions.N, or the legacy top-level form. */
function requestedPermissions(ctx: Ctx): IpPermission[] {
  const { p, state } = ctx;
  const perms = p
    .list('IpPermissions')
    .map((perm) => permissionFrom(state, perm, (q) => q.list('IpRanges').map((r) => r.required('CidrIp'))));
  if (p.has('IpProtocol') || p.has('CidrIp'))
    perms.push(permissionFrom(state, p, (q) => [q.required('CidrIp')]));
  return perms;
}

/**
 * AuthorizeSecurityGroupIngress and AuthorizeSecurityGroupEgress: every rule of the request is
 * new (a rule already there is InvalidPermission.Duplicate, and nothing is added), then all are added.
 */
export function authorizeRules(ctx: Ctx, egress: boolean): Record<string, XmlValue> {
  const group = getSecurityGroup(ctx.state, ctx.p.required('GroupId'));
  const perms = requestedPermissions(ctx);
  if (perms.length === 0) throw missing('IpPermissions');
  const list = egress ? group.egress : group.ingress;
  const existing = new Set(list.flatMap(rulesOf));
  for (const rule of perms.flatMap(rulesOf)) {
    if (existing.has(rule)) {
      throw new ApiError(
        'InvalidPermission.Duplicate',
        `the specified rule "${rule}" already exists in security group ${group.id}`,
      );
    }
    existing.add(rule);
  }
  dryRun(ctx);
  list.push(...perms);
  return { return: true, securityGroupRuleSet: perms.flatMap((perm) => ruleRows(ctx, group, perm, egress)) };
}

/** One single rule to remove: the permission holding it and the CIDR or group it names. */
interface Removal {
  perm: IpPermission;
  source: string;
}

function removalsByPermission(group: SecurityGroup, list: IpPermission[], perms: IpPermission[]): Removal[] {
  const out: Removal[] = [];
  const same = (a: IpPermission, b: IpPermission) =>
    a.ipProtocol === b.ipProtocol && a.fromPort === b.fromPort && a.toPort === b.toPort;
  for (const wanted of perms) {
    const sources = [...wanted.cidrs.map((c) => `cidr:${c}`), ...wanted.groupIds.map((g) => `group:${g}`)];
    for (const source of sources) {
      const perm = list.find((held) => same(held, wanted) && sourcesOf(held).includes(source));
      if (!perm) {
        throw new ApiError(
          'InvalidPermission.NotFound',
          `The specified rule does not exist in this security group (${group.id}).`,
        );
      }
      out.push({ perm, source });
    }
  }
  return out;
}

const sourcesOf = (perm: IpPermission) => [
  ...perm.cidrs.map((c) => `cidr:${c}`),
  ...perm.groupIds.map((g) => `group:${g}`),
];

function removalsById(group: SecurityGroup, list: IpPermission[], ids: string[]): Removal[] {
  return ids.map((id) => {
    for (const perm of list) {
      for (const source of sourcesOf(perm))
        if (ruleIds.get(perm)?.get(source) === id) return { perm, source };
    }
    throw new ApiError(
      'InvalidSecurityGroupRuleId.NotFound',
      `The security group rule ID '${id}' does not exist in security group ${group.id}`,
    );
  });
}

function revoke(ctx: Ctx, egress: boolean): Record<string, XmlValue> {
  const group = getSecurityGroup(ctx.state, ctx.p.required('GroupId'));
  const list = egress ? group.egress : group.ingress;
  const ids = ctx.p.strings('SecurityGroupRuleId');
  const perms = requestedPermissions(ctx);
  if (ids.length === 0 && perms.length === 0) throw missing('IpPermissions');
  if (ids.length > 0 && perms.length > 0) {
    throw new ApiError(
      'InvalidParameterCombination',
      'The parameter SecurityGroupRuleIds cannot be used with the parameter IpPermissions',
    );
  }
  // For IpPermissions, each rule's ids are made now, before the change, so the answer can name them.
  for (const perm of list) for (const source of sourcesOf(perm)) ruleIdOf(perm, source);
  const removals = ids.length > 0 ? removalsById(group, list, ids) : removalsByPermission(group, list, perms);
  dryRun(ctx);
  const revoked: Record<string, XmlValue>[] = [];
  for (const { perm, source } of removals) {
    const id = ruleIds.get(perm)?.get(source);
    revoked.push({
      securityGroupRuleId: id,
      groupId: group.id,
      isEgress: egress,
      ipProtocol: perm.ipProtocol,
      fromPort: perm.fromPort ?? -1,
      toPort: perm.toPort ?? -1,
      ...(source.startsWith('cidr:')
        ? { cidrIpv4: source.slice(5) }
        : { referencedGroupId: source.slice(6) }),
    });
    if (source.startsWith('cidr:')) perm.cidrs = perm.cidrs.filter((c) => `cidr:${c}` !== source);
    else perm.groupIds = perm.groupIds.filter((g) => `group:${g}` !== source);
  }
  const kept = list.filter((perm) => perm.cidrs.length > 0 || perm.groupIds.length > 0);
  if (egress) group.egress = kept;
  else group.ingress = kept;
  return { return: true, revokedSecurityGroupRuleSet: revoked };
}

/** A rule as a row DescribeSecurityGroupRules pages by: its group's order, then its place in the group. */
interface RuleRow extends Resource {
  groupId: string;
  isEgress: boolean;
  xml: Record<string, XmlValue>;
}

function describeRules(ctx: Ctx): Record<string, XmlValue> {
  const rows: RuleRow[] = [];
  for (const group of ctx.state.securityGroups.values()) {
    let n = 0;
    for (const [egress, list] of [
      [false, group.ingress],
      [true, group.egress],
    ] as const) {
      for (const perm of list) {
        for (const xml of ruleRows(ctx, group, perm, egress)) {
          rows.push({
            id: String(xml.securityGroupRuleId),
            // A group's rules page in order after the group itself; a group never has 10^6 rules.
            seq: group.seq + n++ / 1e6,
            tags: new Map(),
            groupId: group.id,
            isEgress: egress,
            xml,
          });
        }
      }
    }
  }
  const { page, nextToken } = describe(ctx, rows, {
    idsParam: 'SecurityGroupRuleId',
    notFoundCode: 'InvalidSecurityGroupRuleId.NotFound',
    what: 'security group rule',
    filters: {
      'group-id': (r) => r.groupId,
      'security-group-rule-id': (r) => r.id,
      'is-egress': (r) => String(r.isEgress),
    },
  });
  return { securityGroupRuleSet: page.map((r) => r.xml), nextToken };
}

// ---- the network state of a Region --------------------------------------------------------------

interface AclEntry {
  ruleNumber: number;
  egress: boolean;
  /** `-1` (all) or a protocol number, as EC2 reports it. */
  protocol: string;
  action: 'allow' | 'deny';
  cidrBlock: string;
  portRange?: { from: number; to: number };
  icmp?: { type: number; code: number };
}

interface NetworkAcl extends Resource {
  vpcId: string;
  isDefault: boolean;
  entries: AclEntry[];
}

interface Route {
  destination: string;
  gatewayId?: string;
  vpcPeeringConnectionId?: string;
  transitGatewayId?: string;
  networkInterfaceId?: string;
  origin: 'CreateRouteTable' | 'CreateRoute';
}

interface RouteTable extends Resource {
  vpcId: string;
  main: boolean;
  routes: Route[];
  /** Explicit subnet associations: subnet id -> association id. */
  subnets: Map<string, string>;
}

interface TransitGateway extends Resource {
  description: string;
  created: Date;
}

interface TgwAttachment extends Resource {
  transitGatewayId: string;
  vpcId: string;
  subnetIds: string[];
  created: Date;
}

/** The ACLs, route tables and transit gateways of one account in one Region. */
class Network {
  readonly acls = new Map<string, NetworkAcl>();
  /** Every subnet has exactly one ACL association: subnet id -> association. */
  readonly aclAssociations = new Map<string, { id: string; aclId: string }>();
  readonly routeTables = new Map<string, RouteTable>();
  /** The main route table's association id, per VPC. */
  readonly mainAssociations = new Map<string, string>();
  readonly transitGateways = new Map<string, TransitGateway>();
  readonly attachments = new Map<string, TgwAttachment>();
}

const networks = new WeakMap<RegionState, Network>();

const ALL = '0.0.0.0/0';
/** The `*` rule of every ACL: EC2 reports it with this number, and it cannot be changed. */
const LAST_RULE = 32767;

const denyAll = (egress: boolean): AclEntry => ({
  ruleNumber: LAST_RULE,
  egress,
  protocol: '-1',
  action: 'deny',
  cidrBlock: ALL,
});

/**
 * The Region's network state, with a default ACL and a main route table for each VPC and an ACL
 * association for each subnet made where missing (vpc-network-acls.html: the default ACL allows
 * all traffic in and out; a subnet not associated explicitly is associated with it).
 */
function networkOf(state: RegionState): Network {
  let network = networks.get(state);
  if (!network) {
    network = new Network();
    networks.set(state, network);
  }
  for (const vpc of state.vpcs.values()) {
    if (![...network.acls.values()].some((acl) => acl.vpcId === vpc.id && acl.isDefault)) {
      const acl: NetworkAcl = {
        ...state.base('acl'),
        vpcId: vpc.id,
        isDefault: true,
        entries: [
          { ruleNumber: 100, egress: false, protocol: '-1', action: 'allow', cidrBlock: ALL },
          { ruleNumber: 100, egress: true, protocol: '-1', action: 'allow', cidrBlock: ALL },
          denyAll(false),
          denyAll(true),
        ],
      };
      network.acls.set(acl.id, acl);
    }
    if (!network.mainAssociations.has(vpc.id)) {
      const table: RouteTable = {
        ...state.base('rtb'),
        vpcId: vpc.id,
        main: true,
        routes: [{ destination: vpc.cidrBlock, gatewayId: 'local', origin: 'CreateRouteTable' }],
        subnets: new Map(),
      };
      network.routeTables.set(table.id, table);
      network.mainAssociations.set(vpc.id, newId('rtbassoc'));
    }
  }
  for (const subnet of state.subnets.values()) {
    if (network.aclAssociations.has(subnet.id)) continue;
    const acl = [...network.acls.values()].find((a) => a.vpcId === subnet.vpcId && a.isDefault);
    if (acl) network.aclAssociations.set(subnet.id, { id: newId('aclassoc'), aclId: acl.id });
  }
  return network;
}

function getAcl(network: Network, id: string): NetworkAcl {
  const acl = network.acls.get(id);
  if (!acl) throw notFound('InvalidNetworkAclID.NotFound', id, 'network ACL');
  return acl;
}

function getRouteTable(network: Network, id: string): RouteTable {
  const table = network.routeTables.get(id);
  if (!table) throw notFound('InvalidRouteTableID.NotFound', id, 'route table');
  return table;
}

function getTransitGateway(network: Network, id: string): TransitGateway {
  const tgw = network.transitGateways.get(id);
  if (!tgw) throw notFound('InvalidTransitGatewayID.NotFound', id, 'transit gateway');
  return tgw;
}

// ---- network ACLs -------------------------------------------------------------------------------

const PROTOCOL_NUMBERS: Record<string, string> = { all: '-1', tcp: '6', udp: '17', icmp: '1', icmpv6: '58' };

/** `-1`, a protocol number 0-255, or one of the names EC2 also takes; kept as the number. */
function aclProtocol(raw: string): string {
  const lower = raw.toLowerCase();
  if (Object.hasOwn(PROTOCOL_NUMBERS, lower)) return PROTOCOL_NUMBERS[lower] as string;
  if (lower === '-1') return '-1';
  if (/^\d{1,3}$/.test(raw) && Number(raw) <= 255) return String(Number(raw));
  throw invalid(`Invalid value '${raw}' for protocol. Unknown protocol.`);
}

function aclEntryFrom(p: Params): AclEntry {
  const ruleNumber = p.requiredInt('RuleNumber');
  if (ruleNumber < 1 || ruleNumber > 32766) {
    throw invalid(
      `Value (${ruleNumber}) for parameter ruleNumber is invalid. Rule numbers must be 1 to 32766.`,
    );
  }
  const protocol = aclProtocol(p.required('Protocol'));
  const action = p.required('RuleAction');
  if (action !== 'allow' && action !== 'deny') {
    throw invalid(`Value (${action}) for parameter ruleAction is invalid. Use allow or deny.`);
  }
  if (p.has('Ipv6CidrBlock')) throw invalid('The emulator does not model IPv6 network ACL entries.');
  const cidrBlock = p.required('CidrBlock');
  if (parseCidr(cidrBlock)?.family !== 4) {
    throw invalid(`Value (${cidrBlock}) for parameter cidrBlock is invalid. This is not a valid CIDR block.`);
  }
  const entry: AclEntry = { ruleNumber, egress: p.bool('Egress') ?? false, protocol, action, cidrBlock };
  if (protocol === '6' || protocol === '17') {
    const from = p.struct('PortRange')?.int('From', [0, 65535]);
    const to = p.struct('PortRange')?.int('To', [0, 65535]);
    if (from === undefined || to === undefined) {
      throw new ApiError(
        'MissingParameter',
        'The request must contain the parameter portRange for TCP and UDP',
      );
    }
    if (from > to) throw invalid(`Invalid port range: from port ${from} is greater than to port ${to}.`);
    entry.portRange = { from, to };
  }
  if (protocol === '1') {
    const type = p.struct('Icmp')?.int('Type', [-1, 255]);
    const code = p.struct('Icmp')?.int('Code', [-1, 255]);
    if (type === undefined || code === undefined) {
      throw new ApiError('MissingParameter', 'The request must contain the parameter icmpTypeCode for ICMP');
    }
    entry.icmp = { type, code };
  }
  return entry;
}

const aclXml = (state: RegionState, network: Network, acl: NetworkAcl): XmlValue => ({
  networkAclId: acl.id,
  vpcId: acl.vpcId,
  default: acl.isDefault,
  ownerId: state.account,
  entrySet: [...acl.entries]
    .sort((a, b) => Number(a.egress) - Number(b.egress) || a.ruleNumber - b.ruleNumber)
    .map((e) => ({
      ruleNumber: e.ruleNumber,
      protocol: e.protocol,
      ruleAction: e.action,
      egress: e.egress,
      cidrBlock: e.cidrBlock,
      icmpTypeCode: e.icmp,
      portRange: e.portRange,
    })),
  associationSet: [...network.aclAssociations]
    .filter(([, a]) => a.aclId === acl.id)
    .map(([subnetId, a]) => ({ networkAclAssociationId: a.id, networkAclId: acl.id, subnetId })),
  tagSet: tagSet(acl.tags),
});

const aclActions: Record<string, Handler> = {
  CreateNetworkAcl(ctx) {
    return idempotent(ctx, () => {
      const vpc = getVpc(ctx.state, ctx.p.required('VpcId'));
      const tags = tagsFor(ctx, 'network-acl');
      dryRun(ctx);
      const network = networkOf(ctx.state);
      // A custom ACL denies everything until entries are added (vpc-network-acls.html).
      const acl: NetworkAcl = {
        ...ctx.state.base('acl'),
        vpcId: vpc.id,
        isDefault: false,
        entries: [denyAll(false), denyAll(true)],
      };
      for (const [k, v] of tags) acl.tags.set(k, v);
      network.acls.set(acl.id, acl);
      return { networkAcl: aclXml(ctx.state, network, acl) };
    });
  },

  CreateNetworkAclEntry(ctx) {
    const network = networkOf(ctx.state);
    const acl = getAcl(network, ctx.p.required('NetworkAclId'));
    const entry = aclEntryFrom(ctx.p);
    if (acl.entries.some((e) => e.egress === entry.egress && e.ruleNumber === entry.ruleNumber)) {
      throw new ApiError(
        'NetworkAclEntryAlreadyExists',
        `The network acl entry identified by ${entry.ruleNumber} already exists.`,
      );
    }
    dryRun(ctx);
    acl.entries.push(entry);
    return { return: true };
  },

  DeleteNetworkAclEntry(ctx) {
    const network = networkOf(ctx.state);
    const acl = getAcl(network, ctx.p.required('NetworkAclId'));
    const ruleNumber = ctx.p.requiredInt('RuleNumber');
    const egress = ctx.p.bool('Egress') ?? false;
    const index = acl.entries.findIndex(
      (e) => e.egress === egress && e.ruleNumber === ruleNumber && e.ruleNumber !== LAST_RULE,
    );
    if (index < 0) {
      throw new ApiError(
        'InvalidNetworkAclEntry.NotFound',
        `The network acl entry identified by ${ruleNumber} (${egress ? 'egress' : 'ingress'}) does not exist.`,
      );
    }
    dryRun(ctx);
    acl.entries.splice(index, 1);
    return { return: true };
  },

  ReplaceNetworkAclAssociation(ctx) {
    const network = networkOf(ctx.state);
    const associationId = ctx.p.required('AssociationId');
    const acl = getAcl(network, ctx.p.required('NetworkAclId'));
    const found = [...network.aclAssociations].find(([, a]) => a.id === associationId);
    if (!found) {
      throw new ApiError(
        'InvalidAssociationID.NotFound',
        `The association ID '${associationId}' does not exist`,
      );
    }
    const [subnetId] = found;
    const subnet = getSubnet(ctx.state, subnetId);
    if (subnet.vpcId !== acl.vpcId) {
      throw invalid(`Network ACL ${acl.id} and subnet ${subnet.id} belong to different networks.`);
    }
    dryRun(ctx);
    const newAssociationId = newId('aclassoc');
    network.aclAssociations.set(subnetId, { id: newAssociationId, aclId: acl.id });
    return { newAssociationId };
  },

  DeleteNetworkAcl(ctx) {
    const network = networkOf(ctx.state);
    const acl = getAcl(network, ctx.p.required('NetworkAclId'));
    if (acl.isDefault)
      throw new ApiError('InvalidParameterValue', `cannot delete default network ACL ${acl.id}`);
    if ([...network.aclAssociations.values()].some((a) => a.aclId === acl.id)) {
      throw new ApiError(
        'DependencyViolation',
        `The network ACL '${acl.id}' has dependencies and cannot be deleted.`,
      );
    }
    dryRun(ctx);
    network.acls.delete(acl.id);
    return { return: true };
  },

  DescribeNetworkAcls(ctx) {
    const network = networkOf(ctx.state);
    const associations = (acl: NetworkAcl) =>
      [...network.aclAssociations].filter(([, a]) => a.aclId === acl.id);
    const { page, nextToken } = describe(ctx, network.acls.values(), {
      idsParam: 'NetworkAclId',
      notFoundCode: 'InvalidNetworkAclID.NotFound',
      what: 'network ACL',
      filters: {
        'network-acl-id': (a) => a.id,
        'vpc-id': (a) => a.vpcId,
        default: (a) => String(a.isDefault),
        'owner-id': () => ctx.account,
        'association.subnet-id': (a) => associations(a).map(([subnetId]) => subnetId),
        'association.association-id': (a) => associations(a).map(([, x]) => x.id),
        'association.network-acl-id': (a) => a.id,
        'entry.rule-number': (a) => a.entries.map((e) => e.ruleNumber),
        'entry.protocol': (a) => a.entries.map((e) => e.protocol),
        'entry.rule-action': (a) => a.entries.map((e) => e.action),
        'entry.egress': (a) => a.entries.map((e) => String(e.egress)),
        'entry.cidr': (a) => a.entries.map((e) => e.cidrBlock),
      },
    });
    return { networkAclSet: page.map((acl) => aclXml(ctx.state, network, acl)), nextToken };
  },
};

// ---- route tables -------------------------------------------------------------------------------

/** A route is active while what it points at can carry traffic; a blackhole otherwise (API_Route.html). */
function routeState(ctx: Ctx, network: Network, table: RouteTable, route: Route): 'active' | 'blackhole' {
  if (route.vpcPeeringConnectionId !== undefined) {
    const peering = peeringsOf(ctx.world).get(route.vpcPeeringConnectionId);
    return peering?.status === 'active' ? 'active' : 'blackhole';
  }
  if (route.transitGatewayId !== undefined) {
    const attached = [...network.attachments.values()].some(
      (a) => a.transitGatewayId === route.transitGatewayId && a.vpcId === table.vpcId,
    );
    return network.transitGateways.has(route.transitGatewayId) && attached ? 'active' : 'blackhole';
  }
  if (route.networkInterfaceId !== undefined) {
    return ctx.state.networkInterfaces.has(route.networkInterfaceId) ? 'active' : 'blackhole';
  }
  return 'active';
}

function routeTableXml(ctx: Ctx, network: Network, table: RouteTable): XmlValue {
  const mainAssociation = network.mainAssociations.get(table.vpcId);
  return {
    routeTableId: table.id,
    vpcId: table.vpcId,
    ownerId: ctx.account,
    routeSet: table.routes.map((r) => ({
      destinationCidrBlock: r.destination,
      gatewayId: r.gatewayId,
      vpcPeeringConnectionId: r.vpcPeeringConnectionId,
      transitGatewayId: r.transitGatewayId,
      networkInterfaceId: r.networkInterfaceId,
      state: routeState(ctx, network, table, r),
      origin: r.origin,
    })),
    associationSet: [
      ...(table.main && mainAssociation
        ? [
            {
              main: true,
              routeTableAssociationId: mainAssociation,
              routeTableId: table.id,
              associationState: { state: 'associated' },
            },
          ]
        : []),
      ...[...table.subnets].map(([subnetId, id]) => ({
        main: false,
        routeTableAssociationId: id,
        routeTableId: table.id,
        subnetId,
        associationState: { state: 'associated' },
      })),
    ],
    propagatingVgwSet: [],
    tagSet: tagSet(table.tags),
  };
}

/** The one target a CreateRoute names, checked to exist and to be usable from the table's VPC. */
function routeTarget(ctx: Ctx, network: Network, table: RouteTable): Omit<Route, 'destination' | 'origin'> {
  const { p } = ctx;
  const named = [
    'GatewayId',
    'VpcPeeringConnectionId',
    'TransitGatewayId',
    'NetworkInterfaceId',
    'InstanceId',
    'NatGatewayId',
    'EgressOnlyInternetGatewayId',
    'LocalGatewayId',
    'CarrierGatewayId',
    'VpcEndpointId',
    'CoreNetworkArn',
  ].filter((name) => p.has(name));
  if (named.length === 0) {
    throw new ApiError('MissingParameter', 'The request must contain exactly one route target');
  }
  if (named.length > 1) {
    throw new ApiError(
      'InvalidParameterCombination',
      `Only one route target may be given, not ${named.join(' and ')}`,
    );
  }
  const peeringId = p.str('VpcPeeringConnectionId');
  if (peeringId !== undefined) {
    const peering = visiblePeering(ctx, peeringId);
    const own = (side: PeeringSide) =>
      side.account === ctx.account && side.region === ctx.region && side.vpcId === table.vpcId;
    if (!own(peering.requester) && !own(peering.accepter)) {
      throw invalid(
        `Route table ${table.id} and peering connection ${peering.id} belong to different networks.`,
      );
    }
    return { vpcPeeringConnectionId: peering.id };
  }
  const tgwId = p.str('TransitGatewayId');
  if (tgwId !== undefined) return { transitGatewayId: getTransitGateway(network, tgwId).id };
  const eniId = p.str('NetworkInterfaceId');
  if (eniId !== undefined) {
    const eni = getNetworkInterface(ctx.state, eniId);
    if (eni.vpcId !== table.vpcId) {
      throw invalid(`Route table ${table.id} and network interface ${eni.id} belong to different networks.`);
    }
    return { networkInterfaceId: eni.id };
  }
  throw invalid(
    `The emulator models routes to peering connections, transit gateways and network interfaces only, not ${named[0]}.`,
  );
}

const routeActions: Record<string, Handler> = {
  CreateRouteTable(ctx) {
    return idempotent(ctx, () => {
      const vpc = getVpc(ctx.state, ctx.p.required('VpcId'));
      const tags = tagsFor(ctx, 'route-table');
      dryRun(ctx);
      const network = networkOf(ctx.state);
      const table: RouteTable = {
        ...ctx.state.base('rtb'),
        vpcId: vpc.id,
        main: false,
        routes: [{ destination: vpc.cidrBlock, gatewayId: 'local', origin: 'CreateRouteTable' }],
        subnets: new Map(),
      };
      for (const [k, v] of tags) table.tags.set(k, v);
      network.routeTables.set(table.id, table);
      return { routeTable: routeTableXml(ctx, network, table) };
    });
  },

  CreateRoute(ctx) {
    const network = networkOf(ctx.state);
    const table = getRouteTable(network, ctx.p.required('RouteTableId'));
    if (ctx.p.has('DestinationIpv6CidrBlock') || ctx.p.has('DestinationPrefixListId')) {
      throw invalid('The emulator models IPv4 destination CIDR blocks only.');
    }
    const destination = ctx.p.required('DestinationCidrBlock');
    if (parseCidr(destination, true)?.family !== 4) {
      throw invalid(
        `Value (${destination}) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.`,
      );
    }
    const target = routeTarget(ctx, network, table);
    if (table.routes.some((r) => r.destination === destination)) {
      throw new ApiError('RouteAlreadyExists', `The route identified by ${destination} already exists.`);
    }
    dryRun(ctx);
    table.routes.push({ destination, ...target, origin: 'CreateRoute' });
    return { return: true };
  },

  DeleteRoute(ctx) {
    const network = networkOf(ctx.state);
    const table = getRouteTable(network, ctx.p.required('RouteTableId'));
    const destination = ctx.p.required('DestinationCidrBlock');
    const index = table.routes.findIndex((r) => r.destination === destination);
    if (index < 0) {
      throw new ApiError(
        'InvalidRoute.NotFound',
        `no route with destination-cidr-block ${destination} in route table ${table.id}`,
      );
    }
    if (table.routes[index]?.gatewayId === 'local') {
      throw invalid(`cannot remove local route ${destination} in route table ${table.id}`);
    }
    dryRun(ctx);
    table.routes.splice(index, 1);
    return { return: true };
  },

  AssociateRouteTable(ctx) {
    const network = networkOf(ctx.state);
    const table = getRouteTable(network, ctx.p.required('RouteTableId'));
    if (ctx.p.has('GatewayId')) throw invalid('The emulator models subnet associations only.');
    const subnet = getSubnet(ctx.state, ctx.p.required('SubnetId'));
    if (subnet.vpcId !== table.vpcId) {
      throw invalid(`Route table ${table.id} and subnet ${subnet.id} belong to different networks.`);
    }
    for (const other of network.routeTables.values()) {
      if (other.subnets.has(subnet.id)) {
        throw new ApiError(
          'Resource.AlreadyAssociated',
          `the specified association for route table ${table.id} conflicts with an existing association`,
        );
      }
    }
    dryRun(ctx);
    const associationId = newId('rtbassoc');
    table.subnets.set(subnet.id, associationId);
    return { associationId, associationState: { state: 'associated' } };
  },

  DisassociateRouteTable(ctx) {
    const network = networkOf(ctx.state);
    const associationId = ctx.p.required('AssociationId');
    for (const table of network.routeTables.values()) {
      for (const [subnetId, id] of table.subnets) {
        if (id !== associationId) continue;
        dryRun(ctx);
        table.subnets.delete(subnetId);
        return { return: true };
      }
    }
    if ([...network.mainAssociations.values()].includes(associationId)) {
      throw invalid(`cannot disassociate the main route table association ${associationId}`);
    }
    throw new ApiError(
      'InvalidAssociationID.NotFound',
      `The association ID '${associationId}' does not exist`,
    );
  },

  DescribeRouteTables(ctx) {
    const network = networkOf(ctx.state);
    const mainOf = (t: RouteTable) => (t.main ? network.mainAssociations.get(t.vpcId) : undefined);
    const { page, nextToken } = describe(ctx, network.routeTables.values(), {
      idsParam: 'RouteTableId',
      notFoundCode: 'InvalidRouteTableID.NotFound',
      what: 'route table',
      filters: {
        'route-table-id': (t) => t.id,
        'vpc-id': (t) => t.vpcId,
        'owner-id': () => ctx.account,
        'association.main': (t) => String(t.main),
        'association.subnet-id': (t) => [...t.subnets.keys()],
        'association.route-table-association-id': (t) => [
          ...t.subnets.values(),
          ...(mainOf(t) === undefined ? [] : [mainOf(t) as string]),
        ],
        'association.route-table-id': (t) => t.id,
        'route.destination-cidr-block': (t) => t.routes.map((r) => r.destination),
        'route.gateway-id': (t) => t.routes.flatMap((r) => (r.gatewayId ? [r.gatewayId] : [])),
        'route.vpc-peering-connection-id': (t) =>
          t.routes.flatMap((r) => (r.vpcPeeringConnectionId ? [r.vpcPeeringConnectionId] : [])),
        'route.transit-gateway-id': (t) =>
          t.routes.flatMap((r) => (r.transitGatewayId ? [r.transitGatewayId] : [])),
        'route.state': (t) => t.routes.map((r) => routeState(ctx, network, t, r)),
        'route.origin': (t) => t.routes.map((r) => r.origin),
      },
    });
    return { routeTableSet: page.map((t) => routeTableXml(ctx, network, t)), nextToken };
  },
};

// ---- VPC peering --------------------------------------------------------------------------------

interface PeeringSide {
  account: string;
  region: string;
  vpcId: string;
}

interface Peering extends Resource {
  requester: PeeringSide;
  accepter: PeeringSide;
  status: 'pending-acceptance' | 'active' | 'failed' | 'rejected' | 'deleted';
  message: string;
  expiration: Date;
}

/** Peering connections involve two accounts (and possibly two Regions), so the World keeps them. */
const peerings = new WeakMap<World, Map<string, Peering>>();

function peeringsOf(world: World): Map<string, Peering> {
  let map = peerings.get(world);
  if (!map) {
    map = new Map();
    peerings.set(world, map);
  }
  return map;
}

const involves = (peering: Peering, account: string, region: string) =>
  (peering.requester.account === account && peering.requester.region === region) ||
  (peering.accepter.account === account && peering.accepter.region === region);

/** A peering connection the caller is one side of; the other's are NotFound, as in EC2. */
function visiblePeering(ctx: Ctx, id: string): Peering {
  const peering = peeringsOf(ctx.world).get(id);
  if (!peering || !involves(peering, ctx.account, ctx.region)) {
    throw notFound('InvalidVpcPeeringConnectionID.NotFound', id, 'vpcPeeringConnection ID');
  }
  return peering;
}

/** A VPC's IPv4 block, if the VPC exists. */
const cidrOf = (world: World, side: PeeringSide) =>
  world.state(side.account, side.region).vpcs.get(side.vpcId)?.cidrBlock;

function peeringXml(world: World, peering: Peering): XmlValue {
  const info = (side: PeeringSide) => {
    const cidr = cidrOf(world, side);
    return {
      cidrBlock: cidr,
      cidrBlockSet: cidr === undefined ? [] : [{ cidrBlock: cidr }],
      ownerId: side.account,
      vpcId: side.vpcId,
      region: side.region,
      peeringOptions:
        peering.status === 'active'
          ? { allowDnsResolutionFromRemoteVpc: false, allowEgressFromLocalClassicLinkToRemoteVpc: false }
          : undefined,
    };
  };
  return {
    vpcPeeringConnectionId: peering.id,
    requesterVpcInfo: info(peering.requester),
    accepterVpcInfo: info(peering.accepter),
    status: { code: peering.status, message: peering.message },
    expirationTime: peering.status === 'pending-acceptance' ? peering.expiration.toISOString() : undefined,
    tagSet: tagSet(peering.tags),
  };
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

const peeringActions: Record<string, Handler> = {
  CreateVpcPeeringConnection(ctx) {
    const vpc = getVpc(ctx.state, ctx.p.required('VpcId'));
    const peerVpcId = ctx.p.required('PeerVpcId');
    const peerOwner = ctx.p.str('PeerOwnerId') ?? ctx.account;
    if (!/^\d{12}$/.test(peerOwner))
      throw invalid(`Value (${peerOwner}) for parameter peerOwnerId is invalid.`);
    const peerRegion = ctx.p.str('PeerRegion') ?? ctx.region;
    if (!REGION.test(peerRegion)) throw invalid(`Value (${peerRegion}) for parameter peerRegion is invalid.`);
    const sameAccount = peerOwner === ctx.account && peerRegion === ctx.region;
    // In one account and Region the peer VPC is checked at once; another account's or Region's
    // request is made, and fails, as EC2 shows it, when the peer cannot be found.
    if (sameAccount) getVpc(ctx.state, peerVpcId);
    if (sameAccount && peerVpcId === vpc.id) throw invalid('A VPC cannot be peered with itself.');
    const tags = tagsFor(ctx, 'vpc-peering-connection');
    dryRun(ctx);
    const peering: Peering = {
      ...ctx.state.base('pcx'),
      requester: { account: ctx.account, region: ctx.region, vpcId: vpc.id },
      accepter: { account: peerOwner, region: peerRegion, vpcId: peerVpcId },
      status: 'pending-acceptance',
      message: `Pending Acceptance by ${peerOwner}`,
      // A request not accepted expires after 7 days (vpc-peering-basics.html).
      expiration: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    };
    for (const [k, v] of tags) peering.tags.set(k, v);
    const peerCidr = cidrOf(ctx.world, peering.accepter);
    const ownCidr = parseCidr(vpc.cidrBlock, true);
    const otherCidr = peerCidr === undefined ? undefined : parseCidr(peerCidr, true);
    if (peerCidr === undefined) {
      peering.status = 'failed';
      peering.message = `The VPC ${peerVpcId} of ${peerOwner} in ${peerRegion} could not be found`;
    } else if (ownCidr && otherCidr && overlaps(ownCidr, otherCidr)) {
      peering.status = 'failed';
      peering.message =
        'Overlapping CIDRs: VPCs with matching or overlapping IPv4 CIDR blocks cannot be peered';
    }
    peeringsOf(ctx.world).set(peering.id, peering);
    return { vpcPeeringConnection: peeringXml(ctx.world, peering) };
  },

  AcceptVpcPeeringConnection(ctx) {
    const peering = visiblePeering(ctx, ctx.p.required('VpcPeeringConnectionId'));
    const { accepter } = peering;
    if (accepter.account !== ctx.account || accepter.region !== ctx.region) {
      throw new ApiError(
        'OperationNotPermitted',
        `Only the accepter (${accepter.account} in ${accepter.region}) can accept ${peering.id}.`,
      );
    }
    if (peering.status !== 'pending-acceptance') {
      throw new ApiError(
        'InvalidStateTransition',
        `Invalid state transition for pcx ${peering.id}, attempted to transition from ${peering.status} to active`,
      );
    }
    dryRun(ctx);
    peering.status = 'active';
    peering.message = 'Active';
    return { vpcPeeringConnection: peeringXml(ctx.world, peering) };
  },

  DescribeVpcPeeringConnections(ctx) {
    const visible = [...peeringsOf(ctx.world).values()].filter((p) => involves(p, ctx.account, ctx.region));
    const { page, nextToken } = describe(ctx, visible, {
      idsParam: 'VpcPeeringConnectionId',
      notFoundCode: 'InvalidVpcPeeringConnectionID.NotFound',
      what: 'vpcPeeringConnection',
      filters: {
        'vpc-peering-connection-id': (p) => p.id,
        'status-code': (p) => p.status,
        'status-message': (p) => p.message,
        'requester-vpc-info.vpc-id': (p) => p.requester.vpcId,
        'requester-vpc-info.owner-id': (p) => p.requester.account,
        'requester-vpc-info.cidr-block': (p) => cidrOf(ctx.world, p.requester),
        'accepter-vpc-info.vpc-id': (p) => p.accepter.vpcId,
        'accepter-vpc-info.owner-id': (p) => p.accepter.account,
        'accepter-vpc-info.cidr-block': (p) => cidrOf(ctx.world, p.accepter),
      },
    });
    return { vpcPeeringConnectionSet: page.map((p) => peeringXml(ctx.world, p)), nextToken };
  },
};

// ---- transit gateways ---------------------------------------------------------------------------

function tgwXml(ctx: Ctx, tgw: TransitGateway): XmlValue {
  const routeTable = `tgw-rtb-${tgw.id.slice(4)}`;
  return {
    transitGatewayId: tgw.id,
    transitGatewayArn: `arn:aws:ec2:${ctx.region}:${ctx.account}:transit-gateway/${tgw.id}`,
    state: 'available',
    ownerId: ctx.account,
    description: tgw.description,
    creationTime: tgw.created.toISOString(),
    options: {
      amazonSideAsn: 64512,
      autoAcceptSharedAttachments: 'disable',
      defaultRouteTableAssociation: 'enable',
      associationDefaultRouteTableId: routeTable,
      defaultRouteTablePropagation: 'enable',
      propagationDefaultRouteTableId: routeTable,
      vpnEcmpSupport: 'enable',
      dnsSupport: 'enable',
      securityGroupReferencingSupport: 'disable',
      multicastSupport: 'disable',
    },
    tagSet: tagSet(tgw.tags),
  };
}

const attachmentXml = (ctx: Ctx, a: TgwAttachment): XmlValue => ({
  transitGatewayAttachmentId: a.id,
  transitGatewayId: a.transitGatewayId,
  vpcId: a.vpcId,
  vpcOwnerId: ctx.account,
  state: 'available',
  subnetIds: a.subnetIds,
  creationTime: a.created.toISOString(),
  options: {
    dnsSupport: 'enable',
    securityGroupReferencingSupport: 'disable',
    ipv6Support: 'disable',
    applianceModeSupport: 'disable',
  },
  tagSet: tagSet(a.tags),
});

const tgwActions: Record<string, Handler> = {
  CreateTransitGateway(ctx) {
    const description = ctx.p.str('Description') ?? '';
    if (description.length > 255) throw invalid('Description is limited to 255 characters.');
    const tags = tagsFor(ctx, 'transit-gateway');
    dryRun(ctx);
    const network = networkOf(ctx.state);
    const tgw: TransitGateway = { ...ctx.state.base('tgw'), description, created: new Date() };
    for (const [k, v] of tags) tgw.tags.set(k, v);
    network.transitGateways.set(tgw.id, tgw);
    return { transitGateway: tgwXml(ctx, tgw) };
  },

  DescribeTransitGateways(ctx) {
    const network = networkOf(ctx.state);
    const { page, nextToken } = describe(ctx, network.transitGateways.values(), {
      idsParam: 'TransitGatewayIds',
      notFoundCode: 'InvalidTransitGatewayID.NotFound',
      what: 'transit gateway',
      filters: {
        'transit-gateway-id': (t) => t.id,
        state: () => 'available',
        'owner-id': () => ctx.account,
      },
    });
    return { transitGatewaySet: page.map((t) => tgwXml(ctx, t)), nextToken };
  },

  CreateTransitGatewayVpcAttachment(ctx) {
    const network = networkOf(ctx.state);
    const tgw = getTransitGateway(network, ctx.p.required('TransitGatewayId'));
    const vpc = getVpc(ctx.state, ctx.p.required('VpcId'));
    const subnetIds = ctx.p.strings('SubnetIds');
    if (subnetIds.length === 0) throw missing('SubnetIds');
    const zones = new Set<string>();
    for (const id of subnetIds) {
      const subnet = getSubnet(ctx.state, id);
      if (subnet.vpcId !== vpc.id) throw invalid(`Subnet ${id} is not in VPC ${vpc.id}.`);
      if (zones.has(subnet.availabilityZone)) {
        throw new ApiError(
          'DuplicateSubnetsInSameZone',
          `Duplicate subnets for ${vpc.id} in Availability Zone ${subnet.availabilityZone}: one subnet per zone`,
        );
      }
      zones.add(subnet.availabilityZone);
    }
    for (const other of network.attachments.values()) {
      if (other.transitGatewayId === tgw.id && other.vpcId === vpc.id) {
        throw new ApiError(
          'DuplicateTransitGatewayAttachment',
          `${tgw.id} has an existing attachment ${other.id} to ${vpc.id}`,
        );
      }
    }
    const tags = tagsFor(ctx, 'transit-gateway-attachment');
    dryRun(ctx);
    const attachment: TgwAttachment = {
      ...ctx.state.base('tgw-attach'),
      transitGatewayId: tgw.id,
      vpcId: vpc.id,
      subnetIds: [...subnetIds],
      created: new Date(),
    };
    for (const [k, v] of tags) attachment.tags.set(k, v);
    network.attachments.set(attachment.id, attachment);
    return { transitGatewayVpcAttachment: attachmentXml(ctx, attachment) };
  },

  DescribeTransitGatewayVpcAttachments(ctx) {
    const network = networkOf(ctx.state);
    const { page, nextToken } = describe(ctx, network.attachments.values(), {
      idsParam: 'TransitGatewayAttachmentIds',
      notFoundCode: 'InvalidTransitGatewayAttachmentID.NotFound',
      what: 'transit gateway attachment',
      filters: {
        'transit-gateway-attachment-id': (a) => a.id,
        'transit-gateway-id': (a) => a.transitGatewayId,
        'vpc-id': (a) => a.vpcId,
        'vpc-owner-id': () => ctx.account,
        state: () => 'available',
      },
    });
    return { transitGatewayVpcAttachments: page.map((a) => attachmentXml(ctx, a)), nextToken };
  },
};

/** Every action of this module, by its Query `Action` name. */
export const networkActions: Record<string, Handler> = {
  AuthorizeSecurityGroupEgress: (ctx) => authorizeRules(ctx, true),
  RevokeSecurityGroupIngress: (ctx) => revoke(ctx, false),
  RevokeSecurityGroupEgress: (ctx) => revoke(ctx, true),
  DescribeSecurityGroupRules: describeRules,
  ...aclActions,
  ...routeActions,
  ...peeringActions,
  ...tgwActions,
};
