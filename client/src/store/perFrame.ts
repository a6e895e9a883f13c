import type { StoreApi } from 'zustand/vanilla';

/**
 * How often a screen shows a burst of changes: the first change after a quiet spell at the next frame, the
 * rest at most this often. A tab forming a mesh takes dozens of writes a second (a heartbeat, an RTT, a
 * link state each), more than anyone reads; eight such tabs rendering every frame on two cores took CPU
 * from the WebRTC work they were showing (bench: mesh formation).
 */
export const SHOWN_EVERY_MS = 200;

/**
 * `subscribe`, with each listener told at most once per animation frame and at most every `everyMs`. A hidden
 * tab gets no frames, so a timer stands in.
 */
export function throttled(
  subscribe: (listener: () => void) => () => void,
  everyMs = SHOWN_EVERY_MS,
  fallbackMs = 250,
): (listener: () => void) => () => void {
  return (listener) => {
    let frame: number | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = Number.NEGATIVE_INFINITY;
    const now = () => (typeof performance === 'undefined' ? Date.now() : performance.now());
    const flush = () => {
      if (frame !== null) cancelAnimationFrame(frame);
      if (timer !== null) clearTimeout(timer);
      frame = timer = null;
      last = now();
      listener();
    };
    const unsubscribe = subscribe(() => {
      if (timer !== null) return;
      const wait = last + everyMs - now();
      if (wait > 0) {
        timer = setTimeout(flush, wait);
        return;
      }
      timer = setTimeout(flush, fallbackMs);
      if (typeof requestAnimationFrame === 'function') frame = requestAnimationFrame(flush);
    });
    return () => {
      unsubscribe();
      if (frame !== null) cancelAnimationFrame(frame);
      if (timer !== null) clearTimeout(timer);
    };
  };
}

/** The store as React sees it: its changes shown as `throttled` tells them, the state as of the last one shown. */
export function perFrame<S>(store: StoreApi<S>, everyMs = SHOWN_EVERY_MS, fallbackMs = 250): StoreApi<S> {
  let shown = store.getState();
  const listeners = new Set<(s: S, prev: S) => void>();
  throttled(
    store.subscribe,
    everyMs,
    fallbackMs,
  )(() => {
    const prev = shown;
    shown = store.getState();
    if (shown !== prev) for (const l of listeners) l(shown, prev);
  });
  return {
    getState: () => shown,
    getInitialState: () => store.getInitialState(),
    setState: store.setState,
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
}
