// The app's state: one vanilla zustand store (the net layer writes it, React reads it through selectors).

import { createStore } from 'zustand/vanilla';
import type { CoreEvent, Id, View } from '../core/index.ts';
import type { PeerNetInfo, Via } from '../net/mesh.ts';
import type { SignalingStatus } from '../net/signaling.ts';
import type { Joined, RoomSettings, RosterMsg } from '../protocol/signaling.ts';

export type SessionPhase =
  | 'idle'
  | 'joining'
  | 'joined'
  | 'failed'
  | 'left'
  | 'replaced'
  | 'removed'
  /** The room or server speaks another protocol version: the page must reload. */
  | 'outdated';

export interface SessionSlice {
  phase: SessionPhase;
  room: string;
  name: string;
  selfId: Id | null;
  resumed: boolean;
  settings: RoomSettings | null;
  signaling: SignalingStatus;
  signalingDetail: string;
  graceMs: number;
  /** This tab holds the room's owner token (the server confirmed it at the last join): it may remove players. */
  owner: boolean;
  error: string | null;
  /** The server's refusal code when phase is `failed` (room_full, bad_password, …). */
  errorCode: string | null;
  /** performance.now() when this page started its session; log times are relative to it. */
  startedAt: number;
}

export type LogKind =
  | 'role'
  | 'leader'
  | 'suspect'
  | 'alive'
  | 'election'
  | 'propose'
  | 'advance'
  | 'rejected'
  | 'members'
  | 'forked'
  | 'snapshot'
  | 'retired'
  | 'renamed'
  | 'resumed'
  | 'misbehaved'
  | 'expelled'
  | 'commit'
  | 'proposed'
  | 'superseded'
  | 'net'
  | 'chaos'
  | 'bad';

export interface LogEntry {
  seq: number;
  /** ms since the session started. */
  at: number;
  wall: number;
  kind: LogKind;
  text: string;
}

export interface TimelineEntry {
  at: number;
  term: number;
  leader: Id;
}

export interface Flight {
  seq: number;
  dir: 'out' | 'in';
  peer: Id;
  /** Core message type, or 'ping'/'pong'. */
  type: string;
  at: number;
  via: Via | 'dropped';
}

/** A ring of recent messages; mutated in place (too many per second for immutable updates). */
export class FlightLog {
  private items: Flight[] = [];
  private seq = 0;
  private readonly moves = new Set<() => void>();
  constructor(private readonly cap = 400) {}
  add(f: Omit<Flight, 'seq'>): void {
    this.items.push({ ...f, seq: ++this.seq });
    if (this.items.length > this.cap) this.items.splice(0, this.items.length - this.cap);
    if (f.type === 'hb') return;
    for (const fn of this.moves) {
      // Called from the network path: a listener's error must not cost the core the message it is about.
      try {
        fn();
      } catch (err) {
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
  /** Told of each message but a heartbeat: a still visualizer sleeps until one, instead of polling. */
  onMove(fn: () => void): () => void {
    this.moves.add(fn);
    return () => this.moves.delete(fn);
  }
  since(t: number): Flight[] {
    const out: Flight[] = [];
    for (let i = this.items.length - 1; i >= 0; i--) {
      const f = this.items[i]!;
      if (f.at < t) break;
      out.push(f);
    }
    return out.reverse();
  }
  get total(): number {
    return this.seq;
  }
}

export interface ChaosSlice {
  crashed: boolean;
  cut: Id[];
  latencyMs: number;
  /** Cut from the signaling server on purpose (the mesh stays). */
  serverCut: boolean;
}

export interface NetStats {
  badFrames: number;
  linksCreated: number;
  sentDirect: number;
  sentRelay: number;
  dropped: number;
}

/** Password rooms (see net/sealedSignaling.ts). */
export interface SecuritySlice {
  /** This tab joined with a password: signals and relayed frames are end-to-end encrypted. */
  sealed: boolean;
  /** Payloads dropped because they did not decrypt (wrong key, tampered, misaddressed or unsealed). */
  decryptErrors: number;
  /** The server refused the join's password (bad_password). */
  passwordRefused: boolean;
}

/**
 * The session's current view and links, read straight from it. The store is refreshed only when something
 * visible changes; the visualizer animates timers at its own frame rate and reads through this instead.
 */
export class LiveProbe {
  read: () => { view: View; net: PeerNetInfo[] } | null = () => null;
}

export type LogLine = { kind: LogKind; text: string; at: number };

/** Every write to the store: the driver and the library call these, nothing else calls setState. */
export interface AppActions {
  /** A new session in this store: everything from before is dropped. */
  reset(room: string, name: string, startedAt: number, sealed: boolean): void;
  setSignaling(status: SignalingStatus, detail: string): void;
  /** `j`: the join that made it `joined`; `code`: the server's refusal when `failed`. */
  setPhase(phase: SessionPhase, error: string | null, j?: Joined, code?: string): void;
  setRoster(roster: RosterMsg): void;
  /** The driver's periodic publication: a changed view, links and counters, and the log lines since. */
  publish(p: { view: View; net: PeerNetInfo[]; stats: NetStats; lines: LogLine[]; at: number }): void;
  log(lines: readonly LogLine[]): void;
  setChaos(patch: Partial<ChaosSlice>): void;
  /** A sealed payload that did not open (password rooms). */
  decryptFailed(line: LogLine): void;
  passwordRefused(): void;
}

export interface AppState {
  actions: AppActions;
  session: SessionSlice;
  security: SecuritySlice;
  view: View | null;
  roster: RosterMsg | null;
  net: PeerNetInfo[];
  log: LogEntry[];
  timeline: TimelineEntry[];
  flights: FlightLog;
  probe: LiveProbe;
  chaos: ChaosSlice;
  stats: NetStats;
}

export const LOG_CAP = 300;

export type AppData = Omit<AppState, 'actions'>;

export function initialState(): AppData {
  return {
    session: {
      phase: 'idle',
      room: '',
      name: '',
      selfId: null,
      resumed: false,
      settings: null,
      signaling: 'connecting',
      signalingDetail: '',
      graceMs: 0,
      owner: false,
      error: null,
      errorCode: null,
      startedAt: 0,
    },
    security: { sealed: false, decryptErrors: 0, passwordRefused: false },
    view: null,
    roster: null,
    net: [],
    log: [],
    timeline: [],
    flights: new FlightLog(),
    probe: new LiveProbe(),
    chaos: { crashed: false, cut: [], latencyMs: 0, serverCut: false },
    stats: { badFrames: 0, linksCreated: 0, sentDirect: 0, sentRelay: 0, dropped: 0 },
  };
}

export const createAppStore = () =>
  createStore<AppState>()((set) => ({
    ...initialState(),
    actions: {
      reset: (room, name, startedAt, sealed) => {
        const fresh = initialState();
        set({
          ...fresh,
          session: { ...fresh.session, room, name, phase: 'joining', startedAt },
          security: { ...fresh.security, sealed },
        });
      },
      setSignaling: (signaling, signalingDetail) =>
        set((s) => ({ session: { ...s.session, signaling, signalingDetail } })),
      setPhase: (phase, error, j, code) =>
        set((s) => ({
          session: {
            ...s.session,
            phase,
            error,
            errorCode: code ?? null,
            ...(j
              ? {
                  selfId: j.id,
                  resumed: j.resumed,
                  settings: j.settings,
                  graceMs: j.graceMs,
                  owner: j.ownerToken !== undefined,
                }
              : {}),
          },
        })),
      setRoster: (roster) => set({ roster }),
      publish: ({ view, net, stats, lines, at }) =>
        set((s) => {
          const last = s.timeline[s.timeline.length - 1];
          const timeline =
            !last || last.term !== view.term || last.leader !== view.leader
              ? [
                  ...s.timeline.slice(-199),
                  { at: at - s.session.startedAt, term: view.term, leader: view.leader },
                ]
              : s.timeline;
          return { view, timeline, net, stats, ...(lines.length > 0 ? appendLines(s, lines) : {}) };
        }),
      log: (lines) => set((s) => appendLines(s, lines)),
      setChaos: (patch) => set((s) => ({ chaos: { ...s.chaos, ...patch } })),
      decryptFailed: (line) =>
        set((s) => ({
          security: { ...s.security, decryptErrors: s.security.decryptErrors + 1 },
          ...appendLines(s, [line]),
        })),
      passwordRefused: () => set((s) => ({ security: { ...s.security, passwordRefused: true } })),
    },
  }));
export type AppStore = ReturnType<typeof createAppStore>;

let logSeq = 0;

/** Several lines in one copy of the log, which keeps its newest LOG_CAP entries. */
function appendLines(
  state: AppData,
  lines: readonly { kind: LogKind; text: string; at: number }[],
): Pick<AppState, 'log'> {
  const wall = Date.now();
  const log = [...state.log, ...lines.map((l) => ({ seq: ++logSeq, wall, ...l }))];
  return { log: log.length > LOG_CAP ? log.slice(-LOG_CAP) : log };
}

export function describeEvent(e: CoreEvent): string {
  switch (e.kind) {
    case 'role':
      return `became ${e.role} in term ${e.term}`;
    case 'leader':
      return `leader is ${e.leader} (term ${e.term})`;
    case 'suspect':
      return `suspects ${e.peer}`;
    case 'alive':
      return `hears ${e.peer} again`;
    case 'timeout':
      return e.ms > e.roomMs
        ? `heartbeats have come late: waits ${e.ms} ms before suspecting a silent player (the room's ${e.roomMs})`
        : `heartbeats on time again: back to the room's ${e.roomMs} ms timeout`;
    case 'election':
      return e.to.length ? `ELECTION to ${e.to.join(', ')}` : 'ELECTION (nobody lower)';
    case 'propose':
      return e.entry.kind === 'stage'
        ? `proposes stage ${e.entry.stage} (done: ${e.entry.done.join(', ')} of ${e.members.length})`
        : `proposes agreed members ${e.entry.members.join(', ')}`;
    case 'members':
      return `agreed members are ${e.members.join(', ')}`;
    case 'advance':
      return `advanced to stage ${e.entry.stage} (term ${e.entry.term})`;
    case 'rejected':
      return `rejected ${e.from}: ${e.reason}`;
    case 'snapshot':
      return `caught up from a snapshot of the log up to entry ${e.index}`;
    case 'forked':
      return `our log forked from the room's at entry ${e.index}: reset to leader ${e.leader}'s`;
    case 'retired':
      return `player ${e.peer} left for good: the room counts without it`;
    case 'renamed':
      return `player ${e.from} is back as ${e.to}`;
    case 'resumed':
      return 'woke from a freeze: listening before acting';
    case 'misbehaved':
      return `player ${e.peer} ${e.reason} (${e.count}${e.count >= 5 ? '; further ones are only counted' : ''})`;
    case 'expelled':
      return `player ${e.peer} was removed by the room's owner`;
    case 'commit':
      return `committed ${e.entry.ops?.length ?? 0} app values (entry ${e.entry.index})`;
    case 'proposed':
      return `our proposal ${e.seq} is committed at ${e.index}.${e.n}`;
    case 'superseded':
      return `our proposal ${e.seq} cannot apply: another value took its number (entry ${e.index})`;
  }
}
