import type { Clock } from './rooms.ts';

// The per-event budgets are checked synchronously, on the frame just read, so a flood is refused before
// any work for it is queued. rate-limiter-flexible (used for joins per room and password attempts, which
// may wait for Redis) only answers through promises, which would let a flood pile up behind them.

export interface RateLimitOptions {
  /** Sustained events per second. */
  perSecond: number;
  /** Bucket size: how many events may arrive at once after a quiet period. */
  burst: number;
  /** Sustained inbound bytes per second (socket.io frames as read). */
  bytesPerSecond: number;
  /** How many bytes may arrive at once after a quiet period. */
  bytesBurst: number;
  /** Refused events within strikeWindowMs after which the connection is cut off. */
  strikes: number;
  strikeWindowMs: number;
}

type BucketOptions = Pick<RateLimitOptions, 'perSecond' | 'burst' | 'bytesPerSecond' | 'bytesBurst'>;

export type RateDecision = 'allow' | 'refuse' | 'disconnect';

/** A token bucket that charges one token per event and a second bucket by the event's bytes. */
export class TokenBucket<O extends BucketOptions = BucketOptions> {
  private events: number;
  private bytes: number;
  private updatedAt: number;

  constructor(
    protected readonly options: O,
    protected readonly clock: Clock,
  ) {
    this.events = options.burst;
    this.bytes = options.bytesBurst;
    this.updatedAt = clock.now();
  }

  /** Whether both buckets have refilled completely: the bucket is then no different from a new one. */
  isFull(): boolean {
    const elapsedSeconds = Math.max(0, this.clock.now() - this.updatedAt) / 1000;
    return (
      this.events + elapsedSeconds * this.options.perSecond >= this.options.burst &&
      this.bytes + elapsedSeconds * this.options.bytesPerSecond >= this.options.bytesBurst
    );
  }

  /** Whether `events` events of this many bytes in all fit now; charges both buckets only if they do. */
  tryTake(bytes: number, events = 1): boolean {
    const now = this.clock.now();
    const elapsedSeconds = Math.max(0, now - this.updatedAt) / 1000;
    this.updatedAt = now;
    this.events = Math.min(this.options.burst, this.events + elapsedSeconds * this.options.perSecond);
    this.bytes = Math.min(this.options.bytesBurst, this.bytes + elapsedSeconds * this.options.bytesPerSecond);
    if (this.events < events || this.bytes < bytes) return false;
    this.events -= events;
    this.bytes -= bytes;
    return true;
  }

  /** Gives back what tryTake charged, for events another budget then refused. */
  refund(bytes: number, events = 1): void {
    this.events = Math.min(this.options.burst, this.events + events);
    this.bytes = Math.min(this.options.bytesBurst, this.bytes + bytes);
  }

  /**
   * How long until the byte bucket affords an event of this size; 0 when it does, or when the event count
   * is what is short (tiny events cost little to read and refuse: their floods go to the strike count).
   */
  waitMs(bytes: number): number {
    const elapsedSeconds = Math.max(0, this.clock.now() - this.updatedAt) / 1000;
    const events = this.events + elapsedSeconds * this.options.perSecond;
    const have = this.bytes + elapsedSeconds * this.options.bytesPerSecond;
    const need = Math.min(bytes, this.options.bytesBurst);
    if (events < 1) return 0;
    return have >= need ? 0 : Math.ceil((1000 * (need - have)) / this.options.bytesPerSecond);
  }
}

/** Counts refusals over a sliding window (not "in a row", which a flood defeats by pacing itself). */
export class StrikeWindow {
  private readonly times: number[] = [];

  constructor(
    private readonly strikes: number,
    private readonly windowMs: number,
    private readonly clock: Clock,
  ) {}

  /** Records one refusal; true once `strikes` refusals fall within the window. */
  strike(): boolean {
    const now = this.clock.now();
    this.times.push(now);
    while (this.times.length > 0 && (this.times[0] ?? now) <= now - this.windowMs) this.times.shift();
    if (this.times.length > this.strikes) this.times.splice(0, this.times.length - this.strikes);
    return this.times.length >= this.strikes;
  }
}

/**
 * A connection's own budget (the bucket it is), the budget it shares with every connection of its address,
 * and its strikes. One object, not a limiter holding a bucket: there is one per connection.
 */
export class ConnectionLimiter extends TokenBucket<RateLimitOptions> {
  // Made at the first refusal: most connections never get one, and there are many connections.
  private strikes: StrikeWindow | undefined;

  constructor(
    options: RateLimitOptions,
    private readonly address: TokenBucket,
    clock: Clock,
  ) {
    super(options, clock);
  }

  /**
   * 'connection' or 'address' names the budget that refused; the caller counts it. `waitMs` says when the refused
   * budget will afford an event of this size again: reading more from the connection before then only
   * buys more refusals.
   */
  take(
    bytes: number,
    events = 1,
  ): { decision: RateDecision; budget?: 'connection' | 'address'; waitMs?: number } {
    // The connection's own budget first, so one busy connection does not drain its neighbours' share.
    let budget: 'connection' | 'address' | undefined;
    if (!this.tryTake(bytes, events)) budget = 'connection';
    else if (!this.address.tryTake(bytes, events)) {
      // Refused, so not spent: a connection behind a busy address keeps its own budget for when it clears.
      this.refund(bytes, events);
      budget = 'address';
    }
    if (budget === undefined) return { decision: 'allow' };
    const waitMs = (budget === 'connection' ? this : this.address).waitMs(bytes);
    this.strikes ??= new StrikeWindow(this.options.strikes, this.options.strikeWindowMs, this.clock);
    return { decision: this.strikes.strike() ? 'disconnect' : 'refuse', budget, waitMs };
  }
}
