// The signaling server: socket.io transport, input hardening and routing on top of a RoomStore.
// Reads no environment; index.ts turns env into these options.

import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import type { Registry } from 'prom-client';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import * as v from 'valibot';
import { WebSocket, WebSocketServer, type ServerOptions as WsServerOptions } from 'ws';
import { LIMITS, PROTOCOL_VERSION } from '../../client/src/protocol/limits.ts';
import type {
  Ack,
  ClientToServerEvents,
  ErrorCode,
  Fail,
  IceServer,
  Joined,
  PlayerId,
  RosterMsg,
  ServerToClientEvents,
} from '../../client/src/protocol/signaling.ts';
import {
  byeSchema,
  defaultSettings,
  describeIssues,
  joinSchema,
  leaveSchema,
  relaySchema,
  removeSchema,
  signalSchema,
} from '../../client/src/protocol/signaling.ts';
import { cleanText, cut } from '../../client/src/protocol/text.ts';
import { engineConnection, pendingBytes, websocketOf } from './backlog.ts';
import { createHttpRoutes, type Middleware, type WebOptions } from './http.ts';
import { createMetrics } from './metrics.ts';
import { checkServerOptions, MAX_HTTP_BUFFER_BYTES } from './options.ts';
import { checkedParser } from './parser.ts';
import { clientAddress, trustList } from './proxy.ts';
import { ConnectionLimiter, type RateLimitOptions, TokenBucket } from './rateLimit.ts';
import { ReadScheduler } from './reading.ts';
import {
  ADMISSION_DEFAULTS,
  type AdmissionLimits,
  type Clock,
  Incarnations,
  type MemberRoute,
  MemoryRoomStore,
  type RoomStore,
  systemClock,
  WRONG_PASSWORD,
} from './rooms.ts';
import { AttemptThrottle, type AttemptThrottleOptions, JoinRate } from './throttle.ts';

/** The Redis adapter forwards broadcasts between nodes; nodes send each other no events of their own. */
export type InterServerEvents = Record<never, never>;

export interface SocketData {
  ip: string;
  session: { room: string; id: PlayerId } | undefined;
  /** Its page said it was going (`bye`): a grace that runs out is a departure. */
  bye?: boolean;
}

export type SignalingIo = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type SignalingSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface SignalingOptions extends Partial<Omit<AdmissionLimits, 'graceMs' | 'maxMembers'>> {
  /** How long a disconnected session keeps its ID (ms). */
  graceMs?: number;
  maxMembers?: number;
  /** Joins (resumes included) one room accepts per second, sustained, and at once after a quiet spell. */
  roomJoinsPerSec?: number;
  roomJoinBurst?: number;
  /** The budget all connections of one address share (events and bytes). */
  addressRateLimit?: Partial<Omit<RateLimitOptions, 'strikes' | 'strikeWindowMs'>>;
  /** Bytes queued toward one recipient above which signals and relays to it are dropped (counted). */
  recipientBufferBytes?: number;
  /** Wrong-password attempts, per address and per room, before each further attempt must wait. */
  passwordThrottle?: Partial<{
    address: Partial<AttemptThrottleOptions>;
    room: Partial<AttemptThrottleOptions>;
  }>;
  /** The browser origin of the app (https://play.example); the origin check compares against it, not Host. */
  publicOrigin?: string;
  /** Security headers and the /metrics gate of the HTTP routes. */
  web?: WebOptions;
  /** With Redis: join-rate and password budgets are shared by every node through this client. */
  limiterRedis?: Redis;
  /** Extra origins allowed besides the server's own; '*' allows any. Requests without Origin are allowed. */
  allowedOrigins?: readonly string[] | '*';
  iceServers?: IceServer[];
  rateLimit?: Partial<RateLimitOptions>;
  maxJoinsPerSocket?: number;
  maxSocketsPerIp?: number;
  maxConnections?: number;
  /** Proxies (addresses or CIDRs) whose X-Forwarded-For is believed; empty: the TCP peer is the client. */
  trustProxy?: readonly string[];
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** Capped at MAX_HTTP_BUFFER_BYTES. */
  maxHttpBufferBytes?: number;
  /** Suggested delay sent to clients in the `shutdown` event. */
  shutdownReconnectMs?: number;
  /**
   * For this long after start, a join that brings no room incarnation (a newcomer) waits, so the tabs that
   * were connected when the server went down recreate their rooms first and keep their history
   * (docs/protocol.md, "Identity"). For a store that keeps its rooms across a start (Redis, which holds
   * newcomers itself when it lost them), pass 0. 0: no wait.
   */
  restartHoldMs?: number;
  /**
   * Signs room incarnations, so that after a restart of the memory store only a tab that really played in
   * a room can recreate it (a made-up claim waits like a newcomer). Keep it the same across restarts.
   */
  roomSecret?: string;
  /** How long close() waits for clients to receive `shutdown` before cutting connections. */
  shutdownDrainMs?: number;
  staticDir?: string;
  /** Dev: a middleware (Vite) that answers every non-API HTTP request. */
  fallback?: Middleware;
  /**
   * Answer the HTTP server's other requests (health, /metrics, the built app, 404s). False: leave them to
   * the app the server belongs to (Express, Fastify), and let close() keep its other connections open.
   */
  httpRoutes?: boolean;
  /** Leave foreign WebSocket upgrades (Vite HMR) alone instead of destroying them. */
  sharedUpgrades?: boolean;
  /** Also export Node process metrics (CPU, memory, event loop) on /metrics. */
  processMetrics?: boolean;
  logger?: Logger;
  clock?: Clock;
  store?: RoomStore;
  /** Multi-node: the socket.io adapter (Redis) that carries room and per-socket emits between nodes. */
  adapter?: ServerOptions['adapter'];
}

export interface SignalingServer {
  io: SignalingIo;
  store: RoomStore;
  registry: Registry;
  metrics(): Promise<string>;
  readonly shuttingDown: boolean;
  /** Tells every client to reconnect later (`shutdown`), disconnects them and closes the HTTP server. */
  close(): Promise<void>;
}

export const DEFAULTS = {
  graceMs: 15_000,
  maxMembers: 50,
  // A tab whose WebRTC is blocked relays every heartbeat: 4/s to each of up to 49 peers, plus the rest.
  // Bytes: such a tab relays about 40 KB/s; a catch-up after a reconnect comes at once.
  // The clients keep to it (net/relayBudget.ts): the server tells them its own in the join's answer.
  rateLimit: {
    perSecond: LIMITS.relayBudget.perSec,
    burst: LIMITS.relayBudget.burst,
    bytesPerSecond: LIMITS.relayBudget.bytesPerSec,
    bytesBurst: LIMITS.relayBudget.bytesBurst,
    strikes: 50,
    strikeWindowMs: 10_000,
  },
  // Shared by all connections of one address: a class of 32 relay-only tabs behind one NAT fits.
  addressRateLimit: {
    perSecond: 4_000,
    burst: 8_000,
    bytesPerSecond: 4 * 1024 * 1024,
    bytesBurst: 8 * 1024 * 1024,
  },
  // A whole room (50) may arrive at once, e.g. after a server restart; churn beyond that is held to 5/s.
  roomJoinsPerSec: 5,
  roomJoinBurst: 50,
  recipientBufferBytes: 1024 * 1024,
  ...ADMISSION_DEFAULTS,
  maxJoinsPerSocket: 20,
  maxSocketsPerIp: 100,
  maxConnections: 10_000,
  // A dead socket is noticed within pingInterval + pingTimeout = 8 s.
  pingIntervalMs: 4_000,
  pingTimeoutMs: 4_000,
  shutdownReconnectMs: 1_000,
  shutdownDrainMs: 2_000,
} as const;

const KNOWN_EVENTS = [
  'join',
  'leave',
  'bye',
  'signal',
  'relay',
  'remove',
] as const satisfies readonly (keyof ClientToServerEvents)[];
type KnownEvent = (typeof KNOWN_EVENTS)[number];
const isKnownEvent = (event: string): event is KnownEvent =>
  (KNOWN_EVENTS as readonly string[]).includes(event);

const roomChannel = (room: string) => `room:${room}`;

type Result = Ack<object>;
type AckFn = (res: Result) => void;

class Refusal extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

class RateRefusal extends Refusal {
  constructor(
    readonly disconnect: boolean,
    readonly waitMs: number,
  ) {
    super('rate_limited', 'too many events or bytes; slow down');
  }
}

/** A tab of another build: it must reload to get this server's page (or wait for its own server). */
function outdated(spoken: number): Refusal {
  const how =
    spoken < PROTOCOL_VERSION
      ? 'this room runs a newer Lockstep: reload the page'
      : 'this server runs an older Lockstep than this page: try again once it is updated';
  return new Refusal(
    'outdated',
    `join: ${how} (the server speaks protocol ${PROTOCOL_VERSION}, this tab ${spoken})`,
  );
}

function parse<T extends v.GenericSchema>(schema: T, event: string, payload: unknown): v.InferOutput<T> {
  const result = v.safeParse(schema, payload);
  if (!result.success) throw new Refusal('bad_request', `${event}: ${describeIssues(result.issues)}`);
  return result.output;
}

/** What the read scheduler counts for a packet, however small: its parse costs something too. */
const PACKET_READ_COST = 64;

/** Frame sizes kept for events not yet handled: more means they are out of step, and JSON is charged. */
const MAX_UNHANDLED_FRAMES = 1_024;

/** How long a cut-off connection has to flush its refusal and close frame before it is destroyed. */
const CUT_OFF_FLUSH_MS = 200;
/** Websocket upgrades one engine.io connection may try (an honest client makes one). */
const MAX_UPGRADE_TRIES = 3;

function jsonBytes(data: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(data) ?? '');
  } catch {
    // Cycles cannot arrive over the wire; only absurd nesting can make stringify throw.
    return Number.POSITIVE_INFINITY;
  }
}

/** Marks an HTTP server that has signaling: a second one on it would fight the first over every upgrade. */
const ATTACHED = Symbol('lockstep signaling');

/** An options object without its undefined values, so they do not override defaults in a spread. */
function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function createSignalingServer(
  httpServer: HttpServer,
  options: SignalingOptions = {},
): SignalingServer {
  if (typeof (httpServer as Partial<HttpServer> | undefined)?.on !== 'function')
    throw new TypeError('createSignalingServer: the first argument must be an http.Server');
  checkServerOptions(options, { graceMs: DEFAULTS.graceMs, graceTotalMs: DEFAULTS.graceTotalMs });
  const marked = httpServer as HttpServer & { [ATTACHED]?: true };
  if (marked[ATTACHED]) throw new TypeError('createSignalingServer: this HTTP server already has signaling');
  marked[ATTACHED] = true;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? pino({ level: 'silent' });
  const graceMs = options.graceMs ?? DEFAULTS.graceMs;
  const rateLimit: RateLimitOptions = { ...DEFAULTS.rateLimit, ...defined(options.rateLimit) };
  const relayBudget = {
    perSec: rateLimit.perSecond,
    burst: rateLimit.burst,
    bytesPerSec: rateLimit.bytesPerSecond,
    bytesBurst: rateLimit.bytesBurst,
  };
  const maxJoinsPerSocket = options.maxJoinsPerSocket ?? DEFAULTS.maxJoinsPerSocket;
  const maxSocketsPerIp = options.maxSocketsPerIp ?? DEFAULTS.maxSocketsPerIp;
  const maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
  const trusted = trustList(options.trustProxy ?? []);
  const addressOf = (req: IncomingMessage) => clientAddress(req, trusted);
  const addressRateLimit = { ...DEFAULTS.addressRateLimit, ...defined(options.addressRateLimit) };
  const recipientBufferBytes = options.recipientBufferBytes ?? DEFAULTS.recipientBufferBytes;
  const publicOrigin = options.publicOrigin;
  const allowedOrigins = options.allowedOrigins ?? [];
  const iceServers = options.iceServers ?? [];
  const shutdownReconnectMs = options.shutdownReconnectMs ?? DEFAULTS.shutdownReconnectMs;
  const holdUntil = clock.now() + (options.restartHoldMs ?? 0);
  const incarnations = new Incarnations(options.roomSecret);
  const shutdownDrainMs = options.shutdownDrainMs ?? DEFAULTS.shutdownDrainMs;
  const store: RoomStore =
    options.store ??
    new MemoryRoomStore({
      clock,
      graceMs,
      maxMembers: options.maxMembers ?? DEFAULTS.maxMembers,
      maxSessionsPerIpPerRoom: options.maxSessionsPerIpPerRoom ?? DEFAULTS.maxSessionsPerIpPerRoom,
      maxRoomsPerIp: options.maxRoomsPerIp ?? DEFAULTS.maxRoomsPerIp,
      maxRooms: options.maxRooms ?? DEFAULTS.maxRooms,
      graceTotalMs: options.graceTotalMs ?? DEFAULTS.graceTotalMs,
      reopenProtectMs: options.reopenProtectMs ?? DEFAULTS.reopenProtectMs,
    });
  const metrics = createMetrics(store, { processMetrics: options.processMetrics ?? false });
  const joinRate = new JoinRate(
    options.roomJoinsPerSec ?? DEFAULTS.roomJoinsPerSec,
    options.roomJoinBurst ?? DEFAULTS.roomJoinBurst,
    options.limiterRedis,
  );
  const passwordByAddress = new AttemptThrottle(
    'pw-addr',
    { ...AttemptThrottle.ADDRESS_DEFAULTS, ...defined(options.passwordThrottle?.address) },
    options.limiterRedis,
  );
  const passwordByRoom = new AttemptThrottle(
    'pw-room',
    { ...AttemptThrottle.ROOM_DEFAULTS, ...defined(options.passwordThrottle?.room) },
    options.limiterRedis,
  );

  let shuttingDown = false;
  let closing: Promise<void> | undefined;

  if (options.httpRoutes !== false)
    httpServer.on(
      'request',
      createHttpRoutes({
        ...(options.staticDir === undefined ? {} : { staticDir: options.staticDir }),
        ...(options.fallback === undefined ? {} : { fallback: options.fallback }),
        registry: metrics.registry,
        isShuttingDown: () => shuttingDown,
        logger,
        web: { ...options.web, ...(publicOrigin === undefined ? {} : { publicOrigin }) },
        isTrustedProxy: (req) => trusted(req.socket.remoteAddress ?? ''),
      }),
    );

  function originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    // Only browsers send Origin, and only browsers need protecting from cross-site pages.
    if (origin === undefined) return true;
    if (allowedOrigins === '*' || allowedOrigins.includes(origin)) return true;
    // A configured public origin is the only "own" origin: Host can be anything a client sends.
    if (publicOrigin !== undefined) return origin === publicOrigin;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  const socketsPerIp = new Map<string, number>();
  /**
   * The budget every connection of an address shares. It outlives them, so reconnecting does not refill
   * it: a bucket is forgotten only once its address has no connection left and it has refilled.
   */
  const addressBuckets = new Map<string, TokenBucket>();
  const reading = new ReadScheduler();
  const bucketSweep = setInterval(() => {
    for (const [ip, bucket] of addressBuckets) {
      if (!socketsPerIp.has(ip) && bucket.isFull()) addressBuckets.delete(ip);
    }
  }, 10_000);
  bucketSweep.unref();

  /**
   * engine.io's websockets, with one change: once the server closes one, for whatever reason (a refused
   * frame, a failed upgrade probe, a cut-off, a shutdown), it is not read again and its socket goes
   * CUT_OFF_FLUSH_MS later, time to flush what was written last. A graceful close waits up to 30 s for the
   * client's close frame and parses whatever else comes meanwhile: a client that got itself closed, then
   * sent tiny frames at full speed, kept a core busy for those 30 s (failed upgrade probes too, which no
   * engine.io connection counts). A class per server, not a closure per connection.
   */
  class ClosingWebSocket extends WebSocket {
    private ending = false;

    override close(code?: number, data?: string | Buffer): void {
      super.close(code, data);
      if (this.ending || this.readyState !== WebSocket.CLOSING) return;
      this.ending = true;
      reading.stop(this);
      setTimeout(() => this.terminate(), CUT_OFF_FLUSH_MS).unref();
    }
  }
  /** Upgrades tried on each engine.io connection (its `sid`): see ClosingWebSocketServer. */
  const upgradeTries = new WeakMap<object, number>();
  class ClosingWebSocketServer extends WebSocketServer {
    constructor(options: WsServerOptions) {
      super({ ...options, WebSocket: ClosingWebSocket });
    }

    /**
     * An upgrade names a connection already let in (its `sid`), so no admission check or address limit sees
     * it; an honest client tries once. Past MAX_UPGRADE_TRIES on one connection, the socket is dropped
     * before the websocket handshake: failed probes cannot be opened back to back for as long as it lives.
     */
    override handleUpgrade(...args: Parameters<WebSocketServer['handleUpgrade']>): void {
      const [req, socket] = args;
      const sid = new URL(req.url ?? '/', 'http://localhost').searchParams.get('sid');
      const conn = sid === null ? undefined : engineConnection(io.engine, sid);
      if (conn) {
        const tries = (upgradeTries.get(conn) ?? 0) + 1;
        upgradeTries.set(conn, tries);
        if (tries > MAX_UPGRADE_TRIES) {
          metrics.rejected.inc({ reason: 'upgrade_tries' });
          socket.destroy();
          return;
        }
      }
      super.handleUpgrade(...args);
    }
  }

  const io: SignalingIo = new Server(httpServer, {
    serveClient: false,
    maxHttpBufferSize: Math.min(options.maxHttpBufferBytes ?? MAX_HTTP_BUFFER_BYTES, MAX_HTTP_BUFFER_BYTES),
    parser: checkedParser,
    pingInterval: options.pingIntervalMs ?? DEFAULTS.pingIntervalMs,
    pingTimeout: options.pingTimeoutMs ?? DEFAULTS.pingTimeoutMs,
    connectTimeout: 10_000,
    ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
    destroyUpgrade: !(options.sharedUpgrades ?? false),
    wsEngine: ClosingWebSocketServer,
    ...(allowedOrigins === '*' || allowedOrigins.length > 0
      ? { cors: { origin: allowedOrigins === '*' ? true : [...allowedOrigins] } }
      : {}),
    // A few handshakes per turn (reading.ts); the checks run when a connection's turn comes.
    allowRequest: (req, callback) => reading.admit(() => admitConnection(req, callback)),
  });

  function admitConnection(req: IncomingMessage, callback: (err: string | null, ok: boolean) => void): void {
    const refusal = connectionRefusal(req);
    if (refusal) {
      metrics.rejected.inc({ reason: refusal.reason });
      logger.debug({ reason: refusal.reason, origin: req.headers.origin }, 'connection refused');
    }
    callback(refusal?.message ?? null, !refusal);
  }

  function connectionRefusal(req: IncomingMessage): { reason: string; message: string } | undefined {
    if (shuttingDown) return { reason: 'shutting_down', message: 'server is shutting down' };
    if (!originAllowed(req)) return { reason: 'origin', message: 'origin not allowed' };
    if (io.engine.clientsCount >= maxConnections)
      return { reason: 'capacity', message: 'server is at capacity' };
    if ((socketsPerIp.get(addressOf(req)) ?? 0) >= maxSocketsPerIp) {
      return { reason: 'too_many_sockets', message: 'too many connections from this address' };
    }
    return undefined;
  }

  interface EngineSocket {
    request: IncomingMessage;
    on(event: 'close', fn: (this: EngineSocket) => void): void;
  }
  io.engine.on('connection', (raw: EngineSocket) => {
    const ip = addressOf(raw.request);
    socketsPerIp.set(ip, (socketsPerIp.get(ip) ?? 0) + 1);
    // `on`, not `once`: an engine.io socket closes once, and once's wrapper costs every connection.
    raw.on('close', onEngineClose);
  });
  /**
   * Shared by every connection (`this`), not a closure holding its address: the address is read again from
   * the same request, whose peer address Node keeps after the socket is gone (checked by a test).
   */
  function onEngineClose(this: EngineSocket): void {
    const ip = addressOf(this.request);
    const left = (socketsPerIp.get(ip) ?? 1) - 1;
    if (left <= 0) socketsPerIp.delete(ip);
    else socketsPerIp.set(ip, left);
  }

  // One timer for the earliest grace expiry; rescheduled after every change to the sessions.
  let expiryTimer: NodeJS.Timeout | undefined;
  let expiryAt: number | undefined;

  async function scheduleExpiry(): Promise<void> {
    const next = await store.nextExpiry();
    if (next === expiryAt || shuttingDown) return;
    clearTimeout(expiryTimer);
    expiryAt = next;
    if (next === undefined) return;
    expiryTimer = setTimeout(
      () => {
        expiryAt = undefined;
        expireSessions().catch((err: unknown) => logger.error({ err }, 'session expiry failed'));
      },
      Math.max(0, next - clock.now()),
    );
    expiryTimer.unref();
  }

  let expiring: Promise<void> | undefined;

  // Serialized: the timer and the sweep may both fire, and a second run would only find nothing to do.
  function expireSessions(): Promise<void> {
    expiring ??= (async () => {
      try {
        for (const roster of await store.expire()) {
          logger.info(
            { room: roster.room, members: roster.members.length },
            'sessions expired or put in grace',
          );
          pushRoster(roster);
        }
      } finally {
        expiring = undefined;
      }
      await scheduleExpiry();
    })();
    return expiring;
  }

  // With a shared store, other nodes die and put sessions in grace that no timer here knows about.
  const sweepTimer =
    store.sweepIntervalMs === undefined
      ? undefined
      : setInterval(() => {
          if (shuttingDown) return;
          expireSessions().catch((err: unknown) => logger.error({ err }, 'session sweep failed'));
        }, store.sweepIntervalMs);
  sweepTimer?.unref();

  // The cluster presumed this node dead, so its connections may no longer own their sessions:
  // send them away to resume (on any node) with their tokens.
  store.onFenced?.(() => {
    if (shuttingDown) return;
    logger.warn(
      { connections: io.engine.clientsCount },
      'presumed dead by the cluster; reconnecting clients',
    );
    io.local.emit('shutdown', { reconnectInMs: shutdownReconnectMs });
    io.local.disconnectSockets(true);
  });

  // A room's roster changes of one turn of the event loop go out as one push, of the newest: a burst of
  // joins (a class arriving, a server restart) then costs each member one message, not one per joiner.
  // Sent before the next turn reads anything, so a push still precedes any signal that depends on it.
  // `except` (a joiner, whose ack carries this roster) is skipped only if the push is still its roster.
  const rosterOutbox = new Map<string, { roster: RosterMsg; except: SignalingSocket | undefined }>();

  function pushRoster(roster: RosterMsg, except?: SignalingSocket): void {
    const queued = rosterOutbox.get(roster.room);
    // An older version arriving later (another node's reply overtaken, or a room recreated with versions
    // from 1 again) is not coalesced: the queued one goes now, as both did before, in arrival order.
    if (queued && roster.version < queued.roster.version) sendRoster(queued);
    if (rosterOutbox.size === 0) setImmediate(flushRosters);
    rosterOutbox.set(roster.room, { roster, except });
  }

  function sendRoster({ roster, except }: { roster: RosterMsg; except: SignalingSocket | undefined }): void {
    (except ? except.to(roomChannel(roster.room)) : io.to(roomChannel(roster.room))).emit('roster', roster);
  }

  function flushRosters(): void {
    for (const entry of rosterOutbox.values()) sendRoster(entry);
    rosterOutbox.clear();
  }

  function fail(code: ErrorCode, error: string): Fail {
    return { ok: false, code, error: cut(error, LIMITS.refusalChars) };
  }

  const handlers: Record<
    KnownEvent,
    (socket: SignalingSocket, payload: unknown, ack?: AckFn) => Promise<Result>
  > = {
    async join(socket, payload, ack) {
      if (!ack) throw new Refusal('bad_request', 'join needs an acknowledgement callback to receive the ID');
      if (shuttingDown) throw new Refusal('shutting_down', 'server is shutting down; reconnect shortly');
      const current = socket.data.session;
      if (current) {
        throw new Refusal(
          'already_joined',
          `this connection is already player ${current.id} in room ${current.room}; leave first`,
        );
      }
      // Invalid and refused attempts count too, so one connection cannot probe rooms or tokens without bound.
      if (++wireOf(socket).joins > maxJoinsPerSocket) {
        throw new Refusal('too_many_joins', `at most ${maxJoinsPerSocket} joins per connection; reconnect`);
      }
      // Before anything this join waits on (the hold, the password backoff, the store): see JoinInput.epoch.
      const epoch = store.epoch?.();
      // Before the schema: a newer build's join may carry fields this one does not know.
      const spoken = (payload as { v?: unknown } | null)?.v;
      if (typeof spoken === 'number' && spoken !== PROTOCOL_VERSION) throw outdated(spoken);
      const req = parse(joinSchema, 'join', payload);
      if (req.v === undefined) throw outdated(0);
      const ip = socket.data.ip;
      if (req.verifier !== undefined) {
        // A resume is not a guess: the room's backoff would hold its player out past its grace. Its own
        // address's backoff still applies, and its password is still checked.
        const roomWaitMs = await passwordByRoom.waitMs(req.room);
        const resuming =
          roomWaitMs > 0 && req.token !== undefined && (await store.holdsToken(req.room, req.token));
        const waitMs = Math.max(await passwordByAddress.waitMs(ip), resuming ? 0 : roomWaitMs);
        if (waitMs > 0) {
          metrics.throttled.inc({ reason: 'password' });
          throw new Refusal(
            'rate_limited',
            `join: too many wrong passwords; try again in ${Math.ceil(waitMs / 1000)} s`,
          );
        }
      }
      // A claim the server can't recognise as one it minted is a newcomer's join (and is held back as one).
      const claim =
        req.incarnation !== undefined && incarnations.genuine(req.room, req.incarnation)
          ? req.incarnation
          : undefined;
      if (req.incarnation !== undefined && claim === undefined)
        logger.warn(
          { sid: socket.id, room: req.room },
          'join: incarnation claim not minted here; treated as new',
        );
      const hold = claim === undefined ? holdUntil - clock.now() : 0;
      if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold));
      if (socket.disconnected)
        throw new Refusal('not_joined', 'join: the connection closed while the join was held');
      // After the password wait, so guesses held back there do not use up the room's joins.
      if (!(await joinRate.allow(req.room))) {
        metrics.throttled.inc({ reason: 'room_joins' });
        throw new Refusal(
          'rate_limited',
          'join: this room is taking too many joins right now; retry shortly',
        );
      }
      const outcome = await store.join({
        room: req.room,
        name: req.name,
        settings: req.settings ?? defaultSettings(),
        socketId: socket.id,
        ...(req.token === undefined ? {} : { token: req.token }),
        ...(req.verifier === undefined ? {} : { verifier: req.verifier }),
        // A floor matters only to a tab of the room's incarnation back after the store forgot the room.
        ...(req.floor === undefined || claim === undefined ? {} : { floor: req.floor }),
        ...(req.ownerToken === undefined ? {} : { ownerToken: req.ownerToken }),
        ...(claim === undefined ? {} : { incarnation: claim }),
        freshIncarnation: incarnations.mint(req.room),
        ip,
        ...(epoch === undefined ? {} : { epoch }),
      });
      if (!outcome.ok) await joinRate.refund(req.room);
      // The store's rate_limited (a room kept for its vanished players, or whose players are all away) refuses
      // for up to minutes; its client retries on the same connection, and those tries are the room's state,
      // not this one's probing.
      if (!outcome.ok && outcome.code === 'rate_limited') wireOf(socket).joins--;
      if (!outcome.ok && outcome.error === WRONG_PASSWORD) {
        await Promise.all([passwordByAddress.failed(ip), passwordByRoom.failed(req.room)]);
      }
      if (!outcome.ok) throw new Refusal(outcome.code, outcome.error);
      // The joiner gave up while its join waited (held after a start, or a slow store): a new player it never
      // learnt of would be a voter nobody can reach, and as a room's creator its only one.
      if (socket.disconnected && !outcome.resumed) {
        const roster = await store.leave(req.room, outcome.id, socket.id);
        if (roster) pushRoster(roster);
        await scheduleExpiry();
        throw new Refusal('not_joined', 'join: the connection closed before the join was answered');
      }

      socket.data.session = { room: req.room, id: outcome.id };
      // A goodbye said for an earlier session of this connection is not this one's (set only then: a
      // property more on every connection's data is memory at 10,000 connections).
      if (socket.data.bye) socket.data.bye = false;
      socket.join(roomChannel(req.room));
      if (outcome.replacedSocketId !== undefined) {
        io.to(outcome.replacedSocketId).emit(
          'refused',
          fail('replaced', `player ${outcome.id} was resumed by another connection with the same token`),
        );
        io.in(outcome.replacedSocketId).disconnectSockets(true);
      }
      logger.info(
        { sid: socket.id, room: req.room, id: outcome.id, resumed: outcome.resumed },
        outcome.resumed ? 'session resumed' : 'player joined',
      );
      if (outcome.changed) pushRoster(outcome.roster, socket);
      await scheduleExpiry();
      const joined: Joined = {
        id: outcome.id,
        token: outcome.token,
        resumed: outcome.resumed,
        incarnation: outcome.incarnation,
        settings: outcome.settings,
        roster: outcome.roster,
        iceServers,
        graceMs,
        relayBudget,
        ...(outcome.ownerToken === undefined ? {} : { ownerToken: outcome.ownerToken }),
      };
      return { ok: true, ...joined };
    },

    async leave(socket, payload) {
      parse(leaveSchema, 'leave', payload);
      const session = socket.data.session;
      if (!session) throw new Refusal('not_joined', 'leave: this connection has not joined a room');
      socket.data.session = undefined;
      socket.leave(roomChannel(session.room));
      const roster = await store.leave(session.room, session.id, socket.id);
      if (roster) pushRoster(roster);
      logger.info({ sid: socket.id, room: session.room, id: session.id }, 'player left');
      await scheduleExpiry();
      return { ok: true };
    },

    async bye(socket, payload) {
      const req = parse(byeSchema, 'bye', payload);
      requireSession(socket, 'bye');
      // A page that still hears players we no longer list gives the room up no more than they did.
      socket.data.bye = req?.unlisted !== true;
      return { ok: true };
    },

    async remove(socket, payload) {
      const session = requireSession(socket, 'remove');
      const req = parse(removeSchema, 'remove', payload);
      if (req.room !== session.room) {
        throw new Refusal(
          'not_in_room',
          `remove: this connection is in room ${session.room}, not ${req.room}`,
        );
      }
      const outcome = await store.remove(session.room, session.id, req.id, req.ownerToken);
      if (!outcome.ok) throw new Refusal(outcome.code, outcome.error);
      if (outcome.socketId !== undefined) {
        // Told first (the close flushes it), so the tab stops instead of resuming.
        io.to(outcome.socketId).emit('removed', {
          room: session.room,
          id: req.id,
          reason: 'you were removed from this room by its owner',
        });
        io.in(outcome.socketId).disconnectSockets(true);
      }
      if (outcome.changed) {
        logger.info({ sid: socket.id, room: session.room, by: session.id, id: req.id }, 'player removed');
        pushRoster(outcome.roster);
      }
      await scheduleExpiry();
      return { ok: true };
    },

    async signal(socket, payload) {
      const session = requireSession(socket, 'signal');
      const req = parse(signalSchema, 'signal', payload);
      const bytes = jsonBytes(req.data);
      checkSize('signal', bytes);
      const targetSocket = await resolveTarget(session, req.to, 'signal');
      if (backlogged(targetSocket)) return { ok: true };
      io.to(targetSocket).emit('signal', { from: session.id, data: req.data });
      metrics.relayedBytes.inc({ kind: 'signal' }, bytes);
      return { ok: true };
    },

    async relay(socket, payload) {
      const session = requireSession(socket, 'relay');
      const { frames } = parse(relaySchema, 'relay', payload);
      let bytes = 0;
      for (const f of frames) {
        notToSelf(session, f.to, 'relay');
        bytes += Buffer.byteLength(f.data);
      }
      if (bytes > LIMITS.relayBatch.bytes)
        throw new Refusal(
          'too_large',
          `relay: the frames' data is larger than ${LIMITS.relayBatch.bytes} bytes in all`,
        );
      // The event was charged once on arrival; every frame costs a lookup and an emit, so each pays.
      if (frames.length > 1) charge(socket, 0, frames.length - 1);
      // Each target once, and together: with Redis each lookup is a round trip.
      const targets = [...new Set(frames.map((f) => f.to))];
      const found = await Promise.all(targets.map((to) => store.route(session.room, to)));
      const routes = new Map(targets.map((to, i) => [to, found[i]]));
      let missing: string | undefined;
      for (const f of frames) {
        const route = routes.get(f.to);
        const targetSocket = route?.socketId;
        if (targetSocket === undefined) {
          missing ??= unreachable(f.to, route);
          continue;
        }
        if (backlogged(targetSocket)) continue;
        io.to(targetSocket).emit('relay', { from: session.id, data: f.data });
        metrics.relayedBytes.inc({ kind: 'relay' }, Buffer.byteLength(f.data));
      }
      // The others went: a peer that just left or dropped is a race, not the sender's fault.
      if (missing !== undefined)
        throw new Refusal(
          'not_in_room',
          `relay: ${missing}${frames.length > 1 ? ' (the other frames were relayed)' : ''}`,
        );
      return { ok: true };
    },
  };

  /**
   * A recipient on this node that is not reading what it is sent: drop (and count) instead of queueing
   * without bound. The protocol survives loss; the sender is not told, as a lossy network would not.
   * Recipients on other nodes are checked by nothing here (their node's adapter emits for us).
   */
  function backlogged(targetSocketId: string): boolean {
    const target = io.sockets.sockets.get(targetSocketId);
    if (!target || pendingBytes(target, recipientBufferBytes) <= recipientBufferBytes) return false;
    metrics.dropped.inc({ reason: 'recipient_backlog' });
    return true;
  }

  /**
   * Closes a flooding connection and reads nothing more from it. A polite close would read on until the
   * client's close frame, which waits behind everything it has queued: megabytes to unmask and throw away.
   * The socket is destroyed once the refusal and the close frame have had a moment to go out.
   */
  function cutOff(socket: SignalingSocket): void {
    const ws = websocketOf(socket);
    if (ws) {
      reading.stop(ws);
      setTimeout(() => ws.terminate(), CUT_OFF_FLUSH_MS).unref();
    }
    socket.disconnect(true);
  }

  /** Charges the connection's budget, or throws `rate_limited` (to be answered, then acted on: `overLimit`). */
  function charge(socket: SignalingSocket, bytes: number, events: number): void {
    const { decision, budget, waitMs = 0 } = wireOf(socket).take(bytes, events);
    if (decision === 'allow') return;
    metrics.throttled.inc({ reason: budget ?? 'connection' });
    throw new RateRefusal(decision === 'disconnect', waitMs);
  }

  /** After the refusal is sent: cut off a persistent flood, or hold a merely fast sender back. */
  function overLimit(socket: SignalingSocket, refusal: RateRefusal): void {
    // Events read before a cut-off still run, and each would cut it off (and log it) again.
    if (socket.disconnected) return;
    if (refusal.disconnect) {
      logger.warn({ sid: socket.id, ip: socket.data.ip }, 'rate limit exceeded; disconnecting');
      cutOff(socket);
    } else {
      // TCP then holds the sender back, where reading on would cost a parse and a refusal per frame.
      const ws = websocketOf(socket);
      if (ws) reading.hold(ws, refusal.waitMs);
    }
  }

  function requireSession(socket: SignalingSocket, event: string) {
    const session = socket.data.session;
    if (!session) throw new Refusal('not_joined', `${event}: join a room first`);
    return session;
  }

  function checkSize(event: string, bytes: number): void {
    if (bytes > LIMITS.payloadBytes) {
      throw new Refusal('too_large', `${event}: data is larger than ${LIMITS.payloadBytes} bytes`);
    }
  }

  async function resolveTarget(session: { room: string; id: PlayerId }, to: PlayerId, event: string) {
    notToSelf(session, to, event);
    const route = await store.route(session.room, to);
    if (route?.socketId === undefined)
      throw new Refusal('not_in_room', `${event}: ${unreachable(to, route)}`);
    return route.socketId;
  }

  function notToSelf(session: { id: PlayerId }, to: PlayerId, event: string): void {
    if (to === session.id) throw new Refusal('bad_request', `${event}: cannot send to yourself`);
  }

  /** Why a member's route has no socket to send to. */
  function unreachable(to: PlayerId, route: MemberRoute | undefined): string {
    return route
      ? `player ${to} is disconnected (in grace) right now`
      : `player ${to} is not a member of this room`;
  }

  // Per-socket queues still running, so close() lets their store updates finish.
  const pendingQueues = new Set<Promise<void>>();

  /**
   * What belongs to the engine.io connection rather than to a socket.io socket on it: a client may leave
   * and re-enter the namespace on one connection ('41' then '40'), and must not get a fresh budget, join
   * count or another packet listener each time. Its budget is itself, one object per connection.
   */
  class Wire extends ConnectionLimiter {
    joins = 0;
    /**
     * Each event frame's size, in the order socket.io decodes them and then hands them to onAny (a tick
     * later, which is why the size is kept here): the byte budget charges what was actually read.
     */
    eventFrameBytes: number[] | undefined = undefined;
  }
  const wires = new WeakMap<object, Wire>();

  /** An engine.io packet read on a connection (`this`): charged to its reading, sized for its budget. */
  function onPacket(this: object, packet: { type: string; data?: unknown }): void {
    const wire = wires.get(this);
    if (!wire) return;
    const text = typeof packet.data === 'string' ? packet.data : '';
    // Looked up each time: a long-polling connection may upgrade to a websocket. Every packet counts,
    // pings and noops too, at least PACKET_READ_COST: a flood of tiny frames costs a parse each as well.
    const ws = websocketOf({ conn: this });
    if (ws) reading.read(ws, Math.max(text.length, PACKET_READ_COST));
    if (packet.type === 'message' && text) {
      const bytes = Buffer.byteLength(text);
      metrics.frameBytes.observe(bytes);
      // '2' is a socket.io EVENT; binary events ('5') close the connection in the parser. The list exists only
      // while frames wait: most connections sit idle, and an emptied array keeps its backing store.
      if (text.startsWith('2') && (wire.eventFrameBytes?.length ?? 0) < MAX_UNHANDLED_FRAMES) {
        wire.eventFrameBytes ??= [];
        wire.eventFrameBytes.push(bytes);
      }
    }
  }

  function wireOf(socket: SignalingSocket): Wire {
    const known = wires.get(socket.conn);
    if (known) return known;
    const ip = socket.data.ip;
    let addressBucket = addressBuckets.get(ip);
    if (!addressBucket) {
      addressBucket = new TokenBucket(addressRateLimit, clock);
      addressBuckets.set(ip, addressBucket);
    }
    const wire = new Wire(rateLimit, addressBucket, clock);
    wires.set(socket.conn, wire);
    socket.conn.on('packet', onPacket);
    return wire;
  }

  // Events of one socket run strictly in order, so a disconnect never overtakes the join before it and
  // signals reach the peer in the order they were sent: the tail of each socket's queue.
  const queues = new WeakMap<SignalingSocket, Promise<void>>();

  // These are functions of the server, not closures made per connection: under tsx (npm start) each named
  // closure also gets a 256-byte property store for its name, and 10,000 connections pay for every one.
  function enqueue(socket: SignalingSocket, task: () => Promise<void>): void {
    const next = (queues.get(socket) ?? Promise.resolve())
      .then(task)
      .catch((err: unknown) => logger.error({ err, sid: socket.id }, 'handler failed'));
    queues.set(socket, next);
    pendingQueues.add(next);
    void next.finally(() => {
      pendingQueues.delete(next);
      // An idle socket keeps no settled chain.
      if (queues.get(socket) === next) queues.delete(socket);
    });
  }

  function reply(socket: SignalingSocket, result: Result, ack: AckFn | undefined): void {
    if (!result.ok) metrics.rejected.inc({ reason: result.code });
    if (ack) ack(result);
    else if (!result.ok) socket.emit('refused', result);
  }

  function onEvent(socket: SignalingSocket, rawEvent: unknown, args: unknown[]): void {
    // Every event read takes its frame's size off the list, even one dropped here: a size left behind would
    // be charged to a later frame, and a client that leaves the namespace with an event in the same read
    // could have every big frame after it charged a few bytes.
    const wire = wireOf(socket);
    const frameBytes = wire.eventFrameBytes?.shift();
    if (wire.eventFrameBytes?.length === 0) wire.eventFrameBytes = undefined;
    // Packets already read after a disconnect still reach onAny listeners.
    if (socket.disconnected) return;
    const ack = typeof args.at(-1) === 'function' ? (args.pop() as AckFn) : undefined;
    const event = String(rawEvent);
    metrics.events.inc({ kind: isKnownEvent(event) ? event : 'unknown' });

    // Charged as its frame, or, should the sizes ever be out of step, as its JSON (dearer: a re-encode).
    try {
      charge(socket, frameBytes ?? jsonBytes([event, ...args]), 1);
    } catch (err) {
      const refusal = err as RateRefusal;
      reply(socket, fail(refusal.code, refusal.message), ack);
      overLimit(socket, refusal);
      return;
    }
    if (!isKnownEvent(event)) {
      const shown = cut(cleanText(event), 40);
      reply(
        socket,
        fail('unknown_event', `unknown event "${shown}"; expected one of ${KNOWN_EVENTS.join(', ')}`),
        ack,
      );
      return;
    }
    if (args.length > 1) {
      reply(socket, fail('bad_request', `${event}: expected one payload argument, got ${args.length}`), ack);
      return;
    }
    enqueue(socket, async () => {
      let result: Result;
      let overLimitBy: RateRefusal | undefined;
      try {
        result = await handlers[event](socket, args[0], ack);
      } catch (err) {
        if (err instanceof Refusal) {
          result = fail(err.code, err.message);
          if (err instanceof RateRefusal) overLimitBy = err;
        } else {
          logger.error({ err, sid: socket.id, event }, 'handler failed');
          result = fail('internal_error', `${event}: internal server error`);
        }
      }
      reply(socket, result, ack);
      if (overLimitBy) overLimit(socket, overLimitBy);
    });
  }

  function onDisconnect(socket: SignalingSocket, reason: string): void {
    metrics.connections.dec();
    enqueue(socket, async () => {
      const session = socket.data.session;
      if (!session) return;
      const roster = await store.disconnect(session.room, session.id, socket.id, socket.data.bye === true);
      logger.info({ sid: socket.id, room: session.room, id: session.id, reason }, 'player disconnected');
      if (roster) pushRoster(roster);
      await scheduleExpiry();
    });
  }

  io.on('connection', (socket) => {
    socket.data = { ip: addressOf(socket.request), session: undefined };
    metrics.connections.inc();
    wireOf(socket);
    listenAny(socket);
    socket.on('disconnect', onSocketDisconnect);
  });

  /**
   * onAny pushes onto an empty array, which V8 grows to 17 slots (152 B) for our one listener; a literal of
   * one costs 24 B. Field name checked through the public listenersAny(): should it change, onAny is used.
   */
  function listenAny(socket: SignalingSocket): void {
    (socket as unknown as { _anyListeners?: unknown[] })._anyListeners = [onAnyEvent];
    if (socket.listenersAny()[0] !== onAnyEvent) socket.onAny(onAnyEvent);
  }

  // Listeners shared by every socket (`this`), not closures made per connection.
  function onAnyEvent(this: SignalingSocket, rawEvent: unknown, ...args: unknown[]): void {
    onEvent(this, rawEvent, args);
  }
  function onSocketDisconnect(this: SignalingSocket, reason: string): void {
    onDisconnect(this, reason);
  }

  async function close(): Promise<void> {
    if (closing) return closing;
    shuttingDown = true;
    closing = (async () => {
      clearTimeout(expiryTimer);
      clearInterval(sweepTimer);
      clearInterval(bucketSweep);
      logger.info({ connections: io.engine.clientsCount }, 'shutting down');
      flushRosters();
      // Local only: with the Redis adapter, io.emit would reach (and io.disconnectSockets would cut) every node.
      io.local.emit('shutdown', { reconnectInMs: shutdownReconnectMs });
      // Closing without discarding lets each connection flush `shutdown` before it goes.
      io.local.disconnectSockets(true);
      await waitUntil(() => io.engine.clientsCount === 0, shutdownDrainMs);
      // Their sessions go into grace in the store before the caller closes it.
      await Promise.allSettled([...pendingQueues]);
      await new Promise<void>((resolve) => {
        io.close(() => resolve());
        if (options.httpRoutes !== false) httpServer.closeAllConnections();
      });
    })();
    return closing;
  }

  return {
    io,
    store,
    registry: metrics.registry,
    metrics: () => metrics.registry.metrics(),
    get shuttingDown() {
      return shuttingDown;
    },
    close,
  };
}

function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const check = () => {
      if (done() || Date.now() - started >= timeoutMs) resolve();
      else setTimeout(check, 10).unref();
    };
    check();
  });
}
