import { readFile } from 'node:fs/promises';
import {
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { describe, expect, test, vi } from 'vitest';
import { lambdaContext } from '../../cli/lambda.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { ouArnOf } from '../support/accounts.ts';
import type { Definition } from '../support/asl.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { ec2EventFor, findingFor, incident, tagEventFor } from '../support/incident.ts';
import { applianceTargetIn } from '../support/mirroring.ts';
import {
  type CfnTemplate,
  deployHub,
  deploySpoke,
  hubTemplate,
  resolver,
  spokeTemplate,
} from '../support/roles.ts';
import { functionCalls, workflowCalls } from '../support/sdk-calls.ts';
import { LocalRunner } from '../support/stepfunctions.ts';
import { createNetwork, launch, must, type Network } from '../support/topology.ts';

/**
 * Every SDK call mirrorops' code makes (found in the source: test/support/sdk-calls.ts) is run here
 * by the real functions and the workflow, as their deployed roles, and the emulator's record of
 * what it allowed each role must show every one of them; and every action the roles' policies
 * allow must have been used by that role (a permission no code path needs is one too many).
 * A call added to the code without its permission fails the scenario; one added with a
 * permission but no scenario fails the coverage check.
 */
const HUB = '130000000001';
const MEMBER = '130000000002';
const EXTERNAL_ID = 'mirrorops-coverage';
const FUNCTIONS = ['guardduty-finding', 'tag-change', 'instance-launch', 'ttl-sweeper'] as const;

/** Outside the organization: the share reaches it as an invitation its spoke role accepts. */
const OUTSIDER = '130000000003';
const OU = 'ou-abcd-33333333';
const env = useEmulator({
  organization: { managementAccount: HUB, members: [HUB, MEMBER], units: { [OU]: [MEMBER] } },
});

type Handler = (event: unknown, context: Context) => Promise<unknown>;

/**
 * A function's handler as a new Lambda container of it has it: its module loaded anew (new SDK
 * clients, nothing cached), with the environment Lambda gives it, its role's credentials included.
 */
async function container(
  name: (typeof FUNCTIONS)[number],
  environment: Record<string, string>,
): Promise<Handler> {
  for (const key of Object.keys(process.env)) if (key.startsWith('MIRROROPS_')) delete process.env[key];
  Object.assign(process.env, { AWS_REGION: 'us-east-1', MIRROROPS_LOG_LEVEL: 'silent', ...environment });
  vi.resetModules();
  const module = (await import(`../../functions/${name}.ts`)) as { handler: Handler };
  return module.handler;
}

/** The actions each role of a template allows (its Allow statements), by role ARN. */
function allowedByRoles(template: CfnTemplate, account: string, parameters: Record<string, string>) {
  const { resolve, physicalFor } = resolver(template, { account, region: 'us-east-1', parameters });
  const byRole = new Map<string, Set<string>>();
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Role') continue;
    const props = resolve(resource.Properties ?? {}) as {
      Policies?: { PolicyDocument: { Statement: { Effect: string; Action: string | string[] }[] } }[];
    };
    const actions = new Set(
      (props.Policies ?? []).flatMap((p) =>
        p.PolicyDocument.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) => [s.Action].flat()),
      ),
    );
    byRole.set(must(physicalFor(id).attributes.Arn, 'role ARN'), actions);
  }
  return byRole;
}

interface Place {
  account: string;
  ec2: EC2Client;
  network: Network;
}

/** A running instance with `enis` interfaces in the place's subnet. */
async function instanceIn(place: Place, enis: number): Promise<{ instanceId: string; eniIds: string[] }> {
  const launched = await launch(place.ec2, place.network.subnetId);
  const eniIds = [launched.eniId];
  for (let i = 1; i < enis; i++) eniIds.push(await attachEni(place, launched.instanceId, i));
  return { instanceId: launched.instanceId, eniIds };
}

async function attachEni(place: Place, instanceId: string, deviceIndex: number): Promise<string> {
  const eni = await place.ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: place.network.subnetId }));
  const eniId = must(eni.NetworkInterface?.NetworkInterfaceId, 'ENI');
  await place.ec2.send(
    new AttachNetworkInterfaceCommand({
      NetworkInterfaceId: eniId,
      InstanceId: instanceId,
      DeviceIndex: deviceIndex,
    }),
  );
  return eniId;
}

const run = (handler: Handler, event: unknown, name: string) => handler(event, lambdaContext(name, 30));

/**
 * What happens to instances of one account (the hub's own, or a member's through its spoke role):
 * a finding, its repeat (claims), a wider one (another filter), a DNS finding (the resolver, the
 * amazon-dns service), a malformed one (a dead letter); a tag set, an interface attached, the tag
 * removed.
 */
async function story(place: Place, functions: { finding: Handler; tagChange: Handler; launch: Handler }) {
  const host = await instanceIn(place, 2);
  await run(functions.finding, findingFor('network-connection', place, host), 'guardduty-finding');
  const later = new Date(Date.now() + 60_000).toISOString();
  await run(
    functions.finding,
    findingFor('network-connection', place, host, (d) => {
      d.updatedAt = later;
      d.service.count = 2;
    }),
    'guardduty-finding',
  );
  await run(
    functions.finding,
    findingFor('network-connection', place, host, (d) => {
      d.id = 'another-finding';
      const action = d.service.action as { networkConnectionAction: { remoteIpDetails: object } };
      action.networkConnectionAction.remoteIpDetails = { ipAddressV4: '203.0.113.9' };
    }),
    'guardduty-finding',
  );
  const resolverHost = await instanceIn(place, 1);
  await run(functions.finding, findingFor('dns-request', place, resolverHost), 'guardduty-finding');
  const malformed = findingFor('network-connection', place, resolverHost, (d) => {
    d.resource.instanceDetails.instanceId = 42 as unknown as string;
  });
  expect(await run(functions.finding, malformed, 'guardduty-finding')).toMatchObject({ status: 'invalid' });

  const tagged = await instanceIn(place, 1);
  await place.ec2.send(
    new CreateTagsCommand({ Resources: [tagged.instanceId], Tags: [{ Key: TAG.mirror, Value: 'true' }] }),
  );
  await run(functions.tagChange, tagEventFor(place, tagged.instanceId, 'true'), 'tag-change');
  const eniId = await attachEni(place, tagged.instanceId, 1);
  await run(
    functions.launch,
    ec2EventFor('attach-network-interface', place, tagged.instanceId, eniId),
    'instance-launch',
  );
  // An interface of the instance tagged too, then untagged: its claim goes, the instance's stays.
  const primary = must(tagged.eniIds[0], 'primary ENI');
  await place.ec2.send(
    new CreateTagsCommand({ Resources: [primary], Tags: [{ Key: TAG.mirror, Value: '2h' }] }),
  );
  await run(functions.tagChange, tagEventFor(place, primary, '2h'), 'tag-change');
  await place.ec2.send(new DeleteTagsCommand({ Resources: [primary], Tags: [{ Key: TAG.mirror }] }));
  await run(functions.tagChange, tagEventFor(place, primary, undefined), 'tag-change');
  await place.ec2.send(
    new DeleteTagsCommand({ Resources: [tagged.instanceId], Tags: [{ Key: TAG.mirror }] }),
  );
  await run(functions.tagChange, tagEventFor(place, tagged.instanceId, undefined), 'tag-change');
}

describe('every SDK call of the functions and the workflow runs, as its deployed role', () => {
  test('the product end to end as its roles: every call the code makes allowed to a role, every allowed action used', async () => {
    const world = await incident(env.url, {}, { account: HUB });
    const hubAccount = world.account;
    const memberEc2 = ec2For(env.url, MEMBER);
    const member: Place = { account: MEMBER, ec2: memberEc2, network: await createNetwork(memberEc2) };
    await deploySpoke(env.url, {
      account: MEMBER,
      hub: hubAccount,
      externalId: EXTERNAL_ID,
      hubOutputs: world.hub.outputs,
    });

    // --- the workflow shares the target with the member ---------------------------------------------
    const definition = JSON.parse(
      await readFile('statemachines/share-target.asl.json', 'utf8'),
    ) as Definition;
    const runner = new LocalRunner(
      JSON.parse(JSON.stringify(definition).replaceAll('#{AuditBus}', 'mirrorops-audit-test')) as Definition,
      {
        url: env.url,
        hubAccount,
        stateMachineName: 'mirrorops-dev-share-target',
        executionCredentials: () => world.hub.credentials('share-target'),
      },
    );
    const shared = await runner.run({ targetId: world.targetId, accounts: [MEMBER] });
    expect(shared.error).toBeUndefined();
    // And with the OU the member is in (the workflow then waits for RAM to associate the OU).
    const withOu = await runner.run({ targetId: world.targetId, organizationalUnitArn: ouArnOf(HUB, OU) });
    expect(withOu.error).toBeUndefined();
    // And another target with an account outside the organization, the hub deployed to allow it.
    await deploySpoke(env.url, {
      account: OUTSIDER,
      hub: hubAccount,
      externalId: EXTERNAL_ID,
      hubOutputs: world.hub.outputs,
    });
    await deployHub(env.url, {
      account: hubAccount,
      targetId: world.targetId,
      auditBus: 'mirrorops-audit-test',
      parameters: { AllowExternalShares: 'true' },
    });
    const second = await applianceTargetIn(world.ec2, world.network.subnetId);
    const outside = await runner.run({
      targetId: second,
      accounts: [OUTSIDER],
      allowExternal: true,
    });
    expect(outside.error).toBeUndefined();
    expect((outside.output as { accounts: { status: string }[] }).accounts).toEqual([
      expect.objectContaining({ status: 'shared' }),
    ]);

    // --- the functions, as Lambda runs them, in the hub and in the member -----------------------------
    const sqs = new SQSClient({
      endpoint: env.url,
      region: 'us-east-1',
      credentials: { accessKeyId: hubAccount, secretAccessKey: 'test' },
    });
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'mirrorops-dead-letters-test' }));
    const functionsEnv = {
      ...(await world.lambdaEnv('guardduty-finding')),
      MIRROROPS_DLQ_URL: must(QueueUrl, 'queue'),
      MIRROROPS_EXTERNAL_ID: EXTERNAL_ID,
    };
    const functions = {
      finding: await container('guardduty-finding', functionsEnv),
      tagChange: await container('tag-change', functionsEnv),
      launch: await container('instance-launch', functionsEnv),
    };
    await story(world, functions);
    await story(member, functions);

    // --- the finding intake: findings waiting in their band's queues, taken and removed -------------
    const queue = async (name: string) =>
      must((await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl, name);
    const queues = {
      MIRROROPS_FINDINGS_HIGH_URL: await queue('mirrorops-findings-high-dev'),
      MIRROROPS_FINDINGS_LOW_URL: await queue('mirrorops-findings-low-dev'),
    };
    const waiting = findingFor('network-connection', world, await instanceIn(world, 1), (d) => {
      d.id = 'queued-finding';
    });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queues.MIRROROPS_FINDINGS_LOW_URL,
        MessageBody: JSON.stringify(waiting),
      }),
    );
    const intake = await container('guardduty-finding', { ...functionsEnv, ...queues });
    expect(await run(intake, waiting, 'guardduty-finding')).toMatchObject({ applied: 1, deadLettered: 0 });
    // One EC2 keeps failing as the invocation's time ends (it stops taking findings 20 s before):
    // hidden in its queue until its next attempt is due.
    const late = findingFor('network-connection', world, await instanceIn(world, 1), (d) => {
      d.id = 'late-finding';
    });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queues.MIRROROPS_FINDINGS_HIGH_URL,
        MessageBody: JSON.stringify(late),
      }),
    );
    env.emulator.faults.set({ failActions: ['CreateTrafficMirrorSession'] });
    const ending = await intake(late, lambdaContext('guardduty-finding', 20.5));
    env.emulator.faults.set({});
    expect(ending).toMatchObject({ applied: 0, left: 1 });

    // --- the sweeper, a week later, across the enrolled accounts --------------------------------------
    await container('ttl-sweeper', {
      ...(await world.lambdaEnv('ttl-sweeper')),
      MIRROROPS_EXTERNAL_ID: EXTERNAL_ID,
    });
    const [{ sweepFleet }, { loadConfig }, { silentLogger }] = await Promise.all([
      import('../../shared/fleet.ts'),
      import('../../shared/runtime/config.ts'),
      import('../../shared/runtime/log.ts'),
    ]);
    const weekLater = new Date(Date.now() + 8 * 24 * 3_600_000);
    const swept = await sweepFleet(loadConfig(), silentLogger, {
      remainingMs: () => 60_000,
      now: () => weekLater,
    });
    expect(swept.accounts.map((a) => a.account).sort()).toEqual([hubAccount, MEMBER, OUTSIDER].sort());
    expect(swept.accounts.filter((a) => 'error' in a)).toEqual([]);

    // --- the workflow takes the target back -------------------------------------------------------------
    const removed = await runner.run({ targetId: world.targetId, accounts: [MEMBER], mode: 'remove' });
    expect(removed.error).toBeUndefined();

    // --- what the emulator allowed, against what the code calls and what the roles allow ------------
    // The spoke role is one role deployed in every member account: what any of them used counts.
    const roleKey = (arn: string) => (arn.endsWith(':role/mirrorops-spoke') ? 'mirrorops-spoke' : arn);
    const used = new Map<string, Set<string>>();
    for (const [arn, actions] of env.emulator.world.authorizedCalls) {
      const key = roleKey(arn);
      used.set(key, new Set([...(used.get(key) ?? []), ...actions]));
    }
    const usedByAnyRole = new Set([...used.values()].flatMap((actions) => [...actions]));
    const code = new Set(
      (await Promise.all(FUNCTIONS.map((f) => functionCalls(`functions/${f}.ts`)))).flat(),
    );
    // GetCallerIdentity needs no permission (STS API reference) and runs only without MIRROROPS_HUB_ACCOUNT_ID.
    code.delete('sts:GetCallerIdentity');
    expect([...code].filter((call) => !usedByAnyRole.has(call))).toEqual([]);
    for (const call of workflowCalls(definition)) {
      const role = call.asSpoke
        ? 'mirrorops-spoke'
        : must(world.hub.roles.ShareTargetRole, 'machine role').arn;
      expect({ ...call, ran: used.get(role)?.has(call.action) ?? false }).toEqual({ ...call, ran: true });
    }
    // No role allows an action it never used. CloudWatch Logs are written by Lambda and Step
    // Functions, which the emulator does not run.
    // Step Functions itself starts, describes and stops a Distributed Map's child executions as the
    // machine's role, and invokes Lambda functions; the emulator has no Step Functions nor Lambda
    // (the local runner runs the children and the functions: test/workflow/sweep-fleet.test.ts).
    const notRunHere = new Set([
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'ram:AcceptResourceShareInvitation',
      'states:StartExecution',
      'states:DescribeExecution',
      'states:StopExecution',
      'lambda:InvokeFunction',
    ]);
    const granted = new Map([
      ...allowedByRoles(hubTemplate(), hubAccount, { TargetId: world.targetId }),
      ...allowedByRoles(spokeTemplate(), MEMBER, {
        HubAccountId: hubAccount,
        ExternalId: EXTERNAL_ID,
        HubFunctionRoleArns: must(world.hub.outputs.HubFunctionRoleArns, 'output'),
        HubShareTargetRoleArn: must(world.hub.outputs.HubShareTargetRoleArn, 'output'),
        HubEventBusArn: `arn:aws:events:us-east-1:${hubAccount}:event-bus/default`,
      }),
    ]);
    expect(granted.has(`arn:aws:iam::${MEMBER}:role/mirrorops-spoke`)).toBe(true);
    for (const [arn, actions] of granted) {
      const role = roleKey(arn);
      // The spoke's forwarding role is EventBridge's, which the emulator does not run.
      if (arn.endsWith('ForwardRole')) continue;
      const unused = [...actions].filter((a) => !notRunHere.has(a) && !(used.get(role)?.has(a) ?? false));
      expect({ role, unused }).toEqual({ role, unused: [] });
    }
  });
});
