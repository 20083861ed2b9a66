import { parseDuration } from './duration.ts';

/**
 * What the `mirrorops:mirror` tag on an instance asks for. `true` mirrors with the policy's
 * default lifetime, renewed while the tag stays; a duration (`30m`, `4h`, `2d`) mirrors that long
 * from when it was set, capped by the maximum; `false` or no tag stops mirroring. Anything else is
 * refused and changes nothing, so a typo never starts or stops a capture.
 */
export type OptIn =
  | { kind: 'on'; lifetimeMs: number; renew: boolean }
  | { kind: 'off' }
  | { kind: 'invalid'; value: string; reason: string };

export function readOptIn(value: string | undefined, defaults: { defaultMs: number; maxMs: number }): OptIn {
  if (value === undefined) return { kind: 'off' };
  const text = value.trim().toLowerCase();
  if (text === 'false') return { kind: 'off' };
  if (text === 'true')
    return { kind: 'on', lifetimeMs: Math.min(defaults.defaultMs, defaults.maxMs), renew: true };
  const ms = parseDuration(text);
  if (ms === undefined) {
    return {
      kind: 'invalid',
      value,
      reason: `mirrorops:mirror='${value}' is not true, false or a duration such as 30m, 4h or 2d`,
    };
  }
  return { kind: 'on', lifetimeMs: Math.min(ms, defaults.maxMs), renew: false };
}

/** Instances that policy says must always be mirrored: by VPC, subnet or tag (`*` any value). */
export interface AlwaysMirror {
  vpcIds: readonly string[];
  subnetIds: readonly string[];
  tags: readonly { key: string; value: string }[];
}

export const NO_ALWAYS_MIRROR: AlwaysMirror = { vpcIds: [], subnetIds: [], tags: [] };

/** Why policy mirrors this instance, or undefined when it does not. */
export function alwaysMirrorReason(
  policy: AlwaysMirror,
  instance: { vpcId?: string; subnetIds: readonly string[]; tags: Readonly<Record<string, string>> },
): string | undefined {
  if (instance.vpcId && policy.vpcIds.includes(instance.vpcId))
    return `VPC ${instance.vpcId} is always mirrored`;
  const subnet = instance.subnetIds.find((s) => policy.subnetIds.includes(s));
  if (subnet) return `subnet ${subnet} is always mirrored`;
  const tag = policy.tags.find(
    (t) => t.key in instance.tags && (t.value === '*' || instance.tags[t.key] === t.value),
  );
  if (tag) return `instances tagged ${tag.key}=${tag.value} are always mirrored`;
  return undefined;
}
