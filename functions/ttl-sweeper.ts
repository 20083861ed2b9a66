import * as z from 'zod/mini';
import { parseOrThrow } from '../shared/events/validation.ts';
import { fleetAccounts, fleetSummary, sweepFleet } from '../shared/fleet.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { mirroropsHandler } from '../shared/runtime/handler.ts';
import { sweepMeasures } from '../shared/runtime/metrics.ts';

const config = loadConfig();

/**
 * What the sweep-fleet workflow asks (statemachines/sweep-fleet.asl.json): the enrolled accounts,
 * or a sweep of a batch of them. Anything else (the schedule's event) sweeps every enrolled account.
 */
const WorkflowRequest = z.union([
  z.strictObject({ list: z.literal('accounts') }),
  z.strictObject({
    accounts: z
      .array(z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit account id')))
      .check(z.minLength(1), z.maxLength(1000)),
  }),
]);
const fromWorkflow = (event: unknown) =>
  typeof event === 'object' && event !== null && ('list' in event || 'accounts' in event);

/**
 * Every minute, in every enrolled account: remove expired managed sessions and the managed
 * filters nothing uses any more. From the sweep-fleet workflow: list the accounts, or sweep a batch.
 */
export const handler = mirroropsHandler(
  'ttl-sweeper',
  async (event, context) => {
    const request = fromWorkflow(event) ? parseOrThrow(WorkflowRequest, 'sweep-fleet', event) : undefined;
    if (request && 'list' in request) return { accounts: await fleetAccounts(config, context.log) };
    const result = await sweepFleet(config, context.log, {
      remainingMs: () => context.getRemainingTimeInMillis(),
      ...(request ? { accounts: request.accounts } : {}),
    });
    context.measure(sweepMeasures(result));
    // The workflow gathers every batch's answer in one state: counts, not session ids.
    return request ? fleetSummary(result) : result;
  },
  { logLevel: config.logLevel },
);
