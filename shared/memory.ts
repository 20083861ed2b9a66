import type { SessionView } from './aws/ec2.ts';

/**
 * What this container last knew of the sessions it started or extended, and of the filters it
 * used: a warm Lambda container answering a repeat finding writes its claim on the session it remembers
 * while it reads the session again, in one round trip instead of two (see `apply`).
 *
 * A hint, never the truth: every use is checked against a read made in the same round trip, and a
 * stale entry costs only the round trip it was meant to save. It lives as long as the container.
 * Bounded, oldest forgotten first; a Map keeps insertion order, which is all the eviction needed
 * here, so no cache library is added to every bundle for it.
 */
export class Memory {
  private readonly sessions = new Map<string, SessionView>();
  private readonly filters = new Map<string, string>();

  constructor(private readonly capacity = 5_000) {}

  session(key: string): SessionView | undefined {
    return this.sessions.get(key);
  }

  rememberSession(key: string, session: SessionView): void {
    remember(this.sessions, key, session, this.capacity);
  }

  forgetSession(key: string): void {
    this.sessions.delete(key);
  }

  /** The id of a filter of a content hash this container used (the filter may be deleted since). */
  filter(key: string): string | undefined {
    return this.filters.get(key);
  }

  rememberFilter(key: string, id: string): void {
    remember(this.filters, key, id, this.capacity);
  }

  forgetFilter(key: string): void {
    this.filters.delete(key);
  }

  get size(): number {
    return this.sessions.size;
  }
}

function remember<T>(map: Map<string, T>, key: string, value: T, capacity: number): void {
  map.delete(key); // re-inserted last: the most recently used is forgotten last
  map.set(key, value);
  if (map.size > capacity) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}
