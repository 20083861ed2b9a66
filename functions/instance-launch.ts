import { launchTrigger } from '../shared/events/launch.ts';
import { onLaunch } from '../shared/optin.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { deadLettersFor, mirrorDeps } from '../shared/runtime/deps.ts';
import { mirroropsHandler } from '../shared/runtime/handler.ts';
import { launchMeasures } from '../shared/runtime/metrics.ts';

const config = loadConfig();

/** An instance running or an interface attached -> mirror the new ENIs of watched instances. */
export const handler = mirroropsHandler(
  'instance-launch',
  async (event, context) => {
    const outcome = launchTrigger(event);
    if (outcome.kind === 'ignore') return { status: 'ignored', reason: outcome.reason };
    const { trigger } = outcome;
    context.log.append({ account: trigger.account, instanceIds: trigger.instanceIds });
    const result = await onLaunch(trigger, {
      ...(await mirrorDeps(config, trigger.account, trigger.region, context.log)),
      defer: context.defer,
    });
    context.measure(launchMeasures(result, trigger.time, new Date()));
    return result;
  },
  { deadLetters: deadLettersFor(config), logLevel: config.logLevel },
);
