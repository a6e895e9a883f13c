import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStore } from 'zustand/vanilla';
import { perFrame } from './perFrame.ts';

describe('perFrame', () => {
  afterEach(() => vi.useRealTimers());

  it('shows many writes as one new state, the last, once the frame (here its fallback timer) comes', () => {
    vi.useFakeTimers();
    const store = createStore<{ n: number }>()(() => ({ n: 0 }));
    const shown = perFrame(store, 100);
    const seen: number[] = [];
    shown.subscribe((s) => seen.push(s.n));
    for (let i = 1; i <= 5; i++) store.setState({ n: i });
    expect(shown.getState().n).toBe(0);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(seen).toEqual([5]);
    expect(shown.getState().n).toBe(5);
    store.setState({ n: 6 });
    vi.advanceTimersByTime(100);
    expect(seen).toEqual([5, 6]);
  });
});
