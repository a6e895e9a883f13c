import type { Timing } from './types.ts';

/** The ANSWER wait in ms: well above the data channel's p99 round trip (11–18 ms on loopback). */
export const ANSWER_MS = 100;

/**
 * Converts room settings into ticks. The bounds keep the protocol's timing rules true whatever the
 * settings: a timeout spans at least three heartbeats, and the ANSWER wait is shorter than a timeout.
 */
export function timingFromMs(heartbeatMs: number, timeoutMs: number, tickMs: number): Timing {
  const heartbeatTicks = Math.max(1, Math.round(heartbeatMs / tickMs));
  const timeoutTicks = Math.max(3 * heartbeatTicks, Math.round(timeoutMs / tickMs));
  const answerTicks = Math.max(2, Math.min(Math.round(ANSWER_MS / tickMs), Math.floor(timeoutTicks / 4)));
  return { heartbeatTicks, timeoutTicks, answerTicks };
}
