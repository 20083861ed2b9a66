/**
 * VPC Traffic Mirroring: targets, filters and their rules, sessions. Each handler validates the
 * whole request before its first change and runs synchronously, so it is atomic under concurrent
 * requests. The rules and their error codes follow the Traffic Mirroring user guide
 * (vpc/latest/mirroring/) and the EC2 API reference; where they leave a behaviour open, the choice
 * is listed in emulator/README.md.
 */

import { ApiError, invalid, notFound } from '../errors.ts';
import type { Params } from '../query.ts';
import { targetArn } from '../ram/state.ts';
import type {
  AccountLimits,
  FilterRule,
  MirrorFilter,
  MirrorSession,
  MirrorTarget,
  NetworkInterface,
  RegionState,
} from '../state.ts';
import type { XmlValue } from '../xml.ts';
import { parseCidr } from './cidr.ts';
import { type Ctx, describe, dryRun, type Handler, idempotent, tagSet, tagsFor } from './context.ts';
import { sourcesPerEniTarget, supportsMirroring } from './instance-types.ts';
import { getNetworkInterface } from './topology.ts';

// traffic-mirroring-limits.html; none of them is adjustable.
const SESSIONS_PER_INTERFACE = 3;
const RULES_PER_FILTER = 10;
// Sessions, targets and filters per account and Region: World.limits (AWS's 10,000 unless a test lowers them).

const NUMBER_RANGE: [number, number] = [1, 32766];
const VNI_RANGE: [number, number] = [0, 16_777_215];
const PACKET_LENGTH_RANGE: [number, number] = [1, 8500];
const PORT_RANGE: [number, number] = [0, 65535];
const PROTOCOL_RANGE: [number, number] = [0, 255];
const TCP = 6;
const UDP = 17;

const NETWORK_SERVICES = ['amazon-dns'];
const SESSION_FIELDS = ['packet-length', 'description', 'virtual-network-id'] as const;
const RULE_FIELDS = ['destination-port-range', 'source-port-range', 'protocol', 'description'] as const;

// ---- lookups ------------------------------------------------------------------------------------

function getFilter(state: RegionState, id: string): MirrorFilter {
  const filter = state.filters.get(id);
  if (!filter) throw notFound('InvalidTrafficMirrorFilterId.NotFound', id, 'traffic mirror filter');
  return filter;
}

function findRule(state: RegionState, id: string): { filter: MirrorFilter; rule: FilterRule } {
  for (const filter of state.filters.values()) {
    const rule = filter.rules.find((r) => r.id === id);
    if (rule) return { filter, rule };
  }
  throw notFound('InvalidTrafficMirrorFilterRuleId.NotFound', id, 'traffic mirror filter rule');
}

const notOwner = (what: string, id: string) =>
  new ApiError(
    'UnauthorizedOperation',
    `You are not authorized to perform this operation: the ${what} '${id}' belongs to another account.`,
    403,
  );

/** A target the caller may use in a session: its own, or one another account shared with it. */
function usableTarget(ctx: Ctx, id: string): { owner: RegionState; target: MirrorTarget } {
  const found = ctx.world.findTarget(ctx.account, ctx.region, id);
  if (!found) throw notFound('InvalidTrafficMirrorTargetId.NotFound', id, 'traffic mirror target');
  return found;
}

/** A target the caller owns; only the owner may change or delete a target (cross-account-traffic-mirroring-targets.html). */
function ownTarget(ctx: Ctx, id: string): MirrorTarget {
  const target = ctx.state.targets.get(id);
  if (target) return target;
  if (ctx.world.findTarget(ctx.account, ctx.region, id)) throw notOwner('traffic mirror target', id);
  throw notFound('InvalidTrafficMirrorTargetId.NotFound', id, 'traffic mirror target');
}

/** Sessions the caller sees: its own, and those other accounts created on its targets. */
function* visibleSessions(ctx: Ctx): Generator<MirrorSession> {
  yield* ctx.state.sessions.values();
  for (const other of ctx.world.statesIn(ctx.region)) {
    if (other === ctx.state) continue;
    for (const session of other.sessions.values()) if (session.targetOwner === ctx.account) yield session;
  }
}

/** A session the caller owns; the target owner sees other accounts' sessions but cannot change them. */
function ownSession(ctx: Ctx, id: string): MirrorSession {
  const session = ctx.state.sessions.get(id);
  if (session) return session;
  for (const other of visibleSessions(ctx)) if (other.id === id) throw notOwner('traffic mirror session', id);
  throw notFound('InvalidTrafficMirrorSessionId.NotFound', id, 'traffic mirror session');
}

/** Every session in the Region (any account) that sends to the target. */
function sessionsOnTarget(ctx: Ctx, owner: string, targetId: string): MirrorSession[] {
  return ctx.world
    .statesIn(ctx.region)
    .flatMap((state) => [...state.sessions.values()])
    .filter((s) => s.targetId === targetId && s.targetOwner === owner);
}

// ---- rules --------------------------------------------------------------------------------------

/**
 * An ENI that is a target cannot be a source, and bare metal or unsupported families cannot mirror
 * (instance-types.ts). A test can have the emulator refuse other types too (`refuseSourceTypes` in
 * faults.ts), as EC2 does for a family AWS adds to its list after ours.
 */
function checkSource(ctx: Ctx, state: RegionState, eni: NetworkInterface): void {
  for (const target of state.targets.values()) {
    if (target.networkInterfaceId === eni.id) {
      throw new ApiError(
        'InterfaceInUseByTrafficMirrorTarget',
        `The network interface '${eni.id}' is in use by traffic mirror target '${target.id}' and cannot be a source.`,
      );
    }
  }
  const instanceId = eni.attachment?.instanceId;
  const instance = instanceId === undefined ? undefined : state.instances.get(instanceId);
  if (
    instance &&
    (!supportsMirroring(instance.instanceType) || ctx.faults?.refusesSource(instance.instanceType))
  ) {
    throw new ApiError(
      'NetworkInterfaceNotSupported',
      `The network interface '${eni.id}' is attached to an instance of type ${instance.instanceType}, which does not support Traffic Mirroring.`,
    );
  }
}

/** Session numbers order the sessions of one ENI, so two sessions there cannot share one. */
function checkSessionNumber(state: RegionState, eniId: string, sessionNumber: number, except?: string) {
  for (const other of state.sessions.values()) {
    if (other.networkInterfaceId === eniId && other.sessionNumber === sessionNumber && other.id !== except) {
      throw invalid(
        `The session number ${sessionNumber} is already in use on network interface '${eniId}' by traffic mirror session '${other.id}'.`,
      );
    }
  }
}

function checkSessionsPerInterface(state: RegionState, eniId: string): void {
  let count = 0;
  for (const session of state.sessions.values()) if (session.networkInterfaceId === eniId) count++;
  if (count >= SESSIONS_PER_INTERFACE) {
    throw new ApiError(
      'TrafficMirrorSessionsPerInterfaceLimitExceeded',
      `The network interface '${eniId}' already has the maximum of ${SESSIONS_PER_INTERFACE} traffic mirror sessions.`,
    );
  }
}

/**
 * An ENI target takes 10 source ENIs, 100 on the instance types the quotas page lists
 * (instance-types.ts); NLB and Gateway Load Balancer endpoint targets take any number.
 */
function checkSourcesPerTarget(
  ctx: Ctx,
  owner: RegionState,
  target: MirrorTarget,
  eniId: string,
  except?: string,
): void {
  if (target.networkInterfaceId === undefined) return;
  const targetEni = owner.networkInterfaces.get(target.networkInterfaceId);
  const instanceId = targetEni?.attachment?.instanceId;
  const instanceType = instanceId === undefined ? undefined : owner.instances.get(instanceId)?.instanceType;
  const limit = sourcesPerEniTarget(instanceType);
  const sources = new Set(
    sessionsOnTarget(ctx, owner.account, target.id)
      .filter((s) => s.id !== except)
      .map((s) => s.networkInterfaceId),
  );
  if (!sources.has(eniId) && sources.size >= limit) {
    throw new ApiError(
      'TrafficMirrorSourcesPerTargetLimitExceeded',
      `The traffic mirror target '${target.id}' already has the maximum of ${limit} sources.`,
    );
  }
}

/** The account's quota of `kind` in this Region (counted in the caller's own state: quotas are per Region). */
function checkAccountLimit(ctx: Ctx, kind: keyof AccountLimits, code: string, what: string): void {
  const limit = ctx.world.limits[kind];
  if (ctx.state[kind].size >= limit) {
    throw new ApiError(code, `The maximum number of ${what} (${limit}) has been reached.`);
  }
}

/** A VNI stays reserved while any session of the account uses it. */
function releaseVni(state: RegionState, vni: number): void {
  for (const session of state.sessions.values()) if (session.virtualNetworkId === vni) return;
  state.usedVnis.delete(vni);
}

/** `RemoveField.N`: names from the model's enum, none of them also set in the same request. */
function removedFields<F extends string>(p: Params, allowed: readonly F[], set: Record<F, boolean>): Set<F> {
  const out = new Set<F>();
  for (const name of p.strings('RemoveField')) {
    const field = allowed.find((f) => f === name);
    if (field === undefined) {
      throw invalid(
        `Value (${name}) for parameter RemoveField is invalid. Valid values: ${allowed.join(', ')}.`,
      );
    }
    if (set[field]) throw invalid(`The field ${field} cannot be both set and removed in one request.`);
    out.add(field);
  }
  return out;
}

// ---- filter rules -------------------------------------------------------------------------------

interface PortRange {
  from: number;
  to: number;
}

/** What a rule says, apart from its identity. */
interface RuleFields {
  direction: 'ingress' | 'egress';
  ruleNumber: number;
  action: 'accept' | 'reject';
  protocol: number | undefined;
  sourceCidrBlock: string;
  destinationCidrBlock: string;
  sourcePortRange: PortRange | undefined;
  destinationPortRange: PortRange | undefined;
  description: string | undefined;
}

function direction(value: string): RuleFields['direction'] {
  if (value !== 'ingress' && value !== 'egress') {
    throw invalid(
      `Value (${value}) for parameter TrafficDirection is invalid. Valid values: ingress, egress.`,
    );
  }
  return value;
}

function ruleAction(value: string): RuleFields['action'] {
  if (value !== 'accept' && value !== 'reject') {
    throw invalid(`Value (${value}) for parameter RuleAction is invalid. Valid values: accept, reject.`);
  }
  return value;
}

/** A port range; one end alone is a single port. */
function portRange(p: Params, name: string): PortRange | undefined {
  const range = p.struct(name);
  if (!range) return undefined;
  const from = range.int('FromPort', PORT_RANGE);
  const to = range.int('ToPort', PORT_RANGE);
  if (from === undefined && to === undefined) return undefined;
  const result = { from: from ?? to ?? 0, to: to ?? from ?? 0 };
  if (result.from > result.to) {
    throw invalid(
      `The port range ${result.from}-${result.to} of ${name} is invalid: FromPort exceeds ToPort.`,
    );
  }
  return result;
}

/** Both CIDRs of one family; port ranges only for TCP and UDP (traffic-mirroring-filters.html). */
function checkRule(fields: RuleFields): void {
  const source = parseCidr(fields.sourceCidrBlock);
  if (!source)
    throw invalid(`Value (${fields.sourceCidrBlock}) for parameter SourceCidrBlock is not a valid CIDR.`);
  const destination = parseCidr(fields.destinationCidrBlock);
  if (!destination) {
    throw invalid(
      `Value (${fields.destinationCidrBlock}) for parameter DestinationCidrBlock is not a valid CIDR.`,
    );
  }
  if (source.family !== destination.family) {
    throw invalid(
      `The source CIDR ${fields.sourceCidrBlock} and destination CIDR ${fields.destinationCidrBlock} must be of the same IP address family.`,
    );
  }
  if (
    (fields.sourcePortRange || fields.destinationPortRange) &&
    fields.protocol !== TCP &&
    fields.protocol !== UDP
  ) {
    throw invalid('Port ranges can be specified only for protocols TCP (6) and UDP (17).');
  }
}

function checkRuleNumber(filter: MirrorFilter, fields: RuleFields, except?: string): void {
  const taken = filter.rules.find(
    (r) => r.direction === fields.direction && r.ruleNumber === fields.ruleNumber && r.id !== except,
  );
  if (taken) {
    throw new ApiError(
      'TrafficMirrorFilterRuleAlreadyExists',
      `The ${fields.direction} rule number ${fields.ruleNumber} already exists in traffic mirror filter '${filter.id}'.`,
    );
  }
}

function applyRuleFields(rule: FilterRule, fields: RuleFields): void {
  rule.direction = fields.direction;
  rule.ruleNumber = fields.ruleNumber;
  rule.action = fields.action;
  rule.sourceCidrBlock = fields.sourceCidrBlock;
  rule.destinationCidrBlock = fields.destinationCidrBlock;
  if (fields.protocol === undefined) delete rule.protocol;
  else rule.protocol = fields.protocol;
  const { sourcePortRange: src, destinationPortRange: dst } = fields;
  if (src === undefined) delete rule.sourcePortRange;
  else rule.sourcePortRange = { from: src.from, to: src.to };
  if (dst === undefined) delete rule.destinationPortRange;
  else rule.destinationPortRange = { from: dst.from, to: dst.to };
  if (fields.description === undefined) delete rule.description;
  else rule.description = fields.description;
}

const portRangeXml = (range: FilterRule['sourcePortRange']): XmlValue =>
  range && { fromPort: range.from, toPort: range.to };

const ruleXml = (rule: FilterRule): XmlValue => ({
  trafficMirrorFilterRuleId: rule.id,
  trafficMirrorFilterId: rule.filterId,
  trafficDirection: rule.direction,
  ruleNumber: rule.ruleNumber,
  ruleAction: rule.action,
  protocol: rule.protocol,
  destinationPortRange: portRangeXml(rule.destinationPortRange),
  sourcePortRange: portRangeXml(rule.sourcePortRange),
  destinationCidrBlock: rule.destinationCidrBlock,
  sourceCidrBlock: rule.sourceCidrBlock,
  description: rule.description,
  tagSet: tagSet(rule.tags),
});

const rulesOf = (filter: MirrorFilter, dir: RuleFields['direction']) =>
  filter.rules
    .filter((r) => r.direction === dir)
    .sort((a, b) => a.ruleNumber - b.ruleNumber)
    .map(ruleXml);

const filterXml = (filter: MirrorFilter): XmlValue => ({
  trafficMirrorFilterId: filter.id,
  ingressFilterRuleSet: rulesOf(filter, 'ingress'),
  egressFilterRuleSet: rulesOf(filter, 'egress'),
  networkServiceSet: [...filter.networkServices],
  description: filter.description,
  tagSet: tagSet(filter.tags),
});

// ---- targets and sessions -----------------------------------------------------------------------

function targetType(target: MirrorTarget): string {
  if (target.networkInterfaceId !== undefined) return 'network-interface';
  if (target.networkLoadBalancerArn !== undefined) return 'network-load-balancer';
  return 'gateway-load-balancer-endpoint';
}

const targetXml = (target: MirrorTarget): XmlValue => ({
  trafficMirrorTargetId: target.id,
  networkInterfaceId: target.networkInterfaceId,
  networkLoadBalancerArn: target.networkLoadBalancerArn,
  type: targetType(target),
  description: target.description,
  ownerId: target.ownerId,
  tagSet: tagSet(target.tags),
  gatewayLoadBalancerEndpointId: target.gatewayLoadBalancerEndpointId,
});

const sessionXml = (session: MirrorSession): XmlValue => ({
  trafficMirrorSessionId: session.id,
  trafficMirrorTargetId: session.targetId,
  trafficMirrorFilterId: session.filterId,
  networkInterfaceId: session.networkInterfaceId,
  ownerId: session.ownerId,
  packetLength: session.packetLength,
  sessionNumber: session.sessionNumber,
  virtualNetworkId: session.virtualNetworkId,
  description: session.description,
  tagSet: tagSet(session.tags),
});

const NLB_ARN =
  /^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:loadbalancer\/net\/[^/]+\/[0-9a-f]+$/;
const GWLB_ENDPOINT = /^vpce-[0-9a-f]{8,17}$/;

/** Exactly one destination: an ENI of the caller (of type interface), an NLB or a GWLB endpoint. */
function targetDestination(
  ctx: Ctx,
): Pick<MirrorTarget, 'networkInterfaceId' | 'networkLoadBalancerArn' | 'gatewayLoadBalancerEndpointId'> {
  const { p } = ctx;
  const eniId = p.str('NetworkInterfaceId');
  const nlbArn = p.str('NetworkLoadBalancerArn');
  const endpointId = p.str('GatewayLoadBalancerEndpointId');
  const given = [eniId, nlbArn, endpointId].filter((v) => v !== undefined).length;
  if (given === 0) {
    throw new ApiError(
      'MissingParameter',
      'The request must contain one of the parameters NetworkInterfaceId, NetworkLoadBalancerArn or GatewayLoadBalancerEndpointId',
    );
  }
  if (given > 1) {
    throw invalid(
      'Specify exactly one of NetworkInterfaceId, NetworkLoadBalancerArn and GatewayLoadBalancerEndpointId.',
    );
  }
  if (nlbArn !== undefined) {
    const match = NLB_ARN.exec(nlbArn);
    if (!match)
      throw invalid(
        `Value (${nlbArn}) for parameter NetworkLoadBalancerArn is not a Network Load Balancer ARN.`,
      );
    if (match[1] !== ctx.region) {
      throw invalid(`The Network Load Balancer '${nlbArn}' is not in Region ${ctx.region}.`);
    }
    return { networkLoadBalancerArn: nlbArn };
  }
  if (endpointId !== undefined) {
    if (!GWLB_ENDPOINT.test(endpointId)) {
      throw invalid(
        `Value (${endpointId}) for parameter GatewayLoadBalancerEndpointId is not an endpoint ID.`,
      );
    }
    return { gatewayLoadBalancerEndpointId: endpointId };
  }
  const eni = getNetworkInterface(ctx.state, eniId ?? '');
  if (eni.interfaceType !== 'interface') {
    throw invalid(
      `The network interface '${eni.id}' is of type ${eni.interfaceType}; a target must be of type interface.`,
    );
  }
  for (const session of ctx.state.sessions.values()) {
    if (session.networkInterfaceId === eni.id) {
      throw new ApiError(
        'InterfaceInUseByTrafficMirrorSession',
        `The network interface '${eni.id}' is the source of traffic mirror session '${session.id}' and cannot be a target.`,
      );
    }
  }
  return { networkInterfaceId: eni.id };
}

/** Session filters AWS documents; tag filters are not among them. */
const SESSION_FILTERS: Record<string, (s: MirrorSession) => string | number | undefined> = {
  description: (s) => s.description,
  'network-interface-id': (s) => s.networkInterfaceId,
  'owner-id': (s) => s.ownerId,
  'packet-length': (s) => s.packetLength,
  'session-number': (s) => s.sessionNumber,
  'traffic-mirror-filter-id': (s) => s.filterId,
  'traffic-mirror-session-id': (s) => s.id,
  'traffic-mirror-target-id': (s) => s.targetId,
  'virtual-network-id': (s) => s.virtualNetworkId,
};

function withTags<R extends { tags: Map<string, string> }>(resource: R, tags: Map<string, string>): R {
  for (const [key, value] of tags) resource.tags.set(key, value);
  return resource;
}

export const mirroringActions: Record<string, Handler> = {
  CreateTrafficMirrorTarget(ctx) {
    return idempotent(ctx, () => {
      const destination = targetDestination(ctx);
      const description = ctx.p.str('Description');
      const tags = tagsFor(ctx, 'traffic-mirror-target');
      checkAccountLimit(ctx, 'targets', 'TrafficMirrorTargetLimitExceeded', 'traffic mirror targets');
      dryRun(ctx);
      const target: MirrorTarget = withTags(
        {
          ...ctx.state.base('tmt'),
          ownerId: ctx.account,
          ...destination,
          ...(description === undefined ? {} : { description }),
        },
        tags,
      );
      ctx.state.targets.set(target.id, target);
      return { trafficMirrorTarget: targetXml(target) };
    });
  },

  DescribeTrafficMirrorTargets(ctx) {
    // Looking at shared targets reads the caller's RAM associations, which may complete them.
    ctx.world.ram.observe(ctx.account, ctx.region);
    const visible = [...ctx.state.targets.values()];
    for (const other of ctx.world.statesIn(ctx.region)) {
      if (other === ctx.state) continue;
      for (const target of other.targets.values()) {
        if (ctx.world.sharedTargets.get(`${ctx.region}/${target.id}`)?.has(ctx.account)) visible.push(target);
      }
    }
    const { page, nextToken } = describe(ctx, visible, {
      idsParam: 'TrafficMirrorTargetId',
      notFoundCode: 'InvalidTrafficMirrorTargetId.NotFound',
      what: 'traffic mirror target',
      filters: {
        description: (t) => t.description,
        'network-interface-id': (t) => t.networkInterfaceId,
        'network-load-balancer-arn': (t) => t.networkLoadBalancerArn,
        'owner-id': (t) => t.ownerId,
        'traffic-mirror-target-id': (t) => t.id,
      },
    });
    return { trafficMirrorTargetSet: page.map(targetXml), nextToken };
  },

  DeleteTrafficMirrorTarget(ctx) {
    const target = ownTarget(ctx, ctx.p.required('TrafficMirrorTargetId'));
    const [user] = sessionsOnTarget(ctx, ctx.account, target.id);
    if (user) {
      throw new ApiError(
        'TrafficMirrorTargetInUseException',
        `The traffic mirror target '${target.id}' is in use by traffic mirror session '${user.id}'.`,
      );
    }
    dryRun(ctx);
    ctx.state.targets.delete(target.id);
    ctx.world.ram.resourceGone(targetArn(ctx.region, ctx.account, target.id));
    return { trafficMirrorTargetId: target.id };
  },

  CreateTrafficMirrorFilter(ctx) {
    return idempotent(ctx, () => {
      const description = ctx.p.str('Description');
      const tags = tagsFor(ctx, 'traffic-mirror-filter');
      checkAccountLimit(ctx, 'filters', 'TrafficMirrorFilterLimitExceeded', 'traffic mirror filters');
      dryRun(ctx);
      const filter: MirrorFilter = withTags(
        {
          ...ctx.state.base('tmf'),
          networkServices: new Set(),
          rules: [],
          ...(description === undefined ? {} : { description }),
        },
        tags,
      );
      ctx.state.filters.set(filter.id, filter);
      return { trafficMirrorFilter: filterXml(filter) };
    });
  },

  DescribeTrafficMirrorFilters(ctx) {
    const { page, nextToken } = describe(ctx, ctx.state.filters.values(), {
      idsParam: 'TrafficMirrorFilterId',
      notFoundCode: 'InvalidTrafficMirrorFilterId.NotFound',
      what: 'traffic mirror filter',
      filters: {
        description: (f) => f.description,
        'traffic-mirror-filter-id': (f) => f.id,
      },
    });
    return { trafficMirrorFilterSet: page.map(filterXml), nextToken };
  },

  DeleteTrafficMirrorFilter(ctx) {
    const filter = getFilter(ctx.state, ctx.p.required('TrafficMirrorFilterId'));
    for (const session of ctx.state.sessions.values()) {
      if (session.filterId === filter.id) {
        throw new ApiError(
          'TrafficMirrorFilterInUse',
          `The traffic mirror filter '${filter.id}' is in use by traffic mirror session '${session.id}'.`,
        );
      }
    }
    dryRun(ctx);
    ctx.state.filters.delete(filter.id);
    return { trafficMirrorFilterId: filter.id };
  },

  ModifyTrafficMirrorFilterNetworkServices(ctx) {
    const filter = getFilter(ctx.state, ctx.p.required('TrafficMirrorFilterId'));
    const add = ctx.p.strings('AddNetworkService');
    const remove = ctx.p.strings('RemoveNetworkService');
    for (const service of [...add, ...remove]) {
      if (!NETWORK_SERVICES.includes(service)) {
        throw invalid(
          `Value (${service}) for network service is invalid. Valid values: ${NETWORK_SERVICES.join(', ')}.`,
        );
      }
    }
    const both = add.find((service) => remove.includes(service));
    if (both !== undefined) throw invalid(`The network service ${both} cannot be both added and removed.`);
    dryRun(ctx);
    for (const service of add) filter.networkServices.add(service);
    for (const service of remove) filter.networkServices.delete(service);
    return { trafficMirrorFilter: filterXml(filter) };
  },

  CreateTrafficMirrorFilterRule(ctx) {
    return idempotent(ctx, () => {
      const { p } = ctx;
      const filterId = p.required('TrafficMirrorFilterId');
      const fields: RuleFields = {
        direction: direction(p.required('TrafficDirection')),
        ruleNumber: p.requiredInt('RuleNumber', NUMBER_RANGE),
        action: ruleAction(p.required('RuleAction')),
        destinationCidrBlock: p.required('DestinationCidrBlock'),
        sourceCidrBlock: p.required('SourceCidrBlock'),
        protocol: p.int('Protocol', PROTOCOL_RANGE),
        sourcePortRange: portRange(p, 'SourcePortRange'),
        destinationPortRange: portRange(p, 'DestinationPortRange'),
        description: p.str('Description'),
      };
      checkRule(fields);
      const tags = tagsFor(ctx, 'traffic-mirror-filter-rule');
      const filter = getFilter(ctx.state, filterId);
      if (filter.rules.length >= RULES_PER_FILTER) {
        throw new ApiError(
          'TrafficMirrorFilterRuleLimitExceeded',
          `The traffic mirror filter '${filter.id}' already has the maximum of ${RULES_PER_FILTER} rules.`,
        );
      }
      checkRuleNumber(filter, fields);
      dryRun(ctx);
      const rule: FilterRule = withTags(
        {
          ...ctx.state.base('tmfr'),
          filterId: filter.id,
          direction: fields.direction,
          ruleNumber: fields.ruleNumber,
          action: fields.action,
          sourceCidrBlock: fields.sourceCidrBlock,
          destinationCidrBlock: fields.destinationCidrBlock,
        },
        tags,
      );
      applyRuleFields(rule, fields);
      filter.rules.push(rule);
      return { trafficMirrorFilterRule: ruleXml(rule) };
    });
  },

  DescribeTrafficMirrorFilterRules(ctx) {
    const filterId = ctx.p.str('TrafficMirrorFilterId');
    const filters =
      filterId === undefined ? [...ctx.state.filters.values()] : [getFilter(ctx.state, filterId)];
    const { page, nextToken } = describe(
      ctx,
      filters.flatMap((f) => f.rules),
      {
        idsParam: 'TrafficMirrorFilterRuleId',
        notFoundCode: 'InvalidTrafficMirrorFilterRuleId.NotFound',
        what: 'traffic mirror filter rule',
        filters: {
          description: (r) => r.description,
          'destination-cidr-block': (r) => r.destinationCidrBlock,
          protocol: (r) => r.protocol,
          'rule-action': (r) => r.action,
          'rule-number': (r) => r.ruleNumber,
          'source-cidr-block': (r) => r.sourceCidrBlock,
          'traffic-direction': (r) => r.direction,
          'traffic-mirror-filter-id': (r) => r.filterId,
          'traffic-mirror-filter-rule-id': (r) => r.id,
        },
      },
    );
    return { trafficMirrorFilterRuleSet: page.map(ruleXml), nextToken };
  },

  ModifyTrafficMirrorFilterRule(ctx) {
    const { p } = ctx;
    const { filter, rule } = findRule(ctx.state, p.required('TrafficMirrorFilterRuleId'));
    const newDirection = p.str('TrafficDirection');
    const newAction = p.str('RuleAction');
    const protocol = p.int('Protocol', PROTOCOL_RANGE);
    const sourcePortRange = portRange(p, 'SourcePortRange');
    const destinationPortRange = portRange(p, 'DestinationPortRange');
    const description = p.str('Description');
    const removed = removedFields(p, RULE_FIELDS, {
      'destination-port-range': destinationPortRange !== undefined,
      'source-port-range': sourcePortRange !== undefined,
      protocol: protocol !== undefined,
      description: description !== undefined,
    });
    const keep = <T>(field: (typeof RULE_FIELDS)[number], given: T | undefined, current: T | undefined) =>
      removed.has(field) ? undefined : (given ?? current);
    const fields: RuleFields = {
      direction: newDirection === undefined ? rule.direction : direction(newDirection),
      ruleNumber: p.int('RuleNumber', NUMBER_RANGE) ?? rule.ruleNumber,
      action: newAction === undefined ? rule.action : ruleAction(newAction),
      sourceCidrBlock: p.str('SourceCidrBlock') ?? rule.sourceCidrBlock,
      destinationCidrBlock: p.str('DestinationCidrBlock') ?? rule.destinationCidrBlock,
      protocol: keep('protocol', protocol, rule.protocol),
      sourcePortRange: keep('source-port-range', sourcePortRange, rule.sourcePortRange),
      destinationPortRange: keep('destination-port-range', destinationPortRange, rule.destinationPortRange),
      description: keep('description', description, rule.description),
    };
    checkRule(fields);
    checkRuleNumber(filter, fields, rule.id);
    dryRun(ctx);
    applyRuleFields(rule, fields);
    return { trafficMirrorFilterRule: ruleXml(rule) };
  },

  DeleteTrafficMirrorFilterRule(ctx) {
    const { filter, rule } = findRule(ctx.state, ctx.p.required('TrafficMirrorFilterRuleId'));
    dryRun(ctx);
    filter.rules = filter.rules.filter((r) => r !== rule);
    return { trafficMirrorFilterRuleId: rule.id };
  },

  CreateTrafficMirrorSession(ctx) {
    return idempotent(ctx, () => {
      const { p, state } = ctx;
      const eniId = p.required('NetworkInterfaceId');
      const targetId = p.required('TrafficMirrorTargetId');
      const filterId = p.required('TrafficMirrorFilterId');
      const sessionNumber = p.requiredInt('SessionNumber', NUMBER_RANGE);
      const packetLength = p.int('PacketLength', PACKET_LENGTH_RANGE);
      const vni = p.int('VirtualNetworkId', VNI_RANGE);
      const description = p.str('Description');
      const tags = tagsFor(ctx, 'traffic-mirror-session');
      const eni = getNetworkInterface(state, eniId);
      const { owner, target } = usableTarget(ctx, targetId);
      const filter = getFilter(state, filterId);
      checkSource(ctx, state, eni);
      checkSessionsPerInterface(state, eni.id);
      checkSessionNumber(state, eni.id, sessionNumber);
      checkSourcesPerTarget(ctx, owner, target, eni.id);
      checkAccountLimit(ctx, 'sessions', 'TrafficMirrorSessionLimitExceeded', 'traffic mirror sessions');
      dryRun(ctx);
      const session: MirrorSession = withTags(
        {
          ...state.base('tms'),
          ownerId: ctx.account,
          networkInterfaceId: eni.id,
          targetId: target.id,
          targetOwner: owner.account,
          filterId: filter.id,
          sessionNumber,
          virtualNetworkId: vni ?? state.randomVni(),
          ...(packetLength === undefined ? {} : { packetLength }),
          ...(description === undefined ? {} : { description }),
        },
        tags,
      );
      state.sessions.set(session.id, session);
      state.usedVnis.add(session.virtualNetworkId);
      return { trafficMirrorSession: sessionXml(session) };
    });
  },

  DescribeTrafficMirrorSessions(ctx) {
    for (const filter of ctx.p.list('Filter')) {
      const name = filter.str('Name') ?? '';
      if (name.startsWith('tag:') || name === 'tag-key' || name === 'tag-value') {
        throw invalid(`The filter '${name}' is invalid for DescribeTrafficMirrorSessions`);
      }
    }
    const { page, nextToken } = describe(ctx, visibleSessions(ctx), {
      idsParam: 'TrafficMirrorSessionId',
      notFoundCode: 'InvalidTrafficMirrorSessionId.NotFound',
      what: 'traffic mirror session',
      filters: SESSION_FILTERS,
    });
    return { trafficMirrorSessionSet: page.map(sessionXml), nextToken };
  },

  ModifyTrafficMirrorSession(ctx) {
    const { p, state } = ctx;
    const session = ownSession(ctx, p.required('TrafficMirrorSessionId'));
    const targetId = p.str('TrafficMirrorTargetId');
    const filterId = p.str('TrafficMirrorFilterId');
    const sessionNumber = p.int('SessionNumber', NUMBER_RANGE);
    const packetLength = p.int('PacketLength', PACKET_LENGTH_RANGE);
    const vni = p.int('VirtualNetworkId', VNI_RANGE);
    const description = p.str('Description');
    const removed = removedFields(p, SESSION_FIELDS, {
      'packet-length': packetLength !== undefined,
      description: description !== undefined,
      'virtual-network-id': vni !== undefined,
    });
    const target = targetId === undefined ? undefined : usableTarget(ctx, targetId);
    const filter = filterId === undefined ? undefined : getFilter(state, filterId);
    if (sessionNumber !== undefined) {
      checkSessionNumber(state, session.networkInterfaceId, sessionNumber, session.id);
    }
    if (target)
      checkSourcesPerTarget(ctx, target.owner, target.target, session.networkInterfaceId, session.id);
    dryRun(ctx);
    if (target) {
      session.targetId = target.target.id;
      session.targetOwner = target.owner.account;
    }
    if (filter) session.filterId = filter.id;
    if (sessionNumber !== undefined) session.sessionNumber = sessionNumber;
    if (packetLength !== undefined) session.packetLength = packetLength;
    if (removed.has('packet-length')) delete session.packetLength;
    if (description !== undefined) session.description = description;
    if (removed.has('description')) delete session.description;
    if (vni !== undefined || removed.has('virtual-network-id')) {
      const previous = session.virtualNetworkId;
      // A removed VNI is replaced by a new random one, as at creation: a session always has one.
      session.virtualNetworkId = vni ?? state.randomVni();
      releaseVni(state, previous);
      state.usedVnis.add(session.virtualNetworkId);
    }
    return { trafficMirrorSession: sessionXml(session) };
  },

  DeleteTrafficMirrorSession(ctx) {
    const session = ownSession(ctx, ctx.p.required('TrafficMirrorSessionId'));
    dryRun(ctx);
    ctx.state.sessions.delete(session.id);
    releaseVni(ctx.state, session.virtualNetworkId);
    return { trafficMirrorSessionId: session.id };
  },
};
