import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { prepareAwsEnv } from '../aws.ts';
import { type Command, parseFlags, UsageError } from '../command.ts';
import { lambdaContext } from '../lambda.ts';
import { loadStack } from '../stack.ts';

const HELP = `Usage: mirrorops invoke <function> [--event FILE] [--param NAME=VALUE ...] [--stage STAGE]

Runs a function's handler in this process on an event, as Lambda would, and prints its result
as JSON. The function's environment comes from serverless.yml (with --param values), overridden
by this process's environment. Calls go to AWS_ENDPOINT_URL when it is set (the emulator: see
'mirrorops emulator'), otherwise to AWS with your usual credentials.

Options:
  --event FILE          the event, as JSON (events/ has samples); default {}
  --param NAME=VALUE    a serverless.yml parameter, e.g. --param targetId=tmt-0123456789abcdef0
  --stage STAGE         the stage name (default dev)
  --config FILE         the stack file (default serverless.yml)
  -h, --help            show this help`;

const flags = {
  event: { type: 'string' },
  param: { type: 'string', multiple: true },
  stage: { type: 'string', default: 'dev' },
  config: { type: 'string', default: 'serverless.yml' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const invokeCommand: Command = {
  summary: "run a function's handler locally on an event and print its result",
  async run(args, io) {
    const { values, positionals } = parseFlags(args, flags, true);
    if (values.help) {
      io.out(HELP);
      return 0;
    }
    const [name, ...extra] = positionals;
    if (!name) throw new UsageError('name the function to invoke');
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    const params = Object.fromEntries(
      (values.param ?? []).map((pair) => {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new UsageError(`--param takes NAME=VALUE, got '${pair}'`);
        return [pair.slice(0, eq), pair.slice(eq + 1)];
      }),
    );
    const stack = loadStack(values.config, { params, stage: values.stage });
    const fn = stack.functions[name];
    if (!fn) {
      throw new UsageError(
        `no function '${name}' in ${values.config} (functions: ${Object.keys(stack.functions).join(', ')})`,
      );
    }
    let event: unknown = {};
    if (values.event !== undefined) {
      const text = await readFile(values.event, 'utf8').catch((error: Error) => {
        throw new Error(`cannot read the event file ${values.event}: ${error.message}`);
      });
      try {
        event = JSON.parse(text);
      } catch (error) {
        throw new Error(`the event file ${values.event} is not JSON: ${(error as Error).message}`);
      }
    }

    // serverless.yml's environment, under this process's: what is set here wins.
    for (const [key, value] of Object.entries(fn.environment)) {
      if (process.env[key] === undefined && value !== '') process.env[key] = value;
    }
    prepareAwsEnv();

    const module = (await import(pathToFileURL(resolve(fn.module)).href)) as Record<string, unknown>;
    const handler = module[fn.exportName];
    if (typeof handler !== 'function')
      throw new Error(`${fn.module} does not export a function '${fn.exportName}'`);
    // What the function writes on stdout (Powertools' info lines, its metrics as EMF), Lambda would
    // keep in its log: here it goes to stderr, so stdout is the result alone.
    const write = process.stdout.write;
    process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
    let result: unknown;
    try {
      result = await (handler as (event: unknown, context: Context) => Promise<unknown>)(
        event,
        lambdaContext(`${stack.service}-${stack.stage}-${name}`, fn.timeoutSeconds),
      );
    } finally {
      process.stdout.write = write;
    }
    io.out(JSON.stringify(result ?? null, null, 2));
    return 0;
  },
};
