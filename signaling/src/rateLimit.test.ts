import { expect, it } from 'vitest';
import { ConnectionLimiter, type RateLimitOptions, TokenBucket } from './rateLimit.ts';

const options: RateLimitOptions = {
  perSecond: 1,
  burst: 10,
  bytesPerSecond: 1_000,
  bytesBurst: 10_000,
  strikes: 100,
  strikeWindowMs: 10_000,
};

it('does not charge a connection for events its address budget refused', () => {
  const clock = { now: () => 0 };
  const address = new TokenBucket(options, clock);
  const busy = new ConnectionLimiter(options, address, clock);
  const quiet = new ConnectionLimiter(options, address, clock);
  // A neighbour spends the address's share; this connection's batches are refused by it.
  expect(busy.take(10, 10).decision).toBe('allow');
  // Charged each time, 8 of its 10 would leave too few for the second: refused by its own budget instead.
  expect(quiet.take(10, 8)).toMatchObject({ decision: 'refuse', budget: 'address' });
  expect(quiet.take(10, 8)).toMatchObject({ decision: 'refuse', budget: 'address' });
  // Once the address's share refills, the connection spends its whole burst at once.
  clock.now = () => 10_000;
  expect(quiet.take(10, 10).decision).toBe('allow');
});
