// socket.io-client behind a small port, so the session can be tested without a server.

import { io, type Socket } from 'socket.io-client';
import { LIMITS, PROTOCOL_VERSION } from '../protocol/limits.ts';
import { utf8Bytes } from '../protocol/messages.ts';
import {
  type Ack,
  ackFromServer,
  type ClientToServerEvents,
  serverEventSchemas as events,
  type Fail,
  fromServer,
  type Joined,
  type JoinRequest,
  joinedSchema,
  type RelayFrame,
  type RosterMsg,
  type ServerToClientEvents,
} from '../protocol/signaling.ts';

export type SignalingStatus = 'connecting' | 'up' | 'down';

type Schema<T> = Parameters<typeof fromServer<T>>[0];
/** What a pushed event holds once checked. */
type Pushed<E extends keyof typeof events> = (typeof events)[E] extends Schema<infer T> ? T : never;

export interface SignalingHandlers {
  status(status: SignalingStatus, detail?: string): void;
  /** A (re)connection is up: join or resume now. */
  connected(): void;
  roster(roster: RosterMsg): void;
  signal(from: number, data: unknown): void;
  relay(from: number, data: string): void;
  shutdown(reconnectInMs: number): void;
  refused(fail: Fail): void;
  /** The room's owner removed this player; the server closes the connection next. */
  removed(reason: string): void;
  /** The server sent something malformed, now dropped: what and why, in a sentence. */
  malformed?(problem: string): void;
  /** The server refused relayed frames for its rate budget (ours, or our address's): they are lost. */
  relayRefused?(): void;
}

export interface SignalingPort {
  readonly connected: boolean;
  start(handlers: SignalingHandlers): void;
  join(req: JoinRequest): Promise<Ack<Joined>>;
  leave(): Promise<Ack>;
  /**
   * The page is going (pagehide, close()): fire and forget, and only if connected (socket.io would send a
   * queued one after a reconnect, when the page came back). The session keeps its grace for a reload.
   */
  bye(unlisted?: boolean): void;
  signal(to: number, data: unknown): Promise<Ack>;
  /** Owner only: remove player `id` from the room. */
  remove(room: string, id: number, ownerToken: string): Promise<Ack>;
  /** Fire and forget: false when not connected (nothing is queued for later). */
  relay(to: number, data: string): boolean;
  /** Reconnect after ms (after a server `shutdown`, which disconnects us on purpose). */
  reconnectIn(ms: number): void;
  /**
   * Drop this connection and open a new one after ms: the server counts joins per connection
   * (`too_many_joins`), so a join that keeps being refused needs a fresh one. Unjoined, nothing is lost.
   */
  redial(ms: number): void;
  /** Chaos: drop the server connection and stay off it (true), or reconnect (false). The mesh is untouched. */
  setOffline?(offline: boolean): void;
  close(): void;
}

/**
 * Where socket.io connects for a server URL. A path in it is the prefix a proxy serves the signaling server
 * under (`https://example.com/lockstep` → `/lockstep/socket.io`): socket.io would read it as a namespace,
 * which the server does not have.
 */
export function socketTarget(url: string): { uri: string; path?: string } {
  const u = new URL(url);
  const prefix = u.pathname.replace(/\/+$/, '');
  if (prefix === '') return { uri: url };
  return { uri: `${u.protocol}//${u.host}/${u.search}`, path: `${prefix}/socket.io` };
}

const ACK_TIMEOUT_MS = 5_000;
/** The longest wait a server's `shutdown` can ask of us before we reconnect. */
export const MAX_SHUTDOWN_WAIT_MS = 30_000;
const timeoutFail = (what: string): Fail => ({
  ok: false,
  code: 'internal_error',
  error: `${what}: no answer`,
});

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The real port. socket.io reconnects by itself with backoff after transport errors. */
export class SocketSignaling implements SignalingPort {
  private socket: ClientSocket | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private offline = false;
  /** Our own disconnect for a new connection: shown as connecting, not as the server gone. */
  private redialing = false;
  /** What the server's `shutdown` asked us to wait before reconnecting; the next server disconnect uses it. */
  private shutdownWaitMs: number | null = null;
  private outbox: RelayFrame[] = [];
  private handlers: SignalingHandlers | null = null;

  constructor(private readonly url?: string) {}

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  start(h: SignalingHandlers): void {
    this.handlers = h;
    const opts = {
      // engine.io opens the first transport listed and no other (tryAllTransports is off; a websocket is never
      // upgraded): the 'polling' that followed never ran, and browser builds leave its code out (shims).
      transports: ['websocket'],
      reconnectionDelay: 300,
      reconnectionDelayMax: 3_000,
      randomizationFactor: 0.5,
      timeout: 5_000,
    };
    const target = this.url ? socketTarget(this.url) : null;
    const socket: ClientSocket = target
      ? io(target.uri, target.path ? { ...opts, path: target.path } : opts)
      : io(opts);
    this.socket = socket;
    h.status('connecting');
    socket.on('connect', () => {
      this.redialing = false;
      h.status('up');
      h.connected();
    });
    socket.on('disconnect', (reason) => {
      h.status(this.redialing ? 'connecting' : 'down', reason);
      // socket.io does not retry a disconnect the server asked for; we still want back in.
      if (reason === 'io server disconnect' && !this.closed && !this.offline)
        this.reconnectIn(this.shutdownWaitMs ?? 1_000);
      this.shutdownWaitMs = null;
    });
    socket.on('connect_error', (err) => h.status('down', err.message));
    // Each payload is checked before it reaches the session: a malformed one is dropped and reported.
    const on = <E extends keyof typeof events>(event: E, use: (value: Pushed<E>) => void) =>
      // (socket.io types a listener per event name; this one takes any payload and checks it.)
      socket.on(event as 'roster', (x: unknown) => {
        const r = fromServer(events[event] as Schema<Pushed<E>>, x, event);
        if (r.ok) use(r.value);
        else h.malformed?.(`${event}: ${r.error}`);
      });
    on('roster', (r) => h.roster(r));
    on('signal', (m) => h.signal(m.from, m.data));
    on('relay', (m) => h.relay(m.from, m.data));
    on('shutdown', (m) => {
      // Capped: a server cannot send the tab away for long (the schema alone allows an hour).
      this.shutdownWaitMs = Math.min(m.reconnectInMs, MAX_SHUTDOWN_WAIT_MS);
      h.shutdown(this.shutdownWaitMs);
    });
    on('refused', (f) => h.refused(f));
    socket.on('removed', (m) =>
      h.removed(typeof m?.reason === 'string' ? m.reason.slice(0, 200) : 'removed'),
    );
  }

  reconnectIn(ms: number): void {
    clearTimeout(this.reconnectTimer);
    const jitter = Math.random() * 500;
    this.reconnectTimer = setTimeout(() => {
      if (!this.closed && !this.offline && this.socket && !this.socket.connected) this.socket.connect();
    }, ms + jitter);
  }

  redial(ms: number): void {
    if (this.closed || !this.socket) return;
    this.redialing = true;
    this.socket.disconnect();
    this.reconnectIn(ms);
  }

  setOffline(offline: boolean): void {
    this.offline = offline;
    if (offline) {
      clearTimeout(this.reconnectTimer);
      this.flushRelays();
      this.socket?.disconnect();
    } else if (!this.closed && this.socket && !this.socket.connected) this.socket.connect();
  }

  join(req: JoinRequest): Promise<Ack<Joined>> {
    const versioned = { ...req, v: PROTOCOL_VERSION };
    return this.call(
      (s, done) => s.timeout(ACK_TIMEOUT_MS).emit('join', versioned, done),
      'join',
      joinedSchema,
    );
  }

  leave(): Promise<Ack> {
    return this.call((s, done) => s.timeout(ACK_TIMEOUT_MS).emit('leave', {}, done), 'leave');
  }

  bye(unlisted = false): void {
    if (this.socket?.connected) this.socket.emit('bye', unlisted ? { unlisted } : {});
  }

  signal(to: number, data: unknown): Promise<Ack> {
    return this.call((s, done) => s.timeout(ACK_TIMEOUT_MS).emit('signal', { to, data }, done), 'signal');
  }

  remove(room: string, id: number, ownerToken: string): Promise<Ack> {
    return this.call(
      (s, done) => s.timeout(ACK_TIMEOUT_MS).emit('remove', { room, id, ownerToken }, done),
      'remove',
    );
  }

  relay(to: number, data: string): boolean {
    if (!this.socket?.connected) return false;
    // The frames of one turn (a heartbeat to every peer) go as one event: one read and one ack at the server.
    this.outbox.push({ to, data });
    // (A flush before then, by another event or close, leaves this one nothing to send.)
    if (this.outbox.length === 1) queueMicrotask(() => this.flushRelays());
    return true;
  }

  private flushRelays(): void {
    if (this.outbox.length === 0) return;
    const frames = this.outbox;
    this.outbox = [];
    const s = this.socket;
    // Lost, as on a lossy network: socket.io would otherwise send them late, after a reconnect.
    if (!s?.connected) return;
    const { frames: most, bytes: budget } = LIMITS.relayBatch;
    let batch: RelayFrame[] = [];
    let bytes = 0;
    const send = () => {
      // A refusal comes back as this ack, not as a `refused` event.
      if (batch.length > 0)
        s.emit('relay', { frames: batch }, (res: unknown) => {
          if ((res as Fail | null)?.code === 'rate_limited') this.handlers?.relayRefused?.();
        });
      batch = [];
      bytes = 0;
    };
    for (const f of frames) {
      const size = utf8Bytes(f.data);
      if (batch.length === most || bytes + size > budget) send();
      batch.push(f);
      bytes += size;
    }
    send();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.flushRelays();
    this.socket?.disconnect();
    this.socket = null;
  }

  private call<T extends object>(
    emit: (s: ClientSocket, done: (err: Error | null, res: unknown) => void) => void,
    what: string,
    schema?: Parameters<typeof ackFromServer<T>>[2],
  ): Promise<Ack<T>> {
    // Relays asked for earlier go first: the server sees events in the order they were asked for (a goodbye
    // relayed before a leave must not arrive after it, and be refused).
    this.flushRelays();
    const s = this.socket;
    if (!s?.connected)
      return Promise.resolve({ ok: false, code: 'internal_error', error: `${what}: offline` });
    return new Promise((resolve) => {
      emit(s, (err, res) => resolve(err ? timeoutFail(what) : ackFromServer(res, what, schema)));
    });
  }
}
