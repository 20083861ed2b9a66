import {
  DeleteTrafficMirrorTargetCommand,
  DescribeTrafficMirrorTargetsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import {
  AssociateResourceShareCommand,
  CreateResourceShareCommand,
  DisassociateResourceShareCommand,
  GetResourceShareInvitationsCommand,
  GetResourceSharesCommand,
} from '@aws-sdk/client-ram';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { type Emulator, startEmulator } from '../../emulator/index.ts';
import {
  associationStatuses,
  iamFor,
  ouArnOf,
  ramFor,
  shareTarget,
  targetArnOf,
  trustPolicy,
} from '../support/accounts.ts';
import {
  allStates,
  type Definition,
  type Json,
  loadDefinition,
  sdkIntegration,
  validate,
} from '../support/asl.ts';
import { ec2For } from '../support/emulator.ts';
import {
  allSessions,
  allTargets,
  createFilter,
  createSession,
  eniTarget,
  idsOf,
  launchMany,
} from '../support/mirroring.ts';
import { deployHub, deploySpoke, type HubDeployment } from '../support/roles.ts';
import { type LocalRun, LocalRunner, type SdkCall } from '../support/stepfunctions.ts';
import { createNetwork, must } from '../support/topology.ts';

const AUDIT_BUS = 'mirrorops-audit-test';
const definition: Definition = loadDefinition('share-target.asl.json', { AuditBus: AUDIT_BUS });
const states = allStates(definition);
const tasks = states.filter(({ state }) => state.Type === 'Task');
/** The waits, in seconds, between looks from a member account (the definition's own list). */
const BACKOFF =
  (definition.States['Read request']?.Parameters as { backoff?: number[] } | undefined)?.backoff ?? [];
const SPOKE_ROLE = "States.Format('arn:{}:iam::{}:role/mirrorops-spoke', $.partition, $.account)";

describe('the share-target definition', () => {
  test('is valid ASL for asl-validator, which refuses a copy with a transition to nowhere', () => {
    const result = validate(definition);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
    const broken = structuredClone(definition);
    const find = broken.States['Find share'];
    if (!find) throw new Error('no Find share state');
    find.Next = 'No such state';
    expect(validate(broken).isValid).toBe(false);
  });

  test('is accepted by aws-local-stepfunctions, which validates paths and ARNs on construction', () => {
    expect(() => new StateMachine(structuredClone(definition) as never)).not.toThrow();
  });

  test('names each state once, so a state name says which call it is', () => {
    const names = states.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
  });

  test('makes only AWS SDK integration calls, those mirrorops needs', () => {
    const calls = new Set(
      tasks.map(({ name, state }) => {
        const call = sdkIntegration(state.Resource ?? '');
        if (!call) throw new Error(`${name}: ${state.Resource} is not an aws-sdk integration`);
        return `${call.service}:${call.action}`;
      }),
    );
    expect([...calls].sort()).toEqual([
      'ec2:DeleteTrafficMirrorSession',
      'ec2:DescribeTrafficMirrorSessions',
      'ec2:DescribeTrafficMirrorTargets',
      'eventbridge:PutEvents',
      'ram:AcceptResourceShareInvitation',
      'ram:AssociateResourceShare',
      'ram:CreateResourceShare',
      'ram:DisassociateResourceShare',
      'ram:GetResourceShareAssociations',
      'ram:GetResourceShareInvitations',
      'ram:GetResourceShares',
    ]);
  });

  test("acts in member accounts as their spoke role and in the hub as the state machine's own role", () => {
    const inMembers = tasks.filter(({ state }) => state.Credentials).map(({ name }) => name);
    expect(inMembers.sort()).toEqual([
      'Accept invitation',
      'Delete session',
      'Find invitations',
      'List more sessions',
      'List sessions',
      'Look from the account',
    ]);
    for (const { state } of tasks.filter(({ state }) => state.Credentials))
      expect(state.Credentials).toEqual({ 'RoleArn.$': SPOKE_ROLE });
    // Sharing and unsharing are the owner's calls: never made as a member account.
    for (const { name, state } of tasks) {
      if (
        /associateResourceShare|createResourceShare|getResourceShares$|getResourceShareAssociations|putEvents/.test(
          state.Resource ?? '',
        )
      )
        expect({ name, credentials: state.Credentials }).toEqual({ name, credentials: undefined });
    }
  });

  test('retries throttling and transient errors of each service, with exponential backoff and a bound', () => {
    const transient: Record<string, string[]> = {
      ec2: ['Ec2.Ec2Exception'],
      ram: ['Ram.ThrottlingException', 'Ram.ServiceUnavailableException', 'Ram.ServerInternalException'],
      eventbridge: ['EventBridge.InternalException', 'EventBridge.EventBridgeException'],
    };
    for (const { name, state } of tasks) {
      const service = sdkIntegration(state.Resource ?? '')?.service ?? '';
      for (const error of transient[service] ?? []) {
        const retrier = state.Retry?.find((r) => r.ErrorEquals.includes(error));
        expect({ name, error, retried: retrier !== undefined }).toEqual({ name, error, retried: true });
        expect(retrier?.BackoffRate).toBeGreaterThanOrEqual(2);
        expect(retrier?.MaxAttempts).toBeGreaterThanOrEqual(3);
        expect(retrier?.MaxAttempts).toBeLessThanOrEqual(6);
      }
    }
  });

  test("turns every failure inside an account into that account's result, with bounded concurrency", () => {
    const perAccount = ['Onboard accounts', 'Remove accounts'];
    for (const mapName of perAccount) {
      // Distributed: a child execution per account (STANDARD: checks wait for minutes), 50 at
      // once, and no child failure tolerated, as every expected failure is a result.
      const map = definition.States[mapName];
      expect({ mapName, processor: map?.ItemProcessor?.ProcessorConfig }).toEqual({
        mapName,
        processor: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
      });
      expect({ mapName, most: map?.MaxConcurrency, tolerated: map?.ToleratedFailurePercentage }).toEqual({
        mapName,
        most: 50,
        tolerated: 0,
      });
      // A child is an execution of its own: $$.Execution is the child's, so the run's name comes in its item.
      expect(JSON.stringify(map?.ItemProcessor)).not.toContain('$$.Execution');
    }
    for (const { name, state, within } of states) {
      const [outer] = within;
      if (!outer || !perAccount.includes(outer)) continue;
      if (within.length === 1 && (state.Type === 'Task' || state.Type === 'Map')) {
        // A failure the state does not handle itself goes to the account's failed result.
        const catchAll = state.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'));
        expect({ name, catches: catchAll?.Next }).toEqual({
          name,
          catches: expect.stringMatching(/failed$/),
        });
      }
      if (within.length === 2) {
        const nested = states.find((s) => s.name === within[1])?.state;
        expect(nested?.Catch?.some((c) => c.ErrorEquals.includes('States.ALL'))).toBe(true);
        expect(nested?.MaxConcurrency ?? 1).toBeLessThanOrEqual(5);
      }
    }
  });

  test('waits for a member account with growing pauses, a bounded number of times', () => {
    const waits = BACKOFF;
    expect(waits.length).toBeGreaterThanOrEqual(5);
    expect(waits.length).toBeLessThanOrEqual(20);
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1] ?? 0);
    const total = waits.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(120);
    expect(total).toBeLessThanOrEqual(15 * 60);
  });

  /**
   * A wait loop with a member account's pauses and bound: a pause after each read but the last, at
   * most one read per entry of the backoff list and one more.
   */
  function expectBoundedWait(what: string, short: string, poll: string) {
    expect(definition.States[`Await ${what}`]?.Parameters).toEqual({
      waits: 0,
      seconds: 0,
      'checks.$': 'States.ArrayLength($.backoff)',
    });
    expect(definition.States[`Back off for ${short}`]?.Parameters).toMatchObject({
      'seconds.$': `States.ArrayGetItem($.backoff, $.${poll}.waits)`,
    });
    expect(definition.States[`Wait for ${short}`]).toMatchObject({
      Type: 'Wait',
      SecondsPath: `$.${poll}.seconds`,
      Next: `Read ${what}`,
    });
  }

  test("waits for an OU's association with a member account's pauses and bound, then reports it", () => {
    expectBoundedWait("the OU's association", 'the OU', 'ouPoll');
    // A later page is read with the same request and the token.
    expect(definition.States["Read more of the OU's association"]?.Parameters).toEqual({
      ...(definition.States["Read the OU's association"]?.Parameters as Record<string, Json>),
      'NextToken.$': '$.ouRead.NextToken',
    });
    // Every way out of the wait records the OU's result; then the accounts listed with a shared OU
    // are checked, and those listed with a failed one are failed at once.
    expect(definition.States['OU shared']).toMatchObject({
      ResultPath: '$.ou',
      Next: 'Accounts listed with the OU?',
    });
    const failed = ['OU association failed', 'OU association ended', 'OU association timed out'];
    for (const name of [...failed, 'OU check failed'])
      expect({ name, ...definition.States[name] }).toMatchObject({
        name,
        ResultPath: '$.ou',
        Next: 'Fail the accounts listed with the OU',
      });
    expect(definition.States['Fail the accounts listed with the OU']).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.request.accounts',
      ResultPath: '$.results',
      Next: 'Tally accounts',
    });
  });

  test("with an OU and no accounts, waits for the target's own association with the same pauses and bound, then reports it", () => {
    expect(definition.States['Accounts listed with the OU?']).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.request.accounts[0]', IsPresent: true, Next: 'Onboard accounts' }],
      Default: "Await the target's association",
    });
    expectBoundedWait("the target's association", 'the target', 'targetPoll');
    expect(definition.States["Read the target's association"]?.Parameters).toEqual({
      AssociationType: 'RESOURCE',
      'ResourceShareArns.$': 'States.Array($.share.arn)',
      'ResourceArn.$': '$.target.arn',
      MaxResults: 500,
    });
    expect(definition.States["Read more of the target's association"]?.Parameters).toEqual({
      ...(definition.States["Read the target's association"]?.Parameters as Record<string, Json>),
      'NextToken.$': '$.targetRead.NextToken',
    });
    const ends = [
      'Target shared',
      'Target association failed',
      'Target association ended',
      'Target association timed out',
      'Target check failed',
    ];
    for (const name of ends)
      expect({ name, ...definition.States[name] }).toMatchObject({
        name,
        ResultPath: '$.targetAssociation',
        Next: 'Onboard accounts',
      });
  });

  test('publishes on the audit bus given at deploy time, as source mirrorops', () => {
    const publish = definition.States['Publish audit event']?.Parameters as {
      Entries: Record<string, string>[];
    };
    expect(publish.Entries).toEqual([
      expect.objectContaining({ EventBusName: AUDIT_BUS, Source: 'mirrorops' }),
    ]);
    expect(() => loadDefinition('share-target.asl.json')).toThrow(/no substitution for #\{AuditBus\}/);
  });
});

// ---- executions against the emulator ------------------------------------------------------------

const MANAGEMENT = '900000000000';
const HUB = '100000000000';
const [A, B, C, OWNER] = ['100000000001', '100000000002', '100000000003', '100000000005'];
const EXTERNAL = '300000000004';
const MACHINE = 'mirrorops-dev-share-target';
const MACHINE_ROLE = 'mirrorops-dev-us-east-1-share-target';
/** An organizational unit of the organisation: A and B are in it, C and OWNER are not. */
const OU = 'ou-abcd-11111111';
const OU_ARN = ouArnOf(MANAGEMENT, OU);

interface Summary {
  mode: string;
  targetId: string;
  resourceShareArn: string | null;
  principals: string[];
  complete: boolean;
  accounts: { account: string; status: string; waits?: number; error?: string; cause?: string }[];
  /** With an OU, in add mode: its association as the run left it. */
  organizationalUnit?: { arn: string; status: string; waits?: number; error?: string; cause?: string };
  /** With an OU shared and no accounts listed: the target's own association as the run left it. */
  targetAssociation?: { arn: string; status: string; waits?: number; error?: string; cause?: string };
}

describe('share-target, run against the emulator', () => {
  let emulator: Emulator;
  let now = 0;
  let runner: LocalRunner;
  let targetId: string;
  let hub: HubDeployment;
  const observers: ((call: SdkCall) => void | Promise<void>)[] = [];
  /** Answers played in the emulator's place (see LocalRunnerOptions.answer); the first that answers wins. */
  const answers: ((call: SdkCall) => Json | undefined | Promise<Json | undefined>)[] = [];

  beforeEach(async () => {
    now = 0;
    observers.length = 0;
    answers.length = 0;
    emulator = await startEmulator({
      organization: {
        managementAccount: MANAGEMENT,
        members: [HUB, A, B, C, OWNER],
        units: { [OU]: [A, B] },
      },
      clock: () => now,
    });
    targetId = await applianceTarget(ec2For(emulator.url, HUB));
    // The hub stack's roles; Step Functions runs the execution as the state machine's.
    hub = await deployHub(emulator.url, { account: HUB, targetId, auditBus: AUDIT_BUS });
    expect(hub.roles.ShareTargetRole?.name).toBe(MACHINE_ROLE);
    const deployment = hub;
    runner = new LocalRunner(definition, {
      url: emulator.url,
      hubAccount: HUB,
      stateMachineName: MACHINE,
      executionCredentials: () => deployment.credentials('share-target'),
      observe: async (call) => {
        for (const observer of observers) await observer(call);
      },
      answer: async (call) => {
        for (const play of answers) {
          const answer = await play(call);
          if (answer !== undefined) return answer;
        }
        return undefined;
      },
    });
  });
  afterEach(async () => {
    await emulator.stop();
  });

  /** A target on an appliance ENI in the account. */
  async function applianceTarget(ec2: EC2Client): Promise<string> {
    const network = await createNetwork(ec2);
    const [appliance] = await launchMany(ec2, network.subnetId, 1, 'c5n.xlarge');
    return eniTarget(ec2, must(appliance, 'appliance').eniId);
  }
  /** The spoke role, made from spoke/mirrorops-spoke.yaml with the hub stack's outputs. */
  async function spokeRole(account: string): Promise<void> {
    await deploySpoke(emulator.url, {
      account,
      hub: HUB,
      externalId: 'mirrorops-test',
      hubOutputs: hub.outputs,
    });
  }
  const summaryOf = (run: LocalRun) => run.output as unknown as Summary;
  const statuses = (run: LocalRun) =>
    Object.fromEntries(summaryOf(run).accounts.map((a) => [a.account, a.status]));
  const auditEvents = () => emulator.world.events.filter((e) => e.bus === AUDIT_BUS);
  const callsTo = (run: LocalRun, state: string) => run.calls.filter((c) => c.state === state);
  const sees = async (account: string) =>
    (
      await allTargets(ec2For(emulator.url, account), [
        { Name: 'traffic-mirror-target-id', Values: [targetId] },
      ])
    ).length === 1;
  async function mirroropsShares() {
    const out = await ramFor(emulator.url, HUB).send(
      new GetResourceSharesCommand({ resourceOwner: 'SELF', name: `mirrorops-${targetId}` }),
    );
    return out.resourceShares ?? [];
  }

  test('onboards three accounts where one has no spoke role; a re-run finishes it, with one share and one association each', async () => {
    await Promise.all([spokeRole(A), spokeRole(B)]);

    const first = await runner.run({ targetId, accounts: [A, B, C] });

    expect(first.error).toBeUndefined();
    expect(statuses(first)).toEqual({ [A]: 'shared', [B]: 'shared', [C]: 'failed' });
    const failed = summaryOf(first).accounts.find((a) => a.account === C);
    expect(failed?.error).toBe('States.TaskFailed');
    expect(failed?.cause).toContain(`arn:aws:iam::${C}:role/mirrorops-spoke`);
    expect(summaryOf(first).complete).toBe(false);
    expect(await sees(A)).toBe(true);
    expect(auditEvents().map((e) => e['detail-type'])).toEqual(['Mirror Target Share Failed']);

    await spokeRole(C);
    const second = await runner.run({ targetId, accounts: [A, B, C] });

    expect(statuses(second)).toEqual({ [A]: 'shared', [B]: 'shared', [C]: 'shared' });
    expect(summaryOf(second)).toMatchObject({
      complete: true,
      resourceShareArn: summaryOf(first).resourceShareArn,
    });
    expect(await sees(C)).toBe(true);
    expect(callsTo(first, 'Create share').length + callsTo(second, 'Create share').length).toBe(1);
    const shares = await mirroropsShares();
    expect(shares.length).toBe(1);
    expect(shares[0]?.allowExternalPrincipals).toBe(false);
    const principals = await associationStatuses(
      ramFor(emulator.url, HUB),
      must(shares[0]?.resourceShareArn, 'arn'),
    );
    expect(principals.map((a) => `${a.associatedEntity} ${a.status}`).sort()).toEqual([
      `${A} ASSOCIATED`,
      `${B} ASSOCIATED`,
      `${C} ASSOCIATED`,
    ]);
    expect(auditEvents().map((e) => e['detail-type'])).toEqual([
      'Mirror Target Share Failed',
      'Mirror Target Shared',
    ]);
  });

  test("enters an account only through a spoke role that trusts the state machine's role itself", async () => {
    // A spoke role trusting the hub's functions only (their role, with their ExternalId): not the workflow.
    await iamFor(emulator.url, A).send(
      new CreateRoleCommand({
        RoleName: 'mirrorops-spoke',
        AssumeRolePolicyDocument: trustPolicy(
          must(hub.roles.EventFunctionsRole, 'events role').arn,
          'the-functions-external-id',
        ),
      }),
    );

    const run = await runner.run({ targetId, accounts: [A] });

    expect(summaryOf(run).accounts).toEqual([
      {
        account: A,
        status: 'failed',
        error: 'States.TaskFailed',
        cause: expect.stringContaining('is not authorized to perform: sts:AssumeRole'),
      },
    ]);
  });

  test('waits until the target is visible from the account: not on the first look, with backoff', async () => {
    await spokeRole(A);

    const run = await runner.run({ targetId, accounts: [A] });

    // RAM completes an association some time after it is made: the first look finds nothing.
    const looks = callsTo(run, 'Look from the account');
    expect(looks.map((c) => c.account)).toEqual([A, A]);
    expect(summaryOf(run).accounts).toEqual([{ account: A, status: 'shared', waits: 1 }]);
  });

  test('gives up on an account after the bounded number of waits, with a failure that says so', async () => {
    await spokeRole(A);
    // The target goes away after the share is made (its association ends), so A never sees it.
    observers.push(async (call) => {
      if (call.state === 'Associate principals')
        await ec2For(emulator.url, HUB).send(
          new DeleteTrafficMirrorTargetCommand({ TrafficMirrorTargetId: targetId }),
        );
    });

    const run = await runner.run({ targetId, accounts: [A] });

    expect(callsTo(run, 'Look from the account').length).toBe(BACKOFF.length + 1);
    expect(summaryOf(run).accounts).toEqual([
      {
        account: A,
        status: 'failed',
        error: 'MirrorOps.TargetNotVisible',
        cause: expect.stringContaining(`after ${BACKOFF.length} waits`),
      },
    ]);
    expect(auditEvents().map((e) => e['detail-type'])).toEqual(['Mirror Target Share Failed']);
  });

  test('retries a throttled EC2 call after backing off, then carries on', async () => {
    await spokeRole(A);
    emulator.faults.set({ throttle: { describe: { burst: 1, perSecond: 1 } } });
    // The hub spends its one token, so the state machine's first Describe is throttled; time
    // moves on only while the retry waits (one second refills the bucket).
    await ec2For(emulator.url, HUB).send(new DescribeTrafficMirrorTargetsCommand({ MaxResults: 5 }));
    observers.push((call) => {
      if (call.error?.cause.includes('Request limit exceeded')) now += 1000;
    });

    const run = await runner.run({ targetId, accounts: [A] });

    const lookups = callsTo(run, 'Look up target');
    expect(lookups.map((c) => c.error?.name ?? 'ok')).toEqual(['Ec2.Ec2Exception', 'ok']);
    expect(lookups[0]?.error?.cause).toMatch(/^Request limit exceeded\. \(Service: Ec2, Status Code: 503/);
    expect(statuses(run)).toEqual({ [A]: 'shared' });
  });

  test('makes no share that accepts outside accounts unless the stack allows it (AllowExternalShares)', async () => {
    await spokeRole(A);

    const run = await runner.run({ targetId, accounts: [A], allowExternal: true });

    const [create] = callsTo(run, 'Create share');
    expect(create?.error?.name).toMatch(/^Ram\./);
    expect(create?.error?.cause).toMatch(/not authorized to perform: ram:CreateResourceShare/);
    expect(await mirroropsShares()).toEqual([]);
  });

  test("accepts the pending invitation of an account outside the organization, as that account's spoke role", async () => {
    // The hub deployed with --param="allowExternalShares=true".
    await deployHub(emulator.url, {
      account: HUB,
      targetId,
      auditBus: AUDIT_BUS,
      parameters: { AllowExternalShares: 'true' },
    });
    await Promise.all([spokeRole(A), spokeRole(EXTERNAL)]);

    const run = await runner.run({ targetId, accounts: [A, EXTERNAL], allowExternal: true });

    expect(statuses(run)).toEqual({ [A]: 'shared', [EXTERNAL]: 'shared' });
    expect(callsTo(run, 'Accept invitation').map((c) => c.account)).toEqual([EXTERNAL]);
    const { resourceShareInvitations = [] } = await ramFor(emulator.url, EXTERNAL).send(
      new GetResourceShareInvitationsCommand({}),
    );
    expect(resourceShareInvitations.map((i) => i.status)).toEqual(['ACCEPTED']);
    expect(await sees(EXTERNAL)).toBe(true);
    expect((await mirroropsShares())[0]?.allowExternalPrincipals).toBe(true);
  });

  test('will not add an outside account to a share made for the organization only', async () => {
    await spokeRole(A);
    await runner.run({ targetId, accounts: [A] });

    const run = await runner.run({ targetId, accounts: [EXTERNAL], allowExternal: true });

    expect(run.error?.name).toBe('MirrorOps.ExternalNotAllowed');
    expect(callsTo(run, 'Associate principals')).toEqual([]);
  });

  test('fails clearly, before any RAM call, for a target that is not owned here or does not exist', async () => {
    const foreign = await applianceTarget(ec2For(emulator.url, OWNER));
    await shareTarget(emulator.url, OWNER, foreign, HUB);

    const notOwned = await runner.run({ targetId: foreign, accounts: [A] });
    const missing = await runner.run({ targetId: 'tmt-0123456789abcdef0', accounts: [A] });

    expect(notOwned.error).toEqual({
      name: 'MirrorOps.TargetNotOwned',
      cause: expect.stringContaining(`${foreign} belongs to account ${OWNER}, not to ${HUB}`),
    });
    expect(missing.error).toEqual({
      name: 'MirrorOps.TargetNotFound',
      cause: `traffic mirror target tmt-0123456789abcdef0 does not exist in account ${HUB} in us-east-1`,
    });
    for (const run of [notOwned, missing]) expect(run.calls.map((c) => c.service)).toEqual(['ec2']);
    expect(auditEvents()).toEqual([]);
  });

  test('refuses a request without a target, without accounts, or with an unknown mode, before any call', async () => {
    for (const input of [
      { accounts: [A] },
      { targetId, accounts: [] },
      { targetId, accounts: [A], mode: 'replace' },
      { targetId, accounts: [A], allowExternal: 'yes' },
      { targetId, organizationalUnitArn: 'ou-1234' },
    ]) {
      const run = await runner.run(input);
      expect({ input, error: run.error?.name, calls: run.calls }).toEqual({
        input,
        error: 'MirrorOps.InvalidRequest',
        calls: [],
      });
    }
  });

  test('remove mode stops only mirrorops sessions on the target, then unshares; an account it cannot enter stays shared', async () => {
    await Promise.all([spokeRole(A), spokeRole(B)]);
    await runner.run({ targetId, accounts: [A, B, C] });
    const member = ec2For(emulator.url, A);
    const network = await createNetwork(member);
    const sources = await launchMany(member, network.subnetId, 3);
    const filterId = await createFilter(member);
    const ownTarget = await applianceTarget(member);
    const session = async (eni: number, target: string, managed: boolean) =>
      must(
        (
          await createSession(member, {
            NetworkInterfaceId: must(sources[eni], 'source').eniId,
            TrafficMirrorTargetId: target,
            TrafficMirrorFilterId: filterId,
            SessionNumber: 1,
            TagSpecifications: managed
              ? [
                  {
                    ResourceType: 'traffic-mirror-session',
                    Tags: [{ Key: 'mirrorops:managed', Value: 'true' }],
                  },
                ]
              : [],
          })
        ).TrafficMirrorSessionId,
        'session id',
      );
    const managedOnTarget = await session(0, targetId, true);
    const unmanagedOnTarget = await session(1, targetId, false);
    const managedElsewhere = await session(2, ownTarget, true);

    const run = await runner.run({ targetId, accounts: [A, C], mode: 'remove' });

    expect(run.error).toBeUndefined();
    expect(statuses(run)).toEqual({ [A]: 'unshared', [C]: 'failed' });
    expect(idsOf(await allSessions(member)).sort()).toEqual([managedElsewhere, unmanagedOnTarget].sort());
    expect(callsTo(run, 'Delete session').map((c) => c.input)).toEqual([
      { TrafficMirrorSessionId: managedOnTarget },
    ]);
    // Sessions first, then the share: A's disassociation comes after its last session call.
    const order = run.calls
      .filter((c) => c.account === A || c.state === 'Disassociate account')
      .map((c) => c.state);
    expect(order.indexOf('Disassociate account')).toBeGreaterThan(order.lastIndexOf('Delete session'));
    expect(callsTo(run, 'Disassociate account').map((c) => c.input.Principals)).toEqual([[A]]);
    const shareArn = must((await mirroropsShares())[0]?.resourceShareArn, 'share');
    const principals = await associationStatuses(ramFor(emulator.url, HUB), shareArn);
    expect(Object.fromEntries(principals.map((a) => [a.associatedEntity, a.status]))).toEqual({
      [A]: 'DISASSOCIATED',
      [B]: 'ASSOCIATED',
      // C was never entered: its association is as the onboarding left it, not ended.
      [C]: expect.stringMatching(/^ASSOCIAT(ING|ED)$/),
    });
    expect(await sees(A)).toBe(false);
    expect(await sees(B)).toBe(true);
    const last = auditEvents().at(-1);
    expect(last?.['detail-type']).toBe('Mirror Target Unshare Failed');
    expect(last?.detail).toMatchObject({ mode: 'remove', complete: false, targetId });
  });

  test('publishes what it did on the audit bus: source mirrorops, the target and share, every account', async () => {
    await Promise.all([spokeRole(A), spokeRole(B)]);

    const added = await runner.run({ targetId, accounts: [A, B] });
    const removed = await runner.run({ targetId, accounts: [A, B], mode: 'remove' });

    const shareArn = summaryOf(added).resourceShareArn;
    expect(auditEvents()).toEqual([
      expect.objectContaining({
        source: 'mirrorops',
        'detail-type': 'Mirror Target Shared',
        account: HUB,
        resources: [`arn:aws:ec2:us-east-1:${HUB}:traffic-mirror-target/${targetId}`, shareArn],
        detail: { ...summaryOf(added), execution: expect.stringContaining(`:execution:${MACHINE}:`) },
      }),
      expect.objectContaining({
        source: 'mirrorops',
        'detail-type': 'Mirror Target Unshared',
        detail: expect.objectContaining({
          mode: 'remove',
          complete: true,
          accounts: [
            { account: A, status: 'unshared' },
            { account: B, status: 'unshared' },
          ],
        }),
      }),
    ]);
    expect(summaryOf(removed).accounts.map((a) => a.status)).toEqual(['unshared', 'unshared']);
  });
  /** How many DescribeTrafficMirrorTargets calls the account makes until it sees the target (at most `bound`). */
  async function looksUntilSeen(account: string, bound = 3): Promise<number | undefined> {
    for (let look = 1; look <= bound; look++) if (await sees(account)) return look;
    return undefined;
  }

  test("shares with an organizational unit given instead of accounts: the OU is the principal, its association and the target's are awaited, and an account of it then sees the target at once", async () => {
    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(run.error).toBeUndefined();
    const summary = summaryOf(run);
    expect(run.output).toEqual({
      mode: 'add',
      targetId,
      resourceShareArn: expect.stringMatching(/^arn:aws:ram:us-east-1:100000000000:resource-share\//),
      principals: [OU_ARN],
      complete: true,
      accounts: [],
      // RAM completes the association later: read ASSOCIATING once, then ASSOCIATED after one wait.
      organizationalUnit: { arn: OU_ARN, status: 'shared', waits: 1 },
      // So does it the target's, made with the share: no account is listed to look for it.
      targetAssociation: { arn: targetArnOf(HUB, targetId), status: 'shared', waits: 1 },
      execution: expect.stringContaining(`:execution:${MACHINE}:`),
    });
    expect(callsTo(run, 'Associate principals').map((c) => c.input.Principals)).toEqual([[OU_ARN]]);
    const read = {
      AssociationType: 'PRINCIPAL',
      ResourceShareArns: [summary.resourceShareArn],
      Principal: OU_ARN,
      MaxResults: 500,
    };
    expect(callsTo(run, "Read the OU's association").map((c) => c.input)).toEqual([read, read]);
    const readTarget = {
      AssociationType: 'RESOURCE',
      ResourceShareArns: [summary.resourceShareArn],
      ResourceArn: targetArnOf(HUB, targetId),
      MaxResults: 500,
    };
    expect(callsTo(run, READ_TARGET).map((c) => c.input)).toEqual([readTarget, readTarget]);
    // No account was listed, so none was entered.
    expect(run.calls.filter((c) => c.account !== HUB)).toEqual([]);
    const principals = await associationStatuses(
      ramFor(emulator.url, HUB),
      must(summary.resourceShareArn, 'arn'),
    );
    expect(principals.map((a) => [a.associatedEntity, a.external, a.status])).toEqual([
      [OU_ARN, false, 'ASSOCIATED'],
    ]);
    // Both associations were ASSOCIATED when the run ended: the OU's accounts see the target at once.
    expect(await looksUntilSeen(A)).toBe(1);
    expect(await sees(B)).toBe(true);
    expect(await looksUntilSeen(C)).toBeUndefined();
    expect(auditEvents()).toEqual([
      expect.objectContaining({ 'detail-type': 'Mirror Target Shared', detail: summary }),
    ]);
  });

  test('shares with an OU and checks the accounts listed with it one by one, as their spoke roles', async () => {
    await Promise.all([spokeRole(A), spokeRole(B)]);

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN, accounts: [A, B] });

    expect(run.error).toBeUndefined();
    expect(summaryOf(run)).toMatchObject({
      principals: [OU_ARN],
      complete: true,
      organizationalUnit: { arn: OU_ARN, status: 'shared' },
    });
    expect(statuses(run)).toEqual({ [A]: 'shared', [B]: 'shared' });
    // Looking from the accounts shows the target is shared: its association is not awaited besides.
    expect(callsTo(run, READ_TARGET)).toEqual([]);
    expect(summaryOf(run).targetAssociation).toBeUndefined();
    expect(callsTo(run, 'Associate principals').map((c) => c.input.Principals)).toEqual([[OU_ARN]]);
    const looks = callsTo(run, 'Look from the account');
    expect([...new Set(looks.map((c) => c.account))].sort()).toEqual([A, B]);
    expect(looks.every((c) => c.error === undefined)).toBe(true);
    expect(await sees(A)).toBe(true);
    expect(await sees(B)).toBe(true);
    expect(await looksUntilSeen(C)).toBeUndefined();
    expect(auditEvents().map((e) => e['detail-type'])).toEqual(['Mirror Target Shared']);
  });

  const READ_OU = "Read the OU's association";
  const READ_MORE = "Read more of the OU's association";
  const READ_TARGET = "Read the target's association";
  const READ_TARGET_MORE = "Read more of the target's association";

  test("waits as long as RAM keeps the OU's association ASSOCIATING, then reports it shared", async () => {
    emulator.world.ram.completeAs(OU_ARN, { status: 'ASSOCIATING' });
    // RAM completes the association after the third read: the fourth finds it ASSOCIATED.
    let reads = 0;
    observers.push((call) => {
      if (call.state === READ_OU && ++reads === 3) emulator.world.ram.completeAs(OU_ARN);
    });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(callsTo(run, READ_OU).length).toBe(4);
    expect(summaryOf(run)).toMatchObject({
      complete: true,
      organizationalUnit: { arn: OU_ARN, status: 'shared', waits: 3 },
    });
    expect(auditEvents().map((e) => e['detail-type'])).toEqual(['Mirror Target Shared']);
  });

  test("reports an OU whose association RAM fails: Share failed, RAM's statusMessage in the output and the audit event; a re-run associates it anew", async () => {
    const reason = 'Emulated failure: the organizational unit could not be associated.';
    emulator.world.ram.completeAs(OU_ARN, { status: 'FAILED', statusMessage: reason });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(run.error).toBeUndefined();
    const summary = summaryOf(run);
    expect(summary).toMatchObject({ mode: 'add', complete: false, principals: [OU_ARN], accounts: [] });
    expect(summary.organizationalUnit).toEqual({
      arn: OU_ARN,
      status: 'failed',
      error: 'MirrorOps.OuAssociationFailed',
      cause: `RAM reports the association of organizational unit ${OU_ARN} with resource share ${summary.resourceShareArn} as FAILED: ${reason}`,
    });
    // ASSOCIATING at the first read, FAILED at the second: no more waiting after that, nor for the target.
    expect(callsTo(run, READ_OU).length).toBe(2);
    expect(callsTo(run, READ_TARGET)).toEqual([]);
    expect(summary.targetAssociation).toBeUndefined();
    expect(auditEvents()).toEqual([
      expect.objectContaining({ 'detail-type': 'Mirror Target Share Failed', detail: summary }),
    ]);
    expect(await looksUntilSeen(A)).toBeUndefined();

    emulator.world.ram.completeAs(OU_ARN);
    const again = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(summaryOf(again)).toMatchObject({
      complete: true,
      resourceShareArn: summary.resourceShareArn,
      organizationalUnit: { arn: OU_ARN, status: 'shared', waits: 1 },
    });
    expect(await looksUntilSeen(A)).toBeLessThanOrEqual(2);
    expect(auditEvents().map((e) => e['detail-type'])).toEqual([
      'Mirror Target Share Failed',
      'Mirror Target Shared',
    ]);
  });

  test("follows RAM's pages to the OU's association: a page without it but with a NextToken is not the end", async () => {
    // RAM may answer a page without the principal asked for, and a NextToken, when the share has
    // many principals (terraform-provider-aws#33985); the emulator filters before paging, so the
    // first page is played here, and the next one is the emulator's association as read now.
    answers.push(async (call) => {
      if (call.state === READ_OU) return { ResourceShareAssociations: [], NextToken: 'page-2' };
      if (call.state !== READ_MORE) return undefined;
      const shareArn = must((call.input.ResourceShareArns as string[])[0], 'share');
      const associations = await associationStatuses(ramFor(emulator.url, HUB), shareArn);
      return {
        ResourceShareAssociations: associations.map((a) => ({
          AssociatedEntity: a.associatedEntity ?? null,
          Status: a.status ?? null,
        })),
      };
    });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(run.calls.filter((c) => c.state === READ_OU || c.state === READ_MORE).map((c) => c.state)).toEqual(
      [READ_OU, READ_MORE, READ_OU, READ_MORE],
    );
    for (const call of callsTo(run, READ_MORE)) expect(call.input).toMatchObject({ NextToken: 'page-2' });
    expect(summaryOf(run)).toMatchObject({
      complete: true,
      organizationalUnit: { arn: OU_ARN, status: 'shared', waits: 1 },
    });
  });

  test("gives up on an OU's association after the bounded number of waits: Share failed, timed out", async () => {
    emulator.world.ram.completeAs(OU_ARN, { status: 'ASSOCIATING' });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(callsTo(run, READ_OU).length).toBe(BACKOFF.length + 1);
    const summary = summaryOf(run);
    expect(summary.complete).toBe(false);
    expect(summary.organizationalUnit).toEqual({
      arn: OU_ARN,
      status: 'failed',
      error: 'MirrorOps.OuAssociationTimedOut',
      cause: expect.stringMatching(`^timed out: .* after ${BACKOFF.length} waits`),
    });
    expect(auditEvents()).toEqual([
      expect.objectContaining({ 'detail-type': 'Mirror Target Share Failed', detail: summary }),
    ]);
  });

  test.each([
    {
      how: 'FAILED',
      fail: () =>
        emulator.world.ram.completeAs(OU_ARN, { status: 'FAILED', statusMessage: 'Emulated failure.' }),
      error: 'MirrorOps.OuAssociationFailed',
    },
    {
      how: 'timed out',
      fail: () => emulator.world.ram.completeAs(OU_ARN, { status: 'ASSOCIATING' }),
      error: 'MirrorOps.OuAssociationTimedOut',
    },
    {
      how: 'unreadable',
      fail: () => emulator.faults.set({ failActions: ['GetResourceShareAssociations'] }),
      error: 'Ram.ServerInternalException',
    },
  ])(
    "fails the accounts listed with an OU whose association ended $how at once, with the OU's reason, without looking from them",
    async ({ fail, error }) => {
      await Promise.all([spokeRole(A), spokeRole(B)]);
      fail();

      const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN, accounts: [A, B] });

      expect(run.error).toBeUndefined();
      const summary = summaryOf(run);
      const ou = must(summary.organizationalUnit, 'organizationalUnit');
      expect(ou).toMatchObject({ arn: OU_ARN, status: 'failed', error });
      const cause = `not checked: the association of organizational unit ${OU_ARN} with resource share ${summary.resourceShareArn} failed (${error}): ${ou.cause}`;
      expect(summary).toMatchObject({
        complete: false,
        accounts: [A, B].map((account) => ({
          account,
          status: 'failed',
          error: 'MirrorOps.OuAssociationFailed',
          cause,
        })),
      });
      // No account was entered: no look, no wait for one.
      expect(run.calls.filter((c) => c.account !== HUB)).toEqual([]);
      expect(callsTo(run, READ_TARGET)).toEqual([]);
      expect(auditEvents()).toEqual([
        expect.objectContaining({ 'detail-type': 'Mirror Target Share Failed', detail: summary }),
      ]);
    },
  );

  test("reports RAM's message for an OU's association FAILED in each account listed with it", async () => {
    await spokeRole(A);
    emulator.world.ram.completeAs(OU_ARN, { status: 'FAILED', statusMessage: 'Emulated failure.' });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN, accounts: [A] });

    expect(summaryOf(run).accounts).toEqual([
      {
        account: A,
        status: 'failed',
        error: 'MirrorOps.OuAssociationFailed',
        cause: expect.stringMatching(
          /^not checked: .* failed \(MirrorOps\.OuAssociationFailed\): RAM reports .* as FAILED: Emulated failure\.$/,
        ),
      },
    ]);
    expect(callsTo(run, 'Look from the account')).toEqual([]);
  });

  test("retries RAM's transient errors reading the OU's association, then reports the OU failed with the last one", async () => {
    emulator.faults.set({ failActions: ['GetResourceShareAssociations'] });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    const reads = callsTo(run, READ_OU);
    const retrier = definition.States[READ_OU]?.Retry?.[0];
    expect(reads.map((c) => c.error?.name)).toEqual(
      Array(1 + (retrier?.MaxAttempts ?? 0)).fill('Ram.ServerInternalException'),
    );
    expect(run.error).toBeUndefined();
    expect(summaryOf(run)).toMatchObject({
      complete: false,
      organizationalUnit: {
        arn: OU_ARN,
        status: 'failed',
        error: 'Ram.ServerInternalException',
        cause: expect.stringContaining('(Service: Ram, Status Code: 500'),
      },
    });
    expect(auditEvents().map((e) => e['detail-type'])).toEqual(['Mirror Target Share Failed']);
  });

  // ---- an OU without accounts: the target's own association ----------------------------------

  test("waits as long as RAM keeps the target's association ASSOCIATING, then reports it shared; an account of the OU then sees the target at once", async () => {
    const targetArn = targetArnOf(HUB, targetId);
    emulator.world.ram.completeAs(targetArn, { status: 'ASSOCIATING' });
    // RAM completes it after the third read: the fourth finds it ASSOCIATED.
    let reads = 0;
    observers.push((call) => {
      if (call.state === READ_TARGET && ++reads === 3) emulator.world.ram.completeAs(targetArn);
    });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(run.error).toBeUndefined();
    expect(callsTo(run, READ_TARGET).length).toBe(4);
    // The target is read once the OU is ASSOCIATED, not before.
    const reading = run.calls.filter((c) => c.action === 'GetResourceShareAssociations').map((c) => c.state);
    expect(reading).toEqual([READ_OU, READ_OU, READ_TARGET, READ_TARGET, READ_TARGET, READ_TARGET]);
    const summary = summaryOf(run);
    expect(summary).toMatchObject({
      complete: true,
      organizationalUnit: { arn: OU_ARN, status: 'shared', waits: 1 },
      targetAssociation: { arn: targetArn, status: 'shared', waits: 3 },
    });
    expect(auditEvents()).toEqual([
      expect.objectContaining({ 'detail-type': 'Mirror Target Shared', detail: summary }),
    ]);
    expect(await looksUntilSeen(A)).toBe(1);
  });

  test("reports a target whose association with the share RAM fails: Share failed, RAM's statusMessage in the output and the audit event", async () => {
    const targetArn = targetArnOf(HUB, targetId);
    const reason = 'Emulated failure: the resource could not be associated.';
    emulator.world.ram.completeAs(targetArn, { status: 'FAILED', statusMessage: reason });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(run.error).toBeUndefined();
    const summary = summaryOf(run);
    expect(summary).toMatchObject({
      mode: 'add',
      complete: false,
      accounts: [],
      organizationalUnit: { arn: OU_ARN, status: 'shared' },
    });
    expect(summary.targetAssociation).toEqual({
      arn: targetArn,
      status: 'failed',
      error: 'MirrorOps.TargetAssociationFailed',
      cause: `RAM reports the association of traffic mirror target ${targetArn} with resource share ${summary.resourceShareArn} as FAILED: ${reason}`,
    });
    // ASSOCIATING at the first read, FAILED at the second.
    expect(callsTo(run, READ_TARGET).length).toBe(2);
    expect(auditEvents()).toEqual([
      expect.objectContaining({ 'detail-type': 'Mirror Target Share Failed', detail: summary }),
    ]);
    expect(await looksUntilSeen(A)).toBeUndefined();
  });

  test('reports a target whose association ended without a reason (removed from the share): a run does not associate it again', async () => {
    const targetArn = targetArnOf(HUB, targetId);
    // Someone takes the target out of mirrorops' share after it was made.
    await runner.run({ targetId, organizationalUnitArn: OU_ARN });
    const shareArn = must((await mirroropsShares())[0]?.resourceShareArn, 'share');
    await ramFor(emulator.url, HUB).send(
      new DisassociateResourceShareCommand({ resourceShareArn: shareArn, resourceArns: [targetArn] }),
    );

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(summaryOf(run)).toMatchObject({
      complete: false,
      organizationalUnit: { status: 'shared' },
      targetAssociation: {
        arn: targetArn,
        status: 'failed',
        error: 'MirrorOps.TargetAssociationFailed',
        cause: expect.stringMatching(
          `^RAM reports the association of traffic mirror target ${targetArn} with resource share ${shareArn} as DISASSOCIATED, without a reason; .* associate the target with the share again in RAM`,
        ),
      },
    });
    expect(callsTo(run, READ_TARGET).length).toBe(1);
  });

  test("gives up on the target's association after the bounded number of waits: Share failed, timed out", async () => {
    emulator.world.ram.completeAs(targetArnOf(HUB, targetId), { status: 'ASSOCIATING' });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(callsTo(run, READ_TARGET).length).toBe(BACKOFF.length + 1);
    const summary = summaryOf(run);
    expect(summary.complete).toBe(false);
    expect(summary.organizationalUnit).toMatchObject({ status: 'shared' });
    expect(summary.targetAssociation).toEqual({
      arn: targetArnOf(HUB, targetId),
      status: 'failed',
      error: 'MirrorOps.TargetAssociationTimedOut',
      cause: expect.stringMatching(`^timed out: .* after ${BACKOFF.length} waits`),
    });
    expect(auditEvents()).toEqual([
      expect.objectContaining({ 'detail-type': 'Mirror Target Share Failed', detail: summary }),
    ]);
  });

  test("follows RAM's pages to the target's association: a page without it but with a NextToken is not the end", async () => {
    // As for the OU: the first page is played here, the next is the emulator's association as read now.
    answers.push(async (call) => {
      if (call.state === READ_TARGET) return { ResourceShareAssociations: [], NextToken: 'page-2' };
      if (call.state !== READ_TARGET_MORE) return undefined;
      const shareArn = must((call.input.ResourceShareArns as string[])[0], 'share');
      const associations = await associationStatuses(ramFor(emulator.url, HUB), shareArn, 'RESOURCE');
      return {
        ResourceShareAssociations: associations.map((a) => ({
          AssociatedEntity: a.associatedEntity ?? null,
          Status: a.status ?? null,
        })),
      };
    });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    expect(
      run.calls.filter((c) => c.state === READ_TARGET || c.state === READ_TARGET_MORE).map((c) => c.state),
    ).toEqual([READ_TARGET, READ_TARGET_MORE, READ_TARGET, READ_TARGET_MORE]);
    for (const call of callsTo(run, READ_TARGET_MORE))
      expect(call.input).toMatchObject({ ResourceArn: targetArnOf(HUB, targetId), NextToken: 'page-2' });
    expect(summaryOf(run)).toMatchObject({
      complete: true,
      targetAssociation: { status: 'shared', waits: 1 },
    });
  });

  test("retries RAM's transient errors reading the target's association, then reports it failed with the last one", async () => {
    // The OU's association completes at its second read; RAM fails every read after that.
    let ouReads = 0;
    observers.push((call) => {
      if (call.state === READ_OU && ++ouReads === 2)
        emulator.faults.set({ failActions: ['GetResourceShareAssociations'] });
    });

    const run = await runner.run({ targetId, organizationalUnitArn: OU_ARN });

    const retrier = definition.States[READ_TARGET]?.Retry?.[0];
    expect(callsTo(run, READ_TARGET).map((c) => c.error?.name)).toEqual(
      Array(1 + (retrier?.MaxAttempts ?? 0)).fill('Ram.ServerInternalException'),
    );
    expect(run.error).toBeUndefined();
    expect(summaryOf(run)).toMatchObject({
      complete: false,
      organizationalUnit: { status: 'shared' },
      targetAssociation: {
        arn: targetArnOf(HUB, targetId),
        status: 'failed',
        error: 'Ram.ServerInternalException',
        cause: expect.stringContaining('(Service: Ram, Status Code: 500'),
      },
    });
    expect(auditEvents().map((e) => e['detail-type'])).toEqual(['Mirror Target Share Failed']);
  });
});

describe("the emulator's RAM, made to fail or stall an association as these runs need", () => {
  let emulator: Emulator;
  beforeEach(async () => {
    emulator = await startEmulator({
      organization: { managementAccount: MANAGEMENT, members: [HUB, A, B], units: { [OU]: [A, B] } },
    });
  });
  afterEach(async () => {
    await emulator.stop();
  });

  async function shareWithOu(): Promise<{ shareArn: string; targetId: string }> {
    const ec2 = ec2For(emulator.url, HUB);
    const network = await createNetwork(ec2);
    const [appliance] = await launchMany(ec2, network.subnetId, 1, 'c5n.xlarge');
    const targetId = await eniTarget(ec2, must(appliance, 'appliance').eniId);
    const { resourceShare } = await ramFor(emulator.url, HUB).send(
      new CreateResourceShareCommand({
        name: 'ou-share',
        resourceArns: [`arn:aws:ec2:us-east-1:${HUB}:traffic-mirror-target/${targetId}`],
        principals: [OU_ARN],
      }),
    );
    return { shareArn: must(resourceShare?.resourceShareArn, 'share'), targetId };
  }
  const ouReads = async (shareArn: string, reads: number) => {
    const out: string[] = [];
    for (let i = 0; i < reads; i++) {
      const [association] = await associationStatuses(ramFor(emulator.url, HUB), shareArn);
      out.push(`${association?.status}${association?.statusMessage ? `: ${association.statusMessage}` : ''}`);
    }
    return out;
  };

  test('FAILED at the read that would complete it, with the statusMessage given; associating again starts it anew', async () => {
    emulator.world.ram.completeAs(OU_ARN, { status: 'FAILED', statusMessage: 'no' });
    const { shareArn, targetId } = await shareWithOu();

    expect(await ouReads(shareArn, 3)).toEqual(['ASSOCIATING', 'FAILED: no', 'FAILED: no']);
    const inA = await allTargets(ec2For(emulator.url, A), [
      { Name: 'traffic-mirror-target-id', Values: [targetId] },
    ]);
    expect(inA).toEqual([]);

    emulator.world.ram.completeAs(OU_ARN);
    const { resourceShareAssociations = [] } = await ramFor(emulator.url, HUB).send(
      new AssociateResourceShareCommand({ resourceShareArn: shareArn, principals: [OU_ARN] }),
    );
    expect(resourceShareAssociations.map((a) => [a.status, a.statusMessage])).toEqual([
      ['ASSOCIATING', undefined],
    ]);
    expect(await ouReads(shareArn, 2)).toEqual(['ASSOCIATING', 'ASSOCIATED']);
  });

  test('held ASSOCIATING however often read, until released', async () => {
    emulator.world.ram.completeAs(OU_ARN, { status: 'ASSOCIATING' });
    const { shareArn } = await shareWithOu();

    expect(await ouReads(shareArn, 5)).toEqual(Array(5).fill('ASSOCIATING'));
    emulator.world.ram.completeAs(OU_ARN);
    expect(await ouReads(shareArn, 1)).toEqual(['ASSOCIATED']);
  });
});
