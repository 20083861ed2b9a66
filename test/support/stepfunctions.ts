import { randomUUID } from 'node:crypto';
import * as ec2 from '@aws-sdk/client-ec2';
import * as eventbridge from '@aws-sdk/client-eventbridge';
import * as ram from '@aws-sdk/client-ram';
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import {
  ExecutionError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { type Keys, keysFrom, stsFor } from './accounts.ts';
import { allStates, type Definition, type Json, sdkIntegration } from './asl.ts';

/**
 * Runs an ASL definition with aws-local-stepfunctions, every Task being the AWS SDK call its
 * `Resource` names (`arn:aws:states:::aws-sdk:<service>:<action>`), made with the real SDK v3
 * against the emulator, as Step Functions would make it:
 * - parameters as the state resolved them (Step Functions' PascalCase, camelCase for services
 *   whose model is camelCase, such as RAM); the answer back in PascalCase, `$metadata` dropped;
 * - as the state machine's role in the hub (credentials as Step Functions gets them for it), or,
 *   for a Task with `Credentials`, as the role it names, assumed through STS from that session
 *   without an ExternalId: AWS documents the state machine's ARN as ExternalId for the `.sync`
 *   pattern only (concepts-cross-acct-sync-pattern), so a trust must not depend on it;
 *   aws-local-stepfunctions ignores `Credentials`, so the harness carries the RoleArn expression
 *   into the state's Parameters under HARNESS_ROLE_KEY and takes it out again before the call;
 * - an SDK error rethrown with the name Step Functions gives it, as aws-local-stepfunctions
 *   matches Retry and Catch on the error's name: `<Service>.<Name>Exception` for an exception the
 *   service models (`Ram.ThrottlingException`), `<Service>.<Service>Exception` for one it does not
 *   (every EC2 error: `Ec2.Ec2Exception`, what happened is in the cause). A role that cannot be
 *   assumed fails the Task with `States.TaskFailed` (an assumption: AWS documents no name for it).
 * Wait states and retry intervals take no time.
 */
export const HARNESS_ROLE_KEY = 'harnessCredentialsRoleArn';

interface SdkService {
  /** The service's name in Step Functions error names. */
  errorPrefix: string;
  /** The SDK module: its `<Action>Command` classes and its base exception class. */
  commands: Record<string, unknown>;
  baseException: abstract new (...args: never[]) => Error;
  client(config: ClientConfig): SdkClient;
  camelCaseMembers: boolean;
}

interface ClientConfig {
  endpoint: string;
  region: string;
  maxAttempts: number;
  credentials: Keys;
}
interface SdkClient {
  send(command: unknown): Promise<unknown>;
}
type CommandClass = new (input: unknown) => unknown;

const asClient = (client: { send: unknown }): SdkClient => ({
  send: (command) => (client.send as (c: unknown) => Promise<unknown>).call(client, command),
});

const SERVICES: Record<string, SdkService> = {
  ec2: {
    errorPrefix: 'Ec2',
    commands: ec2,
    baseException: ec2.EC2ServiceException,
    client: (config) => asClient(new ec2.EC2Client(config)),
    camelCaseMembers: false,
  },
  ram: {
    errorPrefix: 'Ram',
    commands: ram,
    baseException: ram.RAMServiceException,
    client: (config) => asClient(new ram.RAMClient(config)),
    camelCaseMembers: true,
  },
  eventbridge: {
    errorPrefix: 'EventBridge',
    commands: eventbridge,
    baseException: eventbridge.EventBridgeServiceException,
    client: (config) => asClient(new eventbridge.EventBridgeClient(config)),
    camelCaseMembers: false,
  },
};

/** One SDK call a Task made: which state, as which account, with what, and how it ended. */
export interface SdkCall {
  state: string;
  service: string;
  action: string;
  account: string;
  input: Record<string, Json>;
  /** The Step Functions error name and cause, when the call failed. */
  error?: { name: string; cause: string };
}

export interface LocalRunnerOptions {
  url: string;
  region?: string;
  hubAccount: string;
  /** The state machine's name. */
  stateMachineName: string;
  /** Credentials of the state machine's role, as Step Functions gets them for an execution. */
  executionCredentials: () => Promise<Keys>;
  /** Called after each SDK call, in the order they end; may act on the emulator before the Task goes on. */
  observe?: (call: SdkCall) => void | Promise<void>;
  /**
   * Answers a call in the emulator's place when it returns an answer (in Step Functions'
   * PascalCase): for answers AWS gives that the emulator does not, such as a RAM page without the
   * principal asked for but with a NextToken. The call is still made as its account (its role
   * assumed), recorded and observed.
   */
  answer?: (call: SdkCall) => Json | undefined | Promise<Json | undefined>;
}

export interface LocalRun {
  /** The execution's output, when it succeeded. */
  output?: Json;
  /** The execution's error and cause, when it failed. */
  error?: { name: string; cause: string };
  calls: SdkCall[];
}

class StepFunctionsError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

const recase = (value: unknown, first: (c: string) => string): unknown => {
  if (Array.isArray(value)) return value.map((v) => recase(v, first));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [first(k.charAt(0)) + k.slice(1), recase(v, first)]),
    );
  }
  return value;
};

/** What Step Functions hands the next state: the answer in PascalCase, as JSON, without `$metadata`. */
function sfnOutput(output: unknown): Json {
  const { $metadata: _, ...rest } = (output ?? {}) as Record<string, unknown>;
  return JSON.parse(JSON.stringify(recase(rest, (c) => c.toUpperCase()))) as Json;
}

/** An SDK error as Step Functions names it (see the module comment). */
function sfnError(service: SdkService, error: unknown): StepFunctionsError {
  if (!(error instanceof service.baseException)) {
    const e = error as Error;
    return new StepFunctionsError('States.TaskFailed', `${e.name}: ${e.message}`);
  }
  const { errorPrefix } = service;
  const modeled = Object.getPrototypeOf(error) !== service.baseException.prototype;
  const name = modeled
    ? `${errorPrefix}.${error.name.endsWith('Exception') ? error.name : `${error.name}Exception`}`
    : `${errorPrefix}.${errorPrefix}Exception`;
  const meta = (error as { $metadata?: { httpStatusCode?: number; requestId?: string } }).$metadata;
  return new StepFunctionsError(
    name,
    `${error.message} (Service: ${errorPrefix}, Status Code: ${meta?.httpStatusCode ?? 0}, Request ID: ${meta?.requestId ?? ''})`,
  );
}

export class LocalRunner {
  private readonly definition: StateMachineDefinition;
  private readonly tasks: { name: string; service: SdkService; serviceName: string; action: string }[];
  /** Wait states and states with Retry: overridden to take no time. */
  private readonly waits: string[];
  private readonly retries: string[];
  readonly stateMachineArn: string;
  private readonly region: string;

  constructor(
    definition: Definition,
    private readonly options: LocalRunnerOptions,
  ) {
    this.region = options.region ?? 'us-east-1';
    this.stateMachineArn = `arn:aws:states:${this.region}:${options.hubAccount}:stateMachine:${options.stateMachineName}`;
    const local = structuredClone(definition);
    this.tasks = allStates(local)
      .filter(({ state }) => state.Type === 'Task')
      .map(({ name, state }) => {
        const call = sdkIntegration(state.Resource ?? '');
        const service = call && SERVICES[call.service];
        if (!call || !service) throw new Error(`${name}: no local handler for ${state.Resource}`);
        if (state.Credentials) {
          const [key, expression] = Object.entries(state.Credentials)[0] ?? [];
          const field = key === 'RoleArn.$' ? `${HARNESS_ROLE_KEY}.$` : HARNESS_ROLE_KEY;
          state.Parameters = {
            ...((state.Parameters ?? {}) as Record<string, Json>),
            [field]: expression ?? null,
          };
          delete state.Credentials;
        }
        return { name, service, serviceName: call.service, action: call.action };
      });
    this.waits = allStates(local)
      .filter(({ state }) => state.Type === 'Wait')
      .map(({ name }) => name);
    this.retries = allStates(local)
      .filter(({ state }) => state.Retry)
      .map(({ name }) => name);
    // A parsed copy is what the library takes; it adds fields (QueryLanguage) to what it is given.
    this.definition = JSON.parse(JSON.stringify(local)) as StateMachineDefinition;
  }

  async run(input: Json, executionName = randomUUID()): Promise<LocalRun> {
    const { url, hubAccount, executionCredentials, observe, answer } = this.options;
    const region = this.region;
    const calls: SdkCall[] = [];
    const sts = (keys: Keys | string): STSClient => stsFor(url, keys, region);
    // The execution's own role: Step Functions runs the execution as it.
    const hubKeys = await executionCredentials();
    const keysFor = async (roleArn: string | undefined): Promise<{ keys: Keys; account: string }> => {
      if (roleArn === undefined) return { keys: hubKeys, account: hubAccount };
      try {
        const out = await sts(hubKeys).send(
          new AssumeRoleCommand({
            RoleArn: roleArn,
            RoleSessionName: 'share-target',
          }),
        );
        return { keys: keysFrom(out.Credentials), account: roleArn.split(':')[4] ?? '' };
      } catch (error) {
        throw new StepFunctionsError(
          'States.TaskFailed',
          `Step Functions could not assume ${roleArn}: ${(error as Error).message}`,
        );
      }
    };

    const handlers = Object.fromEntries(
      this.tasks.map(({ name, service, serviceName, action }) => [
        name,
        async (resolved: unknown): Promise<Json> => {
          const { [HARNESS_ROLE_KEY]: roleArn, ...parameters } = resolved as Record<string, Json>;
          const call: SdkCall = {
            state: name,
            service: serviceName,
            action,
            account: typeof roleArn === 'string' ? (roleArn.split(':')[4] ?? '') : hubAccount,
            input: parameters,
          };
          try {
            const { keys } = await keysFor(typeof roleArn === 'string' ? roleArn : undefined);
            const played = await answer?.(call);
            if (played !== undefined) {
              calls.push(call);
              await observe?.(call);
              return played;
            }
            const Command = service.commands[`${action}Command`] as CommandClass | undefined;
            if (!Command) throw new Error(`the ${serviceName} SDK has no ${action}Command`);
            const client = service.client({ endpoint: url, region, maxAttempts: 1, credentials: keys });
            const sdkInput = service.camelCaseMembers
              ? recase(parameters, (c) => c.toLowerCase())
              : parameters;
            const output = sfnOutput(await client.send(new Command(sdkInput)));
            calls.push(call);
            await observe?.(call);
            return output;
          } catch (error) {
            const named = error instanceof StepFunctionsError ? error : sfnError(service, error);
            call.error = { name: named.name, cause: named.message };
            calls.push(call);
            await observe?.(call);
            throw named;
          }
        },
      ]),
    );
    const zero = (names: string[]) => Object.fromEntries(names.map((name) => [name, 0]));
    const options: RunOptions = {
      overrides: {
        taskResourceLocalHandlers: handlers,
        waitTimeOverrides: zero(this.waits),
        retryIntervalOverrides: zero(this.retries),
      },
      context: {
        Execution: {
          Id: `arn:aws:states:${region}:${hubAccount}:execution:${this.options.stateMachineName}:${executionName}`,
          Name: executionName,
          Input: input,
          StartTime: new Date().toISOString(),
        },
        StateMachine: { Id: this.stateMachineArn, Name: this.options.stateMachineName },
      },
    };
    const execution = new StateMachine(structuredClone(this.definition), {
      validationOptions: { checkPaths: true, checkArn: true },
    }).run(input, options);
    try {
      return { output: (await execution.result) as Json, calls };
    } catch (error) {
      if (!(error instanceof ExecutionError)) throw error;
      const cause = error.cause as { name?: string; message?: string } | undefined;
      return { error: { name: cause?.name ?? error.name, cause: cause?.message ?? error.message }, calls };
    }
  }
}
