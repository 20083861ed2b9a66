import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';
import { allStates, type Definition, sdkIntegration } from './asl.ts';

/**
 * Every AWS SDK call mirrorops' code makes, found in the source rather than listed by hand, so
 * that a call added to the code without a test running it under its role fails a test.
 * - the functions: every project file an entry in functions/ bundles (esbuild's own resolution),
 *   each `new XxxCommand(` and `paginateXxx(` of a name imported from an `@aws-sdk/client-*`;
 * - the workflow: each Task of statemachines/share-target.asl.json, and whether it runs with
 *   `Credentials` (as the spoke role) or as the state machine's role.
 */

/** IAM's service prefix of each SDK client package. */
const PREFIX: Record<string, string> = {
  ec2: 'ec2',
  eventbridge: 'events',
  sqs: 'sqs',
  sts: 'sts',
  ram: 'ram',
  iam: 'iam',
};

/** `ec2:CreateTags` style names of the SDK calls in one source text. */
export function callsIn(source: string): string[] {
  const clientOf = new Map<string, string>();
  for (const m of source.matchAll(
    /import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'@aws-sdk\/client-([a-z0-9-]+)'/g,
  )) {
    const [, names = '', client = ''] = m;
    for (const name of names.split(',')) {
      const local = name
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop()
        ?.trim();
      if (local) clientOf.set(local, client);
    }
  }
  const calls = new Set<string>();
  for (const m of source.matchAll(/new\s+(\w+)Command\s*\(|\b(paginate(\w+))\s*\(/g)) {
    const [, command, paginator, paginated] = m;
    const imported = command ? `${command}Command` : paginator;
    const client = imported && clientOf.get(imported);
    const action = command ?? paginated;
    if (!client || !action) continue;
    const prefix = PREFIX[client];
    if (!prefix) throw new Error(`no IAM prefix known for @aws-sdk/client-${client}`);
    calls.add(`${prefix}:${action}`);
  }
  // Credentials that assume a role (the spoke role) call STS AssumeRole from inside the provider.
  if (
    /import\s*\{[^}]*\bfromTemporaryCredentials\b[^}]*\}\s*from\s*'@aws-sdk\/credential-providers'/.test(
      source,
    )
  )
    calls.add('sts:AssumeRole');
  return [...calls].sort();
}

/** The SDK calls of a function's bundle: every project file its entry reaches. */
export async function functionCalls(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  const calls = new Set<string>();
  for (const file of Object.keys(result.metafile.inputs)) {
    for (const call of callsIn(await readFile(file, 'utf8'))) calls.add(call);
  }
  return [...calls].sort();
}

export interface WorkflowCall {
  state: string;
  action: string;
  /** Made with the Task's `Credentials`: as the member account's spoke role. */
  asSpoke: boolean;
}

/** The SDK calls of the workflow's Tasks. */
export function workflowCalls(definition: Definition): WorkflowCall[] {
  return allStates(definition).flatMap(({ name, state }) => {
    const call = state.Type === 'Task' ? sdkIntegration(state.Resource ?? '') : undefined;
    if (!call) return [];
    const prefix = call.service === 'eventbridge' ? 'events' : call.service;
    const action = `${prefix}:${call.action.charAt(0).toUpperCase()}${call.action.slice(1)}`;
    return [{ state: name, action, asSpoke: state.Credentials !== undefined }];
  });
}
