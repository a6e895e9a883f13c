// Fault injection as a decorator: it wraps the link factory and the signaling port, so Mesh and Session
// carry no crash, cut or latency checks. Only the app's chaos panel and tests use it.

import type { AppStore, ChaosSlice, LogKind } from '../store/store.ts';
import { shareLinkBudget } from './mesh.ts';
import type { SignalingHandlers, SignalingPort } from './signaling.ts';
import type { LinkFactory, PeerLink } from './transport.ts';

export interface ChaosDeps {
  /** Runs fn after ms (latency). */
  delay(fn: () => void, ms: number): void;
  /** Where the panel's state and the log lines go; optional for tests. */
  store?: AppStore;
  now(): number;
}

/** The most outbound latency the panel adds (more would read as a crash, which has its own button). */
export const MAX_LATENCY_MS = 5_000;

/** What the panel's latency field says, read strictly: whole milliseconds, or why not in a sentence. */
export function parseLatencyMs(text: string): { ok: true; ms: number } | { ok: false; error: string } {
  const t = text.trim();
  const ms = /^\d{1,7}$/.test(t) ? Number(t) : Number.NaN;
  return ms <= MAX_LATENCY_MS
    ? { ok: true, ms }
    : { ok: false, error: `Latency is a whole number of milliseconds, 0 to ${MAX_LATENCY_MS}.` };
}

const deadLink: PeerLink = { send: () => false, signal: () => {}, destroy: () => {} };

export class Chaos {
  private crashed = false;
  private readonly cuts = new Set<number>();
  private latencyMs = 0;
  private port: SignalingPort | null = null;
  private handlers: SignalingHandlers | null = null;
  /** What the server said while we were crashed: the newest roster, and whether a connection came up. */
  private missedRoster: Parameters<SignalingHandlers['roster']>[0] | null = null;
  private missedConnect = false;

  constructor(private readonly deps: ChaosDeps) {}

  /** Links to a cut peer, or of a crashed tab, neither send nor deliver; latency delays what they send. */
  factory(inner: LinkFactory): LinkFactory {
    return shareLinkBudget((opts, events) => {
      // A crashed tab builds nothing: the mesh times the dead link out and retries after recovery.
      if (this.crashed) return deadLink;
      const blocked = () => this.crashed || this.cuts.has(opts.peer);
      const link = inner(opts, {
        ...events,
        signal: (d) => {
          if (!this.crashed) events.signal(d);
        },
        data: (text) => {
          if (!blocked()) events.data(text);
        },
      });
      return {
        send: (text) => {
          if (blocked()) return false;
          if (this.latencyMs === 0) return link.send(text);
          this.deps.delay(() => link.send(text), this.latencyMs);
          return true;
        },
        signal: (d) => link.signal(d),
        destroy: () => link.destroy(),
      };
    }, inner);
  }

  /** A crashed tab hears nothing from the server and says nothing; what it missed is replayed on recovery. */
  signaling(inner: SignalingPort): SignalingPort {
    this.port = inner;
    return {
      get connected() {
        return inner.connected;
      },
      start: (h) => {
        this.handlers = h;
        inner.start({
          ...h,
          connected: () => {
            if (this.crashed) this.missedConnect = true;
            else h.connected();
          },
          roster: (r) => {
            if (!this.crashed) return h.roster(r);
            if (!this.missedRoster || r.version > this.missedRoster.version) this.missedRoster = r;
          },
          signal: (from, data) => {
            if (!this.crashed) h.signal(from, data);
          },
          relay: (from, data) => {
            if (!this.crashed) h.relay(from, data);
          },
        });
      },
      join: (req) => inner.join(req),
      leave: () => inner.leave(),
      // A crashed tab says no goodbye.
      bye: (unlisted) => {
        if (!this.crashed) inner.bye(unlisted);
      },
      // A crashed tab's signals vanish, as if sent.
      signal: (to, data) => (this.crashed ? Promise.resolve({ ok: true }) : inner.signal(to, data)),
      remove: (room, id, token) => inner.remove(room, id, token),
      relay: (to, data) => {
        if (this.crashed) return false;
        if (this.latencyMs === 0) return inner.relay(to, data);
        if (!inner.connected) return false;
        this.deps.delay(() => inner.relay(to, data), this.latencyMs);
        return true;
      },
      reconnectIn: (ms) => inner.reconnectIn(ms),
      redial: (ms) => inner.redial(ms),
      ...(inner.setOffline ? { setOffline: (offline: boolean) => inner.setOffline?.(offline) } : {}),
      close: () => inner.close(),
    };
  }

  crash(): void {
    if (this.crashed) return;
    this.crashed = true;
    this.update({ crashed: true }, 'crashed: silent, all traffic dropped');
  }

  recover(): void {
    if (!this.crashed) return;
    this.crashed = false;
    this.update({ crashed: false }, 'recovered');
    const h = this.handlers;
    const roster = this.missedRoster;
    this.missedRoster = null;
    if (h && roster) h.roster(roster);
    if (h && this.missedConnect) {
      this.missedConnect = false;
      h.connected();
    }
  }

  setCut(peer: number, cut: boolean): void {
    if (cut) this.cuts.add(peer);
    else this.cuts.delete(peer);
    this.update(
      { cut: [...this.cuts].sort((a, b) => a - b) },
      cut ? `cut the direct link to ${peer}` : `restored the direct link to ${peer}`,
    );
  }

  /** Lose the signaling server but keep the mesh (a toggle), as a flaky proxy or Wi-Fi would. */
  setServerCut(cut: boolean): void {
    if (!this.port?.setOffline) return;
    this.port.setOffline(cut);
    this.update(
      { serverCut: cut },
      cut ? 'cut from the signaling server (the mesh stays)' : 'back to the signaling server',
    );
  }

  setLatency(ms: number): void {
    const v = Math.max(0, Math.min(MAX_LATENCY_MS, Math.round(ms) || 0));
    this.latencyMs = v;
    this.update({ latencyMs: v }, v ? `outbound latency ${v} ms` : 'latency removed');
  }

  private update(patch: Partial<ChaosSlice>, text: string): void {
    const store = this.deps.store;
    if (!store) return;
    const kind: LogKind = 'chaos';
    store.getState().actions.setChaos(patch);
    store.getState().actions.log([{ kind, text, at: this.deps.now() - store.getState().session.startedAt }]);
  }
}
