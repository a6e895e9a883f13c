// Node wiring for a headless player: the same Session as a tab, with wrtc links, Node timers, an
// in-memory resume store and counters of what it sends. Node-only: the browser build never imports it.

import { randomInt } from 'node:crypto';
import type { RoomSettings } from '../../../signaling/src/events.ts';
import type { View } from '../core/index.ts';
import { type AppStore, createAppStore } from '../store/store.ts';
import { nodePeerFactory } from './nodePeerLink.ts';
import { memoryStorage } from './platform.ts';
import { Session } from './session.ts';
import { type SignalingPort, SocketSignaling } from './signaling.ts';
import type { LinkFactory } from './transport.ts';

export interface HeadlessOptions {
  url: string;
  room: string;
  name: string;
  settings?: Partial<RoomSettings> | null;
  /** Defaults to the wrtc transport; tests may pass another. */
  factory?: LinkFactory;
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
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(readonly opts: HeadlessOptions) {
    this.store = createAppStore();
    const count = (text: string) => {
      const tag = frameTag(text);
      this.sent.set(tag, (this.sent.get(tag) ?? 0) + 1);
    };
    const factory = opts.factory ?? nodePeerFactory;
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
        storage: memoryStorage(),
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
