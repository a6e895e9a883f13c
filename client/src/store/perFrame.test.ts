import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStore } from 'zustand/vanilla';
import { fanOut, perFrame, throttled } from './perFrame.ts';

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

  it('with nobody subscribed asks for no frame or timer, and follows the store', () => {
    vi.useFakeTimers();
    const store = createStore<{ n: number }>()(() => ({ n: 0 }));
    const shown = perFrame(store, 200, 100);
    const off = shown.subscribe(() => {});
    off();
    off();
    for (let i = 1; i <= 3; i++) store.setState({ n: i });
    expect(vi.getTimerCount()).toBe(0);
    expect(shown.getState().n).toBe(3);
    // A new subscriber starts from the state now, and is told the next change.
    const seen: number[] = [];
    shown.subscribe((s) => seen.push(s.n));
    store.setState({ n: 4 });
    vi.advanceTimersByTime(250);
    expect(seen).toEqual([4]);
  });
});

/** A value whose changes are told to its listeners, as a room's `subscribe` tells them. */
function source<T>(value: T) {
  const listeners = new Set<() => void>();
  return {
    get: () => value,
    set(next: T) {
      value = next;
      for (const l of listeners) l();
    },
    subscribe: (l: () => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
}

describe('throttled', () => {
  afterEach(() => vi.useRealTimers());

  it('shows an urgent change at the next frame, inside the window that holds back the rest', () => {
    vi.useFakeTimers();
    const room = source({ leader: 1, rtt: 0 });
    const subscribe = throttled(room.subscribe, 200, 50, () => room.get().leader);
    const seen: string[] = [];
    subscribe(() => seen.push(`${room.get().leader}/${room.get().rtt}`));
    room.set({ leader: 1, rtt: 5 });
    vi.advanceTimersByTime(50);
    expect(seen).toEqual(['1/5']);
    // Figures inside the window wait for its end…
    room.set({ leader: 1, rtt: 6 });
    vi.advanceTimersByTime(60);
    expect(seen).toEqual(['1/5']);
    // …a new leader does not: the next frame (its fallback timer here) shows it, with what changed before.
    room.set({ leader: 2, rtt: 6 });
    vi.advanceTimersByTime(50);
    expect(seen).toEqual(['1/5', '2/6']);
    // A leader change shown, the window starts again for the figures.
    room.set({ leader: 2, rtt: 7 });
    vi.advanceTimersByTime(150);
    expect(seen).toEqual(['1/5', '2/6']);
    vi.advanceTimersByTime(50);
    expect(seen).toEqual(['1/5', '2/6', '2/7']);
  });

  it('does not put off a frame it already waits for when urgent changes keep coming', () => {
    vi.useFakeTimers();
    const leader = source(1);
    const subscribe = throttled(leader.subscribe, 200, 50, leader.get);
    let told = 0;
    subscribe(() => told++);
    for (let i = 0; i < 4; i++) {
      leader.set(leader.get() + 1);
      vi.advanceTimersByTime(20);
    }
    expect(told).toBe(1);
  });

  it('cuts at most two windows short in a window: a key that changes on every write renders at the window rate', () => {
    vi.useFakeTimers();
    // A lying leader's done count, say, new in every view the session publishes (at most every 50 ms).
    const leader = source(1);
    const subscribe = throttled(leader.subscribe, 200, 50, leader.get);
    let told = 0;
    subscribe(() => told++);
    for (let t = 0; t < 1_000; t += 50) {
      leader.set(leader.get() + 1);
      vi.advanceTimersByTime(50);
    }
    expect(told).toBeLessThanOrEqual(11);
    expect(told).toBeGreaterThanOrEqual(4);
  });
});

describe('throttled with a window that changes', () => {
  afterEach(() => vi.useRealTimers());

  it('reads the window at each change: a forming room shows its figures every 500 ms, a formed one every 200', () => {
    vi.useFakeTimers();
    const room = source({ formed: false, rtt: 0 });
    const subscribe = throttled(room.subscribe, () => (room.get().formed ? 200 : 500), 50);
    const seen: number[] = [];
    subscribe(() => seen.push(room.get().rtt));
    room.set({ formed: false, rtt: 1 });
    vi.advanceTimersByTime(50);
    expect(seen).toEqual([1]);
    room.set({ formed: false, rtt: 2 });
    vi.advanceTimersByTime(499);
    expect(seen).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual([1, 2]);
    // Formed: the next figures wait only the short window.
    vi.advanceTimersByTime(100);
    room.set({ formed: true, rtt: 3 });
    vi.advanceTimersByTime(99);
    expect(seen).toEqual([1, 2]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe('fanOut', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('holds one subscription for every listener, and drops it when the last one leaves', () => {
    const room = source(0);
    let subscriptions = 0;
    const subscribe = fanOut((l) => {
      subscriptions++;
      const stop = room.subscribe(l);
      return () => {
        subscriptions--;
        stop();
      };
    });
    const seen: string[] = [];
    const a = subscribe(() => seen.push(`a${room.get()}`));
    const b = subscribe(() => seen.push(`b${room.get()}`));
    const listener = () => seen.push(`c${room.get()}`);
    const c1 = subscribe(listener);
    const c2 = subscribe(listener);
    expect(subscriptions).toBe(1);
    room.set(1);
    expect(seen).toEqual(['a1', 'b1', 'c1', 'c1']);
    a();
    a();
    c1();
    room.set(2);
    expect(seen.slice(4)).toEqual(['b2', 'c2']);
    b();
    c2();
    expect(subscriptions).toBe(0);
    subscribe(() => seen.push('again'));
    expect(subscriptions).toBe(1);
  });

  it('skips a listener an earlier one removed, and tells the rest when one throws', () => {
    vi.useFakeTimers();
    const room = source(0);
    const subscribe = fanOut(room.subscribe);
    const seen: string[] = [];
    let offB: () => void = () => {};
    subscribe(() => {
      seen.push('a');
      offB();
    });
    offB = subscribe(() => seen.push('b'));
    subscribe(() => {
      throw new Error('a broken listener');
    });
    subscribe(() => seen.push('d'));
    room.set(1);
    expect(seen).toEqual(['a', 'd']);
    // The error is not swallowed: it is thrown again on its own, after everyone was told.
    expect(() => vi.runAllTimers()).toThrow('a broken listener');
  });

  it('over a throttle, asks for one animation frame per change shown, however many listen', () => {
    vi.useFakeTimers();
    const frames: (() => void)[] = [];
    vi.stubGlobal('requestAnimationFrame', (cb: () => void) => frames.push(cb));
    vi.stubGlobal('cancelAnimationFrame', () => {});
    const room = source(0);
    const subscribe = fanOut(throttled(room.subscribe, 200, 250));
    const seen: number[] = [];
    for (let i = 0; i < 7; i++) subscribe(() => seen.push(room.get()));
    room.set(1);
    room.set(2);
    expect(frames).toHaveLength(1);
    frames[0]!();
    expect(seen).toEqual([2, 2, 2, 2, 2, 2, 2]);
  });
});
