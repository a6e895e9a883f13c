// Multi-node mode: room state in Redis (one Lua script per change, so every change is atomic across
// nodes) and the socket.io Redis adapter, which forwards room broadcasts and per-socket emits between nodes.
//
// Keys (P = prefix): P room:<room> hash {settings, verifier? (its hash), owner (owner token's hash), ownerId
// (the player whose join last proved it), removed (JSON array of removed IDs), nextId, version}; P barred:<room> set of removed sessions' token hashes;
// P sessions:<room> hash id -> session JSON; P tokens:<room> hash tokenHash -> id; P rooms set;
// P grace zset "<room> <id>" scored by graceUntil; P ip:<address> hash room -> sessions that address holds there; P count (sessions in total); P nodes set of nodes
// owning connected sessions; P node:<node>:sessions set of "<room> <id>"; P alive:<node>, refreshed by
// its node with a TTL. Room IDs cannot contain spaces.

import { hostname } from 'node:os';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import { LIMITS } from '../../client/src/protocol/limits.ts';
import type { Member, PlayerId, RoomSettings, RosterMsg } from '../../client/src/protocol/signaling.ts';
import {
  ADMISSION_DEFAULTS,
  type AdmissionLimits,
  addressInRoomRefusal,
  addressRoomsRefusal,
  awayRefusal,
  type Clock,
  capacityRefusal,
  FORGOTTEN_ID_GAP,
  hashOwnerToken,
  hashToken,
  hashVerifier,
  heldRefusal,
  type JoinInput,
  type JoinOutcome,
  lostRefusal,
  type MemberRoute,
  NOT_OWNER,
  neverJoinedRefusal,
  newIncarnation,
  newResumeToken,
  ownerField,
  REMOVED_REFUSAL,
  type RemoveOutcome,
  type RoomStore,
  removeSelfRefusal,
  restartHoldRefusal,
  type StoreStats,
  systemClock,
  tooManyRemovedRefusal,
  verifierRefusal,
} from './rooms.ts';

const PRELUDE = `
local P = ARGV[1]
local function roomKey(r) return P .. 'room:' .. r end
local function sessKey(r) return P .. 'sessions:' .. r end
local function tokKey(r) return P .. 'tokens:' .. r end
local function nodeKey(n) return P .. 'node:' .. n .. ':sessions' end
local function ipKey(ip) return P .. 'ip:' .. ip end
local function countIp(ip, r, delta)
  if not ip then return end
  if redis.call('HINCRBY', ipKey(ip), r, delta) <= 0 then redis.call('HDEL', ipKey(ip), r) end
end
local function ref(r, id) return r .. ' ' .. id end
local function split(m)
  local sp = string.find(m, ' ', 1, true)
  return string.sub(m, 1, sp - 1), string.sub(m, sp + 1)
end
-- The room's password state as the caller saw it before checking the verifier ('-' no room, '+' no
-- password, '+<hash>'): a join goes ahead only if it is unchanged, else the caller checks again.
local function gateIs(r, expected)
  local f = redis.call('HMGET', roomKey(r), 'settings', 'verifier')
  local state = '-'
  if f[1] then state = '+' .. (f[2] or '') end
  return state == expected
end
local function barKey(r) return P .. 'barred:' .. r end
local function record(r, v)
  -- A room the last session just left is gone, but lastId still says how far its IDs went.
  return { r, tostring(v), redis.call('HVALS', sessKey(r)), redis.call('HGET', roomKey(r), 'removed') or '[]',
    redis.call('HGET', roomKey(r), 'nextId') or redis.call('GET', P .. 'lastId:' .. r) or '0',
    redis.call('HGET', roomKey(r), 'ownerId') or '' }
end
-- 1 when the presented owner token hash (or '') is the room's.
local function isOwner(r, h)
  if h == '' then return 0 end
  if redis.call('HGET', roomKey(r), 'owner') == h then return 1 end
  return 0
end
-- The room's incarnation; a room without one (made before incarnations) takes the one given.
local function incarnation(r, fresh)
  redis.call('HSETNX', roomKey(r), 'inc', fresh)
  return redis.call('HGET', roomKey(r), 'inc')
end
local function endSession(r, s)
  redis.call('HDEL', sessKey(r), s.id)
  redis.call('HDEL', tokKey(r), s.tok)
  redis.call('ZREM', P .. 'grace', ref(r, s.id))
  if s.node then redis.call('SREM', nodeKey(s.node), ref(r, s.id)) end
  redis.call('DECR', P .. 'count')
  countIp(s.ip, r, -1)
  local v = redis.call('HINCRBY', roomKey(r), 'version', 1)
  if redis.call('HLEN', sessKey(r)) == 0 then
    -- Tabs may still hold the room's state (asleep past grace): its next room must not reuse their IDs.
    redis.call('SET', P .. 'lastId:' .. r, redis.call('HGET', roomKey(r), 'nextId') or '0', 'EX', 2592000)
    local inc = redis.call('HGET', roomKey(r), 'inc')
    if inc then redis.call('SET', P .. 'lastInc:' .. r, inc, 'EX', 2592000) end
    redis.call('SET', P .. 'lastProtect:' .. r, redis.call('HGET', roomKey(r), 'protect') or '0', 'EX', 2592000)
    redis.call('DEL', roomKey(r), sessKey(r), tokKey(r), barKey(r))
    redis.call('SREM', P .. 'rooms', r)
  end
  return v
end
-- GRACE_MS, cut to what is left of the session's total grace budget (resuming does not renew it).
local function toGrace(r, s, now, graceMs, totalMs)
  if s.node then redis.call('SREM', nodeKey(s.node), ref(r, s.id)) end
  local untilMs = now + math.max(0, math.min(graceMs, totalMs - (s.gu or 0)))
  s.sock = nil
  s.node = nil
  s.gs = now
  s.grace = untilMs
  redis.call('HSET', sessKey(r), s.id, cjson.encode(s))
  redis.call('ZADD', P .. 'grace', untilMs, ref(r, s.id))
  return redis.call('HINCRBY', roomKey(r), 'version', 1)
end
`;

const SCRIPTS = {
  // ARGV: P, room, name, tokenHash, socketId, node, settingsJson, maxMembers, verifierHash or '', gate,
  // ip or '', maxSessionsPerIpPerRoom, maxRoomsPerIp, maxRooms, floor, ownerHash (registered if this creates
  // the room), '1' if the client presented that owner token, the joiner's incarnation or '', a fresh one
  // (what a room opened anew takes), now, reopenProtectMs
  lockstepJoin: `
local r = ARGV[2]
-- Redis lost every room since this node last looked (restarted empty): the node learns it before anyone
-- can make a room anew, so newcomers wait while the rooms' players come back (the hold key).
if ARGV[22] ~= '' and redis.call('GET', P .. 'epoch') ~= ARGV[22] then return { 'lost' } end
if ARGV[18] == '' then
  local hold = redis.call('PTTL', P .. 'hold')
  if hold > 0 then return { 'hold', tostring(hold) } end
end
if not gateIs(r, ARGV[10]) then return { 'retry' } end
local exists = redis.call('EXISTS', roomKey(r)) == 1
-- Kept for its vanished players: only a tab of it opens it again; a newcomer waits (heldRefusal).
if not exists then
  local lastInc = redis.call('GET', P .. 'lastInc:' .. r)
  local protect = tonumber(redis.call('GET', P .. 'lastProtect:' .. r) or '0')
  if lastInc and lastInc ~= ARGV[18] and tonumber(ARGV[20]) < protect then
    return { 'held', tostring(protect - tonumber(ARGV[20])) }
  end
elseif ARGV[18] ~= redis.call('HGET', roomKey(r), 'inc') then
  -- A newcomer waits outside a room whose players are all in grace (awayRefusal).
  -- Until when, at most: the last grace's end, or the protection a vanished one would set (ARGV[21]).
  local opens = tonumber(redis.call('HGET', roomKey(r), 'protect') or '0')
  local away, n = true, 0
  for _, v in ipairs(redis.call('HVALS', sessKey(r))) do
    n = n + 1
    local s = cjson.decode(v)
    if s.sock then
      away = false
      break
    end
    local ends = tonumber(s.grace) or 0
    if not s.bye then ends = ends + tonumber(ARGV[21]) end
    opens = math.max(opens, ends)
  end
  if away and n > 0 then return { 'away', tostring(opens - tonumber(ARGV[20])) } end
end
if redis.call('HLEN', sessKey(r)) >= tonumber(ARGV[8]) then return { 'full' } end
if not exists and redis.call('SCARD', P .. 'rooms') >= tonumber(ARGV[14]) then return { 'capacity' } end
local ip = nil
if ARGV[11] ~= '' then
  ip = ARGV[11]
  local here = tonumber(redis.call('HGET', ipKey(ip), r) or '0')
  if here >= tonumber(ARGV[12]) then return { 'ip_room' } end
  if here == 0 and redis.call('HLEN', ipKey(ip)) >= tonumber(ARGV[13]) then return { 'ip_rooms' } end
end
local owner = 0
local startInc = ARGV[19]
if ARGV[18] ~= '' then startInc = ARGV[18] end
if redis.call('HSETNX', roomKey(r), 'settings', ARGV[7]) == 1 then
  owner = 1
  redis.call('HSET', roomKey(r), 'owner', ARGV[16])
  redis.call('SADD', P .. 'rooms', r)
  if ARGV[9] ~= '' then redis.call('HSET', roomKey(r), 'verifier', ARGV[9]) end
  -- An emptied room goes on (IDs and incarnation) for a tab of its last incarnation; otherwise a join opens a
  -- new one (MemoryRoomStore.createRoom).
  local last = redis.call('GET', P .. 'lastId:' .. r)
  if last then
    local lastInc = redis.call('GET', P .. 'lastInc:' .. r)
    local protect = redis.call('GET', P .. 'lastProtect:' .. r) or '0'
    if lastInc and lastInc == ARGV[18] then
      redis.call('HSET', roomKey(r), 'nextId', last)
      redis.call('HSET', roomKey(r), 'protect', protect)
      startInc = lastInc
    else
      startInc = ARGV[19]
    end
  end
  -- No record, and a returning tab's join (it has a floor): its tabs' floors count (MemoryRoomStore's recreated).
  if not last and ARGV[15] ~= '' then redis.call('HSET', roomKey(r), 'recreated', '1') end
end
local inc = incarnation(r, startInc)
-- IDs go above the highest the joiner knows (ARGV[15]) in a recreated room, past FORGOTTEN_ID_GAP more it may
-- not have heard of, so it never repeats one; in a room the store knows, a floor is one player's word.
-- Only a floor past what it issued skips the gap (MemoryRoomStore.join).
local floor = tonumber(ARGV[15]) or 0
if ARGV[15] ~= '' and floor > tonumber(redis.call('HGET', roomKey(r), 'nextId') or '0')
  and redis.call('HGET', roomKey(r), 'recreated') == '1'
  and ARGV[18] == inc then
  redis.call('HSET', roomKey(r), 'nextId', floor + ${FORGOTTEN_ID_GAP})
end
local id = redis.call('HINCRBY', roomKey(r), 'nextId', 1)
local s = { id = id, name = ARGV[3], tok = ARGV[4], sock = ARGV[5], node = ARGV[6], ip = ip, gu = 0 }
redis.call('HSET', sessKey(r), id, cjson.encode(s))
countIp(ip, r, 1)
redis.call('HSET', tokKey(r), s.tok, id)
redis.call('SADD', nodeKey(s.node), ref(r, id))
redis.call('SADD', P .. 'nodes', s.node)
redis.call('INCR', P .. 'count')
if ARGV[17] == '1' then owner = isOwner(r, ARGV[16]) end
if owner == 1 then redis.call('HSET', roomKey(r), 'ownerId', id) end
local v = redis.call('HINCRBY', roomKey(r), 'version', 1)
return { 'ok', id, redis.call('HGET', roomKey(r), 'settings'), record(r, v), owner, inc }
`,
  // ARGV: P, room, tokenHash, name, socketId, node, gate, now, ip or '', ownerHash or '', a fresh incarnation
  lockstepResume: `
local r = ARGV[2]
if not gateIs(r, ARGV[7]) then return { 'retry' } end
if redis.call('SISMEMBER', barKey(r), ARGV[3]) == 1 then return { 'removed' } end
local id = redis.call('HGET', tokKey(r), ARGV[3])
if not id then return { 'bad' } end
local raw = redis.call('HGET', sessKey(r), id)
if not raw then return { 'bad' } end
local s = cjson.decode(raw)
local now = tonumber(ARGV[8])
if s.grace and s.grace <= now then return { 'bad' } end
if s.gs then s.gu = (s.gu or 0) + math.max(0, now - s.gs) end
s.gs = nil
if ARGV[9] ~= '' and ARGV[9] ~= s.ip then
  countIp(s.ip, r, -1)
  s.ip = ARGV[9]
  countIp(s.ip, r, 1)
end
local replaced = ''
if s.sock and s.sock ~= ARGV[5] then replaced = s.sock end
local changed = (not s.sock) or s.name ~= ARGV[4]
local owner = isOwner(r, ARGV[10])
if owner == 1 and redis.call('HGET', roomKey(r), 'ownerId') ~= tostring(s.id) then
  redis.call('HSET', roomKey(r), 'ownerId', s.id)
  changed = true
end
if s.node and s.node ~= ARGV[6] then redis.call('SREM', nodeKey(s.node), ref(r, s.id)) end
redis.call('ZREM', P .. 'grace', ref(r, s.id))
s.sock = ARGV[5]
s.node = ARGV[6]
s.grace = nil
s.bye = nil
s.name = ARGV[4]
redis.call('HSET', sessKey(r), s.id, cjson.encode(s))
redis.call('SADD', nodeKey(s.node), ref(r, s.id))
redis.call('SADD', P .. 'nodes', s.node)
local v
if changed then v = redis.call('HINCRBY', roomKey(r), 'version', 1) else v = redis.call('HGET', roomKey(r), 'version') end
return { 'ok', s.id, redis.call('HGET', roomKey(r), 'settings'), replaced, changed and 1 or 0, record(r, v), owner, incarnation(r, ARGV[11]) }
`,
  // ARGV: P, room, by, id, ownerHash, maxRemoved
  lockstepRemove: `
local r = ARGV[2]
if isOwner(r, ARGV[5]) == 0 then return { 'not_owner' } end
local id = tonumber(ARGV[4])
if id == tonumber(ARGV[3]) then return { 'self' } end
if id > tonumber(redis.call('HGET', roomKey(r), 'nextId') or '0') then return { 'unknown' } end
local removed = cjson.decode(redis.call('HGET', roomKey(r), 'removed') or '[]')
for _, x in ipairs(removed) do
  if x == id then return { 'same', '', record(r, redis.call('HGET', roomKey(r), 'version')) } end
end
if #removed >= tonumber(ARGV[6]) then return { 'too_many' } end
table.insert(removed, id)
redis.call('HSET', roomKey(r), 'removed', cjson.encode(removed))
local sock = ''
local v
local raw = redis.call('HGET', sessKey(r), ARGV[4])
if raw then
  local s = cjson.decode(raw)
  redis.call('SADD', barKey(r), s.tok)
  sock = s.sock or ''
  v = endSession(r, s)
else
  v = redis.call('HINCRBY', roomKey(r), 'version', 1)
end
return { 'ok', sock, record(r, v) }
`,
  // ARGV: P, room, id, socketId, now, graceMs, graceTotalMs, '1' if its page said goodbye
  lockstepDisconnect: `
local r = ARGV[2]
local raw = redis.call('HGET', sessKey(r), ARGV[3])
if not raw then return false end
local s = cjson.decode(raw)
if s.sock ~= ARGV[4] then return false end
if ARGV[8] == '1' then s.bye = true else s.bye = nil end
return record(r, toGrace(r, s, tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])))
`,
  // ARGV: P, room, id, socketId
  lockstepLeave: `
local r = ARGV[2]
local raw = redis.call('HGET', sessKey(r), ARGV[3])
if not raw then return false end
local s = cjson.decode(raw)
if s.sock ~= ARGV[4] then return false end
return record(r, endSession(r, s))
`,
  // Sessions of nodes whose alive key is gone enter grace; then graces that are over end.
  // ARGV: P, now, graceMs, limit, graceTotalMs, reopenProtectMs
  lockstepExpire: `
local now = tonumber(ARGV[2])
local versions, order = {}, {}
local function touch(r, v)
  if not versions[r] then table.insert(order, r) end
  versions[r] = v
end
for _, node in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
  if redis.call('EXISTS', P .. 'alive:' .. node) == 0 then
    for _, m in ipairs(redis.call('SMEMBERS', nodeKey(node))) do
      local r, id = split(m)
      local raw = redis.call('HGET', sessKey(r), id)
      if raw then
        local s = cjson.decode(raw)
        if s.node == node and s.sock then touch(r, toGrace(r, s, now, tonumber(ARGV[3]), tonumber(ARGV[5]))) end
      end
    end
    redis.call('DEL', nodeKey(node))
    redis.call('SREM', P .. 'nodes', node)
  end
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', P .. 'grace', '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))) do
  local r, id = split(m)
  local raw = redis.call('HGET', sessKey(r), id)
  local s = raw and cjson.decode(raw)
  if s and s.grace and s.grace <= now then
    -- Gone without a goodbye (MemoryRoomStore.expire): the room stays its players' a while.
    if not s.bye then
      local upto = now + tonumber(ARGV[6])
      if upto > tonumber(redis.call('HGET', roomKey(r), 'protect') or '0') then
        redis.call('HSET', roomKey(r), 'protect', upto)
      end
    end
    touch(r, endSession(r, s))
  else
    redis.call('ZREM', P .. 'grace', m)
  end
end
local out = {}
for _, r in ipairs(order) do table.insert(out, record(r, versions[r])) end
return out
`,
  // Returns 0 when the key had lapsed: the other nodes may already have put this node's sessions in grace.
  // ARGV: P, node, ttlMs
  lockstepHeartbeat: `
local epoch = redis.call('GET', P .. 'epoch')
if not epoch then
  -- Redis holds no rooms (restarted empty, flushed, or new): their players' tabs get the first say, on every node.
  epoch = ARGV[4]
  redis.call('SET', P .. 'epoch', epoch)
  if tonumber(ARGV[5]) > 0 then redis.call('SET', P .. 'hold', '1', 'PX', ARGV[5]) end
end
local key = P .. 'alive:' .. ARGV[2]
if redis.call('PEXPIRE', key, ARGV[3]) == 1 then return {1, epoch} end
redis.call('SET', key, '1', 'PX', ARGV[3])
return {0, epoch}
`,
} as const;

type ScriptName = keyof typeof SCRIPTS;
/** `issued` is the room's `nextId` field, which holds the last ID given out. */
type RecordReply = [
  room: string,
  version: string,
  sessions: string[],
  removed: string,
  issued: string,
  ownerId: string,
];

interface StoredSession {
  id: PlayerId;
  name: string;
  tok: string;
  sock?: string;
  node?: string;
  grace?: number;
  ip?: string;
  /** Grace used before the current one (ms), and when the current one started. */
  gu?: number;
  gs?: number;
}

export const REDIS_DEFAULTS = {
  prefix: 'lockstep:',
  // A dead node's players enter grace at most this long after it stopped answering.
  nodeTtlMs: 10_000,
  sweepIntervalMs: 1_000,
  // A join re-checks the password this often at most if the room keeps being deleted and recreated meanwhile.
  joinAttempts: 5,
  // Bounds one expiry script's run time; the rest goes in the next sweep.
  expireBatch: 500,
  // Newcomers' wait after Redis is found without its rooms (the server passes RESTART_HOLD_MS).
  lostHoldMs: 0,
} as const;

export interface RedisRoomStoreOptions extends Partial<AdmissionLimits> {
  redis: Redis;
  graceMs: number;
  maxMembers: number;
  prefix?: string;
  /** Unique per process; sessions record the node that holds their socket. */
  nodeId?: string;
  nodeTtlMs?: number;
  /** Newcomers wait this long, plus a heartbeat interval, after Redis is found without its rooms. */
  lostHoldMs?: number;
  sweepIntervalMs?: number;
  clock?: Clock;
  newToken?: () => string;
  logger?: Logger;
}

export function newNodeId(): string {
  return `${hostname()}-${process.pid}-${newResumeToken().slice(0, 8)}`;
}

export class RedisRoomStore implements RoomStore {
  readonly nodeId: string;
  readonly sweepIntervalMs: number;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly graceMs: number;
  private readonly maxMembers: number;
  private readonly limits: Omit<AdmissionLimits, 'graceMs' | 'maxMembers'>;
  private readonly nodeTtlMs: number;
  private readonly lostHoldMs: number;
  private readonly clock: Clock;
  private readonly newToken: () => string;
  private readonly logger: Logger;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly fencedListeners: (() => void)[] = [];
  private readonly dataLostListeners: (() => void)[] = [];
  /** The store's data's lifetime as this node last saw it: a new one means Redis lost what it held. */
  private epochSeen: string | undefined;

  constructor(options: RedisRoomStoreOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix ?? REDIS_DEFAULTS.prefix;
    this.nodeId = options.nodeId ?? newNodeId();
    if (/\s/.test(this.nodeId)) throw new Error('node ID must not contain whitespace');
    this.graceMs = options.graceMs;
    this.maxMembers = options.maxMembers;
    this.limits = {
      maxSessionsPerIpPerRoom: options.maxSessionsPerIpPerRoom ?? ADMISSION_DEFAULTS.maxSessionsPerIpPerRoom,
      maxRoomsPerIp: options.maxRoomsPerIp ?? ADMISSION_DEFAULTS.maxRoomsPerIp,
      maxRooms: options.maxRooms ?? ADMISSION_DEFAULTS.maxRooms,
      graceTotalMs: options.graceTotalMs ?? ADMISSION_DEFAULTS.graceTotalMs,
      reopenProtectMs: options.reopenProtectMs ?? ADMISSION_DEFAULTS.reopenProtectMs,
    };
    this.nodeTtlMs = options.nodeTtlMs ?? REDIS_DEFAULTS.nodeTtlMs;
    this.lostHoldMs = options.lostHoldMs ?? REDIS_DEFAULTS.lostHoldMs;
    this.sweepIntervalMs = options.sweepIntervalMs ?? REDIS_DEFAULTS.sweepIntervalMs;
    this.clock = options.clock ?? systemClock;
    this.newToken = options.newToken ?? newResumeToken;
    this.logger = options.logger ?? pino({ level: 'silent' });
    for (const [name, body] of Object.entries(SCRIPTS)) {
      this.redis.defineCommand(name, { numberOfKeys: 0, lua: PRELUDE + body });
    }
  }

  /** Marks this node alive and keeps it so; call before serving. */
  async start(): Promise<void> {
    await this.heartbeat();
    // Three beats per TTL, so one slow beat does not make the node look dead.
    this.heartbeatTimer = setInterval(this.beat, Math.max(1, Math.floor(this.nodeTtlMs / 3)));
    this.heartbeatTimer.unref();
    // A connection back (Redis restarted?) is checked at once: newcomers must not find its rooms gone first.
    this.redis.on('ready', this.beat);
  }

  private readonly beat = (): void => {
    this.check().catch((err: unknown) => this.logger.error({ err }, 'node heartbeat failed'));
  };

  /** One heartbeat, and what it found told: the data lost (onDataLost, logged), then this node presumed dead (onFenced). */
  private async check(): Promise<void> {
    const wasAlive = await this.heartbeat();
    if (wasAlive || this.heartbeatTimer === undefined) return;
    this.logger.warn({ node: this.nodeId }, 'node liveness lapsed; its sessions may be in grace');
    for (const listener of this.fencedListeners) listener();
  }

  /** Graceful stop: other nodes put this node's remaining sessions in grace at their next sweep. */
  async close(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.redis.off('ready', this.beat);
    await this.redis.del(`${this.prefix}alive:${this.nodeId}`);
  }

  /** Redis lost every room (restarted without persistence, or flushed): told before onFenced's listeners. */
  onDataLost(listener: () => void): void {
    this.dataLostListeners.push(listener);
  }

  epoch(): string | undefined {
    return this.epochSeen;
  }

  onFenced(listener: () => void): void {
    this.fencedListeners.push(listener);
  }

  async join(input: JoinInput): Promise<JoinOutcome> {
    // The verifier is compared here, in constant time, not in Lua; the script then only checks that the
    // room's password state is still the one compared against (a compare-and-set).
    // As of when the join began (the server took it then): a loss since refuses a newcomer (create).
    let epoch = input.epoch ?? this.epochSeen;
    for (let attempt = 1; attempt <= REDIS_DEFAULTS.joinAttempts; attempt++) {
      const [settings, verifierHash] = await this.redis.hmget(
        `${this.prefix}room:${input.room}`,
        'settings',
        'verifier',
      );
      const exists = settings !== null;
      const refused = exists && verifierRefusal(verifierHash ?? undefined, input.verifier);
      if (refused) return refused;
      const gate = exists ? `+${verifierHash ?? ''}` : '-';
      const outcome =
        input.token === undefined
          ? await this.create(input, gate, epoch)
          : await this.resume(input, input.token, gate);
      // A player of a room Redis lost goes on, against Redis's data as it is now.
      if (outcome === 'lost') epoch = this.epochSeen;
      else if (outcome !== 'retry') return outcome;
    }
    throw new Error(`room ${input.room} kept changing during a join`);
  }

  private async create(
    input: JoinInput,
    gate: string,
    epoch: string | undefined,
  ): Promise<JoinOutcome | 'retry' | 'lost'> {
    const token = this.newToken();
    // Registered only if this join creates the room; a token the client brings stays valid then.
    const ownerToken = input.ownerToken ?? this.newToken();
    const reply = (await this.run(
      'lockstepJoin',
      input.room,
      input.name,
      hashToken(token),
      input.socketId,
      this.nodeId,
      JSON.stringify(input.settings),
      this.maxMembers,
      input.verifier === undefined ? '' : hashVerifier(input.verifier),
      gate,
      input.ip ?? '',
      this.limits.maxSessionsPerIpPerRoom,
      this.limits.maxRoomsPerIp,
      this.limits.maxRooms,
      input.floor ?? '',
      hashOwnerToken(ownerToken),
      input.ownerToken === undefined ? '' : '1',
      input.incarnation ?? '',
      input.freshIncarnation ?? newIncarnation(),
      this.clock.now(),
      this.limits.reopenProtectMs,
      epoch ?? '',
    )) as
      | ['lost']
      | ['retry']
      | ['full']
      | ['capacity']
      | ['ip_room']
      | ['ip_rooms']
      | ['held', string]
      | ['hold', string]
      | ['away', string]
      | ['ok', number, string, RecordReply, number, string];
    if (reply[0] === 'lost') {
      await this.check();
      // Its players' tabs bring the room back; a newcomer asks again, and is then held like one after a start.
      return input.incarnation === undefined ? lostRefusal() : 'lost';
    }
    if (reply[0] === 'retry') return 'retry';
    if (reply[0] === 'held') return heldRefusal(Number(reply[1]));
    if (reply[0] === 'hold') return restartHoldRefusal(Number(reply[1]));
    if (reply[0] === 'away') return awayRefusal(Number(reply[1]));
    if (reply[0] === 'capacity') return capacityRefusal(this.limits.maxRooms);
    if (reply[0] === 'ip_room') return addressInRoomRefusal(this.limits.maxSessionsPerIpPerRoom);
    if (reply[0] === 'ip_rooms') return addressRoomsRefusal(this.limits.maxRoomsPerIp);
    if (reply[0] === 'full') {
      return {
        ok: false,
        code: 'room_full',
        error: `room is full: it already has ${this.maxMembers} members`,
      };
    }
    const [, id, settings, record, owner, incarnation] = reply;
    return {
      ok: true,
      id,
      token,
      resumed: false,
      incarnation,
      settings: JSON.parse(settings) as RoomSettings,
      roster: toRoster(record),
      changed: true,
      ...(owner === 1 ? { ownerToken } : {}),
    };
  }

  private async resume(input: JoinInput, token: string, gate: string): Promise<JoinOutcome | 'retry'> {
    const reply = (await this.run(
      'lockstepResume',
      input.room,
      hashToken(token),
      input.name,
      input.socketId,
      this.nodeId,
      gate,
      this.clock.now(),
      input.ip ?? '',
      input.ownerToken === undefined ? '' : hashOwnerToken(input.ownerToken),
      newIncarnation(),
    )) as
      | ['retry']
      | ['bad']
      | ['removed']
      | ['ok', number, string, string, number, RecordReply, number, string];
    if (reply[0] === 'retry') return 'retry';
    if (reply[0] === 'removed') return REMOVED_REFUSAL;
    if (reply[0] === 'bad') {
      return {
        ok: false,
        code: 'bad_token',
        error: 'resume token is unknown or its session has expired; join again without a token',
      };
    }
    const [, id, settings, replaced, changed, record, owner, incarnation] = reply;
    return {
      ok: true,
      id,
      token,
      resumed: true,
      incarnation,
      settings: JSON.parse(settings) as RoomSettings,
      roster: toRoster(record),
      changed: changed === 1,
      ...(replaced === '' ? {} : { replacedSocketId: replaced }),
      ...(owner === 1 && input.ownerToken !== undefined ? { ownerToken: input.ownerToken } : {}),
    };
  }

  async remove(room: string, by: PlayerId, id: PlayerId, ownerToken: string): Promise<RemoveOutcome> {
    const reply = (await this.run(
      'lockstepRemove',
      room,
      by,
      id,
      hashOwnerToken(ownerToken),
      LIMITS.removed.max,
    )) as ['not_owner'] | ['self'] | ['unknown'] | ['too_many'] | ['same' | 'ok', string, RecordReply];
    switch (reply[0]) {
      case 'not_owner':
        return NOT_OWNER;
      case 'self':
        return removeSelfRefusal(id);
      case 'unknown':
        return neverJoinedRefusal(id);
      case 'too_many':
        return tooManyRemovedRefusal();
      default:
        return {
          ok: true,
          roster: toRoster(reply[2]),
          changed: reply[0] === 'ok',
          socketId: reply[1] === '' ? undefined : reply[1],
        };
    }
  }

  async disconnect(room: string, id: PlayerId, socketId: string, bye = false): Promise<RosterMsg | null> {
    const reply = (await this.run(
      'lockstepDisconnect',
      room,
      id,
      socketId,
      this.clock.now(),
      this.graceMs,
      this.limits.graceTotalMs,
      bye ? '1' : '',
    )) as RecordReply | null;
    return reply && toRoster(reply);
  }

  async leave(room: string, id: PlayerId, socketId: string): Promise<RosterMsg | null> {
    const reply = (await this.run('lockstepLeave', room, id, socketId)) as RecordReply | null;
    return reply && toRoster(reply);
  }

  async route(room: string, id: PlayerId): Promise<MemberRoute | undefined> {
    const raw = await this.redis.hget(`${this.prefix}sessions:${room}`, String(id));
    if (raw === null) return undefined;
    const session = JSON.parse(raw) as StoredSession;
    return { id: session.id, socketId: session.sock };
  }

  async holdsToken(room: string, token: string): Promise<boolean> {
    const id = await this.redis.hget(`${this.prefix}tokens:${room}`, hashToken(token));
    return id !== null && (await this.redis.hexists(`${this.prefix}sessions:${room}`, id)) === 1;
  }

  async expire(): Promise<RosterMsg[]> {
    const reply = (await this.run(
      'lockstepExpire',
      this.clock.now(),
      this.graceMs,
      REDIS_DEFAULTS.expireBatch,
      this.limits.graceTotalMs,
      this.limits.reopenProtectMs,
    )) as RecordReply[];
    return reply.map(toRoster);
  }

  async nextExpiry(): Promise<number | undefined> {
    const [, score] = await this.redis.zrange(`${this.prefix}grace`, '0', '0', 'WITHSCORES');
    return score === undefined ? undefined : Number(score);
  }

  async stats(): Promise<StoreStats> {
    const results = await this.redis
      .multi()
      .scard(`${this.prefix}rooms`)
      .zcard(`${this.prefix}grace`)
      .get(`${this.prefix}count`)
      .exec();
    const [rooms, grace, count] = (results ?? []).map(([err, value]) => {
      if (err) throw err;
      return Number(value ?? 0);
    });
    return { rooms: rooms ?? 0, connected: (count ?? 0) - (grace ?? 0), grace: grace ?? 0 };
  }

  private async heartbeat(): Promise<boolean> {
    // The hold covers a heartbeat interval too (a flush reaches the slowest node's clients that late), up to
    // 5 s: a restart is seen at once on reconnecting, and a longer hold outlasts clients' join timeouts.
    const holdMs = this.lostHoldMs > 0 ? this.lostHoldMs + Math.min(Math.ceil(this.nodeTtlMs / 3), 5_000) : 0;
    const [alive, epoch] = (await this.run(
      'lockstepHeartbeat',
      this.nodeId,
      this.nodeTtlMs,
      newResumeToken().slice(0, 16),
      holdMs,
    )) as [number, string];
    const lost = this.epochSeen !== undefined && epoch !== this.epochSeen;
    this.epochSeen = epoch;
    if (lost) {
      this.logger.warn({ node: this.nodeId }, 'redis lost its data (restarted empty, or flushed)');
      for (const listener of this.dataLostListeners) listener();
    }
    return alive === 1;
  }

  private run(script: ScriptName, ...args: (string | number)[]): Promise<unknown> {
    const commands = this.redis as unknown as Record<
      ScriptName,
      (...a: (string | number)[]) => Promise<unknown>
    >;
    return commands[script](this.prefix, ...args);
  }
}

function toRoster([room, version, sessions, removed, issued, ownerId]: RecordReply): RosterMsg {
  const members: Member[] = sessions.map((raw) => {
    const s = JSON.parse(raw) as StoredSession;
    return s.grace === undefined
      ? { id: s.id, name: s.name, state: 'connected' }
      : { id: s.id, name: s.name, state: 'grace', graceUntil: s.grace };
  });
  members.sort((a, b) => a.id - b.id);
  // cjson writes an empty array as {}.
  const ids: unknown = JSON.parse(removed);
  return {
    room,
    version: Number(version),
    members,
    removed: Array.isArray(ids) ? (ids as PlayerId[]) : [],
    issued: Number(issued) || 0,
    ...ownerField(members, Number(ownerId)),
  };
}

export interface RedisBackendOptions extends Partial<AdmissionLimits> {
  url: string;
  graceMs: number;
  maxMembers: number;
  prefix?: string;
  nodeTtlMs?: number;
  lostHoldMs?: number;
  sweepIntervalMs?: number;
  logger?: Logger;
}

export interface RedisBackend {
  store: RedisRoomStore;
  /** For SignalingOptions.adapter. */
  adapter: ReturnType<typeof createAdapter>;
  /** For SignalingOptions.limiterRedis: budgets shared by the nodes. */
  client: Redis;
  /** Call after the signaling server has closed. */
  close(): Promise<void>;
}

/** Connects (failing fast if Redis is unreachable), registers this node and builds the socket.io adapter. */
export async function connectRedis(options: RedisBackendOptions): Promise<RedisBackend> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const prefix = options.prefix ?? REDIS_DEFAULTS.prefix;
  // Commands issued during a Redis outage fail after a few retries instead of hanging a join forever.
  const client = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  const sub = client.duplicate();
  for (const conn of [client, sub]) {
    conn.on('error', (err: unknown) => logger.error({ err }, 'redis connection error'));
  }
  try {
    await Promise.all([client.connect(), sub.connect()]);
  } catch (err) {
    client.disconnect();
    sub.disconnect();
    throw err;
  }
  const store = new RedisRoomStore({
    redis: client,
    prefix,
    graceMs: options.graceMs,
    maxMembers: options.maxMembers,
    logger,
    ...pickLimits(options),
    ...(options.nodeTtlMs === undefined ? {} : { nodeTtlMs: options.nodeTtlMs }),
    ...(options.lostHoldMs === undefined ? {} : { lostHoldMs: options.lostHoldMs }),
    ...(options.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: options.sweepIntervalMs }),
  });
  await store.start();
  logger.info({ node: store.nodeId, prefix }, 'redis connected');
  return {
    store,
    adapter: createAdapter(client, sub, { key: `${prefix}socket.io` }),
    client,
    async close() {
      try {
        await store.close();
      } finally {
        await Promise.allSettled([client.quit(), sub.quit()]);
      }
    },
  };
}

function pickLimits(options: Partial<AdmissionLimits>): Partial<AdmissionLimits> {
  const out: Partial<AdmissionLimits> = {};
  if (options.maxSessionsPerIpPerRoom !== undefined)
    out.maxSessionsPerIpPerRoom = options.maxSessionsPerIpPerRoom;
  if (options.maxRoomsPerIp !== undefined) out.maxRoomsPerIp = options.maxRoomsPerIp;
  if (options.maxRooms !== undefined) out.maxRooms = options.maxRooms;
  if (options.graceTotalMs !== undefined) out.graceTotalMs = options.graceTotalMs;
  if (options.reopenProtectMs !== undefined) out.reopenProtectMs = options.reopenProtectMs;
  return out;
}
