import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStore } from 'zustand/vanilla';
import { perFrame } from './perFrame.ts';

describe('perFrame', () => {
  afterEach(() => vi.useRealTimers());

  it('shows many writes as one new state, the last, once the frame (here its fallback timer) comes', () => {
    vi.useFakeTimers();
    const store = createStore<{ n: number }>()(() => ({ n: 0 }));
    const shown = perFrame(store, 200, 100);
    const seen: number[] = [];
    shown.subscribe((s) => seen.push(s.n));
    for (let i = 1; i <= 5; i++) store.setState({ n: i });
    expect(shown.getState().n).toBe(0);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(seen).toEqual([5]);
    expect(shown.getState().n).toBe(5);
    // The next burst within 200 ms of the last one shown waits for those 200 ms.
    store.setState({ n: 6 });
    store.setState({ n: 7 });
    vi.advanceTimersByTime(150);
    expect(seen).toEqual([5]);
    vi.advanceTimersByTime(50);
    expect(seen).toEqual([5, 7]);
  });
});
