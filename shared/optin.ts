import type { AuditEvent } from './aws/audit.ts';
import type { InstanceView, SessionView } from './aws/ec2.ts';
import { CLAIM_PREFIX, claimKey, claimsOf, mergeClaims } from './domain/claims.ts';
import type { MirrorIntent } from './domain/intent.ts';
import { alwaysMirrorReason, readOptIn } from './domain/optin.ts';
import { FULL_SCOPE } from './domain/scope.ts';
import type { Reason } from './domain/slots.ts';
import { isManaged, TAG } from './domain/tags.ts';
import type { LaunchTrigger } from './events/launch.ts';
import type { TagTrigger } from './events/tag.ts';
import { type ApplyResult, apply, deleteAll, type MirrorDeps } from './mirror.ts';

/**
 * The tag opt-in (`mirrorops:mirror` on an instance or one of its ENIs) and the mirroring of
 * interfaces as they appear. Tag events are best effort and may come late or twice, so the tag
 * as it is now decides: an event whose value is no longer current does nothing.
 */
export type TagResult =
  | { status: 'mirrored'; value: string; result: ApplyResult }
  | { status: 'stopped'; sessions: string[] }
  | { status: 'superseded'; eventValue: string | null; currentValue: string | null }
  | { status: 'rejected'; reason: string };

const tagKey = (resourceId: string) => `tag:${resourceId}`;

export async function onTagChange(trigger: TagTrigger, deps: MirrorDeps): Promise<TagResult> {
  const { ec2 } = deps;
  let instance: InstanceView | undefined;
  let eniIds: string[];
  let current: string | undefined;
  if (trigger.resourceType === 'instance') {
    instance = await ec2.instance(trigger.resourceId);
    if (!instance || instance.state === 'terminated') {
      return reject(deps, trigger, undefined, `instance ${trigger.resourceId} no longer exists`);
    }
    current = instance.tags[TAG.mirror];
    eniIds = instance.enis.map((e) => e.id);
  } else {
    const eni = await ec2.networkInterface(trigger.resourceId);
    if (!eni)
      return reject(deps, trigger, undefined, `network interface ${trigger.resourceId} no longer exists`);
    current = eni.tags[TAG.mirror];
    instance = eni.instanceId ? await ec2.instance(eni.instanceId) : undefined;
    eniIds = [eni.id];
  }
  if (current !== trigger.value) {
    return { status: 'superseded', eventValue: trigger.value ?? null, currentValue: current ?? null };
  }
  const optIn = readOptIn(current, deps.config.expiry);
  const instanceId = instance?.id ?? trigger.resourceId;
  switch (optIn.kind) {
    case 'invalid':
      return reject(deps, trigger, instanceId, optIn.reason);
    case 'off':
      return {
        status: 'stopped',
        sessions: await release(
          deps,
          instanceId,
          eniIds,
          'tag',
          tagKey(trigger.resourceId),
          'mirrorops:mirror removed',
        ),
      };
    case 'on': {
      if (!instance)
        return reject(
          deps,
          trigger,
          instanceId,
          `network interface ${trigger.resourceId} is not attached to an instance`,
        );
      const result = await apply(
        {
          account: trigger.account,
          region: trigger.region,
          reason: 'tag',
          key: tagKey(trigger.resourceId),
          instanceId: instance.id,
          networkInterfaceIds: eniIds,
          instanceType: instance.type,
          ...(instance.vpcId ? { vpcId: instance.vpcId } : {}),
          scope: FULL_SCOPE,
          startAt: trigger.time,
          lifetimeMs: optIn.lifetimeMs,
          replaceClaim: true,
        },
        deps,
      );
      return { status: 'mirrored', value: current ?? '', result };
    }
  }
}

export interface LaunchResult {
  instances: {
    instanceId: string;
    status: 'mirrored' | 'not watched' | 'rejected';
    why: string;
    result?: ApplyResult;
  }[];
}

/**
 * A new instance or interface: each ENI of a watched instance (tag opt-in, or a VPC, subnet or tag
 * policy says always) that has no session of that reason gets one; existing sessions are left
 * as they are, and a new ENI's session ends with its siblings'.
 */
export async function onLaunch(trigger: LaunchTrigger, deps: MirrorDeps): Promise<LaunchResult> {
  const instances = await deps.ec2.instances(trigger.instanceIds);
  const results = await Promise.all(
    trigger.instanceIds.map(async (id): Promise<LaunchResult['instances'][number]> => {
      const instance = instances.find((i) => i.id === id);
      if (instance?.state !== 'running') {
        return {
          instanceId: id,
          status: 'not watched',
          why: instance ? `instance is ${instance.state}` : 'instance not found',
        };
      }
      const optIn = readOptIn(instance.tags[TAG.mirror], deps.config.expiry);
      if (optIn.kind === 'invalid') {
        await reject(deps, { account: trigger.account, region: trigger.region }, id, optIn.reason);
        return { instanceId: id, status: 'rejected', why: optIn.reason };
      }
      const policy = alwaysMirrorReason(deps.config.alwaysMirror, {
        ...(instance.vpcId ? { vpcId: instance.vpcId } : {}),
        subnetIds: instance.enis.flatMap((e) => (e.subnetId ? [e.subnetId] : [])),
        tags: instance.tags,
      });
      const base = {
        account: trigger.account,
        region: trigger.region,
        instanceId: id,
        networkInterfaceIds: instance.enis.map((e) => e.id),
        instanceType: instance.type,
        ...(instance.vpcId ? { vpcId: instance.vpcId } : {}),
        scope: FULL_SCOPE,
        startAt: trigger.time,
        onlyNew: true,
      } satisfies Partial<MirrorIntent>;
      let intent: MirrorIntent;
      let why: string;
      if (optIn.kind === 'on') {
        intent = {
          ...base,
          reason: 'tag',
          key: tagKey(id),
          lifetimeMs: optIn.lifetimeMs,
          replaceClaim: true,
        };
        why = `tagged mirrorops:mirror=${instance.tags[TAG.mirror]}`;
      } else if (policy) {
        intent = { ...base, reason: 'launch', key: `launch:${id}`, lifetimeMs: deps.config.expiry.defaultMs };
        why = policy;
      } else {
        return {
          instanceId: id,
          status: 'not watched',
          why: 'not tagged mirrorops:mirror and no policy applies',
        };
      }
      return { instanceId: id, status: 'mirrored', why, result: await apply(intent, deps) };
    }),
  );
  return { instances: results };
}

/**
 * Takes a request's claim off the managed sessions of one reason on these ENIs; a session left
 * with no claim is deleted. So `mirrorops:mirror=false` on an instance ends the tag sessions an
 * instance-level tag made, never a GuardDuty session, and never anything mirrorops did not create.
 */
export async function release(
  deps: MirrorDeps,
  instanceId: string,
  eniIds: readonly string[],
  reason: Reason,
  intentKey: string,
  message: string,
): Promise<string[]> {
  const sessions = (await deps.ec2.sessionsOn(eniIds)).filter(
    (s) => isManaged(s.tags) && s.tags[TAG.reason] === reason && s.tags[TAG.instance] === instanceId,
  );
  const key = claimKey(intentKey);
  const stopped: SessionView[] = [];
  await Promise.all(
    sessions.map(async (s) => {
      const others = Object.fromEntries(
        Object.entries(s.tags).filter(([k]) => k.startsWith(CLAIM_PREFIX) && k !== key),
      );
      const remaining = mergeClaims(claimsOf(others));
      if (remaining) {
        await deps.ec2.untag([s.id], [key]);
        await deps.ec2.tag([s.id], { [TAG.expiresAt]: remaining.expiresAt });
        return;
      }
      await deleteAll(deps, [s]);
      stopped.push(s);
    }),
  );
  if (stopped.length > 0) {
    await deps.audit.publish(
      stopped.map(
        (s): AuditEvent => ({
          type: 'Mirror Session Stopped',
          detail: {
            account: deps.account,
            region: deps.region,
            instanceId,
            networkInterfaceId: s.eniId,
            sessionId: s.id,
            sessionNumber: s.number,
            reason,
            intent: intentKey,
            message,
          },
        }),
      ),
    );
  }
  return stopped.map((s) => s.id);
}

async function reject(
  deps: MirrorDeps,
  trigger: { account: string; region: string; resourceId?: string },
  instanceId: string | undefined,
  reason: string,
): Promise<{ status: 'rejected'; reason: string }> {
  await deps.audit.publish([
    {
      type: 'Mirror Request Rejected',
      detail: {
        account: trigger.account,
        region: trigger.region,
        ...(instanceId ? { instanceId } : {}),
        reason: 'tag',
        message: reason,
      },
    },
  ]);
  return { status: 'rejected', reason };
}
