/**
 * The preflight: each check reads what it needs through the DoctorReader and decides with the pure
 * rules of shared/domain (reachability, target capacity, eligibility, slots). A check's line says
 * what it looked at, what it found, and for a warning or a failure what to do about it.
 */

import { sourceSupport } from '../../shared/domain/eligibility.ts';
import {
  aclVerdict,
  type Endpoint,
  type Level,
  pathBetween,
  quotaLevel,
  securityGroupsAllow,
  VXLAN_PORT,
} from '../../shared/domain/reachability.ts';
import { SESSIONS_PER_ENI } from '../../shared/domain/slots.ts';
import { isManaged, TAG } from '../../shared/domain/tags.ts';
import { sourcesPerTarget } from '../../shared/domain/target-capacity.ts';
import type {
  DoctorReader,
  EniView,
  InstanceView,
  LoadBalancerView,
  TargetView,
  VpcEndpointView,
} from './reader.ts';

export interface CheckResult {
  check: string;
  status: Level;
  resource: string;
  detail: string;
  fix?: string;
}

export interface DoctorInput {
  account: string;
  region: string;
  targetId?: string | undefined;
  /**
   * Without targetId: the target mirrorops would send a source of this VPC to (the configured
   * MIRROROPS_TARGET_ID and its per-VPC map, as `mirrorops start` picks it), and where it came from.
   */
  configured?: { targetFor: (vpcId: string | undefined) => string; from: string } | undefined;
  /** The per-account quota of sessions and of filters: AWS's 10,000 unless said otherwise. */
  accountQuota?: number;
  instanceId?: string | undefined;
  eniId?: string | undefined;
}

/** Sessions, filters (and targets) per account and Region (traffic-mirroring-quotas.html). */
export const ACCOUNT_QUOTA = 10_000;

const KIND_NAMES = {
  'network-interface': 'ENI target',
  'network-load-balancer': 'Network Load Balancer target',
  'gateway-load-balancer-endpoint': 'Gateway Load Balancer endpoint target',
} as const;

/** A source ENI with the instance it is attached to, when there is one. */
interface Source {
  eni: EniView;
  instance?: InstanceView;
}

/** Where the target's packets go: the ENI (an endpoint's for a GWLB endpoint) or the load balancer's subnets, when visible here. */
interface TargetSide {
  target: TargetView;
  /** Owned by another account (shared through RAM): its ENI or load balancer is not visible here. */
  shared: boolean;
  eni?: EniView;
  instanceType?: string;
  loadBalancer?: LoadBalancerView;
  endpoint?: VpcEndpointView;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const slash32 = (address: string) => (address.includes('/') ? address : `${address}/32`);

/** Runs every check that the input allows, in the order an operator reads them. */
export async function runDoctor(reader: DoctorReader, input: DoctorInput): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const sources = await readSources(reader, input, out);
  const targetId = input.targetId ?? input.configured?.targetFor(sources[0]?.eni.vpcId);
  const side = targetId === undefined ? undefined : await checkTarget(reader, input, targetId, out);
  if (targetId === undefined) {
    out.push({
      check: 'target',
      status: 'warn',
      resource: '-',
      detail: 'no target given or configured: the checks of a target and of the path to it were skipped',
      fix: 'pass --target tmt-... (or set MIRROROPS_TARGET_ID, as for mirrorops start)',
    });
  }
  if (side) {
    await checkCapacity(reader, input, side, sources, out);
    if (side.target.kind === 'network-interface') await checkEniTarget(reader, side, sources, out);
    if (side.target.kind === 'network-load-balancer') await checkNlbTarget(reader, side, out);
    if (side.target.kind === 'gateway-load-balancer-endpoint')
      await checkGwlbTarget(reader, side, sources, out);
  }
  if (input.instanceId === undefined && input.eniId === undefined) {
    out.push({
      check: 'sources',
      status: 'warn',
      resource: '-',
      detail: 'no source given: the checks of a source and of its path to the target were skipped',
      fix: 'pass --instance i-... or --eni eni-...',
    });
  }
  const typed = new Set<string>();
  for (const source of sources) {
    // One type line an instance, however many of its ENIs are sources.
    if (source.instance === undefined || !typed.has(source.instance.id)) checkSourceType(source, out);
    if (source.instance) typed.add(source.instance.id);
    await checkSlots(reader, source, out);
  }
  if (side) await checkPaths(reader, input, side, sources, out);
  await checkQuotas(reader, input, out);
  return out;
}

async function readSources(reader: DoctorReader, input: DoctorInput, out: CheckResult[]): Promise<Source[]> {
  const missing = (what: string, id: string): Source[] => {
    out.push({
      check: 'source',
      status: 'fail',
      resource: id,
      detail: `${what} not found in account ${input.account}, ${input.region}`,
      fix: 'check the id, --region and --profile',
    });
    return [];
  };
  if (input.instanceId !== undefined) {
    const instance = await reader.instance(input.instanceId);
    if (!instance) return missing(`instance ${input.instanceId}`, input.instanceId);
    const sources: Source[] = [];
    for (const id of instance.eniIds) {
      const eni = await reader.eni(id);
      if (eni) sources.push({ eni, instance });
    }
    return sources;
  }
  if (input.eniId !== undefined) {
    const eni = await reader.eni(input.eniId);
    if (!eni) return missing(`network interface ${input.eniId}`, input.eniId);
    const instance = eni.instanceId === undefined ? undefined : await reader.instance(eni.instanceId);
    return [{ eni, ...(instance ? { instance } : {}) }];
  }
  return [];
}

/** ` (where it came from)` for a target not named on the command line. */
const configuredFrom = (input: DoctorInput) =>
  input.targetId === undefined && input.configured ? ` (${input.configured.from})` : '';

async function checkTarget(reader: DoctorReader, input: DoctorInput, id: string, out: CheckResult[]) {
  const target = await reader.target(id);
  if (!target) {
    out.push({
      check: 'target',
      status: 'fail',
      resource: id,
      detail: `${id}${configuredFrom(input)} not found in account ${input.account}, ${input.region}`,
      fix: 'check the id and --region; a target of another account must be shared with this one through AWS RAM (ec2:TrafficMirrorTarget) and, outside an Organization, the invitation accepted',
    });
    return undefined;
  }
  const shared = target.ownerId !== input.account;
  const side: TargetSide = { target, shared };
  const owner = shared
    ? `owned by ${target.ownerId}, shared with this account through RAM`
    : 'owned by this account';
  let what = `${KIND_NAMES[target.kind]} ${target.destination}`;
  const from = configuredFrom(input);
  // What receives an ENI target's packets: its ENI, attached to a running instance.
  let problem: { status: Level; detail: string; fix: string } | undefined;
  if (target.kind === 'network-interface' && !shared) {
    const eni = await reader.eni(target.destination);
    const instance = eni?.instanceId === undefined ? undefined : await reader.instance(eni.instanceId);
    if (eni) side.eni = eni;
    if (instance) {
      side.instanceType = instance.type;
      what += ` (instance ${instance.id}, ${instance.type})`;
    }
    if (!eni) {
      problem = {
        status: 'fail',
        detail: `its ENI ${target.destination} no longer exists: mirrored packets go nowhere`,
        fix: 'create a target on a live appliance ENI and move the sessions to it',
      };
    } else if (!instance) {
      problem = {
        status: 'warn',
        detail: `its ENI ${eni.id} is attached to no instance: nothing receives the packets`,
        fix: `attach it to the capture appliance (aws ec2 attach-network-interface --network-interface-id ${eni.id} ...)`,
      };
    } else if (instance.state !== 'running') {
      problem = {
        status: 'fail',
        detail: `its appliance ${instance.id} is ${instance.state}: nothing receives the packets`,
        fix: `start it (aws ec2 start-instances --instance-ids ${instance.id}) or use another target`,
      };
    }
  }
  if (target.kind === 'network-load-balancer' && !shared) {
    const lb = await reader.loadBalancer(target.destination);
    if (lb) side.loadBalancer = lb;
  }
  // A GWLB endpoint's packets go to its network interface: the path and ACL checks take it as an ENI target's.
  if (target.kind === 'gateway-load-balancer-endpoint' && !shared) {
    const endpoint = await reader.vpcEndpoint(target.destination);
    const eni = endpoint?.eniId === undefined ? undefined : await reader.eni(endpoint.eniId);
    if (endpoint) side.endpoint = endpoint;
    if (eni) side.eni = eni;
  }
  out.push(
    problem
      ? {
          check: 'target',
          status: problem.status,
          resource: id,
          detail: `${what}${from}, ${owner}; ${problem.detail}`,
          fix: problem.fix,
        }
      : { check: 'target', status: 'ok', resource: id, detail: `${what}${from}, ${owner}` },
  );
  return side;
}

async function checkCapacity(
  reader: DoctorReader,
  input: DoctorInput,
  side: TargetSide,
  sources: readonly Source[],
  out: CheckResult[],
): Promise<void> {
  const { target } = side;
  const sessions = await reader.sessions([{ Name: 'traffic-mirror-target-id', Values: [target.id] }]);
  const users = new Set(sessions.map((s) => s.eniId));
  const limit = sourcesPerTarget(target.kind, side.instanceType);
  const partial =
    target.ownerId !== input.account ? ' (this account’s sessions only: the owner sees the others)' : '';
  if (limit === undefined) {
    out.push({
      check: 'target-capacity',
      status: 'ok',
      resource: target.id,
      detail: `${plural(users.size, 'source')} in use, no limit for this kind of target${partial}`,
    });
    return;
  }
  const newcomers = sources.filter((s) => !users.has(s.eni.id)).length;
  const basis =
    side.instanceType === undefined ? ' (instance type not visible: the smaller limit assumed)' : '';
  const detail = `${users.size} of ${limit} sources in use${basis}${partial}`;
  if (users.size + newcomers > limit) {
    out.push({
      check: 'target-capacity',
      status: 'fail',
      resource: target.id,
      detail: `${detail}; ${plural(newcomers, 'more source')} would not fit`,
      fix: 'use another target (an NLB target has no source limit), or stop sessions that use this one',
    });
    return;
  }
  const status: Level = users.size + newcomers >= limit * 0.8 ? 'warn' : 'ok';
  out.push({
    check: 'target-capacity',
    status,
    resource: target.id,
    detail: newcomers > 0 ? `${detail}; room for ${plural(newcomers, 'new source')}` : detail,
    ...(status === 'warn' ? { fix: 'plan another target before this one fills up' } : {}),
  });
}

async function checkEniTarget(
  reader: DoctorReader,
  side: TargetSide,
  sources: readonly Source[],
  out: CheckResult[],
): Promise<void> {
  const { target, eni } = side;
  if (!eni) {
    // This account's missing ENI is the target line's failure; another account's is not visible.
    if (!side.shared) return;
    out.push({
      check: 'target-network',
      status: 'warn',
      resource: target.destination,
      detail: `the target ENI belongs to ${target.ownerId}: its security groups and network ACL are not visible here`,
      fix: `run mirrorops doctor --target ${target.id} in account ${target.ownerId} too`,
    });
    return;
  }
  if (sources.length === 0) return;
  const groups = await reader.securityGroups(eni.groupIds);
  const denied = sources.filter(
    (s) => !securityGroupsAllow(groups, { address: s.eni.address, groupIds: s.eni.groupIds }),
  );
  const first = eni.groupIds[0] ?? '-';
  if (denied.length > 0) {
    out.push({
      check: 'target-security-group',
      status: 'fail',
      resource: eni.groupIds.join(','),
      detail: `UDP ${VXLAN_PORT} not allowed in from ${denied.map((s) => `${s.eni.address} (${s.eni.id})`).join(', ')}`,
      fix: `aws ec2 authorize-security-group-ingress --group-id ${first} --ip-permissions 'IpProtocol=udp,FromPort=${VXLAN_PORT},ToPort=${VXLAN_PORT},IpRanges=[${denied.map((s) => `{CidrIp=${slash32(s.eni.address)}}`).join(',')}]'`,
    });
  } else {
    const how = sources.map((s) =>
      securityGroupsAllow(groups, { address: s.eni.address, groupIds: s.eni.groupIds }),
    );
    out.push({
      check: 'target-security-group',
      status: 'ok',
      resource: eni.groupIds.join(','),
      detail: `UDP ${VXLAN_PORT} allowed from every source (${[...new Set(how.map((h) => `${h?.groupId}: ${h?.rule}`))].join('; ')})`,
    });
  }
  await checkAcls(reader, eni, sources, out);
}

/** The network ACLs between the sources and the ENI that receives their packets, both ways. */
async function checkAcls(
  reader: DoctorReader,
  eni: EniView,
  sources: readonly Source[],
  out: CheckResult[],
): Promise<void> {
  if (sources.length === 0) return;
  // Network ACLs are evaluated where traffic crosses a subnet's edge: not within one subnet.
  const crossing = sources.filter((s) => s.eni.subnetId !== eni.subnetId);
  const targetAcl = await reader.acl(eni.subnetId);
  if (targetAcl) {
    const blocked = crossing
      .map((s) => ({ s, verdict: aclVerdict(targetAcl.entries, { egress: false, peer: s.eni.address }) }))
      .filter((x) => !x.verdict.allowed);
    out.push(
      blocked.length > 0
        ? {
            check: 'target-nacl-inbound',
            status: 'fail',
            resource: targetAcl.id,
            detail: `inbound UDP ${VXLAN_PORT} denied from ${blocked.map((b) => `${b.s.eni.address} (rule ${b.verdict.ruleNumber === 32767 ? '*' : b.verdict.ruleNumber})`).join(', ')}`,
            fix: `aws ec2 create-network-acl-entry --network-acl-id ${targetAcl.id} --ingress --rule-number N --protocol 17 --port-range From=${VXLAN_PORT},To=${VXLAN_PORT} --cidr-block ${slash32(blocked[0]?.s.eni.address ?? '')} --rule-action allow (N below the denying rule)`,
          }
        : {
            check: 'target-nacl-inbound',
            status: 'ok',
            resource: targetAcl.id,
            detail:
              crossing.length === 0
                ? 'sources in the target’s subnet: no network ACL between them'
                : `inbound UDP ${VXLAN_PORT} allowed from every source`,
          },
    );
  }
  for (const subnetId of new Set(crossing.map((s) => s.eni.subnetId))) {
    const acl = await reader.acl(subnetId);
    if (!acl) continue;
    const verdict = aclVerdict(acl.entries, { egress: true, peer: eni.address });
    out.push(
      verdict.allowed
        ? {
            check: 'source-nacl-outbound',
            status: 'ok',
            resource: acl.id,
            detail: `outbound UDP ${VXLAN_PORT} to ${eni.address} allowed (rule ${verdict.ruleNumber}, subnet ${subnetId})`,
          }
        : {
            check: 'source-nacl-outbound',
            status: 'fail',
            resource: acl.id,
            detail: `outbound UDP ${VXLAN_PORT} to ${eni.address} denied by rule ${verdict.ruleNumber === 32767 ? '*' : verdict.ruleNumber} (subnet ${subnetId})`,
            fix: `aws ec2 create-network-acl-entry --network-acl-id ${acl.id} --egress --rule-number N --protocol 17 --port-range From=${VXLAN_PORT},To=${VXLAN_PORT} --cidr-block ${slash32(eni.address)} --rule-action allow (N below the denying rule)`,
          },
    );
  }
}

/** A load balancer that is gone or not active: the line that says so; none when it is active. */
function loadBalancerProblem(
  check: string,
  arn: string,
  lb: LoadBalancerView | undefined,
  fixMissing: string,
): CheckResult | undefined {
  if (!lb) {
    return {
      check,
      status: 'fail',
      resource: arn,
      detail: 'the load balancer does not exist (deleted?): mirrored packets go nowhere',
      fix: fixMissing,
    };
  }
  if (lb.state === 'active') return undefined;
  return {
    check,
    status: 'fail',
    resource: arn,
    detail: `the load balancer is ${lb.state}`,
    fix: 'wait until it is active',
  };
}

/** What another account owns is not visible here: the line that says what was not checked. */
const notVisible = (check: string, resource: string, side: TargetSide, what: string, hidden: string) => ({
  check,
  status: 'warn' as const,
  resource,
  detail: `the ${what} belongs to ${side.target.ownerId}: ${hidden} not visible here`,
  fix: `run mirrorops doctor --target ${side.target.id} in account ${side.target.ownerId} too`,
});

async function checkNlbTarget(reader: DoctorReader, side: TargetSide, out: CheckResult[]): Promise<void> {
  const arn = side.target.destination;
  const lb = side.loadBalancer;
  if (!lb && side.shared) {
    out.push(notVisible('nlb', arn, side, 'load balancer', 'its listeners and targets are'));
    return;
  }
  const problem = loadBalancerProblem(
    'nlb',
    arn,
    lb,
    'create a target for a load balancer that exists, and move the sessions to it',
  );
  if (problem) out.push(problem);
  if (!lb) return;
  const listeners = await reader.listeners(arn);
  const vxlan = listeners.filter(
    (l) => l.port === VXLAN_PORT && (l.protocol === 'UDP' || l.protocol === 'TCP_UDP'),
  );
  if (vxlan.length === 0) {
    const seen = listeners.map((l) => `${l.protocol} ${l.port ?? '-'}`).join(', ') || 'none';
    out.push({
      check: 'nlb-listener',
      status: 'fail',
      resource: arn,
      detail: `no UDP listener on port ${VXLAN_PORT} (listeners: ${seen}); mirrored packets would be dropped silently`,
      fix: `aws elbv2 create-listener --load-balancer-arn ${arn} --protocol UDP --port ${VXLAN_PORT} --default-actions Type=forward,TargetGroupArn=TG`,
    });
    return;
  }
  out.push({
    check: 'nlb-listener',
    status: 'ok',
    resource: arn,
    detail: `${vxlan.map((l) => `${l.protocol} ${l.port}`).join(', ')} listener forwards to ${plural(new Set(vxlan.flatMap((l) => l.targetGroupArns)).size, 'target group')}`,
  });
  await checkTargetGroups(reader, 'nlb-targets', [...new Set(vxlan.flatMap((l) => l.targetGroupArns))], out);
}

/** One line a target group: fail with no healthy target, warn with some not healthy. */
async function checkTargetGroups(
  reader: DoctorReader,
  check: 'nlb-targets' | 'gwlb-targets',
  groups: readonly string[],
  out: CheckResult[],
): Promise<void> {
  const names = await reader.targetGroupNames(groups);
  for (const group of groups) {
    const health = await reader.targetHealth(group);
    const healthy = health.filter((h) => h.state === 'healthy');
    const others = health.filter((h) => h.state !== 'healthy');
    const name = names.get(group) ?? group;
    const rest = others.map((h) => `${h.id} ${h.state}${h.reason ? ` (${h.reason})` : ''}`).join(', ');
    if (healthy.length === 0) {
      out.push({
        check,
        status: 'fail',
        resource: name,
        detail: health.length === 0 ? 'no targets registered' : `no healthy target: ${rest}`,
        fix: `register the appliances (aws elbv2 register-targets --target-group-arn ${group} --targets Id=...) and open their health check port`,
      });
    } else {
      out.push({
        check,
        status: others.length > 0 ? 'warn' : 'ok',
        resource: name,
        detail: `${healthy.length} of ${health.length} targets healthy${rest ? `; ${rest}` : ''}`,
        ...(others.length > 0 ? { fix: 'see aws elbv2 describe-target-health for the failing ones' } : {}),
      });
    }
  }
}

/**
 * A Gateway Load Balancer endpoint target: the endpoint (exists, available), its zone against the
 * sources', the service's Gateway Load Balancers and their appliances, and the network ACLs on the
 * way to the endpoint's interface (an endpoint has no security groups).
 */
async function checkGwlbTarget(
  reader: DoctorReader,
  side: TargetSide,
  sources: readonly Source[],
  out: CheckResult[],
): Promise<void> {
  const id = side.target.destination;
  const { endpoint, eni } = side;
  if (!endpoint) {
    out.push(
      side.shared
        ? notVisible(
            'gwlb-endpoint',
            id,
            side,
            'endpoint',
            'its state, zone, service and Gateway Load Balancer are',
          )
        : {
            check: 'gwlb-endpoint',
            status: 'fail',
            resource: id,
            detail: 'the endpoint does not exist (deleted?): mirrored packets go nowhere',
            fix: 'create a Gateway Load Balancer endpoint (aws ec2 create-vpc-endpoint --vpc-endpoint-type GatewayLoadBalancer ...), a target for it, and move the sessions to it',
          },
    );
    return;
  }
  const where = `subnet ${endpoint.subnetId}${eni ? ` (${eni.availabilityZone})` : ''}, service ${endpoint.serviceName}`;
  if (endpoint.state === 'available') {
    out.push({ check: 'gwlb-endpoint', status: 'ok', resource: id, detail: `available in ${where}` });
  } else {
    const pending = endpoint.state === 'pendingAcceptance';
    out.push({
      check: 'gwlb-endpoint',
      status: 'fail',
      resource: id,
      detail: `the endpoint is ${endpoint.state} (${where}): ${pending ? 'the service owner has not accepted its connection, so ' : ''}nothing reaches the appliances`,
      fix: pending
        ? `the owner of ${endpoint.serviceName} accepts it: aws ec2 accept-vpc-endpoint-connections --service-id vpce-svc-... --vpc-endpoint-ids ${id}`
        : 'create a new Gateway Load Balancer endpoint and a target for it, and move the sessions to it',
    });
  }
  if (eni && sources.length > 0) {
    const away = sources.filter((s) => s.eni.availabilityZone !== eni.availabilityZone);
    out.push(
      away.length > 0
        ? {
            check: 'gwlb-endpoint-zone',
            status: 'warn',
            resource: id,
            detail: `${away.map((s) => `${s.eni.id} (${s.eni.availabilityZone})`).join(', ')} not in the endpoint’s zone ${eni.availabilityZone}: cross-zone traffic is billed, and an outage of either zone cuts the mirror`,
            fix: `mirror to an endpoint in the source’s zone: aws ec2 create-vpc-endpoint --vpc-endpoint-type GatewayLoadBalancer --service-name ${endpoint.serviceName} --vpc-id ${endpoint.vpcId} --subnet-ids SUBNET_IN_${[...new Set(away.map((s) => s.eni.availabilityZone))].join('_OR_')}, then a target for it`,
          }
        : {
            check: 'gwlb-endpoint-zone',
            status: 'ok',
            resource: id,
            detail: `every source in the endpoint’s zone ${eni.availabilityZone}`,
          },
    );
  }
  await checkEndpointService(reader, endpoint, out);
  if (eni) await checkAcls(reader, eni, sources, out);
}

/** The Gateway Load Balancers behind an endpoint's service, their listeners and their appliances' health. */
async function checkEndpointService(
  reader: DoctorReader,
  endpoint: VpcEndpointView,
  out: CheckResult[],
): Promise<void> {
  const service = await reader.endpointService(endpoint.serviceName);
  if (!service) {
    out.push({
      check: 'gwlb',
      status: 'warn',
      resource: endpoint.serviceName,
      detail:
        'the endpoint service belongs to another account: its Gateway Load Balancer and appliances are not visible here',
      fix: `its owner checks them: aws ec2 describe-vpc-endpoint-service-configurations --filters Name=service-name,Values=${endpoint.serviceName}, then aws elbv2 describe-target-health`,
    });
    return;
  }
  if (service.gatewayLoadBalancerArns.length === 0) {
    out.push({
      check: 'gwlb',
      status: 'fail',
      resource: service.id,
      detail: 'the endpoint service has no Gateway Load Balancer: nothing receives the packets',
      fix: `aws ec2 modify-vpc-endpoint-service-configuration --service-id ${service.id} --add-gateway-load-balancer-arns ARN`,
    });
    return;
  }
  for (const arn of service.gatewayLoadBalancerArns) {
    const lb = await reader.loadBalancer(arn);
    const problem = loadBalancerProblem(
      'gwlb',
      arn,
      lb,
      `give the service a Gateway Load Balancer that exists (aws ec2 modify-vpc-endpoint-service-configuration --service-id ${service.id} --add-gateway-load-balancer-arns ARN)`,
    );
    out.push(
      problem ?? {
        check: 'gwlb',
        status: 'ok',
        resource: arn,
        detail: `active, behind service ${service.id}`,
      },
    );
    if (!lb) continue;
    const groups = [...new Set((await reader.listeners(arn)).flatMap((l) => l.targetGroupArns))];
    if (groups.length === 0) {
      out.push({
        check: 'gwlb-listener',
        status: 'fail',
        resource: arn,
        detail: 'no listener forwards to a target group: packets reach the load balancer and stop there',
        fix: `aws elbv2 create-listener --load-balancer-arn ${arn} --default-actions Type=forward,TargetGroupArn=TG (a GENEVE group on port 6081)`,
      });
      continue;
    }
    out.push({
      check: 'gwlb-listener',
      status: 'ok',
      resource: arn,
      detail: `the listener forwards to ${plural(groups.length, 'target group')}`,
    });
    await checkTargetGroups(reader, 'gwlb-targets', groups, out);
  }
}

function checkSourceType(source: Source, out: CheckResult[]): void {
  const { eni, instance } = source;
  if (!instance) {
    out.push({
      check: 'source-type',
      status: 'warn',
      resource: eni.id,
      detail: 'not attached to an instance: no instance type to check',
      fix: 'attach it, or name the instance with --instance',
    });
    return;
  }
  const support = sourceSupport(instance.type);
  out.push(
    support.ok
      ? {
          check: 'source-type',
          status: 'ok',
          resource: instance.id,
          detail: `${instance.type} can be a mirror source`,
        }
      : {
          check: 'source-type',
          status: 'fail',
          resource: instance.id,
          detail: support.reason,
          fix: 'mirror another instance (a supported Nitro type), or capture on the host itself',
        },
  );
}

async function checkSlots(reader: DoctorReader, source: Source, out: CheckResult[]): Promise<void> {
  const sessions = await reader.sessions([{ Name: 'network-interface-id', Values: [source.eni.id] }]);
  sessions.sort((a, b) => a.number - b.number);
  const free = SESSIONS_PER_ENI - sessions.length;
  const holders = sessions
    .map(
      (s) =>
        `${s.id} #${s.number} ${isManaged(s.tags) ? `mirrorops ${s.tags[TAG.reason] ?? '?'}` : 'not mirrorops'}`,
    )
    .join(', ');
  const detail = `${free} of ${SESSIONS_PER_ENI} slots free${holders ? `; held by ${holders}` : ''}`;
  const managed = sessions.filter((s) => isManaged(s.tags)).length;
  if (free > 0) {
    out.push({ check: 'source-slots', status: 'ok', resource: source.eni.id, detail });
  } else if (managed > 0) {
    out.push({
      check: 'source-slots',
      status: 'warn',
      resource: source.eni.id,
      detail,
      fix: 'a new session replaces the mirrorops session of lowest priority only if it ranks higher (mirrorops stop --session ... frees one now)',
    });
  } else {
    out.push({
      check: 'source-slots',
      status: 'fail',
      resource: source.eni.id,
      detail,
      fix: 'sessions mirrorops did not create are never touched: their owner must delete one (aws ec2 delete-traffic-mirror-session)',
    });
  }
}

async function checkPaths(
  reader: DoctorReader,
  input: DoctorInput,
  side: TargetSide,
  sources: readonly Source[],
  out: CheckResult[],
): Promise<void> {
  const ends: Endpoint[] = [];
  if (side.eni) {
    const table = await reader.routes(side.eni.subnetId, side.eni.vpcId);
    ends.push({
      vpcId: side.eni.vpcId,
      account: side.eni.ownerId,
      region: input.region,
      address: side.eni.address,
      routes: table?.routes ?? [],
    });
  } else if (side.loadBalancer) {
    for (const subnetId of side.loadBalancer.subnetIds) {
      const cidr = await reader.subnetCidr(subnetId);
      const table = await reader.routes(subnetId, side.loadBalancer.vpcId);
      if (cidr) {
        ends.push({
          vpcId: side.loadBalancer.vpcId,
          account: input.account,
          region: input.region,
          address: cidr,
          routes: table?.routes ?? [],
        });
      }
    }
  }
  if (ends.length === 0 || sources.length === 0) return;
  for (const source of sources) {
    const table = await reader.routes(source.eni.subnetId, source.eni.vpcId);
    const from: Endpoint = {
      vpcId: source.eni.vpcId,
      account: source.eni.ownerId,
      region: input.region,
      address: source.eni.address,
      routes: table?.routes ?? [],
    };
    const peerings = await reader.peerings(source.eni.vpcId);
    const attachments = await reader.attachments([...new Set([from.vpcId, ...ends.map((e) => e.vpcId)])]);
    const paths = ends.map((to) => pathBetween(from, to, peerings, attachments));
    const failed = paths.find((p) => !p.ok);
    if (failed && !failed.ok) {
      out.push({
        check: 'path',
        status: 'fail',
        resource: source.eni.id,
        detail: failed.detail,
        fix: failed.fix,
      });
    } else {
      out.push({ check: 'path', status: 'ok', resource: source.eni.id, detail: paths[0]?.detail ?? '' });
    }
  }
}

async function checkQuotas(reader: DoctorReader, input: DoctorInput, out: CheckResult[]): Promise<void> {
  const sessions = (await reader.sessions()).filter((s) => s.ownerId === input.account).length;
  const filters = await reader.filterCount();
  const where = `${input.account} ${input.region}`;
  const quota = input.accountQuota ?? ACCOUNT_QUOTA;
  for (const [check, used, what] of [
    ['session-quota', sessions, 'sessions'],
    ['filter-quota', filters, 'filters'],
  ] as const) {
    const status = quotaLevel(used, quota);
    out.push({
      check,
      status,
      resource: where,
      detail: `${used.toLocaleString('en-US')} of ${quota.toLocaleString('en-US')} ${what} (not adjustable)`,
      ...(status === 'ok'
        ? {}
        : {
            fix: `delete ${what} no longer needed${what === 'filters' ? ' (mirrorops removes its unused filters when it sweeps)' : ''}`,
          }),
    });
  }
}
