import type { EC2Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { FinalizeRequestMiddleware, HandlerExecutionContext } from '@smithy/types';

export interface Call {
  /** The command's name without `Command`: `DescribeTrafficMirrorSessions`. */
  action: string;
  start: number;
  end: number;
  /** The AWS error name when the call failed. */
  error?: string;
}

/**
 * Every request the client sends from now on, with when it started and ended
 * (`performance.now()`), appended to `calls` as it ends. Used by tests for the order of requests
 * and by bench/ for the critical path.
 */
export function recordRequests(client: EC2Client | EventBridgeClient, calls: Call[] = []): Call[] {
  (client.middlewareStack as EventBridgeClient['middlewareStack']).add(
    (next, context) => async (args) => {
      const start = performance.now();
      const action = (context.commandName ?? '?').replace(/Command$/, '');
      try {
        const out = await next(args);
        calls.push({ action, start, end: performance.now() });
        return out;
      } catch (error) {
        calls.push({ action, start, end: performance.now(), error: (error as Error).name });
        throw error;
      }
    },
    { step: 'initialize', name: 'recordRequests' },
  );
  return calls;
}

/**
 * Every attempt an EC2 client sends (each SDK retry too, as EC2's buckets count them), with its
 * error, appended as it ends. Placed after the SDK's retry middleware and any token budget
 * (shared/aws/pacing.ts), so an attempt is recorded when it actually goes.
 */
export function recordAttempts(
  client: EC2Client,
  attempts: { action: string; at: number; error?: string }[] = [],
  now: () => number = () => performance.now(),
): { action: string; at: number; error?: string }[] {
  const record: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> =
    (next, context: HandlerExecutionContext) => async (args) => {
      const action = (context.commandName ?? '').replace(/Command$/, '');
      const at = now();
      try {
        const out = await next(args);
        attempts.push({ action, at });
        return out;
      } catch (error) {
        attempts.push({ action, at, error: (error as Error).name });
        throw error;
      }
    };
  // After the retry middleware, and after a token budget added before it: when the attempt goes.
  client.middlewareStack.addRelativeTo(record, {
    name: 'recordAttempts',
    relation: 'after',
    toMiddleware: 'retryMiddleware',
  });
  return attempts;
}
