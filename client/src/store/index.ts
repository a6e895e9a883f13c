import { useEffect, useRef, useState } from 'react';
import { useStore } from 'zustand';
import { shallow } from 'zustand/shallow';
import type { StoreApi } from 'zustand/vanilla';
import { type AppState, createAppStore } from './store.ts';

/** The page's one store: one session per tab. */
export const appStore = createAppStore();

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

const shownStore = perFrame(appStore);

export function useApp<T>(selector: (s: AppState) => T): T {
  return useStore(shownStore, selector);
}

/**
 * Like useApp, for figures that change faster than anyone reads them (counters): a new value at most every
 * `ms`, the last one always shown. `selector` is read on each update; it need not be stable.
 */
export function useAppEvery<T>(ms: number, selector: (s: AppState) => T): T {
  const [value, setValue] = useState(() => selector(shownStore.getState()));
  const read = useRef(selector);
  read.current = selector;
  useEffect(() => {
    let last = Number.NEGATIVE_INFINITY;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const take = () => {
      timer = null;
      last = performance.now();
      const next = read.current(shownStore.getState());
      setValue((prev) => (shallow(prev, next) ? prev : next));
    };
    take();
    const off = shownStore.subscribe(() => {
      if (timer !== null) return;
      const wait = last + ms - performance.now();
      if (wait <= 0) take();
      else timer = setTimeout(take, wait);
    });
    return () => {
      off();
      if (timer !== null) clearTimeout(timer);
    };
  }, [ms]);
  return value;
}

export * from './route.ts';
export * from './selectors.ts';
export * from './store.ts';
