import { readFileSync } from 'node:fs';
import {
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorTargetCommand,
  DescribeTrafficMirrorFiltersCommand,
  DescribeTrafficMirrorSessionsCommand,
  EC2Client,
  type TrafficMirrorFilter,
  type TrafficMirrorSession,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { eventBridgeAudit } from '../../shared/aws/audit.ts';
import { ec2Gateway } from '../../shared/aws/ec2.ts';
import type { MirrorIntent } from '../../shared/domain/intent.ts';
import { findingToIntent } from '../../shared/events/guardduty.ts';
import { Memory } from '../../shared/memory.ts';
import type { MirrorDeps } from '../../shared/mirror.ts';
import { type Config, loadConfig } from '../../shared/runtime/config.ts';
import { silentLogger } from '../../shared/runtime/log.ts';
import type { Keys } from './accounts.ts';
import { ec2For } from './emulator.ts';
import { freshClient } from './mirroring.ts';
import { deployHub, type HubDeployment } from './roles.ts';
import { createNetwork, launch, must, type Network } from './topology.ts';

/** A resource's tags (a session's, a filter's...) as a plain record. */
export const tagsOf = (
  resource: { Tags?: { Key?: string | undefined; Value?: string | undefined }[] | undefined } | undefined,
): Record<string, string> =>
  Object.fromEntries((resource?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));

/** An audit event as the emulator kept it. */
export interface SeenEvent {
  'detail-type': string;
  source: string;
  bus: string;
  detail: Record<string, unknown>;
}

export interface Incident {
  url: string;
  account: string;
  /** The Region the account's network, target and hub stack are in (us-east-1 unless asked). */
  region: string;
  ec2: EC2Client;
  network: Network;
  targetId: string;
  config: Config;
  /** The hub stack's roles in this account; the use cases run as them. */
  hub: HubDeployment;
  /** The use cases' dependencies as the event functions have them: running as their role. */
  deps: (overrides?: Partial<MirrorDeps>) => MirrorDeps;
  /** The same as the sweeper has them: running as its role. */
  sweeperDeps: (overrides?: Partial<MirrorDeps>) => MirrorDeps;
  /** Credentials of the role the event functions run as, for a client of a test's own making. */
  functionKeys: Keys;
  /**
   * The environment of a function as Lambda gives it (its role's credentials) and as the stack
   * configures it, for `mirrorops invoke` against the emulator.
   */
  lambdaEnv(who: 'guardduty-finding' | 'ttl-sweeper'): Promise<Record<string, string>>;
  /** The EC2 client `deps()` gives the use cases (the event functions' role): to watch their requests. */
  functionEc2: EC2Client;
  /**
   * Deploys the stack again for another default target (its roles then allow sessions to that
   * target only) and returns the configuration naming it.
   */
  useTarget(targetId: string): Promise<Config>;
  /** An instance with `enis` interfaces (the primary and enis-1 attached ones). */
  instance(enis?: number, instanceType?: string): Promise<{ instanceId: string; eniIds: string[] }>;
  sessions(): Promise<TrafficMirrorSession[]>;
  filters(): Promise<TrafficMirrorFilter[]>;
  auditEvents(): Promise<SeenEvent[]>;
}

const BUS = 'mirrorops-audit-test';

/**
 * A fresh account on the emulator with a VPC, a subnet, an ENI target and the use cases'
 * dependencies wired to it through the real SDK clients (EC2 and EventBridge over HTTP), in one
 * Region (us-east-1 unless `region`): the hub stack runs in each Region it serves.
 */
export async function incident(
  url: string,
  env: Record<string, string> = {},
  options: { account?: string; region?: string } = {},
): Promise<Incident> {
  const region = options.region ?? 'us-east-1';
  // A fresh account, or the one asked for (an organisation's member, or the same account in another Region).
  const account = options.account ?? freshClient(url).account;
  const ec2 = ec2For(url, account, region);
  const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.0.0/20' });
  const appliance = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }));
  const target = await ec2.send(
    new CreateTrafficMirrorTargetCommand({
      NetworkInterfaceId: must(appliance.NetworkInterface?.NetworkInterfaceId, 'appliance ENI'),
      Description: 'security team capture appliance',
    }),
  );
  const targetId = must(target.TrafficMirrorTarget?.TrafficMirrorTargetId, 'target id');
  const config = loadConfig({
    AWS_REGION: region,
    MIRROROPS_TARGET_ID: targetId,
    MIRROROPS_AUDIT_BUS: BUS,
    ...env,
  });
  // The functions' clients act as the stack's roles (the test's own `ec2` stays the account's root,
  // to build the world and to look at it).
  const hub = await deployHub(url, { account, region, targetId, auditBus: BUS });
  const clientsAs = (credentials: Keys) => {
    const settings = { endpoint: url, region, maxAttempts: 1, credentials };
    return { ec2: new EC2Client(settings), events: new EventBridgeClient(settings) };
  };
  const functionKeys = await hub.credentials('guardduty-finding');
  const functions = clientsAs(functionKeys);
  const sweeper = clientsAs(await hub.credentials('ttl-sweeper'));
  // One container's memory, as the handlers have: invocations of a world share it unless a test
  // gives its own (another container) or none.
  const memory = new Memory();
  const depsAs =
    (clients: { ec2: EC2Client; events: EventBridgeClient }) =>
    (overrides: Partial<MirrorDeps> = {}): MirrorDeps => ({
      account,
      region,
      ec2: ec2Gateway(clients.ec2),
      audit: eventBridgeAudit(clients.events, BUS, () => undefined),
      config,
      now: () => new Date(),
      log: silentLogger,
      memory,
      ...overrides,
    });
  const deps = depsAs(functions);
  const sweeperDeps = depsAs(sweeper);
  return {
    url,
    account,
    region,
    ec2,
    network,
    targetId,
    config,
    hub,
    deps,
    sweeperDeps,
    functionKeys,
    functionEc2: functions.ec2,
    async lambdaEnv(who) {
      const keys = who === 'ttl-sweeper' ? await hub.credentials('ttl-sweeper') : functionKeys;
      return {
        AWS_ENDPOINT_URL: url,
        AWS_REGION: region,
        AWS_ACCESS_KEY_ID: keys.accessKeyId,
        AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
        AWS_SESSION_TOKEN: keys.sessionToken ?? '',
        MIRROROPS_TARGET_ID: targetId,
        MIRROROPS_HUB_ACCOUNT_ID: account,
        MIRROROPS_AUDIT_BUS: BUS,
      };
    },
    async useTarget(other) {
      await deployHub(url, { account, region, targetId: other, auditBus: BUS });
      return { ...config, targetId: other };
    },
    async instance(enis = 1, instanceType = 'm5.large') {
      const launched = await launch(ec2, network.subnetId, instanceType);
      const eniIds = [launched.eniId];
      for (let i = 1; i < enis; i++) {
        const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }));
        const eniId = must(eni.NetworkInterface?.NetworkInterfaceId, 'ENI id');
        await ec2.send(
          new AttachNetworkInterfaceCommand({
            NetworkInterfaceId: eniId,
            InstanceId: launched.instanceId,
            DeviceIndex: i,
          }),
        );
        eniIds.push(eniId);
      }
      return { instanceId: launched.instanceId, eniIds };
    },
    async sessions() {
      return (await ec2.send(new DescribeTrafficMirrorSessionsCommand({}))).TrafficMirrorSessions ?? [];
    },
    async filters() {
      return (await ec2.send(new DescribeTrafficMirrorFiltersCommand({}))).TrafficMirrorFilters ?? [];
    },
    async auditEvents() {
      const response = await fetch(`${url}/_emulator/events?bus=${BUS}`);
      const all = (await response.json()) as (SeenEvent & { account: string; region: string })[];
      return all.filter((e) => e.account === account && e.region === region);
    },
  };
}

const fixtures = new URL('../../events/', import.meta.url);

/** A sample event from events/, cloned, for the test to change. */
export function sampleEvent<T = Record<string, unknown>>(path: string): T {
  return structuredClone(JSON.parse(readFileSync(new URL(path, fixtures), 'utf8')) as T);
}

/** The mirror intent of a GuardDuty finding event; a finding that would be ignored fails the test. */
export function intentOf(event: Record<string, unknown>, config: Config): MirrorIntent {
  const outcome = findingToIntent(event, config);
  if (outcome.kind !== 'mirror') throw new Error(`expected a mirror intent, got: ${outcome.reason}`);
  return outcome.intent;
}

/** A GuardDuty finding fixture pointed at a real instance and its ENIs in the test's account. */
export function findingFor(
  fixture: string,
  world: Pick<Incident, 'account' | 'network'>,
  instance: { instanceId: string; eniIds: string[] },
  change: (detail: GuardDutyDetail) => void = () => undefined,
): Record<string, unknown> {
  const event = sampleEvent<{ account: string; detail: GuardDutyDetail }>(`guardduty/${fixture}.json`);
  const detail = event.detail;
  event.account = world.account;
  detail.accountId = world.account;
  detail.resource.instanceDetails.instanceId = instance.instanceId;
  detail.resource.instanceDetails.networkInterfaces = instance.eniIds.map((networkInterfaceId, i) => ({
    networkInterfaceId,
    vpcId: world.network.vpcId,
    subnetId: world.network.subnetId,
    privateIpAddress: `10.0.0.${10 + i}`,
  }));
  detail.updatedAt = new Date().toISOString();
  change(detail);
  return event;
}

export interface GuardDutyDetail {
  id: string;
  accountId: string;
  severity: number;
  updatedAt: string;
  type: string;
  resource: {
    resourceType: string;
    instanceDetails: {
      instanceId: string;
      instanceType?: string;
      networkInterfaces: {
        networkInterfaceId?: string;
        vpcId?: string;
        subnetId?: string;
        privateIpAddress?: string;
      }[];
    };
  };
  service: { count?: number; action?: Record<string, unknown> };
}

export { ec2For };

/** A tag event fixture pointed at a resource of the test's account, with the tag value it saw. */
export function tagEventFor(
  world: Pick<Incident, 'account'>,
  resourceId: string,
  value: string | undefined,
  time = new Date(),
): Record<string, unknown> {
  const event = sampleEvent<{
    account: string;
    time: string;
    resources: string[];
    detail: { 'resource-type': string; tags: Record<string, string> };
  }>('tag/mirror-true.json');
  const type = resourceId.startsWith('eni-') ? 'network-interface' : 'instance';
  event.account = world.account;
  event.time = time.toISOString();
  event.resources = [`arn:aws:ec2:us-east-1:${world.account}:${type}/${resourceId}`];
  event.detail['resource-type'] = type;
  event.detail.tags = value === undefined ? { Name: 'web-1' } : { Name: 'web-1', 'mirrorops:mirror': value };
  return event;
}

/** An EC2 event fixture (events/ec2/) for an instance of the test's account. */
export function ec2EventFor(
  fixture: string,
  world: Pick<Incident, 'account'>,
  instanceId: string,
  eniId?: string,
): Record<string, unknown> {
  const text = JSON.stringify(sampleEvent(`ec2/${fixture}.json`))
    .replaceAll('i-0123456789abcdef0', instanceId)
    .replaceAll('123456789012', world.account)
    .replaceAll('eni-0123456789abcdef1', eniId ?? 'eni-0123456789abcdef1');
  const event = JSON.parse(text) as Record<string, unknown>;
  event.time = new Date().toISOString();
  return event;
}
