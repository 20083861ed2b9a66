/** The tags mirrorops writes and reads; DESIGN.md "State lives in AWS tags". */
export const TAG = {
  /** `true` on everything mirrorops created: the only things it ever modifies or deletes. */
  managed: 'mirrorops:managed',
  reason: 'mirrorops:reason',
  expiresAt: 'mirrorops:expires-at',
  /** The idempotency key of the request that created or last extended the session. */
  intent: 'mirrorops:intent',
  filterHash: 'mirrorops:filter-hash',
  /** When a filter was created, so the sweeper leaves filters being set up alone. */
  createdAt: 'mirrorops:created-at',
  instance: 'mirrorops:instance-id',
  severity: 'mirrorops:severity',
  /** On instances: `true` or a duration opts the instance in. */
  mirror: 'mirrorops:mirror',
} as const;

export type Tags = Readonly<Record<string, string>>;

export const isManaged = (tags: Tags) => tags[TAG.managed] === 'true';
