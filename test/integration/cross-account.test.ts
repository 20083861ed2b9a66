import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorTargetCommand,
  DescribeTrafficMirrorSessionsCommand,
  DescribeTrafficMirrorTargetsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateResourceShareCommand, RAMClient } from '@aws-sdk/client-ram';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { TAG } from '../../shared/domain/tags.ts';
import { findingToIntent } from '../../shared/events/guardduty.ts';
import { loadConfig } from '../../shared/runtime/config.ts';
import { silentLogger } from '../../shared/runtime/log.ts';
import { type Keys, ouArnOf } from '../support/accounts.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { findingFor, type GuardDutyDetail } from '../support/incident.ts';
import { deployHub, deploySpoke, type HubDeployment } from '../support/roles.ts';
import { createNetwork, launch, must } from '../support/topology.ts';

// One hub (the security account), three member accounts: A is onboarded (spoke role and share),
// B has the spoke role but was never onboarded, C has no spoke role at all.
const HUB = '100000000001';
const A = '100000000002';
const B = '100000000003';
const C = '100000000004';
/** In an organizational unit the target is shared with, not listed by account anywhere. */
const D = '100000000005';
const OU = 'ou-abcd-22222222';
const EXTERNAL_ID = 'mirrorops-4f1c2e';
const REGION = 'us-east-1';

const env = useEmulator({
  organization: { managementAccount: HUB, members: [HUB, A, B, C, D], units: { [OU]: [D] } },
});

const credentials = (account: string) => ({ accessKeyId: account, secretAccessKey: 'test' });
const ram = (account: string) =>
  new RAMClient({ endpoint: env.url, region: REGION, credentials: credentials(account) });

let targetId: string;
const members: Record<string, { ec2: EC2Client; vpcId: string; subnetId: string }> = {};

let stack: HubDeployment;
/** A member's spoke role, made from spoke/mirrorops-spoke.yaml with the hub stack's outputs. */
async function spokeRole(account: string) {
  await deploySpoke(env.url, { account, hub: HUB, externalId: EXTERNAL_ID, hubOutputs: stack.outputs });
}

/**
 * The product's modules as a Lambda container of `who` has them: loaded anew (new SDK clients, no
 * cached credentials) with the role's credentials in the environment, as Lambda gives them.
 */
async function container(keys: Keys) {
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_SESSION_TOKEN: keys.sessionToken,
  });
  vi.resetModules();
  const [{ apply }, { mirrorDeps }, { sweepFleet }, { Accounts }, { ec2Gateway }] = await Promise.all([
    import('../../shared/mirror.ts'),
    import('../../shared/runtime/deps.ts'),
    import('../../shared/fleet.ts'),
    import('../../shared/aws/accounts.ts'),
    import('../../shared/aws/ec2.ts'),
  ]);
  return { apply, mirrorDeps, sweepFleet, Accounts, ec2Gateway };
}
const functions = async () => container(await stack.credentials('guardduty-finding'));
const sweeper = async () => container(await stack.credentials('ttl-sweeper'));

beforeAll(async () => {
  // The hub Lambdas' environment: the emulator as AWS (their credentials: see container()).
  Object.assign(process.env, { AWS_ENDPOINT_URL: env.url, AWS_REGION: REGION });
  const hub = ec2For(env.url, HUB);
  const network = await createNetwork(hub);
  const appliance = await hub.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }));
  const target = await hub.send(
    new CreateTrafficMirrorTargetCommand({
      NetworkInterfaceId: appliance.NetworkInterface?.NetworkInterfaceId,
    }),
  );
  targetId = must(target.TrafficMirrorTarget?.TrafficMirrorTargetId, 'target id');
  stack = await deployHub(env.url, { account: HUB, targetId, auditBus: 'mirrorops-audit-cross' });
  for (const account of [A, B, C, D]) {
    const ec2 = ec2For(env.url, account);
    members[account] = { ec2, ...(await createNetwork(ec2)) };
  }
  await spokeRole(A);
  await spokeRole(B);
  await spokeRole(D);
  // Onboard A: share the hub's target with it (what the share-target workflow does).
  const share = await ram(HUB).send(
    new CreateResourceShareCommand({
      name: `mirrorops-${targetId}`,
      resourceArns: [`arn:aws:ec2:${REGION}:${HUB}:traffic-mirror-target/${targetId}`],
      principals: [A, ouArnOf(HUB, OU)],
      allowExternalPrincipals: false,
      tags: [{ key: TAG.managed, value: 'true' }],
    }),
  );
  expect(share.resourceShare?.resourceShareArn).toBeDefined();
  // RAM completes the association asynchronously: wait, as the workflow does, until A sees the target.
  const a = ec2For(env.url, A);
  let visible = false;
  for (let reads = 0; reads < 10 && !visible; reads++) {
    const out = await a.send(new DescribeTrafficMirrorTargetsCommand({}));
    visible = (out.TrafficMirrorTargets ?? []).some((t) => t.TrafficMirrorTargetId === targetId);
  }
  expect(visible).toBe(true);
  const d = ec2For(env.url, D);
  let visibleInD = false;
  for (let reads = 0; reads < 10 && !visibleInD; reads++) {
    const out = await d.send(new DescribeTrafficMirrorTargetsCommand({}));
    visibleInD = (out.TrafficMirrorTargets ?? []).some((t) => t.TrafficMirrorTargetId === targetId);
  }
  expect(visibleInD).toBe(true);
});

function config() {
  return loadConfig({
    MIRROROPS_TARGET_ID: targetId,
    MIRROROPS_HUB_ACCOUNT_ID: HUB,
    MIRROROPS_EXTERNAL_ID: EXTERNAL_ID,
    MIRROROPS_AUDIT_BUS: 'mirrorops-audit-cross',
    AWS_REGION: REGION,
  });
}

async function findingIn(account: string) {
  const member = must(members[account], 'member');
  const instance = await launch(member.ec2, member.subnetId);
  const event = findingFor(
    'network-connection',
    { account, network: { vpcId: member.vpcId, subnetId: member.subnetId, securityGroupId: '' } },
    { instanceId: instance.instanceId, eniIds: [instance.eniId] },
    (d: GuardDutyDetail) => {
      d.id = `finding-in-${account}`;
    },
  );
  const outcome = findingToIntent(event, config());
  if (outcome.kind !== 'mirror') throw new Error(outcome.reason);
  return { instance, intent: outcome.intent };
}

describe('across accounts', () => {
  test("a finding in member A mirrors in A to the hub's shared target; the sweeper removes it in A at expiry", async () => {
    const { instance, intent } = await findingIn(A);
    const { apply, mirrorDeps } = await functions();
    const result = await apply(intent, await mirrorDeps(config(), A, REGION, silentLogger));
    expect(result.outcomes).toEqual([expect.objectContaining({ status: 'started' })]);

    const inA =
      (await must(members[A], 'A').ec2.send(new DescribeTrafficMirrorSessionsCommand({})))
        .TrafficMirrorSessions ?? [];
    expect(inA).toHaveLength(1);
    expect(inA[0]).toMatchObject({
      NetworkInterfaceId: instance.eniId,
      TrafficMirrorTargetId: targetId,
      OwnerId: A,
    });
    // Nothing was created in the hub's own account.
    const inHub =
      (await ec2For(env.url, HUB).send(new DescribeTrafficMirrorSessionsCommand({}))).TrafficMirrorSessions ??
      [];
    expect(inHub.filter((s) => s.OwnerId === HUB)).toHaveLength(0);

    const later = new Date(Date.now() + 7 * 24 * 3_600_000);
    const { sweepFleet } = await sweeper();
    const swept = await sweepFleet(config(), silentLogger, { remainingMs: () => 60_000, now: () => later });
    expect(swept.accounts.map((a) => a.account).sort()).toEqual([HUB, A].sort());
    const forA = swept.accounts.find((a) => a.account === A);
    expect(forA).toMatchObject({ result: { deleted: [inA[0]?.TrafficMirrorSessionId] } });
    expect(
      (await must(members[A], 'A').ec2.send(new DescribeTrafficMirrorSessionsCommand({})))
        .TrafficMirrorSessions,
    ).toEqual([]);
  });

  test('an account enrolled through an organizational unit is mirrored and swept too', async () => {
    const { intent } = await findingIn(D);
    const { apply, mirrorDeps } = await functions();
    const result = await apply(intent, await mirrorDeps(config(), D, REGION, silentLogger));
    expect(result.outcomes).toEqual([expect.objectContaining({ status: 'started' })]);
    const later = new Date(Date.now() + 7 * 24 * 3_600_000);
    // The share names the OU, not D: the hub finds D by the session D created on its target.
    const { sweepFleet } = await sweeper();
    const swept = await sweepFleet(config(), silentLogger, { remainingMs: () => 60_000, now: () => later });
    expect(swept.accounts.map((a) => a.account)).toContain(D);
    expect(
      (await must(members[D], 'D').ec2.send(new DescribeTrafficMirrorSessionsCommand({})))
        .TrafficMirrorSessions,
    ).toEqual([]);
  });

  test('an account never onboarded is rejected, naming the missing share', async () => {
    const { intent } = await findingIn(B);
    const { apply, mirrorDeps } = await functions();
    const result = await apply(intent, await mirrorDeps(config(), B, REGION, silentLogger));
    expect(result.outcomes).toEqual([
      expect.objectContaining({ status: 'rejected', reason: expect.stringContaining(`not shared with it`) }),
    ]);
    expect(result.outcomes[0]).toMatchObject({ reason: expect.stringContaining(targetId) });
  });

  test('an account mirrorops cannot enter (no spoke role) is rejected, not retried forever', async () => {
    const { intent } = await findingIn(C);
    const { apply, mirrorDeps } = await functions();
    const result = await apply(intent, await mirrorDeps(config(), C, REGION, silentLogger));
    expect(result.rejected).toMatch(new RegExp(`cannot act in account ${C}`));
  });

  test('without an ExternalId configured, member accounts are refused with the reason', async () => {
    const { intent } = await findingIn(A);
    const noExternalId = loadConfig({
      MIRROROPS_TARGET_ID: targetId,
      MIRROROPS_HUB_ACCOUNT_ID: HUB,
      AWS_REGION: REGION,
    });
    const { apply, mirrorDeps, Accounts, ec2Gateway } = await functions();
    const accounts = new Accounts({
      hubAccount: HUB,
      spokeRoleName: 'mirrorops-spoke',
      externalId: undefined,
    });
    const deps = await mirrorDeps(noExternalId, HUB, REGION, silentLogger);
    const result = await apply(intent, {
      ...deps,
      account: A,
      ec2: ec2Gateway(await accounts.ec2(A, REGION)),
    });
    expect(result.rejected).toMatch(/MIRROROPS_EXTERNAL_ID is not set/);
  });
});
