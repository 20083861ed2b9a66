import { z } from 'zod';
import { parseOrThrow } from './validation.ts';

/** An EventBridge Scheduled Event; every field is optional so a bare `{}` invokes a sweep too. */
const ScheduledEvent = z.object({
  account: z
    .string()
    .regex(/^\d{12}$/, 'must be a 12-digit account id')
    .optional(),
});

/** The account the schedule fired in, for the audit events of what the sweep stops. */
export const accountOf = (event: unknown): string =>
  parseOrThrow(ScheduledEvent, 'Scheduled Event', event ?? {}).account ?? 'self';
