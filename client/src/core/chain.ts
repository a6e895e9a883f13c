import type { Entry } from './types.ts';

/** The hash before the first entry. */
export const GENESIS = '0';

/**
 * A 53-bit hash (cyrb53) of a string. Not cryptographic: it binds each entry to the log it extends so a
 * forked or spliced log is caught, which is all crash-tolerant catch-up needs.
 */
function cyrb53(s: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/** The hash of `e` on top of a log whose last hash is `prev`: covers every field but the hash itself. */
export function hashEntry(prev: string, e: Omit<Entry, 'hash'>): string {
  const ops = e.ops ? `|${JSON.stringify(e.ops)}` : '';
  return cyrb53(
    `${prev}|${e.index}|${e.kind}|${e.stage}|${e.term}|${e.done.join(',')}|${e.members.join(',')}${ops}`,
  );
}

/** The entry, sealed onto a log ending in `prev`. */
export function seal(prev: string, e: Omit<Entry, 'hash'>): Entry {
  return { ...e, hash: hashEntry(prev, e) };
}

/** Whether `e` extends a log of `length` entries ending in `prev`. */
export function chains(prev: string, length: number, e: Entry): boolean {
  return e.index === length + 1 && e.hash === hashEntry(prev, e);
}

export function tipHash(log: readonly Entry[]): string {
  return log[log.length - 1]?.hash ?? GENESIS;
}
