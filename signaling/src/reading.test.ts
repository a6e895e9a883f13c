import { describe, expect, it, vi } from 'vitest';
import type { RawWebSocket } from './backlog.ts';
import { MAX_HOLD_MS, ReadScheduler } from './reading.ts';

function fakeWs(): RawWebSocket & { isPaused: boolean; resumes: number } {
  return {
    bufferedAmount: 0,
    isPaused: false,
    resumes: 0,
    pause() {
      this.isPaused = true;
    },
    resume() {
      this.isPaused = false;
      this.resumes++;
    },
    terminate() {},
  };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('ReadScheduler', () => {
  it("pauses connections past the turn's share of reading, and resumes them next turn", async () => {
    const reading = new ReadScheduler(100, 8, 2);
    const [a, b] = [fakeWs(), fakeWs()];
    reading.read(a, 60);
    expect(a.isPaused).toBe(false);
    reading.read(a, 60);
    reading.read(b, 10);
    expect([a.isPaused, b.isPaused]).toEqual([true, true]);
    await nextTurn();
    expect([a.isPaused, b.isPaused]).toEqual([false, false]);
    // A new turn starts with a fresh share.
    reading.read(b, 90);
    expect(b.isPaused).toBe(false);
  });

  it('keeps a held connection paused across turns until its hold ends, and a stopped one for good', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const reading = new ReadScheduler(100);
      const [held, stopped] = [fakeWs(), fakeWs()];
      reading.hold(held, 5_000);
      reading.stop(stopped);
      reading.read(held, 500);
      reading.read(stopped, 500);
      await nextTurn();
      expect([held.isPaused, stopped.isPaused]).toEqual([true, true]);
      vi.advanceTimersByTime(MAX_HOLD_MS); // capped: a held client's pongs must still be read
      expect([held.isPaused, stopped.isPaused]).toEqual([false, true]);
      reading.hold(stopped, 10);
      vi.advanceTimersByTime(MAX_HOLD_MS);
      await nextTurn();
      expect(stopped.isPaused).toBe(true);
      expect(stopped.resumes).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not resume a yielded connection while it is held', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const reading = new ReadScheduler(10);
      const ws = fakeWs();
      reading.read(ws, 20);
      reading.hold(ws, 300);
      await nextTurn();
      expect(ws.isPaused).toBe(true);
      vi.advanceTimersByTime(300);
      expect(ws.isPaused).toBe(false);
      expect(ws.resumes).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('ReadScheduler, many yielded connections', () => {
  it('resumes a few per turn, in the order they yielded, until all read again', async () => {
    const reading = new ReadScheduler(10, 8, 2);
    const all = Array.from({ length: 5 }, () => fakeWs());
    for (const ws of all) reading.read(ws, 20);
    expect(all.every((ws) => ws.isPaused)).toBe(true);
    const running = () => all.map((ws) => !ws.isPaused);
    await nextTurn();
    expect(running()).toEqual([true, true, false, false, false]);
    await nextTurn();
    expect(running()).toEqual([true, true, true, true, false]);
    await nextTurn();
    expect(running()).toEqual([true, true, true, true, true]);
  });
});

describe('ReadScheduler.admit', () => {
  it("lets in a turn's share of new connections at once and the rest in later turns, in order", async () => {
    const reading = new ReadScheduler(1_000, 3, 1);
    const order: number[] = [];
    for (let i = 0; i < 7; i++) reading.admit(() => order.push(i));
    expect(order).toEqual([0, 1, 2]);
    await nextTurn();
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    // One arriving now waits behind the one still queued.
    reading.admit(() => order.push(7));
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    await nextTurn();
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await nextTurn();
    reading.admit(() => order.push(8));
    expect(order.at(-1)).toBe(8);
  });
});
