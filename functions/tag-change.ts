import { tagTrigger } from '../shared/events/tag.ts';
import { onTagChange } from '../shared/optin.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { deadLettersFor, mirrorDeps } from '../shared/runtime/deps.ts';
import { mirroropsHandler } from '../shared/runtime/handler.ts';
import { tagMeasures } from '../shared/runtime/metrics.ts';

const config = loadConfig();

/** `mirrorops:mirror` set, changed or removed on an instance or ENI -> start, move or stop its tag sessions. */
export const handler = mirroropsHandler(
  'tag-change',
  async (event, context) => {
    const trigger = tagTrigger(event);
    context.log.append({ account: trigger.account, resource: trigger.resourceId });
    const result = await onTagChange(trigger, {
      ...(await mirrorDeps(config, trigger.account, trigger.region, context.log)),
      defer: context.defer,
    });
    context.measure(tagMeasures(result, trigger.time, new Date()));
    return result;
  },
  { deadLetters: deadLettersFor(config), logLevel: config.logLevel },
);
