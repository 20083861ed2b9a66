import { createHash } from 'node:crypto';

/** The AWS error code of a failed call (the SDK's exception name), or '' for anything else. */
export const errorName = (error: unknown) => (error instanceof Error ? error.name : '');

/**
 * A ClientToken derived from what a request creates, so that a retry or a duplicate event sends
 * the same one: `prefix-` and 40 hex characters of its SHA-256 (EC2 takes 64 characters).
 */
export const clientToken = (prefix: string, what: string) =>
  `${prefix}-${createHash('sha256').update(what).digest('hex').slice(0, 40)}`;
