// The driver: signaling + mesh around one core Player. Real time becomes tick(), frames become step(),
// and ready() is drained after each of them. Timers, storage and transports are injected for tests.

import {
  type Base,
  type CompactResult,
  type CoreEvent,
  type Entry,
  type Envelope,
  type Id,
  type Persisted,
  Player,
  type Proposals,
  type ProposeResult,
  parseMessage,
  type Roster,
  seededRng,
  timingFromMs,
  type View,
} from '../core/index.ts';
import { encodeFrame, MAX_FRAME_CHARS } from '../protocol/frames.ts';
import { LIMITS, PROTOCOL_VERSION } from '../protocol/limits.ts';
import { newClientId, utf8Bytes } from '../protocol/messages.ts';
import {
  type Ack,
  type Joined,
  type JoinRequest,
  ROOM_WAITS,
  type RoomSettings,
  type RosterMsg,
} from '../protocol/signaling.ts';
import { type AppStore, describeEvent, LOG_CAP, type LogKind, type SessionPhase } from '../store/store.ts';
import { Bucket } from './bucket.ts';
import {
  DEFAULT_MESH_CONFIG,
  Mesh,
  meshConfigFor,
  type PeerNetInfo,
  type SignalEnvelope,
  type Via,
} from './mesh.ts';
import { type IdentityStamps, NO_LOCK } from './platform.ts';
import { RelayBudget, relayedBytes } from './relayBudget.ts';
import { clearSaved, type KeyValueStorage, loadSaved, type Saved, SavedWriter } from './saved.ts';
import type { SignalingPort } from './signaling.ts';
import type { LinkFactory } from './transport.ts';

/** One core tick. Room timing (heartbeatMs, timeoutMs) is converted to ticks of this length. */
export const TICK_MS = 10;
/**
 * The timer wakes at a fifth of the heartbeat, at most every 50 ms, and runs the ticks due (catchUp): waking
 * every tick cost 8 tabs at rest a third of the protocol's CPU. Messages are handled as they arrive, so only
 * timed work (heartbeats, timeouts, pings) waits for the timer, by under a fifth of a heartbeat.
 */
export const pumpMs = (heartbeatMs: number) => Math.max(TICK_MS, Math.min(50, Math.floor(heartbeatMs / 5)));
/** A changed view reaches the store within this (sooner when the core reports an event). */
const PUBLISH_MS = 50;
/**
 * An unchanged view, where only clocks moved (last heard, RTT), is refreshed this often. Re-rendering the room
 * at 20 Hz for nothing cost each tab about 11% of a core: 8 tabs on 2 cores then starved their own handshakes.
 */
const REFRESH_MS = 500;

/** What the room page shows of a view, without the parts that move with every tick. */
function visibleKey(view: View, net: PeerNetInfo[]): string {
  return JSON.stringify([view, net], (k, v) => {
    if (k === 'now' || k === 'rtt' || k === 'heardAt') return undefined;
    if (k === 'silentTicks') return (v as number) < 0 ? -1 : 0;
    return v;
  });
}
/**
 * An app frame's budget in UTF-8 bytes: sealing a relayed frame (password rooms) grows it by a third (base64)
 * plus its envelope, and the server relays at most LIMITS.payloadBytes (16 KiB).
 */
export const MAX_APP_FRAME_BYTES = 11_000;
const utf8 = new TextEncoder();
const TRANSIENT = new Set(['rate_limited', 'shutting_down', 'internal_error', 'too_many_joins']);
/** The longest wait between joins refused because the room waits for its players (ROOM_WAITS; see join). */
const ROOM_WAIT_RETRY_MS = 2_000;
/** Heartbeats a leaving player repeats its last word for (leave). */
const LEAVE_REPEATS = 4;

export interface SessionDeps {
  signaling: SignalingPort;
  factory: LinkFactory;
  store: AppStore;
  now(): number;
  storage: KeyValueStorage | null;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  setTimeout(fn: () => void, ms: number): unknown;
  random(): number;
  /**
   * Holds a lock on an identity for as long as this tab lives (Web Locks in a browser), so a tab copied
   * with "Duplicate tab", which copies sessionStorage, cannot act as the same player. Resolves to a release
   * function, or null when another live tab holds it. `wait`: the identity is ours (the server just gave it),
   * so wait for the lock however long it takes rather than give up after a second. Absent: no other tab can
   * hold our storage (Node).
   */
  holdIdentity?(key: string, wait?: boolean): Promise<(() => void) | null>;
  /**
   * Each identity's count of saves, shared by the origin's tabs (localStorage in a browser): a copied storage
   * whose count is behind it is stale. Absent: no other tab can hold a copy of our storage (Node).
   */
  stamps?: IdentityStamps;
  /** The core's events as it emits them (the bench times advances by them, not by log text). */
  onCoreEvents?(events: readonly CoreEvent[]): void;
  /** An app message from a current player of the room; `data` is still unchecked. */
  onApp?(from: Id, channel: string, data: unknown): void;
}

export interface SessionParams {
  room: string;
  name: string;
  /** Settings for creating the room (URL or lobby); later joiners get the room's own. */
  settings: Partial<RoomSettings> | null;
}

/** Set when the owner removed this tab's player: a reload shows that instead of joining again. */
export const removedKey = (room: string) => `lockstep:removed:${room}`;
export const REMOVED_MESSAGE = 'You were removed from this room by its owner.';
const STALE_MESSAGE =
  'This player went on in another tab after this copy of it was made. Open the room again to join as a new player.';
/** Why a tab stops when another tab took its player's session over. */
const TAKEN_MESSAGE = 'This player was opened in another tab, which took over its session.';

/** The Web Lock a live player holds: an ID is one player only within one incarnation of a room. */
const identityKey = (room: string, incarnation: string | undefined, id: Id) =>
  `${room}:${incarnation ?? ''}:${id}`;

/** The server's roster as the core takes it: a hint of whom to talk to, and how far the room's IDs go. */
function coreRoster(version: number, r: RosterMsg): Roster {
  return { version, members: r.members.map((m) => m.id), issued: r.issued };
}

/** The roster's removed IDs, checked: the server is trusted with routing, not with our memory. */
export function removedIds(r: RosterMsg): Id[] {
  const list: unknown = (r as { removed?: unknown }).removed;
  if (!Array.isArray(list)) return [];
  return list
    .slice(0, LIMITS.removed.max)
    .filter((id): id is Id => typeof id === 'number' && Number.isSafeInteger(id) && id > 0);
}

export { type KeyValueStorage, type Saved, storageKey } from './saved.ts';

/** The committed log as a player holds it: its base (a snapshot), the entries after it, its last index. */
export interface CommittedLog {
  base: Base | null;
  entries: readonly Entry[];
  length: number;
}

/** The committed part of a persisted state: facts any identity may keep. */
type Facts = Pick<Persisted, 'base' | 'history'>;

function factsOf(p: Persisted): Facts {
  return p.base ? { base: p.base, history: p.history } : { history: p.history };
}

export class Session {
  readonly mesh: Mesh;
  private player: Player | null = null;
  private settings: RoomSettings | null = null;
  private token: string | null = null;
  private ownerToken: string | null = null;
  /** The room incarnation our player's state belongs to (from `joined`). */
  private incarnation: string | null = null;
  /** IDs the room's owner removed (from the server's rosters): never heard, never linked. */
  private readonly removed = new Set<Id>();
  private timer: unknown = null;
  private t0 = 0;
  private ticks = 0;
  private lastPublish = Number.NEGATIVE_INFINITY;
  private lastCheck = Number.NEGATIVE_INFINITY;
  private lastKey = '';
  private pendingLog: { kind: LogKind; text: string; at: number }[] = [];
  private rosterVersion = 0;
  private serverVersion = -1;
  private latestRoster: RosterMsg | null = null;
  private joinSeq = 0;
  /** This connection's join was answered: the server holds our session on it. */
  private joinedHere = false;
  private joinRetryMs = 500;
  /** Said goodbye on pagehide: the page is going. */
  private departed = false;
  private stopped = false;
  private readonly stats = { badFrames: 0, sentDirect: 0, sentRelay: 0, dropped: 0 };
  /** The identity whose session the server refused, to continue under the next ID. */
  private continuing: { id: Id; persisted: Persisted; incarnation: string | undefined } | null = null;
  /** Earlier IDs whose voter slot our player continues: the owner removing one of them removes us. */
  private continued = new Set<Id>();
  /** The server refused our ID and a new join is in flight: the old core neither hears nor speaks. */
  private muted = false;
  /** Muted while a new ID that continues this player's slot is asked for (bad_token). */
  private rejoining = false;
  private leaving = false;
  private identityChecked = false;
  /** Whether this session's first join found a saved record (null before it): later ones may be another's. */
  private savedAtStart: boolean | null = null;
  /** Times the server handed us an ID we held as a new player; it is asked again a few times. */
  private reissued = 0;
  private releaseIdentity: (() => void) | null = null;
  private readonly appBudget = new Bucket(DEFAULT_MESH_CONFIG.appBurst, DEFAULT_MESH_CONFIG.appPerSec);
  /** The server's budget for our connection: app messages to relayed players must leave the protocol room. */
  private readonly relayBudget = new RelayBudget();
  /** The log of a duplicated tab's storage, kept only as a catch-up hint, and the incarnation it is of. */
  private copied: Facts = { history: [] };
  private copiedIncarnation: string | undefined;
  /** Saves of this player's state so far, continued from the record a resume started from. */
  private writes = 0;
  /** The identity whose lock this page holds (or waits for), and the count it last stamped for it. */
  private heldKey: string | null = null;
  private stamped: { key: string; writes: number } | null = null;
  /** Whether this tab took its session back from a copy once (mayTakeBack). */
  private tookBack = false;
  /** This page session's client ID for app proposals: a reload or a duplicated tab gets its own. */
  private readonly client: string;
  private readonly saved: SavedWriter;
  /** Proposals of a core dropped with its room's state (the server forgot the room), for the next core. */
  private carried: Proposals | undefined;

  constructor(
    private readonly params: SessionParams,
    private readonly deps: SessionDeps,
  ) {
    this.mesh = new Mesh({
      factory: deps.factory,
      now: deps.now,
      newEpoch: () => Math.floor(deps.random() * 2 ** 48).toString(36),
      sendSignal: async (to, data: SignalEnvelope) => {
        const res = await deps.signaling.signal(to, data);
        return res.ok;
      },
      sendRelay: (to, text) => {
        const sent = deps.signaling.relay(to, text);
        if (sent) this.relayBudget.spend(deps.now(), this.relayedBytes(text));
        return sent;
      },
      onCore: (from, m, via) => this.onCore(from, m, via),
      onApp: (from, channel, data) => {
        const p = this.player;
        if (!p || this.muted || this.stopped || this.removed.has(from) || from === p.self) return;
        if (!p.view().members.includes(from)) return;
        deps.onApp?.(from, channel, data);
      },
      onBadFrame: (from, via, error) => this.bad(from, via, error),
      onFlood: (from, via, what, perSec) => this.flooded(from, via, what, perSec),
      onVersion: (from, version) => this.onVersion(from, version),
      onSent: (to, tag, via) => {
        if (via === 'direct') this.stats.sentDirect++;
        else if (via === 'relay') this.stats.sentRelay++;
        else this.stats.dropped++;
        if (tag !== 'ping' && tag !== 'pong') {
          this.deps.store
            .getState()
            .flights.add({ dir: 'out', peer: to, type: tag, at: this.deps.now(), via });
        }
      },
    });
    this.saved = new SavedWriter(deps.storage, params.room);
    this.client = newClientId(this.deps.random);
    const st = deps.store.getState();
    st.actions.reset(params.room, params.name, deps.now(), st.security.sealed);
    deps.store.getState().probe.read = () =>
      this.player ? { view: this.player.view(), net: this.mesh.info() } : null;
  }

  // ------------------------------------------------------------------ lifecycle

  start(): void {
    if (this.deps.storage?.getItem(removedKey(this.params.room))) {
      // This tab was removed: it does not come back by itself, not even on a reload.
      this.stopped = true;
      this.setPhase('removed', REMOVED_MESSAGE);
      return;
    }
    this.deps.signaling.start({
      status: (status, detail) => this.actions.setSignaling(status, detail ?? ''),
      connected: () => {
        // A new connection (maybe to a restarted server): versions start over.
        this.serverVersion = -1;
        this.latestRoster = null;
        this.joinedHere = false;
        void this.join();
      },
      roster: (r) => this.applyRoster(r),
      signal: (from, data) => this.mesh.onSignal(from, data),
      relay: (from, data) => this.mesh.receive(from, data, 'relay'),
      shutdown: (ms) => this.log('net', `signaling server is restarting; reconnecting in ${ms} ms`),
      refused: (f) => {
        if (f.code === 'replaced') {
          if (this.mayTakeBack()) return;
          this.stopReplaced(null, TAKEN_MESSAGE);
        } else this.log('net', `server refused: ${f.error}`);
      },
      removed: (reason) => this.onRemoved(reason),
      malformed: (problem) => this.log('net', `ignored from the server: ${problem}`),
      // Its budget is spent (for our address too, maybe): app messages wait until ours would have refilled.
      relayRefused: () => this.relayBudget.spent(this.deps.now()),
    });
  }

  /** Owner only: asks the server to remove player `id`; the roster that follows expels it here too. */
  async removePlayer(id: Id): Promise<Ack> {
    const ownerToken = this.ownerToken;
    if (!ownerToken || this.stopped) {
      return { ok: false, code: 'not_owner', error: 'only the room’s owner may remove players' };
    }
    const res = await this.deps.signaling.remove(this.params.room, id, ownerToken);
    this.log('net', res.ok ? `removed player ${id}` : `could not remove player ${id}: ${res.error}`);
    return res;
  }

  /**
   * Test hook only (a Room with testHooks installs it): sends any core message as it is, unchecked,
   * by the same path as the core's own, as a hostile peer with devtools could.
   */
  testSend(to: Id, m: unknown): boolean {
    const p = this.player;
    if (!p || this.stopped || !Number.isSafeInteger(to) || to <= 0 || to === p.self) return false;
    let text: string;
    try {
      text = encodeFrame({ k: 'core', m });
    } catch {
      return false;
    }
    if (typeof text !== 'string' || text.length > MAX_FRAME_CHARS) return false;
    const t = typeof m === 'object' && m !== null ? (m as { t?: unknown }).t : undefined;
    this.mesh.send(to, text, typeof t === 'string' ? t.slice(0, 20) : 'core');
    return true;
  }

  private onRemoved(reason: string): void {
    if (this.deps.store.getState().session.phase === 'removed') return;
    this.stop();
    this.log('net', `removed from the room: ${reason}`);
    this.clearSaved();
    this.retireStamp();
    try {
      this.deps.storage?.setItem(removedKey(this.params.room), '1');
    } catch {
      // Storage full or disabled: the session still stops now.
    }
    this.setPhase('removed', REMOVED_MESSAGE);
  }

  /**
   * Leaves for good: the core says its last word (its final state, so the others may count the room without
   * it) and repeats it for a few heartbeats while the session winds down (a frame lost with a dying link);
   * alone, nobody is there to hear it. The ID never comes back.
   */
  async leave(): Promise<void> {
    this.clearSaved();
    this.retireStamp();
    this.leaving = true;
    // Its new ID never comes now (join), so the old one says the slot's last word.
    if (this.rejoining) this.muted = this.rejoining = false;
    const p = this.player;
    if (p) {
      this.catchUp();
      p.leaveRoom();
      this.drain();
      // Not a whole timeout: the room's creator chooses it (up to a minute), and a bot's exit waits on this.
      const { heartbeatMs = 250, timeoutMs = 1500 } = this.settings ?? {};
      // Anyone the room lists may still need it (one not heard yet, a newcomer catching up): alone, nobody does.
      const alone = this.deps.store.getState().view?.peers.every((q) => q.bye) ?? false;
      const ms = alone ? 0 : Math.min(timeoutMs, LEAVE_REPEATS * heartbeatMs);
      if (ms > 0) await new Promise<void>((resolve) => this.deps.setTimeout(resolve, ms));
    }
    await this.deps.signaling.leave();
    // Left first: the socket's close that follows is not the server going down.
    this.setPhase('left', null);
    this.stop();
  }

  /**
   * pagehide: tell peers now, synchronously, before the page's channels close. Not a leave. Nothing of the
   * core's goes out after it (a closing page still runs a tick or two, and one heartbeat after the goodbye
   * would undo it), unless the page comes back from the back-forward cache (`welcomeBack`).
   */
  goodbye(): void {
    if (!this.player) {
      // A join the server may have made already (its answer on the way, or past the wait we gave it): its
      // player would count as one that vanished, and keep the room from newcomers for minutes. The server
      // handles our events in order, and answers not_joined to a connection that holds no player.
      this.deps.signaling.bye(false);
      // Nor does a late answer's player speak: the page is going.
      this.departed = true;
      return;
    }
    // Players we still hear that the server no longer lists may be playing on without it: say so.
    const listed = new Set(this.latestRoster?.members.map((m) => m.id) ?? []);
    this.deps.signaling.bye(
      this.player.view().live.some((id) => id !== this.player?.self && !listed.has(id)),
    );
    this.player.goodbye();
    const r = this.player.ready();
    // Persist before sending, as in drain(); a save that finds a newer copy of us stops the session.
    if (r.persist) this.save(r.persist);
    // Muted (a new ID is asked for, or a copy plays): the old one says nothing, not even goodbye.
    if (!this.stopped && !this.muted)
      for (const env of r.messages) this.mesh.sendNow(env.to, encodeFrame({ k: 'core', m: env.msg }));
    this.departed = true;
  }

  /** pageshow from the back-forward cache: the goodbye was premature, so speak again, after listening. */
  welcomeBack(): void {
    this.departed = false;
    this.resume();
  }

  /** The page woke (a freeze, a sleeping laptop, a bfcache return): listen before acting (Player.resume). */
  resume(): void {
    if (!this.player || this.stopped) return;
    // The page says it was frozen: the time it lost is not silence from the room, so none of it runs.
    this.ticks = Math.max(this.ticks, this.clockTicks());
    this.player.resume();
    this.drain();
  }

  stop(): void {
    this.stopped = true;
    this.releaseIdentity?.();
    this.releaseIdentity = null;
    if (this.timer !== null) this.deps.clearInterval(this.timer);
    this.timer = null;
    this.mesh.close();
    this.deps.signaling.close();
  }

  // ------------------------------------------------------------------ user actions

  /** Our page is hidden (or visible again): peers show us as away. */
  setAway(away: boolean): void {
    this.mesh.setAway(away);
  }

  /**
   * Sends an app message on `channel` to `to` (default: every other player the room knows). Returns the
   * recipients, or a reason it cannot go: not joined yet, or a frame over the limit.
   */
  sendApp(
    channel: string,
    data: unknown,
    to?: readonly Id[],
  ):
    | { ok: true; to: Id[] }
    | { ok: false; code: 'not_joined' | 'too_large' | 'bad_argument' | 'rate_limited'; error: string } {
    const p = this.player;
    if (!p || this.stopped || this.muted) return { ok: false, code: 'not_joined', error: 'not in a room' };
    let text: string;
    try {
      text = encodeFrame({ k: 'app', n: channel, d: data });
    } catch (e) {
      // Whatever a toJSON or getter threw, null included.
      const why = e instanceof Error ? e.message : String(e);
      return { ok: false, code: 'bad_argument', error: `data is not JSON: ${why}` };
    }
    // JSON.stringify leaves out a `d` that is undefined, a function or a symbol (or whose toJSON gives
    // undefined): every receiver would drop that frame as bad and count a strike against us.
    if (typeof text !== 'string' || !text.includes(',"d":'))
      return {
        ok: false,
        code: 'bad_argument',
        error: 'data is not JSON (undefined, a function or a symbol)',
      };
    const bytes = utf8.encode(text).length;
    if (bytes > MAX_APP_FRAME_BYTES) {
      return {
        ok: false,
        code: 'too_large',
        error: `message is ${bytes} bytes as JSON; at most ${MAX_APP_FRAME_BYTES} fit in one frame`,
      };
    }
    const known = p.view().members.filter((id) => id !== p.self && !this.removed.has(id));
    const targets = to ? to.filter((id) => known.includes(id)) : known;
    const now = this.deps.now();
    // Past the server's budget it refuses, then disconnects us: refuse here what the relay cannot carry.
    const relayed = this.departed ? 0 : targets.filter((id) => !this.mesh.direct(id)).length;
    if (relayed > 0 && !this.relayBudget.fits(now, relayed, relayed * this.relayedBytes(text, bytes)))
      return {
        ok: false,
        code: 'rate_limited',
        error: `${relayed} of its players are reached through the server, and its budget for this tab is spent for now: not sent`,
      };
    // Each receiver holds us to this budget and counts a flood against us: refuse here instead.
    if (!this.appBudget.take(now).ok) {
      const { appBurst, appPerSec } = DEFAULT_MESH_CONFIG;
      return {
        ok: false,
        code: 'rate_limited',
        error: `more than ${appPerSec} messages a second (${appBurst} at once): not sent`,
      };
    }
    if (this.departed) return { ok: true, to: targets };
    for (const id of targets) this.mesh.send(id, text, 'app');
    return { ok: true, to: targets };
  }

  /** Submits an app value for the agreed log (core Player.propose). */
  propose(data: unknown): ProposeResult {
    const p = this.player;
    if (!p || this.muted || this.leaving || this.stopped)
      return { ok: false, code: 'not_joined', error: 'not in the room right now' };
    this.catchUp();
    const r = p.propose(data);
    this.drain();
    return r;
  }

  /** Takes back proposal `id` and later ones no leader was offered (core Player.withdraw). */
  withdraw(id: number): number[] {
    const p = this.player;
    if (!p) return [];
    const out = p.withdraw(id);
    this.drain();
    return out;
  }

  /** The committed log as this player holds it. */
  committed(): CommittedLog {
    const p = this.player;
    return { base: p?.base ?? null, entries: p?.entries ?? [], length: p?.length ?? 0 };
  }

  /** Drops the committed log up to `index` for the app's `state` there (core Player.compact). */
  compact(index: number, state: unknown): CompactResult | { ok: false; code: 'not_joined'; error: string } {
    const p = this.player;
    if (!p || this.stopped) return { ok: false, code: 'not_joined', error: 'not in the room right now' };
    const r = p.compact(index, state);
    this.drain();
    return r;
  }

  setDone(done: boolean): void {
    if (!this.player || this.muted) return;
    this.catchUp();
    this.player.setDone(done);
    this.drain();
    this.publish(true);
  }

  // ------------------------------------------------------------------ signaling

  private async join(): Promise<void> {
    if (this.stopped) return;
    const seq = ++this.joinSeq;
    let saved = loadSaved(this.deps.storage, this.params.room);
    if (this.savedAtStart === null) this.savedAtStart = saved !== null;
    // A record that appeared after our first join, and is not ours, is another session's (a storage shared
    // between tabs): its token would take that session over.
    if (saved && !this.savedAtStart && saved.id !== this.player?.self && saved.id !== this.continuing?.id)
      saved = null;
    if (saved && this.token === null && !this.identityChecked) {
      this.identityChecked = true;
      const hold = this.deps.holdIdentity;
      const key = identityKey(this.params.room, saved.incarnation, saved.id);
      const release = hold ? await hold(key) : () => {};
      const stamped = this.deps.stamps?.get(key) ?? null;
      const stateful = saved.token !== undefined || saved.expired === true;
      const stale = release !== null && stateful && stamped !== null && stamped > (saved.writes ?? 0);
      if (stale) release();
      if (release === null || stale) {
        // A copy of another tab's storage: that tab is player `saved.id` (it holds the lock), or was and saved
        // since (the copy is older than its promises). Join as a new player; the copy's committed log may
        // help it catch up, but nothing it promised is ours.
        this.log(
          'net',
          stale
            ? `this tab's copy of player ${saved.id} is older than what that player saved since: joining as a new player`
            : `another tab is player ${saved.id}: joining as a new player`,
        );
        this.copied = saved.persisted ? factsOf(saved.persisted) : { history: [] };
        this.copiedIncarnation = saved.incarnation;
        this.clearSaved();
        saved = null;
        // What that tab saves from now on is its own, not ours.
        this.savedAtStart = false;
      } else if (this.stopped) {
        // Stopped while it waited for the lock: a later Session in this page must find it free.
        release();
        return;
      } else {
        this.releaseIdentity = release;
        this.heldKey = key;
        // A stamp that moves past this from another tab means a second holder (see save()).
        if (stateful) this.stamped = { key, writes: saved.writes ?? 0 };
      }
      if (seq !== this.joinSeq || this.stopped) return;
      if (saved && !saved.token && !(saved.expired && saved.persisted))
        this.log('net', `player ${saved.id}'s saved state was lost: joining as a new player`);
    }
    // After the identity check: a duplicated tab's copy of the storage does not make it an owner too.
    if (this.ownerToken === null && saved?.ownerToken) this.ownerToken = saved.ownerToken;
    // The slots the saved player continues (a new player continuing none drops them: onJoined).
    if (!this.player) for (const id of saved?.continued ?? []) this.continued.add(id);
    // A session the server ended before this page reloaded: continue its slot, as the page before would have.
    if (saved?.expired && saved.persisted && !this.player) {
      this.continuing ??= { id: saved.id, persisted: saved.persisted, incarnation: saved.incarnation };
      saved = null;
    }
    const token = this.token ?? saved?.token ?? null;
    // Another tab saved this player since we did (a copy that resumed it): it is ahead, and this tab stops.
    if (token && this.overtaken()) {
      this.stopReplaced('another tab saved this player since this one did: stopping', TAKEN_MESSAGE);
      return;
    }
    const settings = this.settings ?? this.params.settings;
    const floor = this.highestKnownId(saved);
    // Not a lost record's: with no floor but its old ID, it could recreate a forgotten room below IDs in play.
    const incarnation =
      this.incarnation ?? (saved?.token ? saved.incarnation : undefined) ?? this.continuing?.incarnation;
    const req: JoinRequest = {
      room: this.params.room,
      name: this.params.name,
      ...(token ? { token } : {}),
      ...(floor > 0 ? { floor } : {}),
      ...(this.ownerToken ? { ownerToken: this.ownerToken } : {}),
      ...(incarnation ? { incarnation } : {}),
      // Always sent: if the server restarted and forgot the room, the first one back recreates it as it was.
      ...(settings ? { settings } : {}),
    };
    const res = await this.deps.signaling.join(req);
    // Left meanwhile: no new player (the server's session of it goes with our leave).
    if (seq !== this.joinSeq || this.stopped || this.leaving) return;
    if (res.ok) {
      this.joinRetryMs = 500;
      this.onJoined(res, saved);
      return;
    }
    if (res.code === 'bad_token' && token) {
      // The session expired (or the server restarted): a new ID that continues this one's voter slot, with
      // its whole state. This tab holds that state (the identity's lock, or a stamp), so the old ID never speaks
      // again.
      const old = this.player ?? null;
      const id = old?.self ?? saved?.id;
      const persisted = old?.persisted() ?? saved?.persisted ?? null;
      // Kept with the state: after a reload, storage is cleared below, and the next join must still bring
      // the room's incarnation and a floor, or it would be a newcomer's.
      const incarnation = this.incarnation ?? saved?.incarnation;
      const key = identityKey(this.params.room, incarnation, id ?? 0);
      // Another tab with this state (a copy, without Web Locks) got here first and continues the slot.
      if (id && persisted && this.overtaken(key)) return this.yieldSlot(id, persisted, incarnation);
      if (id && persisted) this.continuing = { id, persisted, incarnation };
      // The old ID must not act while the new join is in flight: whatever it did then, the new ID would not
      // remember (it starts from this state), and one slot would have two pasts.
      this.muted = old !== null;
      this.rejoining = old !== null;
      this.log('net', `resume refused (session expired); joining anew to continue player ${id ?? '?'}`);
      this.token = null;
      // Stored without the token, so a reload before the answer continues the slot too (not a newcomer's):
      // only under the identity's lock, which no copy of this tab can hold meanwhile. Stamped either way, so
      // a copy refused the same token after us finds the slot taken (above).
      const locked = this.releaseIdentity !== null && this.releaseIdentity !== NO_LOCK;
      if (id && persisted) this.saveExpired(key, id, persisted, incarnation, locked && this.heldKey === key);
      else this.clearSaved();
      return this.join();
    }
    if (res.code === 'already_joined') {
      if (this.joinedHere) return;
      // Our first join's answer came too late (we gave up on it and asked again): the server holds a session
      // we never learned. End it, and join again on the same connection.
      this.log(
        'net',
        'the server joined us, but its answer came too late: leaving that session and joining again',
      );
      // After the usual backoff, whatever the leave said: a server that answers every join this way must
      // not get them in a loop.
      this.leaveAndRejoin(seq, () => this.backoff());
      return;
    }
    if (res.code === 'removed') return this.onRemoved(res.error);
    if (res.malformed) {
      // The server holds a session for this socket already: asking again here would only be refused.
      this.stop();
      this.log('net', res.error);
      this.setPhase('failed', res.error, undefined, res.code);
      return;
    }
    if (res.code === 'outdated') {
      this.stop();
      this.log('net', res.error);
      this.setPhase('outdated', res.error.replace(/^join: t/, 'T'), undefined, res.code);
      return;
    }
    if (TRANSIENT.has(res.code)) {
      this.log('net', `join failed (${res.error}); retrying`);
      // Kept while joining, so a join that times out can say what the server answered.
      this.setPhase('joining', res.error);
      // A room waiting for its players (away, or kept after they vanished) opens the moment one is back or its
      // wait ends: asked again every 2 s, not at 8, so a join with a deadline does not miss it. Only those:
      // other rate_limited refusals (password guesses, a room's join rate) count against our joins.
      const wait = this.backoff();
      // The server counts joins per connection: past its budget only a new connection is heard.
      if (res.code === 'too_many_joins') return this.deps.signaling.redial(wait);
      const waits = res.code === 'rate_limited' && res.error.startsWith(ROOM_WAITS);
      this.rejoinAfter(seq, waits ? Math.min(wait, ROOM_WAIT_RETRY_MS) : wait);
      return;
    }
    this.stop();
    this.setPhase('failed', res.error, undefined, res.code);
  }

  /** The next join retry's wait, doubling up to 8 s (back to 500 ms on a join that succeeds). */
  private backoff(): number {
    const wait = this.joinRetryMs;
    this.joinRetryMs = Math.min(this.joinRetryMs * 2, 8_000);
    return wait;
  }

  /** Joins again after `ms`, unless another join began meanwhile, the session stopped or the server is gone. */
  private rejoinAfter(seq: number, ms: number): void {
    this.deps.setTimeout(() => {
      if (seq === this.joinSeq && !this.stopped && this.deps.signaling.connected) void this.join();
    }, ms);
  }

  /** Ends the session the server holds for this connection, then joins again after `wait()`. */
  private leaveAndRejoin(seq: number, wait: () => number): void {
    void this.deps.signaling.leave().then(() => this.rejoinAfter(seq, wait()));
  }

  /** A `joined` this tab cannot take without breaking what it promised: a stall, said plainly. */
  private refuseJoined(why: string): void {
    this.stop();
    this.log('net', why);
    this.setPhase('failed', `Joining failed: ${why}.`, undefined, 'internal_error');
  }

  private onJoined(j: Joined, kept: Saved | null): void {
    // IDs only grow in a room's life: an ID at or below one this tab held, given as a new player in the same
    // room, is one a live voter may hold (ours among them), and voting under it afresh could undo that
    // voter's promises. A store that lost its last increment (a Redis failover) can do it honestly once:
    // leave that session and ask again, a few times, before giving up.
    const ours = Math.max(this.player?.self ?? 0, kept?.id ?? 0, this.continuing?.id ?? 0);
    const same = (this.incarnation ?? kept?.incarnation ?? this.continuing?.incarnation) === j.incarnation;
    const newIdentity =
      this.player?.self !== j.id &&
      !(j.resumed && kept?.id === j.id) &&
      !(this.continuing && this.continuing.id < j.id);
    if (newIdentity && same && j.id <= ours) {
      const why = `the server gave this tab player ${j.id} as a new player; this tab held ${ours}`;
      if (++this.reissued > 3) {
        this.refuseJoined(why);
        return;
      }
      this.log('net', `${why}: leaving that session and asking again`);
      this.leaveAndRejoin(this.joinSeq, () => 500 * this.reissued);
      return;
    }
    this.joinedHere = true;
    if (j.relayBudget) this.relayBudget.setLimits(j.relayBudget);
    let saved = kept;
    const prior = this.settings;
    this.settings = j.settings;
    this.token = j.token;
    // Without one in the reply, a token we kept is not this room's (the room was created anew by another).
    this.ownerToken = j.ownerToken ?? null;
    this.muted = false;
    this.rejoining = false;
    // This tab holds its identity now: records it finds in storage from here on are its own.
    this.identityChecked = true;
    const s = j.settings;
    // Our ID again, but as a new player of a room opened anew since: another identity (below), not a resume.
    if (this.player && this.player.self === j.id && (j.resumed || j.incarnation === this.incarnation)) {
      // A room's settings and incarnation never change in its life: a resume that says otherwise is a server
      // we cannot follow (its stages would pass the core's last one).
      const mine = this.incarnation;
      if (
        (mine !== null && mine !== undefined && j.incarnation !== mine) ||
        (prior && !sameSettings(s, prior))
      ) {
        this.refuseJoined(`the server resumed player ${j.id} into another room's settings or incarnation`);
        return;
      }
      this.log('net', `resumed as player ${j.id}`);
      this.save(this.player.persisted());
      if (this.stopped) return;
      this.mesh.signalingRestored();
      this.applyRoster(j.roster);
      this.setPhase('joined', null, j);
      return;
    }
    let persisted: Persisted | null = null;
    let continuing = this.continuing;
    this.continuing = null;
    // A resume of the saved session proves its room even when the record names none (an older build's).
    const held =
      this.incarnation ??
      saved?.incarnation ??
      continuing?.incarnation ??
      (j.resumed && saved?.id === j.id ? j.incarnation : undefined);
    this.incarnation = j.incarnation;
    // State whose room we cannot name (a damaged record) is treated as another room's.
    const hadState = held !== undefined || continuing !== null || saved !== null || this.player !== null;
    if (hadState && held !== j.incarnation) {
      // The room was started anew (the server forgot it, or everyone had left it): our state is of a room
      // that no longer exists, and our old ID may be someone else's now. Keeping nothing keeps IDs unique.
      this.log('net', 'this room was started anew since we played in it: joining it as a new player');
      continuing = null;
      saved = null;
      this.copied = { history: [] };
      // Its removals were of the old room's players: the new room's own IDs are other people.
      this.removed.clear();
      this.continued.clear();
      this.reissued = 0;
      // Values still waiting are this page's intent, not the old room's state: they go to the new room.
      this.carried = this.player?.proposals() ?? this.carried;
      this.player = null;
    }
    if (j.resumed && saved?.id === j.id) {
      persisted = saved.persisted;
      this.writes = Math.max(this.writes, saved.writes ?? 0);
    } else if (continuing && continuing.id < j.id) {
      persisted = this.player?.self === continuing.id ? this.player.persisted() : continuing.persisted;
    } else {
      // A new identity keeps nothing of the old one but the committed log (stages and agreed members, which
      // are facts); it must still catch up before its votes count.
      const old = this.player?.persisted() ?? saved?.persisted;
      // A copy's log is of the room it copied: not of one opened anew since.
      const copied = this.copiedIncarnation === j.incarnation ? this.copied : { history: [] };
      const facts = old ? factsOf(old) : copied;
      if (facts.history.length > 0 || facts.base) {
        persisted = { term: 0, promised: 0, done: false, ...facts, accepted: null, initialized: false };
      }
    }
    const timing = timingFromMs(s.heartbeatMs, s.timeoutMs, TICK_MS);
    // A roster push can overtake the join's ack (another member joined meanwhile): keep the newest.
    const roster =
      this.latestRoster && this.latestRoster.version > j.roster.version ? this.latestRoster : j.roster;
    this.serverVersion = Math.max(this.serverVersion, roster.version);
    // The first roster of a session is logged whole; the pushes after it, by what they change.
    if (roster !== this.latestRoster) this.log('net', rosterChange(null, roster));
    this.latestRoster = roster;
    if (this.player?.self !== j.id) {
      const key = identityKey(this.params.room, j.incarnation, j.id);
      // The identity we held is given up for good: a copy of it anywhere is now stale, whatever it counts.
      if (this.heldKey !== null && this.heldKey !== key) this.retireStamp();
      this.releaseIdentity?.();
      this.releaseIdentity = null;
      this.heldKey = key;
      const id = j.id;
      void this.deps.holdIdentity?.(key, true).then((release) => {
        if (this.stopped || this.player?.self !== id) release?.();
        else this.releaseIdentity = release;
      });
    }
    const was =
      continuing && continuing.id < j.id && !(j.resumed && saved?.id === j.id) ? continuing.id : null;
    if (was !== null) this.continued.add(was);
    // A new player that continues no slot: the IDs this tab had are other players' now.
    else if (this.player?.self !== j.id && !j.resumed) this.continued.clear();
    this.player = new Player({
      self: j.id,
      timing,
      rng: seededRng(Math.floor(this.deps.random() * 2 ** 32)),
      roster: coreRoster(++this.rosterVersion, roster),
      persisted,
      lastStage: s.stages.length - 1,
      proposals: this.player?.proposals() ?? this.carried ?? { client: this.client, next: 1, pending: [] },
      ticksPerSecond: 1000 / TICK_MS,
      ...(was !== null ? { was } : {}),
    });
    this.carried = undefined;
    if (this.expelRemoved(roster)) return;
    this.mesh.setConfig(meshConfigFor(s.heartbeatMs, s.timeoutMs));
    this.mesh.reset(j.id, j.iceServers);
    this.syncMesh();
    this.save(this.player.persisted());
    // A stamp past ours (save): another tab is this player, and this one stopped.
    if (this.stopped) return;
    this.t0 = this.deps.now();
    this.ticks = 0;
    if (this.timer === null) this.timer = this.deps.setInterval(() => this.pump(), pumpMs(s.heartbeatMs));
    this.log('net', j.resumed ? `resumed as player ${j.id}` : `joined as player ${j.id}`);
    this.actions.setRoster(roster);
    this.setPhase('joined', null, j);
    this.drain();
    this.publish(true);
  }

  private applyRoster(r: RosterMsg): void {
    if (r.version <= this.serverVersion) return;
    this.serverVersion = r.version;
    this.log('net', rosterChange(this.latestRoster, r));
    this.latestRoster = r;
    this.actions.setRoster(r);
    if (!this.player) return;
    this.catchUp();
    if (this.expelRemoved(r)) return;
    this.player.setRoster(coreRoster(++this.rosterVersion, r));
    this.syncMesh();
    this.drain();
    this.publish(true);
  }

  // ------------------------------------------------------------------ the loop

  /** The timer: catch up on ticks, keep the mesh healthy, publish. Public for tests. */
  pump(): void {
    if (!this.player || this.stopped) return;
    if (this.muted) {
      this.mesh.maintain();
      return;
    }
    this.catchUp();
    this.mesh.maintain();
    this.publish(false);
  }

  /** Core ticks real time asks for by now. */
  private clockTicks(): number {
    return Math.floor((this.deps.now() - this.t0) / TICK_MS);
  }

  /**
   * Runs the ticks real time asks for. Background tabs fire timers late, so this counts from the clock
   * rather than the timer. But lost time run as ticks before the messages queued behind the timer reads as
   * silence from everyone: the tab suspected the room and campaigned, and every player's term went up (a
   * frozen follower in real Chromium, 1 to 3). So a late timer runs at most timeout − 2 heartbeats of it (the
   * last heartbeat heard may be one old: no silence reaches a timeout), and core time slows instead. A gap
   * past two timeouts (a frozen page, a sleeping laptop) runs none: the room may have moved on, so the tab
   * resumes, listening before it acts.
   */
  private catchUp(): void {
    const p = this.player;
    if (!p) return;
    const due = this.clockTicks() - this.ticks;
    const { heartbeatTicks, timeoutTicks } = p.view().timing;
    if (due > Math.max(50, 2 * timeoutTicks)) {
      this.ticks += due;
      if (this.leaving) return;
      this.log('net', 'the clock jumped (the tab was frozen or asleep): listening before acting');
      p.resume();
      this.drain();
      return;
    }
    const burst = Math.max(1, timeoutTicks - 2 * heartbeatTicks);
    if (due > burst) this.ticks += due - burst;
    for (let n = Math.min(due, burst); n > 0; n--) {
      p.tick();
      this.ticks++;
      this.drain();
    }
  }

  /** Expels every removed ID (again after a new ID: expel is idempotent). True when we are among them. */
  private expelRemoved(r: RosterMsg): boolean {
    const p = this.player;
    if (!p) return false;
    for (const id of removedIds(r)) {
      if (id === p.self || this.continued.has(id)) {
        this.onRemoved('you were removed from this room by its owner');
        return true;
      }
      this.removed.add(id);
    }
    for (const id of this.removed) p.expel(id);
    return false;
  }

  /** The highest player ID this tab knows of in the room, for the join's floor. */
  private highestKnownId(saved: Saved | null): number {
    let max = Math.max(this.player?.self ?? 0, saved?.id ?? 0, this.continuing?.id ?? 0);
    for (const m of this.latestRoster?.members ?? []) max = Math.max(max, m.id);
    const p = this.player?.persisted() ?? saved?.persisted ?? this.continuing?.persisted;
    // What the room issued as far as we know: a restarted server must not hand those IDs out again.
    if (Number.isSafeInteger(p?.issued)) max = Math.max(max, p?.issued ?? 0);
    const base = p?.base;
    for (const e of [...(base ? [base.entry, ...base.stages] : []), ...(p?.history ?? [])])
      for (const id of e.members) max = Math.max(max, id);
    for (const id of base?.names ?? []) max = Math.max(max, id);
    // The server refuses a floor past 2^30 (IDs above 2^31 are refused by every core): a log a liar
    // salted with a huge ID must not keep this tab from joining.
    return Math.min(max, 2 ** 30);
  }

  private onCore(from: Id, m: unknown, via: Via): void {
    const parsed = parseMessage(m);
    if (!parsed.ok) {
      this.bad(from, via, parsed.error);
      return;
    }
    this.deps.store
      .getState()
      .flights.add({ dir: 'in', peer: from, type: parsed.msg.t, at: this.deps.now(), via });
    // A stopped session is silent, whatever still reaches it: its ID may be resumed elsewhere.
    if (!this.player || this.muted || this.stopped) return;
    this.catchUp();
    this.player.step(from, parsed.msg);
    this.drain();
  }

  /**
   * The mesh links the roster's players and every agreed voter the core still counts, even one the server
   * expired: the roster is only a hint, and dropping a link the server cannot see would itself split the room.
   */
  private syncMesh(): void {
    const roster = this.latestRoster?.members ?? [];
    const listed = new Set(roster.map((m) => m.id));
    const members = roster
      .filter((m) => !this.removed.has(m.id))
      .map((m) => ({ id: m.id, connected: m.state === 'connected' }));
    for (const id of this.player?.view().members ?? []) {
      if (!listed.has(id) && !this.removed.has(id)) members.push({ id, connected: false });
    }
    this.mesh.setMembers(members);
  }

  /** A relayed frame's bytes as the server counts them (relayBudget.ts). */
  private relayedBytes(text: string, bytes = utf8Bytes(text)): number {
    return relayedBytes(text, bytes, this.deps.store.getState().security.sealed);
  }

  private drain(): void {
    const p = this.player;
    if (!p) return;
    const r = p.ready();
    // Persist before sending (etcd's Ready contract): a promise must survive a reload that follows it.
    if (r.persist) this.save(r.persist);
    if (this.stopped) return;
    for (const env of r.messages) this.sendEnvelope(env);
    if (r.events.length > 0) this.onEvents(r.events);
  }

  private sendEnvelope(env: Envelope): void {
    if (this.departed || this.muted || this.stopped) return;
    this.mesh.send(env.to, encodeFrame({ k: 'core', m: env.msg }), env.msg.t);
  }

  private onEvents(events: CoreEvent[]): void {
    this.deps.onCoreEvents?.(events);
    const q = this.player?.view().quorum;
    for (const e of events) {
      // App commits come by the hundred a second: the room's log shows stages, not each value.
      if (e.kind === 'commit' || e.kind === 'proposed' || (e.kind === 'propose' && e.entry.kind === 'app'))
        continue;
      // A role change is easier to follow with the quorum it was decided under.
      const extra = e.kind === 'role' && q ? ` (live ${q.live} of ${q.members})` : '';
      this.log(e.kind as LogKind, describeEvent(e) + extra);
    }
    if (events.some((e) => e.kind === 'members' || e.kind === 'renamed' || e.kind === 'retired'))
      this.syncMesh();
    // What the room is about (stage, leader, role) shows at the next tick; the rest waits for its slot.
    if (events.some((e) => e.kind === 'advance' || e.kind === 'leader' || e.kind === 'role')) {
      this.lastCheck = Number.NEGATIVE_INFINITY;
    }
  }

  private publish(force: boolean): void {
    const p = this.player;
    if (!p) return;
    const now = this.deps.now();
    // Events and log lines wait for the next slot too: while eight players connect, publishing each one at
    // once re-rendered the room so often that the tab's own signaling messages queued for seconds.
    if (!force && now - this.lastCheck < PUBLISH_MS) return;
    this.lastCheck = now;
    const view = p.view();
    const net = this.mesh.info();
    const key = visibleKey(view, net);
    const lines = this.pendingLog.splice(0);
    if (!force && lines.length === 0 && key === this.lastKey && now - this.lastPublish < REFRESH_MS) return;
    this.lastKey = key;
    this.lastPublish = now;
    this.actions.publish({
      view,
      net,
      stats: { ...this.stats, linksCreated: this.mesh.linksCreated },
      lines,
      at: now,
    });
  }

  // ------------------------------------------------------------------ helpers

  /**
   * A peer of another build is not heard, and its word is never a reason to stop: any player can claim any
   * version. Only our own server says we are outdated (it refuses a join or resume of another version, and a
   * server upgraded to a newer build restarts, which makes this tab resume).
   */
  private onVersion(from: Id, version: number): void {
    this.log(
      'net',
      version > PROTOCOL_VERSION
        ? `player ${from} names a newer Lockstep (protocol ${version}, ours ${PROTOCOL_VERSION}): not heard; our server decides whether this page is outdated`
        : `player ${from} runs an older Lockstep (protocol ${version}, ours ${PROTOCOL_VERSION}): not heard until it reloads`,
    );
  }

  private flooded(from: Id, via: Via, what: string, perSec: number): void {
    console.warn(
      `lockstep: player ${from} sends more than ${perSec} ${what} a second (${via}); dropping the rest`,
    );
    this.log(
      'bad',
      `player ${from} floods us (over ${perSec} ${what} a second via ${via}): the rest dropped unread`,
    );
    if (this.player && !this.muted) {
      this.player.invalid(from, `flooded us with over ${perSec} ${what} a second`);
      this.drain();
    }
  }

  private bad(from: Id, via: Via, error: string): void {
    this.stats.badFrames++;
    console.warn(`lockstep: dropped a bad frame from ${from} (${via}): ${error}`);
    this.log('bad', `bad frame from ${from} via ${via}: ${error}`);
    // It counts against the sender in its row of the players list.
    if (this.player && !this.muted) {
      this.player.invalid(from, `sent a malformed message: ${error}`);
      this.drain();
    }
  }

  private save(persisted: Persisted): void {
    if (!this.player || !this.token || this.leaving) return;
    const key = identityKey(this.params.room, this.incarnation ?? undefined, this.player.self);
    if (this.overtaken(key)) {
      // Another tab saved this player since we last did (or since the copy we resumed from was taken, its
      // stamp late to reach us): we are the stale one, and must not vote on.
      this.stopReplaced(`another tab saved player ${this.player.self} since this one did: stopping`);
      return;
    }
    // Storage full or disabled: the writer removes the record rather than keep an older one (a reload
    // would resume this ID with a promise or vote it has since gone past); the reload joins anew.
    this.stampedWrite(key, {
      id: this.player.self,
      token: this.token,
      persisted,
      ...this.recordFields(this.incarnation ?? undefined),
    });
  }

  /** The state of a session the server ended, stamped as any save is, and stored (`store`) without its token. */
  private saveExpired(
    key: string,
    id: Id,
    persisted: Persisted,
    incarnation: string | undefined,
    store: boolean,
  ): void {
    if (this.leaving || this.stopped || this.overtaken(key)) return;
    const record: Saved = { id, expired: true, persisted, ...this.recordFields(incarnation) };
    this.stampedWrite(key, store ? record : null);
  }

  /** What every saved record of this tab's player carries besides its ID, token and state. */
  private recordFields(
    incarnation: string | undefined,
  ): Pick<Saved, 'ownerToken' | 'incarnation' | 'continued'> {
    return {
      ...(this.ownerToken ? { ownerToken: this.ownerToken } : {}),
      ...(incarnation ? { incarnation } : {}),
      ...(this.continued.size > 0 ? { continued: [...this.continued] } : {}),
    };
  }

  /** This tab stops: another holds its player now (`log` says why, when there is more to say). */
  private stopReplaced(log: string | null, message = STALE_MESSAGE): void {
    this.stop();
    if (log) this.log('net', log);
    this.setPhase('replaced', message);
  }

  /**
   * Writes `record` (or clears storage, for null) under the next count of identity `key`, past the one this
   * tab read for it too (a page that loaded it but never saved it), and stamps the count whether or not the
   * write succeeded: a copy taken before it is behind this state either way.
   */
  private stampedWrite(key: string, record: Saved | null): void {
    const writes = Math.max(this.writes, this.stamped?.key === key ? this.stamped.writes : 0) + 1;
    this.writes = writes;
    if (record) this.saved.write({ ...record, writes });
    else this.clearSaved();
    this.deps.stamps?.set(key, writes);
    this.stamped = { key, writes };
  }

  /**
   * Another tab continues player `id`'s slot (it was refused the same token first): a page that played it
   * stops, as a stale copy does at a save; a page that only loaded its state joins as a new player with the
   * room's facts from it.
   */
  private yieldSlot(
    id: Id,
    persisted: Persisted,
    incarnation: string | undefined,
  ): Promise<void> | undefined {
    if (this.player) {
      this.stopReplaced(`another tab continues player ${id}: stopping`);
      return;
    }
    this.log('net', `another tab continues player ${id}: joining as a new player`);
    this.copied = factsOf(persisted);
    this.copiedIncarnation = incarnation;
    this.token = null;
    this.clearSaved();
    return this.join();
  }

  /** Whether another tab saved this identity (`key`, ours by default) since this one last did. */
  private overtaken(key = this.stamped?.key): boolean {
    const s = this.stamped;
    if (!s || s.key !== key) return false;
    const theirs = this.deps.stamps?.get(key);
    return theirs != null && theirs > s.writes;
  }

  /**
   * Another tab resumed our session (without Web Locks, a copy can). If nobody saved this player since we
   * did, that copy is the stale one, and stops at its first save: keep playing, and take the session back
   * when the server's disconnect is followed by our reconnect. Once: two copies cannot trade it for good.
   */
  private mayTakeBack(): boolean {
    const s = this.stamped;
    if (this.tookBack || !s || !this.player || this.deps.stamps?.get(s.key) !== s.writes) return false;
    this.tookBack = true;
    // Silent until the resume: the copy may be as far as we are, and it plays now (join() checks again).
    this.muted = true;
    this.log(
      'net',
      `a copy of this tab resumed player ${this.player.self}, which this tab saved last: taking it back`,
    );
    // Muted, the loop publishes nothing: say it now.
    this.publish(true);
    return true;
  }

  /** The identity this page held ends here (a new ID, a leave, a removal): every copy of it is stale. */
  private retireStamp(): void {
    if (this.heldKey !== null) this.deps.stamps?.set(this.heldKey, Number.MAX_SAFE_INTEGER);
    this.heldKey = null;
    this.stamped = null;
  }

  private clearSaved(): void {
    clearSaved(this.deps.storage, this.params.room);
    this.saved.reset();
  }

  /** Log lines go out with the next view (publish), or at once while there is no player to publish. */
  private log(kind: LogKind, text: string): void {
    const at = this.deps.now() - this.deps.store.getState().session.startedAt;
    if (this.player && !this.stopped) {
      if (this.pendingLog.length < LOG_CAP) this.pendingLog.push({ kind, text, at });
      return;
    }
    this.actions.log([{ kind, text, at }]);
  }

  private get actions() {
    return this.deps.store.getState().actions;
  }

  private setPhase(phase: SessionPhase, error: string | null, j?: Joined, code?: string): void {
    this.actions.setPhase(phase, error, j, code);
  }
}

function sameSettings(a: RoomSettings, b: RoomSettings): boolean {
  return (
    a.heartbeatMs === b.heartbeatMs &&
    a.timeoutMs === b.timeoutMs &&
    a.stages.length === b.stages.length &&
    a.stages.every((x, i) => x === b.stages[i])
  );
}

/**
 * A roster for the log: in full the first time, then what changed, so a room of 32 logs a line a join, not
 * every member each time.
 */
export function rosterChange(before: RosterMsg | null, r: RosterMsg): string {
  type M = RosterMsg['members'][number];
  const grace = (m?: M) => m?.state === 'grace';
  const n = r.members.length;
  const head = `roster v${r.version}: ${n} player${n === 1 ? '' : 's'}`;
  if (!before) return `${head} (${r.members.map((m) => `${m.id}${grace(m) ? ' in grace' : ''}`).join(', ')})`;
  const was = new Map(before.members.map((m) => [m.id, m]));
  const now = new Set(r.members.map((m) => m.id));
  const say = (what: string, list: M[]) =>
    list.length ? `; ${what} ${list.map((m) => m.id).join(', ')}` : '';
  // Into grace (or out of it) since the roster before.
  const moved = (m: M, into: boolean) => was.has(m.id) && grace(m) === into && grace(was.get(m.id)) !== into;
  return (
    head +
    say(
      'joined',
      r.members.filter((m) => !was.has(m.id)),
    ) +
    say(
      'left',
      before.members.filter((m) => !now.has(m.id)),
    ) +
    say(
      'in grace',
      r.members.filter((m) => moved(m, true)),
    ) +
    say(
      'back',
      r.members.filter((m) => moved(m, false)),
    )
  );
}
