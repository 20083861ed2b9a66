import { sweepFleet } from '../shared/fleet.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { mirroropsHandler } from '../shared/runtime/handler.ts';
import { sweepMeasures } from '../shared/runtime/metrics.ts';

const config = loadConfig();

/**
 * Every minute, in every enrolled account: remove expired managed sessions and the managed
 * filters nothing uses any more.
 */
export const handler = mirroropsHandler(
  'ttl-sweeper',
  async (_event, context) => {
    const result = await sweepFleet(config, context.log, {
      remainingMs: () => context.getRemainingTimeInMillis(),
    });
    context.measure(sweepMeasures(result));
    return result;
  },
  { logLevel: config.logLevel },
);
