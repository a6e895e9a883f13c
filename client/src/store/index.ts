import { useStore } from 'zustand';
import { type AppState, createAppStore } from './store.ts';

/** The page's one store: one session per tab. */
export const appStore = createAppStore();

export function useApp<T>(selector: (s: AppState) => T): T {
  return useStore(appStore, selector);
}

export * from './route.ts';
export * from './selectors.ts';
export * from './store.ts';
