import { findingToIntent } from '../shared/events/guardduty.ts';
import { drain } from '../shared/intake.ts';
import { apply } from '../shared/mirror.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { deadLettersFor, findingIntake, mirrorDeps } from '../shared/runtime/deps.ts';
import { mirroropsHandler } from '../shared/runtime/handler.ts';
import { applyMeasures, drainMeasures } from '../shared/runtime/metrics.ts';

const config = loadConfig();

/**
 * GuardDuty finding -> mirror every ENI of the instance, scoped to the finding, until it expires.
 * With the stack's intake queues, any invocation works through the findings waiting in them, the
 * most severe first, at EC2's rate (the event's own finding is among them); without, as it comes.
 */
export const handler = mirroropsHandler(
  'guardduty-finding',
  async (event, context) => {
    const { queues } = config.intake;
    if (queues) {
      const intake = findingIntake(
        config,
        queues,
        context.log,
        () => context.getRemainingTimeInMillis(),
        (result, since) => context.measure(applyMeasures(result, since, new Date())),
      );
      const { order, ...counts } = await drain(intake);
      context.measure(drainMeasures({ order, ...counts }));
      return { ...counts, done: order.length };
    }
    const outcome = findingToIntent(event, config);
    if (outcome.kind === 'ignore') return { status: 'ignored', reason: outcome.reason };
    const { intent } = outcome;
    context.log.append({
      account: intent.account,
      instanceId: intent.instanceId,
      findingId: intent.findingId,
    });
    const result = await apply(intent, {
      ...(await mirrorDeps(config, intent.account, intent.region, context.log)),
      defer: context.defer,
    });
    context.measure(applyMeasures(result, intent.startAt, new Date()));
    return result;
  },
  { deadLetters: deadLettersFor(config), logLevel: config.logLevel },
);
