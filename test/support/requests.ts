import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';

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
