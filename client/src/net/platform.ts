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

/** What holdIdentity gives where there are no Web Locks (plain http, older browsers): nothing is held. */
export const NO_LOCK = (): void => {};

/**
 * Holds a Web Lock named after a room's player for the life of this page. A reload releases it as the old
 * page goes, so the new page waits up to a second for it; a duplicated tab never gets it. With `wait`, the
 * page the server just gave this identity waits as long as it takes: giving up after a second on a loaded
 * machine left it holding nothing, and a duplicate of it then took its session (e2e/lifecycle.spec, once).
 */
export function holdIdentity(key: string, wait = false): Promise<(() => void) | null> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks) return Promise.resolve(NO_LOCK);
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

/**
 * How many times each player's state was saved, shared by every tab of the origin (localStorage). A tab's
 * storage copied before its player saved again (a duplicated tab whose original went on and closed within
 * the lock's second, or a closed tab restored after a duplicate played on) holds promises that player has
 * since gone past: resuming from it could vote twice in one term. The copy then joins as a new player.
 */
export interface IdentityStamps {
  /** The newest count stamped for an identity, or null if none (never stamped, pruned, or unreadable). */
  get(key: string): number | null;
  set(key: string, writes: number): void;
}

const STAMP_PREFIX = 'lockstep:stamp:';
/** A copy restored later than this (a browser that reopens its tabs) is trusted as it is. */
const STAMP_MAX_AGE_MS = 30 * 24 * 3_600_000;
const STAMPS_MAX = 500;

/** Stamps in localStorage, old ones pruned first (each join); null where there is none or it is disabled. */
export function localStamps(now: () => number = Date.now): IdentityStamps | null {
  let storage: Storage;
  try {
    if (typeof window === 'undefined' || !window.localStorage) return null;
    storage = window.localStorage;
  } catch {
    return null;
  }
  pruneStamps(storage, now());
  return stampsIn(storage, now);
}

/** Stamps in any Storage-like store (a test's, or localStorage). */
export function stampsIn(storage: Pick<Storage, 'getItem' | 'setItem'>, now: () => number): IdentityStamps {
  return {
    get(key) {
      const n = readStamp(storage, STAMP_PREFIX + key)?.[0];
      return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : null;
    },
    set(key, writes) {
      try {
        storage.setItem(STAMP_PREFIX + key, JSON.stringify([writes, now()]));
      } catch {
        // Full or disabled: a stale copy goes unseen, as before stamps.
      }
    },
  };
}

/** A stamp as stored, `[writes, savedAt]`, unchecked; null for none, a torn one, or unreadable storage. */
function readStamp(storage: Pick<Storage, 'getItem'>, key: string): unknown[] | null {
  try {
    const x: unknown = JSON.parse(storage.getItem(key) ?? 'null');
    return Array.isArray(x) ? x : null;
  } catch {
    return null;
  }
}

/** Drops stamps older than STAMP_MAX_AGE_MS, and the oldest past STAMPS_MAX. */
export function pruneStamps(storage: Storage, at: number): void {
  try {
    const found: { key: string; at: number }[] = [];
    for (let i = 0; i < storage.length; i++) {
      const key = storage.key(i);
      if (!key?.startsWith(STAMP_PREFIX)) continue;
      // A torn one is pruned as the oldest.
      const stamped = Number(readStamp(storage, key)?.[1]);
      found.push({ key, at: Number.isFinite(stamped) ? stamped : 0 });
    }
    found.sort((a, b) => b.at - a.at);
    for (const [i, f] of found.entries())
      if (i >= STAMPS_MAX || at - f.at > STAMP_MAX_AGE_MS) storage.removeItem(f.key);
  } catch {
    // Disabled: nothing to prune.
  }
}
