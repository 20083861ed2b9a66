import type { Scope } from './scope.ts';
import type { Reason } from './slots.ts';

/**
 * A request to mirror one instance, whatever asked for it: everything the use case needs,
 * already validated. Built by shared/events/*, consumed by shared/mirror.ts.
 */
export interface MirrorIntent {
  account: string;
  region: string;
  reason: Reason;
  /** The idempotency key (the finding id, the tag event id...). */
  key: string;
  instanceId: string;
  /** ENIs the event named; when empty, the instance is described to find them. */
  networkInterfaceIds: string[];
  /** The instance type if the event says it, to skip unsupported sources before any call. */
  instanceType?: string;
  vpcId?: string;
  /** The instance's Availability Zone if the event says it: a target in the same zone is preferred. */
  availabilityZone?: string;
  severity?: number;
  scope: Scope;
  /** The event's own time: expiry counts from it, so a redelivered event computes the same expiry. */
  startAt: Date;
  lifetimeMs: number;
  findingId?: string;
  findingType?: string;
  /**
   * This request's claim replaces an earlier claim of the same key instead of adding to it: a tag
   * changed from 8h to 1h moves the expiry in, which a finding's repeat never does.
   */
  replaceClaim?: boolean;
  /** Only ENIs without a session of this reason get one; existing sessions are left as they are. */
  onlyNew?: boolean;
}
