// Node wiring for a headless player: the same Session as a tab, with wrtc links, Node timers, an
// in-memory resume store and counters of what it sends. Node-only: the browser build never imports it.

import { randomInt } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type SimplePeer from 'simple-peer';
import type { CoreEvent, View } from '../core/index.ts';
import type { RoomSettings } from '../protocol/signaling.ts';
import { type AppStore, createAppStore } from '../store/store.ts';
import { createNodePeer } from './nodePeerLink.ts';
import { memoryStorage } from './platform.ts';
import { type KeyValueStorage, Session } from './session.ts';
import { type SignalingPort, SocketSignaling } from './signaling.ts';
import { linkFromSimplePeer } from './simplePeerAdapter.ts';
import type { LinkFactory } from './transport.ts';

export interface HeadlessOptions {
  url: string;
  room: string;
  name: string;
  settings?: Partial<RoomSettings> | null;
  /** Defaults to the wrtc transport; tests may pass another. */
  factory?: LinkFactory;
  /** Where the resume state lives; defaults to memory (a restart is a new player). */
  storage?: KeyValueStorage;
}

/** The ICE candidate pair a live connection uses, from its own getStats. */
export interface CandidatePair {
  local: string;
  remote: string;
  /** Candidate types, e.g. "host/host"; "relay" on either side would mean TURN. */
  types: string;
}

/** Frames sent, by core message type (or ping/pong), over either path. */
export type SendCounts = Map<string, number>;

/** What a bot shows: one line's worth of its view. */
export interface ViewLine {
  id: number;
  leader: number;
  term: number;
  stage: number;
  role: string;
  done: boolean;
  live: number;
  members: number;
}

export class HeadlessPlayer {
  readonly store: AppStore;
  readonly session: Session;
  readonly sent: SendCounts = new Map();
  /** Called with the core's events as they happen. */
  readonly coreEvents = new Set<(events: readonly CoreEvent[]) => void>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /** The wrtc peers this player made, while alive (for candidatePairs). */
  private readonly peers = new Set<SimplePeer.Instance>();

  constructor(readonly opts: HeadlessOptions) {
    this.store = createAppStore();
    const count = (text: string) => {
      const tag = frameTag(text);
      this.sent.set(tag, (this.sent.get(tag) ?? 0) + 1);
    };
    const factory: LinkFactory =
      opts.factory ??
      ((o, events) => {
        const peer = createNodePeer(o);
        this.peers.add(peer);
        peer.once('close', () => this.peers.delete(peer));
        return linkFromSimplePeer(peer, events);
      });
    const counting: LinkFactory = (o, events) => {
      const link = factory(o, events);
      return {
        send: (text) => {
          const ok = link.send(text);
          if (ok) count(text);
          return ok;
        },
        signal: (d) => link.signal(d),
        destroy: () => link.destroy(),
      };
    };
    const signaling = countRelay(new SocketSignaling(opts.url), count);
    this.session = new Session(
      { room: opts.room, name: opts.name, settings: opts.settings ?? null },
      {
        signaling,
        factory: counting,
        store: this.store,
        now: () => performance.now(),
        storage: opts.storage ?? memoryStorage(),
        setInterval: (fn, ms) => setInterval(fn, ms),
        clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
        setTimeout: (fn, ms) => {
          const t = setTimeout(() => {
            this.timers.delete(t);
            fn();
          }, ms);
          this.timers.add(t);
          return t;
        },
        random: () => randomInt(2 ** 32) / 2 ** 32,
        onCoreEvents: (events) => {
          for (const f of this.coreEvents) f(events);
        },
      },
    );
  }

  start(): void {
    this.session.start();
  }

  get view(): View | null {
    return this.store.getState().view;
  }

  line(): ViewLine | null {
    const v = this.view;
    if (!v) return null;
    return {
      id: v.self,
      leader: v.leader,
      term: v.term,
      stage: v.stage,
      role: v.role,
      done: v.done,
      live: v.quorum.live,
      members: v.quorum.members,
    };
  }

  /** The selected candidate pair of every connected peer. */
  async candidatePairs(): Promise<CandidatePair[]> {
    const out: CandidatePair[] = [];
    for (const peer of this.peers) {
      const pc = (peer as unknown as { _pc?: RTCPeerConnection })._pc;
      if (!pc || !peer.connected) continue;
      try {
        const pair = selectedPair(await pc.getStats());
        if (pair) out.push(pair);
      } catch {
        // Closed while we asked.
      }
    }
    return out;
  }

  /** Goodbye to the peers, leave the room on the server, close everything. */
  async leave(): Promise<void> {
    try {
      await this.session.leave();
    } finally {
      this.dispose();
    }
  }

  /** Stops without goodbye, like a killed process (peers find out by timeout). */
  dispose(): void {
    this.session.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/** 'hb', 'done', … for a core frame; 'ping'/'pong'; '?' for anything else. */
export function frameTag(text: string): string {
  try {
    const f = JSON.parse(text) as { k?: unknown; m?: { t?: unknown } };
    if (f.k === 'core') return typeof f.m?.t === 'string' ? f.m.t : '?';
    return typeof f.k === 'string' ? f.k : '?';
  } catch {
    return '?';
  }
}

function countRelay(port: SignalingPort, count: (text: string) => void): SignalingPort {
  // Forward the port unchanged except relay, which is counted like a channel send.
  return new Proxy(port, {
    get(target, prop, receiver) {
      if (prop === 'relay') {
        return (to: number, data: string) => {
          const ok = target.relay(to, data);
          if (ok) count(data);
          return ok;
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

type Stat = Record<string, unknown> & { id: string; type: string };

function selectedPair(report: RTCStatsReport): CandidatePair | null {
  const stats = new Map<string, Stat>();
  report.forEach((v: Stat) => {
    stats.set(v.id, v);
  });
  let pair: Stat | undefined;
  for (const s of stats.values()) {
    if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') {
      pair = stats.get(s.selectedCandidatePairId);
    }
  }
  pair ??= [...stats.values()].find(
    (s) => s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated === true,
  );
  if (!pair) return null;
  const l = stats.get(String(pair.localCandidateId));
  const r = stats.get(String(pair.remoteCandidateId));
  if (!l || !r) return null;
  const addr = (c: Stat) => `${String(c.address ?? c.ip)}:${String(c.port)}`;
  return { local: addr(l), remote: addr(r), types: `${String(l.candidateType)}/${String(r.candidateType)}` };
}

/**
 * Resume state in a JSON file, written whole and renamed into place so a SIGKILL mid-write leaves the old
 * one: a player restarted on the same file resumes like a reloaded tab.
 */
export function fileStorage(path: string): KeyValueStorage {
  let m: Record<string, string> = {};
  try {
    const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (raw && typeof raw === 'object') {
      for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') m[k] = v;
    }
  } catch {
    m = {};
  }
  const flush = () => {
    writeFileSync(`${path}.tmp`, JSON.stringify(m));
    renameSync(`${path}.tmp`, path);
  };
  return {
    getItem: (k) => m[k] ?? null,
    setItem: (k, v) => {
      m[k] = v;
      flush();
    },
    removeItem: (k) => {
      delete m[k];
      flush();
    },
  };
}
