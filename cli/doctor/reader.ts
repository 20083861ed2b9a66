/**
 * What doctor reads, through the SDK: one method a question, each answering plain views (or
 * undefined for "not found"), so that the checks are decisions over data. Read-only: nothing here
 * changes anything.
 */
import {
  DescribeInstancesCommand,
  DescribeNetworkAclsCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeTrafficMirrorFiltersCommand,
  DescribeTrafficMirrorSessionsCommand,
  DescribeTrafficMirrorTargetsCommand,
  DescribeTransitGatewayVpcAttachmentsCommand,
  DescribeVpcEndpointServiceConfigurationsCommand,
  DescribeVpcEndpointsCommand,
  DescribeVpcPeeringConnectionsCommand,
  type EC2Client,
  type Filter,
  type TrafficMirrorSession,
} from '@aws-sdk/client-ec2';
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { errorName } from '../../shared/aws/errors.ts';
import type {
  AclEntry,
  AttachmentView,
  PeeringView,
  RouteView,
  SecurityGroupView,
} from '../../shared/domain/reachability.ts';
import type { TargetKind } from '../../shared/domain/target-capacity.ts';

export interface TargetView {
  id: string;
  ownerId: string;
  kind: TargetKind;
  /** The ENI, NLB ARN or endpoint id it sends to. */
  destination: string;
}

export interface EniView {
  id: string;
  ownerId: string;
  vpcId: string;
  subnetId: string;
  availabilityZone: string;
  address: string;
  groupIds: string[];
  instanceId?: string;
}

export interface InstanceView {
  id: string;
  type: string;
  state: string;
  eniIds: string[];
}

export interface SessionView {
  id: string;
  eniId: string;
  targetId: string;
  number: number;
  ownerId: string;
  tags: Record<string, string>;
}

export interface LoadBalancerView {
  arn: string;
  type: string;
  state: string;
  vpcId: string;
  subnetIds: string[];
}

/** A Gateway Load Balancer endpoint: its state, the service it connects to, and its network interface. */
export interface VpcEndpointView {
  id: string;
  ownerId: string;
  state: string;
  serviceName: string;
  vpcId: string;
  subnetId: string;
  eniId: string | undefined;
}

/** An endpoint service of this account: its id and the Gateway Load Balancers behind it. */
export interface EndpointServiceView {
  id: string;
  name: string;
  gatewayLoadBalancerArns: string[];
}

export interface ListenerView {
  protocol: string;
  port: number | undefined;
  targetGroupArns: string[];
}

export interface TargetHealthView {
  id: string;
  state: string;
  reason?: string;
}

const tagsOf = (tags: { Key?: string | undefined; Value?: string | undefined }[] | undefined) =>
  Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));

/** Undefined for the NotFound codes a Describe answers for an id that names nothing. */
async function orMissing<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    const name = errorName(error);
    if (/NotFound|Malformed|LoadBalancerNotFound|TargetGroupNotFound/.test(name)) return undefined;
    throw error;
  }
}

export class DoctorReader {
  constructor(
    private readonly ec2: EC2Client,
    private readonly elb: ElasticLoadBalancingV2Client,
  ) {}

  async target(id: string): Promise<TargetView | undefined> {
    const out = await orMissing(
      this.ec2.send(new DescribeTrafficMirrorTargetsCommand({ TrafficMirrorTargetIds: [id] })),
    );
    const t = out?.TrafficMirrorTargets?.[0];
    if (!t) return undefined;
    const kind: TargetKind = t.NetworkLoadBalancerArn
      ? 'network-load-balancer'
      : t.GatewayLoadBalancerEndpointId
        ? 'gateway-load-balancer-endpoint'
        : 'network-interface';
    return {
      id,
      ownerId: t.OwnerId ?? '',
      kind,
      destination: t.NetworkLoadBalancerArn ?? t.GatewayLoadBalancerEndpointId ?? t.NetworkInterfaceId ?? '',
    };
  }

  async eni(id: string): Promise<EniView | undefined> {
    const out = await orMissing(
      this.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [id] })),
    );
    const e = out?.NetworkInterfaces?.[0];
    if (!e) return undefined;
    return {
      id,
      ownerId: e.OwnerId ?? '',
      vpcId: e.VpcId ?? '',
      subnetId: e.SubnetId ?? '',
      availabilityZone: e.AvailabilityZone ?? '',
      address: e.PrivateIpAddress ?? '',
      groupIds: (e.Groups ?? []).map((g) => g.GroupId ?? ''),
      ...(e.Attachment?.InstanceId ? { instanceId: e.Attachment.InstanceId } : {}),
    };
  }

  async instance(id: string): Promise<InstanceView | undefined> {
    const out = await orMissing(this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })));
    const i = out?.Reservations?.[0]?.Instances?.[0];
    if (!i) return undefined;
    return {
      id,
      type: i.InstanceType ?? '',
      state: i.State?.Name ?? '',
      eniIds: [...(i.NetworkInterfaces ?? [])]
        .sort((a, b) => (a.Attachment?.DeviceIndex ?? 0) - (b.Attachment?.DeviceIndex ?? 0))
        .map((n) => n.NetworkInterfaceId ?? ''),
    };
  }

  async securityGroups(ids: readonly string[]): Promise<SecurityGroupView[]> {
    if (ids.length === 0) return [];
    const out = await this.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [...ids] }));
    return (out.SecurityGroups ?? []).map((g) => ({
      id: g.GroupId ?? '',
      ingress: (g.IpPermissions ?? []).map((p) => ({
        protocol: p.IpProtocol ?? '-1',
        fromPort: p.FromPort,
        toPort: p.ToPort,
        cidrs: (p.IpRanges ?? []).map((r) => r.CidrIp ?? ''),
        groupIds: (p.UserIdGroupPairs ?? []).map((r) => r.GroupId ?? ''),
      })),
    }));
  }

  /** The network ACL of a subnet (every subnet has exactly one) and its entries. */
  async acl(subnetId: string): Promise<{ id: string; entries: AclEntry[] } | undefined> {
    const out = await this.ec2.send(
      new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }),
    );
    const acl = out.NetworkAcls?.[0];
    if (!acl) return undefined;
    return {
      id: acl.NetworkAclId ?? '',
      entries: (acl.Entries ?? []).map((e) => ({
        ruleNumber: e.RuleNumber ?? 32767,
        egress: e.Egress ?? false,
        protocol: e.Protocol ?? '-1',
        action: e.RuleAction === 'allow' ? 'allow' : 'deny',
        cidrBlock: e.CidrBlock ?? e.Ipv6CidrBlock ?? '',
        portRange:
          e.PortRange?.From === undefined || e.PortRange.To === undefined
            ? undefined
            : { from: e.PortRange.From, to: e.PortRange.To },
      })),
    };
  }

  /** The route table a subnet uses: its explicit association, else its VPC's main table. */
  async routes(subnetId: string, vpcId: string): Promise<{ id: string; routes: RouteView[] } | undefined> {
    const explicit = await this.ec2.send(
      new DescribeRouteTablesCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }),
    );
    const table =
      explicit.RouteTables?.[0] ??
      (
        await this.ec2.send(
          new DescribeRouteTablesCommand({
            Filters: [
              { Name: 'vpc-id', Values: [vpcId] },
              { Name: 'association.main', Values: ['true'] },
            ],
          }),
        )
      ).RouteTables?.[0];
    if (!table) return undefined;
    return {
      id: table.RouteTableId ?? '',
      routes: (table.Routes ?? []).map((r) => ({
        destination: r.DestinationCidrBlock ?? '',
        gatewayId: r.GatewayId,
        vpcPeeringConnectionId: r.VpcPeeringConnectionId,
        transitGatewayId: r.TransitGatewayId,
        state: r.State,
      })),
    };
  }

  async subnetCidr(subnetId: string): Promise<string | undefined> {
    const out = await orMissing(this.ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] })));
    return out?.Subnets?.[0]?.CidrBlock;
  }

  async peerings(vpcId: string): Promise<PeeringView[]> {
    const views: PeeringView[] = [];
    for (const side of ['requester-vpc-info.vpc-id', 'accepter-vpc-info.vpc-id']) {
      const out = await this.ec2.send(
        new DescribeVpcPeeringConnectionsCommand({ Filters: [{ Name: side, Values: [vpcId] }] }),
      );
      for (const p of out.VpcPeeringConnections ?? []) {
        views.push({
          id: p.VpcPeeringConnectionId ?? '',
          status: p.Status?.Code ?? '',
          requester: {
            vpcId: p.RequesterVpcInfo?.VpcId ?? '',
            account: p.RequesterVpcInfo?.OwnerId ?? '',
            region: p.RequesterVpcInfo?.Region ?? '',
          },
          accepter: {
            vpcId: p.AccepterVpcInfo?.VpcId ?? '',
            account: p.AccepterVpcInfo?.OwnerId ?? '',
            region: p.AccepterVpcInfo?.Region ?? '',
          },
        });
      }
    }
    return views;
  }

  async attachments(vpcIds: readonly string[]): Promise<AttachmentView[]> {
    const out = await this.ec2.send(
      new DescribeTransitGatewayVpcAttachmentsCommand({ Filters: [{ Name: 'vpc-id', Values: [...vpcIds] }] }),
    );
    return (out.TransitGatewayVpcAttachments ?? []).map((a) => ({
      transitGatewayId: a.TransitGatewayId ?? '',
      vpcId: a.VpcId ?? '',
      state: a.State ?? '',
    }));
  }

  /** Every session the caller sees that matches the filters, all pages. */
  async sessions(filters: Filter[] = []): Promise<SessionView[]> {
    const out: SessionView[] = [];
    let NextToken: string | undefined;
    do {
      const page = await this.ec2.send(
        new DescribeTrafficMirrorSessionsCommand({
          ...(filters.length > 0 ? { Filters: filters } : {}),
          MaxResults: 1000,
          ...(NextToken ? { NextToken } : {}),
        }),
      );
      out.push(...(page.TrafficMirrorSessions ?? []).map(sessionView));
      NextToken = page.NextToken;
    } while (NextToken);
    return out;
  }

  /** How many filters the account has (all pages). */
  async filterCount(): Promise<number> {
    let count = 0;
    let NextToken: string | undefined;
    do {
      const page = await this.ec2.send(
        new DescribeTrafficMirrorFiltersCommand({ MaxResults: 1000, ...(NextToken ? { NextToken } : {}) }),
      );
      count += page.TrafficMirrorFilters?.length ?? 0;
      NextToken = page.NextToken;
    } while (NextToken);
    return count;
  }

  async vpcEndpoint(id: string): Promise<VpcEndpointView | undefined> {
    const out = await orMissing(this.ec2.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [id] })));
    const e = out?.VpcEndpoints?.[0];
    if (!e) return undefined;
    return {
      id,
      ownerId: e.OwnerId ?? '',
      state: e.State ?? '',
      serviceName: e.ServiceName ?? '',
      vpcId: e.VpcId ?? '',
      subnetId: e.SubnetIds?.[0] ?? '',
      eniId: e.NetworkInterfaceIds?.[0],
    };
  }

  /** The endpoint service of this name when this account owns it; undefined when another account does. */
  async endpointService(name: string): Promise<EndpointServiceView | undefined> {
    const out = await this.ec2.send(
      new DescribeVpcEndpointServiceConfigurationsCommand({
        Filters: [{ Name: 'service-name', Values: [name] }],
      }),
    );
    const s = out.ServiceConfigurations?.[0];
    if (!s) return undefined;
    return { id: s.ServiceId ?? '', name, gatewayLoadBalancerArns: s.GatewayLoadBalancerArns ?? [] };
  }

  async loadBalancer(arn: string): Promise<LoadBalancerView | undefined> {
    const out = await orMissing(this.elb.send(new DescribeLoadBalancersCommand({ LoadBalancerArns: [arn] })));
    const lb = out?.LoadBalancers?.[0];
    if (!lb) return undefined;
    return {
      arn,
      type: lb.Type ?? '',
      state: lb.State?.Code ?? '',
      vpcId: lb.VpcId ?? '',
      subnetIds: (lb.AvailabilityZones ?? []).map((z) => z.SubnetId ?? ''),
    };
  }

  async listeners(loadBalancerArn: string): Promise<ListenerView[]> {
    const out = await this.elb.send(new DescribeListenersCommand({ LoadBalancerArn: loadBalancerArn }));
    return (out.Listeners ?? []).map((l) => ({
      protocol: l.Protocol ?? '',
      port: l.Port,
      targetGroupArns: (l.DefaultActions ?? []).flatMap((a) => [
        ...(a.TargetGroupArn ? [a.TargetGroupArn] : []),
        ...(a.ForwardConfig?.TargetGroups ?? []).flatMap((g) => (g.TargetGroupArn ? [g.TargetGroupArn] : [])),
      ]),
    }));
  }

  async targetGroupNames(arns: readonly string[]): Promise<Map<string, string>> {
    if (arns.length === 0) return new Map();
    const out = await this.elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [...arns] }));
    return new Map((out.TargetGroups ?? []).map((g) => [g.TargetGroupArn ?? '', g.TargetGroupName ?? '']));
  }

  async targetHealth(targetGroupArn: string): Promise<TargetHealthView[]> {
    const out = await this.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
    return (out.TargetHealthDescriptions ?? []).map((d) => ({
      id: d.Target?.Id ?? '',
      state: d.TargetHealth?.State ?? '',
      ...(d.TargetHealth?.Reason ? { reason: d.TargetHealth.Reason } : {}),
    }));
  }
}

function sessionView(s: TrafficMirrorSession): SessionView {
  return {
    id: s.TrafficMirrorSessionId ?? '',
    eniId: s.NetworkInterfaceId ?? '',
    targetId: s.TrafficMirrorTargetId ?? '',
    number: s.SessionNumber ?? 0,
    ownerId: s.OwnerId ?? '',
    tags: tagsOf(s.Tags),
  };
}
