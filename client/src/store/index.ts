import { useEffect, useRef, useState } from 'react';
import { useStore } from 'zustand';
import { shallow } from 'zustand/shallow';
import { perFrame } from './perFrame.ts';
import { type AppState, createAppStore } from './store.ts';

/** The page's one store: one session per tab. */
export const appStore = createAppStore();

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

export { perFrame } from './perFrame.ts';
export * from './route.ts';
export * from './selectors.ts';
export * from './store.ts';
