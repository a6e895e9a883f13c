import type { Rng } from './rng.ts';
import type {
  CoreEvent,
  Entry,
  Envelope,
  Id,
  Message,
  Persisted,
  Proposal,
  Role,
  Roster,
  Tally,
  Timing,
  View,
} from './types.ts';

export interface PlayerOptions {
  self: Id;
  timing: Timing;
  rng: Rng;
  roster: Roster;
  /** State saved before a reload; a fresh player starts empty. */
  persisted?: Persisted | null;
  /** The final stage: nobody advances past it. */
  lastStage?: number;
}

export interface Ready {
  messages: Envelope[];
  events: CoreEvent[];
  /** The state to save, when it changed since the last drain. */
  persist: Persisted | null;
}

/** Entries one HISTORY message carries: keeps catch-up under the relay's size cap. */
export const HISTORY_CHUNK = 16;

type ElectionPhase = 'idle' | 'waitHeir' | 'waitAnswer' | 'waitCoordinator';

interface PeerState {
  heard: number;
  /** When our leader's tally last listed this peer as live (followers hear each other only in elections). */
  vouched: number;
  /** When this peer last beat to us naming another leader than ours (or none): it needs our beats. */
  strayed: number;
  index: number;
  init: boolean;
  bye: boolean;
  byeAt: number;
  stage: number;
  term: number;
  done: boolean;
}

const NEVER = Number.NEGATIVE_INFINITY;
const FIRST_MEMBERS: readonly Id[] = [1];

/**
 * One player's protocol as a pure state machine (after etcd-raft's Step/Tick/Ready): no clocks, timers or
 * I/O. Leadership is bully-style (lowest live ID), fenced by terms; each stage transition is committed by
 * a majority, so a minority never advances and no DONE is lost when a leader dies. See docs/protocol.md.
 */
export class Player {
  readonly self: Id;
  private readonly timing: Timing;
  private readonly lastStage: number;
  private now = 0;

  // Persisted: what a reload must not forget.
  private term = 0;
  private promised: Id = 0;
  private done = false;
  private log: Entry[] = [];
  private accepted: Proposal | null = null;
  /**
   * A newcomer holds none of the room's state, so its promises and acceptances must not count until it
   * has caught up from a player that does: otherwise newcomers could form a majority that forgot a stage.
   */
  private initialized = false;
  private initTarget = 0;
  private dirty = true;

  private role: Role = 'follower';
  private leader: Id = 0;
  private roster: Roster;
  private members = new Set<Id>();
  private peers = new Map<Id, PeerState>();
  private wasLive = new Set<Id>();
  private nextHeartbeat: number;

  private phase: ElectionPhase = 'idle';
  /** Our leader said goodbye: a closing page's last messages may miss the heir, so poke it at once. */
  private leaderLeft = false;
  private phaseDeadline = 0;
  /** A coordinator declined while our leader still looked alive; taken up as soon as it does not. */
  private pending: { from: Id; term: number } | null = null;
  private candidateDeadline = 0;

  // Candidate and leader bookkeeping for the current term.
  private promises = new Map<
    Id,
    {
      index: number;
      stage: number;
      done: boolean;
      init: boolean;
      last: Entry | null;
      accepted: Proposal | null;
    }
  >();
  /** Each follower's Done, as the stage it is done with (so a Done never outlives its stage). */
  private doneAt = new Map<Id, number>();
  private catchUpTo = 0;
  private reproposal: Entry | null = null;
  private proposal: Proposal | null = null;
  private acks = new Set<Id>();
  private lastSync = NEVER;

  /** The leader's latest tally, as it reported it. */
  private tally: Tally | null = null;

  private outbox: Envelope[] = [];
  private events: CoreEvent[] = [];

  constructor(opts: PlayerOptions) {
    this.self = opts.self;
    this.timing = opts.timing;
    this.lastStage = opts.lastStage ?? Number.POSITIVE_INFINITY;
    this.roster = { version: -1, members: [] };
    this.setRoster(opts.roster);
    const p = opts.persisted;
    if (p) {
      this.term = p.term;
      this.promised = p.promised;
      this.done = p.done;
      this.log = p.history.slice();
      this.accepted = p.accepted;
      this.initialized = p.initialized ?? (p.term > 0 || p.history.length > 0);
    }
    this.initializeIfOldest();
    // Spread heartbeats so a room's players do not all send in the same tick.
    this.nextHeartbeat = Math.floor(opts.rng.next() * this.timing.heartbeatTicks);
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.now++;
    if (this.now >= this.nextHeartbeat) {
      this.nextHeartbeat = this.now + this.timing.heartbeatTicks;
      this.heartbeat();
    }
    this.settle();
  }

  step(from: Id, msg: Message): void {
    if (from === this.self || !Number.isSafeInteger(from) || from <= 0) return;
    // Until the roster names a sender, it counts for nothing (and cannot grow our state).
    if (!this.members.has(from)) return;
    const peer = this.peer(from);
    peer.heard = this.now;
    if (msg.t === 'bye') {
      peer.bye = true;
      peer.byeAt = this.now;
    } else if (this.now - peer.byeAt >= this.timing.heartbeatTicks) {
      // Within a heartbeat of a goodbye this is a straggler sent before it (by the relay, or a closing
      // page's last tick), not a return: a reload takes far longer.
      peer.bye = false;
    }
    switch (msg.t) {
      case 'hb':
        this.onHeartbeat(from, msg, peer);
        break;
      case 'election':
        this.onElection(from);
        break;
      case 'answer':
        if (this.phase === 'waitAnswer') this.enterPhase('waitCoordinator', this.timing.timeoutTicks);
        break;
      case 'coordinator':
        this.onCoordinator(from, msg.term);
        break;
      case 'report':
        this.onReport(from, msg);
        break;
      case 'done':
        if (this.role === 'leader' && msg.term === this.term) this.noteDone(from, msg.stage, msg.done);
        break;
      case 'accept':
        this.onAccept(from, msg.term, msg.entry);
        break;
      case 'accepted':
        this.onAccepted(from, msg.term, msg.index);
        break;
      case 'advance':
        this.onAdvance(from, msg.term, msg.entry);
        break;
      case 'reject':
        if (msg.term > this.term) this.adoptTerm(msg.term, 0);
        break;
      case 'sync':
        this.sendHistory(from, msg.index);
        break;
      case 'history':
        for (const e of msg.entries) this.apply(e);
        this.lastSync = NEVER;
        break;
      case 'bye':
        if (from === this.leader && this.role === 'follower') this.leaderLeft = true;
        break;
    }
    this.settle();
  }

  setRoster(roster: Roster): void {
    if (roster.version <= this.roster.version) return;
    this.roster = { version: roster.version, members: roster.members.slice() };
    this.members = new Set(roster.members);
    for (const id of [...this.peers.keys()]) if (!this.members.has(id)) this.peers.delete(id);
    if (this.leader !== 0 && !this.members.has(this.leader)) this.leader = 0;
    this.initializeIfOldest();
    if (this.now > 0) this.settle();
  }

  setDone(done: boolean): void {
    if (this.locked || this.stage >= this.lastStage || this.done === done) return;
    this.done = done;
    this.dirty = true;
    if (this.leader !== 0 && this.leader !== this.self) {
      this.send(this.leader, { t: 'done', term: this.term, stage: this.stage, done });
    }
    this.settle();
  }

  goodbye(): void {
    for (const id of this.members) if (id !== this.self) this.send(id, { t: 'bye' });
  }

  // ---------------------------------------------------------------- outputs

  ready(): Ready {
    const out: Ready = {
      messages: this.outbox,
      events: this.events,
      persist: this.dirty ? this.persisted() : null,
    };
    this.outbox = [];
    this.events = [];
    this.dirty = false;
    return out;
  }

  persisted(): Persisted {
    return {
      term: this.term,
      promised: this.promised,
      done: this.done,
      history: this.log.slice(),
      accepted: this.accepted,
      initialized: this.initialized,
    };
  }

  view(): View {
    const live = this.liveMembers();
    const needed = this.majority();
    const agreed = this.agreed();
    const ok = this.isQuorum(live, agreed);
    return {
      self: this.self,
      now: this.now,
      role: this.role,
      term: this.term,
      leader: this.leader,
      stage: this.stage,
      done: this.done,
      locked: this.locked,
      history: this.log.filter((e) => e.kind === 'stage'),
      members: [...this.members].sort((a, b) => a - b),
      agreed: [...agreed],
      live,
      peers: [...this.members]
        .filter((id) => id !== this.self)
        .sort((a, b) => a - b)
        .map((id) => {
          const p = this.peers.get(id);
          const last = p ? Math.max(p.heard, this.role === 'leader' ? NEVER : p.vouched) : NEVER;
          return {
            id,
            silentTicks: last !== NEVER ? this.now - last : -1,
            live: this.isLive(id),
            bye: p?.bye ?? false,
            stage: p?.stage ?? 0,
            term: p?.term ?? 0,
            done: p?.done ?? false,
          };
        }),
      tally: this.role === 'leader' ? this.makeTally() : this.tally?.stage === this.stage ? this.tally : null,
      quorum: { live: live.length, members: this.members.size, needed, ok },
      initialized: this.initialized,
      blocked: !this.members.has(this.self)
        ? 'not a member of this room'
        : !ok
          ? live.length < needed
            ? `no quorum: ${live.length} of ${this.members.size}`
            : `no quorum: waiting to reach the agreed members ${agreed.join(', ')}`
          : this.initialized
            ? null
            : 'catching up with the room',
      timing: this.timing,
    };
  }

  get stage(): number {
    return this.log[this.log.length - 1]?.stage ?? 0;
  }

  // Cheap reads for the simulator's per-step checks (view() copies everything).
  get currentRole(): Role {
    return this.role;
  }

  get currentTerm(): number {
    return this.term;
  }

  get currentLeader(): Id {
    return this.leader;
  }

  get isDone(): boolean {
    return this.done;
  }

  get entries(): readonly Entry[] {
    return this.log;
  }

  /** Done can no longer be taken back once this player accepted the proposal that ends its stage. */
  get locked(): boolean {
    const a = this.accepted;
    return a !== null && a.entry.kind === 'stage' && a.entry.index === this.log.length + 1;
  }

  /** Everyone who joined before us is gone: nobody left could teach us, so the room's state is ours. */
  private initializeIfOldest(): void {
    if (this.initialized || !this.members.has(this.self)) return;
    for (const id of this.members) if (id < this.self) return;
    this.markInitialized();
  }

  private markInitialized(): void {
    this.initialized = true;
    this.dirty = true;
  }

  // ---------------------------------------------------------------- liveness

  private peer(id: Id): PeerState {
    let p = this.peers.get(id);
    if (!p) {
      p = {
        heard: NEVER,
        vouched: NEVER,
        strayed: NEVER,
        byeAt: NEVER,
        index: 0,
        init: false,
        bye: false,
        stage: 0,
        term: 0,
        done: false,
      };
      this.peers.set(id, p);
    }
    return p;
  }

  /**
   * Heard from within a timeout, or, for a follower or candidate, vouched for by our leader's tally: heard
   * by the leader within a timeout while the leader is live, within two once it is not (a dead leader is
   * noticed a timeout after its last tally, and the election needs to know who else is there). A leader's
   * own view is first-hand only, so a vouch cannot outlive what vouched for it.
   */
  private isLive(id: Id): boolean {
    if (!this.members.has(id)) return false;
    if (id === this.self) return true;
    const p = this.peers.get(id);
    if (!p || p.bye) return false;
    if (this.now - p.heard < this.timing.timeoutTicks) return true;
    if (this.role === 'leader' || id === this.leader) return false;
    const window = this.leaderAlive() ? 1 : 2;
    return this.now - p.vouched < window * this.timing.timeoutTicks;
  }

  private liveMembers(): Id[] {
    return [...this.members].filter((id) => this.isLive(id)).sort((a, b) => a - b);
  }

  private majority(): number {
    return Math.floor(this.members.size / 2) + 1;
  }

  private hasQuorum(): boolean {
    return (
      this.initialized && this.members.has(this.self) && this.isQuorum(this.liveMembers(), this.agreed())
    );
  }

  /**
   * The membership agreed in the last committed entry. Before any, the room's creator: every player must
   * share this set, and ID 1 is the one member all of them know of (IDs start at 1 in every room).
   */
  private agreed(): readonly Id[] {
    return this.log[this.log.length - 1]?.members ?? FIRST_MEMBERS;
  }

  /**
   * A quorum is a majority of the current membership (so a minority never acts) that also still reaches
   * whatever an earlier majority decided: a majority of the last agreed membership, or every current
   * member. Without the second part, departures could leave a majority that never heard of a stage
   * that a remaining member holds.
   */
  private isQuorum(ids: Iterable<Id>, agreed: readonly Id[]): boolean {
    const q = new Set<Id>();
    for (const id of ids) if (this.members.has(id)) q.add(id);
    if (q.size < this.majority()) return false;
    if (q.size === this.members.size) return true;
    let n = 0;
    for (const id of agreed) if (q.has(id)) n++;
    return n >= Math.floor(agreed.length / 2) + 1;
  }

  private leaderAlive(): boolean {
    return this.leader !== 0 && this.isLive(this.leader);
  }

  /** Our leader is live and its latest tally lists us: the others learn we are alive from it. */
  private leaderHearsUs(): boolean {
    return this.leaderAlive() && this.tally !== null && this.tally.live.includes(this.self);
  }

  // ---------------------------------------------------------------- the loop

  /** Re-evaluates what the current facts demand; called after every input. */
  private settle(): void {
    for (const id of this.members) {
      if (id === this.self) continue;
      const live = this.isLive(id);
      if (live !== this.wasLive.has(id)) {
        if (live) this.wasLive.add(id);
        else this.wasLive.delete(id);
        this.events.push({ kind: live ? 'alive' : 'suspect', peer: id });
      }
    }
    for (const id of [...this.wasLive]) if (!this.members.has(id)) this.wasLive.delete(id);
    this.checkLeadership();
    // A shrinking membership can turn the acks already held into a majority.
    if (this.role === 'leader') this.maybeCommit();
    this.maybePropose();
  }

  /**
   * A follower whose live leader hears it beats to the leader, whose tally tells the others it is alive,
   * and to any peer that names another leader (or none): a room costs O(N) heartbeats, not O(N²). The
   * leader, candidates and anyone the leader does not hear beat to all, naming no leader, so the others beat
   * back to them: one cut off from the leader, either way, still catches up through the rest.
   */
  private heartbeat(): void {
    const claim = this.role === 'leader';
    const tally = claim ? this.makeTally() : undefined;
    const heard = this.role === 'follower' && this.leaderHearsUs();
    for (const id of this.members) {
      if (id === this.self) continue;
      if (heard && id !== this.leader && !(this.now - this.peer(id).strayed < this.timing.timeoutTicks))
        continue;
      const hb: Message = {
        t: 'hb',
        term: this.term,
        leader: claim ? this.self : heard ? this.leader : 0,
        stage: this.stage,
        index: this.log.length,
        done: this.done,
        init: this.initialized,
      };
      if (tally) hb.tally = tally;
      this.send(id, hb);
    }
    // Retransmit what may have been dropped: promise requests and proposals.
    if (this.role === 'candidate') {
      for (const id of this.members) {
        if (id !== this.self && !this.promises.has(id)) this.send(id, { t: 'coordinator', term: this.term });
      }
    }
    if (this.role === 'leader' && this.proposal) {
      for (const id of this.members) {
        if (id !== this.self && !this.acks.has(id)) {
          this.send(id, { t: 'accept', term: this.term, entry: this.proposal.entry });
        }
      }
    }
  }

  private checkLeadership(): void {
    if (this.role === 'leader') {
      if (!this.hasQuorum()) this.stepDown();
      return;
    }
    if (this.role === 'candidate') {
      if (this.now >= this.candidateDeadline || !this.hasQuorum()) this.stepDown();
      return;
    }
    if (!this.members.has(this.self)) return;
    const live = this.liveMembers();
    const heir = live[0];
    if (this.leaderAlive()) {
      this.phase = 'idle';
      this.leaderLeft = false;
      // Bully takeover: the lowest live ID leads.
      if (heir === this.self && this.leader !== this.self && this.hasQuorum()) this.becomeCandidate();
      return;
    }
    if (this.pending && this.isLive(this.pending.from)) {
      const { from, term } = this.pending;
      this.pending = null;
      if (this.tryAcceptCoordinator(from, term, false)) return;
    }
    if (!this.hasQuorum()) {
      this.phase = 'idle';
      return;
    }
    if (heir === this.self) {
      this.becomeCandidate();
      return;
    }
    const lower = live.filter((id) => id < this.self);
    switch (this.phase) {
      case 'idle':
        if (this.leaderLeft) this.sendElection(lower.slice(0, 1));
        // Give the heir one answer bound to announce itself before anyone else speaks: no herd.
        else this.enterPhase('waitHeir', this.timing.answerTicks);
        break;
      case 'waitHeir':
        if (this.now >= this.phaseDeadline) this.sendElection(lower);
        break;
      case 'waitAnswer':
        if (this.now >= this.phaseDeadline) this.becomeCandidate();
        break;
      case 'waitCoordinator':
        if (this.now >= this.phaseDeadline) this.phase = 'idle';
        break;
    }
  }

  private enterPhase(phase: ElectionPhase, ticks: number): void {
    this.phase = phase;
    this.phaseDeadline = this.now + ticks;
  }

  private sendElection(lower: Id[]): void {
    this.leaderLeft = false;
    this.events.push({ kind: 'election', term: this.term, to: lower });
    for (const id of lower) this.send(id, { t: 'election', term: this.term });
    this.enterPhase('waitAnswer', this.timing.answerTicks);
  }

  private becomeCandidate(): void {
    if (!this.hasQuorum()) return;
    this.term++;
    this.promised = this.self;
    // No leader until a majority promises: a heartbeat naming ourselves would read as an established claim.
    this.leader = 0;
    this.dirty = true;
    this.setRole('candidate');
    this.phase = 'idle';
    this.pending = null;
    this.candidateDeadline = this.now + this.timing.timeoutTicks;
    this.promises = new Map([
      [
        this.self,
        {
          index: this.log.length,
          stage: this.stage,
          done: this.done,
          init: true,
          last: this.log.at(-1) ?? null,
          accepted: this.accepted,
        },
      ],
    ]);
    this.proposal = null;
    this.reproposal = null;
    this.acks.clear();
    for (const id of this.members) if (id !== this.self) this.send(id, { t: 'coordinator', term: this.term });
    this.maybeWin();
  }

  private stepDown(): void {
    this.setRole('follower');
    this.leader = 0;
    this.proposal = null;
    this.reproposal = null;
    this.acks.clear();
    this.promises.clear();
    this.phase = 'idle';
  }

  private setRole(role: Role): void {
    if (this.role === role) return;
    this.role = role;
    this.events.push({ kind: 'role', role, term: this.term });
  }

  private adoptTerm(term: number, leader: Id): void {
    this.term = term;
    this.promised = leader;
    this.dirty = true;
    if (this.role !== 'follower') this.stepDown();
    this.setLeader(leader);
    this.tally = null;
  }

  private setLeader(leader: Id): void {
    if (this.leader === leader) return;
    this.leader = leader;
    if (leader !== 0) this.events.push({ kind: 'leader', leader, term: this.term });
  }

  // ---------------------------------------------------------------- election messages

  private onElection(from: Id): void {
    this.send(from, { t: 'answer', term: this.term });
    if (this.role === 'leader' || this.role === 'candidate') {
      this.send(from, { t: 'coordinator', term: this.term });
      return;
    }
    if (this.leaderAlive() || !this.hasQuorum()) return;
    // A higher ID is electing: run our own election now rather than after the heir wait.
    const lower = this.liveMembers().filter((id) => id < this.self);
    if (lower.length === 0) this.becomeCandidate();
    else if (this.phase === 'idle' || this.phase === 'waitHeir') this.sendElection(lower);
  }

  private onCoordinator(from: Id, term: number): void {
    if (term < this.term) {
      this.reject(from);
      return;
    }
    this.tryAcceptCoordinator(from, term, false);
  }

  /**
   * Promises `from` as the leader of `term` when the bully order and our leader's liveness allow it.
   * `established` means `from` already holds a majority of promises (it heartbeats, proposes or commits
   * as leader), not merely asks for them.
   */
  private tryAcceptCoordinator(from: Id, term: number, established: boolean): boolean {
    if (term < this.term || !this.members.has(from)) return false;
    if (term === this.term && this.promised === from) {
      if (this.role === 'follower') {
        this.setLeader(from);
        this.sendReport(from);
      }
      return true;
    }
    if (!established && from > this.self && this.hasQuorum()) {
      // We outrank the claimant. Only the lowest live member takes over (bully), under a higher term;
      // the others leave it to that heir, or every outranked player would run at once.
      const heir = this.liveMembers()[0] === this.self;
      if (heir && !(this.role === 'candidate' && this.term >= term)) {
        this.term = Math.max(this.term, term);
        this.becomeCandidate();
      }
      return false;
    }
    // A second promise in one term is safe toward an established leader (it has a quorum without us, so
    // whoever we promised first can never complete one in this term), and when the first promise was to
    // ourselves and we give up that running, never-won candidacy for a lower ID (nobody else relies on
    // a self-promise; a candidacy that once won must not, as it may have led this term).
    const renounce = this.role === 'candidate' && from < this.self;
    if (term === this.term && this.promised !== 0 && !established && !renounce) return false;
    if (!established && this.leaderAlive() && this.leader !== from && from > this.leader) {
      // Lease: a leader we still hear outranks the claim. Remember it in case our leader is really gone.
      this.pending = { from, term };
      return false;
    }
    this.adoptTerm(term, from);
    this.phase = 'idle';
    this.pending = null;
    this.sendReport(from);
    return true;
  }

  private sendReport(to: Id): void {
    this.send(to, {
      t: 'report',
      term: this.term,
      done: this.done,
      init: this.initialized,
      history: this.log.slice(-1),
      accepted: this.accepted,
    });
  }

  private onReport(from: Id, msg: Extract<Message, { t: 'report' }>): void {
    if (msg.term !== this.term || (this.role !== 'candidate' && this.role !== 'leader')) return;
    const last = msg.history[msg.history.length - 1];
    const stage = last ? last.stage : 0;
    const index = last ? last.index : 0;
    this.promises.set(from, {
      index,
      stage,
      done: msg.done,
      init: msg.init,
      last: last ?? null,
      accepted: msg.accepted,
    });
    if (this.role === 'candidate') {
      this.maybeWin();
      return;
    }
    // A late promise to a sitting leader: count its Done, and catch either side up.
    this.noteDone(from, stage, msg.done);
    if (index > this.log.length) this.requestSync(from);
  }

  private maybeWin(): void {
    if (this.role !== 'candidate') return;
    // A majority of all members, and a majority of those who may hold the room's state: newcomers alone
    // must never outvote what the old members know. Only a promise made to this candidacy proves a
    // newcomer (it may have caught up since we last heard it); anyone else may hold state.
    let holders = 0;
    let holdersPromised = 0;
    for (const id of this.members) {
      const p = this.promises.get(id);
      const newcomer = p !== undefined && !p.init;
      if (!newcomer) holders++;
      if (p && !newcomer) holdersPromised++;
    }
    if (holdersPromised < Math.floor(holders / 2) + 1) return;
    // The agreed membership is the one after the furthest stage any promise reports.
    let agreed = this.agreed();
    let furthest = this.log.length;
    for (const p of this.promises.values()) {
      if (p.index > furthest && p.last) {
        furthest = p.index;
        agreed = p.last.members;
      }
    }
    if (!this.isQuorum(this.promises.keys(), agreed)) return;
    this.setRole('leader');
    this.setLeader(this.self);
    this.tally = null;
    // Phase 1 is complete: learn the furthest committed stage and the highest-ballot accepted value.
    const target = furthest;
    this.catchUpTo = target;
    let best: Proposal | null = null;
    for (const p of this.promises.values()) {
      const a = p.accepted;
      if (a && a.entry.index === target + 1 && (!best || a.ballot > best.ballot)) best = a;
    }
    this.reproposal = best ? best.entry : null;
    for (const [id, p] of this.promises) if (id !== this.self) this.noteDone(id, p.stage, p.done);
    if (target > this.log.length) {
      for (const [id, p] of this.promises) {
        if (p.index === target && id !== this.self) {
          this.requestSync(id);
          break;
        }
      }
    }
    this.heartbeat();
  }

  // ---------------------------------------------------------------- heartbeats and catch-up

  private onHeartbeat(from: Id, msg: Extract<Message, { t: 'hb' }>, peer: PeerState): void {
    if (msg.leader !== this.leader) peer.strayed = this.now;
    peer.stage = msg.stage;
    peer.index = msg.index;
    peer.init = msg.init;
    peer.term = msg.term;
    peer.done = msg.done;
    if (!this.initialized && msg.term > 0 && msg.leader === from) {
      // Learn the room's state from an established leader (any other player may be stale): its term,
      // then its stages.
      if (msg.term > this.term) {
        this.term = msg.term;
        this.promised = 0;
        this.dirty = true;
      }
      // Caught up with the player we hear now (not the furthest ever heard: that one may have left).
      this.initTarget = msg.index;
      if (this.log.length >= this.initTarget) this.markInitialized();
    }
    const claims = msg.leader === from;
    if (claims) {
      if (msg.term < this.term) {
        this.reject(from);
      } else if (msg.term > this.term || this.leader !== from) {
        // A leader we have not promised (we missed its COORDINATOR, or we are new): join it.
        this.tryAcceptCoordinator(from, msg.term, true);
      } else if (msg.tally) {
        this.tally = msg.tally;
        this.vouch(msg.tally, msg.term);
      }
    } else if (this.leader === from && this.role === 'follower') {
      // Our leader no longer claims leadership (it lost quorum): look again, without its word on the others.
      this.leader = 0;
      this.tally = null;
      for (const q of this.peers.values()) q.vouched = NEVER;
    }
    if (this.role === 'leader' && msg.term === this.term && msg.leader === this.self) {
      this.noteDone(from, msg.stage, msg.done);
    }
    if (msg.index > this.log.length) this.requestSync(from);
  }

  /** What our leader's tally says of the others: when it last heard them, and their Done (for display). */
  private vouch(tally: Tally, term: number): void {
    const done = new Set(tally.done);
    for (const [i, id] of tally.live.entries()) {
      if (id === this.self || id === this.leader || !this.members.has(id)) continue;
      const p = this.peer(id);
      p.vouched = Math.max(p.vouched, this.now - (tally.silent?.[i] ?? 0));
      if (p.heard < this.now - this.timing.heartbeatTicks) {
        p.stage = tally.stage;
        p.term = term;
        p.done = done.has(id);
      }
    }
  }

  private requestSync(from: Id): void {
    if (this.now - this.lastSync < this.timing.heartbeatTicks) return;
    this.lastSync = this.now;
    this.send(from, { t: 'sync', index: this.log.length });
  }

  private sendHistory(to: Id, have: number): void {
    if (have >= this.log.length || have < 0) return;
    this.send(to, { t: 'history', entries: this.log.slice(have, have + HISTORY_CHUNK) });
  }

  // ---------------------------------------------------------------- stages

  private makeTally(): Tally {
    const live = this.liveMembers();
    return {
      stage: this.stage,
      done: live.filter((id) => this.doneOf(id)),
      live,
      silent: live.map((id) => (id === this.self ? 0 : this.now - (this.peers.get(id)?.heard ?? this.now))),
      members: this.members.size,
    };
  }

  private doneOf(id: Id): boolean {
    return id === this.self ? this.done : this.doneAt.get(id) === this.stage;
  }

  private noteDone(id: Id, stage: number, done: boolean): void {
    if (done) this.doneAt.set(id, stage);
    else if (this.doneAt.get(id) === stage) this.doneAt.delete(id);
  }

  private maybePropose(): void {
    if (this.role !== 'leader' || this.proposal || this.log.length < this.catchUpTo) return;
    let entry = this.reproposal;
    if (entry && entry.index !== this.log.length + 1) entry = null;
    this.reproposal = null;
    const live = this.liveMembers();
    const agreed = this.agreed();
    if (!entry) {
      if (!this.isQuorum(live, agreed)) return;
      entry = this.nextStage(live, agreed) ?? this.nextMembership(live, agreed);
      if (!entry) return;
      this.events.push({ kind: 'propose', entry, live, members: [...this.members].sort((a, b) => a - b) });
    }
    this.proposal = { ballot: this.term, entry };
    this.accepted = this.proposal;
    this.dirty = true;
    this.acks = new Set([this.self]);
    for (const id of this.members)
      if (id !== this.self) this.send(id, { t: 'accept', term: this.term, entry });
    this.maybeCommit();
  }

  /** The advance, once every live member is done. */
  private nextStage(live: Id[], agreed: readonly Id[]): Entry | null {
    if (this.stage >= this.lastStage || !live.every((id) => this.doneOf(id))) return null;
    return {
      index: this.log.length + 1,
      kind: 'stage',
      stage: this.stage + 1,
      term: this.term,
      done: live,
      members: [...agreed],
    };
  }

  /**
   * One step of the agreed membership toward the roster (Raft's single-server change): drop one member
   * that left, or add one live member that has caught up. One at a time keeps consecutive agreed
   * memberships' majorities overlapping.
   */
  private nextMembership(live: Id[], agreed: readonly Id[]): Entry | null {
    const has = new Set(agreed);
    let next: Id[] | null = null;
    const gone = agreed.find((id) => !this.members.has(id));
    if (gone !== undefined) next = agreed.filter((id) => id !== gone);
    else {
      const add = live.find((id) => !has.has(id) && (id === this.self || this.peers.get(id)?.init === true));
      if (add !== undefined) next = [...agreed, add].sort((a, b) => a - b);
    }
    if (!next) return null;
    return {
      index: this.log.length + 1,
      kind: 'members',
      stage: this.stage,
      term: this.term,
      done: [],
      members: next,
    };
  }

  private onAccept(from: Id, term: number, entry: Entry): void {
    if (!this.initialized) return;
    if (term < this.term) {
      this.reject(from);
      return;
    }
    // Only a leader with a quorum of promises proposes, so this is an established claim.
    if (term > this.term || this.promised !== from) this.adoptTerm(term, from);
    else this.setLeader(from);
    if (entry.index === this.log.length + 1) {
      this.accepted = { ballot: term, entry };
      this.dirty = true;
      this.send(from, { t: 'accepted', term, index: entry.index });
    } else if (entry.index <= this.log.length) {
      // Already committed here, and committed values are unique: help the leader count.
      this.send(from, { t: 'accepted', term, index: entry.index });
    } else {
      this.requestSync(from);
    }
  }

  private onAccepted(from: Id, term: number, index: number): void {
    if (this.role !== 'leader' || term !== this.term || !this.proposal) return;
    if (this.proposal.entry.index !== index || !this.members.has(from)) return;
    this.acks.add(from);
    this.maybeCommit();
  }

  private maybeCommit(): void {
    if (!this.proposal || !this.isQuorum(this.acks, this.agreed())) return;
    const entry = this.proposal.entry;
    this.proposal = null;
    this.acks.clear();
    this.apply(entry);
    for (const id of this.members)
      if (id !== this.self) this.send(id, { t: 'advance', term: this.term, entry });
  }

  private onAdvance(from: Id, term: number, entry: Entry): void {
    if (term < this.term) {
      this.reject(from);
      return;
    }
    if (term > this.term || this.promised !== from) this.adoptTerm(term, from);
    if (entry.index === this.log.length + 1) this.apply(entry);
    else if (entry.index > this.log.length + 1) this.requestSync(from);
  }

  private apply(entry: Entry): void {
    if (entry.index !== this.log.length + 1) return;
    this.log.push(entry);
    if (!this.initialized && this.initTarget > 0 && this.log.length >= this.initTarget)
      this.markInitialized();
    if (this.proposal && this.proposal.entry.index <= this.log.length) {
      this.proposal = null;
      this.acks.clear();
    }
    if (this.accepted && this.accepted.entry.index <= this.log.length) this.accepted = null;
    this.dirty = true;
    if (entry.kind === 'stage') {
      this.done = false;
      this.events.push({ kind: 'advance', entry });
    } else {
      this.events.push({ kind: 'members', members: entry.members });
    }
  }

  /** Fences a stale leader or candidate: it learns our term and steps down. */
  private reject(to: Id): void {
    this.events.push({ kind: 'rejected', from: to, reason: `stale term, ours is ${this.term}` });
    this.send(to, { t: 'reject', term: this.term });
  }

  private send(to: Id, msg: Message): void {
    this.outbox.push({ to, msg });
  }
}
