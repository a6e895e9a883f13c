import { expect, test } from 'vitest';
import type { View } from '../core/index.ts';
import { TICK_MS } from '../net/session.ts';
import { frameWait, untilDrain } from './devtools.tsx';

// The ring reads only the timing and each peer's silence here.
const view = (silent: number[]) =>
  ({
    timing: { heartbeatTicks: 25, timeoutTicks: 150, answerTicks: 50 },
    peers: silent.map((silentTicks, i) => ({ id: i + 2, silentTicks })),
  }) as unknown as View;

test('a still ring wakes when the first peer timer starts to run down, past two missed heartbeats', () => {
  // Player 3, silent 40 ticks, starts to drain at 51: 11 ticks away; a peer never heard (-1) has no timer.
  expect(untilDrain(view([10, 40, -1]))).toBe(11 * TICK_MS);
  expect(untilDrain(view([]))).toBe(Number.POSITIVE_INFINITY);
  // Already draining, or drained: nothing left to wait for.
  expect(untilDrain(view([51, 400]))).toBe(Number.POSITIVE_INFINITY);
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
