import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  DescribeTrafficMirrorSessionsCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { startEmulator } from '../../emulator/index.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { type Definition, type Json, loadDefinition, validate } from '../support/asl.ts';
import { ec2For } from '../support/emulator.ts';
import { nlbTarget } from '../support/mirroring.ts';
import { deployHub, deploySpoke, hubTemplate, resolver } from '../support/roles.ts';
import { LocalRunner } from '../support/stepfunctions.ts';
import { createNetwork, must } from '../support/topology.ts';

/**
 * Distributed Map states as the local runner runs them (test/support/stepfunctions.ts): each item
 * or batch a child execution with its own context, at most MaxConcurrency at once, the tolerated
 * failure threshold applied; then the share-target workflow over more accounts than its
 * MaxConcurrency, against the emulator.
 */

/** A runner for a definition that makes no AWS call: no emulator, no credentials used. */
const offline = (definition: Definition) =>
  new LocalRunner(definition, {
    url: 'http://127.0.0.1:9',
    hubAccount: '111111111111',
    stateMachineName: 'fanout',
    executionCredentials: async () => ({ accessKeyId: 'unused', secretAccessKey: 'unused' }),
  });

/** A machine with one Distributed Map over $.items, whose children run `processor`. */
function fanout(map: Record<string, Json>, processor: Definition): Definition {
  return {
    StartAt: 'Fan out',
    States: {
      'Fan out': {
        Type: 'Map',
        ItemsPath: '$.items',
        ...map,
        ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' }, ...processor },
        ResultPath: '$.results',
        End: true,
      },
    },
  };
}

/** A child that answers its input, its own execution's name and state machine. */
const echo: Definition = {
  StartAt: 'Echo',
  States: {
    Echo: {
      Type: 'Pass',
      Parameters: {
        'input.$': '$',
        'execution.$': '$$.Execution.Name',
        'machine.$': '$$.StateMachine.Name',
      },
      End: true,
    },
  },
};

/** A child that fails for the item "bad". */
const failsOnBad = {
  StartAt: 'Bad?',
  States: {
    'Bad?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.value', StringEquals: 'bad', Next: 'Fail' }],
      Default: 'Fine',
    },
    Fail: { Type: 'Fail', Error: 'Test.Bad', Cause: 'a bad item' },
    Fine: { Type: 'Pass', End: true },
  },
} as unknown as Definition;

const items = (n: number) => Array.from({ length: n }, (_, i) => `item-${i}`);

describe('a Distributed Map state, run locally', () => {
  test('runs each item as a child execution of its own, the parent context in ItemSelector, at most MaxConcurrency at once', async () => {
    const definition = fanout(
      {
        MaxConcurrency: 7,
        ItemSelector: {
          'value.$': '$$.Map.Item.Value',
          'index.$': '$$.Map.Item.Index',
          'run.$': '$$.Execution.Name',
        },
      },
      echo,
    );
    expect(validate(definition).errorsText('\n')).toBe('');

    const run = await offline(definition).run({ items: items(30) }, 'parent-run');

    expect(run.error).toBeUndefined();
    const results = (run.output as { results: { input: Json; execution: string; machine: string }[] })
      .results;
    expect(results.map((r) => r.input)).toEqual(
      items(30).map((value, index) => ({ value, index, run: 'parent-run' })),
    );
    // Each child is its own execution of the Map's own machine: its $$.Execution is not the parent's.
    const names = results.map((r) => r.execution);
    expect(new Set(names).size).toBe(30);
    expect(names).not.toContain('parent-run');
    expect(new Set(results.map((r) => r.machine))).toEqual(new Set(['fanout/Fan out']));
    expect(run.mapRuns).toEqual([
      { state: 'Fan out', items: 30, children: 30, failed: 0, mostAtOnce: 7, executions: expect.any(Array) },
    ]);
  });

  test('groups items with ItemBatcher: a child per batch, {Items, BatchInput}', async () => {
    const definition = fanout(
      { ItemBatcher: { MaxItemsPerBatch: 4, BatchInput: { 'run.$': '$$.Execution.Name' } } },
      echo,
    );
    expect(validate(definition).errorsText('\n')).toBe('');

    const run = await offline(definition).run({ items: items(10) }, 'batched');

    const results = (run.output as { results: { input: { Items: string[]; BatchInput: Json } }[] }).results;
    expect(results.map((r) => r.input)).toEqual([
      { Items: items(10).slice(0, 4), BatchInput: { run: 'batched' } },
      { Items: items(10).slice(4, 8), BatchInput: { run: 'batched' } },
      { Items: items(10).slice(8), BatchInput: { run: 'batched' } },
    ]);
    expect(run.mapRuns[0]).toMatchObject({ items: 10, children: 3 });
  });

  test('fails with States.ExceedToleratedFailureThreshold past the threshold (none by default), which a Catch can take', async () => {
    const values = ['a', 'bad', 'c', 'd'].map((value) => ({ value }));
    const strict = fanout({}, failsOnBad);
    const run = await offline(strict).run({ items: values });
    expect(run.error).toMatchObject({ name: 'States.ExceedToleratedFailureThreshold' });
    expect(run.mapRuns[0]).toMatchObject({ children: 4, failed: 1 });

    // One in four is 25%: within 25, over 24.
    const tolerant = fanout({ ToleratedFailurePercentage: 25 }, failsOnBad);
    const within = await offline(tolerant).run({ items: values });
    expect(within.error).toBeUndefined();
    expect((within.output as { results: Json[] }).results[1]).toEqual({
      Error: 'Test.Bad',
      Cause: 'a bad item',
    });
    const over = await offline(fanout({ ToleratedFailurePercentage: 24 }, failsOnBad)).run({ items: values });
    expect(over.error?.name).toBe('States.ExceedToleratedFailureThreshold');
    const counted = await offline(fanout({ ToleratedFailureCount: 1 }, failsOnBad)).run({ items: values });
    expect(counted.error).toBeUndefined();

    const caught = fanout({}, failsOnBad);
    const fan = caught.States['Fan out'] as Record<string, Json>;
    fan.Catch = [
      { ErrorEquals: ['States.ExceedToleratedFailureThreshold'], ResultPath: '$.failure', Next: 'Caught' },
    ];
    delete fan.End;
    fan.Next = 'Done';
    caught.States.Done = { Type: 'Succeed' };
    caught.States.Caught = { Type: 'Pass', Result: 'caught', End: true };
    expect(validate(caught).errorsText('\n')).toBe('');
    expect((await offline(caught).run({ items: values })).output).toBe('caught');
  });
});

// ---- share-target over more accounts than its MaxConcurrency -------------------------------------

const HUB = '170000000000';
const MEMBERS = Array.from({ length: 60 }, (_, i) => `1700000001${String(i).padStart(2, '0')}`);
const AUDIT_BUS = 'mirrorops-audit-test';

describe('share-target with 60 accounts, distributed', () => {
  test('onboards every account as a child execution, at most 50 at once; remove stops their sessions and unshares each', async () => {
    const emulator = await startEmulator({
      organization: { managementAccount: HUB, members: [HUB, ...MEMBERS] },
    });
    try {
      const hubEc2 = ec2For(emulator.url, HUB);
      const targetId = await nlbTarget(hubEc2, HUB);
      const hub = await deployHub(emulator.url, { account: HUB, targetId, auditBus: AUDIT_BUS });
      for (const account of MEMBERS) {
        await deploySpoke(emulator.url, {
          account,
          hub: HUB,
          externalId: 'unused-here',
          hubOutputs: hub.outputs,
        });
      }
      const runner = new LocalRunner(loadDefinition('share-target.asl.json', { AuditBus: AUDIT_BUS }), {
        url: emulator.url,
        hubAccount: HUB,
        stateMachineName: 'mirrorops-dev-share-target',
        executionCredentials: () => hub.credentials('share-target'),
      });

      const added = await runner.run({ targetId, accounts: MEMBERS });

      expect(added.error).toBeUndefined();
      const summary = added.output as { complete: boolean; accounts: { account: string; status: string }[] };
      expect(summary.complete).toBe(true);
      expect(summary.accounts.map((a) => [a.account, a.status])).toEqual(MEMBERS.map((a) => [a, 'shared']));
      expect(added.mapRuns).toEqual([
        expect.objectContaining({
          state: 'Onboard accounts',
          items: 60,
          children: 60,
          failed: 0,
          mostAtOnce: 50,
        }),
      ]);
      // Each account was looked from as its own spoke role.
      const looked = added.calls
        .filter((c) => c.state === 'Look from the account' && !c.error)
        .map((c) => c.account);
      expect(new Set(looked)).toEqual(new Set(MEMBERS));

      // A managed session in one member: remove mode deletes it there, and unshares every account.
      const member = must(MEMBERS[17], 'member');
      const ec2 = ec2For(emulator.url, member);
      const network = await createNetwork(ec2);
      const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: network.subnetId }));
      const filter = await ec2.send(new CreateTrafficMirrorFilterCommand({}));
      await ec2.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: eni.NetworkInterface?.NetworkInterfaceId,
          TrafficMirrorTargetId: targetId,
          TrafficMirrorFilterId: filter.TrafficMirrorFilter?.TrafficMirrorFilterId,
          SessionNumber: 10,
          TagSpecifications: [
            { ResourceType: 'traffic-mirror-session', Tags: [{ Key: TAG.managed, Value: 'true' }] },
          ],
        }),
      );

      const removed = await runner.run({ targetId, accounts: MEMBERS, mode: 'remove' });

      expect(removed.error).toBeUndefined();
      const after = removed.output as { complete: boolean; accounts: { account: string; status: string }[] };
      expect(after.accounts.map((a) => [a.account, a.status])).toEqual(MEMBERS.map((a) => [a, 'unshared']));
      expect(removed.mapRuns).toEqual([
        expect.objectContaining({ state: 'Remove accounts', children: 60, failed: 0, mostAtOnce: 50 }),
      ]);
      expect((await ec2.send(new DescribeTrafficMirrorSessionsCommand({}))).TrafficMirrorSessions).toEqual(
        [],
      );
      // One disassociation an account, each with its own token.
      const tokens = removed.calls
        .filter((c) => c.state === 'Disassociate account')
        .map((c) => c.input.ClientToken);
      expect(new Set(tokens).size).toBe(60);
    } finally {
      await emulator.stop();
    }
  }, 60_000);
});

describe("the share-target machine's role, as packaged", () => {
  test('may start child executions of its own machine only, and describe or stop only its executions', () => {
    const template = hubTemplate();
    const role = template.Resources.ShareTargetRole?.Properties as {
      Policies: {
        PolicyDocument: { Statement: { Sid?: string; Action: string | string[]; Resource: unknown }[] };
      }[];
    };
    const statements = role.Policies.flatMap((p) => p.PolicyDocument.Statement);
    const states = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('states:')));
    const { resolve } = resolver(template, { account: '123456789012', region: 'eu-west-1' });
    expect(
      states.map((s) => ({ actions: [s.Action].flat().sort(), resources: [resolve(s.Resource)].flat() })),
    ).toEqual([
      {
        actions: ['states:StartExecution'],
        resources: ['arn:aws:states:eu-west-1:123456789012:stateMachine:mirrorops-dev-share-target'],
      },
      {
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: [
          'arn:aws:states:eu-west-1:123456789012:execution:mirrorops-dev-share-target/*',
          'arn:aws:states:eu-west-1:123456789012:execution:mirrorops-dev-share-target:*',
        ],
      },
    ]);
  });
});
