// The full mesh: one peer connection per pair, opened by the lower ID, reused for as long as it works.
// No timers and no WebRTC in here: the driver calls maintain() on its own clock, links come from a
// factory, so all of this runs under unit tests with a fake transport.

import {
  decodeFrame,
  encodeFrame,
  type Frame,
  ping,
  type SignalEnvelope,
  versionOf,
} from '../protocol/frames.ts';
import { PROTOCOL_VERSION } from '../protocol/limits.ts';
import type { IceServer } from '../protocol/signaling.ts';
import { Bucket } from './bucket.ts';
import type { LinkFactory, PeerLink } from './transport.ts';

export type Via = 'direct' | 'relay';

export type { SignalEnvelope } from '../protocol/frames.ts';

export interface MeshConfig {
  /**
   * A direct link that has owed us an answer this long (we sent on it and heard nothing back) is not trusted
   * for sending: relay instead. A link that is merely quiet owes nothing, so idle links need no chatter.
   */
  staleMs: number;
  /** A link that has owed us an answer this long gets a ping, so a live far side clears the debt. */
  pingMs: number;
  /**
   * An RTT sample is taken this often on a link that carries our core traffic, or less often in a big room
   * (rttPingsPerSec). Pinging every link at the heartbeat rate on top of the heartbeats tripled the frames per
   * link (ping, pong, heartbeat).
   */
  rttMs: number;
  /**
   * RTT samples this tab takes a second at most: rttMs stretches with the room. A leader of 32, or anyone in
   * an election (when everyone beats to everyone), would otherwise ping 31 links a second and answer as many.
   * Probes of a link that owes an answer (pingMs) are not counted: they are the failure detector.
   */
  rttPingsPerSec: number;
  /**
   * A link that carries no core traffic of ours (followers reach each other only in elections) is pinged
   * this often: its RTT for the players list, and a dead one shows before it is needed.
   */
  idlePingMs: number;
  /** Ping period through the relay, for the RTT of relayed peers. */
  relayPingMs: number;
  /**
   * Idle and relayed pings this tab sends a second at most, over all its peers: the two periods above stretch
   * with the room. Every pair pinging every 2 s is O(N²): in a room of 24 headless players, three in four of
   * all frames were pings.
   */
  idlePingsPerSec: number;
  /**
   * An unopened link is abandoned after this long, counted again from when ICE found a pair: on 2 cores
   * busy with 8 forming tabs, DTLS took seconds after that, and links cut at 10 s from their start were
   * built again from scratch (128 connections for a mesh of 56, none of them lost to a dropped socket).
   */
  connectTimeoutMs: number;
  /**
   * The higher ID waits this long for the lower one's offer before it asks for one (a hello). Asking at once
   * cost a storm of restarted links when signals were slow: every handshake still in flight was torn down.
   */
  helloAfterMs: number;
  /**
   * A hello that names another epoch than our unopened link's was sent before our offer arrived (or the
   * offer was lost): it restarts the link only once the link is this old. One that names the link's epoch
   * restarts it at once: the responder had the offer and gave up on it.
   */
  helloGuardMs: number;
  /** First retry delay; doubles up to maxBackoffMs, back to the start once a link opens. */
  backoffMs: number;
  maxBackoffMs: number;
  /**
   * Chromium allows a tab 500 RTCPeerConnections in its lifetime: stay clear, then relay only. Counted per
   * factory, so the rooms a page joins one after another with the same one (the browser's) share it.
   */
  maxLinks: number;
  /**
   * New links at once (a whole room forming) and per second after that: strangers joining and leaving
   * cannot make this tab build connections faster. A peer refused now is retried by the usual backoff.
   */
  linkBurst: number;
  linksPerSec: number;
  /**
   * Links one peer's offers may have us build at once and per minute after that. A new epoch in an offer
   * means its sender started over, which an honest one does after a reload or a dead link; a member that
   * starts over again and again would otherwise spend this tab's whole budget (maxLinks) on itself.
   */
  peerLinkBurst: number;
  peerLinksPerMin: number;
  /**
   * Frames a peer may send us at once and per second after that (any kind, any path). An honest player's
   * own traffic is a few a second (heartbeats, pings, catch-up of 16 entries a frame) plus its app's
   * messages, which are held to appBurst/appPerSec; a flood past this is dropped before it is parsed, so one
   * player cannot keep this tab's thread busy.
   */
  framesBurst: number;
  framesPerSec: number;
  /**
   * App messages a peer may send us at once and per second after that. Past it they are dropped, so an
   * app's flood cannot starve the protocol's frames; a sender's own Session refuses to send past it.
   */
  appBurst: number;
  appPerSec: number;
  /**
   * Receivers take this many times a sender's burst (frames and app messages): what left within budget can
   * arrive bunched (a channel that stalled delivers its queue at once). Without it an honest app sending at
   * its allowed pace lost messages and was counted as a flooder.
   */
  arrivalSlack: number;
}

export const DEFAULT_MESH_CONFIG: MeshConfig = {
  staleMs: 750,
  pingMs: 250,
  rttMs: 1000,
  rttPingsPerSec: 8,
  idlePingMs: 2000,
  relayPingMs: 2000,
  idlePingsPerSec: 4,
  connectTimeoutMs: 10_000,
  helloAfterMs: 1_500,
  helloGuardMs: 6_000,
  backoffMs: 500,
  maxBackoffMs: 8_000,
  maxLinks: 450,
  linkBurst: 64,
  linksPerSec: 2,
  peerLinkBurst: 8,
  peerLinksPerMin: 2,
  framesBurst: 2_000,
  framesPerSec: 1_000,
  appBurst: 1_000,
  appPerSec: 500,
  arrivalSlack: 2,
};

/** Mesh timing from room settings: a link goes stale well before the core's timeout would fire. */
export function meshConfigFor(heartbeatMs: number, timeoutMs: number): MeshConfig {
  const pingMs = Math.min(250, heartbeatMs);
  const staleMs = Math.max(3 * pingMs, Math.min(timeoutMs / 2, 2.5 * heartbeatMs + pingMs));
  return { ...DEFAULT_MESH_CONFIG, pingMs, staleMs };
}

/** The times of our last pings a pong may echo: over 10 s of them at the busiest rate (one a 50 ms tick). */
const PINGS_REMEMBERED = 256;

/** Links made with each factory, over every mesh that used it (MeshConfig.maxLinks). */
const LINKS_BY_FACTORY = new WeakMap<LinkFactory, { created: number }>();

function linksOf(factory: LinkFactory): { created: number } {
  const links = LINKS_BY_FACTORY.get(factory) ?? { created: 0 };
  LINKS_BY_FACTORY.set(factory, links);
  return links;
}

/** `wrapper` builds its links with `inner`: they count against one budget. */
export function shareLinkBudget(wrapper: LinkFactory, inner: LinkFactory): LinkFactory {
  LINKS_BY_FACTORY.set(wrapper, linksOf(inner));
  return wrapper;
}

export interface MeshHooks {
  factory: LinkFactory;
  now(): number;
  newEpoch(): string;
  /** Forwards a SignalEnvelope through the server; resolves false when the server refused it. */
  sendSignal(to: number, data: SignalEnvelope): Promise<boolean>;
  /** Sends a frame through the server relay; false when that is impossible right now. */
  sendRelay(to: number, text: string): boolean;
  onCore(from: number, message: unknown, via: Via): void;
  /** An app message (a decoded `app` frame; its data is still unchecked). */
  onApp?(from: number, channel: string, data: unknown, via: Via): void;
  onBadFrame(from: number, via: Via, error: string): void;
  /** A peer went past its frame budget; what it sends is dropped unread until the budget refills. */
  onFlood?(from: number, via: Via, what: 'frames' | 'app messages', perSec: number): void;
  /** A peer speaks another protocol version: the mesh stops talking with it (once per peer). */
  onVersion?(from: number, version: number): void;
  /** A frame left (or was dropped); `tag` is the core message type or 'ping'/'pong'. */
  onSent?(to: number, tag: string, via: Via | 'dropped'): void;
  onChange?(): void;
}

interface LinkRec {
  link: PeerLink;
  epoch: string;
  initiator: boolean;
  open: boolean;
  createdAt: number;
  /** When ICE first found a pair, or null: from then on it needs no signals, and its connect timeout restarts. */
  pairedAt: number | null;
  /** The other side answered this link's offer (we initiated): it holds the link, so a hello is older than that. */
  answered: boolean;
  /** When we first sent on this link after it last delivered something: what it owes us an answer for. */
  owedSince: number | null;
}

/** Unopened, and ICE has found no pair yet: a lost signal of this link (the answer, a candidate) can stall it. */
function waitsOnSignals(rec: LinkRec): boolean {
  return !rec.open && rec.pairedAt === null;
}

interface PeerRec {
  id: number;
  link: LinkRec | null;
  connected: boolean;
  retryAt: number;
  backoff: number;
  lastPing: number;
  /** When core traffic of ours last left on the direct link. */
  lastSent: number;
  lastRelayPing: number;
  rtt: number | null;
  heardAt: number | null;
  lastVia: Via | null;
  /** Its last ping said its page is hidden. */
  away: boolean;
  /** As the responder: the epoch of the last signal this initiator sent us, named in our hellos. */
  seenEpoch: string;
}

export type LinkState = 'none' | 'connecting' | 'open' | 'stale' | 'cut';

export interface PeerNetInfo {
  id: number;
  link: LinkState;
  /** How a message to this peer would go right now. */
  route: Via | 'none';
  rtt: number | null;
  /** performance.now() of the last frame from this peer, any path. */
  heardAt: number | null;
  lastVia: Via | null;
  /** Its page is hidden, as its last ping said. */
  away: boolean;
}

const EARLY_PER_PEER = 32;
const EARLY_PEERS = 64;
const EARLY_MAX_AGE_MS = 5_000;

export class Mesh {
  private self = 0;
  private iceServers: IceServer[] = [];
  /** When our recent pings left (their `t`), oldest first: what a pong may echo. */
  private readonly pingedAt: number[] = [];
  private readonly peers = new Map<number, PeerRec>();
  private away = false;
  /**
   * Signals that arrived before we knew their sender: the server pushes a joiner to the room before it
   * acks the joiner, so the first offer can overtake our own join. Dropping it would cost a connect timeout.
   */
  private early = new Map<number, { at: number; data: unknown }[]>();
  /** Peers that speak another protocol version, with it: no link, and their frames are not read. */
  private foreign = new Map<number, number>();
  /** Per sender: its frame budget and its app-message budget. */
  private readonly inbound = new Map<number, { frames: Bucket; app: Bucket; offers: Bucket }>();
  linksCreated = 0;
  private readonly factoryLinks: { created: number };
  private linkTokens = Number.NaN;
  private linkTokensAt = 0;

  constructor(
    private readonly hooks: MeshHooks,
    private config: MeshConfig = DEFAULT_MESH_CONFIG,
  ) {
    this.factoryLinks = linksOf(hooks.factory);
  }

  setConfig(config: MeshConfig): void {
    this.config = config;
  }

  /** A new identity: every link belonged to the old one. */
  reset(self: number, iceServers: IceServer[]): void {
    for (const p of this.peers.values()) this.dropLink(p);
    this.peers.clear();
    this.foreign.clear();
    this.inbound.clear();
    this.self = self;
    this.iceServers = iceServers;
    this.hooks.onChange?.();
  }

  /** The roster's members (connected or in grace) other than us. */
  setMembers(members: { id: number; connected: boolean }[]): void {
    const now = this.hooks.now();
    const keep = new Set<number>();
    for (const m of members) {
      if (m.id === this.self) continue;
      keep.add(m.id);
      let p = this.peers.get(m.id);
      if (!p) {
        p = {
          id: m.id,
          link: null,
          connected: m.connected,
          retryAt: this.firstTry(m.id, now),
          backoff: this.config.backoffMs,
          lastPing: -Infinity,
          lastSent: -Infinity,
          lastRelayPing: -Infinity,
          rtt: null,
          heardAt: null,
          lastVia: null,
          away: false,
          seenEpoch: '',
        };
        this.peers.set(m.id, p);
      } else if (m.connected && !p.connected && !p.link?.open) {
        // Back from grace: ping it now, so it learns at once whether we are away (pings carry that), not a
        // stretched relay period later.
        p.lastRelayPing = -Infinity;
        if (!p.link) {
          // Back from grace (a reload or a blip): connect now rather than at the next backoff.
          p.retryAt = this.firstTry(m.id, now);
          p.backoff = this.config.backoffMs;
        } else if (this.self < m.id && waitsOnSignals(p.link) && now - p.link.createdAt >= p.backoff) {
          // Our offer went to a socket that dropped, and the server with it: start again now, not at the
          // connect timeout. No sooner than the backoff, which keeps growing while no link opens, so a
          // peer that keeps dropping out cannot spend our connections. (Its own offers it restarts itself.)
          this.dropLink(p);
          p.retryAt = now;
        }
      }
      p.connected = m.connected;
    }
    for (const [id, p] of this.peers) {
      if (!keep.has(id)) {
        this.dropLink(p);
        this.peers.delete(id);
        // Its version claim goes with it: a room recreated later may give the ID to another player.
        this.foreign.delete(id);
        this.inbound.delete(id);
      }
    }
    this.replayEarly(now);
    this.hooks.onChange?.();
  }

  /**
   * Our signaling connection is back after a blip or a stalled server. Signals of handshakes in flight may
   * have been lost with it (the server drops what it was sending when a socket goes), and those links
   * would otherwise wait out the connect timeout: start them again now. No sooner than their backoff,
   * though, so a server that keeps dropping us cannot spend the tab's RTCPeerConnections on one peer.
   *
   * A link whose ICE has found a pair is left to finish: it needs the server no more, and under load sockets
   * dropped just as DTLS was finishing, and every such link was built again. Before that, any signal of it
   * (a candidate, the answer) may have been lost, so it starts over.
   */
  signalingRestored(): void {
    const now = this.hooks.now();
    for (const p of this.peers.values()) {
      const rec = p.link;
      if (!rec || !waitsOnSignals(rec) || now - rec.createdAt < p.backoff) continue;
      this.dropLink(p);
      // The initiator offers anew at once; the other asks for an offer at once (a hello).
      p.retryAt = now;
    }
    this.hooks.onChange?.();
  }

  /** The lower ID offers at once; the higher one gives that offer time to arrive before asking for it. */
  private firstTry(peer: number, now: number): number {
    return this.self < peer ? now : now + this.config.helloAfterMs;
  }

  private keepEarly(from: number, data: unknown): void {
    if (!Number.isSafeInteger(from) || from <= 0) return;
    const list = this.early.get(from) ?? [];
    if (list.length >= EARLY_PER_PEER || (!this.early.has(from) && this.early.size >= EARLY_PEERS)) return;
    list.push({ at: this.hooks.now(), data });
    this.early.set(from, list);
  }

  private replayEarly(now: number): void {
    if (this.self === 0) return;
    for (const [from, list] of [...this.early]) {
      if (list.every((s) => now - s.at > EARLY_MAX_AGE_MS)) this.early.delete(from);
      else if (this.peers.has(from)) {
        this.early.delete(from);
        for (const s of list) if (now - s.at <= EARLY_MAX_AGE_MS) this.onSignal(from, s.data);
      }
    }
  }

  /** Our page is hidden (or shown again): every peer hears it at once, and on every ping after. */
  setAway(away: boolean): void {
    if (away === this.away) return;
    this.away = away;
    if (this.self === 0) return;
    for (const p of this.peers.values())
      if (p.connected || p.link?.open) this.transmit(p.id, this.pingFrame(this.hooks.now()), 'ping');
  }

  private pingFrame(now: number): string {
    if (this.pingedAt.at(-1) !== now) this.pingedAt.push(now);
    if (this.pingedAt.length > PINGS_REMEMBERED) this.pingedAt.shift();
    return encodeFrame(this.away ? { k: 'ping', t: now, v: PROTOCOL_VERSION, a: true } : ping('ping', now));
  }

  /** Retries, timeouts and pings; the driver calls this on every timer tick. */
  maintain(): void {
    if (this.self === 0) return;
    const now = this.hooks.now();
    // A link's period, stretched so that the tab sends at most `perSec` such pings over all its peers.
    const within = (ms: number, perSec: number) => Math.max(ms, (this.peers.size * 1000) / perSec);
    const idleMs = within(this.config.idlePingMs, this.config.idlePingsPerSec);
    const relayMs = within(this.config.relayPingMs, this.config.idlePingsPerSec);
    const rttEveryMs = within(this.config.rttMs, this.config.rttPingsPerSec);
    for (const p of this.peers.values()) {
      const rec = p.link;
      if (rec && !rec.open && now - (rec.pairedAt ?? rec.createdAt) > this.config.connectTimeoutMs) {
        this.dropLink(p);
        this.scheduleRetry(p, now);
      }
      if (!p.link && p.connected && now >= p.retryAt) this.reconnect(p, now);
      const link = p.link;
      const every =
        link?.owedSince != null && now - link.owedSince >= this.config.pingMs
          ? this.config.pingMs
          : now - p.lastSent < this.config.rttMs
            ? rttEveryMs
            : idleMs;
      if (link?.open && now - p.lastPing >= every) {
        p.lastPing = now;
        this.transmit(p.id, this.pingFrame(now), 'ping', 'direct');
      } else if (!this.isDirect(p, now) && p.connected && now - p.lastRelayPing >= relayMs) {
        p.lastRelayPing = now;
        this.transmit(p.id, this.pingFrame(now), 'ping', 'relay');
      }
    }
  }

  /** Sends one frame by the best path. */
  send(to: number, text: string, tag = 'core'): void {
    this.transmit(to, text, tag);
  }

  /**
   * Sends at once by every path: a goodbye on pagehide must leave before the page dies, and an unloading
   * tab may tear a channel down before its queued data is out.
   */
  sendNow(to: number, text: string, tag = 'core'): void {
    const p = this.peers.get(to);
    if (p?.link?.open && p.link.link.send(text)) this.sentDirect(p, tag, this.hooks.now());
    if (this.hooks.sendRelay(to, text)) this.hooks.onSent?.(to, tag, 'relay');
  }

  /** A signal event from the server. */
  onSignal(from: number, data: unknown): void {
    if (from === this.self) return;
    const p = this.self === 0 ? undefined : this.peers.get(from);
    if (!p) {
      this.keepEarly(from, data);
      return;
    }
    if (typeof data !== 'object' || data === null) return;
    const env = data as Record<string, unknown>;
    if (!this.speaksOurs(p, versionOf(env))) return;
    const now = this.hooks.now();
    if (env.hello === true) {
      // Only the lower ID initiates; a hello asks it to, because the responder has no working link. An open
      // link here is one the responder lost (it reloaded).
      if (this.self > from) return;
      const rec = p.link;
      // An unopened link is restarted only when the hello is about it. Under load signals take seconds, so
      // hellos sent before our offer arrived come in while it is being answered, and restarting on them
      // tore down handshakes that were getting there (bench: 84 connections made for a mesh of 56).
      if (rec && !rec.open) {
        const age = now - rec.createdAt;
        // About this link (the responder had our offer and gave up): at once, but no sooner than the
        // backoff, which grows while no link opens, so a peer asking again and again cannot spend our
        // connections (one restart per maxBackoffMs at most).
        const named = env.s === rec.epoch && age >= p.backoff;
        if (!named && (rec.answered || age < this.config.helloGuardMs)) return;
      }
      this.dropLink(p);
      this.reconnect(p, now);
      return;
    }
    if (typeof env.e !== 'string' || env.d === undefined) return;
    if (this.self < from) {
      if (p.link && p.link.epoch === env.e) {
        p.link.answered = true;
        p.link.link.signal(env.d);
      }
      return;
    }
    // Echoed in our hellos: an epoch of ours is short, and a longer one is not worth repeating.
    if (env.e.length <= 64) p.seenEpoch = env.e;
    if (!p.link || p.link.epoch !== env.e) {
      // A new epoch means the initiator started over (it reloaded, or its link died): follow it, within its
      // budget. Past it the offer is ignored and the link we have kept; the initiator tries again later. Only an
      // offer starts one: a candidate of an epoch we do not have could never open a link.
      if ((env.d as { type?: unknown } | null)?.type !== 'offer') return;
      const offers = this.budgetOf(from).offers;
      if (!offers.take(now).ok) return;
      this.dropLink(p);
      if (!this.openLink(p, false, env.e, now)) {
        offers.refund();
        return;
      }
    }
    p.link?.link.signal(env.d);
  }

  /** A frame from a data channel or the relay. */
  receive(from: number, text: unknown, via: Via): void {
    // Only a server can say a frame came from us: answering it (a pong to ourselves) gets us refused.
    if (from === this.self || !(from > 0)) return;
    const p = this.peers.get(from);
    const now = this.hooks.now();
    const budget = this.budgetOf(from);
    if (!this.spend(budget.frames, from, now, via, 'frames', this.config.framesPerSec)) return;
    const decoded = decodeFrame(text);
    if (!decoded.ok) {
      this.hooks.onBadFrame(from, via, decoded.error);
      return;
    }
    const f: Frame = decoded.frame;
    // Only pings and pongs name a version; a foreign peer's other frames are not read.
    if (f.k === 'ping' || f.k === 'pong') {
      if (p && !this.speaksOurs(p, f.v ?? 0)) return;
    } else if (this.foreign.has(from)) return;
    if (p) {
      p.heardAt = now;
      p.lastVia = via;
      if (via === 'direct' && p.link) p.link.owedSince = null;
    }
    switch (f.k) {
      case 'core':
        this.hooks.onCore(from, f.m, via);
        break;
      case 'app':
        if (this.spend(budget.app, from, now, via, 'app messages', this.config.appPerSec))
          this.hooks.onApp?.(from, f.n, f.d, via);
        break;
      case 'ping':
        if (p) p.away = f.a === true;
        // Answer by the path it came, so the RTT is that path's.
        this.transmit(from, encodeFrame(ping('pong', f.t)), 'pong', via);
        break;
      case 'pong':
        // Only an answer to a ping of ours: any other time would show whatever RTT its sender likes.
        if (p && this.pingedAt.includes(f.t)) p.rtt = now - f.t;
        break;
    }
  }

  /**
   * Another version's frames could be misread, so a peer that names one gets no link and is not heard;
   * a peer that reloads into our version is heard again. Only our own server says this tab must reload.
   */
  private speaksOurs(p: PeerRec, version: number): boolean {
    if (version === PROTOCOL_VERSION) {
      this.foreign.delete(p.id);
      return true;
    }
    if (this.foreign.get(p.id) !== version) {
      this.foreign.set(p.id, version);
      this.dropLink(p);
      this.hooks.onVersion?.(p.id, version);
    }
    return false;
  }

  info(): PeerNetInfo[] {
    const now = this.hooks.now();
    return [...this.peers.values()]
      .sort((a, b) => a.id - b.id)
      .map((p) => ({
        id: p.id,
        link: !p.link ? 'none' : !p.link.open ? 'connecting' : this.isDirect(p, now) ? 'open' : 'stale',
        route: this.isDirect(p, now) ? 'direct' : p.connected ? 'relay' : 'none',
        rtt: p.rtt,
        heardAt: p.heardAt,
        lastVia: p.lastVia,
        away: p.away,
      }));
  }

  /** Tears everything down (leaving the room). */
  close(): void {
    this.inbound.clear();
    for (const p of this.peers.values()) this.dropLink(p);
    this.peers.clear();
    this.self = 0;
  }

  // ------------------------------------------------------------------ internals

  /** Whether frames to `id` go over its data channel now (else through the server). */
  direct(id: number): boolean {
    const p = this.peers.get(id);
    return !!p && this.isDirect(p, this.hooks.now());
  }

  private isDirect(p: PeerRec, now: number): boolean {
    const rec = p.link;
    return !!rec && rec.open && (rec.owedSince === null || now - rec.owedSince < this.config.staleMs);
  }

  private transmit(to: number, text: string, tag: string, force?: Via): void {
    const p = this.peers.get(to);
    const now = this.hooks.now();
    const direct = force ? force === 'direct' : !!p && this.isDirect(p, now);
    if (direct) {
      if (p?.link?.open && p.link.link.send(text)) {
        this.sentDirect(p, tag, now);
        return;
      }
      // An open channel that refuses to send (a cut, a dying link) owes us as much as a silent one.
      if (p?.link?.open) p.link.owedSince ??= now;
      if (force) {
        this.hooks.onSent?.(to, tag, 'dropped');
        return;
      }
    }
    const ok = this.hooks.sendRelay(to, text);
    this.hooks.onSent?.(to, tag, ok ? 'relay' : 'dropped');
  }

  /** A frame left on the direct link: it is owed an answer (unless it is one), and core traffic marks it busy. */
  private sentDirect(p: PeerRec, tag: string, now: number): void {
    if (p.link && tag !== 'pong') p.link.owedSince ??= now;
    if (tag !== 'ping' && tag !== 'pong') p.lastSent = now;
    this.hooks.onSent?.(p.id, tag, 'direct');
  }

  private reconnect(p: PeerRec, now: number): void {
    if (this.self < p.id) {
      this.openLink(p, true, this.hooks.newEpoch(), now);
    } else {
      this.hooks.sendSignal(p.id, { hello: true, s: p.seenEpoch, v: PROTOCOL_VERSION }).catch(() => {});
    }
    this.scheduleRetry(p, now);
  }

  private scheduleRetry(p: PeerRec, now: number): void {
    p.retryAt = now + p.backoff;
    p.backoff = Math.min(p.backoff * 2, this.config.maxBackoffMs);
  }

  private budgetOf(from: number): { frames: Bucket; app: Bucket; offers: Bucket } {
    let b = this.inbound.get(from);
    if (!b) {
      // Senders are room members (relayed IDs come from the server); a bound all the same.
      if (this.inbound.size >= 1024) this.inbound.clear();
      const c = this.config;
      b = {
        frames: new Bucket(c.framesBurst * c.arrivalSlack, c.framesPerSec),
        app: new Bucket(c.appBurst * c.arrivalSlack, c.appPerSec),
        offers: new Bucket(c.peerLinkBurst, c.peerLinksPerMin / 60),
      };
      this.inbound.set(from, b);
    }
    return b;
  }

  /** Spends from a sender's budget; a flood is reported once (a strike), not once per frame it loses. */
  private spend(
    bucket: Bucket,
    from: number,
    now: number,
    via: Via,
    what: 'frames' | 'app messages',
    perSec: number,
  ): boolean {
    const { ok, report } = bucket.take(now);
    if (report) this.hooks.onFlood?.(from, via, what, perSec);
    return ok;
  }

  /** The link-creation budget (a token bucket); spends a token when there is one. */
  private takeLinkToken(now: number): boolean {
    const { linkBurst, linksPerSec } = this.config;
    if (Number.isNaN(this.linkTokens)) this.linkTokens = linkBurst;
    const refill = (Math.max(0, now - this.linkTokensAt) / 1000) * linksPerSec;
    this.linkTokens = Math.min(linkBurst, this.linkTokens + refill);
    this.linkTokensAt = now;
    if (this.linkTokens < 1) return false;
    this.linkTokens -= 1;
    return true;
  }

  private openLink(p: PeerRec, initiator: boolean, epoch: string, now: number): boolean {
    if (this.factoryLinks.created >= this.config.maxLinks || !this.takeLinkToken(now)) return false;
    this.linksCreated++;
    this.factoryLinks.created++;
    const rec: LinkRec = {
      // Assigned right below; events cannot fire before the factory returns.
      link: undefined as unknown as PeerLink,
      epoch,
      initiator,
      open: false,
      createdAt: now,
      pairedAt: null,
      answered: false,
      owedSince: null,
    };
    const current = () => p.link === rec;
    rec.link = this.hooks.factory(
      { initiator, iceServers: this.iceServers, peer: p.id },
      {
        signal: (d) => {
          if (!current()) return;
          this.hooks
            .sendSignal(p.id, { e: epoch, d, v: PROTOCOL_VERSION })
            .then((ok) => {
              // The peer is not reachable through the server (in grace): start over later. Not once ICE has
              // found a pair: a late candidate lost then costs nothing, and dropping the link cost it all.
              if (!ok && p.link === rec && waitsOnSignals(rec)) {
                this.dropLink(p);
                this.scheduleRetry(p, this.hooks.now());
              }
            })
            .catch(() => {});
        },
        open: () => {
          if (p.link !== rec) return;
          rec.open = true;
          rec.owedSince = null;
          p.backoff = this.config.backoffMs;
          p.lastPing = -Infinity;
          this.hooks.onChange?.();
        },
        progress: () => {
          // Once: ICE that flaps (connected, disconnected, connected) must not keep a link that never opens.
          if (p.link === rec && rec.pairedAt === null) rec.pairedAt = this.hooks.now();
        },
        data: (text) => {
          if (p.link === rec) this.receive(p.id, text, 'direct');
        },
        close: () => {
          if (p.link !== rec) return;
          p.link = null;
          this.scheduleRetry(p, this.hooks.now());
          this.hooks.onChange?.();
        },
      },
    );
    p.link = rec;
    return true;
  }

  private dropLink(p: PeerRec): void {
    const rec = p.link;
    if (!rec) return;
    p.link = null;
    try {
      rec.link.destroy();
    } catch {
      // Destroying a half-built connection can throw; it is gone either way.
    }
  }
}
