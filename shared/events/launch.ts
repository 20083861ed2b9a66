import * as z from 'zod/mini';
import { parseOrThrow } from './validation.ts';

/**
 * The events that can bring a new interface to a watched instance: `EC2 Instance State-change
 * Notification` (running), and CloudTrail `RunInstances` and `AttachNetworkInterface`
 * (AWS API Call via CloudTrail). All become the instances to look at.
 */
const instanceId = z.string().check(z.regex(/^i-[0-9a-f]{8,17}$/, 'must be an EC2 instance id'));
const envelope = {
  account: z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit account id')),
  region: z.string().check(z.minLength(1)),
  time: z.iso.datetime({ offset: true }),
};

const StateChange = z.object({
  ...envelope,
  source: z.literal('aws.ec2'),
  'detail-type': z.literal('EC2 Instance State-change Notification'),
  detail: z.object({ 'instance-id': instanceId, state: z.string() }),
});

const CloudTrail = z.object({
  ...envelope,
  source: z.literal('aws.ec2'),
  'detail-type': z.literal('AWS API Call via CloudTrail'),
  detail: z.object({
    eventName: z.string(),
    errorCode: z.optional(z.string()),
    recipientAccountId: z.optional(z.string()),
    requestParameters: z.nullish(
      z.object({ instanceId: z.optional(instanceId), networkInterfaceId: z.optional(z.string()) }),
    ),
    responseElements: z.nullish(
      z.object({
        instancesSet: z.optional(
          z.object({ items: z.array(z.object({ instanceId })).check(z.maxLength(1000)) }),
        ),
      }),
    ),
  }),
});

export const LaunchEvent = z.discriminatedUnion('detail-type', [StateChange, CloudTrail]);

export interface LaunchTrigger {
  account: string;
  region: string;
  time: Date;
  why: string;
  instanceIds: string[];
}

export type LaunchOutcome = { kind: 'look'; trigger: LaunchTrigger } | { kind: 'ignore'; reason: string };

export function launchTrigger(event: unknown): LaunchOutcome {
  const e = parseOrThrow(LaunchEvent, 'instance launch', event);
  const base = { account: e.account, region: e.region, time: new Date(e.time) };
  if (e['detail-type'] === 'EC2 Instance State-change Notification') {
    if (e.detail.state !== 'running')
      return { kind: 'ignore', reason: `instance state ${e.detail.state} is not running` };
    return { kind: 'look', trigger: { ...base, why: 'running', instanceIds: [e.detail['instance-id']] } };
  }
  const d = e.detail;
  if (d.errorCode) return { kind: 'ignore', reason: `${d.eventName} failed (${d.errorCode})` };
  if (d.eventName === 'RunInstances') {
    const ids = d.responseElements?.instancesSet?.items.map((i) => i.instanceId) ?? [];
    if (ids.length === 0) return { kind: 'ignore', reason: 'RunInstances launched no instance' };
    return { kind: 'look', trigger: { ...base, why: 'RunInstances', instanceIds: ids } };
  }
  if (d.eventName === 'AttachNetworkInterface') {
    const id = d.requestParameters?.instanceId;
    if (!id) return { kind: 'ignore', reason: 'AttachNetworkInterface without an instance id' };
    return { kind: 'look', trigger: { ...base, why: 'AttachNetworkInterface', instanceIds: [id] } };
  }
  return { kind: 'ignore', reason: `${d.eventName} does not add interfaces` };
}
