// Room and session bookkeeping. No socket.io here: the server drives a RoomStore and routes by socket id,
// so a shared (e.g. Redis) store can replace MemoryRoomStore without touching the transport.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ErrorCode, Member, PlayerId, RoomSettings, RosterMsg } from './events.ts';
import { LIMITS } from './events.ts';

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
  /** The highest ID the joiner knows in this room: new IDs go above it. */
  floor?: number;
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
    }
  | { ok: false; code: Extract<ErrorCode, 'room_full' | 'bad_token' | 'bad_password'>; error: string };

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
  /** The socket went away: its session enters grace. Null when that socket no longer owns the session. */
  disconnect(room: string, id: PlayerId, socketId: string): Promise<RosterMsg | null>;
  /** Ends the session at once. Null when that socket no longer owns the session. */
  leave(room: string, id: PlayerId, socketId: string): Promise<RosterMsg | null>;
  route(room: string, id: PlayerId): Promise<MemberRoute | undefined>;
  /** Ends every session whose grace is over; returns the new roster of each room that changed. */
  expire(): Promise<RosterMsg[]>;
  /** Epoch ms of the earliest grace expiry, if any session is in grace. */
  nextExpiry(): Promise<number | undefined>;
  stats(): Promise<StoreStats>;
  /** Set by a store shared between nodes: grace can start or end elsewhere, so every node calls expire() this often. */
  readonly sweepIntervalMs?: number;
  /** A shared store calls this when the other nodes may have presumed this node dead and put its sessions in grace. */
  onFenced?(listener: () => void): void;
}

interface Session {
  id: PlayerId;
  name: string;
  tokenHash: string;
  socketId: string | undefined;
  graceUntil: number | undefined;
}

interface Room {
  settings: RoomSettings;
  /** hashVerifier() of the room's verifier; undefined for a room without a password. */
  verifierHash: string | undefined;
  nextId: PlayerId;
  version: number;
  sessions: Map<PlayerId, Session>;
  byTokenHash: Map<string, PlayerId>;
}

export interface MemoryRoomStoreOptions {
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
      : { ok: false, code: 'bad_password', error: 'this room has no password; join without one' };
  }
  if (verifier === undefined) {
    return { ok: false, code: 'bad_password', error: 'this room needs a password' };
  }
  const given = Buffer.from(hashVerifier(verifier));
  const stored = Buffer.from(storedHash);
  const same = given.length === stored.length && timingSafeEqual(given, stored);
  return same ? null : { ok: false, code: 'bad_password', error: 'wrong password for this room' };
}

export class MemoryRoomStore implements RoomStore {
  private readonly rooms = new Map<string, Room>();
  private readonly clock: Clock;
  private readonly graceMs: number;
  private readonly maxMembers: number;
  private readonly newToken: () => string;

  constructor(options: MemoryRoomStoreOptions) {
    this.clock = options.clock ?? systemClock;
    this.graceMs = options.graceMs;
    this.maxMembers = options.maxMembers;
    this.newToken = options.newToken ?? newResumeToken;
  }

  async join(input: JoinInput): Promise<JoinOutcome> {
    const existing = this.rooms.get(input.room);
    // Before anything else, so a wrong password learns nothing about tokens or the room's size.
    const refused = existing && verifierRefusal(existing.verifierHash, input.verifier);
    if (refused) return refused;
    if (input.token !== undefined) return this.resume(existing, input);

    const room = existing ?? this.createRoom(input.room, input.settings, input.verifier);
    if (room.sessions.size >= this.maxMembers) {
      return {
        ok: false,
        code: 'room_full',
        error: `room is full: it already has ${this.maxMembers} members`,
      };
    }
    const token = this.newToken();
    if (input.floor !== undefined) room.nextId = Math.max(room.nextId, input.floor + 1);
    const session: Session = {
      id: room.nextId++,
      name: input.name,
      tokenHash: hashToken(token),
      socketId: input.socketId,
      graceUntil: undefined,
    };
    room.sessions.set(session.id, session);
    room.byTokenHash.set(session.tokenHash, session.id);
    room.version++;
    return {
      ok: true,
      id: session.id,
      token,
      resumed: false,
      settings: room.settings,
      roster: this.roster(input.room, room),
      changed: true,
    };
  }

  private resume(room: Room | undefined, input: JoinInput & { token?: string }): JoinOutcome {
    const id = room && input.token !== undefined ? room.byTokenHash.get(hashToken(input.token)) : undefined;
    const session = id === undefined ? undefined : room?.sessions.get(id);
    if (!room || !session || input.token === undefined) {
      return {
        ok: false,
        code: 'bad_token',
        error: 'resume token is unknown or its session has expired; join again without a token',
      };
    }
    const replacedSocketId = session.socketId !== input.socketId ? session.socketId : undefined;
    const changed = session.socketId === undefined || session.name !== input.name;
    session.socketId = input.socketId;
    session.graceUntil = undefined;
    session.name = input.name;
    if (changed) room.version++;
    return {
      ok: true,
      id: session.id,
      token: input.token,
      resumed: true,
      settings: room.settings,
      roster: this.roster(input.room, room),
      changed,
      ...(replacedSocketId === undefined ? {} : { replacedSocketId }),
    };
  }

  async disconnect(roomId: string, id: PlayerId, socketId: string): Promise<RosterMsg | null> {
    const room = this.rooms.get(roomId);
    const session = room?.sessions.get(id);
    if (!room || !session || session.socketId !== socketId) return null;
    session.socketId = undefined;
    session.graceUntil = this.clock.now() + this.graceMs;
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

  async route(roomId: string, id: PlayerId): Promise<MemberRoute | undefined> {
    const session = this.rooms.get(roomId)?.sessions.get(id);
    return session && { id: session.id, socketId: session.socketId };
  }

  async expire(): Promise<RosterMsg[]> {
    const now = this.clock.now();
    const changed: RosterMsg[] = [];
    for (const [roomId, room] of this.rooms) {
      let ended = false;
      for (const session of room.sessions.values()) {
        if (session.graceUntil !== undefined && session.graceUntil <= now) {
          this.endSession(roomId, room, session);
          ended = true;
        }
      }
      if (ended) changed.push(this.roster(roomId, room));
    }
    return changed;
  }

  async nextExpiry(): Promise<number | undefined> {
    let earliest: number | undefined;
    for (const room of this.rooms.values()) {
      for (const session of room.sessions.values()) {
        if (session.graceUntil !== undefined && (earliest === undefined || session.graceUntil < earliest)) {
          earliest = session.graceUntil;
        }
      }
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

  private createRoom(roomId: string, settings: RoomSettings, verifier: string | undefined): Room {
    const room: Room = {
      settings: { ...settings, stages: [...settings.stages] },
      verifierHash: verifier === undefined ? undefined : hashVerifier(verifier),
      nextId: 1,
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
    room.version++;
    // Forgetting the room also resets its ID counter; nobody can hold an old ID any more.
    if (room.sessions.size === 0) this.rooms.delete(roomId);
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
    return { room: roomId, version: room.version, members };
  }
}
