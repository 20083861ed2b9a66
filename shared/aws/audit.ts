import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { TAG } from '../domain/tags.ts';
import type { SessionView } from './ec2.ts';

/** What mirrorops tells the audit bus. `source` is always `mirrorops`. */
export type AuditType =
  | 'Mirror Session Started'
  | 'Mirror Session Extended'
  | 'Mirror Session Stopped'
  | 'Mirror Request Rejected';

export interface AuditDetail {
  account: string;
  region: string;
  instanceId?: string;
  networkInterfaceId?: string;
  sessionId?: string;
  sessionNumber?: number;
  reason?: string;
  findingId?: string;
  intent?: string;
  expiresAt?: string;
  targetId?: string;
  filterId?: string;
  /** Why: the rejection or stop reason in words. */
  message?: string;
}

export interface AuditEvent {
  type: AuditType;
  detail: AuditDetail;
}

/**
 * A managed session deleted, told from what its tags say (its instance, reason and request), with
 * why in `message`; `extra` adds what the teller knows besides (the sweeper: its expiry).
 */
export function sessionStopped(
  where: { account: string; region: string },
  s: SessionView,
  message: string,
  extra: Partial<AuditDetail> = {},
): AuditEvent {
  return {
    type: 'Mirror Session Stopped',
    detail: {
      account: where.account,
      region: where.region,
      ...(s.tags[TAG.instance] ? { instanceId: s.tags[TAG.instance] } : {}),
      networkInterfaceId: s.eniId,
      sessionId: s.id,
      sessionNumber: s.number,
      ...(s.tags[TAG.reason] ? { reason: s.tags[TAG.reason] } : {}),
      ...(s.tags[TAG.intent] ? { intent: s.tags[TAG.intent] } : {}),
      ...extra,
      message,
    },
  };
}

export interface AuditSink {
  /** Publishes; never throws. Returns how many events could not be delivered. */
  publish(events: readonly AuditEvent[]): Promise<number>;
}

const BATCH = 10; // PutEvents takes at most 10 entries

/**
 * Audit events on an EventBridge bus. A failing audit call never undoes or blocks mirroring:
 * failures are logged and counted, not thrown.
 */
export function eventBridgeAudit(
  client: EventBridgeClient,
  busName: string,
  log: (message: string, extra: object) => void = (message, extra) => console.error(message, extra),
): AuditSink {
  return {
    async publish(events) {
      let failed = 0;
      const batches: AuditEvent[][] = [];
      for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH));
      await Promise.all(
        batches.map(async (batch) => {
          try {
            const out = await client.send(
              new PutEventsCommand({
                Entries: batch.map((e) => ({
                  Source: 'mirrorops',
                  DetailType: e.type,
                  Detail: JSON.stringify(e.detail),
                  EventBusName: busName,
                  Resources: [],
                })),
              }),
            );
            failed += out.FailedEntryCount ?? 0;
          } catch (error) {
            failed += batch.length;
            log('audit events not delivered', { error: (error as Error).message, count: batch.length });
          }
        }),
      );
      return failed;
    },
  };
}
