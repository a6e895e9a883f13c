// The seeded simulator's speed: whole random schedules (2-9 peers, faults) run in this thread, timed here.

import { runSchedule } from '../../client/src/sim/schedule.ts';
import type { Part } from '../lib/context.ts';
import { round } from '../lib/stats.ts';

export interface SimulatorResult {
  /** One thread; `npm run simulate` spreads schedules over every core. */
  simSchedulesPerSecPerThread: number;
  simViolations: number;
}

export const simulator: Part<SimulatorResult> = {
  name: 'simulator',
  async run(ctx) {
    let violations = 0;
    const t0 = performance.now();
    for (let i = 0; i < ctx.n.schedules; i++)
      violations += runSchedule({ seed: 1 + i, minPeers: 2, maxPeers: 9 }).violations.length;
    const secs = (performance.now() - t0) / 1000;
    return { simSchedulesPerSecPerThread: round(ctx.n.schedules / secs), simViolations: violations };
  },
};
