// The public types of the library. They are its own, never the core's or the driver's: those may change
// without notice, these only with a new major version (README, "Use it in your app").

import type { LockstepErrorCode } from './errors.ts';

/** A player's ID in a room: a positive integer, handed out in join order, never reused while the room lives (a room opened anew starts again from 1). */
export type PlayerId = number;

/** Room settings; only the player who creates the room chooses them, later joiners get the room's own. */
export interface RoomSettings {
  /** Heartbeat period, 50–5000 ms (default 250). */
  heartbeatMs: number;
  /** Silence after which a player is suspected, 300–60000 ms and at least 3 heartbeats (default 1500). */
  timeoutMs: number;
  /** Stage names, 1–100 of 1–48 characters; the last stage is final. */
  stages: string[];
}

/** The WebRTC implementation for Node (e.g. `import wrtc from '@roamhq/wrtc'`); browsers have their own. */
export interface RtcImplementation {
  RTCPeerConnection: unknown;
  RTCSessionDescription: unknown;
  RTCIceCandidate: unknown;
}

/** Where a resume token and the player's protocol state are kept (sessionStorage in a browser tab). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface JoinOptions {
  /** The signaling server's URL, e.g. `https://play.example` or `http://127.0.0.1:8080`. */
  server: string;
  /** 1–64 characters of `A–Z a–z 0–9 _ -`. */
  room: string;
  /** 1–32 characters; control characters are removed and spaces collapsed. */
  name: string;
  /** A password room's password (1–256 characters); every signal and relayed frame is sealed with it. */
  password?: string;
  /** Used only if this join creates the room. */
  settings?: Partial<RoomSettings>;
  /** WebRTC for Node; in a browser leave it out. */
  rtc?: RtcImplementation;
  /**
   * Keeps the player's identity across reloads. Default: `sessionStorage` in a browser (a reload resumes
   * the same ID), memory in Node. `null` keeps nothing.
   */
  storage?: KeyValueStore | null;
  /** Reject with `timeout` (or `unreachable`) if not joined within this long. Default 15000 ms. */
  timeoutMs?: number;
  /**
   * How long `propose` may wait for a leader to take a value before it takes the value back and rejects
   * with `no_quorum`. Default 5000 ms (1–600000).
   */
  proposeTimeoutMs?: number;
  /** Aborting before the join settles rejects it with `aborted` and closes everything it opened; after, it does nothing. */
  signal?: AbortSignal;
  /**
   * Called while the join is under way, each time where it stands changes, so a page can say more than
   * "joining…" for the up to `timeoutMs` it may take. Not called once `joinRoom` has settled.
   */
  onProgress?: (progress: JoinProgress) => void;
  /**
   * Browser page lifecycle (default true in a browser): a hidden page is shown to others as `away`, a
   * closing page says goodbye, a page back from a freeze listens before it acts.
   */
  pageLifecycle?: boolean;
  /**
   * Testing aid: wraps the mesh and the server connection in fault injection (crash, cut links, latency,
   * lose the server) that `<LockstepDevtools>` shows as its chaos panel. Default false.
   */
  chaos?: boolean;
  /**
   * Testing aid for e2e tests of a lying player: puts `window.lockstepTest` on the page, which sends any
   * core message unchecked. It grants nothing devtools lack, and says so in the event log. Default false.
   */
  testHooks?: boolean;
}

/** Where a join under way stands (`onProgress`). */
export interface JoinProgress {
  /**
   * `connecting`: the server is not reached yet (`detail` says why, once a try failed); `joining`: asked,
   * waiting for the answer; `waiting`: the server refused for now and the join asks again by itself
   * (`detail` is its reason, e.g. the room waits for its players to come back).
   */
  step: 'connecting' | 'joining' | 'waiting';
  detail: string;
}

/**
 * How a player is reached, from this player's point of view: `self`; `direct` over a data channel;
 * `relayed` through the server; `suspected` (not heard within the timeout); `away` (live, but its page is
 * hidden); `offline` (said goodbye, in its reconnect grace, or never heard).
 */
export type PlayerState = 'self' | 'direct' | 'relayed' | 'suspected' | 'away' | 'offline';

export interface Player {
  id: PlayerId;
  name: string;
  state: PlayerState;
  isLeader: boolean;
  done: boolean;
  /** The stage this player last reported. */
  stage: number;
  /**
   * ms since it was last heard (by us or vouched for by the leader), rounded down to steps of two heartbeats
   * (at least 500 ms, at most the timeout), so a live player reads 0; null if never.
   */
  lastHeardMs: number | null;
  /** Round-trip time over the path in use, ms, renewed at most once a second; null if not measured. */
  rttMs: number | null;
  /** Invalid or impossible messages it sent us. */
  strikes: number;
  /** The room's owner removed it. */
  removed: boolean;
  /**
   * The server names it the room's owner: the player whose join last proved the owner token, and so may
   * remove others. Shown, never trusted for a decision.
   */
  owner: boolean;
}

export interface Stage {
  /** 0-based. */
  index: number;
  name: string;
  /** The last stage: nothing follows it. */
  final: boolean;
}

export interface HistoryEntry {
  /** The stage the room advanced to. */
  stage: number;
  name: string;
  /** The term of the leader that committed it. */
  term: number;
  /** Who was Done when it was decided. */
  doneBy: PlayerId[];
}

export interface Quorum {
  /** Live voters, all voters, and how many are needed. */
  live: number;
  members: number;
  needed: number;
  /** A majority of the agreed players is reachable: this side can advance. */
  ok: boolean;
  /**
   * Players the owner removed leave too few agreed players for a majority: this room cannot go on (removing
   * a voter is itself a change a majority must agree to). Its players can only meet again in a new room.
   */
  lost: boolean;
  /** Voters we do not hear. */
  waitingFor: PlayerId[];
  /** Why this side cannot advance right now, in words; null if it can. */
  blocked: string | null;
}

export interface DoneCount {
  /** Done players out of the live players, as the leader last reported (0 of the live count without one). */
  done: number;
  of: number;
  /** Live players not done yet, per the leader. */
  waitingFor: PlayerId[];
  fromLeader: boolean;
}

export type ServerStatus = 'connecting' | 'up' | 'down';

/**
 * `joined`, or why the room is over for this player (`closed`: by close(); `outdated`: our server speaks
 * another protocol version, so this page must reload; the reload resumes the same player).
 */
export type RoomStatus = 'joined' | 'left' | 'closed' | 'removed' | 'replaced' | 'outdated' | 'failed';

/** Everything a Room shows, as one immutable value; a new object only when something in it changed. */
export interface RoomSnapshot {
  status: RoomStatus;
  room: string;
  selfId: PlayerId;
  /** null while there is no leader. */
  leaderId: PlayerId | null;
  isLeader: boolean;
  role: 'follower' | 'candidate' | 'leader';
  /** The leader's term: a fencing token. Work a leader started in an older term is stale. */
  term: number;
  stage: Stage;
  /** Our Done for the current stage. */
  done: boolean;
  /** Our Done can no longer be taken back (the leader's proposal is accepted). */
  locked: boolean;
  /** This page is hidden: the others see us as `away`. */
  away: boolean;
  players: Player[];
  quorum: Quorum;
  doneCount: DoneCount;
  history: HistoryEntry[];
  server: { status: ServerStatus; detail: string };
  settings: RoomSettings;
  /** This player created the room (or holds its owner token) and may remove others. */
  owner: boolean;
  /** This player has caught up with the room's agreed log; before that, its stage may still move on. */
  synced: boolean;
  /**
   * Removed players whose word the app state this player caught up from (an `onEntry` snapshot item) rests on,
   * while no other player has a clean one to hand it: that state may be false. Usually empty.
   */
  stateFromRemoved: number[];
  /** A password room: signals and relayed frames are end-to-end encrypted. */
  sealed: boolean;
  /** Sealed payloads dropped because they did not open (wrong key, tampered, misaddressed or unsealed). */
  rejectedPayloads: number;
  /** Why the room ended for us (status `failed`, `removed`, `replaced`, `outdated`); null otherwise. */
  error: string | null;
  /** With status `failed`: the server's refusal as a `LockstepError` code (e.g. `bad_password` on a rejoin). */
  errorCode: LockstepErrorCode | null;
}

export interface RoomEvents {
  /** Any change of the snapshot (after the specific events below). */
  change: RoomSnapshot;
  /** A new leader or a new term. */
  leader: { leaderId: PlayerId | null; term: number; isLeader: boolean };
  /** The room advanced. */
  stage: Stage & { term: number };
  /** A player joined, left or changed state, name, Done or leadership. */
  players: Player[];
  /** A majority became reachable, or stopped being; or none can form again (`lost`). */
  quorum: Quorum;
  /** The server connection went up or down. */
  server: { status: ServerStatus; detail: string };
  /** An app message failed its channel's check (or came on no channel we opened) and was dropped. */
  invalid: { from: PlayerId; channel: string; reason: string };
  /**
   * The room ended for this player: left, removed by the owner, replaced by another tab, outdated (our server
   * speaks another protocol version: reload), or failed.
   */
  closed: { status: Exclude<RoomStatus, 'joined'>; error: string | null };
}

export type Unsubscribe = () => void;

/**
 * Where a committed app value sits in the agreed log: entry `index`, value `offset` (0-based) within it.
 * From `propose`, offset -1 means the value was committed at or before `index`, inside a snapshot this
 * player caught up from: its entry is gone, and the snapshot's state already holds it.
 */
export interface LogPosition {
  index: number;
  offset: number;
}

/**
 * One item of the agreed log, in the order every player applies it: a stage the room advanced to, or an
 * app value (`room.propose`) with the player whose channel it came on (`by`: nobody can propose in another's
 * name) and the stage it was committed in. `T` is the app's value type, `S` its snapshot state's.
 */
export type LogItem<T = unknown, S = unknown> =
  | { kind: 'stage'; index: number; stage: Stage; term: number; doneBy: PlayerId[] }
  | ({ kind: 'app'; by: PlayerId; data: T; stage: Stage; term: number } & LogPosition)
  /**
   * The log up to `index` is gone, and `state` stands for it: replace the app's state with it; the items
   * after `index` follow. It is a state some player handed `room.snapshot` (this one on a reload, or the
   * player it caught up from): check it as any other player's input. `stage` is the stage at `index`.
   */
  | { kind: 'snapshot'; index: number; stage: Stage; state: S }
  /**
   * Player `from` plays on as `to`: its session ended (asleep past the server's grace, a server restart) and
   * it came back with its state under a new ID. Move whatever the app keeps under `from` (a seat, a vote) to
   * `to`. It rests on `to`'s claim, which the leader commits once `from` has gone quiet and left the server's
   * roster: a modified client can claim a sleeping player's slot, so move nothing onto an ID that already
   * holds something of its own.
   */
  | { kind: 'renamed'; index: number; from: PlayerId; to: PlayerId }
  /**
   * This player's log had taken entries the room never agreed (only a lying leader can feed it such) and now
   * holds the room's from `index` on: start the app's state afresh; the whole log follows again.
   */
  | { kind: 'reset'; index: number };

export interface LogOptions {
  /**
   * The first log index to deliver (default 1: everything, so a reloaded page or a late joiner rebuilds its
   * state from the start, or from the log's snapshot when it has one at or after `from`). Items already
   * committed come first, on a later microtask, then each new one.
   */
  from?: number;
}

export interface ChannelOptions<T> {
  /**
   * Checks what arrives (it is another player's input): return the value, or throw to drop it. The
   * drop is reported as an `invalid` event. Default: any JSON value is accepted as it is.
   */
  parse?: (data: unknown) => T;
}

/** A typed, namespaced stream of app messages (like Trystero's `makeAction`). */
export interface Channel<T> {
  readonly name: string;
  /**
   * Sends to every other player (default) or to `to`, over the data channel or else the server relay
   * (sealed in a password room). Throws `LockstepError` `too_large` (a frame over 11,000 bytes: the
   * data's JSON, the name and about 30 bytes), `bad_argument` (not JSON, or undefined), `rate_limited` (past
   * the send budget, or what the server may relay for us) or `not_joined`. Returns the IDs it went to. Delivery is best effort, in
   * order per sender on one path; a player offline at the time does not get it later.
   */
  send(data: T, options?: { to?: PlayerId | PlayerId[] }): PlayerId[];
  /** Listens for messages from other players. */
  on(listener: (data: T, from: PlayerId) => void): Unsubscribe;
}

export interface Room {
  readonly selfId: PlayerId;
  readonly leaderId: PlayerId | null;
  readonly isLeader: boolean;
  readonly term: number;
  readonly stage: Stage;
  readonly players: Player[];
  readonly quorum: Quorum;
  readonly history: HistoryEntry[];
  readonly server: { status: ServerStatus; detail: string };
  /** The current snapshot; the same object until something changes (fit for useSyncExternalStore). */
  getSnapshot(): RoomSnapshot;
  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe(listener: () => void): Unsubscribe;
  on<E extends keyof RoomEvents>(event: E, listener: (value: RoomEvents[E]) => void): Unsubscribe;
  /** Marks this player Done (or not) for the current stage. Ignored on the final stage or once locked. */
  setDone(done: boolean): void;
  /** Shows this player as away (hidden) or back; a browser room does this from the page's visibility. */
  setAway(away: boolean): void;
  channel<T = unknown>(name: string, options?: ChannelOptions<T>): Channel<T>;
  /**
   * Submits `value` (JSON, at most 1,024 bytes of it in UTF-8) for the agreed log. Resolves with its position once a
   * quorum committed it; every player then gets it from `onEntry`, once, in the same order. Rejects with
   * `bad_argument` (not JSON: undefined, a function, a BigInt, a cycle), `too_large`, `rate_limited` (over 100 a second, or 64 waiting), `not_joined` (also when this player
   * leaves or closes first: the others may still commit it), `no_quorum` (no leader was reached within
   * `proposeTimeoutMs`: it was taken back and never commits, with any later value no leader was offered yet),
   * `log_full` (20,000 entries since the last `snapshot`) or `superseded`. A value a leader received
   * waits for the log to decide it: while a majority is reachable that is one failover at most
   * (docs/sdk.md, "Game state in the log").
   */
  propose<T>(value: T): Promise<LogPosition>;
  /**
   * Calls `listener` with every committed stage and app value, in log order, from `options.from` on; where
   * the log starts from a snapshot at or after `from`, with the snapshot first.
   */
  onEntry<T = unknown, S = unknown>(
    listener: (item: LogItem<T, S>) => void,
    options?: LogOptions,
  ): Unsubscribe;
  /**
   * Hands the library the app's state at log index `index`: its fold of every item up to and including that
   * entry's last. This player then drops its log up to `index` (in memory and in storage); a reload, a new
   * subscription or a late joiner catching up from it gets `{ kind: 'snapshot', state }` in its place.
   * `index` must be one `onEntry` has delivered whole (call it after the listener returns, e.g. on a
   * microtask) and above the last snapshot's. Throws `bad_argument` for another index or a state that is not
   * JSON, `too_large` for one over 65,536 bytes of it (UTF-8), `not_joined`.
   */
  snapshot(index: number, state: unknown): void;
  /** Owner only: removes another player from the room for good. Rejects with `not_owner` and the like. */
  removePlayer(id: PlayerId): Promise<void>;
  /** Leaves for good: says so to the others (they count the room without us) and closes. */
  leave(): Promise<void>;
  /** Closes without leaving: like a closed tab, the others see us offline, and a rejoin may resume the ID. */
  close(): void;
}
