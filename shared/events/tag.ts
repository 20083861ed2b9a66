import * as z from 'zod/mini';
import { TAG } from '../domain/tags.ts';
import { parseOrThrow } from './validation.ts';

/**
 * EventBridge `Tag Change on Resource` for EC2 (tag-policies events,
 * eventbridge-tag-change-on-resource): `resources[0]` is the ARN, `detail.tags` the whole tag set
 * after the change, `detail.changed-tag-keys` the keys added, changed or removed.
 */
const ARN =
  /^arn:aws[a-z-]*:ec2:([a-z0-9-]+):(\d{12}):(instance|network-interface)\/((?:i|eni)-[0-9a-f]{8,17})$/;

export const TagChangeEvent = z.object({
  source: z.literal('aws.tag'),
  'detail-type': z.literal('Tag Change on Resource'),
  account: z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit account id')),
  region: z.string().check(z.minLength(1)),
  time: z.iso.datetime({ offset: true }),
  id: z.optional(z.string()),
  resources: z
    .array(z.string().check(z.regex(ARN, 'must be an EC2 instance or network interface ARN')))
    .check(z.minLength(1)),
  detail: z.object({
    service: z.literal('ec2'),
    'resource-type': z.enum(['instance', 'network-interface']),
    'changed-tag-keys': z.array(z.string()),
    tags: z.record(z.string(), z.string()),
    version: z.optional(z.number()),
  }),
});

export interface TagTrigger {
  account: string;
  region: string;
  time: Date;
  resourceType: 'instance' | 'network-interface';
  resourceId: string;
  /** `mirrorops:mirror` as the event saw it; undefined when the tag was removed. */
  value: string | undefined;
  changed: boolean;
}

export function tagTrigger(event: unknown): TagTrigger {
  const e = parseOrThrow(TagChangeEvent, 'Tag Change on Resource', event);
  const match = ARN.exec(e.resources[0] as string) as RegExpExecArray;
  return {
    account: match[2] as string,
    region: match[1] as string,
    time: new Date(e.time),
    resourceType: e.detail['resource-type'],
    resourceId: match[4] as string,
    value: e.detail.tags[TAG.mirror],
    changed: e.detail['changed-tag-keys'].includes(TAG.mirror),
  };
}
