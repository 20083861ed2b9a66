import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { RAMClient } from '@aws-sdk/client-ram';
import type { SQSClient } from '@aws-sdk/client-sqs';

/**
 * SDK clients, created once per Region and reused across invocations. The endpoint comes from
 * AWS_ENDPOINT_URL (the SDK reads it), which is how everything runs against the emulator.
 *
 * EC2 and EventBridge are the finding's path and are imported at start. SQS (the intake queues,
 * the dead-letter queue) and RAM (the fleet's accounts) are imported the first time they are
 * used: a function that never reaches them pays nothing for them at cold start, and one that does
 * pays once, when it first needs them. (STS is loaded by the SDK's own credential provider when a
 * member account's role is first assumed.)
 */
function perRegion<T>(make: (region: string) => T): (region: string) => T {
  const clients = new Map<string, T>();
  return (region) => {
    let client = clients.get(region);
    if (!client) {
      client = make(region);
      clients.set(region, client);
    }
    return client;
  };
}

export const ec2Client = /* @__PURE__ */ perRegion((region) => new EC2Client({ region }));
export const eventBridgeClient = /* @__PURE__ */ perRegion((region) => new EventBridgeClient({ region }));
export const sqsClient = /* @__PURE__ */ perRegion(
  async (region): Promise<SQSClient> => new (await import('@aws-sdk/client-sqs')).SQSClient({ region }),
);
export const ramClient = /* @__PURE__ */ perRegion(
  async (region): Promise<RAMClient> => new (await import('@aws-sdk/client-ram')).RAMClient({ region }),
);
