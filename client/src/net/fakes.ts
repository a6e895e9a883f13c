// In-memory stand-ins for the server and WebRTC, for unit tests of the mesh and the driver.

import {
  type Ack,
  ackFromServer,
  type Joined,
  type JoinRequest,
  joinedSchema,
  type RosterMsg,
} from '../protocol/signaling.ts';
import type { SignalingHandlers, SignalingPort } from './signaling.ts';
import type { LinkEvents, LinkFactory, PeerLink } from './transport.ts';

/** A fake "WebRTC": an offer/answer pair of signals connects two links; data is delivered on flush(). */
export class FakeNet {
  private queue: (() => void)[] = [];
  private nextId = 1;
  private pending = new Map<number, FakeLink>();
  created = 0;
  /** Every link made, in order, so a test can drive one's events. */
  readonly links: FakeLink[] = [];

  factory(): LinkFactory {
    return ({ initiator }, events) => {
      this.created++;
      const link = new FakeLink(this, initiator, events);
      this.links.push(link);
      if (initiator) {
        const offer = this.nextId++;
        this.pending.set(offer, link);
        this.defer(() => events.signal({ type: 'offer', offer }));
      }
      return link;
    };
  }

  defer(fn: () => void): void {
    this.queue.push(fn);
  }

  /** Runs queued deliveries until quiet. */
  flush(): void {
    for (let i = 0; i < 10_000 && this.queue.length > 0; i++) this.queue.shift()!();
  }

  answer(offer: number, responder: FakeLink): void {
    const initiator = this.pending.get(offer);
    if (!initiator || initiator.destroyed) return;
    this.pending.delete(offer);
    initiator.remote = responder;
    responder.remote = initiator;
    this.defer(() => responder.events.signal({ type: 'answer', offer }));
  }
}

export class FakeLink implements PeerLink {
  remote: FakeLink | null = null;
  open = false;
  destroyed = false;

  constructor(
    private readonly net: FakeNet,
    readonly initiator: boolean,
    readonly events: LinkEvents,
  ) {}

  signal(data: unknown): void {
    // As the real adapter over simple-peer: null is dropped, and anything else that is not a signal ends the
    // link (simple-peer destroys itself with ERR_SIGNALING, which the adapter reports as a close).
    if (data === null) return;
    const d = data as { type?: unknown; offer: number };
    if (typeof data !== 'object' || (d.type !== 'offer' && d.type !== 'answer')) {
      if (this.destroyed) return;
      this.destroy();
      this.net.defer(() => this.events.close('ERR_SIGNALING'));
      return;
    }
    if (d.type === 'offer' && !this.initiator) this.net.answer(d.offer, this);
    if (d.type === 'answer' && this.initiator && this.remote) {
      const remote = this.remote;
      this.net.defer(() => {
        if (this.destroyed || remote.destroyed) return;
        this.open = true;
        remote.open = true;
        this.events.open();
        remote.events.open();
      });
    }
  }

  send(text: string): boolean {
    if (!this.open || this.destroyed || !this.remote) return false;
    const remote = this.remote;
    this.net.defer(() => {
      if (!remote.destroyed) remote.events.data(text);
    });
    return true;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.open = false;
    const remote = this.remote;
    // A clean close reaches the far side (a killed tab would not: see kill()).
    if (remote && !remote.destroyed) this.net.defer(() => remote.events.close('closed'));
  }

  /** The tab died: nothing reaches the far side, which keeps believing the channel is open. */
  kill(): void {
    this.destroyed = true;
    this.open = false;
  }
}

interface Client {
  id: number;
  handlers: SignalingHandlers;
  connected: boolean;
}

/** A fake signaling server for several FakeSignaling ports: IDs, roster, signal and relay. */
export class FakeServer {
  private clients = new Map<number, Client>();
  /** IDs whose session the server expired: their tokens are refused. */
  private expired = new Set<number>();
  private nextId = 1;
  /** The floor of the last join, to check that clients send one. */
  lastFloor: number | undefined;
  /** The incarnation the last join said its state belongs to. */
  lastIncarnation: string | undefined;
  private version = 0;
  /** Removed by the owner: listed in the roster. */
  private removed: number[] = [];
  /** Tokens refused with `removed`: as the real server, only of sessions it still held at the removal. */
  private barred = new Set<number>();
  readonly ownerToken = 'o'.repeat(32);
  /** The player whose join last proved the owner token. */
  private ownerId: number | undefined;
  /** The room's incarnation; a test that restarts the server with another one models a forgotten room. */
  incarnation = 'incarnation1';
  up = true;
  relayed = 0;
  /** When set, every join is refused as from another protocol version, with this error. */
  outdated: string | null = null;
  /** When set, every join is answered with this instead, read as the real port reads an answer. */
  joinAnswer: unknown = undefined;
  joins = 0;
  /** As the real server's maxJoinsPerSocket: joins one connection may try (unlimited when unset). */
  maxJoinsPerConnection: number | undefined;
  /** Runs fn after ms of the test's clock (a redial waits on it); by default at the next flush. */
  after: (fn: () => void, ms: number) => void = (fn) => this.net.defer(fn);

  constructor(private readonly net: FakeNet) {}

  port(): FakeSignaling {
    return new FakeSignaling(this);
  }

  join(port: FakeSignaling, req: JoinRequest): Ack<Joined> {
    this.joins++;
    if (this.maxJoinsPerConnection !== undefined && ++port.joinsHere > this.maxJoinsPerConnection) {
      return { ok: false, code: 'too_many_joins', error: 'too many joins on this connection; reconnect' };
    }
    if (this.joinAnswer !== undefined) return ackFromServer<Joined>(this.joinAnswer, 'join', joinedSchema);
    if (this.outdated) return { ok: false, code: 'outdated', error: this.outdated };
    const claimed = req.token ? Number.parseInt(req.token.slice(1), 10) : 0;
    if (this.barred.has(claimed)) return { ok: false, code: 'removed', error: 'removed by the owner' };
    if (this.expired.has(claimed)) return { ok: false, code: 'bad_token', error: 'unknown or expired token' };
    this.lastFloor = req.floor;
    this.lastIncarnation = req.incarnation;
    // As the real store: a floor counts only from a tab of this incarnation (without its FORGOTTEN_ID_GAP).
    if (req.incarnation === this.incarnation) this.nextId = Math.max(this.nextId, (req.floor ?? 0) + 1);
    const old = this.clients.get(claimed);
    // A resume takes the session over, as the real server does: the other holder is told it was replaced.
    if (old) old.handlers.refused({ ok: false, code: 'replaced', error: 'resumed elsewhere' });
    const id = old ? claimed : this.nextId++;
    const owner = id === 1 || req.ownerToken === this.ownerToken;
    this.clients.set(id, { id, handlers: port.handlers!, connected: true });
    if (owner) this.ownerId = id;
    port.id = id;
    const roster = this.roster();
    for (const c of this.clients.values()) if (c.id !== id) this.net.defer(() => c.handlers.roster(roster));
    return {
      ok: true,
      id,
      token: `t${id}`.padEnd(32, 'x'),
      resumed: old !== undefined,
      incarnation: this.incarnation,
      settings: { heartbeatMs: 50, timeoutMs: 300, stages: ['a', 'b', 'c'], ...req.settings },
      roster,
      iceServers: [],
      graceMs: 1000,
      ...(owner ? { ownerToken: this.ownerToken } : {}),
    };
  }

  remove(by: number, id: number, ownerToken: string): Ack {
    if (ownerToken !== this.ownerToken) return { ok: false, code: 'not_owner', error: 'not the owner' };
    if (by === id) return { ok: false, code: 'bad_request', error: 'that is you' };
    const c = this.clients.get(id);
    this.clients.delete(id);
    if (!this.removed.includes(id)) this.removed.push(id);
    if (c) this.barred.add(id);
    if (c) this.net.defer(() => c.handlers.removed('you were removed from this room by its owner'));
    const roster = this.roster();
    for (const m of this.clients.values()) this.net.defer(() => m.handlers.roster(roster));
    return { ok: true };
  }

  /**
   * The room is opened anew (everyone left it, or a memory store restarted): no sessions, no removals, IDs from
   * 1, another incarnation. Tabs still running find out when they join again.
   */
  reopen(incarnation: string): void {
    for (const c of this.clients.values()) this.expired.add(c.id);
    this.clients.clear();
    this.removed = [];
    this.barred.clear();
    this.ownerId = undefined;
    this.nextId = 1;
    this.incarnation = incarnation;
  }

  /** The session of `id` runs out of grace: gone from the roster, its token refused. The tab may still run. */
  expire(id: number): void {
    this.clients.delete(id);
    this.expired.add(id);
    const roster = this.roster();
    for (const c of this.clients.values()) this.net.defer(() => c.handlers.roster(roster));
  }

  forward(from: number, to: number, kind: 'signal' | 'relay', data: unknown): boolean {
    const c = this.clients.get(to);
    if (!this.up || !c?.connected) return false;
    if (kind === 'relay') this.relayed++;
    this.net.defer(() =>
      kind === 'signal' ? c.handlers.signal(from, data) : c.handlers.relay(from, data as string),
    );
    return true;
  }

  roster(): RosterMsg {
    return {
      room: 'r',
      version: ++this.version,
      members: [...this.clients.values()].map((c) => ({
        id: c.id,
        name: `p${c.id}`,
        state: 'connected' as const,
      })),
      removed: [...this.removed],
      issued: this.nextId - 1,
      ...(this.ownerId !== undefined && this.clients.has(this.ownerId) ? { owner: this.ownerId } : {}),
    };
  }
}

export class FakeSignaling implements SignalingPort {
  handlers: SignalingHandlers | null = null;
  id = 0;
  /** Joins tried on this connection, and the connections dropped for a new one. */
  joinsHere = 0;
  redials = 0;
  private dialing = false;

  constructor(private readonly server: FakeServer) {}

  get connected(): boolean {
    return this.server.up && !this.dialing;
  }

  start(handlers: SignalingHandlers): void {
    this.handlers = handlers;
    handlers.status('up');
    handlers.connected();
  }

  async join(req: JoinRequest): Promise<Ack<Joined>> {
    return this.server.join(this, req);
  }

  async leave(): Promise<Ack> {
    return { ok: true };
  }

  /** Goodbyes said, for tests (`unlisted` ones apart). */
  byes = 0;
  unlistedByes = 0;
  bye(unlisted = false): void {
    if (unlisted) this.unlistedByes++;
    else this.byes++;
  }

  async signal(to: number, data: unknown): Promise<Ack> {
    return this.server.forward(this.id, to, 'signal', data)
      ? { ok: true }
      : { ok: false, code: 'not_in_room', error: 'gone' };
  }

  relay(to: number, data: string): boolean {
    return this.server.forward(this.id, to, 'relay', data);
  }

  async remove(_room: string, id: number, ownerToken: string): Promise<Ack> {
    return this.server.remove(this.id, id, ownerToken);
  }

  reconnectIn(): void {}

  redial(ms: number): void {
    this.redials++;
    this.dialing = true;
    this.handlers?.status('connecting', 'io client disconnect');
    this.server.after(() => {
      this.dialing = false;
      this.joinsHere = 0;
      this.handlers?.status('up');
      this.handlers?.connected();
    }, ms);
  }
  /** As socket.io's client does: closing it is a disconnect its port reports. */
  close(): void {
    this.handlers?.status('down', 'io client disconnect');
  }
}
