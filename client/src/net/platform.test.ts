import { afterEach, expect, it, vi } from 'vitest';
import { holdIdentity, pruneStamps, stampsIn } from './platform.ts';

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

/** A Storage in memory, with the key enumeration pruning needs. */
function memoryStore(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    key: (i) => [...m.keys()][i] ?? null,
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, String(v)),
    removeItem: (k) => void m.delete(k),
    clear: () => m.clear(),
  };
}

it('stamps read back what was set, and a torn or foreign value reads as none', () => {
  const storage = memoryStore();
  const stamps = stampsIn(storage, () => 5);
  expect(stamps.get('r:i:1')).toBeNull();
  stamps.set('r:i:1', 7);
  expect(stamps.get('r:i:1')).toBe(7);
  for (const junk of ['{', '"7"', '[-1,0]', '[1.5,0]', 'null'])
    expect(stampsIn({ getItem: () => junk, setItem: () => {} }, () => 0).get('x')).toBeNull();
  // Storage that throws (disabled, full) is no stamp, and no exception.
  const broken = {
    getItem: () => {
      throw new Error('SecurityError');
    },
    setItem: () => {
      throw new Error('QuotaExceededError');
    },
  };
  expect(stampsIn(broken, () => 0).get('x')).toBeNull();
  expect(() => stampsIn(broken, () => 0).set('x', 1)).not.toThrow();
});

it('prunes stamps older than 30 days and the oldest past 500, and nothing else', () => {
  const day = 24 * 3_600_000;
  const storage = memoryStore();
  storage.setItem('other', 'kept');
  stampsIn(storage, () => 0).set('old', 1);
  stampsIn(storage, () => 29 * day).set('recent', 1);
  storage.setItem('lockstep:stamp:torn', '{');
  pruneStamps(storage, 31 * day);
  const left = [...Array(storage.length).keys()].map((i) => storage.key(i));
  expect(left.sort()).toEqual(['lockstep:stamp:recent', 'other']);
  for (let i = 0; i < 520; i++) stampsIn(storage, () => 31 * day + i).set(`k${i}`, i);
  pruneStamps(storage, 31 * day + 520);
  const stamps = stampsIn(storage, () => 0);
  expect(stamps.get('k519')).toBe(519);
  expect(stamps.get('k20')).toBe(20);
  expect(stamps.get('k19')).toBeNull();
  expect(stamps.get('recent')).toBeNull();
  expect(storage.getItem('other')).toBe('kept');
});
