// The protocol's vocabulary. Everything here is plain data so it can cross a data channel as JSON; what
// crosses it is defined, with its validation, in client/src/protocol/messages.ts.

import type { Entry, Message, Proposal, Tally, WireBase, WireRetirement } from '../protocol/messages.ts';

export type { Entry, Message, MessageType, Op, Proposal, Tally } from '../protocol/messages.ts';

/** A player ID: a positive integer the signaling server hands out in join order, never reused while the room lives (a room opened anew starts again from 1). */
export type Id = number;

/** Timing in ticks. The driver decides how long a tick is (see net/driver.ts). */
export interface Timing {
  /** Every player sends a heartbeat to every peer this often. */
  heartbeatTicks: number;
  /** A peer not heard from for this long is suspected. */
  timeoutTicks: number;
  /** How long an ELECTION waits for an ANSWER, and a non-heir waits for the heir's COORDINATOR. */
  answerTicks: number;
}

/** A voter's last word as sent, plus what only its receiver keeps. */
export interface Retirement extends WireRetirement {
  /** The slot the leaver continued, kept while our log is too short to place it (never sent). */
  was?: Id;
}

export interface Envelope {
  to: Id;
  msg: Message;
}

export type Role = 'follower' | 'candidate' | 'leader';

/** The roster as the signaling server last reported it: membership is every session, in grace or not. */
export interface Roster {
  version: number;
  members: Id[];
  /** The highest ID the room has issued, left or not: an ID above it names no player yet. */
  issued?: Id;
}

/** What must survive a page reload (the driver keeps it in sessionStorage). */
export interface Persisted {
  term: number;
  /** The coordinator this player promised in `term`, or 0. */
  promised: Id;
  done: boolean;
  /** The entries after `base` (from 1 without one). */
  history: Entry[];
  /** The state of the log up to its first entries, once compacted (core/log.ts). */
  base?: WireBase;
  accepted: Proposal | null;
  /** Whether this player holds the room's state (see Player.initialized). */
  initialized?: boolean;
  /** The voter slot this identity continues, until the log records it. */
  was?: Id;
  /** Voters that left for good with their final state, until the log removes them. */
  retired?: Retirement[];
  /** IDs that continue another voter slot: [new, old]. */
  aliases?: [Id, Id][];
  /** Last words of voters whose final entry this player does not hold yet. */
  lastWords?: Retirement[];
  /** The highest player ID this player knows the room issued (the join's floor keeps IDs above it). */
  issued?: Id;
}

/** Things worth showing or logging that happened inside step()/tick(). */
export type CoreEvent =
  | { kind: 'role'; role: Role; term: number }
  | { kind: 'leader'; leader: Id; term: number }
  | { kind: 'suspect'; peer: Id }
  | { kind: 'alive'; peer: Id }
  /** Heartbeats arrive late (or on time again): a silence now counts after `ms` (the room's: `roomMs`). */
  | { kind: 'timeout'; ms: number; roomMs: number }
  | { kind: 'election'; term: number; to: Id[] }
  | { kind: 'propose'; entry: Entry; live: Id[]; members: Id[]; voters: Id[] }
  | { kind: 'advance'; entry: Entry }
  /** An app entry was committed here (its values apply in order; see appliedOps). */
  | { kind: 'commit'; entry: Entry }
  /** Our proposal `id` (number `seq`) is in the log at `index`, value `n` of it. */
  | { kind: 'proposed'; id: number; seq: number; index: number; n: number }
  /** Our proposal `id` can never apply: another value took its number (someone replayed our client ID). */
  | { kind: 'superseded'; id: number; seq: number; index: number }
  | { kind: 'members'; members: Id[] }
  | { kind: 'rejected'; from: Id; reason: string }
  /** Our log is now a snapshot's base up to `index` (a peer sent it: we lacked what it covers). */
  | { kind: 'snapshot'; index: number }
  /** Our log disagreed with the established leader's from `index` on: we took the room's. */
  | { kind: 'forked'; index: number; leader: Id }
  | { kind: 'retired'; peer: Id }
  | { kind: 'renamed'; from: Id; to: Id }
  | { kind: 'resumed' }
  /** A peer sent something the protocol never sends (the first few per peer; the view counts them all). */
  | { kind: 'misbehaved'; peer: Id; reason: string; count: number }
  /** The room's owner removed this player: it is no longer heard, and the leader commits its removal. */
  | { kind: 'expelled'; peer: Id };

export interface PeerView {
  id: Id;
  /** Ticks since this peer was heard from, or vouched for by our leader; -1 if never. */
  silentTicks: number;
  live: boolean;
  bye: boolean;
  stage: number;
  term: number;
  done: boolean;
  /** Invalid or impossible messages this peer sent us. */
  strikes: number;
}

/** A snapshot for the UI. */
export interface View {
  self: Id;
  now: number;
  role: Role;
  term: number;
  leader: Id;
  stage: number;
  done: boolean;
  /** True once this player accepted the proposal that ends the current stage: Done can no longer be taken back. */
  locked: boolean;
  /** The stage transitions so far (membership entries left out). */
  history: Entry[];
  /** The roster: every ID the signaling server names, plus the agreed voters it may have dropped. */
  members: Id[];
  /** The membership agreed in the log. */
  agreed: Id[];
  /** Who votes: the agreed members (by their current IDs) less those that left for good. */
  voters: Id[];
  /** Voters we do not hear: whom a room without a quorum waits for. */
  waitingFor: Id[];
  live: Id[];
  peers: PeerView[];
  /** The leader's last reported tally for the current stage, if any. */
  tally: Tally | null;
  /**
   * Live voters, all voters, how many are needed, and whether that is met. `lost`: voters the owner removed
   * leave too few to make a majority, so this room cannot go on.
   */
  quorum: { live: number; members: number; needed: number; ok: boolean; lost: boolean };
  /** False while a newcomer is still learning the room's state: it cannot vote or lead yet. */
  initialized: boolean;
  /** Why this side cannot advance, e.g. "waiting for players 4 and 5: 3 of 5 agreed members needed", or null. */
  blocked: string | null;
  /** The voter slot this ID continues, while the log does not record it yet; 0 if none. */
  was: Id;
  /**
   * Removed players whose word our app state (the log's base) rests on, while no peer has handed us a
   * clean one (Player.askRebase): the state may be false. Empty otherwise.
   */
  stateFromRemoved: Id[];
  /** Ticks left before a tab that just woke from a freeze may campaign (0: not quiet). */
  quiet: number;
  /** The room's timing. */
  timing: Timing;
  /** Ticks of silence before a peer counts as gone, and the ELECTION's answer bound: the room's, or longer while heartbeats arrive late. */
  suspectTicks: number;
  answerTicks: number;
}
