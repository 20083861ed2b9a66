import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorFilterRuleCommand,
  type CreateTrafficMirrorFilterRuleCommandInput,
  CreateTrafficMirrorSessionCommand,
  type CreateTrafficMirrorSessionCommandInput,
  CreateTrafficMirrorTargetCommand,
  DescribeTrafficMirrorFilterRulesCommand,
  DescribeTrafficMirrorFiltersCommand,
  DescribeTrafficMirrorSessionsCommand,
  DescribeTrafficMirrorTargetsCommand,
  type EC2Client,
  type Filter,
  RunInstancesCommand,
  type TrafficMirrorFilter,
  type TrafficMirrorFilterRule,
  type TrafficMirrorSession,
  type TrafficMirrorTarget,
} from '@aws-sdk/client-ec2';
import { expect } from 'vitest';
import { ec2For } from './emulator.ts';
import { createNetwork, type Launched, must, type Network } from './topology.ts';

let lastAccount = 200_000_000_000;

/**
 * A client for an account no other test uses, so each test starts from an empty account and
 * "nothing changed" is a plain comparison with what the test itself created.
 */
export function freshClient(url: string): { ec2: EC2Client; account: string } {
  const account = String(++lastAccount);
  return { ec2: ec2For(url, account), account };
}

/** Asserts that the call fails with this EC2 error code (the SDK's exception `name`). */
export async function rejectsWith(call: Promise<unknown>, code: string): Promise<void> {
  await expect(call).rejects.toMatchObject({ name: code });
}

/** `count` running instances of one type in the subnet, from a single RunInstances call. */
export async function launchMany(
  ec2: EC2Client,
  subnetId: string,
  count: number,
  instanceType = 'm5.large',
): Promise<Launched[]> {
  const out = await ec2.send(
    new RunInstancesCommand({
      MinCount: count,
      MaxCount: count,
      ImageId: 'ami-12345678',
      InstanceType: instanceType as RunInstancesCommand['input']['InstanceType'],
      SubnetId: subnetId,
    }),
  );
  return must(out.Instances, 'Instances').map((instance) => {
    const primary = instance.NetworkInterfaces?.find((eni) => eni.Attachment?.DeviceIndex === 0);
    return {
      instanceId: must(instance.InstanceId, 'InstanceId'),
      eniId: must(primary?.NetworkInterfaceId, 'the primary NetworkInterfaceId'),
      privateIpAddress: must(instance.PrivateIpAddress, 'PrivateIpAddress'),
    };
  });
}

export async function createFilter(ec2: EC2Client, description?: string): Promise<string> {
  const out = await ec2.send(
    new CreateTrafficMirrorFilterCommand(description === undefined ? {} : { Description: description }),
  );
  return must(out.TrafficMirrorFilter?.TrafficMirrorFilterId, 'TrafficMirrorFilterId');
}

/** A valid rule input (ingress, number 100, accept, all IPv4 traffic) with the given changes. */
export function ruleInput(
  filterId: string,
  changes: Partial<CreateTrafficMirrorFilterRuleCommandInput> = {},
): CreateTrafficMirrorFilterRuleCommandInput {
  return {
    TrafficMirrorFilterId: filterId,
    TrafficDirection: 'ingress',
    RuleNumber: 100,
    RuleAction: 'accept',
    SourceCidrBlock: '0.0.0.0/0',
    DestinationCidrBlock: '0.0.0.0/0',
    ...changes,
  };
}

export async function createRule(
  ec2: EC2Client,
  filterId: string,
  changes: Partial<CreateTrafficMirrorFilterRuleCommandInput> = {},
): Promise<TrafficMirrorFilterRule> {
  const out = await ec2.send(new CreateTrafficMirrorFilterRuleCommand(ruleInput(filterId, changes)));
  return must(out.TrafficMirrorFilterRule, 'TrafficMirrorFilterRule');
}

export async function eniTarget(ec2: EC2Client, eniId: string): Promise<string> {
  const out = await ec2.send(new CreateTrafficMirrorTargetCommand({ NetworkInterfaceId: eniId }));
  return must(out.TrafficMirrorTarget?.TrafficMirrorTargetId, 'TrafficMirrorTargetId');
}

/** A new appliance ENI in the subnet and a traffic mirror target on it. */
export async function applianceTargetIn(ec2: EC2Client, subnetId: string): Promise<string> {
  const appliance = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: subnetId }));
  return eniTarget(ec2, must(appliance.NetworkInterface?.NetworkInterfaceId, 'appliance ENI'));
}

let lastLoadBalancer = 0;

/** An NLB ARN of the account, distinct on each call (the emulator does not model load balancers). */
export function nlbArn(account: string, region = 'us-east-1'): string {
  const id = (++lastLoadBalancer).toString(16).padStart(16, '0');
  return `arn:aws:elasticloadbalancing:${region}:${account}:loadbalancer/net/mirror-${lastLoadBalancer}/${id}`;
}

export async function nlbTarget(ec2: EC2Client, account: string): Promise<string> {
  const out = await ec2.send(
    new CreateTrafficMirrorTargetCommand({ NetworkLoadBalancerArn: nlbArn(account) }),
  );
  return must(out.TrafficMirrorTarget?.TrafficMirrorTargetId, 'TrafficMirrorTargetId');
}

export async function createSession(
  ec2: EC2Client,
  input: CreateTrafficMirrorSessionCommandInput,
): Promise<TrafficMirrorSession> {
  const out = await ec2.send(new CreateTrafficMirrorSessionCommand(input));
  return must(out.TrafficMirrorSession, 'TrafficMirrorSession');
}

/** Every session the account sees, all pages. */
export async function allSessions(ec2: EC2Client, filters: Filter[] = []): Promise<TrafficMirrorSession[]> {
  const out: TrafficMirrorSession[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeTrafficMirrorSessionsCommand({ Filters: filters, MaxResults: 1000, NextToken: token }),
    );
    out.push(...(page.TrafficMirrorSessions ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}

export async function allTargets(ec2: EC2Client, filters: Filter[] = []): Promise<TrafficMirrorTarget[]> {
  const out: TrafficMirrorTarget[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeTrafficMirrorTargetsCommand({ Filters: filters, MaxResults: 1000, NextToken: token }),
    );
    out.push(...(page.TrafficMirrorTargets ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}

export async function allFilters(ec2: EC2Client, filters: Filter[] = []): Promise<TrafficMirrorFilter[]> {
  const out: TrafficMirrorFilter[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeTrafficMirrorFiltersCommand({ Filters: filters, MaxResults: 1000, NextToken: token }),
    );
    out.push(...(page.TrafficMirrorFilters ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}

export async function allRules(ec2: EC2Client, filterId?: string): Promise<TrafficMirrorFilterRule[]> {
  const out: TrafficMirrorFilterRule[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeTrafficMirrorFilterRulesCommand({
        ...(filterId === undefined ? {} : { TrafficMirrorFilterId: filterId }),
        MaxResults: 1000,
        NextToken: token,
      }),
    );
    out.push(...(page.TrafficMirrorFilterRules ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}

export const idsOf = (sessions: TrafficMirrorSession[]) => sessions.map((s) => s.TrafficMirrorSessionId);

/** What most session tests need: a network, a monitored instance, an ENI target and a filter. */
export interface Mirror {
  network: Network;
  source: Launched;
  targetId: string;
  filterId: string;
}

export async function mirrorSetup(ec2: EC2Client, sourceType = 'm5.large'): Promise<Mirror> {
  const network = await createNetwork(ec2);
  const [source, appliance] = await Promise.all([
    launchMany(ec2, network.subnetId, 1, sourceType),
    launchMany(ec2, network.subnetId, 1, 'c5n.xlarge'),
  ]);
  const [targetId, filterId] = await Promise.all([
    eniTarget(ec2, must(appliance[0], 'appliance').eniId),
    createFilter(ec2),
  ]);
  return { network, source: must(source[0], 'source'), targetId, filterId };
}
