import middy, { type MiddlewareObj, type Request } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { DeadLetters } from '../aws/dlq.ts';
import { EventValidationError } from '../events/validation.ts';
import { noteFunctionArn } from './function-account.ts';
import { functionLogger, type LogLevel, type RequestLogger, requestLogger } from './log.ts';
import { functionMetrics, type Measure, publish } from './metrics.ts';

export type { RequestLogger } from './log.ts';
export type MirroropsContext = Context & {
  log: RequestLogger;
  /** Counts what the use case did, published as metrics when the invocation ends (shared/runtime/metrics.ts). */
  measure: (measures: readonly Measure[]) => void;
  /** Work to finish before the invocation ends, after the answer is ready (see MirrorDeps.defer). */
  defer: (work: Promise<unknown>) => void;
};

/** Collects deferred work and waits for it before the invocation ends, whatever the outcome. */
const deferred = (): MiddlewareObj<unknown, unknown, Error, MirroropsContext> => {
  const pending = new WeakMap<object, Promise<unknown>[]>();
  const settle = async (request: Request<unknown, unknown, Error, MirroropsContext>) => {
    await Promise.allSettled(pending.get(request.context) ?? []);
  };
  return {
    before: (request) => {
      const work: Promise<unknown>[] = [];
      pending.set(request.context, work);
      request.context.defer = (promise) => {
        work.push(promise);
      };
    },
    after: settle,
    onError: settle,
  };
};

/**
 * The function's Powertools logger, its keys reset per invocation to the function, the request id
 * and the Lambda context's; one line per outcome.
 */
const logging = (name: string, level: LogLevel): MiddlewareObj<unknown, unknown, Error, MirroropsContext> => {
  const logger = functionLogger(name, level);
  return {
    before: (request) => {
      noteFunctionArn(request.context.invokedFunctionArn);
      logger.resetKeys();
      logger.addContext(request.context);
      logger.appendKeys({ requestId: request.context.awsRequestId });
      request.context.log = requestLogger(logger);
    },
    after: (request) => {
      request.context.log.info('done', { result: request.response });
    },
    onError: (request) => {
      // Handled further in (a malformed event sent to the dead-letter queue): logged there.
      if (request.response !== undefined) return;
      const error = request.error;
      request.context.log?.error('failed', { error: error?.message, name: error?.name });
    },
  };
};

/**
 * The function's Powertools metrics: what the use case measured, written as embedded metric
 * format when the invocation ends, failed or not (what was done before a failure happened).
 */
const measuring = (name: string): MiddlewareObj<unknown, unknown, Error, MirroropsContext> => {
  const metrics = functionMetrics(name);
  const pending = new WeakMap<object, Measure[]>();
  const flush = (request: Request<unknown, unknown, Error, MirroropsContext>) => {
    publish(metrics, pending.get(request.context) ?? []);
    pending.delete(request.context);
  };
  return {
    before: (request) => {
      const measures: Measure[] = [];
      pending.set(request.context, measures);
      request.context.measure = (more) => {
        measures.push(...more);
      };
    },
    after: flush,
    onError: flush,
  };
};

/**
 * A malformed event goes to the dead-letter queue and the invocation succeeds: retrying cannot
 * fix it. Every other error escapes, so Lambda retries it and, after the last retry, its own
 * dead-letter configuration keeps the event.
 */
const deadLetter = (
  name: string,
  deadLetters: () => DeadLetters | undefined,
): MiddlewareObj<unknown, unknown, Error, MirroropsContext> => ({
  onError: async (request: Request<unknown, unknown, Error, MirroropsContext>) => {
    const error = request.error;
    if (!(error instanceof EventValidationError)) return;
    const dlq = deadLetters();
    if (!dlq) return;
    await dlq.send(name, request.event, error.message);
    request.context.log?.warn('malformed event sent to the dead-letter queue', { error: error.message });
    request.response = { status: 'invalid', error: error.message };
  },
});

/** The one middleware chain of every mirrorops Lambda. */
export function mirroropsHandler<TResult>(
  name: string,
  run: (event: unknown, context: MirroropsContext) => Promise<TResult>,
  options: { deadLetters?: () => DeadLetters | undefined; logLevel?: LogLevel } = {},
) {
  return middy<unknown, unknown, Error, MirroropsContext>()
    .use(logging(name, options.logLevel ?? 'info'))
    .use(measuring(name))
    .use(deferred())
    .use(deadLetter(name, options.deadLetters ?? (() => undefined)))
    .handler(run);
}
