// Budgets that may be shared between nodes (through Redis when one is configured), built on
// rate-limiter-flexible: joins per room, and wrong-password attempts per address and per room.

import type { Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';

function limiter(
  keyPrefix: string,
  points: number,
  duration: number,
  redis: Redis | undefined,
): RateLimiterAbstract {
  const options = { keyPrefix: `lockstep-${keyPrefix}`, points, duration };
  // If Redis fails, each node goes on counting by itself rather than refusing everyone.
  return redis
    ? new RateLimiterRedis({
        ...options,
        storeClient: redis,
        insuranceLimiter: new RateLimiterMemory(options),
      })
    : new RateLimiterMemory(options);
}

/** Joins one room accepts: `burst` at once, then `perSecond` on average (a window of burst / perSecond s). */
export class JoinRate {
  private readonly limiter: RateLimiterAbstract;

  constructor(perSecond: number, burst: number, redis?: Redis) {
    this.limiter = limiter('room-joins', burst, Math.max(1, Math.round(burst / perSecond)), redis);
  }

  async allow(room: string): Promise<boolean> {
    try {
      await this.limiter.consume(room);
      return true;
    } catch (err) {
      if (err instanceof RateLimiterRes) return false;
      throw err;
    }
  }

  /** Gives back a join that changed nothing (refused by the store), so refusals cannot lock a room. */
  async refund(room: string): Promise<void> {
    await this.limiter.reward(room, 1);
  }
}

export interface AttemptThrottleOptions {
  /** Failures allowed within windowMs before backoff starts. */
  free: number;
  windowMs: number;
  /** Each failure past the free ones doubles the wait, from 1 s up to this. */
  maxBackoffMs: number;
}

/** Failed attempts (wrong passwords) per key: a few are free, then each one doubles the wait before the next. */
export class AttemptThrottle {
  static readonly ADDRESS_DEFAULTS: AttemptThrottleOptions = {
    free: 10,
    windowMs: 15 * 60_000,
    maxBackoffMs: 5 * 60_000,
  };
  // Short: while a room is backing off, its honest newcomers wait too (their client retries by itself).
  static readonly ROOM_DEFAULTS: AttemptThrottleOptions = {
    free: 30,
    windowMs: 15 * 60_000,
    maxBackoffMs: 30_000,
  };

  private readonly failures: RateLimiterAbstract;
  private readonly blocks: RateLimiterAbstract;

  constructor(
    name: string,
    private readonly options: AttemptThrottleOptions,
    redis?: Redis,
  ) {
    const windowS = Math.max(1, Math.ceil(options.windowMs / 1000));
    this.failures = limiter(`${name}-fail`, options.free, windowS, redis);
    this.blocks = limiter(`${name}-wait`, 1, 1, redis);
  }

  /** How long the key must still wait before its next attempt; 0 when it may try now. */
  async waitMs(key: string): Promise<number> {
    const res = await this.blocks.get(key);
    return res && res.consumedPoints > 1 ? Math.max(0, res.msBeforeNext) : 0;
  }

  async failed(key: string): Promise<void> {
    let consumed: number;
    try {
      consumed = (await this.failures.consume(key)).consumedPoints;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      consumed = err.consumedPoints;
    }
    if (consumed < this.options.free) return;
    // The free-th failure waits 1 s before the next try, each further one twice as long as the last.
    const waitMs = Math.min(
      this.options.maxBackoffMs,
      1000 * 2 ** Math.min(30, consumed - this.options.free),
    );
    await this.blocks.block(key, Math.max(1, Math.ceil(waitMs / 1000)));
  }
}
