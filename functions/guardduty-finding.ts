import { findingToIntent } from '../shared/events/guardduty.ts';
import { apply } from '../shared/mirror.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { deadLettersFor, mirrorDeps } from '../shared/runtime/deps.ts';
import { mirroropsHandler } from '../shared/runtime/handler.ts';

const config = loadConfig();

/** GuardDuty Finding -> mirror every ENI of the instance, scoped to the finding, until it expires. */
export const handler = mirroropsHandler(
  'guardduty-finding',
  async (event, context) => {
    const outcome = findingToIntent(event, config);
    if (outcome.kind === 'ignore') return { status: 'ignored', reason: outcome.reason };
    const { intent } = outcome;
    context.log.append({
      account: intent.account,
      instanceId: intent.instanceId,
      findingId: intent.findingId,
    });
    return apply(intent, {
      ...(await mirrorDeps(config, intent.account, intent.region, context.log)),
      defer: context.defer,
    });
  },
  { deadLetters: deadLettersFor(config), logLevel: config.logLevel },
);
