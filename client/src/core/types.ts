// The protocol's vocabulary. Everything here is plain data so it can cross a data channel as JSON.

/** A player ID: a positive integer the signaling server hands out in join order, never reused in a room. */
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

/**
 * One committed log entry, at position `index` (from 1), decided in `term`. A `stage` entry advances the
 * room to `stage` with Done from `done`; a `members` entry changes the agreed membership by one player
 * and leaves the stage as it was. `members` is the agreed membership from this entry on: later quorums
 * must still hold a majority of it.
 */
export interface Entry {
  index: number;
  kind: 'stage' | 'members';
  stage: number;
  term: number;
  done: Id[];
  members: Id[];
  /** Chains the entry to the log before it (core/chain.ts): a forked or spliced log does not apply. */
  hash: string;
}

/**
 * A voter's last word when it leaves for good (the Leave button): it will never vote again, and this is
 * the state it leaves with, so the others may count the room without it (docs/protocol.md, "Leaving").
 */
export interface Retirement {
  id: Id;
  term: number;
  /** Its log ended here: a receiver retires it only when its own log holds that entry. */
  index: number;
  hash: string;
  accepted: Proposal | null;
  /** The slot the leaver continued, kept while our log is too short to place it (never sent). */
  was?: Id;
}

/** A value a leader asked the group to accept for the next slot; `ballot` is that leader's term. */
export interface Proposal {
  ballot: number;
  entry: Entry;
}

/** What the leader reports about the current stage, piggybacked on its heartbeats. */
export interface Tally {
  stage: number;
  done: Id[];
  live: Id[];
  /** Ticks since the leader last heard each of `live`, in the same order (absent: just now). */
  silent?: number[];
  members: number;
}

export type Message =
  /**
   * Liveness, plus the sender's view (its Done doubles as a DONE retransmission). From the leader to all;
   * from a follower to its leader only, or to all while it has no live leader.
   */
  | {
      t: 'hb';
      term: number;
      leader: Id;
      stage: number;
      index: number;
      done: boolean;
      init: boolean;
      /** The sender's last entry hash: catch-up follows the chain, not the length. */
      hash: string;
      tally?: Tally;
      /** The voter slot this ID continues (a tab whose session expired, or a server that restarted). */
      was?: Id;
      /** Voters the sender knows left for good, until a committed entry removes them. */
      retired?: Retirement[];
    }
  /** "I suspect the leader; you are lower, are you alive?" */
  | { t: 'election'; term: number }
  | { t: 'answer'; term: number }
  /** "I lead `term`": a promise request (Paxos phase 1a). */
  | { t: 'coordinator'; term: number }
  /** A promise for `term` (phase 1b): the follower's committed history, Done and any accepted proposal. */
  | { t: 'report'; term: number; done: boolean; init: boolean; history: Entry[]; accepted: Proposal | null }
  | { t: 'done'; term: number; stage: number; done: boolean }
  /** Phase 2a: accept `entry` as the next stage transition, under ballot `term`. */
  | { t: 'accept'; term: number; entry: Entry }
  | { t: 'accepted'; term: number; index: number }
  /** The entry is committed: apply it. */
  | { t: 'advance'; term: number; entry: Entry }
  /** "Your term is stale": fences an old leader or candidate. */
  | { t: 'reject'; term: number }
  /** "I hold `index` entries, send me the rest": catch-up from any peer, committed entries are facts. */
  | { t: 'sync'; index: number; hash: string }
  | { t: 'history'; entries: Entry[] }
  /** The tab is closing (or reloading): suspect me now instead of after a timeout. Only a hint. */
  | { t: 'bye' }
  /** Leaving for good (the Leave button): my final state, and the entries the receiver lacks. */
  | {
      t: 'leave';
      term: number;
      index: number;
      hash: string;
      accepted: Proposal | null;
      entries: Entry[];
      /** The retirements the leaver knows: its knowledge must not leave with it. */
      retired?: Retirement[];
      /** The slot the leaver continues, if the log does not record it yet. */
      was?: Id;
    };

export type MessageType = Message['t'];

export interface Envelope {
  to: Id;
  msg: Message;
}

export type Role = 'follower' | 'candidate' | 'leader';

/** The roster as the signaling server last reported it: membership is every session, in grace or not. */
export interface Roster {
  version: number;
  members: Id[];
}

/** What must survive a page reload (the driver keeps it in sessionStorage). */
export interface Persisted {
  term: number;
  /** The coordinator this player promised in `term`, or 0. */
  promised: Id;
  done: boolean;
  history: Entry[];
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
}

/** Things worth showing or logging that happened inside step()/tick(). */
export type CoreEvent =
  | { kind: 'role'; role: Role; term: number }
  | { kind: 'leader'; leader: Id; term: number }
  | { kind: 'suspect'; peer: Id }
  | { kind: 'alive'; peer: Id }
  | { kind: 'election'; term: number; to: Id[] }
  | { kind: 'propose'; entry: Entry; live: Id[]; members: Id[]; voters: Id[] }
  | { kind: 'advance'; entry: Entry }
  | { kind: 'members'; members: Id[] }
  | { kind: 'rejected'; from: Id; reason: string }
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
  /** Live voters, all voters, how many are needed, and whether that is met. */
  quorum: { live: number; members: number; needed: number; ok: boolean };
  /** False while a newcomer is still learning the room's state: it cannot vote or lead yet. */
  initialized: boolean;
  /** Why this side cannot advance, e.g. "waiting for players 4 and 5: 3 of 5 agreed members needed", or null. */
  blocked: string | null;
  /** The voter slot this ID continues, while the log does not record it yet; 0 if none. */
  was: Id;
  /** Ticks left before a tab that just woke from a freeze may campaign (0: not quiet). */
  quiet: number;
  timing: Timing;
}
