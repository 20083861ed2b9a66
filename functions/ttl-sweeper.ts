import { accountOf } from '../shared/events/schedule.ts';
import { sweep } from '../shared/mirror.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { mirrorDeps } from '../shared/runtime/deps.ts';
import { mirroropsHandler } from '../shared/runtime/handler.ts';

const config = loadConfig();

/** Every minute: remove expired managed sessions and the managed filters nothing uses any more. */
export const handler = mirroropsHandler(
  'ttl-sweeper',
  async (event, context) => {
    const deps = mirrorDeps(config, accountOf(event), config.region, context.log);
    return sweep(deps, { remainingMs: () => context.getRemainingTimeInMillis() });
  },
  { logLevel: config.logLevel },
);
