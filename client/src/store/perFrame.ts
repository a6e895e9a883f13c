import type { StoreApi } from 'zustand/vanilla';

/**
 * The store as React sees it: at most one new state per animation frame. Messages land in separate tasks,
 * and each store write rendered the room again, more often than a screen shows (a tab forming a mesh on a
 * loaded machine had several writes queued per frame). A hidden tab gets no frames, so a timer stands in.
 */
export function perFrame<S>(store: StoreApi<S>, fallbackMs = 250): StoreApi<S> {
  let shown = store.getState();
  const listeners = new Set<(s: S, prev: S) => void>();
  let frame: number | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (frame !== null) cancelAnimationFrame(frame);
    if (timer !== null) clearTimeout(timer);
    frame = timer = null;
    const prev = shown;
    shown = store.getState();
    if (shown !== prev) for (const l of listeners) l(shown, prev);
  };
  store.subscribe(() => {
    if (timer !== null) return;
    timer = setTimeout(flush, fallbackMs);
    if (typeof requestAnimationFrame === 'function') frame = requestAnimationFrame(flush);
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
