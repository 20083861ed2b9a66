import { ApiError } from '../errors.ts';
import type { World } from '../state.ts';

/**
 * Services on the AWS JSON protocols (`X-Amz-Target: Prefix.Operation`, JSON in and out):
 * EventBridge (json 1.1) and SQS (json 1.0). Errors are `{"__type", "message"}` with the code
 * also in `x-amzn-errortype`, as the SDK reads them.
 */
export interface JsonCtx {
  account: string;
  region: string;
  world: World;
  input: Record<string, unknown>;
  /** The emulator's own base URL as the caller reached it (SQS queue URLs point here). */
  baseUrl: string;
}

/** An operation's output; SQS's ReceiveMessage may wait (a long poll), so it may come later. */
export type JsonOperation = (ctx: JsonCtx) => Record<string, unknown> | Promise<Record<string, unknown>>;

export interface JsonService {
  /** The `X-Amz-Target` prefix, e.g. `AWSEvents`. */
  prefix: string;
  contentType: string;
  /** Namespace of error codes in `__type`, e.g. `com.amazonaws.sqs`. */
  errorNamespace?: string;
  operations: Record<string, JsonOperation>;
}

/**
 * How deep JSON may nest: EventBridge documents that PutEvents "will only process nested JSON up
 * to 1000 levels deep". The emulator holds every JSON request to it, since deeper values would
 * overflow the stack of whatever writes them again (answers, idempotency keys, the events view).
 */
export const MAX_JSON_DEPTH = 1000;

/**
 * Whether a JSON text nests arrays and objects more than MAX_JSON_DEPTH levels deep (brackets
 * inside strings do not count). A text too short to nest that deep is not scanned.
 */
export function nestsTooDeep(text: string): boolean {
  if (text.length <= 2 * MAX_JSON_DEPTH) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

export function parseJsonBody(body: string): Record<string, unknown> {
  if (body.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new ApiError('SerializationException', 'The request body is not valid JSON');
  }
  if (nestsTooDeep(body)) {
    throw new ApiError(
      'SerializationException',
      `The request body nests JSON more than ${MAX_JSON_DEPTH} levels deep`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError('SerializationException', 'The request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export function jsonError(service: JsonService | undefined, error: ApiError): string {
  const type = service?.errorNamespace ? `${service.errorNamespace}#${error.code}` : error.code;
  return JSON.stringify({ __type: type, message: error.message });
}

/** Typed readers for JSON inputs, throwing the validation error JSON services use. */
export function str(input: Record<string, unknown>, name: string, required: true): string;
export function str(input: Record<string, unknown>, name: string, required?: false): string | undefined;
export function str(input: Record<string, unknown>, name: string, required = false): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) {
    if (required)
      throw new ApiError(
        'ValidationException',
        `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
      );
    return undefined;
  }
  if (typeof value !== 'string')
    throw new ApiError('ValidationException', `Value at '${name}' must be a string`);
  return value;
}

export function arr(input: Record<string, unknown>, name: string): unknown[] {
  const value = input[name];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ApiError('ValidationException', `Value at '${name}' must be a list`);
  return value;
}
