import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { RAMClient } from '@aws-sdk/client-ram';
import { SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';

/**
 * SDK clients, created once per Region and reused across invocations. The endpoint comes from
 * AWS_ENDPOINT_URL (the SDK reads it), which is how everything runs against the emulator.
 * The pure annotations let a bundle leave out the clients its function never uses.
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
export const sqsClient = /* @__PURE__ */ perRegion((region) => new SQSClient({ region }));
export const stsClient = /* @__PURE__ */ perRegion((region) => new STSClient({ region }));
export const ramClient = /* @__PURE__ */ perRegion((region) => new RAMClient({ region }));
