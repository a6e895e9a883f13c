// Advance latency: 8 headless players (the tab's Session on wrtc) in this process; each round all mark Done
// in random order, and the time is from the last setDone to the last player's core applying the ADVANCE
// (its `advance` event). Beside it, the data channel's RTT from the mesh's own ping/pong in the same rounds.

import { HeadlessPlayer } from '../../client/src/net/headless.ts';
import { until } from '../../e2e/kit.ts';
import { type Part, sleep, TIMING } from '../lib/context.ts';
import { rttSampler } from '../lib/rtt.ts';
import { type Dist, dist } from '../lib/stats.ts';

export interface AdvanceResult {
  advanceMs: Dist;
  advanceP50Ms: number;
  advanceP99Ms: number;
  rttMs: Dist;
  rttP99Ms: number;
}

const uniq = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** `k` rounds in one room of 8; pushes samples into `advanceMs` and `rtt`. */
async function rounds(url: string, k: number, advanceMs: number[], rtt: number[]): Promise<void> {
  const stages = Array.from({ length: k + 1 }, (_, i) => `s${i}`);
  const room = uniq('adv');
  const players: HeadlessPlayer[] = [];
  // Per player: stage → when its core applied the ADVANCE to it.
  const advancedAt: Map<number, number>[] = [];
  try {
    for (let i = 0; i < 8; i++) {
      const p = new HeadlessPlayer({ url, room, name: `a${i + 1}`, settings: { ...TIMING, stages } });
      const at = new Map<number, number>();
      p.coreEvents.add((events) => {
        for (const e of events)
          if (e.kind === 'advance' && e.entry.kind === 'stage' && !at.has(e.entry.stage))
            at.set(e.entry.stage, performance.now());
      });
      players.push(p);
      advancedAt.push(at);
      p.start();
      await until(() => p.store.getState().session.phase === 'joined', 20_000, 'a headless join');
    }
    await until(
      () =>
        players.every((p) => {
          const v = p.view;
          const links = p.session.mesh.info();
          return (
            v?.leader === 1 &&
            v.agreed.length === 8 &&
            v.initialized &&
            links.length === 7 &&
            links.every((l) => l.link === 'open')
          );
        }),
      30_000,
      '8 headless players in a full mesh with leader 1',
    );
    const stopSampling = rttSampler(players, rtt);
    try {
      for (let stage = 1; stage <= k; stage++) {
        await until(
          () => players.every((p) => p.view?.stage === stage - 1 && !p.view.done),
          5_000,
          `everyone at stage ${stage - 1}`,
        );
        await sleep(50 + Math.random() * 100);
        const order = [...players].sort(() => Math.random() - 0.5);
        let lastDone = 0;
        for (const p of order) {
          await sleep(Math.random() * 10);
          p.session.setDone(true);
          lastDone = performance.now();
        }
        await until(() => advancedAt.every((m) => m.has(stage)), 5_000, `advance to ${stage}`);
        advanceMs.push(Math.max(...advancedAt.map((m) => m.get(stage)!)) - lastDone);
      }
    } finally {
      stopSampling();
    }
  } finally {
    await Promise.race([Promise.allSettled(players.map((p) => p.leave())), sleep(3_000)]);
    for (const p of players) p.dispose();
  }
}

export const advance: Part<AdvanceResult> = {
  name: 'advance',
  async run(ctx) {
    const { url } = await ctx.server();
    const advanceMs: number[] = [];
    const rtt: number[] = [];
    // At most 60 rounds a room: the stage list is part of the room's settings.
    for (let left = ctx.n.rounds; left > 0; left -= 60) await rounds(url, Math.min(left, 60), advanceMs, rtt);
    const a = dist(advanceMs);
    const r = dist(rtt);
    return { advanceMs: a, advanceP50Ms: a.median, advanceP99Ms: a.p99, rttMs: r, rttP99Ms: r.p99 };
  },
};
