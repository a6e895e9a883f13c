// The one contract between the signaling server and its clients (types and limits only, no runtime deps).
// The server validates every inbound payload against these shapes (see schemas.ts).

export type PlayerId = number;

export interface RoomSettings {
  /** Heartbeat period. */
  heartbeatMs: number;
  /** Silence after which a peer is suspected. */
  timeoutMs: number;
  /** Stage names; the game has stages.length stages (the last one is final). */
  stages: string[];
}

export const LIMITS = {
  roomId: { min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ },
  name: { max: 32 },
  heartbeatMs: { min: 50, max: 5_000, default: 250 },
  timeoutMs: { min: 300, max: 60_000, default: 1_500 },
  /** timeoutMs must be at least this many heartbeats, so one lost heartbeat never looks like a crash. */
  timeoutHeartbeats: 3,
  stages: { min: 1, max: 100, nameMax: 48 },
  /** Bytes of one relayed peer message or signal payload. */
  payloadBytes: 16 * 1024,
  token: { length: 32 },
  /** A password room's verifier: 32 bytes, base64url without padding. */
  verifier: { length: 43 },
  /** Players an owner may remove from one room over its life (the roster lists them all). */
  removed: { max: 200 },
} as const;

export const DEFAULT_STAGES = ['Lobby', 'Round 1', 'Round 2', 'Round 3', 'Finished'];

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
  | 'removed';

export type Fail = { ok: false; code: ErrorCode; error: string };
export type Ack<T extends object = object> = ({ ok: true } & T) | Fail;

export interface JoinRequest {
  room: string;
  name: string;
  /** A resume token from an earlier join of this room (sessionStorage); resumes that ID within the grace period. */
  token?: string;
  /** Used only by the first joiner, who creates the room. */
  settings?: Partial<RoomSettings>;
  /**
   * Password rooms: derived from the password (HKDF, its own label), never the password or the payload key.
   * The join that creates the room registers it; every later join (resumes too) must present the same one.
   */
  verifier?: string;
  /**
   * The highest player ID this tab knows in the room. A server that restarted and forgot the room hands
   * out IDs above it, so an ID never repeats within a room (docs/protocol.md, "Identity").
   */
  floor?: number;
  /**
   * The room's owner token, from the `joined` of the join that created the room: proves owner rights again
   * after a reload or under a new ID. A join that creates the room adopts it.
   */
  ownerToken?: string;
  /**
   * The room incarnation (from `joined`) this tab's saved state belongs to. A server that forgot the room
   * recreates it with the incarnation of the first tab back; a tab whose incarnation differs from the
   * room's drops its state and plays as a newcomer (docs/protocol.md, "Identity").
   */
  incarnation?: string;
}

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
}

/** The owner removes player `id`: its session ends, its token and ID are barred from the room. */
export interface RemoveRequest {
  room: string;
  id: PlayerId;
  ownerToken: string;
}

export interface SignalRequest {
  to: PlayerId;
  /** simple-peer signal data (SDP or ICE candidate), forwarded unread. */
  data: unknown;
}

export interface RelayRequest {
  to: PlayerId;
  /** A peer message, forwarded unread (size-capped). */
  data: string;
}

export interface ClientToServerEvents {
  join: (req: JoinRequest, ack: (res: Ack<Joined>) => void) => void;
  /** Leave for good: the ID leaves the membership at once. */
  leave: (req: Record<string, never>, ack: (res: Ack) => void) => void;
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
