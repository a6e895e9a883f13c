// Derived data for the UI. Components pick raw slices with useShallow and derive with these.

import type { Id, View } from '../core/index.ts';
import type { PeerNetInfo } from '../net/mesh.ts';
import { TICK_MS } from '../net/session.ts';
import type { RosterMsg } from '../protocol/signaling.ts';

/** `away`: live, but its page is hidden (a background tab). */
export type PeerState = 'self' | 'direct' | 'relayed' | 'suspected' | 'away' | 'offline';

export interface PeerRow {
  id: Id;
  name: string;
  state: PeerState;
  isLeader: boolean;
  /** ms since the core last heard this peer (any path), or its leader did (the tally); null if never. */
  lastHeardMs: number | null;
  rtt: number | null;
  stage: number;
  done: boolean;
  term: number;
  inGrace: boolean;
  /** Invalid or impossible messages this peer sent us (0 for ourselves). */
  strikes: number;
  /** The room's owner removed it; the leader has yet to commit that. */
  removed: boolean;
  /** The server names it the room's owner (who may remove players). */
  owner: boolean;
}

export function peerRows(view: View | null, roster: RosterMsg | null, net: PeerNetInfo[]): PeerRow[] {
  if (!view) return [];
  const names = new Map(roster?.members.map((m) => [m.id, m]) ?? []);
  const removed = new Set(Array.isArray(roster?.removed) ? roster.removed : []);
  const nets = new Map(net.map((n) => [n.id, n]));
  const live = new Set(view.live);
  const ids = [...new Set([...view.members, ...(roster?.members.map((m) => m.id) ?? [])])].sort(
    (a, b) => a - b,
  );
  return ids.map((id) => {
    const member = names.get(id);
    const inGrace = member?.state === 'grace';
    const base = {
      id,
      name: member?.name ?? `player ${id}`,
      isLeader: view.leader === id,
      inGrace,
      removed: removed.has(id),
      owner: roster?.owner === id,
    };
    if (id === view.self) {
      return {
        ...base,
        state: 'self',
        lastHeardMs: 0,
        rtt: null,
        stage: view.stage,
        done: view.done,
        term: view.term,
        strikes: 0,
      };
    }
    const pv = view.peers.find((p) => p.id === id);
    const n = nets.get(id);
    const heard = pv && pv.silentTicks >= 0 ? pv.silentTicks * TICK_MS : null;
    let state: PeerState;
    if (live.has(id)) state = n?.away ? 'away' : n?.route === 'direct' ? 'direct' : 'relayed';
    // Suspected: silent while the server still lists it. One the server no longer lists (gone past grace) is offline.
    else
      state = inGrace || (roster && !member) || !pv || pv.bye || pv.silentTicks < 0 ? 'offline' : 'suspected';
    return {
      ...base,
      state,
      lastHeardMs: heard,
      rtt: n?.rtt ?? null,
      stage: pv?.stage ?? 0,
      done: pv?.done ?? false,
      term: pv?.term ?? 0,
      strikes: pv?.strikes ?? 0,
    };
  });
}

/** `k/N` as the leader reports it (N counts the live members it is waiting for). */
export function doneCount(view: View | null): { k: number; n: number; pending: Id[]; fromLeader: boolean } {
  if (!view) return { k: 0, n: 0, pending: [], fromLeader: false };
  const t = view.tally;
  // A leader we no longer hear: its last word is stale (it waited for players since gone, or for us).
  const heard = view.leader !== 0 && (view.leader === view.self || view.live.includes(view.leader));
  if (t && t.stage === view.stage && heard) {
    const done = new Set(t.done);
    return {
      k: t.done.length,
      n: t.live.length,
      pending: t.live.filter((id) => !done.has(id)),
      fromLeader: true,
    };
  }
  return { k: 0, n: view.live.length, pending: [], fromLeader: false };
}

export function stageName(stages: string[] | undefined, stage: number): string {
  return stages?.[stage] ?? `Stage ${stage}`;
}
