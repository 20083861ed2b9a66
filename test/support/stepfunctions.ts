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
import { allStates, type Definition, type Json, type State, sdkIntegration } from './asl.ts';

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
 * - a Map state in Distributed mode (`ItemProcessor.ProcessorConfig.Mode: DISTRIBUTED`), which
 *   aws-local-stepfunctions 3.0.0 runs as an inline Map (it ignores ProcessorConfig, ItemBatcher
 *   and the tolerated failure threshold), run here as Step Functions documents a Map Run
 *   (concepts-asl-use-map-state-distributed, maprun-fail-threshold, input-output-itembatcher):
 *   the items from ItemsPath, each through ItemSelector (with `$$.Map.Item` and the parent's
 *   context), grouped by ItemBatcher into `{"Items": [...], "BatchInput": ...}`, each item or batch
 *   a child execution of the processor with a context of its own (its own `$$.Execution`; the
 *   state machine `<machine>/<Map state>`), at most MaxConcurrency at once, the state failing
 *   with `States.ExceedToleratedFailureThreshold` when more children fail than
 *   ToleratedFailureCount / ToleratedFailurePercentage allow (default none), its result the
 *   children's outputs in item order; then the Map's own ResultSelector, ResultPath, OutputPath,
 *   Retry and Catch. Not run here: ItemReader and ResultWriter (S3), which mirrorops does not use.
 *   Each Map Run is recorded in LocalRun.mapRuns.
 * - a Task of `arn:aws:states:::lambda:invoke` (the optimized integration): the function of
 *   options.lambdas its FunctionName names, run in-process on the Payload, its result the answer's
 *   Payload; a function error is the state's error, named after its errorType. The machine role's
 *   lambda:InvokeFunction is not evaluated here (the emulator has no Lambda).
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
  /**
   * The Lambda functions the definition invokes (`arn:aws:states:::lambda:invoke`), by the
   * FunctionName its Parameters give: each takes the Payload and answers the function's result,
   * or throws the function's error (Step Functions names the state's error after its errorType).
   */
  lambdas?: Record<string, (payload: Json) => Promise<Json>>;
}

/** What a Distributed Map state did: its children (one per item or batch) and how many ran at once. */
export interface MapRun {
  state: string;
  items: number;
  children: number;
  failed: number;
  /** The most children running at the same time. */
  mostAtOnce: number;
  /** The executions the children ran as (their `$$.Execution.Name`). */
  executions: string[];
}

/** A Distributed Map state, as the runner keeps it after turning the state into a local Task. */
interface DistributedMap {
  processor: Definition;
  itemsPath?: string;
  itemSelector?: Json;
  maxConcurrency?: number;
  batcher?: { MaxItemsPerBatch?: number; MaxInputBytesPerBatch?: number; BatchInput?: Json };
  toleratedCount?: number;
  toleratedPercentage?: number;
}

/** A context object as Step Functions gives it to an execution (`$$`). */
interface ExecutionContext {
  Execution: { Id: string; Name: string; Input: Json; StartTime: string };
  StateMachine: { Id: string; Name: string };
}

const DISTRIBUTED_MAP_FIELDS = [
  'ItemsPath',
  'ItemSelector',
  'Parameters',
  'ItemProcessor',
  'Iterator',
  'MaxConcurrency',
  'ItemBatcher',
  'ToleratedFailureCount',
  'ToleratedFailurePercentage',
  'Label',
];

export interface LocalRun {
  /** The execution's output, when it succeeded. */
  output?: Json;
  /** The execution's error and cause, when it failed. */
  error?: { name: string; cause: string };
  calls: SdkCall[];
  /** The Distributed Map states' runs, in the order they ended. */
  mapRuns: MapRun[];
}

class StepFunctionsError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

/** The Resource of the Tasks a Distributed Map state becomes here (a Lambda ARN, which the validator accepts). */
/** The optimized Lambda integration (call-lambda.html): Parameters FunctionName and Payload; the answer's Payload is the result. */
const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';

const DISTRIBUTED_MAP_RESOURCE = 'arn:aws:lambda:us-east-1:000000000000:function:harness-distributed-map';

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
  /** Tasks that invoke a Lambda function (the optimized integration). */
  private readonly lambdaTasks: string[];
  /** Wait states and states with Retry: overridden to take no time. */
  private readonly waits: string[];
  private readonly retries: string[];
  /** The Distributed Map states, by name, each turned into a Task the runner handles. */
  private readonly distributed = new Map<string, DistributedMap>();
  readonly stateMachineArn: string;
  private readonly region: string;

  constructor(
    definition: Definition,
    private readonly options: LocalRunnerOptions,
  ) {
    this.region = options.region ?? 'us-east-1';
    this.stateMachineArn = `arn:aws:states:${this.region}:${options.hubAccount}:stateMachine:${options.stateMachineName}`;
    const local = structuredClone(definition);
    this.lambdaTasks = allStates(local)
      .filter(({ state }) => state.Type === 'Task' && state.Resource === LAMBDA_INVOKE)
      .map(({ name }) => name);
    this.tasks = allStates(local)
      .filter(({ state }) => state.Type === 'Task' && state.Resource !== LAMBDA_INVOKE)
      .map(({ name, state }) => {
        if (state.Resource === DISTRIBUTED_MAP_RESOURCE) throw new Error(`${name}: a reserved Resource`);
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
    this.takeDistributedMaps(local);
    // A parsed copy is what the library takes; it adds fields (QueryLanguage) to what it is given.
    this.definition = JSON.parse(JSON.stringify(local)) as StateMachineDefinition;
  }

  /**
   * Turns each Distributed Map state (at any depth) into a Task of DISTRIBUTED_MAP_RESOURCE, keeping
   * what the state does around its items (InputPath, ResultSelector, ResultPath, OutputPath, Retry,
   * Catch, Next or End) and setting aside what the Map Run does (see the module comment).
   */
  private takeDistributedMaps(definition: Definition): void {
    for (const [name, state] of Object.entries(definition.States)) {
      const processor = state.ItemProcessor;
      for (const inner of [processor, state.Iterator, ...(state.Branches ?? [])]) {
        if (inner) this.takeDistributedMaps(inner);
      }
      const config = processor?.ProcessorConfig as { Mode?: string } | undefined;
      if (state.Type !== 'Map' || config?.Mode !== 'DISTRIBUTED' || !processor) continue;
      for (const unsupported of ['ItemReader', 'ResultWriter', 'MaxConcurrencyPath']) {
        if (unsupported in state) throw new Error(`${name}: ${unsupported} is not run locally`);
      }
      if (this.distributed.has(name)) throw new Error(`${name}: two Distributed Map states of this name`);
      const { ProcessorConfig: _, ...steps } = processor;
      this.distributed.set(name, {
        processor: steps as Definition,
        ...(typeof state.ItemsPath === 'string' ? { itemsPath: state.ItemsPath } : {}),
        ...(state.ItemSelector !== undefined ? { itemSelector: state.ItemSelector as Json } : {}),
        ...(typeof state.MaxConcurrency === 'number' ? { maxConcurrency: state.MaxConcurrency } : {}),
        ...(state.ItemBatcher ? { batcher: state.ItemBatcher as DistributedMap['batcher'] & object } : {}),
        ...(typeof state.ToleratedFailureCount === 'number'
          ? { toleratedCount: state.ToleratedFailureCount }
          : {}),
        ...(typeof state.ToleratedFailurePercentage === 'number'
          ? { toleratedPercentage: state.ToleratedFailurePercentage }
          : {}),
      });
      const task: State = { ...state, Type: 'Task', Resource: DISTRIBUTED_MAP_RESOURCE };
      for (const field of DISTRIBUTED_MAP_FIELDS) delete task[field];
      definition.States[name] = task;
    }
  }

  async run(input: Json, executionName: string = randomUUID()): Promise<LocalRun> {
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
    for (const name of this.lambdaTasks) {
      handlers[name] = async (resolved: unknown): Promise<Json> => {
        const { FunctionName, Payload } = resolved as { FunctionName?: string; Payload?: Json };
        const fn = this.options.lambdas?.[FunctionName ?? ''];
        if (!fn) {
          throw new StepFunctionsError(
            'Lambda.ResourceNotFoundException',
            `Function not found: ${FunctionName}`,
          );
        }
        try {
          return { ExecutedVersion: '$LATEST', Payload: await fn(Payload ?? {}), StatusCode: 200 };
        } catch (error) {
          // A function error: the state's error is its errorType, the cause Lambda's error document.
          const e = error as Error;
          throw new StepFunctionsError(
            e.name,
            JSON.stringify({ errorMessage: e.message, errorType: e.name }),
          );
        }
      };
    }
    const zero = (names: string[]) => Object.fromEntries(names.map((name) => [name, 0]));
    const mapRuns: MapRun[] = [];
    const noValidation = { validationOptions: { noValidate: true } } as const;
    const runOptions = (context: ExecutionContext): RunOptions => ({
      overrides: {
        taskResourceLocalHandlers: { ...handlers, ...mapHandlers(context) },
        waitTimeOverrides: zero(this.waits),
        retryIntervalOverrides: zero(this.retries),
      },
      context: context as unknown as RunOptions['context'] & object,
    });
    /** A Distributed Map state's Map Run, in the execution whose context is `parent`. */
    const mapRun = async (
      name: string,
      map: DistributedMap,
      input: Json,
      parent: ExecutionContext,
    ): Promise<Json> => {
      // ItemsPath and ItemSelector (with $$.Map.Item and the parent's context), as the library
      // evaluates them for an inline Map: one whose items each pass through unchanged.
      const selection: Definition = {
        StartAt: 'Select items',
        States: {
          'Select items': {
            Type: 'Map',
            ...(map.itemsPath ? { ItemsPath: map.itemsPath } : {}),
            ...(map.itemSelector !== undefined ? { ItemSelector: map.itemSelector } : {}),
            ItemProcessor: {
              ProcessorConfig: { Mode: 'INLINE' },
              StartAt: 'Item',
              States: { Item: { Type: 'Pass', End: true } },
            },
            End: true,
          },
        },
      };
      const select = (definition: Definition) =>
        new StateMachine(definition as StateMachineDefinition, noValidation).run(input, {
          context: structuredClone(parent) as unknown as RunOptions['context'] & object,
        }).result as Promise<Json>;
      const items = (await select(selection)) as Json[];
      let childInputs: Json[] = items;
      if (map.batcher) {
        const { MaxItemsPerBatch, MaxInputBytesPerBatch, BatchInput } = map.batcher;
        const batchInput =
          BatchInput === undefined
            ? undefined
            : await select({
                StartAt: 'Batch input',
                States: { 'Batch input': { Type: 'Pass', Parameters: BatchInput, End: true } },
              });
        const batches: Json[][] = [];
        let current: Json[] = [];
        const bytes = (batch: Json[]) =>
          Buffer.byteLength(
            JSON.stringify({ Items: batch, ...(batchInput === undefined ? {} : { BatchInput: batchInput }) }),
          );
        for (const item of items) {
          const full =
            (MaxItemsPerBatch !== undefined && current.length >= MaxItemsPerBatch) ||
            (MaxInputBytesPerBatch !== undefined &&
              current.length > 0 &&
              bytes([...current, item]) > MaxInputBytesPerBatch);
          if (full) {
            batches.push(current);
            current = [];
          }
          current.push(item);
        }
        if (current.length > 0) batches.push(current);
        childInputs = batches.map((Items) => ({
          Items,
          ...(batchInput === undefined ? {} : { BatchInput: batchInput }),
        }));
      }
      const run: MapRun = {
        state: name,
        items: items.length,
        children: childInputs.length,
        failed: 0,
        mostAtOnce: 0,
        executions: [],
      };
      const outputs: Json[] = new Array(childInputs.length);
      const limit = map.maxConcurrency && map.maxConcurrency > 0 ? map.maxConcurrency : 10_000;
      let next = 0;
      let running = 0;
      const child = async () => {
        while (next < childInputs.length) {
          const index = next++;
          const childInput = childInputs[index] as Json;
          const childName = randomUUID();
          run.executions.push(childName);
          const machine = `${this.options.stateMachineName}/${name}`;
          const context: ExecutionContext = {
            Execution: {
              Id: `arn:aws:states:${region}:${hubAccount}:execution:${machine}:${childName}`,
              Name: childName,
              Input: childInput,
              StartTime: new Date().toISOString(),
            },
            StateMachine: { Id: `${this.stateMachineArn}/${name}`, Name: machine },
          };
          running++;
          run.mostAtOnce = Math.max(run.mostAtOnce, running);
          try {
            const execution = new StateMachine(
              JSON.parse(JSON.stringify(map.processor)) as StateMachineDefinition,
              noValidation,
            ).run(childInput, runOptions(context));
            outputs[index] = (await execution.result) as Json;
          } catch (error) {
            if (!(error instanceof ExecutionError)) throw error;
            const cause = error.cause as { name?: string; message?: string } | undefined;
            run.failed++;
            // A failed child's place in the result (an assumption: without ResultWriter AWS does
            // not document it); only reached when the threshold tolerates failures.
            outputs[index] = { Error: cause?.name ?? error.name, Cause: cause?.message ?? error.message };
          } finally {
            running--;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(limit, childInputs.length) }, child));
      mapRuns.push(run);
      const total = childInputs.length;
      const overCount = run.failed > (map.toleratedCount ?? 0);
      const overPercentage = total > 0 && (run.failed / total) * 100 > (map.toleratedPercentage ?? 0);
      const countSet = map.toleratedCount !== undefined;
      const percentageSet = map.toleratedPercentage !== undefined;
      // With neither set, any failure fails the Map Run; with one or both, exceeding either does.
      const exceeded =
        run.failed > 0 &&
        (countSet || percentageSet ? (countSet && overCount) || (percentageSet && overPercentage) : true);
      if (exceeded) {
        throw new StepFunctionsError(
          'States.ExceedToleratedFailureThreshold',
          `The specified tolerated failure threshold was exceeded: ${run.failed} of ${total} child executions of ${name} failed`,
        );
      }
      return outputs;
    };
    const mapHandlers = (context: ExecutionContext) =>
      Object.fromEntries(
        [...this.distributed].map(([name, map]) => [
          name,
          (input: unknown) => mapRun(name, map, input as Json, context),
        ]),
      );
    const top: ExecutionContext = {
      Execution: {
        Id: `arn:aws:states:${region}:${hubAccount}:execution:${this.options.stateMachineName}:${executionName}`,
        Name: executionName,
        Input: input,
        StartTime: new Date().toISOString(),
      },
      StateMachine: { Id: this.stateMachineArn, Name: this.options.stateMachineName },
    };
    const execution = new StateMachine(structuredClone(this.definition), {
      validationOptions: { checkPaths: true, checkArn: true },
    }).run(input, runOptions(top));
    try {
      return { output: (await execution.result) as Json, calls, mapRuns };
    } catch (error) {
      if (!(error instanceof ExecutionError)) throw error;
      const cause = error.cause as { name?: string; message?: string } | undefined;
      return {
        error: { name: cause?.name ?? error.name, cause: cause?.message ?? error.message },
        calls,
        mapRuns,
      };
    }
  }
}
