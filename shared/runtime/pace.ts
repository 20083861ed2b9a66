/**
 * A client-side token bucket, so a long job (the sweeper deleting thousands of sessions) stays
 * inside EC2's per-account request rate instead of leaning on throttling errors. Hand-written:
 * the few rate-limit packages on npm are timer-driven queues that keep a Lambda alive or cannot
 * be told what "now" is in tests.
 */
export class Pace {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly clock: () => number = () => performance.now(),
    private readonly wait: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.tokens = burst;
    this.last = clock();
  }

  /** Resolves when one request may be sent. */
  async take(): Promise<void> {
    for (;;) {
      const now = this.clock();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.wait(((1 - this.tokens) / this.perSecond) * 1000);
    }
  }
}
