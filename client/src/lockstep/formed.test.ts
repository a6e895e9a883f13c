import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  DEVTOOLS_SETTLE_MS,
  DEVTOOLS_WAIT_MS,
  FORMING_MAX_MS,
  formingOf,
  shownChanges,
  whenSettled,
} from './formed.ts';
import type { RoomSnapshot } from './types.ts';

/** A room whose snapshot the test sets: formed (a leader, every player direct) or not (one still relayed). */
function fakeRoom({ formed: initially = false, tellOnSubscribe = false } = {}) {
  const listeners = new Set<() => void>();
  let formed = initially;
  let status = 'joined';
  let rtt = 1;
  const newcomers: number[] = [];
  const snapshot = () =>
    ({
      status,
      leaderId: 1,
      stage: { index: 0 },
      done: false,
      doneCount: { done: 0, of: 2 },
      players: [
        { id: 1, state: 'self', lastHeardMs: 0, removed: false, rttMs: null },
        { id: 2, state: formed ? 'direct' : 'relayed', lastHeardMs: 0, removed: false, rttMs: rtt },
        ...newcomers.map((id) => ({ id, state: 'relayed', lastHeardMs: null, removed: false, rttMs: null })),
      ],
    }) as unknown as RoomSnapshot;
  return {
    getSnapshot: snapshot,
    subscribe(l: () => void) {
      listeners.add(l);
      if (tellOnSubscribe) l();
      return () => listeners.delete(l);
    },
    set(f: boolean) {
      formed = f;
      for (const l of [...listeners]) l();
    },
    end() {
      status = 'left';
      for (const l of [...listeners]) l();
    },
    /** A player joins, not reached directly yet. */
    join(id: number) {
      newcomers.push(id);
      for (const l of [...listeners]) l();
    },
    /** A figure that changes (an RTT): never urgent. */
    churn() {
      rtt++;
      for (const l of [...listeners]) l();
    },
    listeners,
  };
}

describe('whenSettled: the devtools open once the room has stayed formed', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('opens DEVTOOLS_SETTLE_MS after the room formed, once, and stops listening', () => {
    const room = fakeRoom();
    const open = vi.fn();
    whenSettled(room, open);
    vi.advanceTimersByTime(500);
    room.set(true);
    vi.advanceTimersByTime(DEVTOOLS_SETTLE_MS - 1);
    expect(open).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(open).toHaveBeenCalledTimes(1);
    expect(room.listeners.size).toBe(0);
    vi.advanceTimersByTime(DEVTOOLS_WAIT_MS);
    expect(open).toHaveBeenCalledTimes(1);
  });

  it('starts the wait again when the room stops being formed before it settled', () => {
    const room = fakeRoom();
    const open = vi.fn();
    whenSettled(room, open);
    room.set(true);
    vi.advanceTimersByTime(DEVTOOLS_SETTLE_MS - 500);
    room.set(false);
    vi.advanceTimersByTime(1_000);
    room.set(true);
    // Changes while it stays formed (RTTs, last heard) do not restart the wait.
    vi.advanceTimersByTime(DEVTOOLS_SETTLE_MS - 500);
    room.set(true);
    vi.advanceTimersByTime(499);
    expect(open).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(open).toHaveBeenCalledTimes(1);
  });

  it('waits out the settle for a room already formed when it starts', () => {
    const room = fakeRoom({ formed: true });
    const open = vi.fn();
    whenSettled(room, open);
    vi.advanceTimersByTime(DEVTOOLS_SETTLE_MS - 1);
    expect(open).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(open).toHaveBeenCalledTimes(1);
  });

  it('opens at once when the room ends, even one that tells its listener as it subscribes', () => {
    const room = fakeRoom();
    const open = vi.fn();
    whenSettled(room, open);
    vi.advanceTimersByTime(1_000);
    room.end();
    expect(open).toHaveBeenCalledTimes(1);
    expect(room.listeners.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);

    const ended = fakeRoom({ tellOnSubscribe: true });
    ended.end();
    const open2 = vi.fn();
    const stop = whenSettled(ended, open2);
    expect(open2).toHaveBeenCalledTimes(1);
    expect(ended.listeners.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    stop();
    expect(open2).toHaveBeenCalledTimes(1);
  });

  it('opens after DEVTOOLS_WAIT_MS in a room that never forms, and not at all once stopped', () => {
    const room = fakeRoom();
    const open = vi.fn();
    whenSettled(room, open);
    vi.advanceTimersByTime(DEVTOOLS_WAIT_MS - 1);
    expect(open).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(open).toHaveBeenCalledTimes(1);

    const other = fakeRoom();
    const never = vi.fn();
    const stop = whenSettled(other, never);
    other.set(true);
    stop();
    vi.advanceTimersByTime(DEVTOOLS_WAIT_MS);
    expect(never).not.toHaveBeenCalled();
    expect(other.listeners.size).toBe(0);
  });
});

describe('shownChanges: how often hooks hear a room', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** When (ms from now) the room's hooks are told of a change. */
  function watch(room: ReturnType<typeof fakeRoom>) {
    const told: number[] = [];
    shownChanges(room)(() => told.push(Date.now()));
    const t0 = Date.now();
    return () => told.map((t) => t - t0);
  }

  /** A figure that changes now is told after exactly `ms`, not a moment before. */
  function toldAfter(room: ReturnType<typeof fakeRoom>, at: () => number[], ms: number) {
    const before = at().length;
    room.churn();
    vi.advanceTimersByTime(ms - 1);
    expect(at()).toHaveLength(before);
    vi.advanceTimersByTime(1);
    expect(at()).toHaveLength(before + 1);
  }

  // No animation frames in Node: "the next frame" is the throttle's 250 ms fallback timer here.
  it('holds figures for 500 ms while a player is still to be reached, shows the end at once, then 200 ms', () => {
    const room = fakeRoom();
    const at = watch(room);
    expect(shownChanges(room)).toBe(shownChanges(room));
    toldAfter(room, at, 250);
    // Forming: the next figure waits out the long window.
    toldAfter(room, at, 500);
    expect(at()).toEqual([250, 750]);
    // A figure held in the long window, then the last link opens: shown at the next frame, not the window's end.
    vi.advanceTimersByTime(50);
    room.churn();
    vi.advanceTimersByTime(50);
    room.set(true);
    vi.advanceTimersByTime(250);
    expect(at()).toEqual([250, 750, 1100]);
    // A player reached once and relayed later (a cut link) is not a room forming: the short window.
    vi.advanceTimersByTime(500);
    room.set(false);
    vi.advanceTimersByTime(250);
    expect(at()).toEqual([250, 750, 1100, 1850]);
    toldAfter(room, at, 200);
  });

  it('a newcomer makes the room forming again, for at most FORMING_MAX_MS if it is never reached', () => {
    const room = fakeRoom({ formed: true });
    const at = watch(room);
    room.join(3);
    vi.advanceTimersByTime(250);
    expect(at()).toEqual([250]);
    toldAfter(room, at, 500);
    // Never reached (its WebRTC blocked): past FORMING_MAX_MS the short window is back.
    vi.advanceTimersByTime(FORMING_MAX_MS);
    room.churn();
    vi.advanceTimersByTime(250);
    toldAfter(room, at, 200);
  });
});

describe('formingOf: players still to be reached', () => {
  const room = (players: { id: number; state: string }[]) =>
    ({
      status: 'joined',
      players: players.map((p) => ({ ...p, removed: false })),
    }) as unknown as RoomSnapshot;

  it('keeps only the players listed now: one a stale or lying roster drops and lists again waits anew', () => {
    let t = 0;
    const forming = formingOf(() => t);
    const self = { id: 1, state: 'self' };
    expect(forming(room([self, { id: 2, state: 'relayed' }]))).toBe(true);
    t = 1_000;
    expect(forming(room([self]))).toBe(false);
    // Phantom IDs from every roster are forgotten with it, not kept for the tab's life.
    for (let i = 0; i < 100; i++) forming(room([self, { id: 1_000 + i, state: 'offline' }]));
    t = 1_000 + FORMING_MAX_MS;
    expect(forming(room([self, { id: 2, state: 'relayed' }]))).toBe(true);
    t += FORMING_MAX_MS;
    expect(forming(room([self, { id: 2, state: 'relayed' }]))).toBe(false);
    // Reached once, relayed later: not forming.
    expect(forming(room([self, { id: 3, state: 'direct' }]))).toBe(false);
    expect(forming(room([self, { id: 3, state: 'relayed' }]))).toBe(false);
  });
});
