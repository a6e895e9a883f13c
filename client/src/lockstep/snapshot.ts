// The store's state (core view, roster, links) as the public RoomSnapshot. Nothing internal leaks through.

import { doneCount, peerRows, stageName } from '../store/selectors.ts';
import type { AppState } from '../store/store.ts';
import { fromServerCode } from './errors.ts';
import type { RoomSnapshot, RoomStatus, Stage } from './types.ts';

/** Stage `n` of the room's stages, as the API shows it. */
export function toStage(stages: string[], n: number): Stage {
  return { index: n, name: stageName(stages, n), final: n >= stages.length - 1 };
}

export function toSnapshot(s: AppState, status: RoomStatus, away: boolean): RoomSnapshot | null {
  const v = s.view;
  const settings = s.session.settings;
  if (!v || !settings) return null;
  const stages = settings.stages;
  const count = doneCount(v);
  // Steps of two heartbeats (at least 500 ms, at most the timeout, so a suspected player never reads 0): a live
  // player stays at 0 instead of changing the snapshot, and every screen showing it, twenty times a second.
  const heardStep = Math.min(Math.max(500, 2 * settings.heartbeatMs), settings.timeoutMs);
  return {
    status,
    room: s.session.room,
    selfId: v.self,
    leaderId: v.leader || null,
    isLeader: v.role === 'leader',
    role: v.role,
    term: v.term,
    stage: toStage(stages, v.stage),
    done: v.done,
    locked: v.locked,
    away,
    players: peerRows(v, s.roster, s.net).map((r) => ({
      id: r.id,
      name: r.name,
      state: r.state,
      isLeader: r.isLeader,
      done: r.done,
      stage: r.stage,
      lastHeardMs: r.lastHeardMs === null ? null : Math.floor(r.lastHeardMs / heardStep) * heardStep,
      rttMs: r.rtt === null ? null : Math.round(r.rtt),
      strikes: r.strikes,
      removed: r.removed,
      owner: r.owner,
    })),
    quorum: { ...v.quorum, waitingFor: [...v.waitingFor], blocked: v.blocked },
    doneCount: { done: count.k, of: count.n, waitingFor: count.pending, fromLeader: count.fromLeader },
    history: v.history.map((e) => ({
      stage: e.stage,
      name: stageName(stages, e.stage),
      term: e.term,
      doneBy: [...e.done],
    })),
    server: { status: s.session.signaling, detail: s.session.signalingDetail },
    settings: { heartbeatMs: settings.heartbeatMs, timeoutMs: settings.timeoutMs, stages: [...stages] },
    owner: s.session.owner,
    synced: v.initialized,
    stateFromRemoved: [...v.stateFromRemoved],
    sealed: s.security.sealed,
    rejectedPayloads: s.security.decryptErrors,
    error: status === 'joined' ? null : s.session.error,
    errorCode: status === 'failed' ? fromServerCode(s.session.errorCode) : null,
  };
}

/**
 * What a player must see at the next frame rather than after the window that holds back churn (`throttled`): a
 * new status, leader, stage or Done count.
 */
export const seenAtOnce = (s: RoomSnapshot) =>
  `${s.status}|${s.leaderId}|${s.stage.index}|${s.done}|${s.doneCount.done}|${s.doneCount.of}`;
