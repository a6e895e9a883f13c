// The contract between the signaling server and its clients: the events, their payloads' schemas and the
// types inferred from them. The server validates every inbound payload against these; the client's lobby
// and links check names and settings with the same schemas. Valibot, not zod: the page pays about 3 KB
// gzipped for these schemas, where zod/mini cost 7.5 and pushed the app past its 150 KB budget.

import * as v from 'valibot';
import { describeIssues, exact, record } from './issues.ts';
import { DEFAULT_STAGES, LIMITS } from './limits.ts';
import { cleanText, codePoints, cut } from './text.ts';

export type PlayerId = number;

export type RoomSettings = {
  /** Heartbeat period. */
  heartbeatMs: number;
  /** Silence after which a peer is suspected. */
  timeoutMs: number;
  /** Stage names; the game has stages.length stages (the last one is final). */
  stages: string[];
};

export type MemberState = 'connected' | 'grace';

export interface Member {
  id: PlayerId;
  name: string;
  state: MemberState;
  /** Epoch ms when a member in grace expires; absent when connected. */
  graceUntil?: number;
}

export interface RosterMsg {
  room: string;
  /** Only grows within a room's life. */
  version: number;
  members: Member[];
  /** IDs the room's owner removed, in the order removed: every client expels them. */
  removed: PlayerId[];
  /**
   * The highest ID this room has given out, to players still here or gone: the core takes no voter above it
   * (a liar's made-up voter would otherwise hold a majority nobody can reach). Only grows.
   */
  issued: PlayerId;
  /**
   * The player whose join last proved the room's owner token (who may remove others), while its session
   * lasts. The server's word: it decides nothing in the protocol.
   */
  owner?: PlayerId;
}

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export type ErrorCode =
  | 'bad_request'
  | 'unknown_event'
  | 'rate_limited'
  | 'room_full'
  | 'bad_token'
  | 'not_joined'
  | 'already_joined'
  | 'not_in_room'
  | 'too_large'
  | 'too_many_joins'
  | 'shutting_down'
  /** Sent as `refused` to a connection whose session was resumed elsewhere with the same token (e.g. a duplicated tab). */
  | 'replaced'
  /** The server failed unexpectedly; the request may be retried. */
  | 'internal_error'
  /** Password room: the join's verifier is missing or wrong, or the room has no password but one was given. */
  | 'bad_password'
  /** The client's address holds as many players in this room, or rooms in all, as one address may. */
  | 'address_limit'
  /** The server holds as many rooms as it may; try later. */
  | 'capacity'
  /** `remove` without the room's valid owner token. */
  | 'not_owner'
  /** The room's owner removed this player: its token is barred from the room. */
  | 'removed'
  /** The join speaks another protocol version than the server: the page must reload (PROTOCOL_VERSION). */
  | 'outdated';

export type Fail = {
  ok: false;
  code: ErrorCode;
  error: string;
  /** Set by the client, never sent: the server's answer broke the contract (ackFromServer). */
  malformed?: true;
};
export type Ack<T extends object = object> = ({ ok: true } & T) | Fail;

export interface Joined {
  id: PlayerId;
  token: string;
  /** True when the token resumed an existing session (same ID as before). */
  resumed: boolean;
  settings: RoomSettings;
  roster: RosterMsg;
  iceServers: IceServer[];
  graceMs: number;
  /** Present only to the room's owner: a new one for the join that created the room, else the one it presented. */
  ownerToken?: string;
  /** The room's incarnation: saved state from another one belongs to a room that no longer exists. */
  incarnation: string;
  /** This server's budget for one connection (LIMITS.relayBudget by default); an older server sends none. */
  relayBudget?: RelayBudgetLimits;
}

export interface RelayBudgetLimits {
  perSec: number;
  burst: number;
  bytesPerSec: number;
  bytesBurst: number;
}

export interface ClientToServerEvents {
  join: (req: JoinRequest, ack: (res: Ack<Joined>) => void) => void;
  /** Leave for good: the ID leaves the membership at once. */
  leave: (req: Record<string, never>, ack: (res: Ack) => void) => void;
  /**
   * The page is going (pagehide), maybe for good: the session keeps its grace (a reload resumes it), but if
   * that runs out the player left rather than vanished, and the room need not be kept for it.
   */
  bye: (req: ByeRequest, ack?: (res: Ack) => void) => void;
  signal: (req: SignalRequest, ack: (res: Ack) => void) => void;
  relay: (req: RelayRequest, ack: (res: Ack) => void) => void;
  /** Owner only: remove another player from the room. */
  remove: (req: RemoveRequest, ack: (res: Ack) => void) => void;
}

export interface ServerToClientEvents {
  roster: (roster: RosterMsg) => void;
  signal: (msg: { from: PlayerId; data: unknown }) => void;
  relay: (msg: { from: PlayerId; data: string }) => void;
  /** The server is going away (SIGTERM): reconnect after about this long and resume with your token. */
  shutdown: (msg: { reconnectInMs: number }) => void;
  /** Something this socket sent was refused outside an ack (e.g. an unknown event). */
  refused: (err: Fail) => void;
  /** The room's owner removed this player; the server disconnects the socket right after. */
  removed: (msg: { room: string; id: PlayerId; reason: string }) => void;
}

const text = () => v.string('must be a string');

/** Text a player shows others: cleaned of invisible characters, not empty, at most `max` characters. */
function displayText(max: number) {
  const tooLong = `is too long (at most ${max} characters)`;
  return v.pipe(
    text(),
    // Cheap bound before the regex work; the real limit is checked after cleaning.
    v.maxLength(max * 8, tooLong),
    v.transform(cleanText),
    v.minLength(1, 'must not be empty'),
    v.check((t) => codePoints(t) <= max, tooLong),
  );
}

/**
 * How a join refused as rate_limited begins when the room waits for its players (the server store's held and
 * away refusals): it opens the moment one is back or the wait ends, so the client asks again often.
 */
export const ROOM_WAITS = 'join: this room waits for its players';

export const roomIdSchema = v.pipe(
  text(),
  v.minLength(LIMITS.roomId.min, 'must not be empty'),
  v.maxLength(LIMITS.roomId.max, `is too long (at most ${LIMITS.roomId.max} characters)`),
  v.regex(LIMITS.roomId.pattern, 'may contain only letters, digits, "_" and "-"'),
);

export function validRoomId(id: string): boolean {
  return v.safeParse(roomIdSchema, id).success;
}

export const nameSchema = displayText(LIMITS.name.max);
export const stageNameSchema = displayText(LIMITS.stages.nameMax);

const urlSafe = (length: number) =>
  v.pipe(
    text(),
    v.length(length, `must be ${length} characters`),
    v.regex(/^[A-Za-z0-9_-]+$/, 'is malformed'),
  );

export const tokenSchema = urlSafe(LIMITS.token.length);
export const verifierSchema = urlSafe(LIMITS.verifier.length);

interface WholeMessages {
  type?: string;
  whole?: string;
  tooSmall?: string;
  tooLarge?: string;
}

/** A whole number in [min, max]; each way to miss has its own sentence. */
const whole = (min: number, max: number, say: WholeMessages = {}) =>
  v.pipe(
    v.number(say.type ?? 'must be a number'),
    v.integer(say.whole ?? 'must be a whole number'),
    v.minValue(min, say.tooSmall ?? `must be at least ${min}`),
    v.maxValue(max, say.tooLarge ?? `must be at most ${max}`),
  );

/** Partial settings from a join, completed with defaults and checked as a whole. */
export const settingsSchema = v.pipe(
  exact({
    heartbeatMs: v.optional(whole(LIMITS.heartbeatMs.min, LIMITS.heartbeatMs.max)),
    timeoutMs: v.optional(whole(LIMITS.timeoutMs.min, LIMITS.timeoutMs.max)),
    stages: v.optional(
      v.pipe(
        // Counted before any name is cleaned: thousands of names would cost a regex pass each.
        v.array(v.unknown(), 'must be an array of stage names'),
        v.minLength(LIMITS.stages.min, `needs at least ${LIMITS.stages.min} stage`),
        v.maxLength(LIMITS.stages.max, `allows at most ${LIMITS.stages.max} stages`),
        v.array(stageNameSchema, 'must be an array of stage names'),
      ),
    ),
  }),
  v.transform(
    (partial): RoomSettings => ({
      heartbeatMs: partial.heartbeatMs ?? LIMITS.heartbeatMs.default,
      timeoutMs: partial.timeoutMs ?? LIMITS.timeoutMs.default,
      stages: partial.stages ?? [...DEFAULT_STAGES],
    }),
  ),
  v.forward(
    v.check(
      (settings) => settings.timeoutMs >= LIMITS.timeoutHeartbeats * settings.heartbeatMs,
      `must be at least ${LIMITS.timeoutHeartbeats} × heartbeatMs`,
    ),
    ['timeoutMs'],
  ),
);

export const defaultSettings = (): RoomSettings => v.parse(settingsSchema, {});

// The core's bound: an ID past it in a heartbeat's tally is malformed to every peer, so a server that handed
// one out would make honest players strike each other.
const playerIdSchema = whole(1, LIMITS.playerId.max, {
  type: 'must be a player ID (a number)',
  tooSmall: 'must be a positive player ID',
  tooLarge: 'is out of range',
});

export const joinFields = {
  /** The protocol version the tab speaks (PROTOCOL_VERSION); the server checks it before anything else. */
  v: v.optional(v.number('must be a number')),
  room: roomIdSchema,
  name: nameSchema,
  /** A resume token from an earlier join of this room (sessionStorage); resumes that ID within the grace period. */
  token: v.optional(tokenSchema),
  /** Used only by the first joiner, who creates the room. */
  settings: v.optional(settingsSchema),
  /**
   * Password rooms: derived from the password (HKDF, its own label), never the password or the payload key.
   * The join that creates the room registers it; every later join (resumes too) must present the same one.
   */
  verifier: v.optional(verifierSchema),
  /**
   * The highest player ID this tab knows in the room. A server that restarted and forgot the room hands
   * out IDs above it, so an ID never repeats within a room (docs/protocol.md, "Identity").
   * Below the core's ID ceiling (2^31): IDs above a floor this high would be refused by every peer.
   */
  floor: v.optional(whole(0, 2 ** 30, { whole: 'must be an integer', tooLarge: 'is out of range' })),
  /**
   * The room's owner token, from the `joined` of the join that created the room: proves owner rights again
   * after a reload or under a new ID. A join that creates the room adopts it.
   */
  ownerToken: v.optional(tokenSchema),
  /**
   * The room incarnation (from `joined`) this tab's saved state belongs to. A server that forgot the room
   * recreates it with the incarnation of the first tab back; a tab whose incarnation differs from the
   * room's drops its state and plays as a newcomer (docs/protocol.md, "Identity").
   */
  incarnation: v.optional(
    v.pipe(text(), v.regex(/^[A-Za-z0-9_-]{8,32}$/, 'must be 8 to 32 URL-safe characters')),
  ),
};
export const joinSchema = exact(joinFields);
export type JoinRequest = v.InferInput<v.StrictObjectSchema<typeof joinFields, undefined>>;

/** The owner removes player `id`: its session ends, its token and ID are barred from the room. */
const removeFields = { room: roomIdSchema, id: playerIdSchema, ownerToken: tokenSchema };
export const removeSchema = exact(removeFields);
export type RemoveRequest = v.InferInput<v.StrictObjectSchema<typeof removeFields, undefined>>;

export const leaveSchema = v.optional(exact({}));
/**
 * `unlisted`: this page still hears players the server no longer lists (playing on over the mesh without
 * it). Its goodbye then does not give the room up: the server keeps it theirs as if they had vanished.
 */
const byeFields = { unlisted: v.optional(v.literal(true, 'must be true when given')) };
export const byeSchema = v.optional(exact(byeFields));
export type ByeRequest = v.InferInput<v.StrictObjectSchema<typeof byeFields, undefined>>;

const signalFields = {
  to: playerIdSchema,
  /** simple-peer signal data (SDP or ICE candidate), forwarded unread. */
  data: v.pipe(
    v.unknown(),
    v.check((data) => data !== undefined && data !== null, 'is required'),
  ),
};
export const signalSchema = exact(signalFields);
export type SignalRequest = v.InferInput<v.StrictObjectSchema<typeof signalFields, undefined>>;

const relayFrameFields = {
  to: playerIdSchema,
  /** A peer message, forwarded unread (size-capped). */
  data: text(),
};
export type RelayFrame = v.InferInput<v.StrictObjectSchema<typeof relayFrameFields, undefined>>;
export const relaySchema = exact({
  frames: v.pipe(
    // Counted before any frame is read: a frame of thousands of empty objects would cost an issue each.
    v.array(v.unknown(), 'must be a list'),
    v.minLength(1, 'must hold at least one frame'),
    v.maxLength(LIMITS.relayBatch.frames, `must hold at most ${LIMITS.relayBatch.frames} frames`),
    v.array(exact(relayFrameFields)),
  ),
});
export interface RelayRequest {
  frames: RelayFrame[];
}

export { describeIssues };

// ---------------------------------------------------------------- what the server sends

/**
 * The client checks what the server sends as the server checks what clients send: a server of another
 * build, a proxy that mangles frames or a hostile server must cost a log line, not a crashed tab. Unknown
 * fields are dropped.
 */
const listOf = <T extends v.GenericSchema>(item: T, max: number) =>
  v.pipe(
    v.array(v.unknown(), 'must be an array'),
    v.maxLength(max, `must hold at most ${max}`),
    v.array(item),
  );

const count = (max = Number.MAX_SAFE_INTEGER) => whole(0, max);

const memberSchema = record({
  id: playerIdSchema,
  name: nameSchema,
  state: v.picklist(['connected', 'grace'], 'must be "connected" or "grace"'),
  graceUntil: v.optional(count()),
});

export const rosterSchema: v.GenericSchema<unknown, RosterMsg> = record({
  room: roomIdSchema,
  version: count(),
  members: listOf(memberSchema, LIMITS.members.max),
  removed: listOf(playerIdSchema, LIMITS.removed.max),
  issued: count(),
  owner: v.optional(playerIdSchema),
});

/**
 * Why a browser would refuse this ICE server, or null: anything but stun:, stuns:, turn: and turns: URLs, and
 * TURN without a username and credential. The server checks its own list at start; a tab checks what it is
 * given, since each refused RTCPeerConnection would still spend one of the 500 a tab may make.
 */
export function iceServerProblem(server: {
  urls: string | string[];
  username?: string;
  credential?: string;
}) {
  const urls = Array.isArray(server.urls) ? server.urls : [server.urls];
  for (const url of urls) {
    const scheme = /^(stuns?|turns?):/.exec(url)?.[1];
    if (!scheme) return `"${url.slice(0, 80)}" is not a stun:, stuns:, turn: or turns: URL`;
    if (scheme.startsWith('turn') && (server.username === undefined || server.credential === undefined))
      return `"${url.slice(0, 80)}" needs a username and a credential`;
  }
  return null;
}

const iceText = () => v.pipe(text(), v.maxLength(LIMITS.iceServers.chars));
const iceServerSchema = v.pipe(
  record({
    urls: v.union([iceText(), listOf(iceText(), LIMITS.iceServers.urls)], 'must be a URL or a list of them'),
    username: v.optional(iceText()),
    credential: v.optional(iceText()),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    const problem = dataset.typed ? iceServerProblem(dataset.value) : null;
    if (problem) addIssue({ message: problem });
  }),
);

export const joinedSchema: v.GenericSchema<unknown, Joined> = record({
  id: playerIdSchema,
  token: tokenSchema,
  resumed: v.boolean('must be a boolean'),
  settings: settingsSchema,
  roster: rosterSchema,
  iceServers: listOf(iceServerSchema, LIMITS.iceServers.max),
  graceMs: count(),
  ownerToken: v.optional(tokenSchema),
  incarnation: v.pipe(text(), v.regex(/^[A-Za-z0-9_-]{8,32}$/, 'must be 8 to 32 URL-safe characters')),
  relayBudget: v.optional(
    record({
      perSec: whole(1, 2 ** 31),
      burst: whole(1, 2 ** 31),
      bytesPerSec: whole(1, 2 ** 40),
      bytesBurst: whole(1, 2 ** 40),
    }),
  ),
});

const failSchema: v.GenericSchema<unknown, Fail> = v.pipe(
  record({
    ok: v.literal(false),
    code: v.pipe(text(), v.maxLength(64)) as v.GenericSchema<string, ErrorCode>,
    error: v.pipe(text(), v.maxLength(4_000)),
  }),
  // A refusal the tab shows must say something, in a sentence a person reads (this server cuts its own;
  // an older one may not).
  v.transform((f) => ({
    ...f,
    error: cut(f.error.trim() ? f.error : `the server refused (${f.code})`, LIMITS.refusalChars),
  })),
);

/** Each event the server pushes, by name, with what it must hold. */
export const serverEventSchemas = {
  roster: rosterSchema,
  signal: record({ from: playerIdSchema, data: v.unknown() }),
  relay: record({ from: playerIdSchema, data: text() }),
  shutdown: record({ reconnectInMs: count(3_600_000) }),
  refused: failSchema,
};

/** What the server sent, checked: the value, or a sentence naming its first problem. */
export function fromServer<T>(
  schema: v.GenericSchema<unknown, T>,
  x: unknown,
  what: string,
): { ok: true; value: T } | { ok: false; error: string } {
  const r = v.safeParse(schema, x);
  return r.success ? { ok: true, value: r.output } : { ok: false, error: describeIssues(r.issues, what) };
}

/** An ack, checked: a failure as the server put it, or `ok` with what `schema` holds (nothing, without one). */
export function ackFromServer<T extends object>(
  x: unknown,
  what: string,
  schema?: v.GenericSchema<unknown, T>,
): Ack<T> {
  const ok = typeof x === 'object' && x !== null && (x as { ok?: unknown }).ok === true;
  const r = ok
    ? schema
      ? fromServer(schema, x, 'answer')
      : { ok: true as const, value: {} as T }
    : fromServer(failSchema, x, 'answer');
  if (!r.ok)
    return {
      ok: false,
      code: 'internal_error',
      error: `${what}: the server's answer is malformed: ${r.error}`,
      malformed: true,
    };
  return ok ? { ok: true, ...(r.value as T) } : (r.value as Fail);
}
