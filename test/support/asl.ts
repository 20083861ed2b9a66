import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Amazon States Language definitions as tests need them: read from statemachines/, with the
 * deploy-time placeholders (`#{Name}`, which serverless-step-functions turns into a CloudFormation
 * Fn::Sub) replaced, walked state by state, and validated with asl-validator.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface State {
  Type: string;
  Resource?: string;
  Parameters?: Json;
  Credentials?: Record<string, string>;
  Retry?: { ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number; BackoffRate?: number }[];
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string | null }[];
  ItemProcessor?: Definition;
  Iterator?: Definition;
  Branches?: Definition[];
  MaxConcurrency?: number;
  Next?: string;
  Default?: string;
  Choices?: { Next: string }[];
  [field: string]: unknown;
}

export interface Definition {
  StartAt: string;
  States: Record<string, State>;
  [field: string]: unknown;
}

/** A definition from statemachines/, `#{Name}` placeholders replaced by `substitutions[Name]`. */
export function loadDefinition(file: string, substitutions: Record<string, string> = {}): Definition {
  const text = readFileSync(new URL(`../../statemachines/${file}`, import.meta.url), 'utf8');
  const replaced = text.replace(/#\{([A-Za-z0-9:]+)\}/g, (whole, name: string) => {
    const value = substitutions[name];
    if (value === undefined) throw new Error(`${file}: no substitution for ${whole}`);
    return value;
  });
  return JSON.parse(replaced) as Definition;
}

/** Every state, nested ones (Map processors, Parallel branches) included, with its name and the Maps around it. */
export function allStates(
  definition: Definition,
  within: string[] = [],
): { name: string; state: State; within: string[] }[] {
  return Object.entries(definition.States).flatMap(([name, state]) => {
    const inner = [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])].filter(
      (d): d is Definition => d !== undefined,
    );
    return [{ name, state, within }, ...inner.flatMap((d) => allStates(d, [...within, name]))];
  });
}

export interface ValidationResult {
  isValid: boolean;
  errorsText(separator?: string): string;
}
type Validator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => ValidationResult;

const require = createRequire(import.meta.url);

/** asl-validator on a copy: it writes QueryLanguage into the states it is given. */
export function validate(definition: Definition): ValidationResult {
  const aslValidator = require('asl-validator') as Validator;
  return aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });
}

/** `arn:aws:states:::aws-sdk:ram:getResourceShares` -> `{ service: 'ram', action: 'GetResourceShares' }`. */
export function sdkIntegration(resource: string): { service: string; action: string } | undefined {
  const match = /^arn:aws:states:::aws-sdk:([a-z0-9]+):([a-zA-Z0-9]+)$/.exec(resource);
  if (!match) return undefined;
  const [, service = '', action = ''] = match;
  return { service, action: action.charAt(0).toUpperCase() + action.slice(1) };
}
