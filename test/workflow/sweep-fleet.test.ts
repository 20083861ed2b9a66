import type { Context } from 'aws-lambda';
import { describe, expect, test } from 'vitest';
import { lambdaContext } from '../../cli/lambda.ts';
import { allStates, type Definition, type Json, loadDefinition, validate } from '../support/asl.ts';
import { useEmulator } from '../support/emulator.ts';
import { buildFleet, enterSweeper, memberState } from '../support/fleet.ts';
import { hubTemplate, resolver, serviceCredentials } from '../support/roles.ts';
import { LocalRunner } from '../support/stepfunctions.ts';

/**
 * The sweep-fleet workflow (statemachines/sweep-fleet.asl.json): the enrolled accounts listed by
 * the sweeper, fanned out in batches by a Distributed Map, each batch one invocation of the real
 * ttl-sweeper handler as the deployed SweeperRole, entering members through their spoke roles.
 */
const SWEEPER = 'mirrorops-dev-ttl-sweeper';
const definition = loadDefinition('sweep-fleet.asl.json', { TtlDashsweeperLambdaFunction: SWEEPER });

const HUB = '180000000000';
const ROLELESS = '180000000999';
const healthy = Array.from({ length: 12 }, (_, i) => `1800000001${String(i).padStart(2, '0')}`);
const members = [...healthy.slice(0, 6), ROLELESS, ...healthy.slice(6)];
const EXTERNAL_ID = 'mirrorops-sweep-fleet';
const BUS = 'mirrorops-audit-sweep-fleet';

const env = useEmulator({ organization: { managementAccount: HUB, members: [HUB, ...members] } });

describe('the sweep-fleet definition', () => {
  test('is valid ASL; its only calls are invocations of the sweeper; the fan-out is a Distributed Map', () => {
    expect(validate(definition).errorsText('\n')).toBe('');
    const tasks = allStates(definition).filter(({ state }) => state.Type === 'Task');
    expect(
      tasks.map(({ state }) => [state.Resource, (state.Parameters as { FunctionName: string }).FunctionName]),
    ).toEqual([
      ['arn:aws:states:::lambda:invoke', SWEEPER],
      ['arn:aws:states:::lambda:invoke', SWEEPER],
    ]);
    const map = definition.States['Sweep accounts'];
    expect(map?.ItemProcessor?.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' });
    expect({ batch: map?.ItemBatcher, most: map?.MaxConcurrency }).toEqual({
      batch: { MaxItemsPerBatch: 50 },
      most: 10,
    });
  });
});

describe('sweep-fleet, run against the emulator', () => {
  test('sweeps every enrolled account batch by batch, one failing account reported in its batch, the others swept', async () => {
    const fleet = await buildFleet(env.url, {
      hub: HUB,
      members,
      withoutRole: [ROLELESS],
      expired: 3,
      live: 1,
      externalId: EXTERNAL_ID,
      auditBus: BUS,
    });
    // The sweeper's container: its module loaded anew with its role's credentials, as Lambda has it.
    await enterSweeper(env.url, fleet);
    // As Lambda calls it: the middleware chain adds the rest of the context.
    const handler = (await import('../../functions/ttl-sweeper.ts')).handler as unknown as (
      event: unknown,
      context: Context,
    ) => Promise<unknown>;
    const invocations: Json[] = [];
    // Batches of 4 instead of 50, so that 14 accounts make several children.
    const small = structuredClone(definition) as Definition;
    const map = small.States['Sweep accounts'] as unknown as { ItemBatcher: { MaxItemsPerBatch: number } };
    map.ItemBatcher.MaxItemsPerBatch = 4;
    const role = fleet.stack.roles.SweepFleetRole;
    if (!role) throw new Error('the hub template has no SweepFleetRole');
    const runner = new LocalRunner(small, {
      url: env.url,
      hubAccount: HUB,
      stateMachineName: 'mirrorops-dev-sweep-fleet',
      executionCredentials: () => serviceCredentials(env.url, role.arn, 'states.amazonaws.com', HUB),
      lambdas: {
        [SWEEPER]: async (payload) => {
          invocations.push(payload);
          return (await handler(payload, lambdaContext('ttl-sweeper', 60))) as Json;
        },
      },
    });

    const run = await runner.run({});

    expect(run.error).toBeUndefined();
    const batches = (
      run.output as {
        batches: {
          accounts: number;
          deleted: number;
          deferred: number;
          failures: number;
          failed: { account: string; why: string; error: string }[];
          skipped: string[];
        }[];
      }
    ).batches;
    // Every enrolled account once: the hub, the 12, the one without a role; 3 expired sessions in each of the 12.
    const sum = (key: 'accounts' | 'deleted' | 'deferred' | 'failures') =>
      batches.reduce((n, b) => n + b[key], 0);
    expect({
      accounts: sum('accounts'),
      deleted: sum('deleted'),
      deferred: sum('deferred'),
      failures: sum('failures'),
    }).toEqual({
      accounts: 14,
      deleted: 36,
      deferred: 0,
      failures: 0,
    });
    expect(batches.flatMap((b) => b.skipped)).toEqual([]);
    expect(batches.flatMap((b) => b.failed)).toEqual([
      { account: ROLELESS, why: 'no-access', error: expect.stringContaining('AccessDenied') },
    ]);
    for (const member of healthy) {
      expect((await memberState(env.url, member)).sessions).toEqual(fleet.sessions.get(member)?.live);
    }
    // One listing, then a child execution per batch of 4: 14 accounts, 4 children.
    expect(invocations[0]).toEqual({ list: 'accounts' });
    expect(invocations.slice(1).map((p) => (p as { accounts: string[] }).accounts.length)).toEqual(
      expect.arrayContaining([4, 4, 4, 2]),
    );
    expect(run.mapRuns).toEqual([
      expect.objectContaining({ state: 'Sweep accounts', items: 14, children: 4, failed: 0 }),
    ]);
  }, 90_000);
});

describe("the sweep-fleet machine's role and schedule, as packaged", () => {
  test('invokes only the sweeper, starts only its own children; the schedule is on only with fleetSweep=workflow', () => {
    const template = hubTemplate();
    const { resolve } = resolver(template, { account: '123456789012', region: 'eu-west-1' });
    const role = resolve(template.Resources.SweepFleetRole?.Properties) as {
      AssumeRolePolicyDocument: { Statement: { Principal: unknown; Condition: unknown }[] };
      Policies: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } }[];
    };
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: ['states.amazonaws.com', 'events.amazonaws.com'] },
        Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
      }),
    ]);
    const granted = role.Policies.flatMap((p) => p.PolicyDocument.Statement).map((s) => ({
      actions: [s.Action].flat().sort(),
      resources: [s.Resource].flat(),
    }));
    expect(granted).toEqual([
      {
        actions: ['lambda:InvokeFunction'],
        resources: [
          'arn:aws:lambda:eu-west-1:123456789012:function:mirrorops-dev-ttl-sweeper',
          'arn:aws:lambda:eu-west-1:123456789012:function:mirrorops-dev-ttl-sweeper:*',
        ],
      },
      {
        actions: ['states:StartExecution'],
        resources: ['arn:aws:states:eu-west-1:123456789012:stateMachine:mirrorops-dev-sweep-fleet'],
      },
      {
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: [
          'arn:aws:states:eu-west-1:123456789012:execution:mirrorops-dev-sweep-fleet/*',
          'arn:aws:states:eu-west-1:123456789012:execution:mirrorops-dev-sweep-fleet:*',
        ],
      },
    ]);
    // One of the two schedules is on: the function's by default, sweep-fleet's with fleetSweep=workflow.
    const state = (id: string) => template.Resources[id]?.Properties?.State;
    expect(state('SweepFleetSchedule')).toEqual({ 'Fn::If': ['SweepWorkflow', 'ENABLED', 'DISABLED'] });
    expect(state('TtlDashsweeperEventsRuleSchedule1')).toEqual({
      'Fn::If': ['SweepWorkflow', 'DISABLED', 'ENABLED'],
    });
    expect(template.Conditions?.SweepWorkflow).toEqual({ 'Fn::Equals': [{ Ref: 'FleetSweep' }, 'workflow'] });
    expect(template.Parameters?.FleetSweep).toMatchObject({
      Default: 'function',
      AllowedValues: ['function', 'workflow'],
    });
  });
});
