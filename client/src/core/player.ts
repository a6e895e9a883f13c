import { LIMITS } from '../protocol/limits.ts';
import { jsonBytes, newClientId, parseBase, toJson, utf8Bytes } from '../protocol/messages.ts';
import { AppBook, type Proposals } from './app.ts';
import { chains, GENESIS, seal } from './chain.ts';
import { heardWithin, NEVER, newPeer, type PeerState, peerView, vouchedWithin } from './liveness.ts';
import { type Base, Log } from './log.ts';
import { isQuorum, quorumOf } from './quorum.ts';
import type { Rng } from './rng.ts';
import type {
  CoreEvent,
  Entry,
  Envelope,
  Id,
  Message,
  Op,
  Persisted,
  Proposal,
  Retirement,
  Role,
  Roster,
  Tally,
  Timing,
  View,
} from './types.ts';
import { buildView } from './view.ts';

export interface PlayerOptions {
  self: Id;
  timing: Timing;
  rng: Rng;
  roster: Roster;
  /** State saved before a reload; a fresh player starts empty. */
  persisted?: Persisted | null;
  /** The final stage: nobody advances past it. */
  lastStage?: number;
  /** The voter slot this new ID continues (its session expired or the server restarted; `persisted` is that slot's state). */
  was?: Id;
  /**
   * This page session's app proposals: a random client ID (the core has no randomness), and what an
   * earlier core of the same page still had pending. Without it the player cannot propose.
   */
  proposals?: Proposals;
  /** Ticks in a second (the driver's tick length), for the leader's per-sender budget. Default 100. */
  ticksPerSecond?: number;
}

export type ProposeResult =
  | { ok: true; id: number }
  | {
      ok: false;
      code: 'bad_argument' | 'too_large' | 'rate_limited' | 'not_joined' | 'log_full';
      error: string;
    };

export type CompactResult = { ok: true } | { ok: false; code: 'bad_argument' | 'too_large'; error: string };

export interface Ready {
  messages: Envelope[];
  events: CoreEvent[];
  /** The state to save before sending `messages`, when it differs from what the last drain handed out. */
  persist: Persisted | null;
}

/** Entries one HISTORY message carries (fewer when they are large: LIMITS.historyBytes). */
export const HISTORY_CHUNK = 64;
/** Page sessions a leader queues values for, in all and per sender: a liar's junk stays bounded. */
const QUEUED_CLIENTS = 256;
const CLIENTS_PER_SENDER = 4;

type ElectionPhase = 'idle' | 'waitHeir' | 'waitAnswer' | 'waitCoordinator';
/**
 * The lower IDs an ELECTION goes to: the lowest few that could lead, not all of them. One answer is enough
 * to hold us back, and in a room of 32 every survivor asking every lower ID sent up to 9,800 election messages
 * per failover (sim, slow network), which on a busy machine delayed the heartbeats that end it.
 */
const ELECTION_FANOUT = 3;

export const FIRST_MEMBERS: readonly Id[] = [1];

/** Why `json` (toJson's answer) cannot go in the log: `bad_argument` if it is not JSON, `too_large` if over `max`. */
function jsonProblem(
  json: string | null,
  max: number,
): { code: 'bad_argument' | 'too_large'; problem: string } | null {
  if (json === null)
    return {
      code: 'bad_argument',
      problem: 'is not JSON (undefined, a function, a symbol, a BigInt or a cycle)',
    };
  const bytes = utf8Bytes(json);
  return bytes > max ? { code: 'too_large', problem: `is ${bytes} bytes as JSON; at most ${max} fit` } : null;
}
/** A leaver sends each peer at most this many entries it lacks: as many as one message may carry. */
const LEAVE_ENTRIES = LIMITS.entriesPerMessage;
/**
 * How far past ours a peer's term may be. Terms grow by one per candidacy, and only a side with a quorum
 * runs, so an honest peer is never 65,536 elections ahead; a liar's bigger term is refused (termAllowed).
 */
export const TERM_STEP = 2 ** 16;
/**
 * How far a player that heard nobody for a timeout may jump, within a timeout of hearing someone again, to
 * a term two peers vouch for (Player.rejoinTerm): back from a crash, a freeze or a partition, it catches up
 * at once with a room whose terms a liar pumped while it was away (a step a beat would take as long as the
 * liar stayed). 256 steps: a liar with two sessions that lifts a returning player this far ahead of the room
 * costs the room 256 beats of climbing, once per such return.
 */
export const REJOIN_STEP = 2 ** 24;
/** The highest term we ever take: a candidacy must still be able to add one. */
const MAX_TERM = Number.MAX_SAFE_INTEGER - 1;
/** The furthest base we take: 2^52 entries is more than any room commits, and leaves room to go on. */
const MAX_BASE = 2 ** 52;
/** How far back a heartbeat looks for the name a peer behind us knows our slot by (renames are rare). */
const NAME_WALK = 2_000;
/** Earlier page sessions of ours whose moved values we still recognize (Player.settleMoved). */
const MOVED_SESSIONS = 4;
/** Misbehaviour reported as events per peer (the view counts all of it). */
const LOGGED_STRIKES = 5;

/**
 * One player's protocol as a pure state machine (after etcd-raft's Step/Tick/Ready): no clocks, timers or
 * I/O. Leadership is bully-style (lowest live ID), fenced by terms; each stage transition is committed by
 * a majority, so a minority never advances and no DONE is lost when a leader dies. See docs/protocol.md.
 */
export class Player {
  readonly self: Id;
  private readonly timing: Timing;
  /** How long a silence takes to count, and the ELECTION's answer bound: stretched while beats arrive late (noteBeat). */
  private suspectTicks: number;
  private answerTicks: number;
  /** The longest gap between a peer's regular heartbeats in the current window, and when it began. */
  private slowestBeat = 0;
  private beatWindowFrom = 0;
  /** Counts changes of our leader (noteBeat). */
  private leaderEpoch = 0;
  private epochLeader: Id = 0;
  private readonly lastStage: number;
  private now = 0;

  // Persisted: what a reload must not forget.
  private term = 0;
  private promised: Id = 0;
  private done = false;
  private log = new Log();
  private accepted: Proposal | null = null;
  /**
   * A newcomer holds none of the room's state, so its promises and acceptances must not count until it
   * has caught up from a player that does: otherwise newcomers could form a majority that forgot a stage.
   */
  private initialized = false;
  /** The established leader's log length and last hash we must hold to count as caught up (-1: none heard). */
  private initTarget = -1;
  private initHash = GENESIS;
  /** Voter slots that left for good, with their final state (persisted until the log removes them). */
  private retired = new CountedMap<Id, Retirement>();
  /** IDs that continue another voter's slot: new ID → the slot's ID in the log. */
  private aliases = new CountedMap<Id, Id>();
  /** slotOf as a value, made once (hot paths call it per vote). */
  private readonly slotFn = (id: Id): Id => this.slotOf(id);
  /** Old names of continued slots (the log's renames, and claims we heard): never a new member. */
  private formerNames = new Set<Id>();
  /** Final words from voters whose last entry we do not hold yet. */
  private lastWords = new Map<Id, Retirement>();
  /** The slot this ID claims, until a committed entry records it. */
  private was: Id = 0;
  /** The slot's name before the entry recording our own: a peer behind that entry can place us only by it. */
  private wasNamed: Id = 0;
  /** Heartbeat rounds sent, to name our earlier IDs in turn (nameFor). */
  private beats = 0;
  /** Every earlier name of this tab (its `was` chain): the log may name the slot by any of them. */
  private ownNames = new Set<Id>();
  /** Every ID this page session proposed under, this one included: a base's `by` may name any of them. */
  private proposedAs = new Set<Id>();
  /** Woken from a freeze: no candidacy before this tick (the idea of Raft's PreVote). */
  private quietUntil = 0;
  /** When we last heard any member; after a timeout of silence, until when the peers' terms may lift us (rejoinTerm), and from what. */
  private heardAnyAt = NEVER;
  private rejoinFrom = NEVER;
  private rejoinUntil = NEVER;
  private rejoinBase = 0;
  /** Counts changes to the persisted retirements and aliases outside the log (which the key sums up itself). */
  private books = 0;
  /** What ready() last handed out to persist, as a cheap key; and a spare array for the next key. */
  private persistedKey: unknown[] = [];
  private spareKey: unknown[] = [];
  private left = false;
  private leftUntil = 0;
  /** IDs the room's owner removed (the server says so): never heard and never a member again. */
  private expelled = new Set<Id>();
  /**
   * The highest player ID we know the room has issued: from the server's roster, our own log, or a sender
   * we heard. An entry naming a voter above it waits: a liar's phantom voter would otherwise hold a
   * majority that no live player can ever reach.
   */
  private issued = 0;
  /** IDs that say they continue a slot we still hear: neither that slot nor a new member yet. */
  private claims = new Set<Id>();
  /** Sync requests per peer not yet answered: a history is taken only as such an answer. */
  private asked = new Map<Id, number>();
  /** Snapshots whose parts are still coming, by sender. */
  private incoming = new Map<Id, { index: number; hash: string; parts: string[]; total: number }>();
  /** Our page session has a number a cut log freed, which our superseded value will not fill. */
  private gapped = false;
  /** A snapshot we asked for that came before its sender was our authority: its promise may be on the way. */
  private earlyBase: { from: Id; base: Base; at: number } | null = null;
  /** The authority whose entries showed our base itself is on a fork: its base replaces ours. */
  private baseForkedBy: Id = 0;
  /** Our tainted base: the leader we last asked for its base (askRebase), when, and whether it answered. */
  private rebaseAsk: { to: Id; at: number; answered: boolean; wait: number } | null = null;
  /** When we last asked for the whole history because our base is on a fork (onHistory). */
  private baseForkAskedAt = NEVER;
  /** The entries that authority sent past its base: with its base they may reach our stage (install). */
  private forkTail: Entry[] = [];
  /** That authority's history from #1 so far, joined chunk by chunk until it shows the fork (walkFork). */
  private forkWalk: Entry[] = [];
  /** An authority's base behind our stage (our log ran ahead on a liar's entries): held until its entries past it reach our stage. */
  private heldBase: { from: Id; base: Base; tail: Entry[] } | null = null;
  /** An authority's forked entries that do not reach our stage yet, held while we ask for what follows. */
  private heldFork: { from: Id; entries: Entry[] } | null = null;
  /** Each peer's stage as its own last heartbeat said (PeerState.stage may come from a leader's tally). */
  private readonly saidStage = new Map<Id, number>();
  private readonly rng: Rng;
  /** When we last sent each peer our snapshot: one a heartbeat, however often it asks. */
  private snapshotSent = new Map<Id, { index: number; at: number }>();

  // App entries. Replicated, derived from the log: each page session's last number, player and run (mayTake).
  private app = new AppBook();
  /** Which queue the next app entry starts with. */
  private turn = 0;
  /** A leader's budget per sender of values it puts in the log (LIMITS.app.leaderPerSec): tokens, as of a tick. */
  private budgets = new Map<Id, { tokens: number; at: number }>();
  private readonly ticksPerSecond: number;
  /** Ours: this page session's ID, next number and the values not yet resolved. */
  private client = '';
  private nextSeq = 1;
  private nextId = 1;
  /** Our values not yet decided, by proposal number; `id` is what the caller was handed. */
  private mine = new Map<number, Mine>();
  /** Our latest decided values, kept so a log cut below them (a liar's fork) can offer them again. */
  private decided = new Map<number, Mine>();
  /**
   * Our earlier page sessions, left by leaveTakenSession (the latest last): each number of theirs whose value
   * is still pending, and its number now. A value moved twice may still commit under either earlier session.
   */
  private moved: { from: string; seqs: Map<number, number> }[] = [];
  /** Numbers of this session settleMoved settled after we had sent them, and when. */
  private settledSent = new Map<number, number>();
  /** A leader's queue: values by sender and page session, waiting to go into an app entry. */
  private queue = new Map<string, { by: Id; c: string; ops: Map<number, unknown> }>();

  private role: Role = 'follower';
  private leader: Id = 0;
  private roster: Roster;
  private rosterIds = new Set<Id>();
  /** Everyone we talk to: the roster, plus agreed voters the server may have dropped (it is only a hint). */
  private members = new Set<Id>();
  /** `members`, lowest first. */
  private memberList: readonly Id[] = [];
  private peers = new Map<Id, PeerState>();
  private wasLive = new Set<Id>();
  /** The live set and members `wasLive` was last brought up to date with (settle). */
  private settledLive: ReadonlySet<Id> | null = null;
  private settledMembers: ReadonlySet<Id> | null = null;
  private nextHeartbeat: number;

  private phase: ElectionPhase = 'idle';
  /** An ELECTION of ours has gone unanswered since a leader last held or we last ran: the next one may run. */
  private electionUnanswered = false;
  /** Whom our last ELECTION asked: only they may answer it. */
  private electionAsked: readonly Id[] = [];
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
  /** The promise whose log a new leader takes (its last hash and stage, and who holds it). */
  private catchUpHash = GENESIS;
  private catchUpStage = 0;
  private catchUpFrom: Id = 0;
  private reproposal: Entry | null = null;
  private proposal: Proposal | null = null;
  private acks = new Set<Id>();
  private lastSync = NEVER;

  /** The leader's latest tally, as it reported it. */
  private tally: Tally | null = null;

  private outbox: Envelope[] = [];
  private events: CoreEvent[] = [];

  // Caches: what the hot paths work out from the state above, kept while its inputs are unchanged (each
  // method that fills one says how it knows). They never change what the player does.

  /** liveness(), as last worked out. */
  private liveCache: LiveCache | null = null;
  /** voting(), as last worked out: for which membership and `retired` change count. */
  private votersCache: {
    agreed: readonly Id[];
    retired: number;
    list: readonly Id[];
    set: ReadonlySet<Id>;
  } | null = null;
  /** liveQuorum(), as last worked out: for which live list, membership and change counts. */
  private quorumCache: {
    live: readonly Id[];
    agreed: readonly Id[];
    retired: number;
    aliases: number;
    ok: boolean;
  } | null = null;
  /** holders(), as last worked out: for which membership and `aliases` change count. */
  private holdersCache: { agreed: readonly Id[]; aliases: number; holders: ReadonlySet<Id> } | null = null;
  /** Entries chainsAfter found to chain, with the hash they chain onto (entries are never changed once made). */
  private readonly chained = new WeakMap<Entry, string>();
  /** renameAt's answers, by entry, with the membership before it they hold for. */
  private readonly renames = new WeakMap<
    Entry,
    { before: readonly Id[]; rename: { out: Id; in: Id } | null }
  >();
  /**
   * JSON sizes of entries and retirements, by object (neither is changed once made): the same ones go to
   * peer after peer (fitting), and with every heartbeat (wordsToShare).
   */
  private readonly sizes = new WeakMap<Entry | Retirement, number>();
  private readonly sizeOf = (x: Entry | Retirement): number => {
    let n = this.sizes.get(x);
    if (n === undefined) {
      n = jsonBytes(x);
      this.sizes.set(x, n);
    }
    return n;
  };

  constructor(opts: PlayerOptions) {
    this.self = opts.self;
    this.timing = opts.timing;
    this.suspectTicks = opts.timing.timeoutTicks;
    this.answerTicks = opts.timing.answerTicks;
    this.lastStage = opts.lastStage ?? Number.POSITIVE_INFINITY;
    this.ticksPerSecond = opts.ticksPerSecond ?? 100;
    this.roster = { version: -1, members: [] };
    const p = opts.persisted;
    if (p) {
      this.term = Math.min(p.term, MAX_TERM);
      this.promised = p.promised;
      this.done = p.done;
      this.log = validLog(p.base ?? null, p.history);
      this.accepted = p.accepted;
      this.initialized = p.initialized ?? (p.term > 0 || p.history.length > 0 || p.base !== undefined);
      this.was = p.was ?? 0;
      for (const r of p.retired ?? []) this.retired.set(r.id, r);
      for (const [n, o] of p.aliases ?? []) this.aliases.set(n, o);
      for (const r of p.lastWords ?? []) this.lastWords.set(r.id, r);
      this.formerNames = this.namesFromBooks();
      this.noteIssued(p.issued ?? 0);
    }
    if (opts.was) {
      this.ownNames.add(opts.was);
      if (p?.was) this.ownNames.add(p.was);
      // The old ID is the slot, unless it was itself still claiming one that our log says votes.
      const agreed = this.agreed();
      this.was = !agreed.includes(opts.was) && p?.was && agreed.includes(p.was) ? p.was : opts.was;
    }
    if (this.was) this.aliases.set(this.self, this.was);
    if (opts.proposals) {
      const pr = opts.proposals;
      this.client = pr.client;
      this.nextSeq = pr.next;
      this.nextId = pr.nextId ?? pr.next;
      for (const [seq, m] of pr.pending) this.mine.set(seq, { ...m });
      for (const [seq, m] of pr.decided ?? []) this.decided.set(seq, { ...m });
      for (const n of pr.names ?? []) this.proposedAs.add(n);
    }
    this.noteIssued(this.self, this.was, ...this.agreed(), ...(this.log.snapshot?.entry.members ?? []));
    this.replayApp();
    // The earlier core's log may have held values of ours that this one's does not (a fork was cut since).
    this.reofferCut();
    this.setRoster(opts.roster);
    this.initializeIfFirst();
    // Spread heartbeats so a room's players do not all send in the same tick.
    this.rng = opts.rng;
    this.nextHeartbeat = Math.floor(opts.rng.next() * this.timing.heartbeatTicks);
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    if (this.left) {
      // A leaver repeats its last word for a timeout, so a lost message does not strand its slot.
      if (++this.now < this.leftUntil && this.now >= this.nextHeartbeat) {
        this.nextHeartbeat = this.now + this.timing.heartbeatTicks;
        this.sendLeave();
      }
      return;
    }
    this.now++;
    this.noteLeaderChange();
    this.relaxTimeout();
    if (this.now >= this.nextHeartbeat) {
      this.nextHeartbeat = this.now + this.timing.heartbeatTicks;
      this.applyVouchedAccepted();
      this.replayLastWords();
      this.heartbeat();
    }
    this.askRebase();
    this.settle();
  }

  step(from: Id, msg: Message): void {
    if (this.left || from === this.self || !Number.isSafeInteger(from) || from <= 0) return;
    if (this.expelled.has(from)) return;
    // The transport names the sender (a link or the server's relay), so it is an ID the room issued.
    this.noteIssued(from);
    if ((msg.t === 'hb' || msg.t === 'leave') && msg.was) this.learnAlias(from, msg.was);
    // Until the roster or the log names a sender, it counts for nothing (and cannot grow our state), save
    // a leaver's last word: the server drops a leaver at once, often before its word reaches us.
    if (!this.members.has(from)) {
      if (msg.t === 'leave') this.noteRetirement(lastWord(from, msg));
      return;
    }
    const peer = this.peer(from);
    // Hearing a live peer makes nobody live or not (the cached liveness just ends sooner than it must).
    if (!this.isLive(from)) this.livenessChanged();
    const fresh = peer.heard < this.rejoinFrom;
    peer.heard = this.now;
    if (this.now - this.heardAnyAt >= this.timing.timeoutTicks) {
      this.rejoinFrom = this.now;
      this.rejoinUntil = this.now + this.timing.timeoutTicks;
      this.rejoinBase = this.term;
      for (const q of this.peers.values()) q.rejoinClaim = 0;
    } else if (fresh && this.rosterIds.has(from) && this.heardSinceRejoin() === 2) {
      // Only two peers can vouch: the window runs a timeout from the second one we hear, however late
      // (a newcomer, or one back after us). Still once per return, from the same base.
      this.rejoinUntil = Math.max(this.rejoinUntil, this.now + this.timing.timeoutTicks);
    }
    this.heardAnyAt = this.now;
    if ('term' in msg && msg.term > this.term && !this.termAllowed(from, msg.term, peer)) {
      this.settle();
      return;
    }
    if (msg.t === 'bye') {
      // Gone until it comes back (a reload): that gap is not lateness (noteBeat).
      peer.beatAt = NEVER;
      this.setBye(peer, true);
      peer.byeAt = this.now;
    } else if (this.now - peer.byeAt >= this.timing.heartbeatTicks) {
      // Within a heartbeat of a goodbye this is a straggler sent before it (by the relay, or a closing
      // page's last tick), not a return: a reload takes far longer.
      this.setBye(peer, false);
    }
    switch (msg.t) {
      case 'hb':
        this.noteBeat(from, msg, peer);
        for (const r of msg.retired ?? []) this.noteHearsay(from, r);
        this.onHeartbeat(from, msg, peer);
        break;
      case 'election':
        this.onElection(from);
        break;
      case 'answer':
        // From anyone else it would hold us back without being the one we wait for.
        if (this.phase === 'waitAnswer' && this.electionAsked.includes(from))
          this.enterPhase('waitCoordinator', this.suspectTicks);
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
        // It fences a stale leader or candidate; a follower sent nothing a reject could answer.
        if (msg.term > this.term && this.role !== 'follower') this.adoptTerm(msg.term, 0);
        break;
      case 'sync':
        this.sendHistory(from, msg.index, msg.hash);
        break;
      case 'op':
        if (this.role === 'leader') this.enqueue(from, msg.c, msg.ops);
        break;
      case 'snapshot':
        this.onSnapshot(from, msg);
        break;
      case 'history': {
        const n = this.asked.get(from) ?? 0;
        if (n === 0) {
          this.strike(from, 'sent a history we did not ask for');
          break;
        }
        if (n > 1) this.asked.set(from, n - 1);
        else this.asked.delete(from);
        const had = this.log.length;
        // The leader has no base to give for our tainted one (askRebase): its entries from #1 are ours too.
        if (
          msg.entries[0]?.index === 1 &&
          this.log.first > 0 &&
          this.trusts(from) &&
          this.rebaseAnswered(from)
        )
          break;
        this.onHistory(from, msg.entries);
        this.lastSync = NEVER;
        // A chunk that applied, from a peer still ahead of us: ask for the next at once, not a heartbeat later
        // (a long log would otherwise take a heartbeat per chunk).
        if (this.log.length > had && (this.peers.get(from)?.index ?? 0) > this.log.length)
          this.requestSync(from);
        break;
      }
      case 'bye':
        if (from === this.leader && this.role === 'follower') this.leaderLeft = true;
        break;
      case 'leave':
        this.setBye(peer, true);
        peer.byeAt = this.now;
        this.onLeave(from, msg);
        if (from === this.leader && this.role === 'follower') this.leaderLeft = true;
        break;
    }
    this.settle();
  }

  /**
   * The room's owner removed `id`: the server closed its session and bars it. From now on it is not heard,
   * and the leader commits its removal. A leader or candidate starts over, so nothing it was told by the
   * removed player (a promise, an index to catch up to) holds it back.
   */
  expel(id: Id): void {
    if (id === this.self || this.expelled.has(id) || !Number.isSafeInteger(id) || id <= 0) return;
    this.expelled.add(id);
    this.events.push({ kind: 'expelled', peer: id });
    if (this.role !== 'follower') this.stepDown();
    this.refreshMembers();
    if (this.now > 0) this.settle();
  }

  /** The driver dropped a frame from `from` that failed validation: it counts against that peer. */
  invalid(from: Id, reason: string): void {
    if (this.members.has(from) && from !== this.self) this.strike(from, reason);
  }

  /** The server's roster: whom to talk to, and whom the leader should add or drop. Never a vote. */
  setRoster(roster: Roster): void {
    if (roster.version <= this.roster.version) return;
    this.roster = { version: roster.version, members: roster.members.slice() };
    this.rosterIds = new Set(roster.members);
    this.noteIssued(roster.issued ?? 0, ...roster.members);
    this.refreshMembers();
    if (this.now > 0) this.settle();
  }

  /**
   * The tab woke from a freeze (or came back from the back-forward cache, or its clock jumped): what it
   * knew of the others is stale, and queued input may be old. It steps down and may not campaign for a
   * timeout, so a returning tab cannot unseat a healthy leader on old news.
   */
  resume(): void {
    if (this.left) return;
    if (this.role !== 'follower') this.stepDown();
    this.setLeader(0);
    this.tally = null;
    for (const p of this.peers.values()) {
      p.heard = NEVER;
      p.vouched = NEVER;
      // Our own sleep is not their lateness (noteBeat).
      p.beatAt = NEVER;
    }
    this.livenessChanged();
    this.heardAnyAt = NEVER;
    this.rejoinFrom = NEVER;
    this.rejoinUntil = NEVER;
    this.earlyBase = null;
    this.quietUntil = this.now + this.timing.timeoutTicks;
    this.events.push({ kind: 'resumed' });
    this.settle();
  }

  setDone(done: boolean): void {
    if (this.locked || this.stage >= this.lastStage || this.done === done) return;
    this.done = done;
    if (this.leader !== 0 && this.leader !== this.self) {
      this.send(this.leader, { t: 'done', term: this.term, stage: this.stage, done });
    }
    this.settle();
  }

  /**
   * Submits an app value for the agreed log. It goes to the leader now and with every heartbeat until it
   * is committed (an event `proposed` says where) or another value took its number (`superseded`).
   */
  propose(data: unknown): ProposeResult {
    if (this.left || !this.client)
      return { ok: false, code: 'not_joined', error: 'this player cannot propose' };
    const { dataBytes, pending } = LIMITS.app;
    // Serialized once: a toJSON or getter could answer differently a second time.
    const json = toJson(data);
    const bad = jsonProblem(json, dataBytes);
    if (json === null || bad !== null)
      return { ok: false, code: bad?.code ?? 'bad_argument', error: `the value ${bad?.problem}` };
    if (this.mine.size >= pending)
      return { ok: false, code: 'rate_limited', error: `${pending} proposals are already waiting` };
    if (this.log.length - this.log.first >= LIMITS.logEntries)
      return {
        ok: false,
        code: 'log_full',
        error: `the log holds ${LIMITS.logEntries} entries since its snapshot: take one (room.snapshot)`,
      };
    // A number the log already used (a liar replayed our client ID) is skipped: ours start after it.
    const seq = Math.max(this.nextSeq, (this.app.last.get(this.client) ?? 0) + 1);
    this.nextSeq = seq + 1;
    const id = this.nextId++;
    // What we keep is what the log will hold: JSON's own copy, not the caller's object.
    this.mine.set(seq, { id, data: JSON.parse(json), json, sent: false });
    this.offerMine([seq]);
    this.settle();
    return { ok: true, id };
  }

  /**
   * Takes back proposal `id` and every later one no leader was ever offered: they can never be committed,
   * so the caller may be told so (their ids are returned). A value some leader may hold stays until the log
   * decides it (returns []).
   */
  withdraw(id: number): number[] {
    const seq = [...this.mine].find(([, m]) => m.id === id)?.[0];
    if (seq === undefined) return [];
    const out: number[] = [];
    for (const [n, m] of this.mine) if (n >= seq && !m.sent) out.push(n);
    // Offered values are a prefix of ours (they go out in order): taking back a suffix leaves no gap.
    if (out.length === 0 || [...this.mine].some(([n, m]) => n > Math.min(...out) && m.sent)) return [];
    const ids = out.map((n) => this.mine.get(n)!.id);
    for (const n of out) this.mine.delete(n);
    this.nextSeq = Math.min(...out);
    return ids.sort(byId);
  }

  /**
   * Offers our values to the leader: `seqs`, or all we have pending. Ours go straight into our queue when
   * we lead. Values go in number order, so the ones offered are always a prefix of ours.
   */
  private offerMine(seqs?: number[]): void {
    if (this.mine.size === 0) return;
    const list = (seqs ?? [...this.mine.keys()].sort(byId)).filter((n) => this.mine.has(n));
    if (this.role === 'leader') {
      for (const n of list) this.mine.get(n)!.sent = true;
      this.enqueue(
        this.self,
        this.client,
        list.map((seq) => ({ seq, data: this.mine.get(seq)!.data })),
      );
      return;
    }
    if (this.role !== 'follower' || !this.leaderAlive()) return;
    // One message's worth; the rest follow with the next heartbeats as these commit.
    const ops: { seq: number; data: unknown }[] = [];
    let bytes = 0;
    for (const seq of list) {
      const m = this.mine.get(seq)!;
      bytes += utf8Bytes(m.json) + 20;
      if (ops.length > 0 && (bytes > LIMITS.historyBytes || ops.length >= LIMITS.app.opsPerEntry)) break;
      m.sent = true;
      ops.push({ seq, data: m.data });
    }
    this.send(this.leader, { t: 'op', c: this.client, ops });
  }

  /**
   * A leader queues values from `from` (the channel proves who): only numbers its page session may still
   * apply, within the pending window, and a bounded number of sessions, so a liar's junk stays small.
   */
  private enqueue(from: Id, c: string, ops: readonly { seq: number; data: unknown }[]): void {
    if (!this.initialized) return;
    const key = `${from}:${c}`;
    let q = this.queue.get(key);
    if (!q) {
      let mineCount = 0;
      for (const other of this.queue.values()) if (other.by === from) mineCount++;
      if (mineCount >= CLIENTS_PER_SENDER || this.queue.size >= QUEUED_CLIENTS) return;
      q = { by: from, c, ops: new Map() };
      this.queue.set(key, q);
    }
    const last = this.app.last.get(c) ?? 0;
    for (const { seq, data } of ops)
      if (seq > last && seq <= last + LIMITS.app.pending && !q.ops.has(seq)) q.ops.set(seq, data);
    if (q.ops.size === 0) this.queue.delete(key);
  }

  /**
   * The next app entry: each queued session's next numbers in turn (round-robin, starting one queue further
   * each entry, so no proposer is always first), up to an entry's bounds; a value too large for what is left
   * waits for the next entry without holding up the others.
   */
  private nextApp(agreed: readonly Id[]): Entry | null {
    if (this.queue.size === 0) return null;
    const { opsPerEntry, entryBytes } = LIMITS.app;
    const queues = [...this.queue.values()];
    if (queues.length === 0) return null;
    const start = this.turn++ % queues.length;
    const order = [...queues.slice(start), ...queues.slice(0, start)];
    const next = new Map<string, number>();
    const full = new Set<(typeof order)[number]>();
    const ops: Op[] = [];
    let bytes = 2;
    for (let more = true; more && ops.length < opsPerEntry; ) {
      more = false;
      for (const q of order) {
        if (ops.length >= opsPerEntry) break;
        const seq = (next.get(q.c) ?? this.app.last.get(q.c) ?? 0) + 1;
        if (full.has(q) || !q.ops.has(seq)) continue;
        const op: Op = { by: q.by, c: q.c, seq, data: q.ops.get(seq) };
        const size = jsonBytes(op) + 1;
        if (bytes + size > entryBytes || !this.spend(q.by)) {
          full.add(q);
          continue;
        }
        ops.push(op);
        bytes += size;
        next.set(q.c, seq);
        more = true;
      }
    }
    if (ops.length === 0) return null;
    return this.nextEntry({ kind: 'app', members: [...agreed], ops });
  }

  /** The entry for the next log index in our term: the stage and Done as they are unless given. */
  private nextEntry(
    e: Pick<Entry, 'kind' | 'members'> & Partial<Pick<Entry, 'stage' | 'done' | 'ops'>>,
  ): Entry {
    return seal(this.log.tip, {
      index: this.log.length + 1,
      kind: e.kind,
      stage: e.stage ?? this.stage,
      term: this.term,
      done: e.done ?? [],
      members: e.members,
      ...(e.ops ? { ops: e.ops } : {}),
    });
  }

  /**
   * One value of `by`'s budget. Honest players stay within the library's own limit (LIMITS.app.perSec), which
   * this exceeds; a liar's flood waits in its queue instead of growing every player's log at the room's
   * commit rate.
   */
  private spend(by: Id): boolean {
    const { leaderPerSec, leaderBurst } = LIMITS.app;
    let b = this.budgets.get(by);
    if (!b) {
      b = { tokens: leaderBurst, at: this.now };
      this.budgets.set(by, b);
    }
    b.tokens = Math.min(leaderBurst, b.tokens + ((this.now - b.at) * leaderPerSec) / this.ticksPerSecond);
    b.at = this.now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /**
   * A page session's values are taken only from the player the log already names for it (or anyone, when
   * that player is gone: the same page under a new ID). A client ID is public once in the log, so without
   * this a liar could take a victim's next numbers with values of its own.
   */
  private mayTake(q: { by: Id; c: string }): boolean {
    const owner = this.app.by.get(q.c);
    return owner === undefined || owner === q.by || !this.members.has(owner);
  }

  /** The replicated part of app entries, from the log; and what of ours the log already decided. */
  private replayApp(): void {
    this.app = new AppBook(this.log.snapshot?.app);
    this.settleInBase();
    for (const e of this.log.entries) if (e.kind === 'app') this.settleMine(e, this.app.apply(e));
  }

  /**
   * A cut log (a liar's fork, caught up from the room's) may no longer hold values of ours it had applied.
   * Their numbers are free again, and our later values could never apply after the gap, so they are ours
   * to offer again under the same numbers: if the room's log holds them after all, they apply there once.
   */
  private reofferCut(): void {
    const last = this.app.last.get(this.client) ?? 0;
    for (const [seq, m] of [...this.decided])
      if (seq > last && m.ours) {
        this.decided.delete(seq);
        this.mine.set(seq, { ...m, sent: true });
      }
    // A number another value took on the cut entries (a liar's, under our session) is free again, but our
    // value was reported superseded: nothing fills it, and our later numbers would wait behind it for good.
    if (this.sessionGap()) this.gapped = true;
  }

  /** Our values this entry decided: committed here, or another value took the number. */
  private settleMine(e: Entry, applied: readonly Op[]): void {
    if (this.mine.size === 0) return;
    this.settleMoved(e, applied);
    const last = this.app.last.get(this.client) ?? 0;
    for (const [seq, m] of [...this.mine]) {
      if (seq > last) continue;
      const n = e.ops!.findIndex((op) => op.c === this.client && op.seq === seq);
      const op = e.ops![n];
      const ours = op !== undefined && applied.includes(op) && JSON.stringify(op.data) === m.json;
      this.mine.delete(seq);
      this.decided.set(seq, { ...m, ours });
      if (this.decided.size > LIMITS.app.pending) this.decided.delete(this.decided.keys().next().value!);
      if (ours) this.events.push({ kind: 'proposed', id: m.id, seq, index: e.index, n });
      else this.events.push({ kind: 'superseded', id: m.id, seq, index: e.index });
    }
  }

  /**
   * Another live player holds our page session in the log (only a lying leader writes one's values under
   * another's session): no leader takes ours after it (mayTake), so they would wait for good. Or our session
   * has a number nothing will fill (reofferCut). The values still undecided move to a new session of ours,
   * numbered from 1. None of them is in the log (each would have been settled), so none is committed twice.
   */
  private leaveTakenSession(): void {
    const owner = this.client ? this.app.by.get(this.client) : undefined;
    const taken = owner !== undefined && this.members.has(owner) && !this.isOwnName(owner);
    // The room's log may still hold our own value at that number (a liar shows its fork to some players
    // only): looked at again once we hold what the room has, since moving then would put values in twice.
    if (this.gapped && !this.sessionGap()) this.gapped = false;
    const gapped = (this.gapped || this.sessionHole()) && this.atRoomTip();
    if (!taken && !gapped) return;
    this.gapped = false;
    // Drawn, not derived: a liar that could compute it could take its first number too.
    let c = this.client;
    while (c === this.client || this.app.last.has(c)) c = newClientId(() => this.rng.next());
    const pending = [...this.mine].sort(([a], [b]) => a - b);
    // Leading, we queued them ourselves: under the old session they must not go in too.
    this.queue.delete(`${this.self}:${this.client}`);
    const from = this.client;
    this.client = c;
    this.mine.clear();
    this.decided.clear();
    this.settledSent.clear();
    this.nextSeq = 1;
    const seqs = new Map<number, number>();
    for (const [seq, m] of pending) {
      seqs.set(seq, this.nextSeq);
      this.mine.set(this.nextSeq++, { ...m, sent: false });
    }
    // An earlier session's numbers follow their values to the new ones (settleMoved).
    const follow = (old: Map<number, number>) =>
      new Map([...old].flatMap(([o, s]) => (seqs.has(s) ? [[o, seqs.get(s)!] as const] : [])));
    this.moved = [...this.moved.map((r) => ({ from: r.from, seqs: follow(r.seqs) })), { from, seqs }]
      .filter((r) => r.seqs.size > 0)
      .slice(-MOVED_SESSIONS);
    this.offerMine();
  }

  /**
   * Our session's next number is one no value of ours holds any more, though we numbered values past it: a
   * number a cut log freed that we had skipped because the liar's entries used it (propose), or one whose value
   * committed under the session we moved it from (settleMoved). Our later values could never apply after it.
   */
  private sessionHole(): boolean {
    const next = (this.app.last.get(this.client) ?? 0) + 1;
    // A number settled under the old session after we had sent it under this one: the leader may still hold
    // that copy and fill the number with it; moving the values after it would put them in twice. A leader
    // commits what it holds within a round trip or two, so a timeout later the copy is taken as lost.
    const settledAt = this.settledSent.get(next);
    if (settledAt !== undefined && this.now - settledAt <= this.timing.timeoutTicks) return false;
    return next < this.nextSeq && !this.mine.has(next);
  }

  /** A number of our session above its last applied one that we settled as another value's (reofferCut). */
  private sessionGap(): boolean {
    const last = this.app.last.get(this.client) ?? 0;
    return [...this.decided].some(([seq, m]) => seq > last && !m.ours);
  }

  /**
   * We lead, or hold what our live leader's heartbeat says it has: as many entries, and its last hash there
   * (a player a liar took past the room's stage holds more, on a fork, and the room may still commit ours).
   */
  private atRoomTip(): boolean {
    if (this.role === 'leader') return true;
    const leader = this.leader !== 0 && this.leaderAlive() ? this.peers.get(this.leader) : undefined;
    if (leader === undefined || this.log.length < leader.index) return false;
    const h = this.log.hash(leader.index);
    return h === undefined || h === leader.hash;
  }

  private isOwnName(id: Id): boolean {
    return id === this.self || this.ownNames.has(id) || this.proposedAs.has(id);
  }

  /**
   * A value we moved may still commit under the old session: the log that showed it taken may have been a
   * liar's fork, and the room's leader took our values all along. It is ours there, and is not offered again.
   */
  private settleMoved(e: Entry, applied: readonly Op[]): void {
    if (this.moved.length === 0) return;
    for (const op of applied) {
      const seq = this.moved.find((r) => r.from === op.c)?.seqs.get(op.seq);
      const m = seq === undefined ? undefined : this.mine.get(seq);
      if (!m || JSON.stringify(op.data) !== m.json) continue;
      this.mine.delete(seq!);
      if (m.sent) this.settledSent.set(seq!, this.now);
      // Leading, we queued the new copy ourselves: it must not go in as well.
      this.queue.get(`${this.self}:${this.client}`)?.ops.delete(seq!);
      this.decided.set(seq!, { ...m, ours: true });
      this.events.push({ kind: 'proposed', id: m.id, seq: seq!, index: e.index, n: e.ops!.indexOf(op) });
    }
  }

  /** Our page session's proposals, for the next core of this page (a new ID). */
  proposals(): Proposals | undefined {
    if (!this.client) return undefined;
    return {
      client: this.client,
      next: this.nextSeq,
      nextId: this.nextId,
      decided: [...this.decided].map(([n, m]) => [n, { ...m }]),
      pending: [...this.mine].map(([n, m]) => [n, { ...m }]),
      names: [...new Set([...this.proposedAs, this.self])].slice(-LIMITS.app.names),
    };
  }

  /**
   * Drops the log up to `index` for the app's `state` there (its fold of every value up to and including
   * that entry). Each player compacts its own log; peers that need what was dropped get this base instead.
   */
  compact(index: number, state: unknown): CompactResult {
    const { first, length } = this.log;
    if (!Number.isSafeInteger(index) || index <= first || index > length)
      return {
        ok: false,
        code: 'bad_argument',
        error:
          first === length
            ? `nothing new to snapshot: the log has no committed entry after ${first}`
            : `index must be a committed index in (${first}, ${length}]`,
      };
    const json = toJson(state);
    const { stateBytes, bytes, clients } = LIMITS.snapshot;
    const bad = jsonProblem(json, stateBytes);
    if (json === null || bad !== null)
      return { ok: false, code: bad?.code ?? 'bad_argument', error: `state ${bad?.problem}` };
    const prev = this.log.snapshot;
    const book = new AppBook(prev?.app);
    const stages = prev?.stages.slice() ?? [];
    for (const e of this.log.between(first, index)) {
      if (e.kind === 'stage') stages.push(e);
      if (e.kind === 'app') book.apply(e);
    }
    if (book.last.size > clients)
      return { ok: false, code: 'too_large', error: `the log names over ${clients} page sessions` };
    const names = [...new Set([...(prev?.names ?? []), ...renamesIn(this.log, first, index)])];
    if (names.length > LIMITS.idsPerList)
      return { ok: false, code: 'too_large', error: `the log renamed over ${LIMITS.idsPerList} slots` };
    const base: Base = {
      entry: this.log.at(index)!,
      stages,
      names,
      app: book.tuples(),
      state: JSON.parse(json),
      // Folded from that base's state: the same players' word.
      ...(prev?.via?.length ? { via: prev.via } : {}),
    };
    if (jsonBytes(base) > bytes)
      return { ok: false, code: 'too_large', error: `the snapshot would take over ${bytes} bytes` };
    this.log.rebase(base);
    return { ok: true };
  }

  /** Our base to a peer that asked from below it, in parts that each fit a frame. */
  private sendSnapshot(to: Id): void {
    const base = this.log.snapshot;
    // Up to 128 KB each time: the same base again to the same peer only after two timeouts (a lost part),
    // however often it asks, so a liar's syncs cannot turn us into a flood on the relay.
    const sent = this.snapshotSent.get(to);
    if (!base) return;
    if (sent && sent.index === base.entry.index && this.now - sent.at < 2 * this.timing.timeoutTicks) return;
    this.snapshotSent.set(to, { index: base.entry.index, at: this.now });
    const parts = splitJson(JSON.stringify(base), LIMITS.historyBytes);
    if (parts.length > LIMITS.snapshot.parts) return;
    const { index, hash } = base.entry;
    for (const [part, data] of parts.entries())
      this.send(to, { t: 'snapshot', index, hash, part, parts: parts.length, data });
  }

  /**
   * A part of the snapshot we asked `from` for. Joined, it counts as the answer to that sync, and it is taken
   * only where a history would be taken whole (authority): a committed prefix is a fact, but anyone can
   * forge one.
   */
  private onSnapshot(from: Id, msg: Extract<Message, { t: 'snapshot' }>): void {
    if ((this.asked.get(from) ?? 0) === 0) {
      this.strike(from, 'sent a snapshot we did not ask for');
      return;
    }
    // Joined per sender, so nobody can break another's off.
    let inc = this.incoming.get(from);
    if (msg.part === 0) {
      inc = { index: msg.index, hash: msg.hash, parts: [], total: msg.parts };
      this.incoming.set(from, inc);
    }
    if (
      !inc ||
      inc.index !== msg.index ||
      inc.hash !== msg.hash ||
      inc.total !== msg.parts ||
      inc.parts.length !== msg.part
    ) {
      this.incoming.delete(from);
      return;
    }
    inc.parts.push(msg.data);
    if (inc.parts.length < inc.total) return;
    this.incoming.delete(from);
    const n = this.asked.get(from)!;
    if (n > 1) this.asked.set(from, n - 1);
    else this.asked.delete(from);
    const parsed = parseBase(inc.parts.join(''), inc.index, inc.hash);
    if (!parsed.ok) {
      this.strike(from, `sent a bad snapshot: ${parsed.error}`);
      return;
    }
    // Only from our authority, or from a peer whose base a quorum of voters holds as its tip (vouchedBase: a
    // quiet room nobody leads yet). A candidate's sync can outrun the promise that makes its sender one
    // (the sender answers a peer once per two timeouts), so the base waits for that promise (onReport).
    const base = parsed.base;
    // Heard as our leader's answer only while it is our leader: otherwise askRebase asks again a timeout on.
    if (this.authority(from)) this.rebaseAnswered(from);
    if (this.authority(from) || this.vouchedBase(inc.index, inc.hash)) this.install(from, base);
    else {
      this.earlyBase = { from, base, at: this.now };
      // It compacted past us: ask our authority now rather than a heartbeat later.
      this.lastSync = NEVER;
    }
  }

  /** The base that came before its sender's promise, once the promise makes it our authority. */
  private takeEarlyBase(from: Id): void {
    const early = this.earlyBase;
    if (!early || early.from !== from) return;
    if (this.now - early.at > 2 * this.timing.timeoutTicks) this.earlyBase = null;
    else if (this.authority(from)) {
      this.earlyBase = null;
      this.install(from, early.base);
    }
  }

  /** A quorum of the agreed voters reports the entry at `index` as its tip (live, or in a last word). */
  private vouchedBase(index: number, hash: string): boolean {
    // Not our own accepted entry: it vouches for that entry, never for a base's contents (members, stages,
    // state), which its sender alone makes (see applyVouchedAccepted).
    const at = this.tipsAt(index, hash);
    return at.length > 0 && this.isQuorum(at, this.agreed());
  }

  /** The voters that report entry `index` with `hash` as their tip: live peers by heartbeat, leavers by their last word. */
  private tipsAt(index: number, hash: string): Id[] {
    const at: Id[] = [];
    for (const [id, p] of this.peers)
      if (p.index === index && p.hash === hash && this.isLive(id)) at.push(id);
    for (const r of this.lastWords.values()) if (r.index === index && r.hash === hash) at.push(r.id);
    return at;
  }

  /**
   * The entry we accepted, once a quorum vouches for it as a tip (live peers' heartbeats, leavers' last
   * words, and our own vote, as in vouchedEnd): it is committed, and it chains onto our log by hash, so we
   * apply it ourselves. Without this, a voter whose leader left right after committing, with nobody else
   * holding the entry but a leaver's word, could never place that word.
   */
  private applyVouchedAccepted(): void {
    const e = this.accepted?.entry;
    if (!e || e.index !== this.log.length + 1 || !this.extendsLog(e)) return;
    if (this.isQuorum([this.self, ...this.tipsAt(e.index, e.hash)], this.agreed())) this.apply(e);
  }

  /**
   * Our base's state is the word of a player the owner removed (its `via`): no hash covers a state, so a liar
   * can hand on the room's entry with a false one. We ask our leader for its base (a sync from before entry
   * 1), each time waiting twice as long as before; install takes it in place if it is
   * clean and our log holds its entry. Nobody else is asked: a base from a peer we do not follow is that
   * one peer's word. Where no clean base comes, the state stays flagged (View.stateFromRemoved).
   */
  private askRebase(): void {
    if (!this.tainted(this.log.snapshot)) {
      this.rebaseAsk = null;
      return;
    }
    const leader = this.leader;
    if (!this.trusts(leader)) return;
    // Each ask waits twice the last one's wait: up to REBASE_UNANSWERED_TIMEOUTS while the leader does not
    // answer (the ask or its answer lost, or a base it cannot send), so a lost one is soon asked again; up to
    // REBASE_ASK_TIMEOUTS once it answered with nothing we could take (it may take a clean base meanwhile).
    const last = this.rebaseAsk?.to === leader ? this.rebaseAsk : null;
    if (last && this.now - last.at < last.wait * this.timing.timeoutTicks) return;
    const cap = last?.answered ? REBASE_ASK_TIMEOUTS : REBASE_UNANSWERED_TIMEOUTS;
    const next = last ? Math.min(2 * last.wait, cap) : 1;
    this.rebaseAsk = { to: leader, at: this.now, answered: false, wait: next };
    this.askSync(leader, 0, GENESIS);
  }

  /** `from` answered our ask for its base (askRebase); a history from entry 1 says it has none. */
  private rebaseAnswered(from: Id): boolean {
    const ask = this.rebaseAsk;
    if (!ask || ask.to !== from || ask.answered) return false;
    ask.answered = true;
    return true;
  }

  /** A base whose state rests on a removed player's word. */
  private tainted(base: Base | null): boolean {
    return base?.via?.some((id) => this.expelled.has(id)) ?? false;
  }

  /**
   * Our log becomes `base` and nothing else: we lacked its entries, or held others there (a liar's fork).
   * Never one that takes our stage back, as with a forked history.
   */
  private install(from: Id, base: Base, sent: readonly Entry[] = []): void {
    const { index, hash, stage } = base.entry;
    const ours = this.log.hash(index);
    // Ours where it ends: past our log, on another chain, or (below our own base) at a higher stage than
    // ours, which no prefix of our log can be. Anything else is a prefix of ours: nothing to take.
    const forked = this.baseForkedBy === from;
    // Our own base on a fork (a liar's) may be past the authority's: its base is taken if, with the entries
    // it sent past it, it reaches our stage again at once, so our stage is never seen going back.
    const tail = (sent.length > 0 ? sent : forked ? this.forkTail : []).filter((e) => e.index > index);
    const reached = tail[0]?.index === index + 1 ? this.reach(base.entry, tail) : stage;
    const regains = tail[0]?.index === index + 1 && reached >= this.stage;
    // Below our own base, a base whose entries pass our stage is on another chain: no prefix of ours can.
    const below = ours === undefined && index <= this.log.length;
    // Unless its entries pass through our tip: then we only compacted (or took a base) further along the same
    // chain, and the entries after our tip are all there is to take. Installing it would read as a fork.
    const tip = this.log.length;
    if (below && tail.some((e) => e.index === tip && e.hash === this.log.hash(tip))) {
      this.heldBase = null;
      this.forkTail = [];
      for (const e of tail) if (e.index === this.log.length + 1 && !this.applyFrom(from, e)) break;
      if ((this.peers.get(from)?.index ?? 0) > this.log.length) this.requestSync(from);
      return;
    }
    // Our base's state rests on a removed player: our authority's clean base at an entry our log holds
    // replaces it (askRebase). Nothing else changes: no entry is cut, no stage moves.
    const again =
      ours === hash && this.tainted(this.log.snapshot) && !this.tainted(base) && this.authority(from);
    const news =
      again ||
      index > this.log.length ||
      (ours !== undefined ? ours !== hash : stage > this.stage || forked || reached > this.stage);
    // A base far past any real log (a liar's) would leave no index to commit at: refused outright. So is one
    // naming so many senders that we could not name ours (handedOn): no honest base passes that many hands.
    const kept = handedOn(base, from, this.issued);
    if (kept.via!.length > LIMITS.idsPerList) return;
    if (index > MAX_BASE || !lawfulBase(base, this.lastStage) || !this.knows(base.entry)) return;
    if (again) {
      // The library folds afresh from the new base (a fork at our old base's index: it resets).
      this.events.push({ kind: 'forked', index: this.log.first, leader: from });
      this.log.rebase(kept);
      // Our own books (dedupe, old names) from the new base too; and it is stored (books is in the key).
      this.forgetCutNames();
      this.events.push({ kind: 'snapshot', index });
      return;
    }
    if (!news) {
      // Below our base and not past our stage yet, from an authority that says it is past it: our base sits
      // on a liar's fork under the room's log, and only the entries after this base can show it.
      if (below && this.authority(from) && (this.saidStage.get(from) ?? 0) > this.stage)
        this.holdBase(from, base, tail, sent.length > 0);
      return;
    }
    if (stage < this.stage && !regains) {
      // Behind our stage (a liar's entries took us past the room): the entries after it may reach our
      // stage again, so the authority is asked for them, and the base waits here. Refused for good, it
      // would be sent again and again, and we would never rejoin the room's log.
      if (this.authority(from)) this.holdBase(from, base, tail, sent.length > 0);
      return;
    }
    if (index <= this.log.length)
      this.events.push({ kind: 'forked', index: Math.min(index, this.log.first + 1), leader: from });
    const [stageWas, doneWas] = [this.stage, this.done];
    if (stage !== this.stage) this.done = false;
    this.log = new Log(kept);
    this.baseForkedBy = 0;
    this.forkTail = [];
    this.forkWalk = [];
    this.heldBase = null;
    this.proposal = null;
    this.acks.clear();
    if (this.accepted && this.accepted.entry.index <= index) this.accepted = null;
    this.placeNames(new Set(base.entry.members));
    this.forgetCutNames();
    this.events.push({ kind: 'snapshot', index });
    this.checkCaughtUp();
    this.replayLastWords();
    this.lastSync = NEVER;
    if (regains) {
      for (const e of tail) if (e.index !== this.log.length + 1 || !this.applyFrom(from, e)) break;
      // Back at the stage we were at: a Done given there still stands.
      if (this.stage === stageWas) this.done = doneWas;
    }
    if ((this.peers.get(from)?.index ?? 0) > this.log.length) this.requestSync(from);
  }

  /**
   * Holds the authority's base with the entries we have past it, and asks for the next ones: at once for a
   * new base or when they took us further, else once per snapshot it sends again (one a heartbeat), so a
   * room with nothing new past its base costs no more than before, and a gap of many chunks is walked.
   */
  private holdBase(from: Id, base: Base, tail: readonly Entry[], fromHistory: boolean): void {
    const held = this.heldBase;
    const same = held?.from === from && held.base.entry.hash === base.entry.hash;
    const had = same ? held!.tail : [];
    const kept = tail.length > had.length ? tail.slice(0, LIMITS.logEntries) : had;
    this.heldBase = { from, base, tail: kept };
    if (!same || !fromHistory || kept.length > had.length) {
      const last = kept.at(-1) ?? base.entry;
      this.askSync(from, last.index, last.hash);
    }
  }

  /** The base we hold, unless our log has come to hold it since: then what follows it applies as usual. */
  private held(): typeof this.heldBase {
    const h = this.heldBase;
    if (h && this.log.hash(h.base.entry.index) === h.base.entry.hash) this.heldBase = null;
    return this.heldBase;
  }

  /** Entries from the holder of our held base that follow what we hold of its log: the base installs once they reach our stage. */
  private extendHeld(from: Id, entries: readonly Entry[]): boolean {
    const held = this.held();
    const end = held?.tail.at(-1) ?? held?.base.entry;
    if (!held || held.from !== from || !end || entries[0]?.index !== end.index + 1) return false;
    // Not the log we hold a part of: its holder has moved to another chain since (ours, maybe).
    if (!this.chainsAfter(end.hash, end.index, entries[0])) {
      this.heldBase = null;
      return false;
    }
    const tail = [...held.tail];
    let prev = end;
    for (const e of entries) {
      if (!this.chainsAfter(prev.hash, prev.index, e)) break;
      tail.push(e);
      prev = e;
    }
    this.install(from, held.base, tail);
    return true;
  }

  /**
   * Our values a base decided without their entries (we caught up from a snapshot past them): committed as
   * ours when the base names us as the page session's last proposer, at or before its index.
   */
  private settleInBase(): void {
    const base = this.log.snapshot;
    if (!base || this.mine.size === 0) return;
    const last = this.app.last.get(this.client) ?? 0;
    for (const [seq, m] of [...this.mine]) {
      if (seq > last) continue;
      // Ours if the run it applied in is one of our names; one of another name (a liar's) took its number.
      const by = this.app.proposerOf(this.client, seq);
      const mine = by !== undefined && this.isOwnName(by);
      this.mine.delete(seq);
      this.decided.set(seq, { ...m, ours: mine });
      if (this.decided.size > LIMITS.app.pending) this.decided.delete(this.decided.keys().next().value!);
      if (mine) this.events.push({ kind: 'proposed', id: m.id, seq, index: base.entry.index, n: -1 });
      else this.events.push({ kind: 'superseded', id: m.id, seq, index: base.entry.index });
    }
  }

  /** The tab is closing or reloading: a hint to suspect us now. We may come back, so it retires nothing. */
  goodbye(): void {
    for (const id of this.members) if (id !== this.self) this.send(id, { t: 'bye' });
  }

  /**
   * Leaving for good: our final state to everyone, with the entries each lacks, so the others may count the
   * room without us. After this the player is inert; its ID must never vote again (the driver drops its
   * storage and ends its session).
   */
  leaveRoom(): void {
    if (this.left) return;
    this.sendLeave();
    this.stepDown();
    this.left = true;
    this.leftUntil = this.now + this.timing.timeoutTicks;
    this.nextHeartbeat = this.now + this.timing.heartbeatTicks;
  }

  private sendLeave(): void {
    const last = this.log.length;
    for (const id of this.members) {
      if (id === this.self) continue;
      const have = Math.min(this.peers.get(id)?.index ?? 0, last);
      this.send(id, {
        t: 'leave',
        term: this.term,
        index: last,
        hash: this.log.tip,
        accepted: this.accepted,
        // The accepted entry rides beside them: the frame must still fit a sealed relay frame.
        entries: fitting(
          this.log.between(Math.max(have, last - LEAVE_ENTRIES)),
          true,
          LIMITS.historyBytes - (this.accepted ? jsonBytes(this.accepted) : 0),
          this.sizeOf,
        ),
        ...(this.retired.size > 0 ? { retired: [...this.retired.values()] } : {}),
        ...(this.was ? { was: this.was } : {}),
      });
    }
  }

  // ---------------------------------------------------------------- outputs

  /** Drain. `persist` comes from comparing with what the last drain handed out, never from a flag. */
  ready(): Ready {
    const key = this.persistKey(this.spareKey);
    const out: Ready = {
      messages: this.outbox,
      events: this.events,
      persist: sameParts(key, this.persistedKey) ? null : this.persisted(),
    };
    // The two key arrays take turns, so a drain allocates none.
    this.spareKey = this.persistedKey;
    this.persistedKey = key;
    this.outbox = [];
    this.events = [];
    return out;
  }

  persisted(): Persisted {
    const p: Persisted = {
      term: this.term,
      promised: this.promised,
      done: this.done,
      history: this.log.entries.slice(),
      accepted: this.accepted,
      initialized: this.initialized,
    };
    if (this.log.snapshot) p.base = this.log.snapshot;
    if (this.was) p.was = this.was;
    if (this.retired.size > 0) p.retired = [...this.retired.values()];
    if (this.issued > 0) p.issued = this.issued;
    if (this.aliases.size > 0) p.aliases = [...this.aliases];
    if (this.lastWords.size > 0) p.lastWords = [...this.lastWords.values()];
    return p;
  }

  /**
   * Everything persisted, cheaply (it runs on every drain): the log is summed up by its length and last hash
   * (it changes only by chained appends and cuts), retirements and aliases by a change count, except where a
   * log entry changes them, which the log's part of the key already shows. Its parts, written into `key`:
   * a string built per drain was one of the hot spots.
   */
  private persistKey(key: unknown[]): unknown[] {
    const a = this.accepted;
    key[0] = this.term;
    key[1] = this.promised;
    key[2] = this.done;
    key[3] = this.log.first;
    key[4] = this.log.length;
    key[5] = this.log.tip;
    key[6] = a?.ballot;
    key[7] = a?.entry.index;
    key[8] = a?.entry.hash;
    key[9] = this.initialized;
    key[10] = this.was;
    key[11] = this.books;
    key[12] = this.issued;
    return key;
  }

  view(): View {
    const agreed = this.agreed();
    const leading = this.role === 'leader';
    return buildView({
      self: this.self,
      now: this.now,
      role: this.role,
      term: this.term,
      leader: this.leader,
      stages: this.stages(),
      stage: this.stage,
      done: this.done,
      locked: this.locked,
      members: this.members,
      agreed,
      voters: this.voters(agreed),
      slotOf: (id) => this.slotOf(id),
      holderOf: (slot) => this.holderOf(slot),
      live: [...this.liveMembers()],
      peers: [...this.members]
        .filter((id) => id !== this.self)
        .sort((a, b) => a - b)
        .map((id) => peerView(id, this.peers.get(id), this.isLive(id), this.now, leading)),
      tally: leading ? this.makeTally() : this.tally?.stage === this.stage ? this.tally : null,
      initialized: this.initialized,
      left: this.left,
      ledByLive: this.role === 'follower' && this.leader !== 0 && this.leaderAlive(),
      timing: this.timing,
      suspectTicks: this.suspectTicks,
      answerTicks: this.answerTicks,
      was: this.was,
      quiet: Math.max(0, this.quietUntil - this.now),
      stateFromRemoved: this.log.snapshot?.via?.filter((id) => this.expelled.has(id)) ?? [],
      expelled: this.expelled,
    });
  }

  get stage(): number {
    return this.log.last()?.stage ?? 0;
  }

  /** The stage entries, from the base's on. */
  private stages(): Entry[] {
    const out = this.log.snapshot?.stages.slice() ?? [];
    for (const e of this.log.entries) if (e.kind === 'stage') out.push(e);
    return out;
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

  /** The entries above the base. */
  get entries(): readonly Entry[] {
    return this.log.entries;
  }

  /** The base the log starts from (a snapshot), or null. */
  get base(): Base | null {
    return this.log.snapshot;
  }

  /** The last committed index. */
  get length(): number {
    return this.log.length;
  }

  /** Done can no longer be taken back once this player accepted the proposal that ends its stage. */
  get locked(): boolean {
    const a = this.accepted;
    return a !== null && a.entry.kind === 'stage' && a.entry.index === this.log.length + 1;
  }

  /** The room's creator holds its (empty) state from the start; everyone else learns it from a leader. */
  private initializeIfFirst(): void {
    if (this.initialized || this.log.length > 0) return;
    if (FIRST_MEMBERS.includes(this.slotOf(this.self))) this.markInitialized();
  }

  private markInitialized(): void {
    this.initialized = true;
  }

  // ---------------------------------------------------------------- membership

  /** The ID a voter slot goes by in the log: an ID that continues another (`was`) maps to it. */
  private slotOf(id: Id): Id {
    let x = id;
    for (let i = 0; i < 64; i++) {
      const o = this.aliases.get(x);
      if (o === undefined) break;
      x = o;
    }
    return x;
  }

  /** The newest ID known to hold `slot`. */
  private holderOf(slot: Id): Id {
    let best = slot;
    for (const n of this.aliases.keys()) if (n > best && this.slotOf(n) === slot) best = n;
    return best;
  }

  /** Who holds `agreed`'s slots (holderOf): cached for one membership and state of `aliases`. */
  private holders(agreed: readonly Id[]): ReadonlySet<Id> {
    const c = this.holdersCache;
    if (c && sameIds(c.agreed, agreed) && c.aliases === this.aliases.changes) return c.holders;
    const holders = new Set(agreed.map((slot) => this.holderOf(slot)));
    this.holdersCache = { agreed, aliases: this.aliases.changes, holders };
    return holders;
  }

  /** Who votes under `agreed`: its slots less those that left for good. */
  private voters(agreed: readonly Id[] = this.agreed()): readonly Id[] {
    return this.retired.size === 0 ? agreed : this.voting(agreed).list;
  }

  /**
   * voters(), as a list and as a set (quorum checks take the set). Cached for one membership (compared by
   * content: each entry has its own array) and one state of `retired`.
   */
  private voting(agreed: readonly Id[]): { list: readonly Id[]; set: ReadonlySet<Id> } {
    const c = this.votersCache;
    if (c && sameIds(c.agreed, agreed) && c.retired === this.retired.changes) return c;
    const list = this.retired.size === 0 ? agreed : agreed.filter((slot) => !this.retired.has(slot));
    this.votersCache = { agreed, retired: this.retired.changes, list, set: new Set(list) };
    return this.votersCache;
  }

  private refreshMembers(): void {
    const m = new Set(this.rosterIds);
    for (const slot of this.voters()) m.add(this.holderOf(slot));
    for (const id of this.expelled) m.delete(id);
    m.add(this.self);
    this.members = m;
    this.memberList = [...m].sort(byId);
    // (Deleting from a Map or Set while iterating it is safe: the rest are still visited.)
    for (const id of this.peers.keys()) if (!m.has(id)) this.peers.delete(id);
    for (const id of this.saidStage.keys()) if (!m.has(id)) this.saidStage.delete(id);
    for (const id of this.asked.keys()) if (!m.has(id)) this.asked.delete(id);
    for (const id of this.snapshotSent.keys()) if (!m.has(id)) this.snapshotSent.delete(id);
    for (const id of this.incoming.keys()) if (!m.has(id)) this.incoming.delete(id);
    if (this.earlyBase && !m.has(this.earlyBase.from)) this.earlyBase = null;
    // Only their sender could extend these (held for up to a whole log each).
    if (this.heldFork && !m.has(this.heldFork.from)) this.heldFork = null;
    if (this.forkWalk.length > 0 && !m.has(this.baseForkedBy)) this.forkWalk = [];
    for (const id of this.claims) if (!m.has(id)) this.claims.delete(id);
    for (const [k, q] of this.queue) if (!m.has(q.by)) this.queue.delete(k);
    for (const id of this.budgets.keys()) if (!m.has(id)) this.budgets.delete(id);
    for (const id of this.wasLive) if (!m.has(id)) this.wasLive.delete(id);
    if (this.leader !== 0 && !m.has(this.leader)) this.leader = 0;
  }

  /**
   * `from` says it continues voter `was` (same tab, new session: its state moved with it). A slot is one
   * acceptor whichever name it goes by, as long as the old name never speaks again; IDs only grow.
   */
  private learnAlias(from: Id, was: Id): void {
    // A voter in its own right continues no other slot: it would count twice.
    if (this.aliases.has(from) || was >= from || this.agreed().includes(from)) return;
    if (this.slotOf(was) === this.slotOf(this.self)) {
      this.strike(from, `claimed to continue player ${was}, which is us`);
      return;
    }
    // A slot we (or our leader) still hear from, or whose session the server still holds, is taken: only a
    // name that went quiet and lost its session continues under a new one (the server refused its token).
    const old = this.peers.get(was);
    const heard = old && this.now - Math.max(old.heard, old.vouched) < 3 * this.timing.heartbeatTicks;
    if (heard || this.rosterIds.has(was)) {
      // Asked again with its next heartbeat; meanwhile it is not a newcomer either.
      this.claims.add(from);
      return;
    }
    this.claims.delete(from);
    const slot = this.slotOf(was);
    if (!this.agreed().includes(slot) || this.retired.has(slot)) return;
    if (this.holderOf(slot) > from) return;
    this.aliases.set(from, was);
    this.formerNames.add(was);
    this.books++;
    this.events.push({ kind: 'renamed', from: was, to: from });
    this.refreshMembers();
  }

  /**
   * A voter left for good with this final state. It may stop counting only when our log holds every entry
   * it held (so a quorum without it still learns what it knew); its accepted value is kept for the next
   * election. Otherwise we wait for the leader to commit its removal.
   */
  private noteRetirement(r: Retirement): void {
    if (r.was !== undefined && !this.aliases.has(r.id)) this.learnAlias(r.id, r.was);
    const slot = this.slotOf(r.id);
    if (this.retired.has(slot)) return;
    // We are here: a word retiring our own slot is a liar's (passed on by a lying leader, which we trust),
    // and believed it would keep us from counting our own vote.
    if (slot === this.slotOf(this.self) && !this.formerNames.has(this.self)) return;
    const agreed = this.agreed();
    if (!agreed.includes(slot)) {
      // A leaver continuing a slot we cannot place yet (our log is too short to name it, or the old name
      // still looked alive): its word may be all that ever retires that slot, so it waits for us.
      const keep = r.was !== undefined && (r.index > this.log.length || agreed.includes(this.slotOf(r.was)));
      if (keep && !this.lastWords.has(r.id)) {
        this.lastWords.set(r.id, r);
        this.books++;
      } else if (!keep && this.lastWords.delete(r.id)) this.books++;
      return;
    }
    // Its accepted value names a voter we cannot place yet: as its frozen vote it would make the next leader
    // wait for that voter (a liar's phantom, for ever), so until we can, it is only a word.
    if (r.index > this.log.length || (r.accepted && !this.knows(r.accepted.entry))) {
      // We may catch up later; until then it is only a word, kept across a reload or a new ID.
      if (!this.lastWords.has(slot)) this.books++;
      this.lastWords.set(slot, r);
      return;
    }
    if (r.term > this.term + TERM_STEP) return;
    // Our log reaches the word's entry. One that differs from ours there is on a fork, which only a liar
    // makes: what the leaver held past it is no more ours to keep than the liar's, and waiting for our log to
    // hold it would wait for good once no one else does. The word is kept whole, for peers on its fork: its
    // accepted value chains onto that fork, and a new leader counts only values on its own (maybeWin).
    this.lastWords.delete(slot);
    this.lastWords.delete(r.id);
    this.retired.set(slot, { id: slot, term: r.term, index: r.index, hash: r.hash, accepted: r.accepted });
    this.books++;
    if (r.term > this.term) this.adoptTerm(r.term, 0);
    this.events.push({ kind: 'retired', peer: slot });
    this.refreshMembers();
  }

  /** Last words we could not use when they came: our log has grown, or an old name has gone quiet. */
  private replayLastWords(): void {
    for (const r of [...this.lastWords.values()])
      if (r.index <= this.log.length || r.was !== undefined) this.noteRetirement(r);
  }

  /**
   * Another's retirement, passed on so a leaver's knowledge does not leave with it (a tab that slept through
   * the leave learns it from whoever heard it). Taken from our leader, or about a voter we no longer hear:
   * a liar cannot retire a player that is still playing.
   */
  private noteHearsay(from: Id, r: Retirement): void {
    if (this.trusts(from) || !this.isLive(this.holderOf(this.slotOf(r.id)))) this.noteRetirement(r);
  }

  private onLeave(from: Id, msg: Extract<Message, { t: 'leave' }>): void {
    // The entries it carries are taken from our leader only: anyone else's word is its own.
    if (this.trusts(from))
      for (const e of msg.entries) if (e.index === this.log.length + 1) this.applyFrom(from, e);
    for (const r of msg.retired ?? []) this.noteHearsay(from, r);
    this.noteRetirement(lastWord(from, msg));
    // A value naming a voter we cannot place holds us (maybePropose) for as long as a promise reports it. Its
    // sender's last word now speaks for it, so run again with that in its place: a liar's phantom, reported
    // and then left behind, would hold us for good.
    const held = this.role === 'leader' ? this.reproposal : null;
    if (held && !this.knows(held) && this.promises.get(from)?.accepted?.entry.hash === held.hash)
      this.stepDown();
  }

  // ---------------------------------------------------------------- liveness

  private peer(id: Id): PeerState {
    let p = this.peers.get(id);
    if (!p) {
      p = newPeer();
      this.peers.set(id, p);
    }
    return p;
  }

  private isLive(id: Id): boolean {
    return this.liveness().set.has(id);
  }

  /** The live members, lowest first. Shared with the cache: copy it before it leaves the player. */
  private liveMembers(): readonly Id[] {
    return this.liveness().list;
  }

  /**
   * Who is live, worked out once per state: settle and the quorum checks ask many times per input. The
   * cache holds while our role, our leader and the members set are the ones it was made with, and until the
   * first tick at which a live peer's window (heard, or vouched) runs out: time alone never makes a peer
   * live. A write to a peer's heard, vouched or bye that may change its liveness drops it (livenessChanged).
   */
  private liveness(): LiveCache {
    const c = this.liveCache;
    if (
      c &&
      this.now < c.until &&
      c.role === this.role &&
      c.leader === this.leader &&
      c.members === this.members
    )
      return c;
    const leaderAlive =
      this.leader !== 0 && this.members.has(this.leader) && this.liveUntil(this.leader, false) > this.now;
    const list: Id[] = [];
    let until = Number.POSITIVE_INFINITY;
    for (const id of this.memberList) {
      const ends = this.liveUntil(id, leaderAlive);
      if (ends <= this.now) continue;
      list.push(id);
      until = Math.min(until, ends);
    }
    // The same members live as before keep the same list and set, so what is cached by them (liveQuorum,
    // settle) still holds.
    const same = c !== null && sameIds(c.list, list);
    this.liveCache = {
      until,
      role: this.role,
      leader: this.leader,
      members: this.members,
      list: same ? c.list : list,
      set: same ? c.set : new Set(list),
    };
    return this.liveCache;
  }

  /** Drops the liveness cache: a peer's heard, vouched or bye changed in a way that may change who is live. */
  private livenessChanged(): void {
    this.liveCache = null;
  }

  private setBye(p: PeerState, bye: boolean): void {
    if (p.bye === bye) return;
    p.bye = bye;
    this.livenessChanged();
  }

  /**
   * The tick from which member `id` is no longer live, as things stand (at most now: not live). Liveness
   * rules live in core/liveness.ts; here, only who is asking.
   */
  private liveUntil(id: Id, leaderAlive: boolean): number {
    if (id === this.self) return Number.POSITIVE_INFINITY;
    const p = this.peers.get(id);
    if (!p || p.bye) return NEVER;
    const timeoutTicks = this.suspectTicks;
    if (heardWithin(p, this.now, timeoutTicks)) return p.heard + timeoutTicks;
    if (this.role === 'leader' || id === this.leader) return NEVER;
    const window = (leaderAlive ? 1 : 2) * timeoutTicks;
    return vouchedWithin(p, this.now, window) ? p.vouched + window : NEVER;
  }

  private hasQuorum(): boolean {
    return !this.left && this.initialized && this.members.has(this.self) && this.liveQuorum(this.agreed());
  }

  /**
   * Whether the live members are a quorum of `agreed`: cached, as it is asked several times an input and its
   * inputs seldom change (the live list keeps its identity while the same members are live, the membership
   * is compared by content, and `retired` and `aliases`, which voters() and slotOf read, count their changes).
   */
  private liveQuorum(agreed: readonly Id[]): boolean {
    const live = this.liveMembers();
    const c = this.quorumCache;
    if (
      c &&
      c.live === live &&
      sameIds(c.agreed, agreed) &&
      c.retired === this.retired.changes &&
      c.aliases === this.aliases.changes
    )
      return c.ok;
    const ok = this.isQuorum(live, agreed);
    this.quorumCache = { live, agreed, retired: this.retired.changes, aliases: this.aliases.changes, ok };
    return ok;
  }

  /**
   * The membership agreed in the last committed entry. Before any, the room's creator: every player must
   * share this set, and ID 1 is the one member all of them know of (IDs start at 1 in every room).
   */
  private agreed(): readonly Id[] {
    return this.log.last()?.members ?? FIRST_MEMBERS;
  }

  /**
   * Our promises are a majority for this term. A voter that left for good counts as an acceptor frozen in
   * its last state, which answers a term above its own and no other: it drops out of the count only for
   * higher terms. Otherwise a leaver that led this very term, once out, lets two disjoint majorities elect
   * two leaders in one term (the membership grew while it led).
   */
  private wins(agreed: readonly Id[]): boolean {
    const voters = agreed.filter((slot) => (this.retired.get(slot)?.term ?? this.term) >= this.term);
    return isQuorum(this.promises.keys(), voters, this.slotFn);
  }

  /** A majority of the agreed voters (core/quorum.ts). The server's roster plays no part. */
  private isQuorum(ids: Iterable<Id>, agreed: readonly Id[]): boolean {
    return quorumOf(ids, this.voting(agreed).set, this.slotFn);
  }

  /**
   * The lowest live ID that holds the room's state: a voter, or a player that says it caught up. A newcomer
   * that has not cannot run, and the others must not wait for it to.
   */
  private heir(live: readonly Id[]): Id | undefined {
    for (const id of live) if (this.canLead(id)) return id;
    return undefined;
  }

  private canLead(id: Id): boolean {
    // A log that renamed our own ID away (only a liar's swap does that to a running tab) leaves us unable
    // to lead under it: running anyway would fight whoever the others follow, for good.
    if (id === this.self) return this.initialized && !this.formerNames.has(this.self);
    if (this.formerNames.has(id)) return false;
    if (this.voters().includes(this.slotOf(id))) return true;
    // A newcomer may lead once it holds the room's state, and no less of it than we do: deferring to one
    // that stopped behind us (it slept through renames it cannot follow) would wait on it for good.
    // (Our leader's heartbeat may trail the entry it just sent us: it is never behind.)
    const p = this.peers.get(id);
    return p?.init === true && (p.index >= this.log.length || id === this.leader);
  }

  /**
   * A voter whose log, as it told us lately, ends before ours (it slept through entries, and may not know it
   * votes) leads only once it has caught up, which it does from a leader: deferring to it meanwhile would
   * wait on it for good. Our own leader's heartbeat may trail the entry it just sent us: it is never behind.
   */
  private behindUs(id: Id): boolean {
    const p = this.peers.get(id);
    // Only a log it told us of lately: followers of one leader seldom beat to each other.
    const fresh = p !== undefined && this.now - p.indexAt <= this.timing.timeoutTicks;
    return id !== this.leader && fresh && p.index < this.log.length;
  }

  /** A live member below `from` (other than us, who run ourselves) that may lead, and is not `from`'s own old name. */
  private outranked(from: Id): boolean {
    for (const id of this.liveMembers()) {
      if (id >= from) return false;
      // Only an agreed voter outranks: a newcomer we think caught up may itself be behind and waiting to follow.
      if (
        id !== this.self &&
        !this.formerNames.has(id) &&
        this.voters().includes(this.slotOf(id)) &&
        this.slotOf(id) !== this.slotOf(from) &&
        !this.behindUs(id)
      )
        return true;
    }
    return false;
  }

  private leaderAlive(): boolean {
    return this.leader !== 0 && this.isLive(this.leader);
  }

  /** Our leader is live and its latest tally lists us: the others learn we are alive from it. */
  private leaderHearsUs(): boolean {
    return this.leaderAlive() && this.tally?.live.includes(this.self) === true;
  }

  // ---------------------------------------------------------------- the loop

  /** Re-evaluates what the current facts demand; called after every input. */
  private settle(): void {
    const alive = this.liveness().set;
    // Who went live or silent since: nobody, while the members and the live set are the ones last seen here
    // (the cache keeps its set while the same members are live, and only this and refreshMembers change wasLive).
    if (alive !== this.settledLive || this.members !== this.settledMembers) {
      for (const id of this.members) {
        if (id === this.self) continue;
        const live = alive.has(id);
        if (live !== this.wasLive.has(id)) {
          if (live) this.wasLive.add(id);
          else this.wasLive.delete(id);
          this.events.push({ kind: live ? 'alive' : 'suspect', peer: id });
        }
      }
      for (const id of this.wasLive) if (!this.members.has(id)) this.wasLive.delete(id);
      this.settledLive = alive;
      this.settledMembers = this.members;
    }
    if (this.catchUpLost()) this.retargetCatchUp();
    this.leaveTakenSession();
    // Values of a session the log gives to another live player are dropped at once (here, at the end of
    // every step, and when the log gives it away: apply), never kept for when that player leaves: their
    // proposer moves them to a new session (leaveTakenSession), and both copies must never go in.
    for (const [k, q] of this.queue) if (!this.mayTake(q)) this.queue.delete(k);
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
    this.beats++;
    const claim = this.role === 'leader';
    const tally = claim ? this.makeTally() : undefined;
    const heard = this.role === 'follower' && this.leaderHearsUs();
    const words = this.wordsToShare();
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
        hash: this.log.tip,
        issued: this.issued,
      };
      if (tally) hb.tally = tally;
      const name = this.nameFor(this.peers.get(id)?.index ?? 0);
      if (name !== this.self) hb.was = name;
      if (words.length > 0) hb.retired = words;
      this.send(id, hb);
    }
    // Retransmit what may have been dropped: promise requests and proposals.
    if (this.role === 'candidate') {
      for (const id of this.members) {
        if (id !== this.self && !this.promises.has(id)) this.send(id, { t: 'coordinator', term: this.term });
      }
    }
    // A leader still catching up asks its source again: an answer may be lost, or held back (the same
    // snapshot goes to a peer at most once in two timeouts), and a source on a fork as long as ours never
    // shows an index past ours, which is what prompts a sync otherwise.
    if (
      this.role === 'leader' &&
      !this.caughtUp() &&
      this.catchUpFrom !== this.self &&
      this.isLive(this.catchUpFrom)
    )
      this.requestSync(this.catchUpFrom);
    if (this.role === 'leader' && this.proposal) {
      for (const id of this.members) {
        if (id !== this.self && !this.acks.has(id)) {
          this.send(id, { t: 'accept', term: this.term, entry: this.proposal.entry });
        }
      }
    }
    // Our values until the log decides them: a leader that died with them leaves them to the next (and a
    // leader's own, after a cut, go back into its queue).
    if (this.role !== 'candidate') this.offerMine();
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
    const heir = this.heir(live);
    if (this.leaderAlive()) {
      this.phase = 'idle';
      this.electionUnanswered = false;
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
    const lower = live.filter((id) => id < this.self && this.canLead(id));
    switch (this.phase) {
      case 'idle':
        if (this.leaderLeft) this.sendElection(lower.slice(0, 1));
        // Give the heir one answer bound to announce itself before anyone else speaks: no herd.
        else this.enterPhase('waitHeir', this.answerTicks);
        break;
      case 'waitHeir':
        if (this.now >= this.phaseDeadline) this.sendElection(lower.slice(0, ELECTION_FANOUT));
        break;
      case 'waitAnswer':
        if (this.now < this.phaseDeadline) break;
        // Lower IDs we still hear may only be slow to answer (a busy machine: the bound is 100 ms): the first
        // silence waits a timeout for their COORDINATOR, and only a second one runs against them. Running at
        // once made a room of 32 elect in several terms at once (sim, delays up to 2/3 of a timeout).
        if (this.electionUnanswered) this.becomeCandidate();
        else {
          this.electionUnanswered = true;
          this.enterPhase('waitCoordinator', this.suspectTicks);
        }
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
    this.electionAsked = lower;
    this.enterPhase('waitAnswer', this.answerTicks);
  }

  private becomeCandidate(): void {
    if (!this.hasQuorum() || this.now < this.quietUntil) return;
    // A term stays a safe integer that can still grow (a liar's huge term is the next issue's business).
    if (this.term >= Number.MAX_SAFE_INTEGER - 1) return;
    this.term++;
    this.promised = this.self;
    this.electionUnanswered = false;
    // No leader until a majority promises: a heartbeat naming ourselves would read as an established claim.
    this.leader = 0;
    this.setRole('candidate');
    this.phase = 'idle';
    this.pending = null;
    this.candidateDeadline = this.now + this.suspectTicks;
    this.promises = new Map([
      [
        this.self,
        {
          index: this.log.length,
          stage: this.stage,
          done: this.done,
          init: true,
          last: this.log.last() ?? null,
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
    this.queue.clear();
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
    if (this.role !== 'follower') this.stepDown();
    this.setLeader(leader);
    this.tally = null;
  }

  private setLeader(leader: Id): void {
    if (this.leader === leader) return;
    this.leader = leader;
    if (leader !== 0) this.events.push({ kind: 'leader', leader, term: this.term });
    if (leader === this.self) this.offerMine();
    else if (leader !== 0 && this.role === 'follower' && this.isLive(leader)) this.offerMine();
  }

  // ---------------------------------------------------------------- election messages

  private onElection(from: Id): void {
    // An answer says "I take over": one that could not (its log does not give it a quorum, as when it slept
    // through the entries that say who votes) would hold the elector back for good.
    const could =
      this.role === 'leader' || this.role === 'candidate' || (this.canLead(this.self) && this.hasQuorum());
    if (could) this.send(from, { t: 'answer', term: this.term });
    if (this.role === 'leader' || this.role === 'candidate') {
      this.send(from, { t: 'coordinator', term: this.term });
      return;
    }
    if (this.leaderAlive() || !this.hasQuorum()) return;
    // A higher ID is electing: run our own election now rather than after the heir wait.
    const lower = this.liveMembers().filter((id) => id < this.self && this.canLead(id));
    if (lower.length === 0) this.becomeCandidate();
    else if (this.phase === 'idle' || this.phase === 'waitHeir')
      this.sendElection(lower.slice(0, ELECTION_FANOUT));
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
    // Nobody follows a claim past a lower ID it still hears that could lead: a liar cannot seize a room
    // its lowest player leads. (That player either leads, or runs itself once it sees a quorum.)
    if (this.outranked(from)) {
      // Its term is still news (a leader with a quorum holds it): our own candidacy must run above it.
      if (established && term > this.term) this.adoptTerm(term, 0);
      return false;
    }
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
      const heir = this.heir(this.liveMembers()) === this.self;
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
      history: this.log.last() ? [this.log.last()!] : [],
      accepted: this.accepted,
    });
  }

  private onReport(from: Id, msg: Extract<Message, { t: 'report' }>): void {
    if (msg.term !== this.term || (this.role !== 'candidate' && this.role !== 'leader')) return;
    // A promise for this term can only carry a value accepted under an earlier ballot. Come late to the leader
    // of this term, it may carry one this leader proposed since: dropped, but no lie.
    if (msg.accepted && msg.accepted.ballot >= msg.term) {
      if (this.role !== 'leader' || msg.accepted.ballot !== msg.term)
        this.strike(
          from,
          `reported a value accepted in ballot ${msg.accepted.ballot}, not before term ${msg.term}`,
        );
      return;
    }
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
      this.takeEarlyBase(from);
      this.maybeWin();
      return;
    }
    // A late promise to a sitting leader: count its Done. A promise with a higher stage is taken up as it
    // would have been in maybeWin (a liar's fork can leave an honest player ahead of the room): only if our
    // promises are a majority under the membership it reports too, and not another chain from a player that
    // never caught up, as maybeWin asks before it leads on one.
    this.noteDone(from, stage, msg.done);
    const taken = last && !this.passesOver(stage, index, msg.init, last.members);
    if (taken && stage > this.stage && (this.caughtUp() || this.catchUpLost()) && this.wins(last.members))
      this.catchUpWith(from, index, last.hash, stage);
    this.takeEarlyBase(from);
  }

  /** A log whose tip is (index, hash) no longer reaches the entry we catch up to. */
  private cutSince(index: number, hash: string): boolean {
    return index < this.catchUpTo || (index === this.catchUpTo && hash !== this.catchUpHash);
  }

  /** A leader catching up from a peer that went silent before it answered: the log it promised went with it. */
  private catchUpLost(): boolean {
    return this.role === 'leader' && !this.caughtUp() && !this.isLive(this.catchUpFrom);
  }

  private catchUpWith(from: Id, index: number, hash: string, stage: number): void {
    this.catchUpTo = index;
    this.catchUpHash = hash;
    this.catchUpStage = stage;
    this.catchUpFrom = from;
    this.lastSync = NEVER;
    this.requestSync(from);
  }

  /** Another live promise at least as far as the lost one, so the log it promised can still be learned. */
  private retargetCatchUp(): void {
    let best: [Id, { index: number; stage: number; last: Entry }] | null = null;
    for (const [id, p] of this.promises) {
      if (id === this.self || !p.last || p.index < this.catchUpTo || !this.isLive(id)) continue;
      if (!best || p.stage > best[1].stage || (p.stage === best[1].stage && p.index > best[1].index))
        best = [id, { index: p.index, stage: p.stage, last: p.last }];
    }
    if (best) this.catchUpWith(best[0], best[1].index, best[1].last.hash, best[1].stage);
  }

  /**
   * A promise at a higher stage within our own length is on another chain (only a liar forks one). If our
   * promises are no majority under its membership it could never be led on, and a holder that never caught
   * up with the room holds no room state on it: its holder waits to be reached (a held player) rather than
   * holding every candidacy back, or taking the room onto that chain.
   */
  private passesOver(stage: number, index: number, init: boolean, members: readonly Id[]): boolean {
    return stage > this.stage && index <= this.log.length && (!init || !this.wins(members));
  }

  private maybeWin(): void {
    if (this.role !== 'candidate') return;
    // Only agreed voters' promises count (isQuorum), so newcomers can never outvote what the voters know.
    // The agreed membership is the one after the furthest entry any promise reports.
    // Furthest means the highest stage, then the longest log: the same as the longest while all logs are
    // prefixes of one (always, among honest players), and the one no honest player has to step back from
    // when a liar forked them.
    let agreed = this.agreed();
    let furthest = this.log.length;
    let stage = this.stage;
    let holder: Id = this.self;
    let hash = this.log.tip;
    for (const [id, p] of this.promises) {
      if (!p.last || p.stage < stage || (p.stage === stage && p.index <= furthest)) continue;
      if (this.passesOver(p.stage, p.index, p.init, p.last.members)) continue;
      furthest = p.index;
      stage = p.stage;
      agreed = p.last.members;
      holder = id;
      hash = p.last.hash;
    }
    // Under ours too: a promise's claim of a newer membership is one player's word.
    if (!this.wins(agreed) || !this.wins(this.agreed())) {
      // Catch up with the furthest promise meanwhile: our own log may be what keeps us from a quorum.
      if (holder !== this.self) this.requestSync(holder);
      return;
    }
    this.setRole('leader');
    this.setLeader(this.self);
    this.tally = null;
    // Phase 1 is complete: learn the furthest committed stage and the highest-ballot accepted value.
    const target = furthest;
    this.catchUpTo = target;
    this.catchUpHash = hash;
    this.catchUpStage = stage;
    this.catchUpFrom = holder;
    // Voters that left for good count as promises frozen at their last word. Only a value on the log we catch
    // up to counts: one on a liar's fork (a retired voter's word may be) must not shadow a lower ballot's.
    let best: Proposal | null = null;
    const finals = [...this.retired.values()].map((r) => r.accepted);
    for (const a of [...[...this.promises.values()].map((p) => p.accepted), ...finals]) {
      if (a && this.chainsAfter(hash, target, a.entry) && (!best || a.ballot > best.ballot)) best = a;
    }
    this.reproposal = best ? best.entry : null;
    for (const [id, p] of this.promises) if (id !== this.self) this.noteDone(id, p.stage, p.done);
    if (holder !== this.self) this.requestSync(holder);
    this.heartbeat();
  }

  // ---------------------------------------------------------------- heartbeats and catch-up

  /**
   * Heartbeats that a busy machine delays read as silence. A timeout that fires on them starts an election,
   * whose messages delay the next beats further: a room of 32 on 2 cores churned for good at the room's
   * 1.5 s and agreed at once with 2.5 s. So the waits for others (suspectTicks, answerTicks) stay at least
   * 1.5 times the longest recent gap between the beats a peer sends us every heartbeat, up to twice the
   * room's timeout. A gap past OUTAGE_TIMEOUTS is an outage, not lateness.
   * Every other window keeps the room's timing (docs/protocol.md, Timing).
   */
  private noteBeat(from: Id, msg: Extract<Message, { t: 'hb' }>, peer: PeerState): void {
    // Beats that come every heartbeat: our leader's while we follow it, our followers' while we lead, and
    // leaderless ones (they go to everyone). A peer that stopped beating us to follow someone must not read
    // as late when it beats us again: so the first two start over when our leader changes, and leaderless
    // beats when our leader vouches for the peer (vouch).
    this.noteLeaderChange();
    const regular =
      msg.leader === 0 ||
      (this.role === 'leader'
        ? msg.leader === this.self
        : this.role === 'follower' && from === this.leader && msg.leader === from);
    const gap = this.now - peer.beatAt;
    // A leaderless beat after one that was not (a leader back from a crash) starts over too.
    const epoch = msg.leader === 0 ? LEADERLESS : this.leaderEpoch;
    const same = regular && peer.beatEpoch === epoch;
    peer.beatAt = regular ? this.now : NEVER;
    peer.beatEpoch = epoch;
    if (!same || gap > OUTAGE_TIMEOUTS * this.timing.timeoutTicks) return;
    if (gap > this.slowestBeat) this.slowestBeat = gap;
    const want = this.timeoutFor(gap);
    if (want > this.suspectTicks) this.stretchTo(want);
  }

  private noteLeaderChange(): void {
    if (this.leader === this.epochLeader) return;
    this.epochLeader = this.leader;
    this.leaderEpoch++;
  }

  /** Once a window: back toward the room's timeout, a heartbeat at a time, as far as its beats allow. */
  private relaxTimeout(): void {
    if (this.now - this.beatWindowFrom < BEAT_WINDOW_TIMEOUTS * this.timing.timeoutTicks) return;
    const want = this.timeoutFor(this.slowestBeat);
    const current = this.suspectTicks;
    if (want < current) this.stretchTo(Math.max(want, current - this.timing.heartbeatTicks));
    this.slowestBeat = 0;
    this.beatWindowFrom = this.now;
  }

  private timeoutFor(gap: number): number {
    const { timeoutTicks: room, heartbeatTicks: beat } = this.timing;
    // In whole heartbeats, so the timeout moves (and says so) in a few steps.
    return Math.min(MAX_STRETCH * room, Math.max(room, Math.ceil((1.5 * gap) / beat) * beat));
  }

  private stretchTo(ticks: number): void {
    const room = this.timing;
    this.suspectTicks = ticks;
    // The ELECTION's answer is late by as much: unanswered, every player that sent one ran itself.
    this.answerTicks = Math.min(Math.floor(ticks / 4), Math.max(room.answerTicks, ticks - room.timeoutTicks));
    const ms = (t: number) => Math.round((t * 1000) / this.ticksPerSecond);
    this.events.push({ kind: 'timeout', ms: ms(ticks), roomMs: ms(room.timeoutTicks) });
    this.livenessChanged();
  }

  private onHeartbeat(from: Id, msg: Extract<Message, { t: 'hb' }>, peer: PeerState): void {
    if (msg.leader !== this.leader) peer.strayed = this.now;
    peer.stage = msg.stage;
    this.saidStage.set(from, msg.stage);
    peer.index = msg.index;
    peer.indexAt = this.now;
    peer.hash = msg.hash;
    peer.init = msg.init;
    peer.term = msg.term;
    peer.done = msg.done;
    peer.issued = msg.issued ?? 0;
    if (!this.initialized && msg.term > 0 && msg.leader === from) {
      // Learn the room's state from an established leader (any other player may be stale): its term,
      // then its stages. Caught up means holding its chain, not merely as many entries.
      if (msg.term > this.term) {
        this.term = msg.term;
        this.promised = 0;
      }
      this.initTarget = msg.index;
      this.initHash = msg.hash;
      this.checkCaughtUp();
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
      this.livenessChanged();
    }
    if (this.role === 'leader' && msg.term === this.term && msg.leader === this.self) {
      // Our catch-up source, following us, no longer holds what it promised: it took our forked log whole
      // (only a liar's fork makes the two differ), and nobody may hold it now. Run again on fresh promises.
      if (from === this.catchUpFrom && !this.caughtUp() && this.cutSince(msg.index, msg.hash)) {
        this.stepDown();
        this.becomeCandidate();
        return;
      }
      this.noteDone(from, msg.stage, msg.done);
    }
    if (msg.index > this.log.length) this.requestSync(from);
    else if (
      claims &&
      msg.term >= this.term &&
      msg.index > 0 &&
      differs(this.log.hash(msg.index), msg.hash)
    ) {
      // Our log disagrees with an established leader's at its own tip: find out where (sendHistory).
      this.requestSync(from);
    } else if (claims && msg.term >= this.term && msg.stage > this.stage && msg.index < this.log.first) {
      // An established leader past our stage whose whole log ends below our base (a liar's fork under it):
      // no entry of ours can show where we part, so we ask for its base (sendHistory sends it for index 0).
      this.requestSync(from, 0);
    }
  }

  private checkCaughtUp(): void {
    if (this.initialized || this.initTarget < 0 || this.log.length < this.initTarget) return;
    // Below our base (a snapshot our authority sent): we hold the room's state from a later point on.
    const h = this.log.hash(this.initTarget);
    if (h === undefined || h === this.initHash) this.markInitialized();
  }

  /** What our leader's tally says of the others: when it last heard them, and their Done (for display). */
  private vouch(tally: Tally, term: number): void {
    let done: Set<Id> | undefined;
    for (const [i, id] of tally.live.entries()) {
      if (id === this.self || id === this.leader || !this.members.has(id)) continue;
      const p = this.peer(id);
      p.vouched = Math.max(p.vouched, this.now - (tally.silent?.[i] ?? 0));
      // It follows our leader, so it does not beat us (noteBeat).
      p.beatAt = NEVER;
      this.livenessChanged();
      if (p.heard < this.now - this.timing.heartbeatTicks) {
        p.stage = tally.stage;
        p.term = term;
        done ??= new Set(tally.done);
        p.done = done.has(id);
      }
    }
  }

  private requestSync(from: Id, have = this.log.length): void {
    if (this.now - this.lastSync < this.timing.heartbeatTicks) return;
    this.lastSync = this.now;
    // A new leader catching up asks the promise it catches up from, whoever's heartbeat prompted it: only
    // that one's history it takes whole, and others' only as far as a quorum's tips fall inside one chunk
    // (vouchedEnd), which a log more than a chunk ahead never does.
    // A follower with a live leader that holds as much asks it: the one peer whose history and snapshot it
    // takes whole (a new leader still catching up may hold less than the peer that prompted us).
    const leaderHas =
      this.role === 'follower' &&
      this.leaderAlive() &&
      (this.peers.get(this.leader)?.index ?? 0) >= (this.peers.get(from)?.index ?? 0);
    const source =
      this.role === 'leader' &&
      !this.caughtUp() &&
      this.catchUpFrom !== this.self &&
      this.isLive(this.catchUpFrom)
        ? this.catchUpFrom
        : leaderHas
          ? this.leader
          : from;
    this.askSync(source, have);
  }

  /** A sync for our log from `index` on; its answer is the one history we take from `from` (step). */
  private askSync(from: Id, index: number, hash = this.log.hash(index) ?? GENESIS): void {
    this.asked.set(from, Math.min((this.asked.get(from) ?? 0) + 1, 8));
    this.send(from, { t: 'sync', index, hash });
  }

  /**
   * Committed entries are facts, so anyone may serve them, but only onto the asker's chain; an asker that
   * forked gets what lets it find where (onHistory decides whether to take it).
   */
  private sendHistory(to: Id, have: number, hash: string): void {
    if (have < 0) return;
    // From below our base, only the base itself can bring the asker up to our entries.
    if (have < this.log.first) {
      this.sendSnapshot(to);
      return;
    }
    const at = Math.min(have, this.log.length);
    const same = have <= this.log.length && this.log.hash(at) === hash;
    // The asker's tip is our base's index on another chain: our entries cannot show it where they part.
    if (!same && at === this.log.first && at > 0) {
      this.sendSnapshot(to);
      return;
    }
    // A mismatch at the asker's tip (or a longer log than ours): the chunk that ends there, so it finds
    // where the logs part, and the chunk after it, so it can tell whether ours passes its stage.
    const from = same ? at : Math.max(this.log.first, at - HISTORY_CHUNK);
    if (from >= this.log.length) {
      // A fork we hold no entries to show (our base covers where it parts): the base is the answer.
      if (!same && from === this.log.first) this.sendSnapshot(to);
      return;
    }
    const n = same ? HISTORY_CHUNK : at - from + HISTORY_CHUNK;
    this.send(to, {
      t: 'history',
      entries: fitting(this.log.between(from, from + n), false, LIMITS.historyBytes, this.sizeOf),
    });
  }

  /** After a cut: what the dropped entries taught (old names, retirements of slots no longer agreed) goes too. */
  private forgetCutNames(): void {
    this.replayApp();
    this.reofferCut();
    this.formerNames = this.namesFromBooks();
    const agreed = new Set(this.agreed());
    for (const slot of [...this.retired.keys()]) if (!agreed.has(slot)) this.retired.delete(slot);
    this.books++;
    this.refreshMembers();
  }

  /** Old names of continued slots, as the log's renames and our aliases record them. */
  private namesFromBooks(): Set<Id> {
    const names = new Set([...this.aliases.values(), ...(this.log.snapshot?.names ?? [])]);
    for (const id of renamesIn(this.log, this.log.first, this.log.length)) names.add(id);
    return names;
  }

  /** The furthest of `entries`, chaining onto our log by the rules, that a quorum of voters reports as its tip. */
  private vouchedEnd(from: Id, entries: readonly Entry[]): number {
    // The entries that chain onto our log by the rules, in order.
    const chain: Entry[] = [];
    let prev = this.log.last();
    for (const e of entries) {
      if (e.index <= this.log.length) continue;
      if (!this.chainsAfter(prev?.hash ?? GENESIS, prev?.index ?? 0, e)) break;
      if (!lawfulAfter(prev, e, this.lastStage)) {
        this.strike(from, `sent an entry the rules forbid (${describe(e)})`);
        break;
      }
      if (!this.knows(e)) break;
      chain.push(e);
      prev = e;
    }
    // A voter vouches for every entry up to its tip: a live one by its heartbeat, one that left by its last
    // word. The chain's hashes make an entry part of every tip after it.
    const tipAt = new Map<string, number>(chain.map((e, k) => [`${e.index}:${e.hash}`, k]));
    const reach: { id: Id; k: number }[] = [];
    for (const [id, p] of this.peers) {
      const k = tipAt.get(`${p.index}:${p.hash}`);
      if (k !== undefined && this.isLive(id)) reach.push({ id, k });
    }
    for (const r of this.lastWords.values()) {
      const k = tipAt.get(`${r.index}:${r.hash}`);
      if (k !== undefined) reach.push({ id: r.id, k });
    }
    // So do we for the entry we accepted: our slot's vote went into it (we may have crashed before the commit).
    const mine = this.accepted && tipAt.get(`${this.accepted.entry.index}:${this.accepted.entry.hash}`);
    if (typeof mine === 'number') reach.push({ id: this.self, k: mine });
    for (let k = chain.length - 1; k >= 0; k--) {
      const at = reach.filter((r) => r.k >= k).map((r) => r.id);
      if (this.isQuorum(at, this.agreed())) return chain[k]!.index;
    }
    // A leaver's last word is enough for what we need to retire it: without it, the last voter left in a
    // room whose other voter left could never count the room without it.
    let end = 0;
    for (const r of this.lastWords.values()) {
      const k = tipAt.get(`${r.index}:${r.hash}`);
      if (k !== undefined) end = Math.max(end, chain[k]!.index);
    }
    return end;
  }

  /**
   * The one peer whose log we take: our live leader, or for a new leader the promise it catches up from.
   * Committed entries are facts, but anyone can forge a fact that chains, so a peer that only claims a
   * longer log is not asked (a liar could otherwise fork, rewrite or bloat honest logs).
   */
  private authority(from: Id): boolean {
    return (
      this.trusts(from) ||
      (this.role === 'leader' && from === this.catchUpFrom && !this.caughtUp()) ||
      // A candidate catches up from a promise further than it, as the leader it may become would.
      (this.role === 'candidate' && (this.promises.get(from)?.index ?? -1) > this.log.length)
    );
  }

  /**
   * Entries from our authority that chain onto our log apply. One that disagrees with an entry we hold
   * means a log forked (only a liar forks one): we take the authority's, but never if it takes our stage
   * back: a log behind ours waits until it passes us, so a liar that fed some players stages the room
   * never agreed cannot make them regress.
   */
  private onHistory(from: Id, entries: Entry[]): void {
    const authority = this.authority(from);
    if (authority && this.extendHeld(from, entries)) return;
    if (authority && this.extendHeldFork(from, entries)) return;
    if (authority) entries = this.walkFork(from, entries);
    const conflict = entries.find((e) => this.offChain(e));
    if (conflict && !authority) return;
    if (!authority) {
      // From anyone else (a follower cut off from its leader catches up through the others), only as far
      // as a quorum of voters says its log ends: one liar cannot fork, rewrite or bloat our log.
      const end = this.vouchedEnd(from, entries);
      for (const e of entries) {
        if (e.index <= this.log.length) continue;
        if (e.index > end || !this.applyFrom(from, e)) return;
      }
      return;
    }
    if (conflict) {
      let at = conflict.index;
      if (at <= this.log.first) {
        // Our base itself is on a fork: only the room's whole history (or its own snapshot) replaces it.
        if (entries[0]?.index !== 1) {
          // Once a heartbeat: when the fork shows only past the first chunk, the first chunk and this one
          // would otherwise ask for each other at message rate.
          if (this.now - this.baseForkAskedAt < this.timing.heartbeatTicks) return;
          this.baseForkAskedAt = this.now;
          if (this.baseForkedBy !== from) this.forkWalk = [];
          this.baseForkedBy = from;
          this.forkTail = entries.slice();
          this.askSync(from, 0);
          return;
        }
        at = 1;
      }
      const first = entries.find((e) => e.index === at)!;
      // Where the sender's entries chain onto ours; a fork further back costs another round (sync).
      const prev = at === 1 ? GENESIS : this.log.hash(at - 1);
      if (prev === undefined || !this.chainsAfter(prev, at - 1, first)) {
        this.askSync(from, Math.max(0, at - 1 - HISTORY_CHUNK));
        return;
      }
      const theirs = entries.filter((e) => e.index >= at);
      if (this.reach(this.log.at(at - 1), theirs) < this.stage) {
        this.holdFork(from, theirs);
        return;
      }
      this.heldFork = null;
      this.events.push({ kind: 'forked', index: at, leader: from });
      if (at - 1 < this.log.first) this.log = new Log();
      else this.log.cut(at - 1);
      this.forkWalk = [];
      this.proposal = null;
      this.acks.clear();
      this.forgetCutNames();
      if (this.accepted && this.accepted.entry.index > this.log.length + 1) this.accepted = null;
    }
    for (const e of entries) {
      if (e.index <= this.log.length) continue;
      if (e.index !== this.log.length + 1 || !this.applyFrom(from, e)) return;
    }
    // All ours, short of our tip, from a sender whose log goes further: it cut the chunk that shows where our
    // logs part to fit one message (large entries). Asking for the same again would bring the same chunk.
    const last = entries[entries.length - 1];
    if (!conflict && last && last.index < this.log.length && (this.peers.get(from)?.index ?? 0) > last.index)
      this.askSync(from, last.index, last.hash);
  }

  /**
   * Our base is on a fork and `from` (the authority that showed it) has no base below it: its history
   * from #1 is what replaces ours, and one history (64 entries, 6,000 bytes) may end short of the fork.
   * Its chunks from #1 are joined as they come (each chaining onto the last by hash), so the chunk that
   * shows the fork comes with all before it, as one history without those limits would.
   */
  private walkFork(from: Id, entries: Entry[]): Entry[] {
    if (from !== this.baseForkedBy || this.log.first === 0 || entries.length === 0) return entries;
    if (entries[0]!.index === 1) {
      this.forkWalk = entries.slice(0, LIMITS.logEntries);
      return entries;
    }
    const end = this.forkWalk.at(-1);
    if (!end) return entries;
    const next = entries.filter((e) => e.index > end.index);
    if (next.length === 0 || !this.chainsAfter(end.hash, end.index, next[0]!)) return entries;
    if (this.forkWalk.length + next.length > LIMITS.logEntries) return entries;
    this.forkWalk.push(...next);
    return this.forkWalk;
  }

  /**
   * A forked history behind our stage may end short of where its sender's log passes it (a chunk cut to fit
   * one message): held, and what follows asked for, as for a held base. Asking for the same chunk again
   * would bring the same chunk.
   */
  private holdFork(from: Id, entries: readonly Entry[]): void {
    // Only the run that chains by the rules: past a break, nothing can reach our stage.
    const run: Entry[] = [];
    for (const e of entries) {
      const prev = run.at(-1);
      if (prev && (!this.chainsAfter(prev.hash, prev.index, e) || !this.appendable(prev, e))) break;
      run.push(e);
    }
    const last = run.at(-1);
    if (!last || run.length > LIMITS.logEntries || (this.peers.get(from)?.index ?? 0) <= last.index) return;
    const held = this.heldFork;
    const had = held?.from === from && held.entries[0]?.hash === run[0]!.hash ? held.entries : [];
    if (run.length > had.length) this.heldFork = { from, entries: run };
    const end = this.heldFork!.entries.at(-1)!;
    this.askSync(from, end.index, end.hash);
  }

  /** What follows our held fork, from its sender: the whole is taken up again as one history. */
  private extendHeldFork(from: Id, entries: readonly Entry[]): boolean {
    const held = this.heldFork;
    const end = held?.entries.at(-1);
    if (!held || held.from !== from || !end || entries[0]?.index !== end.index + 1) return false;
    if (!this.chainsAfter(end.hash, end.index, entries[0])) {
      this.heldFork = null;
      return false;
    }
    this.onHistory(from, [...held.entries, ...entries]);
    return true;
  }

  /**
   * `e` is not an entry of our chain: it disagrees with the one we hold at its index, or it lies below our
   * base at another stage than our chain had there (only a liar's fork), though no hash below the base is
   * left to show where. The base lists every stage entry up to it, so our stage at any index it covers is
   * known. Without this, an authority whose whole log ends below our base (one that never compacted) could
   * never show us the fork, and we could never vote for its entries.
   */
  private offChain(e: Entry): boolean {
    if (differs(this.log.hash(e.index), e.hash)) return true;
    return (this.stageBelowBase(e.index) ?? e.stage) !== e.stage;
  }

  /** Our chain's stage at an index below our base (the base lists every stage entry up to it). */
  private stageBelowBase(index: number): number | undefined {
    const base = this.log.snapshot;
    if (!base || index >= base.entry.index) return undefined;
    let stage = 0;
    for (const s of base.stages) if (s.index <= index) stage++;
    return stage;
  }

  // ---------------------------------------------------------------- stages

  private makeTally(): Tally {
    const live = [...this.liveMembers()];
    return {
      stage: this.stage,
      done: live.filter((id) => this.doneOf(id)),
      live,
      silent: live.map((id) => (id === this.self ? 0 : this.now - (this.peers.get(id)?.heard ?? this.now))),
      members: this.members.size,
    };
  }

  private doneOf(id: Id): boolean {
    if (id === this.self) return this.done;
    // A player past our stage (only a liar's entries take one there) has left it: waiting for its Done here
    // would keep the room from ever reaching the stage where it waits for us. Its own word only: a stage
    // from a (lying) leader's tally is no reason to skip a Done.
    return this.doneAt.get(id) === this.stage || (this.saidStage.get(id) ?? 0) > this.stage;
  }

  private noteDone(id: Id, stage: number, done: boolean): void {
    if (done) this.doneAt.set(id, stage);
    else if (this.doneAt.get(id) === stage) this.doneAt.delete(id);
  }

  private maybePropose(): void {
    if (this.role !== 'leader' || this.proposal || !this.caughtUp()) return;
    let entry = this.reproposal;
    // A value some promise accepted is proposed again only if it still extends our log by the rules (a
    // liar's accepted value, reported by an honest player that took it, would stall the room forever).
    if (entry && (!this.extendsLog(entry) || !this.keepsRules(entry))) entry = null;
    // A voter we cannot place yet may be real: a quorum may have chosen this value, so none other is
    // proposed in its place until the roster names it (or a new term's promises no longer report it).
    if (entry && !this.knows(entry)) return;
    this.reproposal = null;
    const live = this.liveMembers();
    const agreed = this.agreed();
    if (!entry) {
      if (!this.liveQuorum(agreed)) return;
      entry = this.nextStage(live, agreed) ?? this.nextMembership(agreed) ?? this.nextApp(agreed);
      if (!entry) return;
      this.events.push({
        kind: 'propose',
        entry,
        live: [...live],
        members: [...this.members].sort((a, b) => a - b),
        voters: this.voters(agreed).map((slot) => this.holderOf(slot)),
      });
    }
    this.proposal = { ballot: this.term, entry };
    this.accepted = this.proposal;
    this.acks = new Set([this.self]);
    for (const id of this.members)
      if (id !== this.self) this.send(id, { t: 'accept', term: this.term, entry });
    this.maybeCommit();
  }

  /** A new leader holds the furthest log its promises reported (maybeWin) before it proposes. */
  private caughtUp(): boolean {
    if (this.catchUpTo === 0) return true;
    if (this.log.length < this.catchUpTo) return false;
    const h = this.log.hash(this.catchUpTo);
    // Below our base, no hash is left to compare: another stage there is a liar's fork we must still take.
    if (h === undefined) return this.stageBelowBase(this.catchUpTo) === this.catchUpStage;
    return h === this.catchUpHash;
  }

  /** The advance, once every live member is done. */
  private nextStage(live: readonly Id[], agreed: readonly Id[]): Entry | null {
    if (this.stage >= this.lastStage || !live.every((id) => this.doneOf(id))) return null;
    return this.nextEntry({ kind: 'stage', stage: this.stage + 1, done: [...live], members: [...agreed] });
  }

  /**
   * One step of the agreed membership (Raft's single-server change), in this order: drop a voter that left
   * for good, record a slot's new ID, drop one the server dropped that we no longer hear, or add a
   * live player that has caught up. One at a time keeps consecutive memberships' majorities overlapping;
   * a new name for a slot changes no majority at all.
   */
  private nextMembership(agreed: readonly Id[]): Entry | null {
    const { list: live, set: liveSet } = this.liveness();
    let next: Id[] | null = null;
    const expelled = agreed.find((slot) => this.expelled.has(slot) || this.expelled.has(this.holderOf(slot)));
    if (expelled !== undefined) next = agreed.filter((id) => id !== expelled);
    const retired = agreed.find((slot) => this.retired.has(slot));
    if (!next && retired !== undefined) next = agreed.filter((id) => id !== retired);
    const renamed = agreed.find(
      (slot) =>
        liveSet.has(this.holderOf(slot)) &&
        this.holderOf(slot) !== slot &&
        this.placeable(this.holderOf(slot)),
    );
    if (!next && renamed !== undefined)
      next = agreed.map((slot) => (slot === renamed ? this.holderOf(slot) : slot));
    const gone = agreed.find(
      (slot) => !this.rosterIds.has(this.holderOf(slot)) && !liveSet.has(this.holderOf(slot)),
    );
    if (!next && gone !== undefined) next = agreed.filter((id) => id !== gone);
    if (!next) {
      const slots = this.holders(agreed);
      const add = live.find(
        (id) =>
          !slots.has(id) &&
          !this.formerNames.has(id) &&
          !this.claims.has(id) &&
          this.rosterIds.has(id) &&
          this.placeable(id) &&
          !agreed.includes(this.slotOf(id)) &&
          (id === this.self ? this.initialized : this.peers.get(id)?.init === true),
      );
      if (add !== undefined) next = [...agreed, add];
    }
    if (!next) return null;
    return this.nextEntry({ kind: 'members', members: next.sort((a, b) => a - b) });
  }

  private onAccept(from: Id, term: number, entry: Entry): void {
    if (!this.initialized) return;
    if (term < this.term) {
      this.reject(from);
      return;
    }
    if (!this.follow(from, term)) return;
    if (entry.index === this.log.length + 1) {
      // A proposal that does not extend our chain means our log forked: accept nothing, find out where.
      if (!this.extendsLog(entry)) {
        this.requestSync(from);
        return;
      }
      if (!this.keepsRules(entry)) {
        this.strike(from, `proposed an entry the rules forbid (${describe(entry)})`);
        return;
      }
      // Not a lie for certain (the roster may be late): no vote until we can place the new voter.
      if (!this.knows(entry)) return;
      this.accepted = { ballot: term, entry };
      this.send(from, { t: 'accepted', term, index: entry.index });
    } else if (entry.index <= this.log.length && this.log.hash(entry.index) === entry.hash) {
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
    if (!this.follow(from, term)) return;
    if (this.authority(from) && this.extendHeld(from, [entry])) return;
    if (entry.index === this.log.length + 1 && this.applyFrom(from, entry)) return;
    const h = this.log.hash(entry.index);
    if (entry.index > this.log.length || (h !== undefined && h !== entry.hash)) this.requestSync(from);
  }

  /** Appends a committed entry if it chains onto our log and keeps the protocol's rules; says whether it did. */
  private apply(entry: Entry): boolean {
    if (!this.extendsLog(entry) || !this.lawful(entry)) return false;
    this.log.push(entry);
    this.checkCaughtUp();
    this.replayLastWords();
    if (this.proposal && this.proposal.entry.index <= this.log.length) {
      this.proposal = null;
      this.acks.clear();
    }
    if (this.accepted && this.accepted.entry.index <= this.log.length) this.accepted = null;
    if (entry.kind === 'stage') {
      this.done = false;
      this.events.push({ kind: 'advance', entry });
    } else if (entry.kind === 'app') {
      const applied = this.app.apply(entry);
      this.events.push({ kind: 'commit', entry });
      this.settleMine(entry, applied);
      for (const [key, q] of this.queue) {
        const last = this.app.last.get(q.c) ?? 0;
        for (const seq of q.ops.keys()) if (seq <= last) q.ops.delete(seq);
        if (q.ops.size === 0 || !this.mayTake(q)) this.queue.delete(key);
      }
    } else {
      // The log now says who votes: names and departures it records need no side bookkeeping, and an
      // ID that continued a slot under its old name now continues it under the new one.
      const renamed = renameIn(this.log.at(this.log.length - 1)?.members ?? FIRST_MEMBERS, entry);
      if (renamed) {
        const { out: outID, in: inID } = renamed;
        this.formerNames.add(outID);
        for (const [n, o] of [...this.aliases]) {
          if (o !== outID) continue;
          // A newer name continues the slot under its new name; an older one is just a name it had.
          if (n > inID) this.aliases.set(n, inID);
          else {
            this.aliases.delete(n);
            if (n !== inID) this.formerNames.add(n);
          }
        }
        if (this.was === outID) this.was = inID;
        if (inID === this.self) this.wasNamed = outID;
        // A slot that left for good stays gone under its new name.
        for (const m of [this.retired, this.lastWords]) {
          const r = m.get(outID);
          if (r) {
            m.delete(outID);
            m.set(inID, { ...r, id: inID });
          }
        }
      }
      this.placeNames(new Set(entry.members));
      this.refreshMembers();
      this.events.push({ kind: 'members', members: entry.members });
    }
    return true;
  }

  /**
   * The retirements we know, and the last words we could not place yet (a peer whose log names the leaver's
   * slot may retire it), for a heartbeat: within half a catch-up message's bytes (an accepted value may be
   * a whole entry), starting at another one each round so all of them get through.
   */
  private wordsToShare(): Retirement[] {
    const all = [...this.retired.values(), ...this.lastWords.values()];
    const out: Retirement[] = [];
    let budget = LIMITS.historyBytes / 2;
    for (let n = 0; n < all.length && out.length < LIMITS.idsPerList; n++) {
      const r = all[(this.beats + n) % all.length]!;
      budget -= this.sizeOf(r);
      if (budget < 0 && out.length > 0) break;
      out.push(r);
    }
    return out;
  }

  /**
   * The name a peer whose log ends at `k` knows our slot by. Behind us: the name as of its entry `k`. Ahead
   * of us: it may have recorded any of our earlier IDs as the slot's name, so successive heartbeats name
   * each in turn (a name it can't place is ignored).
   */
  private nameFor(k: number): Id {
    if (k < this.log.length) {
      const name = this.nameAt(k);
      if (name !== this.self) return name;
    } else if (k > this.log.length && this.was) {
      const names = [...new Set([this.was, ...this.ownNames])].filter((n) => n !== this.self);
      if (names.length > 0) return names[this.beats % names.length]!;
    }
    return this.was || this.self;
  }

  /**
   * Our slot's name as of entry `k`: a peer that far behind knows no later one, so it can place us only by
   * it. Later renames are undone from our log (a bounded walk; past it, or below our base, the name before
   * our own rename).
   */
  private nameAt(k: number): Id {
    let name = this.self;
    const stop = Math.max(k, this.log.first, this.log.length - NAME_WALK);
    // Only members entries rename: the others are skipped without a look (this runs per peer per beat).
    const at = this.log.membersAt;
    for (let j = at.length - 1; j >= 0 && at[j]! > stop; j--) {
      const r = this.renameAt(at[j]!);
      if (r?.in === name) name = r.out;
    }
    return stop > k && name === this.self && this.wasNamed ? this.wasNamed : name;
  }

  /** The rename our log's entry `i` makes (renameIn), worked out once per entry and the membership before it. */
  private renameAt(i: number): { out: Id; in: Id } | null {
    const e = this.log.at(i)!;
    const before = this.log.at(i - 1)?.members ?? FIRST_MEMBERS;
    const known = this.renames.get(e);
    if (known?.before === before) return known.rename;
    const rename = renameIn(before, e);
    this.renames.set(e, { before, rename });
    return rename;
  }

  /** Names as an agreed membership places them: our own slot by whichever of our names it now goes by. */
  private placeNames(agreed: ReadonlySet<Id>): void {
    for (const slot of [...this.retired.keys()]) if (!agreed.has(slot)) this.retired.delete(slot);
    for (const [n, o] of [...this.aliases])
      if (agreed.has(n) || !agreed.has(this.slotOf(o))) this.aliases.delete(n);
    if (this.was && agreed.has(this.self)) {
      if (this.was !== this.self) this.wasNamed = this.was;
      this.was = 0;
      this.aliases.delete(this.self);
    } else if (this.was) {
      // Catching up through memberships older than our slot's name must not drop our own claim to it,
      // and the log may have come to name the slot by another of our earlier names.
      if (!agreed.has(this.was)) for (const n of this.ownNames) if (agreed.has(n)) this.was = n;
      this.aliases.set(this.self, this.was);
    }
  }

  /**
   * Whether `e` chains onto our log. Its hash is worked out once per entry and tip: the same entry comes by
   * ACCEPT, then commits, and is looked at every heartbeat while we hold it accepted (entries are never
   * changed once made).
   */
  private extendsLog(e: Entry): boolean {
    return this.chainsAfter(this.log.tip, this.log.length, e);
  }

  /** Whether `e` extends a log of `length` entries ending in `prev` (chain.ts), hashing each entry once per `prev`. */
  private chainsAfter(prev: string, length: number, e: Entry): boolean {
    if (e.index !== length + 1) return false;
    if (this.chained.get(e) === prev) return true;
    if (!chains(prev, length, e)) return false;
    this.chained.set(e, prev);
    return true;
  }

  /** Keeps the rules after `prev` and names only voters we know were issued: what we append. */
  private appendable(prev: Entry | undefined, e: Entry): boolean {
    return lawfulAfter(prev, e, this.lastStage) && this.knows(e);
  }

  private lawful(e: Entry): boolean {
    return this.appendable(this.log.last(), e);
  }

  private keepsRules(e: Entry): boolean {
    return lawfulAfter(this.log.last(), e, this.lastStage);
  }

  private knows(e: Entry): boolean {
    return e.members.every((id) => id <= this.issued);
  }

  /**
   * Every live voter can place `id` (by its heartbeat's word, and ours): only then is a voter added under
   * it. A voter that could not would fall behind at that entry, and the room would lose its vote on
   * everything after. A voter cut off from the server holds up this one change; a liar claiming it cannot
   * place the ID only delays it, and a liar claiming it can changes nothing for the honest ones.
   */
  private placeable(id: Id): boolean {
    if (this.issued < id) return false;
    for (const slot of this.voters()) {
      const holder = this.holderOf(slot);
      if (holder !== this.self && this.isLive(holder) && (this.peers.get(holder)?.issued ?? 0) < id)
        return false;
    }
    return true;
  }

  private noteIssued(...ids: number[]): void {
    for (const id of ids)
      if (Number.isSafeInteger(id) && id > this.issued && id <= LIMITS.playerId.max) this.issued = id;
  }

  /** The stage a log ending in `prev` reaches by applying `entries` in order, as far as we would apply them. */
  private reach(prev: Entry | undefined, entries: readonly Entry[]): number {
    let last = prev;
    for (const e of entries) {
      if (!this.chainsAfter(last?.hash ?? GENESIS, last?.index ?? 0, e) || !this.appendable(last, e)) break;
      last = e;
    }
    return last?.stage ?? 0;
  }

  /**
   * An ACCEPT or ADVANCE counts only from the leader we follow in its term. Only a leader with a quorum
   * of promises proposes, so from a higher term (or with no live leader of ours) it is an established
   * claim, taken as a heartbeat's would be; from anyone else in our term it waits for that claim.
   */
  private follow(from: Id, term: number): boolean {
    if (term > this.term || (this.promised !== from && !this.leaderAlive()))
      this.tryAcceptCoordinator(from, term, true);
    else if (this.promised === from && this.role === 'follower') this.setLeader(from);
    return this.role === 'follower' && this.leader === from && this.term === term;
  }

  /** Our live leader, the only peer whose word about others (retirements, entries in a leave) we take. */
  private trusts(from: Id): boolean {
    return this.role === 'follower' && from === this.leader && this.leaderAlive();
  }

  /** Applies a committed entry a peer sent; one that chains onto our log but breaks the rules is a lie. */
  private applyFrom(from: Id, entry: Entry): boolean {
    if (this.apply(entry)) return true;
    // An entry naming a voter we cannot place yet is no certain lie (the roster may be late).
    if (this.extendsLog(entry) && !this.keepsRules(entry))
      this.strike(from, `sent an entry the rules forbid (${describe(entry)})`);
    return false;
  }

  /**
   * Within a heartbeat, one peer may lift our term by at most TERM_STEP in all: no honest player is that far
   * ahead (terms grow by one per candidacy, and only a side with a quorum runs), and a burst of messages
   * from one liar moves us no further than one. A term past ours by more than a step is a lie, counted and
   * not acted on, but we still climb by what this heartbeat allows, so a player back from a very long
   * partition reaches the room's term in a few beats, while a liar needs 2^37 beats (over a thousand years)
   * to exhaust the safe integers. Back from a silence, what two peers vouch for may lift us further at once
   * (rejoinTerm). A term always stays one a candidacy can increment.
   */
  private termAllowed(from: Id, term: number, peer: PeerState): boolean {
    if (this.now < this.rejoinUntil) {
      peer.rejoinClaim = Math.max(peer.rejoinClaim, term);
      const vouched = this.rejoinTerm();
      if (vouched > this.term) this.adoptTerm(vouched, 0);
      if (term <= this.term) return true;
    }
    if (this.now - peer.raisedAt >= this.timing.heartbeatTicks) {
      peer.raisedAt = this.now;
      peer.raiseBase = this.term;
    }
    const cap = Math.min(peer.raiseBase + TERM_STEP, MAX_TERM);
    if (term <= cap) return true;
    if (term > this.term + TERM_STEP)
      this.strike(from, `claimed term ${term}, more than ${TERM_STEP} past ours (${this.term})`);
    if (cap > this.term) this.adoptTerm(cap, 0);
    return false;
  }

  /**
   * Back from a silence, the highest term two peers in the roster claim, at most REJOIN_STEP past where we
   * were. One liar's claim alone cannot lift us past an honest peer's, so it cannot set us ahead of the room,
   * which would then have to climb to us a step a beat. Not with one peer: in a room of two, that peer may be
   * the liar. A liar with two sessions in the room counts twice; REJOIN_STEP bounds what that costs.
   */
  private rejoinTerm(): number {
    // Only sessions the server has now: a liar that left and came back under a new ID is not two peers.
    const claims = [...this.peers]
      .filter(([id]) => this.rosterIds.has(id))
      .map(([, p]) => p.rejoinClaim)
      .sort((a, b) => b - a);
    const vouched = claims[1] ?? 0;
    return Math.min(vouched, this.rejoinBase + REJOIN_STEP, MAX_TERM);
  }

  /** Roster peers heard since the rejoin window opened. */
  private heardSinceRejoin(): number {
    let n = 0;
    for (const [id, p] of this.peers) if (p.heard >= this.rejoinFrom && this.rosterIds.has(id)) n++;
    return n;
  }

  /** `from` sent something the protocol never sends: counted, shown, and the first few logged. */
  private strike(from: Id, reason: string): void {
    const p = this.peer(from);
    p.strikes++;
    if (p.strikes <= LOGGED_STRIKES)
      this.events.push({ kind: 'misbehaved', peer: from, reason, count: p.strikes });
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

/**
 * As many of `entries` as fit one message (`budget` bytes of JSON, at most LIMITS.entriesPerMessage), at
 * least one: the first ones, or with `tail` the last ones.
 */
function fitting(
  entries: Entry[],
  tail: boolean,
  budget: number = LIMITS.historyBytes,
  bytesOf: (e: Entry) => number = jsonBytes,
): Entry[] {
  let bytes = 0;
  let n = 0;
  for (; n < Math.min(entries.length, LIMITS.entriesPerMessage); n++) {
    bytes += bytesOf(entries[tail ? entries.length - 1 - n : n]!) + 1;
    if (n > 0 && bytes > budget) break;
  }
  return tail ? entries.slice(entries.length - n) : entries.slice(0, n);
}

/** A Map that counts its changes, so that what is worked out from it can be cached until it changes. */
class CountedMap<K, V> extends Map<K, V> {
  changes = 0;

  override set(key: K, value: V): this {
    this.changes++;
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    this.changes++;
    return super.delete(key);
  }

  override clear(): void {
    this.changes++;
    super.clear();
  }
}

interface LiveCache {
  /** The first tick it no longer holds at. */
  until: number;
  role: Role;
  leader: Id;
  members: ReadonlySet<Id>;
  list: readonly Id[];
  set: ReadonlySet<Id>;
}

interface Mine {
  id: number;
  data: unknown;
  json: string;
  sent: boolean;
  /** Decided values only: committed as ours (a superseded one is never offered again). */
  ours?: boolean;
}

/** A persisted log is kept only as far as it chains onto its base (older builds wrote entries without hashes). */
function validLog(base: Base | null, history: readonly Entry[]): Log {
  const log = new Log(base);
  for (const e of history) {
    if (!chains(log.tip, log.length, e)) break;
    log.push(e);
  }
  return log;
}

/** The longest a player whose base is tainted waits to ask its leader for its base again, in timeouts. */
const REBASE_ASK_TIMEOUTS = 32;
/** The same while the leader has not answered: a lost ask is asked again within this many timeouts. */
const REBASE_UNANSWERED_TIMEOUTS = 4;
/** A gap between regular heartbeats longer than this many room timeouts is an outage, not a late beat:
 * even the longest stretch (MAX_STRETCH) suspects it. */
const OUTAGE_TIMEOUTS = 2;
/** noteBeat's epoch for leaderless beats, which go to everyone whoever we follow. */
const LEADERLESS = -2;
/** The stretched timeout is at most this many room timeouts. */
const MAX_STRETCH = 2;
/** How often the timeout may come back down a heartbeat, in room timeouts. */
const BEAT_WINDOW_TIMEOUTS = 2;

/** `base` as we keep it once `from` sent it: its state is now `from`'s word too. */
function handedOn(base: Base, from: Id, issued: Id): Base {
  // IDs the room never issued are a liar's padding: dropped. None is cut off to fit: see install.
  const via = [...new Set([...(base.via ?? []).filter((id) => id <= issued), from])];
  return { ...base, via: via.sort((a, b) => a - b) };
}

/** A base keeps the rules within itself: its stages climb one at a time to its entry's, never past the last. */
function lawfulBase(base: Base, lastStage: number): boolean {
  if (base.entry.stage > lastStage) return false;
  return (
    base.stages.every((e, i) => e.kind === 'stage' && e.stage === i + 1 && e.index <= base.entry.index) &&
    (base.stages.at(-1)?.stage ?? 0) === base.entry.stage
  );
}

/**
 * `json` in consecutive pieces whose JSON string encodings each take at most `budget` UTF-8 bytes, never
 * splitting a surrogate pair.
 */
function splitJson(json: string, budget: number): string[] {
  const out: string[] = [];
  let start = 0;
  let bytes = 2;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    const pair = c >= 0xd800 && c < 0xdc00 && i + 1 < json.length;
    const size = pair ? 4 : c === 0x22 || c === 0x5c ? 2 : c < 0x20 ? 6 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    if (bytes + size > budget && i > start) {
      out.push(json.slice(start, i));
      start = i;
      bytes = 2;
    }
    bytes += size;
    if (pair) i++;
  }
  out.push(json.slice(start));
  return out;
}

/** A stage entry moves one stage up to at most the last; a members entry changes one voter or renames one. */
function lawfulAfter(prev: Entry | undefined, e: Entry, lastStage: number): boolean {
  const stage = prev?.stage ?? 0;
  const before = prev?.members ?? FIRST_MEMBERS;
  for (let i = 1; i < e.members.length; i++) if (e.members[i]! <= e.members[i - 1]!) return false;
  // A stage entry carries the membership forward unchanged; an app entry changes neither.
  if (e.kind === 'stage') return e.stage === stage + 1 && e.stage <= lastStage && sameIds(before, e.members);
  if (e.kind === 'app') return e.stage === stage && e.done.length === 0 && sameIds(before, e.members);
  if (e.stage !== stage) return false;
  const added = e.members.filter((id) => !before.includes(id)).length;
  const removed = before.filter((id) => !e.members.includes(id)).length;
  if (added + removed === 1) return true;
  // A new name for a slot: the same acceptor under a higher ID (IDs only grow).
  const inID = e.members.find((id) => !before.includes(id))!;
  const outID = before.find((id) => !e.members.includes(id))!;
  return added === 1 && removed === 1 && inID > outID;
}

/** The slot a members entry renames (one ID out, a higher one in), if it is a rename. */
export function renameIn(before: readonly Id[], e: Entry): { out: Id; in: Id } | null {
  if (e.kind !== 'members') return null;
  const outs = before.filter((id) => !e.members.includes(id));
  const ins = e.members.filter((id) => !before.includes(id));
  if (outs.length !== 1 || ins.length !== 1 || ins[0]! < outs[0]!) return null;
  return { out: outs[0]!, in: ins[0]! };
}

function describe(e: Entry): string {
  if (e.kind === 'app') return `entry ${e.index}: ${e.ops?.length ?? 0} app values`;
  return e.kind === 'stage'
    ? `entry ${e.index}: stage ${e.stage}`
    : `entry ${e.index}: members ${e.members.join(', ')}`;
}

/** Two hashes of one index that disagree (an index we do not hold, or hold only below our base, does not). */
function differs(ours: string | undefined, theirs: string): boolean {
  return ours !== undefined && ours !== theirs;
}

/** Old names of slots that the members entries in (from, to] of `log` renamed. */
function renamesIn(log: Log, from: number, to: number): Id[] {
  const out: Id[] = [];
  for (let i = Math.max(from, 1) + 1; i <= to; i++) {
    const renamed = renameIn(log.at(i - 1)?.members ?? FIRST_MEMBERS, log.at(i)!);
    if (renamed) out.push(renamed.out);
  }
  return out;
}

function sameParts(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameIds(a: readonly Id[], b: readonly Id[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function byId(a: Id, b: Id): number {
  return a - b;
}

function lastWord(from: Id, msg: Extract<Message, { t: 'leave' }>): Retirement {
  const r: Retirement = {
    id: from,
    term: msg.term,
    index: msg.index,
    hash: msg.hash,
    accepted: msg.accepted,
  };
  if (msg.was) r.was = msg.was;
  return r;
}
