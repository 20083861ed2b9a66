import { parse, type Tags } from 'yaml';

/**
 * CloudFormation templates written in YAML, read as CloudFormation reads them: the short tags
 * (`!Ref X`, `!Sub s`, `!GetAtt A.B`, ...) become their long forms (`{Ref: X}`, `{'Fn::Sub': s}`,
 * `{'Fn::GetAtt': [A, B]}`), so a test sees the same structure as in a JSON template.
 */
export interface Template {
  AWSTemplateFormatVersion?: string;
  Description?: string;
  Parameters?: Record<string, { Type: string } & Record<string, unknown>>;
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  Outputs?: Record<string, unknown>;
}

export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Principal?: unknown;
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const FUNCTIONS = [
  'Sub',
  'Join',
  'If',
  'Select',
  'Split',
  'ImportValue',
  'FindInMap',
  'Equals',
  'Not',
  'And',
  'Or',
];

const cfnTags: Tags = [
  { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
  // `!GetAtt Role.Arn` is `Fn::GetAtt: [Role, Arn]` (the first dot separates the resource).
  {
    tag: '!GetAtt',
    resolve: (value: string) => {
      const dot = value.indexOf('.');
      return { 'Fn::GetAtt': [value.slice(0, dot), value.slice(dot + 1)] };
    },
  },
  ...FUNCTIONS.flatMap(
    (name) =>
      [
        { tag: `!${name}`, resolve: (value: string) => ({ [`Fn::${name}`]: value }) },
        {
          tag: `!${name}`,
          collection: 'seq',
          resolve: (value: { toJSON(): unknown }) => ({ [`Fn::${name}`]: value.toJSON() }),
        },
      ] as Tags,
  ),
];

export function parseTemplate(text: string): Template {
  return parse(text, { customTags: cfnTags }) as Template;
}

export const list = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/**
 * A value with `Ref` and `Fn::Sub` worked out from `values` (parameters and pseudo parameters,
 * e.g. `{'AWS::AccountId': '222222222222'}`), so ARNs in policies can be matched as IAM matches
 * them. An unknown name stays as `${Name}`, which matches no real ARN.
 */
export function substitute(value: unknown, values: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => substitute(v, values));
  if (value && typeof value === 'object') {
    const node = value as Record<string, unknown>;
    if (typeof node.Ref === 'string') return values[node.Ref] ?? `\${${node.Ref}}`;
    if (typeof node['Fn::Sub'] === 'string')
      return node['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (whole, name: string) => values[name] ?? whole);
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, substitute(v, values)]));
  }
  return value;
}

/** Every name a template refers to: `Ref`, `Fn::GetAtt` resources and `${Name}` in `Fn::Sub`. */
export function references(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(references);
  if (!value || typeof value !== 'object') return [];
  const node = value as Record<string, unknown>;
  const own: string[] = [];
  if (typeof node.Ref === 'string') own.push(node.Ref);
  const getAtt = node['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') own.push(getAtt[0]);
  const sub = node['Fn::Sub'];
  if (typeof sub === 'string') {
    for (const m of sub.matchAll(/\$\{([^}!]+)\}/g)) own.push((m[1] as string).split('.')[0] as string);
  }
  return [...own, ...Object.values(node).flatMap(references)];
}

/** IAM's wildcard match for action names and ARNs (`*` any run, `?` one character), case-insensitive. */
export function globMatch(pattern: string, value: string): boolean {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  ).test(value);
}
