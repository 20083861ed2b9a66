/**
 * Elastic Load Balancing v2, Query protocol (`Version=2015-12-01`): Network and Gateway Load
 * Balancers as a Traffic Mirroring target needs them (traffic-mirroring-targets.html: an NLB
 * target needs a UDP listener on 4789). Load balancers, target groups, targets, listeners and
 * target health; written from the Elastic Load Balancing API Reference (API_CreateLoadBalancer,
 * API_CreateTargetGroup, API_RegisterTargets, API_CreateListener, API_Describe*, API_TargetHealth)
 * and the Network Load Balancer guide (load-balancer-listeners.html: listener and target group
 * protocols; target-group-health-checks.html: the states and reason codes).
 *
 * Target health is derived, since nothing here sends health checks: a target of a group no
 * listener forwards to is `unused` (Target.NotInUse); an instance target that is not running is
 * `unused` (Target.InvalidState); others are `healthy` unless a test set them otherwise through
 * `POST /_emulator/target-health` (see emulator/README.md). Load balancers are `active` at once.
 */
import { randomBytes } from 'node:crypto';
import { contains, parseAddress, parseCidr } from '../ec2/cidr.ts';
import { ApiError } from '../errors.ts';
import type { IdentityHandler, QueryService } from '../identity/context.ts';
import { checkedInt, checkedString, tagsOf, validation } from '../identity/context.ts';
import type { Involved } from '../identity/requests.ts';
import { resourceTags } from '../identity/requests.ts';
import type { Params } from '../query.ts';
import type { RegionState, World } from '../state.ts';
import type { XmlValue } from '../xml.ts';

export const ELBV2_VERSION = '2015-12-01';
const NAMESPACE = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

type LbType = 'network' | 'gateway' | 'application';
const ARN_KIND: Record<LbType, string> = { network: 'net', gateway: 'gwy', application: 'app' };

interface LoadBalancer {
  arn: string;
  name: string;
  type: LbType;
  scheme: string;
  vpcId: string;
  subnets: { subnetId: string; zone: string }[];
  created: Date;
  tags: Map<string, string>;
}

interface TargetGroup {
  arn: string;
  name: string;
  protocol: string;
  port: number | undefined;
  vpcId: string;
  targetType: string;
  healthCheckProtocol: string;
  healthCheckPort: string;
  targets: Map<string, { id: string; port: number | undefined }>;
  tags: Map<string, string>;
}

interface Listener {
  arn: string;
  loadBalancerArn: string;
  protocol: string | undefined;
  port: number | undefined;
  targetGroupArn: string;
}

interface Health {
  state: string;
  reason?: string;
  description?: string;
}

class ElbState {
  readonly loadBalancers = new Map<string, LoadBalancer>();
  readonly targetGroups = new Map<string, TargetGroup>();
  readonly listeners = new Map<string, Listener>();
  /** Health a test set: `targetGroupArn target` -> health. */
  readonly health = new Map<string, Health>();
}

const states = new WeakMap<World, Map<string, ElbState>>();

function elbOf(world: World, account: string, region: string): ElbState {
  let byRegion = states.get(world);
  if (!byRegion) {
    byRegion = new Map();
    states.set(world, byRegion);
  }
  const key = `${account}/${region}`;
  let state = byRegion.get(key);
  if (!state) {
    state = new ElbState();
    byRegion.set(key, state);
  }
  return state;
}

/**
 * A load balancer of the account and Region as EC2 sees it (an endpoint service names Gateway
 * Load Balancers, vpc/latest/privatelink/create-endpoint-service-gwlbe.html): its type and zones.
 */
export function loadBalancerOf(
  world: World,
  account: string,
  region: string,
  arn: string,
): { type: string; zones: string[] } | undefined {
  const lb = elbOf(world, account, region).loadBalancers.get(arn);
  return lb && { type: lb.type, zones: lb.subnets.map((s) => s.zone) };
}

const hex = () => randomBytes(8).toString('hex');

const error = (code: string, message: string) => new ApiError(code, message);

/** Names of load balancers and target groups: 1-32 alphanumerics or hyphens, no hyphen at either end. */
const NAME = {
  min: 1,
  max: 32,
  pattern: /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/,
  text: '^[a-zA-Z0-9-]+$',
};

/** `Name.member.N` strings. */
const members = (p: Params, name: string): string[] => p.struct(name)?.strings('member') ?? [];

function lbXml(lb: LoadBalancer): Record<string, XmlValue> {
  const id = lb.arn.slice(lb.arn.lastIndexOf('/') + 1);
  return {
    LoadBalancerArn: lb.arn,
    DNSName: `${lb.name}-${id}.elb.${lb.arn.split(':')[3]}.amazonaws.com`,
    CanonicalHostedZoneId: 'Z26RNL4JYFTOTI',
    CreatedTime: lb.created.toISOString(),
    LoadBalancerName: lb.name,
    Scheme: lb.type === 'gateway' ? undefined : lb.scheme,
    VpcId: lb.vpcId,
    State: { Code: 'active' },
    Type: lb.type,
    AvailabilityZones: lb.subnets.map((s) => ({ ZoneName: s.zone, SubnetId: s.subnetId })),
    IpAddressType: 'ipv4',
  };
}

function tgXml(elb: ElbState, tg: TargetGroup): Record<string, XmlValue> {
  const lbs = [...elb.listeners.values()]
    .filter((l) => l.targetGroupArn === tg.arn)
    .map((l) => l.loadBalancerArn);
  return {
    TargetGroupArn: tg.arn,
    TargetGroupName: tg.name,
    Protocol: tg.protocol,
    Port: tg.port,
    VpcId: tg.vpcId,
    HealthCheckProtocol: tg.healthCheckProtocol,
    HealthCheckPort: tg.healthCheckPort,
    HealthCheckEnabled: true,
    HealthCheckIntervalSeconds: 30,
    HealthCheckTimeoutSeconds: 10,
    HealthyThresholdCount: 5,
    UnhealthyThresholdCount: 2,
    LoadBalancerArns: [...new Set(lbs)],
    TargetType: tg.targetType,
    IpAddressType: 'ipv4',
  };
}

function listenerXml(l: Listener): Record<string, XmlValue> {
  return {
    ListenerArn: l.arn,
    LoadBalancerArn: l.loadBalancerArn,
    Port: l.port,
    Protocol: l.protocol,
    DefaultActions: [{ Type: 'forward', TargetGroupArn: l.targetGroupArn, Order: 1 }],
  };
}

function getLb(elb: ElbState, arn: string): LoadBalancer {
  const lb = elb.loadBalancers.get(arn);
  if (!lb) throw error('LoadBalancerNotFound', `Load balancer '${arn}' not found`);
  return lb;
}

function getTg(elb: ElbState, arn: string): TargetGroup {
  const tg = elb.targetGroups.get(arn);
  if (!tg) throw error('TargetGroupNotFound', `Target groups '${arn}' not found`);
  return tg;
}

/** The listener protocols of each load balancer type, and the target group protocols each listener takes. */
const LISTENER_PROTOCOLS: Record<LbType, string[]> = {
  network: ['TCP', 'UDP', 'TCP_UDP', 'TLS'],
  gateway: [],
  application: ['HTTP', 'HTTPS'],
};
const GROUP_FOR_LISTENER: Record<string, string[]> = {
  TCP: ['TCP', 'TCP_UDP'],
  UDP: ['UDP', 'TCP_UDP'],
  TCP_UDP: ['TCP_UDP'],
  TLS: ['TCP', 'TLS'],
  HTTP: ['HTTP', 'HTTPS'],
  HTTPS: ['HTTP', 'HTTPS'],
};
const GROUP_PROTOCOLS = ['TCP', 'UDP', 'TCP_UDP', 'TLS', 'HTTP', 'HTTPS', 'GENEVE'];

function healthOf(
  world: World,
  account: string,
  region: string,
  elb: ElbState,
  tg: TargetGroup,
  id: string,
): Health {
  const used = [...elb.listeners.values()].some((l) => l.targetGroupArn === tg.arn);
  if (!used) {
    return {
      state: 'unused',
      reason: 'Target.NotInUse',
      description: 'Target group is not configured to receive traffic from the load balancer',
    };
  }
  if (tg.targetType === 'instance') {
    const instance = world.state(account, region).instances.get(id);
    if (instance?.state !== 'running') {
      return {
        state: 'unused',
        reason: 'Target.InvalidState',
        description: `Target is in the ${instance?.state ?? 'terminated'} state`,
      };
    }
  }
  return elb.health.get(`${tg.arn} ${id}`) ?? { state: 'healthy' };
}

/** The subnets of a new load balancer: existing, in one VPC, one per Availability Zone. */
function subnetsOf(state: RegionState, ids: string[]): { vpcId: string; subnets: LoadBalancer['subnets'] } {
  if (ids.length === 0)
    throw validation('subnets', '[]', 'Member must have length greater than or equal to 1');
  const subnets = ids.map((id) => {
    const subnet = state.subnets.get(id);
    if (!subnet) throw error('SubnetNotFound', `The subnet ID '${id}' is not valid`);
    return subnet;
  });
  const vpcs = new Set(subnets.map((s) => s.vpcId));
  if (vpcs.size > 1) throw error('InvalidConfigurationRequest', 'The subnets must all be in the same VPC');
  const zones = new Set<string>();
  for (const s of subnets) {
    if (zones.has(s.availabilityZone)) {
      throw error(
        'InvalidConfigurationRequest',
        `You can specify only one subnet per Availability Zone (${s.availabilityZone})`,
      );
    }
    zones.add(s.availabilityZone);
  }
  return {
    vpcId: subnets[0]?.vpcId as string,
    subnets: subnets.map((s) => ({ subnetId: s.id, zone: s.availabilityZone })),
  };
}

const actions: Record<string, IdentityHandler> = {
  CreateLoadBalancer({ world, account, region, p }) {
    const name = checkedString(p, 'Name', 'name', NAME, true);
    if (name.toLowerCase().startsWith('internal-')) {
      throw validation('name', name, "Member must not begin with 'internal-'");
    }
    const type = (p.str('Type') ?? 'application') as LbType;
    if (!Object.hasOwn(ARN_KIND, type)) {
      throw validation('type', type, 'Member must satisfy enum value set: [application, network, gateway]');
    }
    const scheme = p.str('Scheme') ?? 'internet-facing';
    if (scheme !== 'internet-facing' && scheme !== 'internal') {
      throw validation('scheme', scheme, 'Member must satisfy enum value set: [internet-facing, internal]');
    }
    if (p.has('SubnetMappings'))
      throw error('ValidationError', 'The emulator takes Subnets, not SubnetMappings');
    const { vpcId, subnets } = subnetsOf(world.state(account, region), members(p, 'Subnets'));
    const tags = new Map(tagsOf(p).map((t) => [t.key, t.value]));
    const elb = elbOf(world, account, region);
    const existing = [...elb.loadBalancers.values()].find((lb) => lb.name === name);
    if (existing) {
      // Creating a load balancer is idempotent for the same name and settings (API_CreateLoadBalancer).
      const same =
        existing.type === type &&
        existing.subnets.map((s) => s.subnetId).join() === subnets.map((s) => s.subnetId).join();
      if (!same)
        throw error(
          'DuplicateLoadBalancerName',
          `A load balancer with the same name '${name}' exists, but with different settings`,
        );
      return { LoadBalancers: [lbXml(existing)] };
    }
    const lb: LoadBalancer = {
      arn: `arn:aws:elasticloadbalancing:${region}:${account}:loadbalancer/${ARN_KIND[type]}/${name}/${hex()}`,
      name,
      type,
      scheme,
      vpcId,
      subnets,
      created: new Date(),
      tags,
    };
    elb.loadBalancers.set(lb.arn, lb);
    return { LoadBalancers: [lbXml(lb)] };
  },

  CreateTargetGroup({ world, account, region, p }) {
    const name = checkedString(p, 'Name', 'name', NAME, true);
    const targetType = p.str('TargetType') ?? 'instance';
    if (!['instance', 'ip', 'lambda', 'alb'].includes(targetType)) {
      throw validation(
        'targetType',
        targetType,
        'Member must satisfy enum value set: [instance, ip, lambda, alb]',
      );
    }
    if (targetType === 'lambda' || targetType === 'alb') {
      throw error('ValidationError', `The emulator models instance and ip targets, not ${targetType}`);
    }
    const protocol = p.str('Protocol');
    if (protocol === undefined) throw error('ValidationError', 'A protocol must be specified');
    if (!GROUP_PROTOCOLS.includes(protocol)) {
      throw validation(
        'protocol',
        protocol,
        `Member must satisfy enum value set: [${GROUP_PROTOCOLS.join(', ')}]`,
      );
    }
    const port = checkedInt(p, 'Port', 'port', 1, 65535);
    if (port === undefined) throw error('ValidationError', 'A port must be specified');
    if (protocol === 'GENEVE' && port !== 6081) {
      throw error('ValidationError', 'The port for a GENEVE target group must be 6081');
    }
    const vpcId = p.str('VpcId');
    if (vpcId === undefined) throw error('ValidationError', 'A VPC ID must be specified');
    if (!world.state(account, region).vpcs.has(vpcId)) {
      throw error('ValidationError', `The VPC ID '${vpcId}' is not found`);
    }
    const defaultCheck =
      protocol === 'HTTP' || protocol === 'HTTPS' ? protocol : protocol === 'GENEVE' ? 'TCP' : 'TCP';
    const healthCheckProtocol = p.str('HealthCheckProtocol') ?? defaultCheck;
    if (!['TCP', 'HTTP', 'HTTPS'].includes(healthCheckProtocol)) {
      // UDP cannot be health-checked over UDP: an NLB checks UDP targets with TCP, HTTP or HTTPS.
      throw error(
        'ValidationError',
        `Health check protocol '${healthCheckProtocol}' is not supported for target groups with the ${protocol} protocol`,
      );
    }
    const healthCheckPort = p.str('HealthCheckPort') ?? 'traffic-port';
    const elb = elbOf(world, account, region);
    const existing = [...elb.targetGroups.values()].find((tg) => tg.name === name);
    if (existing) {
      if (existing.protocol !== protocol || existing.port !== port || existing.vpcId !== vpcId) {
        throw error(
          'DuplicateTargetGroupName',
          `A target group with the same name '${name}' exists, but with different settings`,
        );
      }
      return { TargetGroups: [tgXml(elb, existing)] };
    }
    const tg: TargetGroup = {
      arn: `arn:aws:elasticloadbalancing:${region}:${account}:targetgroup/${name}/${hex()}`,
      name,
      protocol,
      port,
      vpcId,
      targetType,
      healthCheckProtocol,
      healthCheckPort,
      targets: new Map(),
      tags: new Map(tagsOf(p).map((t) => [t.key, t.value])),
    };
    elb.targetGroups.set(tg.arn, tg);
    return { TargetGroups: [tgXml(elb, tg)] };
  },

  RegisterTargets({ world, account, region, p }) {
    const elb = elbOf(world, account, region);
    const tg = getTg(elb, checkedString(p, 'TargetGroupArn', 'targetGroupArn', { min: 1, max: 2048 }, true));
    const targets = (p.struct('Targets')?.list('member') ?? []).map((t) => ({
      id: checkedString(t, 'Id', 'targets.member.id', { min: 1, max: 2048 }, true),
      port: checkedInt(t, 'Port', 'targets.member.port', 1, 65535),
    }));
    if (targets.length === 0) throw validation('targets', '[]', 'Member must not be null');
    const state = world.state(account, region);
    const vpcCidr = parseCidr(state.vpcs.get(tg.vpcId)?.cidrBlock ?? '', true);
    for (const target of targets) {
      if (tg.targetType === 'instance') {
        const instance = state.instances.get(target.id);
        if (!instance || instance.state === 'terminated' || instance.state === 'shutting-down') {
          throw error('InvalidTarget', `The following targets are not valid instances: '${target.id}'`);
        }
        if (instance.vpcId !== tg.vpcId) {
          throw error(
            'InvalidTarget',
            `The following targets are not in the target group VPC '${tg.vpcId}': '${target.id}'`,
          );
        }
      } else {
        const address = parseAddress(target.id);
        const inside =
          address !== undefined &&
          vpcCidr !== undefined &&
          contains(vpcCidr, {
            family: address.family,
            base: address.value,
            prefix: address.family === 4 ? 32 : 128,
          });
        if (!inside) {
          throw error(
            'InvalidTarget',
            `The IP address '${target.id}' is not within the CIDR of VPC '${tg.vpcId}'`,
          );
        }
      }
    }
    for (const target of targets) tg.targets.set(`${target.id}:${target.port ?? ''}`, target);
    return {};
  },

  CreateListener({ world, account, region, p }) {
    const elb = elbOf(world, account, region);
    const lb = getLb(
      elb,
      checkedString(p, 'LoadBalancerArn', 'loadBalancerArn', { min: 1, max: 2048 }, true),
    );
    const protocol = p.str('Protocol');
    const port = checkedInt(p, 'Port', 'port', 1, 65535);
    if (lb.type === 'gateway') {
      if (protocol !== undefined || port !== undefined) {
        throw error('ValidationError', 'A Gateway Load Balancer listener takes no protocol or port');
      }
    } else {
      if (protocol === undefined || port === undefined) {
        throw error('ValidationError', 'A protocol and a port must be specified');
      }
      if (!LISTENER_PROTOCOLS[lb.type].includes(protocol)) {
        throw error(
          'UnsupportedProtocol',
          `Protocol '${protocol}' is not supported for ${lb.type} load balancers`,
        );
      }
    }
    const actionList = p.struct('DefaultActions')?.list('member') ?? [];
    const forward = actionList[0];
    if (!forward || actionList.length > 1 || forward.str('Type') !== 'forward') {
      throw error('ValidationError', 'The emulator takes one default action of type forward');
    }
    const tg = getTg(
      elb,
      checkedString(
        forward,
        'TargetGroupArn',
        'defaultActions.member.targetGroupArn',
        { min: 1, max: 2048 },
        true,
      ),
    );
    if (tg.vpcId !== lb.vpcId) {
      throw error(
        'InvalidConfigurationRequest',
        `The target group '${tg.arn}' is not in the VPC of the load balancer '${lb.arn}'`,
      );
    }
    const accepted = lb.type === 'gateway' ? ['GENEVE'] : (GROUP_FOR_LISTENER[protocol as string] ?? []);
    if (!accepted.includes(tg.protocol)) {
      throw error(
        'IncompatibleProtocols',
        `The listener protocol '${protocol ?? 'GENEVE'}' is not compatible with the target group protocol '${tg.protocol}'`,
      );
    }
    const otherLb = [...elb.listeners.values()].find(
      (l) => l.targetGroupArn === tg.arn && l.loadBalancerArn !== lb.arn,
    );
    if (otherLb && lb.type !== 'application') {
      throw error(
        'TargetGroupAssociationLimit',
        `The target group '${tg.arn}' is already used by another load balancer`,
      );
    }
    for (const other of elb.listeners.values()) {
      if (other.loadBalancerArn === lb.arn && other.port === port) {
        throw error(
          'DuplicateListener',
          `A listener already exists on port ${port ?? '-'} of this load balancer`,
        );
      }
    }
    const lbPath = lb.arn.slice(lb.arn.indexOf(':loadbalancer/') + ':loadbalancer/'.length);
    const listener: Listener = {
      arn: `arn:aws:elasticloadbalancing:${region}:${account}:listener/${lbPath}/${hex()}`,
      loadBalancerArn: lb.arn,
      protocol,
      port,
      targetGroupArn: tg.arn,
    };
    elb.listeners.set(listener.arn, listener);
    return { Listeners: [listenerXml(listener)] };
  },

  DescribeLoadBalancers({ world, account, region, p }) {
    const elb = elbOf(world, account, region);
    const arns = members(p, 'LoadBalancerArns');
    const names = members(p, 'Names');
    if (arns.length > 0 && names.length > 0) {
      throw error(
        'ValidationError',
        'Load balancer names and load balancer ARNs cannot be specified at the same time',
      );
    }
    const all = [...elb.loadBalancers.values()];
    let chosen = all;
    if (arns.length > 0) chosen = arns.map((arn) => getLb(elb, arn));
    if (names.length > 0) {
      chosen = names.map((name) => {
        const lb = all.find((x) => x.name === name);
        if (!lb) throw error('LoadBalancerNotFound', `Load balancers '[${name}]' not found`);
        return lb;
      });
    }
    return { LoadBalancers: chosen.map(lbXml) };
  },

  DescribeListeners({ world, account, region, p }) {
    const elb = elbOf(world, account, region);
    const lbArn = p.str('LoadBalancerArn');
    const arns = members(p, 'ListenerArns');
    if ((lbArn === undefined) === (arns.length === 0)) {
      throw error('ValidationError', 'You must specify either listener ARNs or a load balancer ARN');
    }
    if (lbArn !== undefined) {
      getLb(elb, lbArn);
      return {
        Listeners: [...elb.listeners.values()].filter((l) => l.loadBalancerArn === lbArn).map(listenerXml),
      };
    }
    return {
      Listeners: arns.map((arn) => {
        const l = elb.listeners.get(arn);
        if (!l) throw error('ListenerNotFound', `One or more listeners not found: '${arn}'`);
        return listenerXml(l);
      }),
    };
  },

  DescribeTargetGroups({ world, account, region, p }) {
    const elb = elbOf(world, account, region);
    const lbArn = p.str('LoadBalancerArn');
    const arns = members(p, 'TargetGroupArns');
    const names = members(p, 'Names');
    const all = [...elb.targetGroups.values()];
    let chosen = all;
    if (lbArn !== undefined) {
      getLb(elb, lbArn);
      const used = new Set(
        [...elb.listeners.values()].filter((l) => l.loadBalancerArn === lbArn).map((l) => l.targetGroupArn),
      );
      chosen = all.filter((tg) => used.has(tg.arn));
    }
    if (arns.length > 0) chosen = arns.map((arn) => getTg(elb, arn));
    if (names.length > 0) {
      chosen = names.map((name) => {
        const tg = all.find((x) => x.name === name);
        if (!tg) throw error('TargetGroupNotFound', `Target groups '[${name}]' not found`);
        return tg;
      });
    }
    return { TargetGroups: chosen.map((tg) => tgXml(elb, tg)) };
  },

  DescribeTargetHealth({ world, account, region, p }) {
    const elb = elbOf(world, account, region);
    const tg = getTg(elb, checkedString(p, 'TargetGroupArn', 'targetGroupArn', { min: 1, max: 2048 }, true));
    const asked = (p.struct('Targets')?.list('member') ?? []).map((t) => ({
      id: checkedString(t, 'Id', 'targets.member.id', { min: 1, max: 2048 }, true),
      port: checkedInt(t, 'Port', 'targets.member.port', 1, 65535),
    }));
    const targets = asked.length > 0 ? asked : [...tg.targets.values()];
    return {
      TargetHealthDescriptions: targets.map((target) => {
        const registered = [...tg.targets.values()].some(
          (t) => t.id === target.id && (target.port === undefined || t.port === target.port),
        );
        const health: Health = registered
          ? healthOf(world, account, region, elb, tg, target.id)
          : {
              state: 'unavailable',
              reason: 'Target.NotRegistered',
              description: 'Target is not registered to the target group',
            };
        return {
          Target: { Id: target.id, Port: target.port ?? tg.port },
          HealthCheckPort:
            tg.healthCheckPort === 'traffic-port' ? String(target.port ?? tg.port) : tg.healthCheckPort,
          TargetHealth: { State: health.state, Reason: health.reason, Description: health.description },
        };
      }),
    };
  },
};

export const elbv2Service: QueryService = {
  name: 'ElasticLoadBalancingV2',
  version: ELBV2_VERSION,
  namespace: NAMESPACE,
  actions,
};

const HEALTH_STATES = ['initial', 'healthy', 'unhealthy', 'unused', 'draining', 'unavailable'];

/**
 * `POST /_emulator/target-health` `{"account"?, "region"?, "targetGroupArn", "targetId", "state",
 * "reason"?, "description"?}`: what DescribeTargetHealth answers for a registered target of a
 * group in use (a test's stand-in for health checks passing or failing). `state: "healthy"` with
 * no reason clears it. 200 `{}` or 400/404 `{"message"}`.
 */
export function setTargetHealth(
  world: World,
  input: Record<string, unknown>,
  caller: { account: string; region: string },
): { status: number; message?: string } {
  const str = (key: string) => (typeof input[key] === 'string' ? (input[key] as string) : undefined);
  const arn = str('targetGroupArn');
  const targetId = str('targetId');
  const state = str('state');
  if (arn === undefined || targetId === undefined || state === undefined) {
    return { status: 400, message: 'targetGroupArn, targetId and state are required' };
  }
  if (!HEALTH_STATES.includes(state)) {
    return { status: 400, message: `state must be one of ${HEALTH_STATES.join(', ')}, got '${state}'` };
  }
  const [, , , region = caller.region, account = caller.account] = arn.split(':');
  const elb = elbOf(world, account, region);
  const tg = elb.targetGroups.get(arn);
  if (!tg) return { status: 404, message: `no target group ${arn}` };
  if (![...tg.targets.values()].some((t) => t.id === targetId)) {
    return { status: 404, message: `${targetId} is not registered with ${arn}` };
  }
  const key = `${arn} ${targetId}`;
  const reason = str('reason') ?? (state === 'unhealthy' ? 'Target.FailedHealthChecks' : undefined);
  if (state === 'healthy' && reason === undefined) elb.health.delete(key);
  else {
    elb.health.set(key, {
      state,
      ...(reason === undefined ? {} : { reason }),
      ...(str('description') === undefined ? {} : { description: str('description') as string }),
    });
  }
  return { status: 200 };
}

/**
 * The resources an ELBv2 request involves, for IAM (the Service Authorization Reference's
 * resource types `loadbalancer/net/`, `loadbalancer/gwy/`, `targetgroup`); Describe* are
 * wildcard-only there.
 */
export function elbInvolved(
  world: World,
  account: string,
  region: string,
  action: string,
  p: Params,
): Involved[] {
  const elb = elbOf(world, account, region);
  const prefix = `arn:aws:elasticloadbalancing:${region}:${account}`;
  const created = new Map<string, string>();
  for (const tag of p.struct('Tags')?.list('member') ?? []) {
    const key = tag.str('Key');
    if (key !== undefined) created.set(key, tag.str('Value') ?? '');
  }
  switch (action) {
    case 'CreateLoadBalancer': {
      const kind = ARN_KIND[(p.str('Type') ?? 'application') as LbType] ?? 'app';
      return [
        { type: 'loadbalancer', arn: `${prefix}:loadbalancer/${kind}/${p.str('Name') ?? '*'}/*`, created },
      ];
    }
    case 'CreateTargetGroup':
      return [{ type: 'targetgroup', arn: `${prefix}:targetgroup/${p.str('Name') ?? '*'}/*`, created }];
    case 'RegisterTargets':
    case 'DeregisterTargets': {
      const arn = p.str('TargetGroupArn') ?? '';
      const tg = elb.targetGroups.get(arn);
      return [
        { type: 'targetgroup', arn, context: resourceTags(tg?.tags ?? new Map(), 'elasticloadbalancing') },
      ];
    }
    case 'CreateListener': {
      const arn = p.str('LoadBalancerArn') ?? '';
      const lb = elb.loadBalancers.get(arn);
      const kind = arn.includes(':loadbalancer/gwy/')
        ? 'gwy'
        : arn.includes(':loadbalancer/app/')
          ? 'app'
          : 'net';
      return [
        {
          type: `loadbalancer/${kind}/`,
          arn,
          context: resourceTags(lb?.tags ?? new Map(), 'elasticloadbalancing'),
          ...(created.size > 0 ? { created } : {}),
        },
      ];
    }
    default:
      return [];
  }
}
