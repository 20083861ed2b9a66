import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, test } from 'vitest';
import { allStates, type Definition, loadDefinition, sdkIntegration, validate } from '../support/asl.ts';

const AUDIT_BUS = 'mirrorops-audit-test';
const definition: Definition = loadDefinition('share-target.asl.json', { AuditBus: AUDIT_BUS });
const states = allStates(definition);
const tasks = states.filter(({ state }) => state.Type === 'Task');
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
        /associateResourceShare|createResourceShare|getResourceShares$|putEvents/.test(state.Resource ?? '')
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
    for (const mapName of perAccount) expect(definition.States[mapName]?.MaxConcurrency).toBe(5);
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
    const read = definition.States['Read request']?.Parameters as { backoff: number[] };
    const waits = read.backoff;
    expect(waits.length).toBeGreaterThanOrEqual(5);
    expect(waits.length).toBeLessThanOrEqual(20);
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1] ?? 0);
    const total = waits.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(120);
    expect(total).toBeLessThanOrEqual(15 * 60);
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
