import type { Clock } from './rooms.ts';

export interface RateLimitOptions {
  /** Sustained events per second. */
  perSecond: number;
  /** Bucket size: how many events may arrive at once after a quiet period. */
  burst: number;
  /** Refused events in a row (no event let through in between) before the socket is cut off. */
  strikes: number;
}

export type RateDecision = 'allow' | 'refuse' | 'disconnect';

/** Token bucket with a strike counter, so a short burst costs a few errors and a flood costs the connection. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  private refusedInRow = 0;

  constructor(
    private readonly options: RateLimitOptions,
    private readonly clock: Clock,
  ) {
    this.tokens = options.burst;
    this.updatedAt = clock.now();
  }

  take(): RateDecision {
    const now = this.clock.now();
    const elapsedSeconds = Math.max(0, now - this.updatedAt) / 1000;
    this.tokens = Math.min(this.options.burst, this.tokens + elapsedSeconds * this.options.perSecond);
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.refusedInRow = 0;
      return 'allow';
    }
    this.refusedInRow++;
    return this.refusedInRow >= this.options.strikes ? 'disconnect' : 'refuse';
  }
}
