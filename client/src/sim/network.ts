import {
  AppBook,
  appliedOps,
  type Base,
  type CoreEvent,
  type Entry,
  type Id,
  type Message,
  type MessageType,
  type Persisted,
  Player,
  parseMessage,
  type Rng,
  seededRng,
  type Timing,
} from '../core/index.ts';
import { lie } from './liar.ts';

/** A deterministic network of players, in the spirit of etcd-raft's test `network` (drop, cut, isolate). */

/** One honest frame in this many goes through the validator (deliver). */
const HONEST_FRAME_SAMPLE = 8;
export interface SimOptions {
  seed: number;
  timing?: Timing;
  /** Ticks a crashed player's session stays in the membership before the server expires it. */
  graceTicks?: number;
  lastStage?: number;
  /** Record a readable transcript (slow; for the scenario tests). */
  transcript?: boolean;
  /** Message types left out of the transcript. */
  quiet?: MessageType[];
  /**
   * A run with a liar (`turnLiar`): the checks become the ones a liar cannot break, over the honest players:
   * no stage past the last, none skipped or taken back, terms that can still grow, and no exception.
   */
  hostile?: boolean;
}

export const SIM_TIMING: Timing = { heartbeatTicks: 3, timeoutTicks: 12, answerTicks: 3 };

interface Node {
  id: Id;
  player: Player | null;
  storage: Persisted | null;
  /** Lost its signaling connection (the mesh still works): no rosters, and its session ages in grace. */
  offline: boolean;
  /** Frozen by the browser: runs nothing; what reaches it waits in `inbox`. */
  frozen: boolean;
  inbox: InFlight[];
  /** Left for good (the Leave button): never runs again. */
  gone: boolean;
  /** The ID whose slot this one continues. */
  was?: Id;
  /** A new ID in the same page keeps the page's proposals (a reload starts a new page session). */
  proposals?: import('../core/index.ts').Proposals | undefined;
  /** A leaver still repeating its last word until this tick. */
  leaving?: number;
  /** Stalled since this tick (a busy main thread the server does not notice); `frozen` meanwhile. */
  stalledAt?: number;
}

interface InFlight {
  from: Id;
  to: Id;
  msg: Message;
}

export class Violation extends Error {}

export class SimNetwork {
  readonly timing: Timing;
  readonly graceTicks: number;
  readonly lastStage: number;
  readonly rng: Rng;
  now = 0;

  private nodes = new Map<Id, Node>();
  private nextId = 1;
  private queue = new Map<number, InFlight[]>();
  private rosterQueue = new Map<number, Id[]>();

  // The signaling server's view: connected or in grace until a tick.
  private sessions = new Map<Id, number>();
  private rosterVersion = 0;

  // Faults.
  dropRate = 0;
  dupRate = 0;
  maxDelay = 1;
  private cuts = new Set<string>();

  // Accounting.
  readonly counts = new Map<MessageType, number>();
  readonly transcript: string[] = [];
  private readonly quiet: Set<MessageType>;
  private readonly recording: boolean;

  // Checker state.
  private leaderOfTerm = new Map<number, Id>();
  private committed: Entry[] = [];
  private clicked = new Map<Id, Set<number>>();
  private proposed = new Set<string>();
  readonly violations: string[] = [];
  /** App values proposed (each unique), and the ones their proposer was told are committed, and where. */
  private appProposed = new Set<string>();
  private appAcked = new Map<string, string>();
  private clientSeq = 0;
  /** App values whose every replica was lost (all holders left): not counted as lost by the checker. */
  appForgotten = 0;

  readonly hostile: boolean;
  /** Players that lie from now on, and the ones the room's owner removed. */
  private liars = new Set<Id>();
  private expelled = new Set<Id>();
  /** Chance per tick that a liar sends a lie. */
  lieRate = 0.5;

  constructor(opts: SimOptions) {
    this.hostile = opts.hostile ?? false;
    this.timing = opts.timing ?? SIM_TIMING;
    this.graceTicks = opts.graceTicks ?? 5 * this.timing.timeoutTicks;
    this.lastStage = opts.lastStage ?? Number.POSITIVE_INFINITY;
    this.rng = seededRng(opts.seed);
    this.recording = opts.transcript ?? false;
    this.quiet = new Set(opts.quiet ?? ['hb']);
  }

  // ---------------------------------------------------------------- membership

  /** A new player joins: the server gives it the next ID. */
  join(persisted: Persisted | null = null, was?: Id): Id {
    const id = this.nextId++;
    this.nodes.set(id, {
      id,
      player: null,
      storage: persisted,
      offline: false,
      frozen: false,
      inbox: [],
      gone: false,
      proposals: this.pendingProposals,
      ...(was ? { was } : {}),
    });
    this.pendingProposals = undefined;
    this.sessions.set(id, Number.POSITIVE_INFINITY);
    this.start(id, was);
    this.pushRoster();
    this.note(`join ${id}${was ? ` (continues ${was})` : ''}`);
    return id;
  }

  /** The player goes silent: its tab dies without a word (with a pagehide goodbye when `bye`). */
  crash(id: Id, bye = false): void {
    const n = this.nodes.get(id);
    if (!n?.player || n.frozen || n.gone) return;
    if (bye) {
      n.player.goodbye();
      this.drain(n);
    }
    n.player = null;
    n.offline = false;
    if (this.sessions.has(id)) this.sessions.set(id, this.now + this.graceTicks);
    this.pushRoster();
    this.note(`crash ${id}${bye ? ' (said bye)' : ''}`);
  }

  /**
   * A reload: within grace the same ID resumes with what it persisted. After grace (or a server restart)
   * the server refuses its token, and it joins under a new ID that continues its voter slot.
   */
  restart(id: Id): Id | null {
    const n = this.nodes.get(id);
    if (!n || n.player || n.gone) return null;
    if (!this.sessions.has(id)) return this.rename(n);
    this.sessions.set(id, Number.POSITIVE_INFINITY);
    this.start(id);
    this.pushRoster();
    this.note(`restart ${id}`);
    return id;
  }

  /** Leaves for good: its final state to the peers, and the session ends at once. */
  leave(id: Id): void {
    const n = this.nodes.get(id);
    if (!n?.player || n.frozen || n.gone) return;
    n.player.leaveRoom();
    this.drain(n);
    // It repeats its last word for a timeout (the driver waits that long before it disconnects).
    n.leaving = this.now + this.timing.timeoutTicks;
    n.storage = null;
    n.gone = true;
    this.sessions.delete(id);
    this.pruneForgotten();
    this.pushRoster();
    this.note(`leave ${id}`);
    this.forgetIfEmpty();
  }

  /** The tab loses the signaling server but keeps its mesh; the server expires it after grace. */
  cutServer(id: Id): void {
    const n = this.nodes.get(id);
    if (!n?.player || n.offline || n.gone || !this.sessions.has(id)) return;
    n.offline = true;
    this.sessions.set(id, this.now + this.graceTicks);
    this.pushRoster();
    this.note(`server cut ${id}`);
  }

  /** Back on the server: the same session within grace, else a new ID that continues the slot. */
  reconnect(id: Id): Id | null {
    const n = this.nodes.get(id);
    if (!n?.player || !n.offline || n.frozen) return null;
    n.offline = false;
    if (!this.sessions.has(id)) return this.rename(n);
    this.sessions.set(id, Number.POSITIVE_INFINITY);
    this.pushRoster();
    this.note(`server back ${id}`);
    return id;
  }

  /** The browser freezes the tab: nothing runs, input queues, and the server soon sees it gone. */
  freeze(id: Id): void {
    const n = this.nodes.get(id);
    if (!n?.player || n.frozen || n.gone) return;
    n.frozen = true;
    if (this.sessions.has(id) && !n.offline) this.sessions.set(id, this.now + this.graceTicks);
    n.offline = true;
    this.pushRoster();
    this.note(`freeze ${id}`);
  }

  /** It wakes: it learns it slept (resume), then handles what queued, then reconnects. */
  thaw(id: Id): Id | null {
    const n = this.nodes.get(id);
    if (!n?.player || !n.frozen || n.stalledAt !== undefined) return null;
    n.frozen = false;
    this.note(`thaw ${id}`);
    n.player.resume();
    this.drain(n);
    for (const m of n.inbox.splice(0)) this.deliver(m);
    return this.reconnect(id);
  }

  /** The signaling server restarts with its memory store: every session is gone, IDs continue above. */
  restartServer(): void {
    this.sessions.clear();
    // A stalled tab's socket drops too; a frozen one's already counts as gone.
    for (const n of this.nodes.values())
      if (n.player && (!n.frozen || n.stalledAt !== undefined)) n.offline = true;
    this.note('server restart');
  }

  /** The tab's main thread stalls: nothing runs and what reaches it queues, but its socket stays up. */
  stall(id: Id): void {
    const n = this.nodes.get(id);
    if (!n?.player || n.frozen || n.gone) return;
    n.stalledAt = this.now;
    n.frozen = true;
    this.note(`stall ${id}`);
  }

  /**
   * The stall ends, as the driver's catchUp takes it: past two timeouts the player resumes (listens before
   * acting); otherwise it runs at most a timeout less two heartbeats of the ticks it lost. Then what queued.
   */
  unstall(id: Id): void {
    const n = this.nodes.get(id);
    if (!n?.player || n.stalledAt === undefined) return;
    const due = this.now - n.stalledAt;
    n.stalledAt = undefined;
    n.frozen = false;
    this.note(`unstall ${id} after ${due}`);
    const { heartbeatTicks, timeoutTicks } = this.timing;
    if (due > 2 * timeoutTicks) {
      this.guard(n.id, () => n.player!.resume());
      this.drain(n);
    } else {
      for (let k = Math.min(due, Math.max(1, timeoutTicks - 2 * heartbeatTicks)); k > 0 && n.player; k--) {
        this.guard(n.id, () => n.player!.tick());
        this.drain(n);
      }
    }
    for (const m of n.inbox.splice(0)) this.deliver(m);
    // The rosters it missed: the newest one.
    if (n.player && !n.offline) {
      this.guard(n.id, () => {
        n.player!.setRoster(this.roster());
        for (const x of this.expelled) n.player!.expel(x);
      });
      this.drain(n);
    }
  }

  /** Stalls past `ticks` end: longer, the server's ping timeout would notice (that is a freeze). */
  endStallsOver(ticks: number): void {
    for (const n of this.nodes.values())
      if (n.player && n.stalledAt !== undefined && this.now - n.stalledAt >= ticks) this.unstall(n.id);
  }

  stalledIds(): Id[] {
    return [...this.nodes.values()].filter((n) => n.player && n.stalledAt !== undefined).map((n) => n.id);
  }

  /** "Duplicate tab": a second live tab with a copy of this one's storage. It may not reuse the ID (the
   * driver's tab lock), so it joins anew, bringing only the committed log. */
  duplicate(id: Id): Id | null {
    const n = this.nodes.get(id);
    if (!n?.player || n.gone) return null;
    const p = n.player.persisted();
    const copy: Persisted = {
      term: 0,
      promised: 0,
      done: false,
      history: p.history,
      ...(p.base ? { base: p.base } : {}),
      accepted: null,
      initialized: false,
    };
    const d = this.join(copy);
    this.note(`duplicate ${id} as ${d}`);
    return d;
  }

  /** Rosters reach players late: each push waits up to `ticks` more. */
  rosterLag = 0;

  private rename(n: Node): Id {
    const state = n.player?.persisted() ?? n.storage;
    // The same page under a new ID keeps its proposals; a crashed page (restart) lost them.
    const proposals = n.player?.proposals();
    const old = n.id;
    n.player = null;
    n.storage = null;
    n.gone = true;
    const id = this.nextId;
    this.pendingProposals = proposals;
    this.join(state, old);
    this.seen.set(id, this.seen.get(old) ?? 0);
    this.maxStage.set(id, this.maxStage.get(old) ?? 0);
    const clicks = this.clicked.get(old);
    if (clicks) this.clicked.set(id, new Set(clicks));
    return id;
  }

  /** From now on `id` lies: random well-formed lies on top of what its honest code sends. */
  turnLiar(id: Id): void {
    if (!this.nodes.get(id)?.player) return;
    this.liars.add(id);
    this.note(`liar ${id}`);
  }

  isLiar(id: Id): boolean {
    return this.liars.has(id);
  }

  /** The owner removes `id`: the server ends its session and bars it, and the roster tells everyone. */
  expel(id: Id): void {
    const n = this.nodes.get(id);
    if (!n) return;
    this.expelled.add(id);
    n.player = null;
    n.storage = null;
    n.gone = true;
    this.sessions.delete(id);
    this.pushRoster();
    this.note(`expel ${id}`);
  }

  private pendingProposals: import('../core/index.ts').Proposals | undefined;

  /** `id` proposes a unique app value (its text names it, so the checker can tell every proposal apart). */
  propose(id: Id): void {
    const n = this.nodes.get(id);
    const p = n?.player;
    if (!n || !p || n.frozen || n.gone) return;
    const value = `v${id}.${this.appProposed.size + 1}`;
    const r = p.propose(value);
    if (r.ok) this.appProposed.add(value);
    this.note(`propose ${id} ${value}${r.ok ? ` #${r.id}` : `: ${r.code}`}`);
    this.drain(n);
  }

  /**
   * `id`'s app compacts its log at a random committed index, with its state there: every applied value so
   * far with its place (fold), so the checker can compare a base with the committed sequence.
   */
  compact(id: Id, u: number = this.rng.next()): void {
    const n = this.nodes.get(id);
    const p = n?.player;
    if (!n || !p || n.frozen || n.gone || p.length <= (p.base?.entry.index ?? 0)) return;
    const first = p.base?.entry.index ?? 0;
    const index = first + 1 + Math.floor(u * (p.length - first));
    const r = p.compact(index, fold(p, index));
    this.note(`compact ${id} @${index}${r.ok ? '' : `: ${r.code}`}`);
    this.drain(n);
  }

  click(id: Id, done: boolean): void {
    const p = this.nodes.get(id)?.player;
    if (!p) return;
    if (done) {
      const s = this.clicked.get(id) ?? new Set<number>();
      s.add(p.stage);
      this.clicked.set(id, s);
    }
    p.setDone(done);
    this.note(`click ${id} ${done ? 'done' : 'undo'} @${p.stage}`);
    this.drain(this.nodes.get(id)!);
  }

  private start(id: Id, was?: Id): void {
    const n = this.nodes.get(id)!;
    n.player = new Player({
      self: id,
      timing: this.timing,
      rng: seededRng(Math.floor(this.rng.next() * 2 ** 32)),
      roster: this.roster(),
      persisted: n.storage,
      lastStage: this.lastStage,
      ...(was ? { was } : {}),
      proposals: n.proposals ?? { client: `k${++this.clientSeq}`, next: 1, pending: [] },
    });
    n.proposals = undefined;
    for (const x of this.expelled) n.player.expel(x);
    this.drain(n);
  }

  private roster() {
    return {
      version: this.rosterVersion,
      members: [...this.sessions.keys()].sort((a, b) => a - b),
      issued: this.nextId - 1,
    };
  }

  private pushRoster(): void {
    this.rosterVersion++;
    for (const n of this.nodes.values()) {
      if (!n.player || n.offline) continue;
      const lag = this.rosterLag > 0 ? Math.floor(this.rng.next() * this.rosterLag) : 0;
      const at = this.now + this.delay() + lag;
      const list = this.rosterQueue.get(at);
      if (list) list.push(n.id);
      else this.rosterQueue.set(at, [n.id]);
    }
  }

  // ---------------------------------------------------------------- faults

  cut(a: Id, b: Id, oneWay = false): void {
    this.cuts.add(`${a}>${b}`);
    if (!oneWay) this.cuts.add(`${b}>${a}`);
    this.note(`cut ${a}${oneWay ? '->' : '--'}${b}`);
  }

  /** Cuts every link between the two sides (one way: only from `a` to `b`). */
  partition(a: Id[], b: Id[], oneWay = false): void {
    for (const x of a) for (const y of b) this.cuts.add(`${x}>${y}`);
    if (!oneWay) for (const x of a) for (const y of b) this.cuts.add(`${y}>${x}`);
    this.note(`partition ${a.join(',')} ${oneWay ? '->' : '|'} ${b.join(',')}`);
  }

  isolate(id: Id): void {
    const others = [...this.nodes.keys()].filter((x) => x !== id);
    this.partition([id], others);
  }

  heal(): void {
    this.cuts.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    this.rosterLag = 0;
    // Late rosters arrive now: a reconnecting tab gets the current one at once.
    const late = [...this.rosterQueue.values()].flat();
    this.rosterQueue.clear();
    if (late.length > 0) this.rosterQueue.set(this.now + 1, [...new Set(late)]);
    this.note('heal');
  }

  /** Whether the link from `a` to `b` is cut (most ticks nothing is: no key to build). */
  private isCut(a: Id, b: Id): boolean {
    return this.cuts.size > 0 && this.cuts.has(`${a}>${b}`);
  }

  private delay(): number {
    return this.maxDelay <= 1 ? 1 : 1 + Math.floor(this.rng.next() * this.maxDelay);
  }

  // ---------------------------------------------------------------- running

  /** Runs `ticks` ticks: deliver what is due, tick every live player, expire sessions, check invariants. */
  run(ticks: number): void {
    for (let i = 0; i < ticks; i++) this.tickOnce();
  }

  private tickOnce(): void {
    this.now++;
    const due = this.queue.get(this.now);
    if (due) {
      this.queue.delete(this.now);
      for (const m of due) this.deliver(m);
    }
    const rosters = this.rosterQueue.get(this.now);
    if (rosters) {
      this.rosterQueue.delete(this.now);
      const r = this.roster();
      for (const id of rosters) {
        const n = this.nodes.get(id);
        if (n?.player && !n.offline && !n.frozen) {
          this.guard(n.id, () => {
            n.player!.setRoster(r);
            for (const x of this.expelled) n.player!.expel(x);
          });
          this.drain(n);
        }
      }
    }
    for (const n of [...this.nodes.values()]) {
      if (!n.player || n.frozen) continue;
      this.guard(n.id, () => n.player!.tick());
      this.drain(n);
      if (this.liars.has(n.id) && this.rng.next() < this.lieRate) this.sendLie(n);
      if (n.leaving !== undefined && this.now >= n.leaving) n.player = null;
    }
    let expired = false;
    for (const [id, until] of this.sessions) {
      if (until <= this.now) {
        this.sessions.delete(id);
        expired = true;
        this.note(`expire ${id}`);
      }
    }
    if (expired) this.pushRoster();
    this.forgetIfEmpty();
  }

  /** The server forgets an empty room: whoever comes next starts a new one, with terms from zero. */
  private forgetIfEmpty(): void {
    if (this.sessions.size > 0 || this.nodes.size === 0) return;
    // A tab still running, or one that may still come back, holds the room.
    for (const n of this.nodes.values()) if (!n.gone && (n.player || n.storage)) return;
    this.nodes.clear();
    this.nextId = 1;
    this.leaderOfTerm.clear();
    this.committed = [];
    this.seen.clear();
    this.clicked.clear();
    this.proposed.clear();
    this.appAcked.clear();
    // The server forgets the room's removed IDs and its liars' with it: ID 1 is someone new.
    this.maxStage.clear();
    this.expelled.clear();
    this.liars.clear();
    this.note('room forgotten');
  }

  private deliver(m: InFlight): void {
    const n = this.nodes.get(m.to);
    if (!n?.player || this.isCut(m.from, m.to)) return;
    if (n.frozen) {
      n.inbox.push(m);
      return;
    }
    if (this.recording && !this.quiet.has(m.msg.t)) this.note(`${m.from}->${m.to} ${show(m.msg)}`);
    // What the driver does with a frame: validate, then step (or count the malformed one against its sender).
    // Every frame a liar sends is validated. An honest player's must never be refused, which a sample checks:
    // the validator took over 40% of a hostile run when it read them all (heartbeats most of it).
    let parsed: ReturnType<typeof parseMessage> = { ok: true, msg: m.msg };
    if (this.liars.has(m.from)) parsed = parseMessage(m.msg);
    else if (++this.framesSeen % HONEST_FRAME_SAMPLE === 0) {
      const r = parseMessage(m.msg);
      if (!r.ok) this.violate(`${m.from}'s frame to ${m.to} would be refused: ${r.error}`);
    }
    this.guard(n.id, () => {
      if (parsed.ok) n.player!.step(m.from, parsed.msg);
      else n.player!.invalid(m.from, parsed.error);
    });
    this.drain(n);
  }

  private framesSeen = 0;

  /** An exception in an honest player is a violation in every run, hostile or not. */
  private guard(id: Id, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.violate(`${id} threw: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private sendLie(n: Node): void {
    const targets = [...this.nodes.values()].filter(
      (x) => x.player && x.id !== n.id && !this.liars.has(x.id),
    );
    if (targets.length === 0) return;
    const members = [...this.sessions.keys()].sort((a, b) => a - b);
    for (let i = 0, k = 1 + Math.floor(this.rng.next() * 3); i < k; i++) {
      const to = targets[Math.floor(this.rng.next() * targets.length)]!;
      const msg = lie(this.rng, n.id, to.player!, members);
      this.counts.set(msg.t, (this.counts.get(msg.t) ?? 0) + 1);
      const at = this.now + this.delay();
      const list = this.queue.get(at);
      const m = { from: n.id, to: to.id, msg };
      if (list) list.push(m);
      else this.queue.set(at, [m]);
    }
  }

  private drain(n: Node): void {
    const p = n.player;
    if (!p) return;
    const r = p.ready();
    if (r.persist) n.storage = r.persist;
    for (const e of r.messages) {
      if (this.liars.has(n.id)) e.msg = falseState(n.id, e.msg);
      this.counts.set(e.msg.t, (this.counts.get(e.msg.t) ?? 0) + 1);
      if (this.isCut(n.id, e.to) || (this.dropRate > 0 && this.rng.next() < this.dropRate)) continue;
      const copies = this.dupRate > 0 && this.rng.next() < this.dupRate ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        const at = this.now + this.delay();
        const list = this.queue.get(at);
        const m = { from: n.id, to: e.to, msg: e.msg };
        if (list) list.push(m);
        else this.queue.set(at, [m]);
      }
    }
    for (const ev of r.events) this.onEvent(n.id, ev);
    this.check(n.id, p);
  }

  // ---------------------------------------------------------------- invariants

  private violate(what: string): void {
    this.violations.push(`t=${this.now}: ${what}`);
    this.note(`VIOLATION ${what}`);
  }

  private onEvent(id: Id, ev: CoreEvent): void {
    if (this.recording && ev.kind !== 'suspect' && ev.kind !== 'alive') this.note(`${id} ${showEvent(ev)}`);
    if (this.liars.has(id)) return;
    // A liar can feed two players different entries; what it must not do is take a stage back (check).
    if (ev.kind === 'forked' && !this.hostile)
      this.violate(`${id} found its log forked at entry ${ev.index}`);
    if (ev.kind === 'proposed') {
      const p = this.nodes.get(id)?.player;
      if (ev.n === -1) {
        // Decided inside a base it caught up from: somewhere at or before the base, by its page session.
        const c = p?.proposals()?.client;
        const a = appliedOps(this.committed.filter(Boolean)).find((a) => a.op.c === c && a.op.seq === ev.seq);
        if (a && a.index <= ev.index && typeof a.op.data === 'string')
          this.appAcked.set(a.op.data, `${a.index}.${a.n}`);
        else if (!this.hostile)
          this.violate(`${id} was told its proposal ${ev.seq} is in its base at ${ev.index}, and it is not`);
      } else {
        const op = p ? entryAt(p, ev.index)?.ops?.[ev.n] : undefined;
        if (typeof op?.data === 'string') this.appAcked.set(op.data, `${ev.index}.${ev.n}`);
        else
          this.violate(`${id} was told its proposal ${ev.seq} is at ${ev.index}.${ev.n}, which holds none`);
      }
    }
    // Among honest players nobody reuses a page session's numbers: a value that lost its number was lost.
    if (ev.kind === 'superseded' && !this.hostile)
      this.violate(`${id}'s proposal ${ev.seq} was superseded at entry ${ev.index}`);
    if (ev.kind === 'propose') {
      const { entry, live, voters } = ev;
      this.proposed.add(JSON.stringify(entry));
      if (entry.kind !== 'stage') return;
      const k = entry.stage - 1;
      const liveVoters = voters.filter((v) => live.includes(v)).length;
      if (liveVoters < Math.floor(voters.length / 2) + 1) {
        this.violate(
          `${id} proposed stage ${entry.stage} with ${liveVoters} of ${voters.length} voters live`,
        );
      }
      if (entry.done.join() !== live.join())
        this.violate(`${id} proposed done=${entry.done} but live=${live}`);
      for (const d of entry.done) {
        // A player a liar took past stage k has left it, and counts as done with it (Player.doneOf).
        const past = this.hostile && (this.nodes.get(d)?.player?.stage ?? 0) > k;
        if (!this.clicked.get(d)?.has(k) && !this.liars.has(d) && !past)
          this.violate(`${id} counted a Done from ${d} for stage ${k} never clicked`);
      }
    }
  }

  private check(id: Id, p: Player): void {
    if (this.liars.has(id)) return;
    if (this.hostile) {
      this.checkHonest(id, p);
      return;
    }
    if (p.currentRole === 'leader') {
      const had = this.leaderOfTerm.get(p.currentTerm);
      if (had === undefined) this.leaderOfTerm.set(p.currentTerm, id);
      else if (had !== id) this.violate(`two leaders in term ${p.currentTerm}: ${had} and ${id}`);
    }
    const base = p.base;
    const first = base?.entry.index ?? 0;
    // A base it caught up from (or compacted) names a committed entry too.
    if (base && first > this.checkedUpTo(id)) this.checkCommitted(id, base.entry, true);
    const h = p.entries;
    for (let i = Math.max(0, this.checkedUpTo(id) - first); i < h.length; i++) {
      const e = h[i]!;
      if (e.index !== first + i + 1) this.violate(`${id} holds entry ${e.index} at index ${first + i + 1}`);
      const prev = i > 0 ? h[i - 1]!.stage : (base?.entry.stage ?? 0);
      if (e.stage !== prev + (e.kind === 'stage' ? 1 : 0)) {
        this.violate(`${id} went from stage ${prev} to ${e.stage} with a ${e.kind} entry`);
      }
      this.checkCommitted(id, e, false);
    }
    if (p.length < this.checkedUpTo(id))
      this.violate(`${id} went back from entry ${this.checkedUpTo(id)} to ${p.length}`);
    this.seen.set(id, p.length);
  }

  /** One entry `id` holds against what the room committed at its index (a base's entry may be known already). */
  private checkCommitted(id: Id, e: Entry, inBase: boolean): void {
    const known = this.committed[e.index - 1];
    // Players pass entries on by reference: the very entry recorded needs no comparing.
    if (known === e) return;
    const key = JSON.stringify(e);
    if (!known) {
      if (!this.proposed.has(key)) this.violate(`${id} committed entry ${e.index} that no leader proposed`);
      // Entries below a base it caught up from were never seen here only if every holder is gone.
      if (inBase && this.committed.length < e.index - 1) return;
      this.committed[e.index - 1] = e;
    } else if (JSON.stringify(known) !== key) {
      this.violate(`divergence at entry ${e.index}: ${id} has ${key}, others ${JSON.stringify(known)}`);
    }
  }

  /** What no liar can do to an honest player: skip or go past a stage, take one back, or wedge its term. */
  private checkHonest(id: Id, p: Player): void {
    const h = p.entries;
    const base = p.base?.entry;
    // The entries looked at on an earlier drain hold what they held (a player's entries array only grows:
    // a cut or a new base gives a new one), so only the new ones are; what the old ones broke is said again.
    let done = this.honestChecked.get(id);
    if (!done || done.p !== p || done.h !== h || done.base !== base) {
      done = { p, h, base, n: 0, found: [] };
      this.honestChecked.set(id, done);
    }
    for (let i = done.n; i < h.length; i++) {
      const prev = i > 0 ? h[i - 1]!.stage : (base?.stage ?? 0);
      const e = h[i]!;
      if (e.stage !== prev + (e.kind === 'stage' ? 1 : 0) || e.index !== (base?.index ?? 0) + i + 1)
        done.found.push(`${id} went from stage ${prev} to ${e.stage} with a ${e.kind} entry at ${e.index}`);
      const before = i > 0 ? h[i - 1]!.members : (base?.members ?? [1]);
      if (e.kind === 'stage' && e.members.join() !== before.join())
        done.found.push(`${id} holds stage entry ${e.index} that changed the members to ${e.members}`);
    }
    done.n = h.length;
    for (const v of done.found) this.violate(v);
    if (p.stage > this.lastStage)
      this.violate(`${id} is at stage ${p.stage}, past the last (${this.lastStage})`);
    const max = this.maxStage.get(id) ?? 0;
    if (p.stage < max) this.violate(`${id} went back from stage ${max} to ${p.stage}`);
    this.maxStage.set(id, Math.max(max, p.stage));
    const t = p.currentTerm;
    if (!Number.isSafeInteger(t) || t + 1 > Number.MAX_SAFE_INTEGER)
      this.violate(`${id} is at term ${t}, which can no longer grow`);
  }

  /**
   * State can vanish only when players leave for good (the Leave button). Terms and stages that no other
   * tab holds, running, frozen, offline, expired or crashed with its storage, are gone, as in any quorum
   * system that loses every replica; the checker forgets them too, and counts it. Expiry forgets nothing:
   * the tab may still be running, and the checker keeps counting what it holds.
   */
  forgotten = 0;
  /** Schedules whose room ends waiting for voters that left unheard (see checkConverged). */
  unheardLeaves = 0;
  /** The last checkConverged found the room rightly waiting. */
  waiting = false;
  private pruneForgotten(): void {
    const held: { term: number; history: readonly Entry[]; base?: Base }[] = [];
    for (const n of this.nodes.values()) {
      if (n.gone) continue;
      const p = n.player;
      const s = p
        ? { term: p.currentTerm, history: p.entries, ...(p.base ? { base: p.base } : {}) }
        : n.storage;
      if (s) held.push(s);
    }
    const maxTerm = Math.max(0, ...held.map((s) => s.term));
    for (const term of [...this.leaderOfTerm.keys()]) {
      if (term > maxTerm) {
        this.leaderOfTerm.delete(term);
        this.forgotten++;
        this.note(`forgotten: term ${term}`);
      }
    }
    for (let i = 0; i < this.committed.length; i++) {
      const key = JSON.stringify(this.committed[i]);
      // Below a base, its state stands for the entries (the checker compares it with them: checkApp).
      const holds = (s: (typeof held)[number]) => {
        const first = s.base?.entry.index ?? 0;
        if (i + 1 < first) return true;
        const e = i + 1 === first ? s.base!.entry : s.history[i - first];
        return e !== undefined && JSON.stringify(e) === key;
      };
      if (!held.some(holds)) {
        this.note(`forgotten: entries ${i + 1}..${this.committed.length}`);
        this.forgotten++;
        this.committed.length = i;
        break;
      }
    }
  }

  private seen = new Map<Id, number>();
  /** checkHonest's progress through each player's entries array, and what the entries it looked at broke. */
  private honestChecked = new Map<
    Id,
    { p: Player; h: readonly Entry[]; base: Entry | undefined; n: number; found: string[] }
  >();
  /** The highest stage each player reached (a liar must not take one back). */
  private maxStage = new Map<Id, number>();
  private checkedUpTo(id: Id): number {
    return this.seen.get(id) ?? 0;
  }

  // ---------------------------------------------------------------- reading

  player(id: Id): Player | null {
    return this.nodes.get(id)?.player ?? null;
  }

  /**
   * The live player the room converges on: the lowest live ID, passing over a player a liar took past the
   * room's stage before it ever caught up with the room. That one holds no room state and cannot lead
   * (Player.canLead) until the room reaches its stage and it catches up (hostile runs only).
   */
  first(): Player | undefined {
    const live = this.live();
    const init = live.filter((p) => p.view().initialized);
    const room = init.length > 0 ? Math.min(...init.map((p) => p.stage)) : 0;
    const held = (p: Player) => this.hostile && !p.view().initialized && p.stage > room;
    return live.find((p) => !held(p)) ?? live[0];
  }

  /** Live players: running, awake, on the server, and still members of the room. */
  live(): Player[] {
    return [...this.nodes.values()]
      .filter((n) => n.player && !n.gone && !n.frozen && !n.offline && this.sessions.has(n.id))
      .map((n) => n.player!)
      .sort((a, b) => a.self - b.self);
  }

  /** Running tabs, on the server or not. */
  running(): Player[] {
    return [...this.nodes.values()].filter((n) => n.player && !n.gone && !n.frozen).map((n) => n.player!);
  }

  allIds(): Id[] {
    return [...this.nodes.values()].filter((n) => !n.gone).map((n) => n.id);
  }

  /** Crashed tabs that may come back (their storage survives). */
  crashedIds(): Id[] {
    return [...this.nodes.values()]
      .filter((n) => !n.player && !n.gone && n.storage !== null)
      .map((n) => n.id);
  }

  offlineIds(): Id[] {
    return [...this.nodes.values()]
      .filter((n) => n.player && !n.gone && n.offline && !n.frozen)
      .map((n) => n.id);
  }

  frozenIds(): Id[] {
    return [...this.nodes.values()]
      .filter((n) => n.player && !n.gone && n.frozen && n.stalledAt === undefined)
      .map((n) => n.id);
  }

  note(line: string): void {
    if (this.recording) this.transcript.push(`${String(this.now).padStart(4)} ${line}`);
  }

  messagesSent(types?: MessageType[]): number {
    let n = 0;
    for (const [t, c] of this.counts) if (!types || types.includes(t)) n += c;
    return n;
  }

  /**
   * The replicated state machine over app values: every player's applied values (its log replayed as the
   * library does) are a prefix of one sequence, none applies twice, none was invented, and every value its
   * proposer was told is committed is in that sequence where it was told, unless every replica of it was
   * lost (all holders left for good: pruneForgotten). With a liar only "never twice" is checked: a lying
   * leader can commit lawful false entries (docs/protocol.md, "Lying players").
   */
  checkApp(): void {
    const seqs: { at: string; v: unknown }[][] = [];
    const owners: Id[] = [];
    for (const n of this.nodes.values()) {
      if (n.gone || this.liars.has(n.id)) continue;
      const p = n.player;
      const h = p?.entries ?? n.storage?.history;
      const base = (p ? p.base : n.storage?.base) ?? null;
      if (!h) continue;
      seqs.push(
        foldOf(base, h).map((x) => ({ at: x.slice(0, x.indexOf(':')), v: x.slice(x.indexOf(':') + 1) })),
      );
      owners.push(n.id);
      if (base && !this.hostile) this.checkBase(n.id, base);
    }
    let longest: { at: string; v: unknown }[] = [];
    for (const [k, q] of seqs.entries()) {
      const seen = new Map<unknown, string>();
      for (const a of q) {
        if (seen.has(a.v))
          this.violate(
            `value ${String(a.v)} applied twice in ${owners[k]}'s log (${seen.get(a.v)}, ${a.at})`,
          );
        seen.set(a.v, a.at);
      }
      if (q.length > longest.length) longest = q;
    }
    if (this.hostile) return;
    for (const q of seqs) {
      for (let i = 0; i < q.length; i++) {
        if (q[i]!.at !== longest[i]!.at || q[i]!.v !== longest[i]!.v) {
          this.violate(
            `applied values part at ${i}: ${q[i]!.at}=${String(q[i]!.v)} vs ${longest[i]!.at}=${String(longest[i]!.v)}`,
          );
          break;
        }
      }
    }
    const where = new Map(longest.map((a) => [a.v, a.at]));
    for (const a of longest)
      if (!this.appProposed.has(a.v as string))
        this.violate(`value ${String(a.v)} applied but never proposed`);
    for (const [v, at] of this.appAcked) {
      const found = where.get(v);
      if (found === at) continue;
      if (found === undefined && this.forgotten > 0) {
        this.appForgotten++;
        continue;
      }
      this.violate(`value ${v} was acknowledged at ${at} but is ${found ? `at ${found}` : 'lost'}`);
    }
  }

  /** A base against the committed log: its page sessions' numbers and players are what the entries made. */
  private checkBase(id: Id, base: Base): void {
    const upTo = this.committed.slice(0, base.entry.index);
    if (upTo.length < base.entry.index || upTo.some((e) => e === undefined)) return;
    const book = new AppBook();
    for (const e of upTo) if (e.kind === 'app') book.apply(e);
    const want = JSON.stringify(book.tuples().sort());
    if (JSON.stringify([...base.app].sort()) !== want)
      this.violate(
        `${id}'s base at ${base.entry.index} has numbers ${JSON.stringify(base.app)}, the log ${want}`,
      );
  }

  /**
   * The end-state checks, after healing and quiet: one term, one stage, the lowest live ID leads.
   * Returns the violations found (also recorded).
   */
  checkConverged(): string[] {
    const before = this.violations.length;
    this.checkApp();
    const live = this.live();
    if (live.length === 0) return [];
    // Voters that left while nobody could hear their last word are lost for good, like a crashed tab
    // that never returns: the room rightly waits for them (docs/protocol.md, "Leaving"), and says so.
    // Judged from the best-informed view: a newcomer that never caught up may not know a slot's new name.
    // A voter the owner removed is lost the same way until a majority without it commits that.
    // A slot is waited for under its last name: the one the latest tab continuing it took.
    const successor = new Map<Id, Id>();
    for (const n of this.nodes.values())
      if (n.was !== undefined) successor.set(n.was, Math.max(n.id, successor.get(n.was) ?? 0));
    const holder = (slot: Id): Id => {
      let id = slot;
      while (successor.has(id)) id = successor.get(id)!;
      return id;
    };
    // Its last word is of use if a live player holds it and a live log reaches as far as the leaver's did.
    const usableWord = (id: Id) =>
      live.some((p) =>
        (p.persisted().lastWords ?? []).some((r) => r.id === id && live.some((q) => q.length >= r.index)),
      );
    const leftUnheard = (slot: Id) => {
      const id = holder(slot);
      if (this.expelled.has(id)) return true;
      return this.nodes.get(id)?.leaving !== undefined && !this.nodes.get(id)?.player && !usableWord(id);
    };
    const views = live.map((p) => p.view());
    const informed = views.find((v) => v.waitingFor.length > 0 && v.waitingFor.every(leftUnheard));
    const waits = informed?.waitingFor ?? [];
    // Every voter left for good: nobody is left who may decide, and the room has ended.
    if (informed || views.some((v) => v.voters.length === 0)) {
      this.unheardLeaves++;
      this.waiting = true;
      this.note(`waits for voters that left unheard: ${waits}`);
      return [];
    }
    const first = this.first()!;
    // A state a removed liar handed on is repaired from a clean peer's base, or flagged where none is left.
    for (const p of live) {
      const flagged = p.view().stateFromRemoved.length > 0;
      if (!flagged && JSON.stringify(p.base?.state ?? null).includes(FALSE_STATE))
        this.violate(
          `${p.self} holds a state a liar made, unflagged (its base names ${p.base?.via ?? 'nobody'})`,
        );
      if (!flagged) continue;
      // Flagged, though its leader holds a clean base at an entry its log holds: what askRebase takes.
      const leader = live.find((q) => q.self === p.currentLeader);
      const base = leader?.base;
      if (
        base &&
        leader.view().stateFromRemoved.length === 0 &&
        !(base.via ?? []).some((id) => this.expelled.has(id)) &&
        entryAt(p, base.entry.index)?.hash === base.entry.hash
      )
        this.violate(
          `${p.self} keeps a removed player's state, though its leader ${leader.self} holds a clean base`,
        );
    }
    const lowest = first.self;
    for (const p of live) {
      if (p.currentLeader !== lowest)
        this.violate(`${p.self} follows ${p.currentLeader || 'nobody'}, lowest live is ${lowest}`);
      if (p.currentTerm !== first.currentTerm)
        this.violate(`${p.self} is in term ${p.currentTerm}, ${lowest} in ${first.currentTerm}`);
      // A player a liar took past the room's stage may not step back: the room reaches it as its players
      // finish the stages between (runSchedule clicks them through), so only a player behind is unconverged.
      const ahead = this.hostile && p.stage > first.stage;
      if (p.stage !== first.stage && !ahead)
        this.violate(`${p.self} is at stage ${p.stage}, ${lowest} at ${first.stage}`);
    }
    if (first.currentRole !== 'leader')
      this.violate(`lowest live ${lowest} is ${first.currentRole}, not leader`);
    // One history: the entries chain by hash, so agreeing at the shorter log's last index is agreeing on all of
    // it. With a liar this is the check that its forks healed after its removal (one held ahead stays on its own).
    for (const p of live) {
      if (p === first || !p.view().initialized || p.stage > first.stage) continue;
      const at = Math.min(p.length, first.length);
      const mine = entryAt(p, at);
      const theirs = entryAt(first, at);
      if (at > 0 && mine && theirs && mine.hash !== theirs.hash) {
        this.violate(
          `${p.self} and ${lowest} hold different entries at ${at}: ${showEntry(mine)}, ${showEntry(theirs)}`,
        );
        continue;
      }
      // One app state: the same entries folded onto each one's base. Only a base's state can still differ (a
      // base past the other's log cannot be compared), or one flagged as a removed player's word.
      if (at < Math.max(p.base?.entry.index ?? 0, first.base?.entry.index ?? 0)) continue;
      if (p.view().stateFromRemoved.length > 0 || first.view().stateFromRemoved.length > 0) continue;
      const ours = fold(p, at);
      const leaders = fold(first, at);
      const i = ours.findIndex((v, k) => v !== leaders[k]);
      if (i >= 0 || ours.length !== leaders.length)
        this.violate(
          `${p.self} and ${lowest} applied different values up to ${at}: ${i >= 0 ? `${ours[i]} against ${leaders[i] ?? 'nothing'}` : `${ours.length} against ${leaders.length}`}`,
        );
    }
    if (this.violations.length > before) this.noteViews();
    return this.violations.slice(before);
  }

  /** Every live player's view, into the transcript: what a failed check saw. */
  noteViews(): void {
    for (const p of this.live()) {
      const v = p.view();
      const log = p.entries;
      this.note(
        `view ${p.self}: ${v.role} term ${v.term} leader ${v.leader} stage ${v.stage} init ${v.initialized} ` +
          `voters [${v.voters}] live [${v.live}] members [${v.members}] quiet ${v.quiet} blocked ${v.blocked} ` +
          `log ${log.length}${log.length > 0 ? `/${log[log.length - 1]!.hash.slice(0, 6)}` : ''}`,
      );
    }
  }
}

/** The entry at `index` a player holds (its base's, or one above it). */
function entryAt(p: Player, index: number): Entry | undefined {
  const first = p.base?.entry.index ?? 0;
  return index === first ? p.base?.entry : p.entries[index - first - 1];
}

/** What a liar's snapshots carry as the app's state, whatever the entry (checkConverged looks for it). */
const FALSE_STATE = 'a liar made this state';

/**
 * A liar's answer to a catch-up, with the room's entry and a false state: no hash covers a base's state.
 * Only bases sent whole (one part) are changed.
 */
function falseState(liar: Id, m: Message): Message {
  if (m.t !== 'snapshot' || m.parts !== 1) return m;
  return { ...m, data: JSON.stringify({ ...JSON.parse(m.data), state: [`${liar}: ${FALSE_STATE}`] }) };
}

/** An app's state as the simulator keeps it: every applied value, with its place, as `index.n:value`. */
function foldOf(base: Base | null, entries: readonly Entry[], upTo = Number.POSITIVE_INFINITY): string[] {
  const out = [...((base?.state as string[] | undefined) ?? [])];
  const book = new AppBook(base?.app);
  for (const e of entries) {
    if (e.index > upTo || e.kind !== 'app') continue;
    for (const op of book.apply(e)) out.push(`${e.index}.${e.ops!.indexOf(op)}:${String(op.data)}`);
  }
  return out;
}

function fold(p: Player, upTo: number): string[] {
  return foldOf(p.base, p.entries, upTo);
}

function showEntry(e: Entry): string {
  if (e.kind === 'app') return `#${e.index} app=[${e.ops?.map((o) => `${o.by}:${o.c}:${o.seq}`)}]`;
  return e.kind === 'stage'
    ? `#${e.index} stage=${e.stage} done=[${e.done}]`
    : `#${e.index} members=[${e.members}]`;
}

function showAt(e: Entry | undefined): string {
  return e ? `#${e.index}/stage ${e.stage}` : '#0/stage 0';
}

function show(m: Message): string {
  switch (m.t) {
    case 'hb':
      return `hb term=${m.term} leader=${m.leader} stage=${m.stage} done=${m.done}`;
    case 'report':
      return `report term=${m.term} done=${m.done} init=${m.init} at=${showAt(m.history.at(-1))}${m.accepted ? ` accepted=${showEntry(m.accepted.entry)}@${m.accepted.ballot}` : ''}`;
    case 'accept':
    case 'advance':
      return `${m.t} term=${m.term} ${showEntry(m.entry)}`;
    case 'done':
      return `done term=${m.term} stage=${m.stage} ${m.done}`;
    case 'accepted':
      return `accepted term=${m.term} #${m.index}`;
    case 'sync':
      return `sync have=${m.index}`;
    case 'history':
      return `history ${m.entries.map((e) => `#${e.index}`).join(',')}`;
    case 'bye':
      return 'bye';
    case 'leave':
      return `leave term=${m.term} at=#${m.index}${m.accepted ? ` accepted=${showEntry(m.accepted.entry)}@${m.accepted.ballot}` : ''}`;
    case 'op':
      return `op ${m.c} ${m.ops.map((o) => o.seq).join(',')}`;
    case 'snapshot':
      return `snapshot #${m.index} part ${m.part + 1}/${m.parts}`;
    default:
      return `${m.t} term=${m.term}`;
  }
}

function showEvent(ev: CoreEvent): string {
  switch (ev.kind) {
    case 'role':
      return `becomes ${ev.role} (term ${ev.term})`;
    case 'leader':
      return `follows ${ev.leader} (term ${ev.term})`;
    case 'election':
      return `sends ELECTION to [${ev.to}]`;
    case 'propose':
      return ev.entry.kind === 'stage'
        ? `proposes stage ${ev.entry.stage} with done=[${ev.entry.done}] of members [${ev.members}]`
        : `proposes agreed members [${ev.entry.members}]`;
    case 'members':
      return `agrees on members [${ev.members}]`;
    case 'advance':
      return `advances to stage ${ev.entry.stage} (term ${ev.entry.term})`;
    default:
      return ev.kind;
  }
}
