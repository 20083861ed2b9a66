import middy, { type MiddlewareObj, type Request } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { DeadLetters } from '../aws/dlq.ts';
import { EventValidationError } from '../events/validation.ts';
import { jsonLogger, type Logger, type LogLevel } from './log.ts';

export type RequestLogger = Logger & { append(extra: Record<string, unknown>): void };
export type MirroropsContext = Context & {
  log: RequestLogger;
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

/** A logger per invocation with the function and request id; one line per outcome. */
const logging = (
  name: string,
  level: LogLevel,
): MiddlewareObj<unknown, unknown, Error, MirroropsContext> => ({
  before: (request) => {
    request.context.log = jsonLogger({ function: name, requestId: request.context.awsRequestId }, level);
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
});

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
    .use(deferred())
    .use(deadLetter(name, options.deadLetters ?? (() => undefined)))
    .handler(run);
}
