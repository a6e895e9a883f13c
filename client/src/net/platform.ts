// What a session needs from its platform, in a browser and in Node: randomness, storage, identity locks.

import type { KeyValueStorage } from './session.ts';

export function random(): number {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return a[0]! / 2 ** 32;
}

export function memoryStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

/** The tab's sessionStorage, or null where there is none (Node) or it is disabled. */
export function safeSessionStorage(): Storage | null {
  try {
    return typeof window === 'undefined' ? null : window.sessionStorage;
  } catch {
    return null;
  }
}

/**
 * Holds a Web Lock named after a room's player for the life of this page. A reload releases it as the old
 * page goes, so the new page waits up to a second for it; a duplicated tab never gets it. With `wait`, the
 * page the server just gave this identity waits as long as it takes: giving up after a second on a loaded
 * machine left it holding nothing, and a duplicate of it then took its session (e2e/lifecycle.spec, once).
 */
export function holdIdentity(key: string, wait = false): Promise<(() => void) | null> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks) return Promise.resolve(() => {});
  return new Promise((resolve) => {
    const abort = new AbortController();
    const timer = wait ? undefined : setTimeout(() => abort.abort(), 1_000);
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    locks
      .request(`lockstep:${key}`, { signal: abort.signal }, () => {
        clearTimeout(timer);
        resolve(release);
        return held;
      })
      .catch(() => resolve(null));
  });
}
