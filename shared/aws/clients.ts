import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';

/**
 * SDK clients, created once per Region and reused across invocations. The endpoint comes from
 * AWS_ENDPOINT_URL (the SDK reads it), which is how everything runs against the emulator.
 */
const ec2Clients = new Map<string, EC2Client>();
const eventClients = new Map<string, EventBridgeClient>();
const sqsClients = new Map<string, SQSClient>();

export function ec2Client(region: string): EC2Client {
  let client = ec2Clients.get(region);
  if (!client) {
    client = new EC2Client({ region });
    ec2Clients.set(region, client);
  }
  return client;
}

export function eventBridgeClient(region: string): EventBridgeClient {
  let client = eventClients.get(region);
  if (!client) {
    client = new EventBridgeClient({ region });
    eventClients.set(region, client);
  }
  return client;
}

export function sqsClient(region: string): SQSClient {
  let client = sqsClients.get(region);
  if (!client) {
    client = new SQSClient({ region });
    sqsClients.set(region, client);
  }
  return client;
}
