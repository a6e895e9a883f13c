import { majority, missing } from './quorum.ts';
import type { Entry, Id, PeerView, Role, Tally, Timing, View } from './types.ts';

/** What a player hands over to be shown: plain facts, no methods. */
export interface ViewFacts {
  self: Id;
  now: number;
  role: Role;
  term: number;
  leader: Id;
  /** The stage entries so far, and the stage. */
  stages: Entry[];
  stage: number;
  done: boolean;
  locked: boolean;
  members: ReadonlySet<Id>;
  agreed: readonly Id[];
  /** Voter slots (IDs as the log names them). */
  voters: readonly Id[];
  slotOf: (id: Id) => Id;
  holderOf: (slot: Id) => Id;
  live: Id[];
  peers: PeerView[];
  tally: Tally | null;
  initialized: boolean;
  left: boolean;
  /** We follow a live leader that still claims to lead: it steps down the moment it lacks a quorum. */
  ledByLive: boolean;
  timing: Timing;
  suspectTicks: number;
  answerTicks: number;
  was: Id;
  quiet: number;
  stateFromRemoved: Id[];
  /** Players the room's owner removed. */
  expelled: ReadonlySet<Id>;
}

/** A snapshot for the UI, with the reason a room waits spelled out. */
export function buildView(f: ViewFacts): View {
  const gap = missing(f.live, f.voters, f.slotOf);
  // A follower sees the others mostly through its leader's vouches, which can lapse for a beat; while its
  // leader still claims to lead, the leader's own quorum check speaks for the room (no "waiting" flash).
  const ok = f.voters.length > 0 && (gap.have >= gap.needed || f.ledByLive);
  const waitingFor = gap.absent.map(f.holderOf);
  const needed = majority(f.voters.length);
  // A removed voter never votes again, and dropping it is itself a change a majority must agree to. Judged
  // only by a member that has caught up and hears no leader: one behind may not know the removals committed.
  const removed = gap.absent
    .filter((slot) => f.expelled.has(slot) || f.expelled.has(f.holderOf(slot)))
    .map(f.holderOf);
  const lost =
    !ok &&
    f.initialized &&
    !f.left &&
    f.members.has(f.self) &&
    removed.length > 0 &&
    f.voters.length - removed.length < needed;
  return {
    self: f.self,
    now: f.now,
    role: f.role,
    term: f.term,
    leader: f.leader,
    stage: f.stage,
    done: f.done,
    locked: f.locked,
    history: f.stages,
    members: [...f.members].sort((a, b) => a - b),
    agreed: [...f.agreed],
    voters: f.voters.map(f.holderOf).sort((a, b) => a - b),
    waitingFor,
    live: f.live,
    peers: f.peers,
    tally: f.tally,
    quorum: { live: gap.have, members: f.voters.length, needed, ok, lost },
    initialized: f.initialized,
    blocked: blocked(f, ok, lost ? removed : waitingFor, needed, lost),
    timing: f.timing,
    suspectTicks: f.suspectTicks,
    answerTicks: f.answerTicks,
    was: f.was,
    quiet: f.quiet,
    stateFromRemoved: f.stateFromRemoved,
  };
}

function blocked(f: ViewFacts, ok: boolean, ids: Id[], needed: number, lost: boolean): string | null {
  if (f.left) return 'left the room';
  if (!f.members.has(f.self)) return 'not a member of this room';
  const of = `${needed} of ${f.voters.length} agreed members`;
  if (lost)
    return `${players(ids)} ${ids.length > 1 ? 'were' : 'was'} removed, and ${of} are needed: no majority can form again`;
  if (!ok) {
    if (f.voters.length === 0) return 'no agreed members left to decide';
    return `waiting for ${players(ids)}: ${of} needed`;
  }
  return f.initialized ? null : 'catching up with the room';
}

/** "player 4", "players 4 and 5", "players 3, 4 and 5". */
export function players(ids: readonly Id[]): string {
  if (ids.length === 0) return 'nobody';
  if (ids.length === 1) return `player ${ids[0]}`;
  return `players ${ids.slice(0, -1).join(', ')} and ${ids[ids.length - 1]}`;
}
