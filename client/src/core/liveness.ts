import type { Id, PeerView } from './types.ts';

/** What a player knows of one peer: when it heard it, and what the peer last said of itself. */
export interface PeerState {
  heard: number;
  /** When our leader's tally last listed this peer as live (followers hear each other only in elections). */
  vouched: number;
  /** When this peer last beat to us naming another leader than ours (or none): it needs our beats. */
  strayed: number;
  index: number;
  /** When its heartbeat last told us `index`. */
  indexAt: number;
  /** The last hash of its log, as its heartbeat said. */
  hash: string;
  init: boolean;
  bye: boolean;
  byeAt: number;
  stage: number;
  term: number;
  done: boolean;
  /** Invalid or impossible messages it sent us. */
  strikes: number;
  /** The highest player ID its heartbeat said it can place. */
  issued: number;
  /** Its last heartbeat, if it was one it sends us every beat (Player.noteBeat), and our leader's epoch then. */
  beatAt: number;
  beatEpoch: number;
  /** The heartbeat window in which it may lift our term by a step in all (Player.termAllowed): its start, and our term then. */
  raisedAt: number;
  raiseBase: number;
  /** The highest term past ours it claimed in the window after we broke a silence (Player.rejoinTerm). */
  rejoinClaim: number;
}

export const NEVER = Number.NEGATIVE_INFINITY;

export function newPeer(): PeerState {
  return {
    heard: NEVER,
    vouched: NEVER,
    strayed: NEVER,
    indexAt: NEVER,
    issued: 0,
    byeAt: NEVER,
    beatAt: NEVER,
    beatEpoch: -1,
    raisedAt: NEVER,
    raiseBase: 0,
    rejoinClaim: 0,
    strikes: 0,
    index: 0,
    hash: '0',
    init: false,
    bye: false,
    stage: 0,
    term: 0,
    done: false,
  };
}

/**
 * A peer is live when heard from within a timeout, or, for a follower or candidate, vouched for by our
 * leader's tally: heard by the leader within a timeout while the leader is live, within two once it is
 * not (a dead leader is noticed a timeout after its last tally, and the election needs to know who else is
 * there). A leader judges first-hand only, so a vouch cannot outlive what vouched for it; a goodbye makes
 * a peer not live at once. Nothing from the net layer counts: a killed tab's channel never closes.
 * Player.isLive applies these rules; they are plain functions because they run for every message.
 */
export function heardWithin(p: PeerState, now: number, ticks: number): boolean {
  return now - p.heard < ticks;
}

export function vouchedWithin(p: PeerState, now: number, ticks: number): boolean {
  return now - p.vouched < ticks;
}

/** The peer as the UI shows it. */
export function peerView(
  id: Id,
  p: PeerState | undefined,
  live: boolean,
  now: number,
  leading: boolean,
): PeerView {
  const last = p ? Math.max(p.heard, leading ? NEVER : p.vouched) : NEVER;
  return {
    id,
    silentTicks: last !== NEVER ? now - last : -1,
    live,
    bye: p?.bye ?? false,
    stage: p?.stage ?? 0,
    term: p?.term ?? 0,
    done: p?.done ?? false,
    strikes: p?.strikes ?? 0,
  };
}
