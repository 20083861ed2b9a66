import * as z from 'zod/mini';
import { lifetimeForSeverity } from '../domain/expiry.ts';
import type { MirrorIntent } from '../domain/intent.ts';
import { FULL_SCOPE, type Scope } from '../domain/scope.ts';
import type { Config } from '../runtime/config.ts';
import { EventValidationError, parseOrThrow } from './validation.ts';

/**
 * The parts of a GuardDuty finding event mirrorops reads (EventBridge `GuardDuty Finding`,
 * guardduty_findings_eventbridge.html). Unknown fields are ignored; the ones read are checked.
 */
const ipv4 = z.ipv4();
const account = z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit account id'));
const region = z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS Region name'));

const RemoteIp = z.optional(z.object({ ipAddressV4: z.optional(ipv4) }));

const Action = z.object({
  actionType: z.optional(z.string()),
  networkConnectionAction: z.optional(
    z.object({
      connectionDirection: z.optional(z.string()),
      protocol: z.optional(z.string()),
      remoteIpDetails: RemoteIp,
    }),
  ),
  portProbeAction: z.optional(
    z.object({
      portProbeDetails: z.optional(z.array(z.object({ remoteIpDetails: RemoteIp })).check(z.maxLength(1000))),
    }),
  ),
  dnsRequestAction: z.optional(z.object({ domain: z.optional(z.string()) })),
});

const Finding = z.object({
  id: z.string().check(z.minLength(1), z.maxLength(256)),
  type: z.string().check(z.minLength(1)),
  severity: z.number().check(z.gte(0), z.lte(10)),
  accountId: account,
  region,
  updatedAt: z.iso.datetime({ offset: true }),
  resource: z.object({
    resourceType: z.string(),
    instanceDetails: z.optional(
      z.object({
        instanceId: z.string().check(z.regex(/^i-[0-9a-f]{8,17}$/, 'must be an EC2 instance id')),
        instanceType: z.optional(z.string()),
        availabilityZone: z.optional(z.string().check(z.maxLength(64))),
        networkInterfaces: z.optional(
          z
            .array(
              z.object({
                networkInterfaceId: z.optional(
                  z.string().check(z.regex(/^eni-[0-9a-f]{8,17}$/, 'must be an ENI id')),
                ),
                vpcId: z.optional(z.string()),
                subnetId: z.optional(z.string()),
                privateIpAddress: z.optional(z.string()),
              }),
            )
            .check(z.maxLength(64)),
        ),
      }),
    ),
  }),
  service: z.optional(
    z.object({
      action: z.optional(Action),
      count: z.optional(z.int().check(z.nonnegative())),
      archived: z.optional(z.boolean()),
    }),
  ),
});

export const GuardDutyFindingEvent = z.object({
  source: z.literal('aws.guardduty'),
  'detail-type': z.literal('GuardDuty Finding'),
  detail: Finding,
});

export type GuardDutyFinding = z.infer<typeof Finding>;

export type FindingOutcome = { kind: 'mirror'; intent: MirrorIntent } | { kind: 'ignore'; reason: string };

/**
 * What the finding says to mirror: the remote address, the probers, DNS, or everything.
 *
 * A DNS finding's filter is the `amazon-dns` network service alone. Traffic with the Amazon DNS
 * server (the VPC's base + 2, 169.254.169.253, fd00:ec2::253) is mirrored only by that service,
 * and by it whatever the filter's rules say ("When a network service is added to the Traffic
 * Mirror filter, all traffic related to that network service will be mirrored":
 * ModifyTrafficMirrorFilterNetworkServices); GuardDuty's DNS findings come from that server's
 * logs. A rule for the resolver's address would add nothing but a read of the VPC for its CIDR,
 * and a wave on the critical path.
 */
export function scopeOf(finding: GuardDutyFinding, policy: Config['scope']): Scope {
  const action = finding.service?.action;
  if (policy === 'full' || !action) return FULL_SCOPE;
  switch (action.actionType) {
    case 'NETWORK_CONNECTION': {
      const remote = action.networkConnectionAction?.remoteIpDetails?.ipAddressV4;
      return remote ? { remotes: [remote], dns: false } : FULL_SCOPE;
    }
    case 'PORT_PROBE': {
      const remotes = (action.portProbeAction?.portProbeDetails ?? [])
        .map((d) => d.remoteIpDetails?.ipAddressV4)
        .filter((ip): ip is string => ip !== undefined);
      return remotes.length > 0 ? { remotes, dns: false } : FULL_SCOPE;
    }
    case 'DNS_REQUEST':
      return { remotes: [], dns: true };
    default:
      return FULL_SCOPE;
  }
}

/** A GuardDuty finding event -> a mirror intent, or why it is not one. Throws EventValidationError. */
export function findingToIntent(event: unknown, config: Config): FindingOutcome {
  const { detail: finding } = parseOrThrow(GuardDutyFindingEvent, 'GuardDuty Finding', event);
  if (finding.resource.resourceType !== 'Instance') {
    return {
      kind: 'ignore',
      reason: `resource type ${finding.resource.resourceType} is not an EC2 instance`,
    };
  }
  const instance = finding.resource.instanceDetails;
  if (!instance) {
    throw new EventValidationError('GuardDuty Finding', [
      { path: 'detail.resource.instanceDetails', message: 'Required for a finding on an Instance' },
    ]);
  }
  if (finding.service?.archived) return { kind: 'ignore', reason: `finding ${finding.id} is archived` };
  if (finding.severity < config.minSeverity) {
    return { kind: 'ignore', reason: `severity ${finding.severity} is below ${config.minSeverity}` };
  }
  const scope = scopeOf(finding, config.scope);
  const enis = instance.networkInterfaces ?? [];
  return {
    kind: 'mirror',
    intent: {
      account: finding.accountId,
      region: finding.region,
      reason: 'guardduty',
      key: finding.id,
      instanceId: instance.instanceId,
      networkInterfaceIds: enis.every((e) => e.networkInterfaceId)
        ? enis.map((e) => e.networkInterfaceId as string)
        : [],
      ...(instance.instanceType ? { instanceType: instance.instanceType } : {}),
      ...(enis[0]?.vpcId ? { vpcId: enis[0].vpcId } : {}),
      ...(instance.availabilityZone ? { availabilityZone: instance.availabilityZone } : {}),
      severity: finding.severity,
      scope,
      startAt: new Date(finding.updatedAt),
      lifetimeMs: lifetimeForSeverity(config.expiry, finding.severity),
      findingId: finding.id,
      findingType: finding.type,
    },
  };
}
