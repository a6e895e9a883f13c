import { expect, test } from 'vitest';
import type { View } from '../core/index.ts';
import { TICK_MS } from '../net/session.ts';
import { FlightLog } from '../store/store.ts';
import { frameWait, timerLeft, untilDrain } from './devtools.tsx';

// The ring reads only the timing, the suspicion window and each peer's silence here.
const view = (silent: number[]) =>
  ({
    timing: { heartbeatTicks: 25, timeoutTicks: 150, answerTicks: 50 },
    suspectTicks: 150,
    peers: silent.map((silentTicks, i) => ({ id: i + 2, silentTicks })),
  }) as unknown as View;

test('a still ring wakes when the first peer timer starts to run down, past two missed heartbeats', () => {
  // Player 3, silent 40 ticks, starts to drain at 51: 11 ticks away; a peer never heard (-1) has no timer.
  expect(untilDrain(view([10, 40, -1]))).toBe(11 * TICK_MS);
  expect(untilDrain(view([]))).toBe(Number.POSITIVE_INFINITY);
  // Already draining, or drained: nothing left to wait for.
  expect(untilDrain(view([51, 400]))).toBe(Number.POSITIVE_INFINITY);
  // The wake lands on the first tick the ring shows a timer running down, not before or after.
  for (const silent of [0, 13, 49, 50]) {
    const v = view([silent]);
    const ticks = untilDrain(v) / TICK_MS;
    expect(timerLeft(v, silent + ticks - 1)).toBe(1);
    expect(timerLeft(v, silent + ticks)).toBeLessThan(1);
  }
});

test('frames come at the frame rate while something moves, else at the idle beat or the first drain', () => {
  const beat = 700;
  expect(frameWait(view([40]), false, false, beat)).toBe(66);
  expect(frameWait(view([40]), false, false, 20)).toBe(20);
  // Asleep on screen: the drain (110 ms) comes before the beat.
  expect(frameWait(view([40]), true, true, beat)).toBe(110);
  // Never closer than a frame, nor later than the beat.
  expect(frameWait(view([50]), true, true, beat)).toBe(66);
  expect(frameWait(view([0]), true, true, 300)).toBe(300);
  // Off screen or short of time: the beat alone, drain or not.
  expect(frameWait(view([40]), true, false, beat)).toBe(beat);
});

test('the flight log tells its listeners of every message but a heartbeat, and a throwing one costs nothing', () => {
  const log = new FlightLog();
  const heard: number[] = [];
  const off = log.onMove(() => heard.push(log.total));
  log.onMove(() => {
    throw new Error('a listener that throws');
  });
  const thrown: unknown[] = [];
  const realSetTimeout = globalThis.setTimeout;
  // The listener's error is rethrown on its own task; catch it here instead of failing the run.
  globalThis.setTimeout = ((fn: () => void) => {
    try {
      fn();
    } catch (err) {
      thrown.push(err);
    }
    return 0;
  }) as unknown as typeof setTimeout;
  try {
    log.add({ dir: 'in', peer: 2, type: 'hb', at: 1, via: 'direct' });
    log.add({ dir: 'in', peer: 2, type: 'election', at: 2, via: 'direct' });
    log.add({ dir: 'out', peer: 3, type: 'accept', at: 3, via: 'relay' });
    off();
    log.add({ dir: 'out', peer: 3, type: 'advance', at: 4, via: 'direct' });
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
  expect(heard).toEqual([2, 3]);
  expect(log.total).toBe(4);
  expect(thrown).toHaveLength(3);
});
