import {
  DescribeTrafficMirrorSessionsCommand,
  DescribeTrafficMirrorTargetsCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateResourceShareCommand } from '@aws-sdk/client-ram';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { expect, test } from 'vitest';
import { eventBridgeAudit } from '../../shared/aws/audit.ts';
import { ec2Gateway } from '../../shared/aws/ec2.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { apply } from '../../shared/mirror.ts';
import { loadConfig } from '../../shared/runtime/config.ts';
import { silentLogger } from '../../shared/runtime/log.ts';
import { ec2With, keysFrom, ramFor, stsFor, targetArnOf } from '../support/accounts.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { findingFor, intentOf, tagsOf } from '../support/incident.ts';
import { applianceTargetIn } from '../support/mirroring.ts';
import { deployHub, deployRoles, type HubDeployment, spokeTemplate } from '../support/roles.ts';
import { createNetwork, launch, must } from '../support/topology.ts';

/**
 * A member account served by a hub in two Regions (issue 15): the spoke template deployed in both
 * Regions of the member (a StackSet over Regions, one set of parameters) makes the role once, in
 * RoleRegion's stack, and that one role lets each Region's hub mirror the member there.
 */
const HUB = '100000000201';
const MEMBER = '100000000202';
/** A member whose spoke names the Regions it is served in: us-east-1 only. */
const NARROW = '100000000203';
const EAST = 'us-east-1';
const WEST = 'eu-west-1';
const EXTERNAL_ID = 'mirrorops-regions-7d1';
const BUS = 'mirrorops-audit-regions';

const env = useEmulator({ organization: { managementAccount: HUB, members: [HUB, MEMBER, NARROW] } });

test("one spoke role, made by RoleRegion's stack, serves every Region's hub: a eu-west-1 finding in a member account gets a session on the hub's eu-west-1 target", async () => {
  // The hub: a target and the stack in each Region.
  const hubs: Record<string, { targetId: string; stack: HubDeployment }> = {};
  for (const region of [EAST, WEST]) {
    const ec2 = ec2For(env.url, HUB, region);
    const network = await createNetwork(ec2);
    const targetId = await applianceTargetIn(ec2, network.subnetId);
    hubs[region] = {
      targetId,
      stack: await deployHub(env.url, { account: HUB, region, targetId, auditBus: BUS }),
    };
  }
  const east = must(hubs[EAST], EAST);
  const west = must(hubs[WEST], WEST);
  const output = (hub: { stack: HubDeployment }, name: string) => must(hub.stack.outputs[name], name);

  // The spoke in both Regions of the member, with the same parameters: every hub Region's roles.
  const parameters = {
    HubAccountId: HUB,
    ExternalId: EXTERNAL_ID,
    RoleRegion: EAST,
    HubFunctionRoleArns: [east, west].map((h) => output(h, 'HubFunctionRoleArns')).join(','),
    HubShareTargetRoleArn: [east, west].map((h) => output(h, 'HubShareTargetRoleArn')).join(','),
  };
  const made: Record<string, string[]> = {};
  for (const region of [EAST, WEST]) {
    made[region] = Object.keys(
      await deployRoles(env.url, spokeTemplate(), { account: MEMBER, region, parameters }),
    );
  }
  expect(made).toEqual({ [EAST]: ['SpokeRole', 'ForwardRole'], [WEST]: ['ForwardRole'] });

  // The hub's eu-west-1 target shared with the member in eu-west-1 (RAM is regional).
  await ramFor(env.url, HUB, WEST).send(
    new CreateResourceShareCommand({
      name: `mirrorops-${west.targetId}`,
      resourceArns: [targetArnOf(HUB, west.targetId, WEST)],
      principals: [MEMBER],
      allowExternalPrincipals: false,
      tags: [{ key: TAG.managed, value: 'true' }],
    }),
  );
  const member = ec2For(env.url, MEMBER, WEST);
  let visible = false;
  for (let reads = 0; reads < 10 && !visible; reads++) {
    const out = await member.send(new DescribeTrafficMirrorTargetsCommand({}));
    visible = (out.TrafficMirrorTargets ?? []).some((t) => t.TrafficMirrorTargetId === west.targetId);
  }
  expect(visible).toBe(true);
  const network = await createNetwork(member);
  const instance = await launch(member, network.subnetId);

  // The eu-west-1 hub's functions, in the member through its spoke role, in eu-west-1.
  const functionKeys = await west.stack.credentials('guardduty-finding');
  const assumed = await stsFor(env.url, functionKeys, WEST).send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${MEMBER}:role/mirrorops-spoke`,
      RoleSessionName: 'mirrorops',
      ExternalId: EXTERNAL_ID,
    }),
  );
  const config = loadConfig({
    AWS_REGION: WEST,
    MIRROROPS_TARGETS_BY_REGION: JSON.stringify({ [EAST]: east.targetId, [WEST]: west.targetId }),
    MIRROROPS_HUB_ACCOUNT_ID: HUB,
    MIRROROPS_EXTERNAL_ID: EXTERNAL_ID,
    MIRROROPS_AUDIT_BUS: BUS,
  });
  const event = findingFor(
    'network-connection',
    { account: MEMBER, network },
    { instanceId: instance.instanceId, eniIds: [instance.eniId] },
    (detail) => {
      detail.id = 'finding-member-west';
      (detail as unknown as { region: string }).region = WEST;
    },
  );
  event.region = WEST;

  const result = await apply(intentOf(event, config), {
    account: MEMBER,
    region: WEST,
    ec2: ec2Gateway(ec2With(env.url, keysFrom(assumed.Credentials), WEST)),
    audit: eventBridgeAudit(
      new EventBridgeClient({ endpoint: env.url, region: WEST, maxAttempts: 1, credentials: functionKeys }),
      BUS,
      () => undefined,
    ),
    config,
    now: () => new Date(),
    log: silentLogger,
  });

  expect(result.outcomes.map((o) => o.status)).toEqual(['started']);
  const sessions =
    (await member.send(new DescribeTrafficMirrorSessionsCommand({}))).TrafficMirrorSessions ?? [];
  expect(
    sessions.map((s) => [s.NetworkInterfaceId, s.TrafficMirrorTargetId, tagsOf(s)[TAG.managed]]),
  ).toEqual([[instance.eniId, west.targetId, 'true']]);
  // Nothing in the member's other Region.
  const inEast = await ec2For(env.url, MEMBER, EAST).send(new DescribeTrafficMirrorSessionsCommand({}));
  expect(inEast.TrafficMirrorSessions ?? []).toEqual([]);
});

test('a spoke deployed with Regions lets the hub act in those Regions only: elsewhere every EC2 call is refused', async () => {
  const ec2 = ec2For(env.url, HUB, EAST);
  const targetId = await applianceTargetIn(ec2, (await createNetwork(ec2)).subnetId);
  const hub = await deployHub(env.url, { account: HUB, region: EAST, targetId, auditBus: BUS });
  const output = (name: string) => must(hub.outputs[name], name);
  await deployRoles(env.url, spokeTemplate(), {
    account: NARROW,
    region: EAST,
    parameters: {
      HubAccountId: HUB,
      ExternalId: EXTERNAL_ID,
      HubFunctionRoleArns: output('HubFunctionRoleArns'),
      HubShareTargetRoleArn: output('HubShareTargetRoleArn'),
      Regions: EAST,
    },
  });
  const assumed = await stsFor(env.url, await hub.credentials('guardduty-finding'), EAST).send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${NARROW}:role/mirrorops-spoke`,
      RoleSessionName: 'mirrorops',
      ExternalId: EXTERNAL_ID,
    }),
  );
  const keys = keysFrom(assumed.Credentials);
  const read = (region: string) =>
    ec2With(env.url, keys, region).send(new DescribeTrafficMirrorSessionsCommand({}));

  await expect(read(EAST)).resolves.toMatchObject({ TrafficMirrorSessions: [] });
  await expect(read(WEST)).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
});
