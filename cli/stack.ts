import { readFileSync } from 'node:fs';
import { parse, type Tags } from 'yaml';

/**
 * serverless.yml as the local tools need it: functions, their handlers, environment and events.
 * Serverless variables are resolved the way the framework does for the ones this stack uses
 * (`${param:x, 'default'}`, `${opt:x, ...}`, `${env:X, ...}`, `${sls:stage}`, `${self:a.b}`);
 * CloudFormation intrinsics (`!Ref`, `!GetAtt`, ...) have no local value and come back undefined.
 */
export interface StackFunction {
  name: string;
  /** `functions/guardduty-finding.handler` -> module `functions/guardduty-finding.ts`, export `handler`. */
  module: string;
  exportName: string;
  timeoutSeconds: number;
  environment: Record<string, string>;
  events: Record<string, unknown>[];
}

export interface Stack {
  service: string;
  stage: string;
  functions: Record<string, StackFunction>;
}

/** A CloudFormation intrinsic: no value until deployed. */
class Intrinsic {
  constructor(readonly tag: string) {}
}

/** Every short-form intrinsic of CloudFormation (intrinsic-function-reference.html). */
const intrinsicTags: Tags = [
  'Ref',
  'GetAtt',
  'Sub',
  'Join',
  'Select',
  'Split',
  'ImportValue',
  'FindInMap',
  'Base64',
  'Cidr',
  'GetAZs',
  'Transform',
  'If',
  'Equals',
  'Not',
  'And',
  'Or',
  'Condition',
].flatMap(
  (name) =>
    (['scalar', 'seq', 'map'] as const).map((collection) => ({
      tag: `!${name}`,
      ...(collection === 'scalar' ? {} : { collection }),
      resolve: () => new Intrinsic(name),
    })) as Tags,
);

const VARIABLE = /\$\{([^{}]+)\}/g;

export interface ResolveOptions {
  /** Like `--param name=value`, over the stage's and the default `params:` of the file. */
  params?: Record<string, string | number>;
  stage?: string;
  env?: Record<string, string | undefined>;
}

/** Reads serverless.yml and resolves what can be resolved without AWS. */
export function loadStack(path = 'serverless.yml', options: ResolveOptions = {}): Stack {
  const raw = parse(readFileSync(path, 'utf8'), { customTags: intrinsicTags }) as Record<string, unknown>;
  const env = options.env ?? process.env;
  const opt: Record<string, string> = options.stage ? { stage: options.stage } : {};
  const declared = (raw.params ?? {}) as Record<string, Record<string, unknown>>;
  const stageName = options.stage ?? 'dev';
  const params: Record<string, unknown> = {
    ...(declared.default ?? {}),
    ...(declared[stageName] ?? {}),
    ...(options.params ?? {}),
  };

  const lookup = (expression: string, depth: number): unknown => {
    // `source:name, fallback` — the fallback may itself be a quoted string or a number.
    const comma = expression.indexOf(',');
    const head = (comma < 0 ? expression : expression.slice(0, comma)).trim();
    const fallbackText = comma < 0 ? undefined : expression.slice(comma + 1).trim();
    const [source, ...rest] = head.split(':');
    const name = rest.join(':');
    let value: unknown;
    if (source === 'param') value = params[name];
    else if (source === 'opt') value = opt[name];
    else if (source === 'env') value = env[name];
    else if (source === 'sls' && name === 'stage')
      value = opt.stage ?? resolveValue(dig(raw, 'provider.stage'), depth + 1);
    else if (source === 'self') value = resolveValue(dig(raw, name), depth + 1);
    if (value !== undefined || fallbackText === undefined) return value;
    if (/^'.*'$|^".*"$/.test(fallbackText)) return fallbackText.slice(1, -1);
    if (/^-?\d+(\.\d+)?$/.test(fallbackText)) return Number(fallbackText);
    return lookup(fallbackText.replace(/^\$\{|\}$/g, ''), depth + 1);
  };

  function resolveValue(value: unknown, depth = 0): unknown {
    if (depth > 10) throw new Error('serverless.yml: variables nest too deeply');
    if (value instanceof Intrinsic) return undefined;
    if (typeof value === 'string') {
      const whole = /^\$\{([^{}]+)\}$/.exec(value);
      if (whole) return lookup(whole[1] as string, depth);
      return value.replace(VARIABLE, (_, expression: string) => String(lookup(expression, depth) ?? ''));
    }
    if (Array.isArray(value)) return value.map((v) => resolveValue(v, depth));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveValue(v, depth)]));
    }
    return value;
  }

  const provider = (resolveValue(raw.provider) ?? {}) as Record<string, unknown>;
  const functions = (raw.functions ?? {}) as Record<string, Record<string, unknown>>;
  const stage = String(opt.stage ?? provider.stage ?? 'dev');
  const environmentOf = (value: unknown) =>
    Object.fromEntries(
      Object.entries((value ?? {}) as Record<string, unknown>).flatMap(([k, v]) =>
        v === undefined || v === null ? [] : [[k, String(v)]],
      ),
    );
  return {
    service: String(raw.service),
    stage,
    functions: Object.fromEntries(
      Object.entries(functions).map(([name, definition]) => {
        const fn = resolveValue(definition) as Record<string, unknown>;
        const handler = String(fn.handler);
        const dot = handler.lastIndexOf('.');
        return [
          name,
          {
            name,
            module: `${handler.slice(0, dot)}.ts`,
            exportName: handler.slice(dot + 1),
            timeoutSeconds: Number(fn.timeout ?? provider.timeout ?? 6),
            environment: { ...environmentOf(provider.environment), ...environmentOf(fn.environment) },
            events: (fn.events ?? []) as Record<string, unknown>[],
          },
        ];
      }),
    ),
  };
}

function dig(root: Record<string, unknown>, path: string): unknown {
  let node: unknown = root;
  for (const key of path.split('.')) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
