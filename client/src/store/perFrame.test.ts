import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStore } from 'zustand/vanilla';
import { perFrame, throttled } from './perFrame.ts';

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

describe('throttled', () => {
  afterEach(() => vi.useRealTimers());

  it('shows an urgent change at the next frame, inside the window that holds back the rest', () => {
    vi.useFakeTimers();
    let state = { leader: 1, rtt: 0 };
    const listeners = new Set<() => void>();
    const set = (s: typeof state) => {
      state = s;
      for (const l of listeners) l();
    };
    const subscribe = throttled(
      (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      200,
      50,
      () => state.leader,
    );
    const seen: string[] = [];
    subscribe(() => seen.push(`${state.leader}/${state.rtt}`));
    set({ leader: 1, rtt: 5 });
    vi.advanceTimersByTime(50);
    expect(seen).toEqual(['1/5']);
    // Figures inside the window wait for its end…
    set({ leader: 1, rtt: 6 });
    vi.advanceTimersByTime(60);
    expect(seen).toEqual(['1/5']);
    // …a new leader does not: the next frame (its fallback timer here) shows it, with what changed before.
    set({ leader: 2, rtt: 6 });
    vi.advanceTimersByTime(50);
    expect(seen).toEqual(['1/5', '2/6']);
    // A leader change shown, the window starts again for the figures.
    set({ leader: 2, rtt: 7 });
    vi.advanceTimersByTime(150);
    expect(seen).toEqual(['1/5', '2/6']);
    vi.advanceTimersByTime(50);
    expect(seen).toEqual(['1/5', '2/6', '2/7']);
  });

  it('does not put off a frame it already waits for when urgent changes keep coming', () => {
    vi.useFakeTimers();
    let leader = 1;
    const listeners = new Set<() => void>();
    const subscribe = throttled(
      (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      200,
      50,
      () => leader,
    );
    let told = 0;
    subscribe(() => told++);
    for (let i = 0; i < 4; i++) {
      leader++;
      for (const l of listeners) l();
      vi.advanceTimersByTime(20);
    }
    expect(told).toBe(1);
  });
});
