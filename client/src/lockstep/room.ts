// A Room: the driver (net/session.ts) and its store behind the public API. Platform pieces (signaling,
// WebRTC, timers, storage, the page) come in as RoomDeps, so tests run it over fakes.

import {
  AppBook,
  applyOps,
  type Base,
  type CoreEvent,
  type Entry,
  FIRST_MEMBERS,
  renameIn,
} from '../core/index.ts';
import { Bucket } from '../net/bucket.ts';
import { Chaos } from '../net/chaos.ts';
import { SealedSignaling } from '../net/sealedSignaling.ts';
import { type CommittedLog, type KeyValueStorage, Session, type SessionDeps } from '../net/session.ts';
import type { SignalingPort } from '../net/signaling.ts';
import type { LinkFactory } from '../net/transport.ts';
import { CHANNEL_NAME } from '../protocol/frames.ts';
import { LIMITS } from '../protocol/limits.ts';
import { untilBeat } from '../store/perFrame.ts';
import { type AppState, type AppStore, createAppStore } from '../store/store.ts';
import { fromServerCode, LockstepError } from './errors.ts';
import type { CheckedOptions } from './options.ts';
import { toSnapshot, toStage } from './snapshot.ts';
import type {
  Channel,
  ChannelOptions,
  JoinProgress,
  LogItem,
  LogOptions,
  LogPosition,
  Player,
  PlayerId,
  Room,
  RoomEvents,
  RoomSnapshot,
  RoomStatus,
  Unsubscribe,
} from './types.ts';

/** The page a browser room lives in: its visibility and lifecycle events. Absent in Node. */
export interface PageHooks {
  hidden(): boolean;
  /** Subscribes; returns the unsubscribe function. */
  on(event: 'visibility' | 'pagehide' | 'resume' | 'pageshow-persisted', fn: () => void): () => void;
}

export interface RoomDeps {
  signaling: SignalingPort;
  factory: LinkFactory;
  storage: KeyValueStorage | null;
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  random(): number;
  holdIdentity?: SessionDeps['holdIdentity'];
  stamps?: SessionDeps['stamps'];
  page?: PageHooks;
  /** An existing store to write into (the app's devtools read it); default: a new one. */
  store?: AppStore;
  /** Tests only: fewer PBKDF2 rounds for password rooms. */
  iterations?: number;
}

/** A round-trip time is measured on every ping; a new one shows at most this often. */
const RTT_SHOWN_MS = 1_000;

const ENDED = new Set(['failed', 'removed', 'replaced', 'left', 'outdated']);
const EVENT_ORDER = ['server', 'players', 'leader', 'stage', 'quorum', 'closed', 'change'] as const;
/** Changes made by listeners while events are told, told in turn after them (update): at most this many. */
const MAX_EVENT_ROUNDS = 1_000;
const EVENTS = new Set<string>([...EVENT_ORDER, 'invalid']);
/** Methods an app may pass around detached (`onClick={room.leave}`): bound to the room. */
const BOUND = [
  'on',
  'setDone',
  'setAway',
  'channel',
  'propose',
  'onEntry',
  'snapshot',
  'removePlayer',
  'leave',
  'close',
] as const;

/**
 * A store whose reads throw (storage disabled, or the app's own) reads as empty, rather than failing the join.
 * Writes still throw: the saved state is written all or nothing (SavedWriter), and a write that fails must
 * take the stale record with it, or a reload would resume past promises it no longer holds.
 */
function guarded(store: KeyValueStorage): KeyValueStorage {
  return {
    getItem: (k) => {
      try {
        const v = store.getItem(k);
        return typeof v === 'string' ? v : null;
      } catch (err) {
        console.warn(`lockstep: storage unreadable, nothing saved is used: ${err}`);
        return null;
      }
    },
    setItem: (k, v) => store.setItem(k, v),
    removeItem: (k) => store.removeItem(k),
  };
}

function needFunction(fn: unknown, what: string): void {
  if (typeof fn !== 'function') throw new LockstepError('bad_argument', `${what} must be a function`);
}

type AnyListener = (value: never) => void;

interface EntryRec {
  listener: (item: LogItem<never, never>) => void;
  from: number;
  /** Replayed up to the shared cursor: new items reach it as they commit. */
  live: boolean;
  /** Made once the room had ended: its replay of the log (final now) still comes. */
  late: boolean;
}

interface Waiting {
  resolve(at: LogPosition): void;
  reject(err: LockstepError): void;
  timer: unknown;
}

interface ChannelRec {
  parse: ((data: unknown) => unknown) | undefined;
  listeners: Set<(data: never, from: PlayerId) => void>;
}

const internalsOf = new WeakMap<Room, RoomImpl>();

/** The store, driver and fault injection behind a Room, for the devtools. Not public. */
export function roomInternals(room: Room): { store: AppStore; session: Session; chaos: Chaos | null } | null {
  const r = internalsOf.get(room);
  return r ? { store: r.store, session: r.session, chaos: r.chaos } : null;
}

/** The test hook's page API (README, "Automation contract"), with `testHooks: true` only. */
export interface LockstepTestHooks {
  /** This tab's player ID, or null before it has one. */
  self(): number | null;
  /** Sends `message` as a core message to player `to`, unchecked, over the data channel or the relay. */
  send(to: number, message: unknown): boolean;
}

type HookWindow = { lockstepTest?: LockstepTestHooks };

function playersKey(players: Player[]): string {
  return players
    .map((p) => [p.id, p.name, p.state, p.done, p.isLeader, p.stage, p.removed, p.owner].join())
    .join('|');
}

function report(err: unknown): void {
  console.error('lockstep: a listener threw', err);
}

/** Entry `i` of a committed log, from its base's on. */
function entryAt(log: CommittedLog, i: number): Entry | undefined {
  const first = log.base?.entry.index ?? 0;
  return i === first ? log.base?.entry : log.entries[i - first - 1];
}

export class RoomImpl implements Room {
  readonly store: AppStore;
  readonly session: Session;
  readonly chaos: Chaos | null;
  /** Settles once joined, or with the reason it could not join. */
  readonly joined: Promise<void>;
  private snap: RoomSnapshot | null = null;
  private key = '';
  private closedHere = false;
  private away = false;
  private torn = false;
  /** Settles when the room stops (teardown): a leave in flight ends with it. */
  private readonly stopped: Promise<void>;
  private markStopped: () => void = () => {};
  private leaving: Promise<void> | null = null;
  /** The last snapshot `change` carried. */
  private told: RoomSnapshot | null = null;
  private readonly listeners = new Map<string, Set<AnyListener>>();
  private readonly channels = new Map<string, Set<ChannelRec>>();
  private readonly timers = new Set<unknown>();
  private readonly cleanup: (() => void)[] = [];
  private removeHooks: () => void = () => {};
  /** room.propose calls waiting for the log, by the core's proposal id. */
  private readonly waiting = new Map<number, Waiting>();
  private readonly outcomes: { id: number; at: LogPosition | null }[] = [];
  private readonly proposeBudget = new Bucket(LIMITS.app.burst, LIMITS.app.perSec);
  private readonly entryRecs = new Set<EntryRec>();
  /** The last index delivered to live subscribers, and each page session's last applied number there. */
  private cursor = 0;
  private cursorHash = '';
  private appLast = new Map<string, number>();
  private pumpQueued = false;
  /** The index of the item a listener is handling, or 0: its entry is not delivered whole yet. */
  private delivering = 0;
  /** The lowest index a fork changed since the last pump (only a lying leader forks a log). */
  private forkAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly opts: CheckedOptions,
    private readonly deps: RoomDeps,
    abort?: AbortSignal,
  ) {
    for (const m of BOUND) (this as Record<string, unknown>)[m] = this[m].bind(this);
    this.stopped = new Promise((resolve) => {
      this.markStopped = resolve;
    });
    this.store = deps.store ?? createAppStore();
    const store = this.store;
    // The session's reset keeps this: the room is sealed from its first frame.
    store.getState().actions.reset(opts.room, opts.name, deps.now(), opts.password !== undefined);
    // Latency timers are tracked like the driver's, so a closed room leaves none behind.
    const setTimeout = (fn: () => void, ms: number) => {
      const h = deps.setTimeout(() => {
        this.timers.delete(h);
        fn();
      }, ms);
      this.timers.add(h);
      return h;
    };
    this.chaos = opts.chaos ? new Chaos({ delay: setTimeout, store, now: deps.now }) : null;
    // Round trips are renewed on the clock's whole seconds, as the devtools' once-a-second figures are, so one
    // frame shows them all; a quiet room may publish nothing near the second.
    const beat = () =>
      setTimeout(
        () => {
          if (this.torn) return;
          this.update();
          beat();
        },
        untilBeat(RTT_SHOWN_MS, deps.now()),
      );
    beat();
    let signaling = deps.signaling;
    if (opts.password !== undefined) {
      signaling = new SealedSignaling(signaling, {
        room: opts.room,
        password: opts.password,
        ...(deps.iterations ? { iterations: deps.iterations } : {}),
        onReject: (from, kind, error) => {
          console.warn(`lockstep: dropped a ${kind} payload from ${from}: ${error}`);
          store.getState().actions.decryptFailed({
            kind: 'bad',
            text: `rejected a ${kind} payload from ${from}: ${error}`,
            at: deps.now() - store.getState().session.startedAt,
          });
        },
      });
    }
    if (this.chaos) signaling = this.chaos.signaling(signaling);
    this.session = new Session(
      { room: opts.room, name: opts.name, settings: opts.settings },
      {
        signaling,
        factory: this.chaos ? this.chaos.factory(deps.factory) : deps.factory,
        store,
        now: deps.now,
        storage: deps.storage && guarded(deps.storage),
        setInterval: deps.setInterval,
        clearInterval: deps.clearInterval,
        setTimeout,
        random: deps.random,
        ...(deps.holdIdentity ? { holdIdentity: deps.holdIdentity } : {}),
        ...(deps.stamps ? { stamps: deps.stamps } : {}),
        onApp: (from, channel, data) => this.onApp(from, channel, data),
        onCoreEvents: (events) => this.onCoreEvents(events),
      },
    );
    internalsOf.set(this, this);
    const page = deps.page;
    if (page) {
      this.away = page.hidden();
      this.session.setAway(this.away);
      this.cleanup.push(
        page.on('visibility', () => this.setAway(page.hidden())),
        page.on('pagehide', () => this.session.goodbye()),
        page.on('resume', () => this.session.resume()),
        page.on('pageshow-persisted', () => this.session.welcomeBack()),
      );
    }
    if (opts.testHooks) this.installTestHooks();
    this.joined = this.join(abort);
  }

  /**
   * e2e tests play a lying player through it. It grants nothing a player with devtools lacks (any page script
   * could already send anything), and it says so in the event log so nobody runs it unawares.
   */
  private installTestHooks(): void {
    if (typeof window === 'undefined') return;
    const session = this.session;
    // After the room ends they stay, answering null and false (README), until close() takes them away.
    const hooks: LockstepTestHooks = Object.freeze({
      self: () => (this.torn ? null : this.store.getState().session.selfId),
      send: (to: number, message: unknown) => !this.torn && session.testSend(to, message),
    });
    (window as unknown as HookWindow).lockstepTest = hooks;
    console.warn('lockstep: test hooks are on (testHooks): window.lockstepTest can send any core message');
    this.store.getState().actions.log([{ kind: 'chaos', text: 'test hooks are on (testHooks)', at: 0 }]);
    this.removeHooks = () => {
      const w = window as unknown as HookWindow;
      if (w.lockstepTest === hooks) delete w.lockstepTest;
    };
  }

  private join(abort: AbortSignal | undefined): Promise<void> {
    const { store, deps } = this;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let everUp = false;
      const finish = (err?: LockstepError) => {
        if (settled) return;
        settled = true;
        deps.clearTimeout(timer);
        unsubscribe();
        abort?.removeEventListener('abort', onAbort);
        if (err) {
          this.removeHooks();
          // Given up (aborted, timed out) while the server may have made our player already: go as a closed
          // tab does, or that player vanishes after its grace, and a room it opened stays shut to others.
          if (!ENDED.has(store.getState().session.phase)) this.session.goodbye();
          this.teardown();
          reject(err);
          return;
        }
        this.update();
        this.cleanup.push(store.subscribe(() => this.update()));
        resolve();
      };
      let told = '';
      const progress = (p: JoinProgress) => {
        const said = `${p.step}\n${p.detail}`;
        if (said === told || !this.opts.onProgress) return;
        told = said;
        try {
          this.opts.onProgress(p);
        } catch (err) {
          // The page's error, reported as a listener's is; the join goes on (thrown, it would end a Node process).
          report(err);
        }
      };
      const check = () => {
        const s = store.getState();
        if (s.session.signaling === 'up') everUp = true;
        const phase = s.session.phase;
        if (phase === 'joined' && s.view) finish();
        else if (ENDED.has(phase)) {
          const code =
            phase === 'failed'
              ? fromServerCode(s.session.errorCode)
              : phase === 'left'
                ? 'not_joined'
                : phase;
          finish(
            new LockstepError(code as LockstepError['code'], s.session.error ?? `could not join: ${phase}`),
          );
        } else if (phase === 'joined') {
          // Joined, its first view a moment away: nothing more to tell.
        } else if (s.session.signaling === 'down') {
          progress({ step: 'connecting', detail: s.session.signalingDetail });
        } else if (s.session.error) {
          // A refusal waited out, also across the new connection a spent join budget asks for.
          progress({ step: 'waiting', detail: s.session.error });
        } else if (s.session.signaling === 'connecting') {
          progress({ step: 'connecting', detail: '' });
        } else progress({ step: 'joining', detail: '' });
      };
      const onAbort = () => finish(new LockstepError('aborted', 'the join was aborted'));
      const unsubscribe = store.subscribe(check);
      const timer = deps.setTimeout(() => {
        const { signalingDetail: detail, error: said } = store.getState().session;
        finish(
          everUp
            ? new LockstepError(
                'timeout',
                `not joined within ${this.opts.timeoutMs} ms${said ? ` (${said})` : ''}`,
              )
            : new LockstepError(
                'unreachable',
                `cannot reach the signaling server ${this.opts.server}${detail ? ` (${detail})` : ''}`,
              ),
        );
      }, this.opts.timeoutMs);
      // Nothing here should throw, but whatever does ends the join as an error, timer and all.
      try {
        if (abort?.aborted) return onAbort();
        abort?.addEventListener('abort', onAbort);
        this.session.start();
        check();
      } catch (err) {
        finish(new LockstepError('refused', `could not join: ${(err as Error)?.message ?? err}`));
      }
    });
  }

  // ------------------------------------------------------------------ reading

  getSnapshot = (): RoomSnapshot => {
    if (!this.snap) throw new LockstepError('not_joined', 'the room is not joined yet');
    return this.snap;
  };

  get selfId() {
    return this.getSnapshot().selfId;
  }
  get leaderId() {
    return this.getSnapshot().leaderId;
  }
  get isLeader() {
    return this.getSnapshot().isLeader;
  }
  get term() {
    return this.getSnapshot().term;
  }
  get stage() {
    return this.getSnapshot().stage;
  }
  get players() {
    return this.getSnapshot().players;
  }
  get quorum() {
    return this.getSnapshot().quorum;
  }
  get history() {
    return this.getSnapshot().history;
  }
  get server() {
    return this.getSnapshot().server;
  }

  subscribe = (listener: () => void): Unsubscribe => {
    needFunction(listener, 'listener');
    return this.on('change', () => listener());
  };

  on<E extends keyof RoomEvents>(event: E, listener: (value: RoomEvents[E]) => void): Unsubscribe {
    if (!EVENTS.has(event))
      throw new LockstepError('bad_argument', `no event ${JSON.stringify(String(event).slice(0, 40))}`);
    needFunction(listener, 'listener');
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    // A fresh wrapper, so one function subscribed twice is called twice and unsubscribed once per call.
    const entry: AnyListener = (v: never) => listener(v);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  private emit<E extends keyof RoomEvents>(event: E, value: RoomEvents[E], whole = false): void {
    // A copy: listeners added meanwhile wait for the next event; removed ones are skipped.
    const set = this.listeners.get(event);
    if (!set) return;
    const ended = this.torn;
    for (const fn of [...set]) {
      // A listener ended the room (close, leave): everyone heard `closed` from there, and nothing comes after it.
      // The news that the room ended is told whole, whatever a listener does on hearing it (a cleanup's close).
      if (this.torn && !ended && !whole) return;
      if (!set.has(fn)) continue;
      try {
        (fn as (v: RoomEvents[E]) => void)(value);
      } catch (e) {
        report(e);
      }
    }
  }

  private status(s: AppState): RoomStatus {
    if (this.closedHere) return 'closed';
    const p = s.session.phase;
    return ENDED.has(p) ? (p as RoomStatus) : 'joined';
  }

  /**
   * Each player's round-trip time as last shown: all are shown anew together, on the clock's whole seconds (the
   * beat in the constructor). Renewed one by one, each on its own second, a resting room changed its snapshot
   * (and the players list its text) once a second per player.
   */
  private readonly rtts = new Map<PlayerId, { rttMs: number | null; state: Player['state'] }>();
  private rttsShownAt = Number.NEGATIVE_INFINITY;
  /** Events of changes made while others are being told (update), in order. */
  private readonly batches: { [E in keyof RoomEvents]?: RoomEvents[E] }[] = [];
  private emitting = false;

  private update(): void {
    const s = this.store.getState();
    const next = toSnapshot(s, this.status(s), this.away);
    if (!next) return;
    const now = this.deps.now();
    const renew = Math.floor(now / RTT_SHOWN_MS) !== Math.floor(this.rttsShownAt / RTT_SHOWN_MS);
    if (renew) this.rttsShownAt = now;
    for (const p of next.players) {
      const shown = this.rtts.get(p.id);
      // A new path (direct, relayed) has a round trip of its own: shown at once.
      if (renew || !shown || shown.rttMs === null || p.rttMs === null || shown.state !== p.state)
        this.rtts.set(p.id, { rttMs: p.rttMs, state: p.state });
      else p.rttMs = shown.rttMs;
    }
    // IDs are not reused while the room lives: players no longer listed are gone for good.
    if (this.rtts.size > next.players.length) {
      const listed = new Set(next.players.map((p) => p.id));
      for (const id of this.rtts.keys()) if (!listed.has(id)) this.rtts.delete(id);
    }
    const key = JSON.stringify(next);
    if (key === this.key) return;
    const prev = this.snap;
    this.snap = next;
    this.key = key;
    // Ended: the last snapshot stays current (its connection closing), but nothing is said after `closed`.
    if (!prev || this.torn) return;
    const changed: { [E in keyof RoomEvents]?: RoomEvents[E] } = {};
    // Once the room ended for us, its connection going with it is no news.
    if (prev.server.status !== next.server.status && next.status === 'joined') changed.server = next.server;
    if (playersKey(prev.players) !== playersKey(next.players)) changed.players = next.players;
    if (prev.leaderId !== next.leaderId || prev.term !== next.term || prev.isLeader !== next.isLeader)
      changed.leader = { leaderId: next.leaderId, term: next.term, isLeader: next.isLeader };
    if (prev.stage.index !== next.stage.index) changed.stage = { ...next.stage, term: next.term };
    if (prev.quorum.ok !== next.quorum.ok || prev.quorum.lost !== next.quorum.lost)
      changed.quorum = next.quorum;
    if (prev.status === 'joined' && next.status !== 'joined')
      changed.closed = { status: next.status, error: next.error };
    changed.change = next;
    this.batches.push(changed);
    // A listener that changes the room (setDone, setAway) lands here again while its event is being told: the
    // snapshot is current at once, but the new events wait until every listener heard the older ones. Told
    // inside, a later listener would hear stage 4, 3, 2, 1 and end on a stale one.
    if (this.emitting) return;
    this.emitting = true;
    let rounds = 0;
    try {
      for (let batch = this.batches.shift(); batch; batch = this.batches.shift()) {
        // A listener that changes the room at every event would keep this going for ever: past a bound the
        // changes are still in the snapshot, but their events are dropped, and the app is told why.
        if (++rounds > MAX_EVENT_ROUNDS) {
          console.error(
            `lockstep: listeners changed the room ${MAX_EVENT_ROUNDS} times in a row while its events were told: the rest of those events are dropped`,
          );
          break;
        }
        for (const e of EVENT_ORDER) {
          if (batch[e] === undefined) continue;
          // A listener ended the room (close, leave): older news is stale, and only the batch that says
          // `closed` is told, whole. Nothing comes after it.
          if (this.torn && !batch.closed) break;
          // `change` carries the newest snapshot, once.
          if (e === 'change') {
            if (this.told === this.snap) continue;
            this.told = this.snap;
          }
          this.emit(e, (e === 'change' ? this.snap : batch[e]) as never, batch.closed !== undefined);
        }
        if (batch.closed) {
          this.teardown();
          break;
        }
      }
    } finally {
      this.emitting = false;
      this.batches.length = 0;
    }
  }

  // ------------------------------------------------------------------ the agreed log

  propose<T>(value: T): Promise<LogPosition> {
    if (this.torn || this.snap?.status !== 'joined')
      return Promise.reject(new LockstepError('not_joined', 'the room is not joined'));
    if (!this.proposeBudget.take(this.deps.now()).ok)
      return Promise.reject(
        new LockstepError(
          'rate_limited',
          `more than ${LIMITS.app.perSec} proposals a second (${LIMITS.app.burst} at once): not proposed`,
        ),
      );
    const r = this.session.propose(value);
    if (!r.ok) {
      // Nothing went out: a refused value must not spend the budget good ones need.
      this.proposeBudget.refund();
      return Promise.reject(new LockstepError(r.code, `propose: ${r.error}`));
    }
    const id = r.id;
    let settle!: Pick<Waiting, 'resolve' | 'reject'>;
    const promise = new Promise<LogPosition>((resolve, reject) => (settle = { resolve, reject }));
    const timer = this.deps.setTimeout(() => {
      this.timers.delete(timer);
      // Taken back only if no leader was ever offered it; otherwise the log decides it (a failover at most).
      for (const n of this.session.withdraw(id)) {
        const w = this.takeWaiting(n);
        w?.reject(
          new LockstepError(
            'no_quorum',
            `no leader took the value within ${this.opts.proposeTimeoutMs} ms: taken back, it will never be committed`,
          ),
        );
      }
    }, this.opts.proposeTimeoutMs);
    this.timers.add(timer);
    this.waiting.set(id, { ...settle, timer });
    return promise;
  }

  onEntry<T = unknown, S = unknown>(
    listener: (item: LogItem<T, S>) => void,
    options: LogOptions = {},
  ): Unsubscribe {
    needFunction(listener, 'listener');
    const from = options?.from ?? 1;
    if (!Number.isSafeInteger(from) || from < 1)
      throw new LockstepError('bad_argument', 'from must be a log index (1 or more)');
    const rec: EntryRec = { listener: listener as EntryRec['listener'], from, live: false, late: this.torn };
    this.entryRecs.add(rec);
    // The replay comes on a microtask: the caller has its unsubscribe function before the first item.
    queueMicrotask(() => {
      if (!this.entryRecs.has(rec) || (this.torn && !rec.late)) return;
      // Bring the shared cursor to the tip first (a reloaded page starts with a log nobody announced).
      this.pumpEntries();
      this.replay(rec);
      rec.live = true;
    });
    return () => {
      this.entryRecs.delete(rec);
    };
  }

  /**
   * Everything up to the shared cursor, to one subscription (it may unsubscribe on the way): the snapshot
   * first when the log starts from one at or after `from`, then the entries after it.
   */
  private replay(rec: EntryRec): void {
    const log = this.session.committed();
    const { base, entries } = log;
    const last = new AppBook(base?.app).last;
    if (base && base.entry.index >= rec.from && this.entryRecs.has(rec))
      this.deliver(rec, this.snapshotItem(base));
    // Live, the shared cursor brings the rest; after the end nothing does, so a late one reads the log whole.
    const end = rec.late ? log.length : this.cursor;
    for (const e of entries) {
      if (e.index > end) return;
      for (const item of this.itemsOf(e, last, log)) {
        // A listener ended the room meanwhile: nothing more, as with events.
        if (!this.entryRecs.has(rec) || (this.torn && !rec.late)) return;
        if (item.index >= rec.from) this.deliver(rec, item);
      }
    }
  }

  snapshot(index: number, state: unknown): void {
    if (this.torn || this.snap?.status !== 'joined')
      throw new LockstepError('not_joined', 'the room is not joined');
    const log = this.session.committed();
    const first = log.base?.entry.index ?? 0;
    // Our log was cut (a fork) after the items this state folds: it would stand for entries the room never had.
    if (
      this.forkAt !== Number.POSITIVE_INFINITY ||
      (this.cursor >= first && this.cursor > 0 && entryAt(log, this.cursor)?.hash !== this.cursorHash)
    )
      throw new LockstepError(
        'bad_argument',
        'snapshot: the log changed under these items; fold the reset that follows first',
      );
    const delivered = this.delivering > 0 ? Math.min(this.cursor, this.delivering - 1) : this.cursor;
    if (!Number.isSafeInteger(index) || index <= first || index > delivered)
      throw new LockstepError(
        'bad_argument',
        `snapshot: index must be one onEntry delivered whole, above the last snapshot's: (${first}, ${delivered}]`,
      );
    const r = this.session.compact(index, state);
    if (!r.ok) throw new LockstepError(r.code, `snapshot: ${r.error}`);
  }

  private takeWaiting(id: number): Waiting | undefined {
    const w = this.waiting.get(id);
    if (!w) return undefined;
    this.waiting.delete(id);
    this.timers.delete(w.timer);
    this.deps.clearTimeout(w.timer);
    return w;
  }

  private onCoreEvents(events: readonly CoreEvent[]): void {
    let log = false;
    for (const e of events) {
      if (e.kind === 'forked') this.forkAt = Math.min(this.forkAt, e.index);
      // A members entry commits too: a slot's new name is an item (renamed), due when it commits.
      if (
        e.kind === 'commit' ||
        e.kind === 'advance' ||
        e.kind === 'members' ||
        e.kind === 'forked' ||
        e.kind === 'snapshot'
      )
        log = true;
      else if (e.kind === 'proposed') this.outcomes.push({ id: e.id, at: { index: e.index, offset: e.n } });
      else if (e.kind === 'superseded') this.outcomes.push({ id: e.id, at: null });
    }
    if ((log || this.outcomes.length > 0) && !this.pumpQueued) {
      this.pumpQueued = true;
      // Not inside the driver's drain: a listener may well propose again.
      queueMicrotask(() => this.pumpEntries());
    }
  }

  /** New committed items to every live subscriber, then the proposals they decided. */
  private pumpEntries(): void {
    this.pumpQueued = false;
    if (this.torn) return;
    const log = this.session.committed();
    const { base, entries, length } = log;
    const first = base?.entry.index ?? 0;
    // Our log was cut below what we delivered and took the room's (only a lying leader forks a log): every
    // subscription hears `reset`, then the whole log again, so an app folds the room's history afresh.
    const changed =
      this.forkAt <= this.cursor ||
      length < this.cursor ||
      (this.cursor > 0 && this.cursor >= first && entryAt(log, this.cursor)?.hash !== this.cursorHash);
    if (changed) {
      const index = Math.min(this.forkAt, length + 1, this.cursor);
      this.restart(base);
      for (const e of entries) if (e.kind === 'app') applyOps(this.appLast, e);
      this.cursor = length;
      this.cursorHash = entryAt(log, length)?.hash ?? '';
      for (const rec of [...this.entryRecs]) {
        if (!rec.live) continue;
        this.deliver(rec, { kind: 'reset', index });
        this.replay(rec);
      }
    } else if (base && this.cursor < first) {
      // The core took a peer's snapshot (it lacked what the snapshot covers): its state stands for
      // everything up to it. Our own compaction never gets here: it stays at or below the cursor.
      this.restart(base);
      for (const rec of [...this.entryRecs])
        if (rec.live && rec.from <= first && this.entryRecs.has(rec))
          this.deliver(rec, this.snapshotItem(base));
    }
    this.forkAt = Number.POSITIVE_INFINITY;
    for (; this.cursor < length; this.cursor++) {
      const e = entryAt(log, this.cursor + 1)!;
      // A listener another one removed on the way is not called (as with events).
      for (const item of this.itemsOf(e, this.appLast, log))
        for (const rec of [...this.entryRecs]) {
          // A listener ended the room: nothing more is delivered (a reload replays the log).
          if (this.torn) return;
          if (rec.live && item.index >= rec.from && this.entryRecs.has(rec)) this.deliver(rec, item);
        }
      this.cursorHash = e.hash;
    }
    for (const { id, at } of this.outcomes.splice(0)) {
      const w = this.takeWaiting(id);
      if (!w) continue;
      if (at) w.resolve(at);
      else
        w.reject(
          new LockstepError(
            'superseded',
            'another value took this proposal’s number in the log: it never applies',
          ),
        );
    }
  }

  /** The shared cursor at the log's base (or its start), before the entries after it. */
  private restart(base: Base | null): void {
    this.cursor = base?.entry.index ?? 0;
    this.cursorHash = base?.entry.hash ?? '';
    this.appLast = new AppBook(base?.app).last;
  }

  /** The base as the app sees it: its own state there, a copy for each listener. */
  private snapshotItem(base: Base): LogItem {
    return {
      kind: 'snapshot',
      index: base.entry.index,
      stage: toStage(this.store.getState().session.settings?.stages ?? [], base.entry.stage),
      state: structuredClone(base.state),
    };
  }

  /** What one log entry means to the app: a stage, app values, or a player that plays on under a new ID. */
  private itemsOf(e: Entry, last: Map<string, number>, log: CommittedLog): LogItem[] {
    const stages = this.store.getState().session.settings?.stages ?? [];
    const stage = (n: number) => toStage(stages, n);
    if (e.kind === 'stage')
      return [{ kind: 'stage', index: e.index, stage: stage(e.stage), term: e.term, doneBy: [...e.done] }];
    if (e.kind === 'members') {
      // Other membership changes (joins, leaves) mean nothing to the app's state; a new name for a slot does.
      const renamed = renameIn(entryAt(log, e.index - 1)?.members ?? FIRST_MEMBERS, e);
      return renamed ? [{ kind: 'renamed', index: e.index, from: renamed.out, to: renamed.in }] : [];
    }
    if (e.kind !== 'app') return [];
    return applyOps(last, e).map((op) => ({
      kind: 'app',
      index: e.index,
      offset: e.ops!.indexOf(op),
      by: op.by,
      // A copy: what a listener does with it must not touch the log (its hashes cover the value).
      data: structuredClone(op.data),
      stage: stage(e.stage),
      term: e.term,
    }));
  }

  private deliver(rec: EntryRec, item: LogItem): void {
    const outer = this.delivering;
    this.delivering = item.index;
    try {
      rec.listener(item as LogItem<never, never>);
    } catch (e) {
      report(e);
    } finally {
      this.delivering = outer;
    }
  }

  /** The room ended for us: whatever is still waiting may yet be committed by the others, but not seen here. */
  private dropWaiting(): void {
    for (const id of [...this.waiting.keys()])
      this.takeWaiting(id)!.reject(
        new LockstepError(
          'not_joined',
          'left the room before the value was committed: the others may still commit it',
        ),
      );
    this.waiting.clear();
  }

  // ------------------------------------------------------------------ acting

  setDone(done: boolean): void {
    // Sent to every peer as it is: anything but a boolean would make their validators refuse our reports.
    if (typeof done !== 'boolean') throw new LockstepError('bad_argument', 'done must be true or false');
    // Once the room ended, nobody hears it, and a saved Done nobody saw would come back with a reload.
    if (this.ended()) return;
    this.session.setDone(done);
  }

  setAway(away: boolean): void {
    if (typeof away !== 'boolean') throw new LockstepError('bad_argument', 'away must be true or false');
    if (this.ended()) return;
    this.away = away;
    this.session.setAway(away);
    if (this.snap) this.update();
  }

  channel<T = unknown>(name: string, options: ChannelOptions<T> = {}): Channel<T> {
    if (typeof name !== 'string' || !CHANNEL_NAME.test(name))
      throw new LockstepError('bad_argument', 'a channel name is 1–64 characters of A–Z a–z 0–9 _ . : -');
    const parse = options?.parse;
    if (parse !== undefined) needFunction(parse, 'parse');
    const rec: ChannelRec = { parse, listeners: new Set() };
    const send = (data: T, o: { to?: PlayerId | PlayerId[] } = {}): PlayerId[] => {
      const target = o?.to;
      const to = target === undefined ? undefined : Array.isArray(target) ? target : [target];
      if (to?.some((id) => !Number.isSafeInteger(id) || id <= 0))
        throw new LockstepError('bad_argument', 'to must be a player ID or a list of them');
      if (this.snap?.status !== 'joined') throw new LockstepError('not_joined', 'the room is not joined');
      const res = this.session.sendApp(name, data, to);
      if (!res.ok) throw new LockstepError(res.code, `${name}: ${res.error}`);
      return res.to;
    };
    const on = (listener: (data: T, from: PlayerId) => void): Unsubscribe => {
      needFunction(listener, 'listener');
      const entry = (d: never, from: PlayerId) => listener(d, from);
      rec.listeners.add(entry);
      let set = this.channels.get(name);
      if (!set) {
        set = new Set();
        this.channels.set(name, set);
      }
      set.add(rec);
      return () => {
        // Once only: called again after newer listeners came, it would take their set out of the map.
        if (!rec.listeners.delete(entry)) return;
        if (rec.listeners.size === 0) set.delete(rec);
        if (set.size === 0 && this.channels.get(name) === set) this.channels.delete(name);
      };
    };
    return { name, send, on };
  }

  private onApp(from: PlayerId, name: string, data: unknown): void {
    const recs = this.channels.get(name);
    if (!recs || recs.size === 0) {
      this.emit('invalid', { from, channel: name, reason: 'no channel of that name is open here' });
      return;
    }
    for (const rec of [...recs]) {
      // A listener ended the room (close, leave): nothing more is delivered, as with events.
      if (this.torn) return;
      let value: unknown = data;
      if (rec.parse) {
        try {
          value = rec.parse(data);
        } catch (e) {
          this.emit('invalid', { from, channel: name, reason: e instanceof Error ? e.message : String(e) });
          continue;
        }
      }
      for (const fn of [...rec.listeners]) {
        if (this.torn) return;
        if (!rec.listeners.has(fn)) continue;
        try {
          fn(value as never, from);
        } catch (e) {
          report(e);
        }
      }
    }
  }

  async removePlayer(id: PlayerId): Promise<void> {
    if (!Number.isSafeInteger(id) || id <= 0)
      throw new LockstepError('bad_argument', 'id must be a player ID');
    if (this.torn) throw new LockstepError('not_joined', 'the room is not joined');
    const res = await this.session.removePlayer(id);
    if (!res.ok) throw new LockstepError(fromServerCode(res.code), res.error);
  }

  /** Stopped here, or its last snapshot says the room ended (its own events may still be going out). */
  private ended(): boolean {
    return this.torn || (this.snap !== null && this.snap.status !== 'joined');
  }

  /** One leave however often it is called; close() or the room ending meanwhile ends it too. */
  leave(): Promise<void> {
    if (this.leaving) return this.leaving;
    // Ended already (a `closed` listener cleaning up): nothing to leave, and the room stays as it ended.
    if (this.ended()) {
      this.teardown();
      return Promise.resolve();
    }
    this.leaving = (async () => {
      try {
        // The session's wait runs on our timers, which a teardown clears: it would never end.
        await Promise.race([this.session.leave(), this.stopped]);
      } finally {
        if (!this.torn) {
          this.update();
          this.teardown();
        }
      }
    })();
    return this.leaving;
  }

  close(): void {
    this.removeHooks();
    // Ended already (a `closed` listener cleaning up): the room stays as it ended, and everyone hears why.
    if (this.ended()) {
      this.teardown();
      return;
    }
    // Closed first: the socket's close that follows is not the server going down.
    this.closedHere = true;
    // As a closed tab does: the others and the server hear we are going (a rejoin within grace still resumes).
    this.session.goodbye();
    this.session.stop();
    this.update();
    this.teardown();
  }

  /** Stops the driver, its timers and our page listeners; the last snapshot stays readable. */
  private teardown(): void {
    if (this.torn) return;
    this.torn = true;
    this.markStopped();
    this.dropWaiting();
    this.session.stop();
    for (const fn of this.cleanup.splice(0)) fn();
    for (const h of this.timers) this.deps.clearTimeout(h);
    this.timers.clear();
  }
}
