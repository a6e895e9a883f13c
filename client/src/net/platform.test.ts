import { afterEach, expect, it, vi } from 'vitest';
import { holdIdentity } from './platform.ts';

/** Web Locks whose grants take `grantMs` (a loaded machine), honouring the request's abort signal. */
function slowLocks(grantMs: number) {
  return {
    request: (_name: string, opts: { signal?: AbortSignal }, fn: () => Promise<void>) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => resolve(fn()), grantMs);
        opts.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(new DOMException('aborted', 'AbortError'));
        });
      }),
  };
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

it('the page the server gave an identity waits for its lock however slow the grant; a checking page gives up', async () => {
  vi.useFakeTimers();
  vi.stubGlobal('navigator', { locks: slowLocks(1_500) });
  const owner = holdIdentity('r:2', true);
  const checker = holdIdentity('r:3');
  await vi.advanceTimersByTimeAsync(2_000);
  // Giving up after a second left the owner holding nothing, and its duplicate took over its session.
  expect(typeof (await owner)).toBe('function');
  expect(await checker).toBeNull();
});
