// Room and session bookkeeping. No socket.io here: the server drives a RoomStore and routes by socket id,
// so a shared (e.g. Redis) store can replace MemoryRoomStore without touching the transport.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LIMITS } from '../../client/src/protocol/limits.ts';
import {
  type ErrorCode,
  type Member,
  type PlayerId,
  ROOM_WAITS,
  type RoomSettings,
  type RosterMsg,
} from '../../client/src/protocol/signaling.ts';

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface JoinInput {
  room: string;
  name: string;
  token?: string;
  /** Complete, already validated settings; only used if this join creates the room. */
  settings: RoomSettings;
  socketId: string;
  /** Password rooms: registered by the join that creates the room, checked on every other join. */
  verifier?: string;
  /**
   * The highest ID the joiner knows in this room; given only with a genuine incarnation claim (server.ts).
   * New IDs go above it only in a room the store recreated from such a join (`recreated`), and only for a
   * join that brings that room's incarnation.
   */
  floor?: number;
  /** The client's address, for the per-address caps; a join without one is not counted per address. */
  ip?: string;
  /** The room's owner token as the client kept it; a join that creates the room adopts it. */
  ownerToken?: string;
  /** The incarnation the joiner's saved state belongs to, when genuine (server.ts): a returning tab's. */
  incarnation?: string;
  /** What a room this join opens anew is given (server.ts mints it, signed); the store makes one if absent. */
  freshIncarnation?: string;
  /**
   * The store's data as of when the join began (RoomStore.epoch), before it waited anywhere: a newcomer's
   * join that began before the store lost its rooms is refused, not let in ahead of their players.
   */
  epoch?: string;
}

/** What a store admits. A session's whole life in grace is bounded by graceTotalMs, however often it resumes. */
export interface AdmissionLimits {
  graceMs: number;
  maxMembers: number;
  /** Sessions (in grace included) one address may hold in one room. */
  maxSessionsPerIpPerRoom: number;
  /** Rooms in which one address may hold sessions at once. */
  maxRoomsPerIp: number;
  /** Rooms in the store at once. */
  maxRooms: number;
  /** Total time one session may spend in grace over its life; resuming does not renew it. */
  graceTotalMs: number;
  /** How long a room whose players vanished stays theirs (REOPEN_PROTECT_MS). */
  reopenProtectMs: number;
}

/**
 * How long a room whose players vanished (a grace ran out with no goodbye from the page) stays theirs: they may
 * be playing on over the mesh without the server. In that time a tab of theirs reopens it, and a newcomer waits
 * outside (heldRefusal). After it, or at once when every player left or said goodbye, a newcomer opens a new one.
 */
export const REOPEN_PROTECT_MS = 5 * 60_000;

export const ADMISSION_DEFAULTS = {
  // A class of 32 behind one NAT fits in one room, and at least 18 of a full room's 50 slots stay for others.
  maxSessionsPerIpPerRoom: 32,
  maxRoomsPerIp: 50,
  maxRooms: 5_000,
  // Four ordinary graces (15 s each): a flaky phone reconnects a few times, a slot squatter does not last.
  graceTotalMs: 60_000,
  reopenProtectMs: REOPEN_PROTECT_MS,
} as const;

/** How long a session entering grace now keeps its ID: GRACE_MS, cut to what is left of its total budget. */
export function graceFor(graceMs: number, graceTotalMs: number, graceUsed: number): number {
  return Math.max(0, Math.min(graceMs, graceTotalMs - graceUsed));
}

export type JoinOutcome =
  | {
      ok: true;
      id: PlayerId;
      token: string;
      resumed: boolean;
      settings: RoomSettings;
      roster: RosterMsg;
      /** True when the roster changed and must be pushed to the room. */
      changed: boolean;
      /** The socket that held this session until now; the caller disconnects it. */
      replacedSocketId?: string;
      /** Only when this join holds owner rights: the room's owner token (new if the join created the room). */
      ownerToken?: string;
      /** The room's incarnation: state saved under another one belongs to a room that no longer exists. */
      incarnation: string;
    }
  | {
      ok: false;
      code: Extract<
        ErrorCode,
        'room_full' | 'bad_token' | 'bad_password' | 'address_limit' | 'capacity' | 'removed' | 'rate_limited'
      >;
      error: string;
    };

export type RemoveOutcome =
  | {
      ok: true;
      roster: RosterMsg;
      /** False when the ID was already removed (nothing to push). */
      changed: boolean;
      /** The removed player's live connection, to be told and closed. */
      socketId: string | undefined;
    }
  | { ok: false; code: Extract<ErrorCode, 'not_owner' | 'not_in_room' | 'bad_request'>; error: string };

/** The roster's `owner`: only while that player's session lasts (in grace too). */
export function ownerField(members: readonly Member[], ownerId: PlayerId | undefined): { owner?: PlayerId } {
  return ownerId !== undefined && members.some((m) => m.id === ownerId) ? { owner: ownerId } : {};
}

export const NOT_OWNER: RemoveOutcome = {
  ok: false,
  code: 'not_owner',
  error: 'remove: only the room’s owner may remove players (the owner token is missing or wrong)',
};
export const REMOVED_REFUSAL = {
  ok: false,
  code: 'removed',
  error: 'you were removed from this room by its owner',
} as const;

export const removeSelfRefusal = (id: PlayerId): RemoveOutcome => ({
  ok: false,
  code: 'bad_request',
  error: `remove: player ${id} is you; the owner leaves with Leave instead`,
});
export const neverJoinedRefusal = (id: PlayerId): RemoveOutcome => ({
  ok: false,
  code: 'not_in_room',
  error: `remove: player ${id} never joined this room`,
});
export const tooManyRemovedRefusal = (): RemoveOutcome => ({
  ok: false,
  code: 'bad_request',
  error: `remove: this room already removed ${LIMITS.removed.max} players, the most it may`,
});

export function addressInRoomRefusal(max: number): JoinOutcome {
  return {
    ok: false,
    code: 'address_limit',
    error: `your address already holds ${max} players in this room (the most one address may hold)`,
  };
}

export function addressRoomsRefusal(max: number): JoinOutcome {
  return {
    ok: false,
    code: 'address_limit',
    error: `your address already has players in ${max} rooms (the most one address may have)`,
  };
}

export function capacityRefusal(max: number): JoinOutcome {
  return { ok: false, code: 'capacity', error: `the server holds its maximum of ${max} rooms; try later` };
}

/**
 * A join that would open anew a room kept for its vanished players (REOPEN_PROTECT_MS): it waits outside, as
 * a transient refusal the client retries, rather than joining a room whose voters may never come back.
 */
export function heldRefusal(waitMs: number): JoinOutcome {
  return {
    ok: false,
    code: 'rate_limited',
    error: `${ROOM_WAITS}, who lost the server; it opens to newcomers when they are back, or in ${Math.ceil(waitMs / 1000)} s`,
  };
}

/** A newcomer's join in the seconds after Redis was found without rooms (restarted, flushed, or new). */
export function restartHoldRefusal(waitMs: number): JoinOutcome {
  return {
    ok: false,
    code: 'rate_limited',
    error: `${ROOM_WAITS}, who may be coming back after the server restarted; it opens to newcomers in ${Math.max(1, Math.ceil(waitMs / 1000))} s`,
  };
}

/** A newcomer's join just after the store lost every room: the rooms' players get the first seconds. */
export function lostRefusal(): JoinOutcome {
  return {
    ok: false,
    code: 'rate_limited',
    error: `${ROOM_WAITS}, who lost the server as it restarted; it opens to newcomers when they are back, in a few seconds`,
  };
}

/**
 * A newcomer's join into a room none of whose players holds a connection (all in grace: closing, reloading,
 * or cut off). Nobody live could add it, and if they are gone for good it would wait inside for voters who
 * never come back: it waits outside until one of them is back, or the room empties (then it opens anew, or
 * is kept as heldRefusal says).
 */
export function awayRefusal(waitMs: number): JoinOutcome {
  return {
    ok: false,
    code: 'rate_limited',
    error: `${ROOM_WAITS}, all of them away (closing, reloading or offline); it opens to newcomers when one is back, or in ${Math.max(1, Math.ceil(waitMs / 1000))} s`,
  };
}

export interface MemberRoute {
  id: PlayerId;
  /** Undefined while the member is in grace (no live connection). */
  socketId: string | undefined;
}

export interface StoreStats {
  rooms: number;
  connected: number;
  grace: number;
}

/** Everything the server needs from room state. Async so a networked store fits the same shape. */
export interface RoomStore {
  join(input: JoinInput): Promise<JoinOutcome>;
  /**
   * The socket went away: its session enters grace. Null when that socket no longer owns the session. `bye`:
   * its page said it was going (pagehide), so should the grace run out, the player left rather than vanished.
   */
  disconnect(room: string, id: PlayerId, socketId: string, bye?: boolean): Promise<RosterMsg | null>;
  /** Ends the session at once. Null when that socket no longer owns the session. */
  leave(room: string, id: PlayerId, socketId: string): Promise<RosterMsg | null>;
  route(room: string, id: PlayerId): Promise<MemberRoute | undefined>;
  /**
   * The room holds a session (live or in grace) under this resume token: a resume, which a room's
   * wrong-password backoff must not hold out past its grace. Not a check of the token's worth: `join` is.
   */
  holdsToken(room: string, token: string): Promise<boolean>;
  /**
   * The owner (`by`, holding `ownerToken`) removes `id`: its session ends, its token is barred, and the ID is
   * listed in the room's `removed` for good. Works on members in grace and on IDs whose session already ended.
   */
  remove(room: string, by: PlayerId, id: PlayerId, ownerToken: string): Promise<RemoveOutcome>;
  /** Ends every session whose grace is over; returns the new roster of each room that changed. */
  expire(): Promise<RosterMsg[]>;
  /** Epoch ms of the earliest grace expiry, if any session is in grace. */
  nextExpiry(): Promise<number | undefined>;
  stats(): Promise<StoreStats>;
  /** Set by a store shared between nodes: grace can start or end elsewhere, so every node calls expire() this often. */
  readonly sweepIntervalMs?: number;
  /** A shared store calls this when the other nodes may have presumed this node dead and put its sessions in grace. */
  onFenced?(listener: () => void): void;
  /** Names the store's data since its last loss (JoinInput.epoch). */
  epoch?(): string | undefined;
}

interface Session {
  id: PlayerId;
  name: string;
  tokenHash: string;
  socketId: string | undefined;
  graceUntil: number | undefined;
  ip: string | undefined;
  /** Milliseconds spent in grace before the current one. */
  graceUsed: number;
  graceStartedAt: number | undefined;
  /** Its page said it was going before this grace began. */
  bye: boolean;
}

interface Room {
  settings: RoomSettings;
  /** hashVerifier() of the room's verifier; undefined for a room without a password. */
  verifierHash: string | undefined;
  nextId: PlayerId;
  incarnation: string;
  version: number;
  sessions: Map<PlayerId, Session>;
  byTokenHash: Map<string, PlayerId>;
  /** hashOwnerToken() of the owner token handed to the room's creator. */
  ownerHash: string;
  /** The player whose join last proved the owner token. */
  ownerId: PlayerId | undefined;
  /** Until when, once it empties, only a tab of it may open it again (Tombstone.protectUntil). */
  protectUntil: number;
  removed: PlayerId[];
  /** Token hashes of removed sessions: their resume gets `removed`. */
  barred: Set<string>;
  /**
   * Created by a returning tab's join (one with a floor) with no record of the room: the store cannot know
   * which IDs the room issued before, so its tabs' floors count. In any other room the store knows, and a
   * floor would be one player's word, which a liar could use to make `issued` meaningless (docs/protocol.md,
   * "Invent a voter").
   */
  recreated: boolean;
}

export interface MemoryRoomStoreOptions extends Partial<AdmissionLimits> {
  clock?: Clock;
  graceMs: number;
  maxMembers: number;
  /** Injected for tests; must return LIMITS.token.length URL-safe characters with >= 128 bits of entropy. */
  newToken?: () => string;
}

// 24 random bytes = 192 bits, which base64url encodes to exactly LIMITS.token.length characters.
const TOKEN_BYTES = (LIMITS.token.length / 4) * 3;

export function newResumeToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

// Only hashes are kept, so a memory dump or a future persisted store never holds usable tokens.
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

// Stored hashed like tokens: a dump of room state is not enough to join a password room.
export function hashVerifier(verifier: string): string {
  return createHash('sha256').update(`verifier ${verifier}`).digest('base64url');
}

// Labelled, so an owner token's hash never equals a resume token's.
export function hashOwnerToken(token: string): string {
  return createHash('sha256').update(`owner ${token}`).digest('base64url');
}

/** Compares two hashes in constant time (a mismatch leaks nothing about the stored one). */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The refusal of a wrong guess (the server throttles these; the other password refusals are no guesses). */
export const WRONG_PASSWORD = 'wrong password for this room';

/**
 * Checks a join's verifier against a room's stored hash, in constant time (whether the room has a password
 * at all is not secret). Returns the refusal, or null when the join may proceed.
 */
export function verifierRefusal(
  storedHash: string | undefined,
  verifier: string | undefined,
): { ok: false; code: 'bad_password'; error: string } | null {
  if (storedHash === undefined) {
    return verifier === undefined
      ? null
      : {
          ok: false,
          code: 'bad_password',
          // No "join without one": a link that expects a protected room must not be talked out of it.
          error: 'this room has no password, so it is not the protected room you expected',
        };
  }
  if (verifier === undefined) {
    return { ok: false, code: 'bad_password', error: 'this room needs a password' };
  }
  const given = Buffer.from(hashVerifier(verifier));
  const stored = Buffer.from(storedHash);
  const same = given.length === stored.length && timingSafeEqual(given, stored);
  return same ? null : { ok: false, code: 'bad_password', error: WRONG_PASSWORD };
}

/** A room incarnation: 72 random bits, URL-safe. */
export function newIncarnation(): string {
  return randomBytes(9).toString('base64url');
}

/**
 * Incarnations a server can recognise after it forgot them: 72 random bits and a MAC of them and the room
 * under a secret the server keeps across restarts (`ROOM_SECRET`). Without the secret a claim can't be told
 * from a made-up one, so any well-formed claim is taken (docs/protocol.md, "Identity").
 */
export class Incarnations {
  constructor(private readonly secret: string | undefined) {}

  mint(room: string): string {
    const nonce = newIncarnation();
    return this.secret === undefined ? nonce : nonce + this.mac(room, nonce);
  }

  /** Whether `claim` may recreate forgotten room `room`: one we minted for it, or any when we keep no secret. */
  genuine(room: string, claim: string): boolean {
    if (this.secret === undefined) return true;
    const nonce = claim.slice(0, 12);
    const want = Buffer.from(nonce + this.mac(room, nonce));
    const got = Buffer.from(claim);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  private mac(room: string, nonce: string): string {
    return createHmac('sha256', this.secret!).update(`${room}\n${nonce}`).digest('base64url').slice(0, 16);
  }
}

/**
 * How far above a returning tab's floor the IDs of a room the store forgot go on. The first tab back may have
 * been away (crashed, asleep) while the room issued IDs it never heard of, voters among them, and an ID
 * handed out again is a second acceptor under a voter's name: it may vote with promises the voter never made,
 * and committed stages are lost (found by a hostile probe, 2026-12-05). So a recreated room skips this many
 * IDs past a floor above the IDs it issued: safe unless over a thousand were issued while that tab was away.
 */
export const FORGOTTEN_ID_GAP = 1_000;

/** Whether a join's floor raises the room's next ID (Room.recreated). */
function floorCounts(input: JoinInput, room: Room): input is JoinInput & { floor: number } {
  return input.floor !== undefined && room.recreated && input.incarnation === room.incarnation;
}

/** Emptied rooms whose next ID the memory store remembers (oldest forgotten first). */
const MAX_TOMBSTONES = 100_000;

/** What the store keeps of an emptied room. */
interface Tombstone {
  nextId: PlayerId;
  incarnation: string;
  /** Until when only a tab of it may open it again (REOPEN_PROTECT_MS). */
  protectUntil: number;
}

export class MemoryRoomStore implements RoomStore {
  private readonly rooms = new Map<string, Room>();
  /** The sessions in grace, with their room: expiry looks at these alone, not at every session on the node. */
  private readonly inGrace = new Map<Session, string>();
  /** Rooms that emptied: a tab of theirs, or a newcomer while they may still be playing, opens them again. */
  private readonly lastIds = new Map<string, Tombstone>();
  private readonly clock: Clock;
  private readonly graceMs: number;
  private readonly maxMembers: number;
  private readonly limits: Omit<AdmissionLimits, 'graceMs' | 'maxMembers'>;
  private readonly newToken: () => string;
  /** Address -> room -> sessions it holds there. */
  private readonly byIp = new Map<string, Map<string, number>>();

  constructor(options: MemoryRoomStoreOptions) {
    this.clock = options.clock ?? systemClock;
    this.graceMs = options.graceMs;
    this.maxMembers = options.maxMembers;
    this.limits = {
      maxSessionsPerIpPerRoom: options.maxSessionsPerIpPerRoom ?? ADMISSION_DEFAULTS.maxSessionsPerIpPerRoom,
      maxRoomsPerIp: options.maxRoomsPerIp ?? ADMISSION_DEFAULTS.maxRoomsPerIp,
      maxRooms: options.maxRooms ?? ADMISSION_DEFAULTS.maxRooms,
      graceTotalMs: options.graceTotalMs ?? ADMISSION_DEFAULTS.graceTotalMs,
      reopenProtectMs: options.reopenProtectMs ?? ADMISSION_DEFAULTS.reopenProtectMs,
    };
    this.newToken = options.newToken ?? newResumeToken;
  }

  private countIp(ip: string | undefined, roomId: string, delta: number): void {
    if (ip === undefined) return;
    const rooms = this.byIp.get(ip) ?? new Map<string, number>();
    const count = (rooms.get(roomId) ?? 0) + delta;
    if (count > 0) rooms.set(roomId, count);
    else rooms.delete(roomId);
    if (rooms.size > 0) this.byIp.set(ip, rooms);
    else this.byIp.delete(ip);
  }

  async join(input: JoinInput): Promise<JoinOutcome> {
    const existing = this.rooms.get(input.room);
    // Before anything else, so a wrong password learns nothing about tokens or the room's size.
    const refused = existing && verifierRefusal(existing.verifierHash, input.verifier);
    if (refused) return refused;
    if (input.token !== undefined) return this.resume(existing, input);
    if (!existing) {
      const last = this.lastIds.get(input.room);
      const wait = last && input.incarnation !== last.incarnation ? last.protectUntil - this.clock.now() : 0;
      if (wait > 0) return heldRefusal(wait);
    } else if (input.incarnation !== existing.incarnation) {
      // Until when, at most: the last grace's end, or the protection a vanished player would set (expire).
      let opens = existing.protectUntil;
      let away = existing.sessions.size > 0;
      for (const s of existing.sessions.values()) {
        if (s.socketId !== undefined) {
          away = false;
          break;
        }
        opens = Math.max(opens, (s.graceUntil ?? 0) + (s.bye ? 0 : this.limits.reopenProtectMs));
      }
      if (away) return awayRefusal(opens - this.clock.now());
    }

    if (existing && existing.sessions.size >= this.maxMembers) {
      return {
        ok: false,
        code: 'room_full',
        error: `room is full: it already has ${this.maxMembers} members`,
      };
    }
    if (!existing && this.rooms.size >= this.limits.maxRooms) return capacityRefusal(this.limits.maxRooms);
    if (input.ip !== undefined) {
      const held = this.byIp.get(input.ip);
      const here = held?.get(input.room) ?? 0;
      if (here >= this.limits.maxSessionsPerIpPerRoom) {
        return addressInRoomRefusal(this.limits.maxSessionsPerIpPerRoom);
      }
      if (here === 0 && (held?.size ?? 0) >= this.limits.maxRoomsPerIp) {
        return addressRoomsRefusal(this.limits.maxRoomsPerIp);
      }
    }
    let room = existing;
    let ownerToken = existing && this.ownerOf(existing, input.ownerToken);
    if (!room) {
      // The creator is the owner; a token it brings (a room the server forgot) stays valid.
      ownerToken = input.ownerToken ?? this.newToken();
      room = this.createRoom(input, ownerToken);
    }
    const token = this.newToken();
    // Only a floor past what we issued skips the gap: a tab's usual floor is the roster's `issued`, and a gap
    // at each of its rejoins would climb to the floor's cap, where IDs could repeat after the next restart.
    if (floorCounts(input, room) && input.floor >= room.nextId)
      room.nextId = input.floor + 1 + FORGOTTEN_ID_GAP;
    const session: Session = {
      id: room.nextId++,
      name: input.name,
      tokenHash: hashToken(token),
      socketId: input.socketId,
      graceUntil: undefined,
      ip: input.ip,
      graceUsed: 0,
      graceStartedAt: undefined,
      bye: false,
    };
    this.countIp(session.ip, input.room, 1);
    room.sessions.set(session.id, session);
    room.byTokenHash.set(session.tokenHash, session.id);
    if (ownerToken !== undefined) room.ownerId = session.id;
    room.version++;
    return {
      ok: true,
      id: session.id,
      token,
      resumed: false,
      incarnation: room.incarnation,
      settings: room.settings,
      roster: this.roster(input.room, room),
      changed: true,
      ...(ownerToken === undefined ? {} : { ownerToken }),
    };
  }

  /** The presented owner token if it is this room's, else undefined. */
  private ownerOf(room: Room, ownerToken: string | undefined): string | undefined {
    return ownerToken !== undefined && sameHash(hashOwnerToken(ownerToken), room.ownerHash)
      ? ownerToken
      : undefined;
  }

  private resume(room: Room | undefined, input: JoinInput & { token?: string }): JoinOutcome {
    if (room && input.token !== undefined && room.barred.has(hashToken(input.token))) return REMOVED_REFUSAL;
    const id = room && input.token !== undefined ? room.byTokenHash.get(hashToken(input.token)) : undefined;
    const session = id === undefined ? undefined : room?.sessions.get(id);
    if (!room || !session || input.token === undefined) {
      return {
        ok: false,
        code: 'bad_token',
        error: 'resume token is unknown or its session has expired; join again without a token',
      };
    }
    const now = this.clock.now();
    if (session.graceUntil !== undefined && session.graceUntil <= now) {
      // Over, even if the expiry timer has not run yet (a spent grace budget ends at once).
      return {
        ok: false,
        code: 'bad_token',
        error: 'resume token is unknown or its session has expired; join again without a token',
      };
    }
    const replacedSocketId = session.socketId !== input.socketId ? session.socketId : undefined;
    const ownerToken = this.ownerOf(room, input.ownerToken);
    const changed =
      session.socketId === undefined ||
      session.name !== input.name ||
      (ownerToken !== undefined && room.ownerId !== session.id);
    if (ownerToken !== undefined) room.ownerId = session.id;
    if (session.graceStartedAt !== undefined) {
      session.graceUsed += Math.max(0, now - session.graceStartedAt);
    }
    session.graceStartedAt = undefined;
    session.bye = false;
    session.socketId = input.socketId;
    session.graceUntil = undefined;
    this.inGrace.delete(session);
    session.name = input.name;
    if (input.ip !== undefined && input.ip !== session.ip) {
      // A player whose network changed: its session now counts against its new address.
      this.countIp(session.ip, input.room, -1);
      session.ip = input.ip;
      this.countIp(session.ip, input.room, 1);
    }
    if (changed) room.version++;
    return {
      ok: true,
      id: session.id,
      token: input.token,
      resumed: true,
      incarnation: room.incarnation,
      settings: room.settings,
      roster: this.roster(input.room, room),
      changed,
      ...(replacedSocketId === undefined ? {} : { replacedSocketId }),
      ...(ownerToken === undefined ? {} : { ownerToken }),
    };
  }

  async disconnect(roomId: string, id: PlayerId, socketId: string, bye = false): Promise<RosterMsg | null> {
    const room = this.rooms.get(roomId);
    const session = room?.sessions.get(id);
    if (!room || !session || session.socketId !== socketId) return null;
    const now = this.clock.now();
    session.bye = bye;
    session.socketId = undefined;
    session.graceStartedAt = now;
    session.graceUntil = now + graceFor(this.graceMs, this.limits.graceTotalMs, session.graceUsed);
    this.inGrace.set(session, roomId);
    room.version++;
    return this.roster(roomId, room);
  }

  async leave(roomId: string, id: PlayerId, socketId: string): Promise<RosterMsg | null> {
    const room = this.rooms.get(roomId);
    const session = room?.sessions.get(id);
    if (!room || !session || session.socketId !== socketId) return null;
    this.endSession(roomId, room, session);
    return this.roster(roomId, room);
  }

  async remove(roomId: string, by: PlayerId, id: PlayerId, ownerToken: string): Promise<RemoveOutcome> {
    const room = this.rooms.get(roomId);
    if (!room || !this.ownerOf(room, ownerToken)) return NOT_OWNER;
    if (id === by) return removeSelfRefusal(id);
    if (id >= room.nextId) return neverJoinedRefusal(id);
    if (room.removed.includes(id)) {
      return { ok: true, roster: this.roster(roomId, room), changed: false, socketId: undefined };
    }
    if (room.removed.length >= LIMITS.removed.max) return tooManyRemovedRefusal();
    room.removed.push(id);
    const session = room.sessions.get(id);
    if (session) {
      room.barred.add(session.tokenHash);
      this.endSession(roomId, room, session);
    } else room.version++;
    return { ok: true, roster: this.roster(roomId, room), changed: true, socketId: session?.socketId };
  }

  async route(roomId: string, id: PlayerId): Promise<MemberRoute | undefined> {
    const session = this.rooms.get(roomId)?.sessions.get(id);
    return session && { id: session.id, socketId: session.socketId };
  }

  async holdsToken(roomId: string, token: string): Promise<boolean> {
    const room = this.rooms.get(roomId);
    const id = room?.byTokenHash.get(hashToken(token));
    return id !== undefined && room?.sessions.has(id) === true;
  }

  async expire(): Promise<RosterMsg[]> {
    const now = this.clock.now();
    const ended = new Map<string, Room>();
    for (const [session, roomId] of this.inGrace) {
      const room = this.rooms.get(roomId);
      if (!room || session.graceUntil === undefined || session.graceUntil > now) continue;
      // Gone without a goodbye: asleep, frozen, or cut off from us but maybe not from the others.
      if (!session.bye) room.protectUntil = Math.max(room.protectUntil, now + this.limits.reopenProtectMs);
      this.endSession(roomId, room, session);
      ended.set(roomId, room);
    }
    return [...ended].map(([roomId, room]) => this.roster(roomId, room));
  }

  async nextExpiry(): Promise<number | undefined> {
    let earliest: number | undefined;
    for (const { graceUntil } of this.inGrace.keys()) {
      if (graceUntil !== undefined && (earliest === undefined || graceUntil < earliest))
        earliest = graceUntil;
    }
    return earliest;
  }

  async stats(): Promise<StoreStats> {
    let connected = 0;
    let grace = 0;
    for (const room of this.rooms.values()) {
      for (const session of room.sessions.values()) {
        if (session.socketId === undefined) grace++;
        else connected++;
      }
    }
    return { rooms: this.rooms.size, connected, grace };
  }

  private createRoom(input: JoinInput, ownerToken: string): Room {
    const { room: roomId, settings, verifier } = input;
    const last = this.lastIds.get(roomId);
    // An emptied room goes on for a tab of its last incarnation. Anyone else opens a new room (IDs from 1), once
    // it is no longer kept for its vanished players (join), and a tab of the old one that comes back later joins
    // it afresh: a room whose players all left cannot wait for them (docs/protocol.md, "A room has an
    // incarnation").
    const prior = last !== undefined && input.incarnation === last.incarnation ? last : undefined;
    const room: Room = {
      ownerHash: hashOwnerToken(ownerToken),
      ownerId: undefined,
      protectUntil: prior?.protectUntil ?? 0,
      removed: [],
      barred: new Set(),
      settings: { ...settings, stages: [...settings.stages] },
      verifierHash: verifier === undefined ? undefined : hashVerifier(verifier),
      nextId: prior?.nextId ?? 1,
      // A room the server forgot takes the incarnation its first returning tab brings; a room it never
      // saw starts a new one, so a tab from a forgotten room whose slot it cannot see resets (docs/protocol.md).
      incarnation:
        prior?.incarnation ??
        (last === undefined ? input.incarnation : undefined) ??
        input.freshIncarnation ??
        newIncarnation(),
      recreated: last === undefined && input.floor !== undefined,
      version: 0,
      sessions: new Map(),
      byTokenHash: new Map(),
    };
    this.rooms.set(roomId, room);
    return room;
  }

  private endSession(roomId: string, room: Room, session: Session): void {
    room.sessions.delete(session.id);
    room.byTokenHash.delete(session.tokenHash);
    this.inGrace.delete(session);
    this.countIp(session.ip, roomId, -1);
    room.version++;
    if (room.sessions.size === 0) {
      // Tabs may still hold the room's state (asleep past grace): if one of them opens it again, it goes on
      // above their IDs.
      this.lastIds.delete(roomId);
      this.lastIds.set(roomId, {
        nextId: room.nextId,
        incarnation: room.incarnation,
        protectUntil: room.protectUntil,
      });
      if (this.lastIds.size > MAX_TOMBSTONES) this.lastIds.delete(this.lastIds.keys().next().value!);
      this.rooms.delete(roomId);
    }
  }

  private roster(roomId: string, room: Room): RosterMsg {
    const members: Member[] = [];
    for (const session of room.sessions.values()) {
      members.push(
        session.graceUntil === undefined
          ? { id: session.id, name: session.name, state: 'connected' }
          : { id: session.id, name: session.name, state: 'grace', graceUntil: session.graceUntil },
      );
    }
    members.sort((a, b) => a.id - b.id);
    return {
      room: roomId,
      version: room.version,
      members,
      removed: [...room.removed],
      issued: room.nextId - 1,
      ...ownerField(members, room.ownerId),
    };
  }
}
