/**
 * VPC endpoints of type GatewayLoadBalancer and the endpoint services behind them, as a Traffic
 * Mirroring target of type gateway-load-balancer-endpoint needs them. Written from the EC2 API
 * reference (API_CreateVpcEndpointServiceConfiguration, API_CreateVpcEndpoint,
 * API_DescribeVpcEndpoints, API_DeleteVpcEndpoints, API_AcceptVpcEndpointConnections,
 * API_ModifyVpcEndpointServicePermissions) and the PrivateLink guide
 * (vpc/latest/privatelink/gateway-load-balancer-endpoints.html: one subnet an endpoint, an
 * endpoint network interface in it, no security groups; create-endpoint-service-gwlbe.html).
 * Interface and gateway endpoints, and services of Network Load Balancers, are not emulated.
 */

import { randomBytes } from 'node:crypto';
import { loadBalancerOf } from '../elbv2/service.ts';
import { ApiError, invalid, missing } from '../errors.ts';
import { parseForm } from '../query.ts';
import type { EndpointService, RegionState, VpcEndpoint } from '../state.ts';
import type { XmlValue } from '../xml.ts';
import { type Ctx, describe, dryRun, type Handler, idempotent, tagSet, tagsFor } from './context.ts';
import { getSubnet, getVpc, topologyActions } from './topology.ts';

const GWLB_ARN =
  /^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):(\d{12}):loadbalancer\/gwy\/[^/]+\/[0-9a-f]+$/;

const serviceNotFound = (name: string) =>
  new ApiError('InvalidServiceName', `The Vpc Endpoint Service '${name}' does not exist`);

/** The service of this name in the Region, if the caller may connect to it (its owner, or a principal it allowed). */
function connectable(ctx: Ctx, name: string): { owner: RegionState; service: EndpointService } {
  for (const owner of ctx.world.statesIn(ctx.region)) {
    for (const service of owner.endpointServices.values()) {
      if (service.serviceName !== name) continue;
      const allowed =
        owner.account === ctx.account ||
        service.allowedPrincipals.has('*') ||
        service.allowedPrincipals.has(`arn:aws:iam::${ctx.account}:root`);
      if (allowed) return { owner, service };
    }
  }
  throw serviceNotFound(name);
}

function ownService(ctx: Ctx, id: string): EndpointService {
  const service = ctx.state.endpointServices.get(id);
  if (!service) {
    throw new ApiError(
      'InvalidVpcEndpointServiceId.NotFound',
      `The Vpc Endpoint Service Id '${id}' does not exist`,
    );
  }
  return service;
}

const serviceXml = (service: EndpointService): XmlValue => ({
  serviceType: [{ serviceType: 'GatewayLoadBalancer' }],
  serviceId: service.id,
  serviceName: service.serviceName,
  serviceState: 'Available',
  availabilityZoneSet: service.zones,
  acceptanceRequired: service.acceptanceRequired,
  managesVpcEndpoints: false,
  gatewayLoadBalancerArnSet: service.gatewayLoadBalancerArns,
  supportedIpAddressTypeSet: ['ipv4'],
  tagSet: tagSet(service.tags),
});

const endpointXml = (state: RegionState, endpoint: VpcEndpoint): XmlValue => ({
  vpcEndpointId: endpoint.id,
  vpcEndpointType: 'GatewayLoadBalancer',
  vpcId: endpoint.vpcId,
  serviceName: endpoint.serviceName,
  state: endpoint.state,
  routeTableIdSet: [],
  subnetIdSet: [endpoint.subnetId],
  groupSet: [],
  ipAddressType: 'ipv4',
  privateDnsEnabled: false,
  requesterManaged: false,
  networkInterfaceIdSet: [endpoint.networkInterfaceId],
  dnsEntrySet: [],
  creationTimestamp: endpoint.created.toISOString(),
  tagSet: tagSet(endpoint.tags),
  ownerId: state.account,
});

/** The endpoint's network interface, made and removed as EC2's own actions do it (addresses stay consistent). */
function endpointEni(ctx: Ctx, subnetId: string, endpointId: string): string {
  const body = new URLSearchParams({
    SubnetId: subnetId,
    Description: `VPC Endpoint Interface ${endpointId}`,
  });
  const made = topologyActions.CreateNetworkInterface?.({
    ...ctx,
    action: 'CreateNetworkInterface',
    p: parseForm(body.toString()),
  }) as { networkInterface: { networkInterfaceId: string } };
  const eni = ctx.state.networkInterfaces.get(made.networkInterface.networkInterfaceId);
  if (!eni) throw new Error(`endpoint ENI ${made.networkInterface.networkInterfaceId} was not kept`);
  // A Gateway Load Balancer endpoint has no security groups (gateway-load-balancer-endpoints.html).
  eni.securityGroupIds = [];
  eni.interfaceType = 'gateway_load_balancer_endpoint';
  return eni.id;
}

function removeEni(ctx: Ctx, eniId: string): void {
  const body = new URLSearchParams({ NetworkInterfaceId: eniId });
  topologyActions.DeleteNetworkInterface?.({
    ...ctx,
    action: 'DeleteNetworkInterface',
    p: parseForm(body.toString()),
  });
}

/** Every endpoint in the Region (any account) of a service. */
const endpointsOf = (ctx: Ctx, service: EndpointService) =>
  ctx.world
    .statesIn(ctx.region)
    .flatMap((state) => [...state.vpcEndpoints.values()].filter((e) => e.serviceId === service.id));

export const endpointActions: Record<string, Handler> = {
  CreateVpcEndpointServiceConfiguration(ctx) {
    return idempotent(ctx, () => {
      const { p } = ctx;
      if (p.has('NetworkLoadBalancerArn')) {
        throw invalid(
          'Endpoint services of Network Load Balancers are not emulated: give GatewayLoadBalancerArn.',
        );
      }
      const arns = p.strings('GatewayLoadBalancerArn');
      if (arns.length === 0) throw missing('GatewayLoadBalancerArn');
      const zones = new Set<string>();
      for (const arn of arns) {
        const match = GWLB_ARN.exec(arn);
        const lb = match ? loadBalancerOf(ctx.world, ctx.account, ctx.region, arn) : undefined;
        if (!match || match[1] !== ctx.region || match[2] !== ctx.account || lb?.type !== 'gateway') {
          throw new ApiError(
            'InvalidParameter',
            `Gateway Load Balancer '${arn}' does not exist in this account.`,
          );
        }
        for (const zone of lb.zones) zones.add(zone);
      }
      const acceptanceRequired = p.bool('AcceptanceRequired') ?? false;
      const tags = tagsFor(ctx, 'vpc-endpoint-service');
      dryRun(ctx);
      const base = ctx.state.base('vpce-svc');
      const service: EndpointService = {
        ...base,
        serviceName: `com.amazonaws.vpce.${ctx.region}.${base.id}`,
        gatewayLoadBalancerArns: [...new Set(arns)],
        zones: [...zones].sort(),
        acceptanceRequired,
        allowedPrincipals: new Set(),
      };
      for (const [k, v] of tags) service.tags.set(k, v);
      ctx.state.endpointServices.set(service.id, service);
      return { serviceConfiguration: serviceXml(service) };
    });
  },

  DescribeVpcEndpointServiceConfigurations(ctx) {
    const { page, nextToken } = describe(ctx, ctx.state.endpointServices.values(), {
      idsParam: 'ServiceId',
      notFoundCode: 'InvalidVpcEndpointServiceId.NotFound',
      what: 'Vpc Endpoint Service',
      filters: {
        'service-name': (s) => s.serviceName,
        'service-id': (s) => s.id,
        'service-state': () => 'Available',
        'supported-ip-address-types': () => 'ipv4',
      },
    });
    return { serviceConfigurationSet: page.map(serviceXml), nextToken };
  },

  ModifyVpcEndpointServicePermissions(ctx) {
    const service = ownService(ctx, ctx.p.required('ServiceId'));
    const add = ctx.p.strings('AddAllowedPrincipals');
    const remove = ctx.p.strings('RemoveAllowedPrincipals');
    for (const principal of add) {
      if (principal !== '*' && !/^arn:aws[a-z-]*:iam::\d{12}:(root|role\/.+|user\/.+)$/.test(principal)) {
        throw invalid(`Invalid principal ${principal}.`);
      }
    }
    dryRun(ctx);
    for (const principal of add) service.allowedPrincipals.add(principal);
    for (const principal of remove) service.allowedPrincipals.delete(principal);
    return { returnValue: true };
  },

  AcceptVpcEndpointConnections(ctx) {
    const service = ownService(ctx, ctx.p.required('ServiceId'));
    const ids = ctx.p.strings('VpcEndpointId');
    if (ids.length === 0) throw missing('VpcEndpointId');
    dryRun(ctx);
    const pending = new Map(endpointsOf(ctx, service).map((e) => [e.id, e]));
    const unsuccessful: XmlValue[] = [];
    for (const id of ids) {
      const endpoint = pending.get(id);
      if (endpoint?.state === 'pendingAcceptance') endpoint.state = 'available';
      else if (endpoint?.state !== 'available') {
        unsuccessful.push({
          error: {
            code: 'InvalidVpcEndpoint.NotFound',
            message: `The Vpc Endpoint '${id}' is not pending acceptance for service '${service.id}'`,
          },
          resourceId: id,
        });
      }
    }
    return { unsuccessful };
  },

  CreateVpcEndpoint(ctx) {
    return idempotent(ctx, () => {
      const { p } = ctx;
      const type = p.str('VpcEndpointType') ?? 'Gateway';
      if (type !== 'GatewayLoadBalancer') {
        throw invalid(`Endpoints of type ${type} are not emulated: only GatewayLoadBalancer.`);
      }
      const vpc = getVpc(ctx.state, p.required('VpcId'));
      const serviceName = p.required('ServiceName');
      const { owner, service } = connectable(ctx, serviceName);
      const subnetIds = p.strings('SubnetId');
      if (subnetIds.length !== 1) {
        throw new ApiError(
          'InvalidParameter',
          `A Gateway Load Balancer endpoint takes exactly one subnet; ${subnetIds.length} given.`,
        );
      }
      const subnet = getSubnet(ctx.state, subnetIds[0] as string);
      if (subnet.vpcId !== vpc.id) {
        throw new ApiError(
          'InvalidParameter',
          `The subnet '${subnet.id}' does not belong to VPC '${vpc.id}'.`,
        );
      }
      if (!service.zones.includes(subnet.availabilityZone)) {
        throw new ApiError(
          'InvalidParameter',
          `The VPC endpoint service ${serviceName} does not support the availability zone of the subnet: ${subnet.id}.`,
        );
      }
      for (const name of ['SecurityGroupId', 'RouteTableId']) {
        if (p.has(name))
          throw new ApiError(
            'InvalidParameter',
            `${name} is not supported for Gateway Load Balancer endpoints.`,
          );
      }
      const tags = tagsFor(ctx, 'vpc-endpoint');
      dryRun(ctx);
      const id = `vpce-${randomBytes(9).toString('hex').slice(0, 17)}`;
      const endpoint: VpcEndpoint = {
        id,
        seq: ctx.state.nextSeq(),
        tags,
        vpcId: vpc.id,
        subnetId: subnet.id,
        serviceName,
        serviceId: service.id,
        serviceOwner: owner.account,
        state:
          service.acceptanceRequired && owner.account !== ctx.account ? 'pendingAcceptance' : 'available',
        networkInterfaceId: endpointEni(ctx, subnet.id, id),
        created: new Date(),
      };
      ctx.state.vpcEndpoints.set(id, endpoint);
      return { vpcEndpoint: endpointXml(ctx.state, endpoint) };
    });
  },

  DescribeVpcEndpoints(ctx) {
    const { page, nextToken } = describe(ctx, ctx.state.vpcEndpoints.values(), {
      idsParam: 'VpcEndpointId',
      notFoundCode: 'InvalidVpcEndpointId.NotFound',
      what: 'Vpc Endpoint',
      filters: {
        'vpc-endpoint-id': (e) => e.id,
        'vpc-id': (e) => e.vpcId,
        'service-name': (e) => e.serviceName,
        'vpc-endpoint-state': (e) => e.state,
        'vpc-endpoint-type': () => 'GatewayLoadBalancer',
        'ip-address-type': () => 'ipv4',
      },
    });
    return { vpcEndpointSet: page.map((e) => endpointXml(ctx.state, e)), nextToken };
  },

  DeleteVpcEndpoints(ctx) {
    const ids = ctx.p.strings('VpcEndpointId');
    if (ids.length === 0) throw missing('VpcEndpointId');
    dryRun(ctx);
    const unsuccessful: XmlValue[] = [];
    for (const id of new Set(ids)) {
      const endpoint = ctx.state.vpcEndpoints.get(id);
      if (!endpoint) {
        unsuccessful.push({
          error: {
            code: 'InvalidVpcEndpoint.NotFound',
            message: `The Vpc Endpoint Id '${id}' does not exist`,
          },
          resourceId: id,
        });
        continue;
      }
      ctx.state.vpcEndpoints.delete(id);
      removeEni(ctx, endpoint.networkInterfaceId);
    }
    return { unsuccessful };
  },
};
