// The data channel's RTT as the mesh's own ping/pong measures it, sampled beside what a part times.

import type { HeadlessPlayer } from '../../client/src/net/headless.ts';

/** Samples the RTT of every open link of `players` (one sample per pong) into `into` until stopped. */
export function rttSampler(players: HeadlessPlayer[], into: number[]): () => void {
  const last = new Map<string, number>();
  const t = setInterval(() => {
    for (const p of players) {
      for (const l of p.session.mesh.info()) {
        const key = `${p.view?.self}-${l.id}`;
        // The RTT field only changes when a pong arrives.
        if (l.rtt !== null && l.link === 'open' && last.get(key) !== l.rtt) {
          last.set(key, l.rtt);
          into.push(l.rtt);
        }
      }
    }
  }, 20);
  return () => clearInterval(t);
}
