import type { DeadLetters } from './aws/dlq.ts';
import { errorName } from './aws/errors.ts';
import type { Clock } from './aws/pacing.ts';
import type { FindingQueues, QueuedMessage } from './aws/queues.ts';
import {
  type Backoff,
  type Band,
  DEFAULT_BACKOFF,
  mayStart,
  nextAttempt,
  retryDecision,
} from './domain/intake.ts';
import type { MirrorIntent } from './domain/intent.ts';
import { compileFilter, filterHash } from './domain/scope.ts';
import { EventValidationError } from './events/validation.ts';
import type { Logger } from './runtime/log.ts';

/** One finding read from its queue: ignored, or to be mirrored until `expiresAt`. */
export type PreparedFinding =
  | { kind: 'ignore'; reason: string }
  | {
      kind: 'mirror';
      severity: number;
      expiresAt: Date;
      run: () => Promise<unknown>;
      /**
       * The filter it needs (account, Region, content hash), when known before reading: the first
       * finding of a filter goes alone, so the ones after it find the filter made and its rules
       * written instead of each writing them again.
       */
      filterKey?: string;
    };

export interface IntakeDeps {
  /** The queue of each severity band (EventBridge's targets). */
  queues: Record<Band, string>;
  sqs: FindingQueues;
  deadLetters: DeadLetters | undefined;
  /** The event (a message body, parsed) -> what to do; throws EventValidationError for a malformed one. */
  prepare(event: unknown): PreparedFinding;
  /** Paces the waits; the EC2 clients' token budget runs on the same clock. */
  clock: Clock;
  /** Wall time, for the findings' expiry. */
  now(): Date;
  /** Time left in the invocation, ms of `clock`. */
  remainingMs(): number;
  log: Logger;
  /** Findings applied at once (their calls still wait for the token budget). */
  window?: number;
  /**
   * Seconds a receive that decides "the queue is empty" may wait (SQS long polling). A short poll
   * samples some of SQS's servers and can answer empty while messages wait; a long one asks them
   * all (sqs-short-and-long-polling.html). 0 for short polls.
   */
  emptyCheckSeconds?: number;
  /** The queues' visibility timeout, ms of `clock`: how long a lost receive hides its messages. */
  visibilityTimeoutMs: number;
  backoff?: Backoff;
  random?: () => number;
  /** The function whose dead letters these are. */
  functionName?: string;
}

export interface DrainResult {
  /** Findings applied (their sessions started, extended, or rejected with a reason). */
  applied: number;
  ignored: number;
  /** Past their own expiry before EC2 would take them: removed from the queue, audited by nobody. */
  expired: number;
  /** Malformed or refused for good: sent to the dead-letter queue. */
  deadLettered: number;
  /** Left in their queue for a later invocation (the time ran out). */
  left: number;
  /** Attempts that failed with throttling or a 5xx and were tried again. */
  retries: number;
  /** Finding message ids in the order they finished, with their band. */
  order: { id: string; band: Band }[];
}

/** One drain's state, shared by its findings. */
interface Run {
  deps: IntakeDeps;
  deadline: number;
  random: () => number;
  result: DrainResult;
  /** Messages whose next attempt falls after the deadline: not started again in this invocation. */
  later: Set<string>;
  /** Done in this invocation: one that shows up again (its removal failed) is only removed. */
  finished: Set<string>;
  /** By filter key: the first attempt of the first finding that needs that filter. */
  firstOfFilter: Map<string, Promise<void>>;
}

/** Stop taking new findings this long before the invocation's end: room to finish what runs. */
const MARGIN_MS = 20_000;
const DEFAULT_WINDOW = 10;

/**
 * Works through the findings waiting in the intake queues: the high band first (every severity
 * >= 7 finding has its sessions before a lower one is started), a window of findings at once, each
 * attempt's EC2 calls paced by the clients' token budget. Throttling and 5xx are waited out with
 * backoff and tried again until the finding's own expiry; a malformed event or a permanent refusal
 * goes to the dead-letter queue; nothing else does. A finding still waiting when the invocation's
 * time runs out stays in its queue (not deleted) and comes back to the next invocation.
 */
export async function drain(deps: IntakeDeps): Promise<DrainResult> {
  const window = deps.window ?? DEFAULT_WINDOW;
  const random = deps.random ?? Math.random;
  const result: DrainResult = {
    applied: 0,
    ignored: 0,
    expired: 0,
    deadLettered: 0,
    left: 0,
    retries: 0,
    order: [],
  };
  const deadline = deps.clock.now() + deps.remainingMs() - MARGIN_MS;
  /** Messages being worked on, by id: a queue that shows one again (visibility) is not given it twice. */
  const held = new Map<string, { band: Band; message: QueuedMessage }>();
  const running = new Set<Promise<void>>();
  /** Messages whose next attempt falls after the deadline: not started again in this invocation. */
  const later = new Set<string>();
  const inFlight = (band: Band) => [...held.values()].filter((h) => h.band === band).length;

  const start = (band: Band, message: QueuedMessage) => {
    held.set(message.id, { band, message });
    const job = work(run, band, message).finally(() => {
      held.delete(message.id);
      running.delete(job);
    });
    running.add(job);
  };

  /** Done in this invocation: one that shows up again (its removal failed) is only removed. */
  const finished = new Set<string>();
  const removeAgain = async (band: Band, message: QueuedMessage) => {
    try {
      await deps.sqs.delete(deps.queues[band], message.receiptHandle);
    } catch (error) {
      deps.log.warn('a finding done could not be removed from its queue', {
        messageId: message.id,
        error: errorName(error),
      });
    }
  };
  const run: Run = { deps, deadline, random, result, later, finished, firstOfFilter: new Map() };
  let receiveFailures = 0;
  /** Until when messages of each queue may be hidden by a receive whose answer was lost. */
  const hiddenUntil: Record<Band, number> = { high: Number.NEGATIVE_INFINITY, low: Number.NEGATIVE_INFINITY };
  /**
   * Receives from `band`'s queue into free slots: how many messages it showed (0: empty) and how
   * many it took or removed. A queue that could not be read shows one (a low finding must not
   * start on a guess).
   */
  const fill = async (band: Band): Promise<{ shown: number; progress: number }> => {
    const free = window - running.size;
    if (free <= 0) return { shown: 1, progress: 0 };
    let got: QueuedMessage[];
    const asked = deps.clock.now();
    try {
      const out = await deps.sqs.receive(deps.queues[band], free, deps.emptyCheckSeconds ?? 0);
      got = out.messages;
      if (out.mayHaveHidden) hiddenUntil[band] = asked + deps.visibilityTimeoutMs;
      receiveFailures = 0;
    } catch (error) {
      hiddenUntil[band] = asked + deps.visibilityTimeoutMs;
      receiveFailures++;
      deps.log.warn('an intake queue could not be read', { band, error: errorName(error) });
      return { shown: 1, progress: 0 };
    }
    let progress = 0;
    for (const message of got) {
      const known = held.get(message.id);
      // Received again (its visibility ran out): only the latest receipt handle deletes it.
      if (known) known.message.receiptHandle = message.receiptHandle;
      else if (finished.has(message.id)) {
        await removeAgain(band, message);
        progress++;
      } else if (!later.has(message.id)) {
        start(band, message);
        progress++;
      }
    }
    return { shown: got.length, progress };
  };

  while (deps.clock.now() < deadline) {
    const before = running.size;
    const high = await fill('high');
    const lowMayStart = mayStart('low', {
      highQueueEmpty: high.shown === 0,
      highInFlight: inFlight('high'),
      now: deps.clock.now(),
      highHiddenUntil: hiddenUntil.high,
    });
    const low = lowMayStart ? await fill('low') : { shown: 0, progress: 0 };
    if (running.size === 0) {
      if (high.progress + low.progress > 0) continue;
      // Nothing to do but findings a lost receive hid: wait until they show again.
      const hidden = Math.max(hiddenUntil.high, hiddenUntil.low);
      if (receiveFailures === 0 && hidden > deps.clock.now()) {
        await deps.clock.sleepUntil(Math.min(hidden, deadline));
        continue;
      }
      // Both queues empty, or showing only findings left for a later invocation: done.
      if (receiveFailures === 0) break;
      const next = nextAttempt(receiveFailures, random(), {
        now: deps.clock.now(),
        expiresAt: Number.POSITIVE_INFINITY,
        deadline,
      });
      if (next.kind !== 'retry') break;
      await deps.clock.sleepUntil(next.at);
      continue;
    }
    // Nothing new started, or no free slot: wait for a finding to finish (a slot, or the high band clearing).
    if (running.size === before || running.size >= window) await Promise.race(running);
  }
  await Promise.all(running);
  return result;
}

/**
 * One finding: prepared, applied, retried after a passing failure, then removed from its queue.
 * Never throws: a finding whose dead letter cannot be sent either stays in its queue.
 */
async function work(run: Run, band: Band, message: QueuedMessage): Promise<void> {
  const { deps, result, later } = run;
  try {
    await attempts(run, band, message);
  } catch (error) {
    deps.log.error('a finding could not be handled; it stays in its queue', {
      messageId: message.id,
      error: errorName(error),
      message: (error as Error).message,
    });
    later.add(message.id);
    result.left++;
  }
}

async function attempts(run: Run, band: Band, message: QueuedMessage): Promise<void> {
  const { deps, deadline, random, result, later, finished } = run;
  const queueUrl = deps.queues[band];
  const done = async (outcome: keyof Omit<DrainResult, 'order' | 'retries' | 'left'>) => {
    result[outcome]++;
    finished.add(message.id);
    result.order.push({ id: message.id, band });
    try {
      const handle = message.receiptHandle;
      await deps.sqs.delete(queueUrl, handle).catch(async (error: unknown) => {
        // Received again meanwhile: the newer receipt handle is the one that deletes it.
        if (message.receiptHandle === handle) throw error;
        await deps.sqs.delete(queueUrl, message.receiptHandle);
      });
    } catch (error) {
      // The message comes back after its visibility timeout; applying it again changes nothing.
      deps.log.warn('a finding done could not be removed from its queue', {
        messageId: message.id,
        error: errorName(error),
      });
    }
  };
  const deadLetter = async (reason: string) => {
    if (!deps.deadLetters) throw new Error(`no dead-letter queue for a finding that failed: ${reason}`);
    await deps.deadLetters.send(deps.functionName ?? 'guardduty-finding', parseBody(message.body), reason);
    deps.log.warn('finding sent to the dead-letter queue', { messageId: message.id, reason });
    await done('deadLettered');
  };

  let prepared: PreparedFinding;
  try {
    prepared = deps.prepare(JSON.parse(message.body));
  } catch (error) {
    return deadLetter(error instanceof EventValidationError ? error.message : `not JSON: ${String(error)}`);
  }
  if (prepared.kind === 'ignore') return done('ignored');

  // The first finding of a filter in this invocation makes it; the others wait for its first attempt.
  const key = prepared.filterKey;
  const first = key === undefined ? undefined : run.firstOfFilter.get(key);
  let firstDone = (): void => undefined;
  if (key !== undefined && first === undefined) {
    run.firstOfFilter.set(
      key,
      new Promise<void>((resolve) => {
        firstDone = resolve;
      }),
    );
  } else if (first) await first;

  for (let attempt = 1; ; attempt++) {
    try {
      await prepared.run().finally(firstDone);
      return done('applied');
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const name = errorName(error) || 'Error';
      if (retryDecision({ name, status }) === 'permanent') {
        return deadLetter(`${name}: ${(error as Error).message}`);
      }
      const now = deps.clock.now();
      const next = nextAttempt(
        attempt,
        random(),
        { now, expiresAt: now + (prepared.expiresAt.getTime() - deps.now().getTime()), deadline },
        deps.backoff ?? DEFAULT_BACKOFF,
      );
      if (next.kind === 'give-up') {
        deps.log.warn('finding expired before EC2 could take it', { messageId: message.id, error: name });
        return done('expired');
      }
      if (next.kind === 'later') {
        later.add(message.id);
        result.left++;
        // Hidden until its next attempt is due, when the next invocation (every minute) takes it.
        await deps.sqs
          .postpone(queueUrl, message.receiptHandle, (next.at - now) / 1000)
          .catch((e: unknown) => {
            deps.log.warn('a finding left for later keeps its visibility timeout', {
              messageId: message.id,
              error: errorName(e),
            });
          });
        return;
      }
      result.retries++;
      deps.log.info('finding waits and is tried again', { messageId: message.id, error: name, attempt });
      await deps.clock.sleepUntil(next.at);
    }
  }
}

function parseBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

/**
 * How the intake reads a queued GuardDuty finding: `toIntent` is the event's parser (ignore, or
 * an intent), `mirror` the use case that applies it; the expiry is the one apply gives its
 * sessions, so a finding is waited for exactly as long as it could still be mirrored.
 */
export function findingPreparer(
  toIntent: (event: unknown) => { kind: 'ignore'; reason: string } | { kind: 'mirror'; intent: MirrorIntent },
  expiresAt: (intent: MirrorIntent) => Date,
  mirror: (intent: MirrorIntent) => Promise<unknown>,
): (event: unknown) => PreparedFinding {
  return (event) => {
    const outcome = toIntent(event);
    if (outcome.kind === 'ignore') return outcome;
    const { intent } = outcome;
    return {
      kind: 'mirror',
      severity: intent.severity ?? 0,
      expiresAt: expiresAt(intent),
      run: () => mirror(intent),
      filterKey: `${intent.account}|${intent.region}|${filterHash(compileFilter(intent.scope))}`,
    };
  };
}
