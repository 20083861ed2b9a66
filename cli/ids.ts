import { parseDuration } from '../shared/domain/duration.ts';
import { readExpiry } from '../shared/domain/expiry.ts';
import { REASONS, type Reason } from '../shared/domain/slots.ts';
import { UsageError } from './command.ts';

/** EC2 ids: the prefix, a dash, 8 or 17 hex digits (resource-ids.html). */
const ID = /^[a-z]+-[0-9a-f]{8}([0-9a-f]{9})?$/;

/** Checks an id's shape before any call, so a typo is a usage error naming the option. */
export function checkId(option: string, value: string, prefix: 'i' | 'eni' | 'tms' | 'tmt'): string {
  if (!value.startsWith(`${prefix}-`) || !ID.test(value))
    throw new UsageError(
      `${option} '${value}' is not a ${prefix}-... id (${prefix}- and 8 or 17 hex digits)`,
    );
  return value;
}

/** `--for`: a duration such as 30m, 2h or 1d (the same as the mirrorops:mirror tag takes). */
export function durationOf(option: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined)
    throw new UsageError(
      `${option} '${text}' is not a duration such as 30m, 2h or 1d (a whole number and s, m, h, d or w)`,
    );
  return ms;
}

/** `--until`: an ISO-8601 instant with its zone (2026-12-05T18:00Z), which must be in the future. */
export function instantOf(option: string, text: string, now: Date): Date {
  const t = readExpiry(text);
  if (t === undefined)
    throw new UsageError(`${option} '${text}' is not a date and time with a zone, such as 2026-12-05T18:00Z`);
  if (t <= now.getTime()) throw new UsageError(`${option} ${text} is not in the future`);
  return new Date(t);
}

/** `--reason`: one of mirrorops' reasons. */
export function reasonOf(text: string): Reason {
  if (!(REASONS as readonly string[]).includes(text))
    throw new UsageError(`--reason must be one of ${REASONS.join(', ')}, not '${text}'`);
  return text as Reason;
}
