// Multi-node signaling against a real redis-server on loopback: the Redis store's behaviours, node death
// and fencing, then whole signaling nodes as child processes sharing one Redis.

import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Joined, RosterMsg } from '../../client/src/protocol/signaling.ts';
import { RedisRoomStore } from './redis.ts';
import { type NodeProcess, type RedisProcess, startNode, startRedis } from './redisTesting.ts';
import { describeRoomStore, settings } from './storeCases.ts';
import { connect, expectOk, type RecordingClient } from './testing.ts';

let redis: RedisProcess;
const connections: Redis[] = [];
const stores: RedisRoomStore[] = [];
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.allSettled(stores.map((store) => store.close()));
  for (const conn of connections) conn.disconnect();
  await redis?.stop();
});

function client(): Redis {
  const conn = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  conn.on('error', () => {});
  connections.push(conn);
  return conn;
}

async function redisStore(options: ConstructorParameters<typeof RedisRoomStore>[0]): Promise<RedisRoomStore> {
  const store = new RedisRoomStore(options);
  stores.push(store);
  await store.start();
  return store;
}

/** Two nodes on one Redis, with a clock the test moves: `doomed` dies when its connection is cut. */
async function twoNodes() {
  const prefix = `t${++prefixes}:`;
  const clock = { t: 5_000_000, now: () => clock.t };
  const live = await redisStore({ redis: client(), prefix, graceMs: 1_000, maxMembers: 50, clock });
  const doomedConn = client();
  const doomed = await redisStore({
    redis: doomedConn,
    prefix,
    graceMs: 1_000,
    maxMembers: 50,
    clock,
    nodeTtlMs: 300,
  });
  return { clock, live, doomed, doomedConn };
}

describeRoomStore('RedisRoomStore', (options) =>
  redisStore({ redis: client(), prefix: `t${++prefixes}:`, nodeTtlMs: 60_000, ...options }),
);

/** Calls expire() until it reports a roster that matches (another node's key lapses in Redis time). */
async function expireUntil(store: RedisRoomStore, match: (roster: RosterMsg) => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = (await store.expire()).find(match);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error('no matching roster from expire()');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Player 1 of room `r` back after Redis lost it: its room's incarnation and its floor (as a tab sends them). */
const returning = (store: RedisRoomStore, incarnation: string, epoch?: string) =>
  store.join({
    room: 'r',
    name: 'a',
    settings,
    socketId: 'a2',
    incarnation,
    floor: 1,
    ...(epoch === undefined ? {} : { epoch }),
  });

describe('RedisRoomStore across nodes', () => {
  it('hands out unique, growing IDs to concurrent joins on two nodes', async () => {
    const prefix = `t${++prefixes}:`;
    const a = await redisStore({ redis: client(), prefix, graceMs: 1_000, maxMembers: 100 });
    const b = await redisStore({ redis: client(), prefix, graceMs: 1_000, maxMembers: 100 });
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? a : b).join({ room: 'r', name: `p${i}`, settings, socketId: `s${i}` }),
      ),
    );
    const joined = outcomes.map((o) => {
      if (!o.ok) throw new Error(o.error);
      return o;
    });
    expect(joined.map((o) => o.id).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    expect(new Set(joined.map((o) => o.roster.version)).size).toBe(40);
    const latest = joined.reduce((x, y) => (y.roster.version > x.roster.version ? y : x));
    expect(latest.roster.members).toHaveLength(40);
    expect(await b.route('r', joined[0]?.id ?? 0)).toEqual({ id: joined[0]?.id, socketId: 's0' });
    expect(await a.stats()).toEqual({ rooms: 1, connected: 40, grace: 0 });
  });

  it('a goodbye taken back by a resume does not count when the node then dies: the room stays its players’', async () => {
    const { clock, live, doomed, doomedConn } = await twoNodes();
    const first = await doomed.join({ room: 'q', name: 'x', settings, socketId: 'x' });
    if (!first.ok) throw new Error(first.error);
    // A reload: its page said goodbye, then it came back within grace.
    await doomed.disconnect('q', 1, 'x', true);
    expect(
      await doomed.join({ room: 'q', name: 'x', settings, socketId: 'x2', token: first.token }),
    ).toMatchObject({
      resumed: true,
    });
    // Its node dies: the session goes into grace with no goodbye of its own, and expires.
    doomedConn.disconnect();
    await expireUntil(live, (r) => r.members.some((m) => m.state === 'grace'));
    clock.t += 1_000;
    await live.expire();
    expect(await live.stats()).toMatchObject({ rooms: 0 });
    // It vanished: the room is kept for it, and a newcomer waits outside rather than opening a new one.
    expect(await live.join({ room: 'q', name: 'n', settings, socketId: 'n' })).toMatchObject({
      ok: false,
      code: 'rate_limited',
    });
  });

  it('puts a dead node’s sessions in grace, lets them resume elsewhere, and expires the rest', async () => {
    const { clock, live, doomed, doomedConn } = await twoNodes();
    const join = async (store: RedisRoomStore, socketId: string) => {
      const outcome = await store.join({ room: 'r', name: socketId, settings, socketId });
      if (!outcome.ok) throw new Error(outcome.error);
      return outcome;
    };
    await join(live, 'a');
    const b = await join(doomed, 'b');
    const c = await join(doomed, 'c');

    // A crash: the heartbeat stops and nothing is cleaned up.
    doomedConn.disconnect();
    expect(await live.expire()).toEqual([]);
    const graced = await expireUntil(live, (r) => r.members.some((m) => m.state === 'grace'));
    expect(graced.members).toEqual([
      { id: 1, name: 'a', state: 'connected' },
      { id: 2, name: 'b', state: 'grace', graceUntil: clock.t + 1_000 },
      { id: 3, name: 'c', state: 'grace', graceUntil: clock.t + 1_000 },
    ]);
    expect(await live.nextExpiry()).toBe(clock.t + 1_000);

    const resumed = await live.join({ room: 'r', name: 'b', settings, socketId: 'b2', token: b.token });
    expect(resumed).toMatchObject({ ok: true, id: 2, resumed: true, changed: true });
    expect(await live.route('r', 2)).toEqual({ id: 2, socketId: 'b2' });

    clock.t += 1_000;
    const [expired] = await live.expire();
    expect(expired?.members.map((m) => [m.id, m.state])).toEqual([
      [1, 'connected'],
      [2, 'connected'],
    ]);
    expect(expired?.version).toBeGreaterThan(graced.version);
    expect(await live.join({ room: 'r', name: 'c', settings, socketId: 'c2', token: c.token })).toMatchObject(
      {
        ok: false,
        code: 'bad_token',
      },
    );
    expect(await live.stats()).toEqual({ rooms: 1, connected: 2, grace: 0 });
    // A live node's sessions are never swept.
    expect(await live.expire()).toEqual([]);
  });

  it('tells a node whose liveness lapsed that it was presumed dead', async () => {
    const prefix = `t${++prefixes}:`;
    const conn = client();
    const other = await redisStore({ redis: client(), prefix, graceMs: 60_000, maxMembers: 50 });
    const stalled = await redisStore({
      redis: conn,
      prefix,
      graceMs: 60_000,
      maxMembers: 50,
      nodeTtlMs: 300,
    });
    const fenced = new Promise<void>((resolve) => stalled.onFenced(resolve));
    let lost = 0;
    stalled.onDataLost(() => lost++);
    expect(await stalled.join({ room: 'r', name: 'a', settings, socketId: 'a' })).toMatchObject({ ok: true });
    // As if this node had stalled past its TTL and another node had swept it.
    await conn.del(`${prefix}alive:${stalled.nodeId}`);
    const [swept] = await other.expire();
    expect(swept?.members).toEqual([{ id: 1, name: 'a', state: 'grace', graceUntil: expect.any(Number) }]);
    await fenced;
    // Its rooms are still there: a lapse is not a loss.
    expect(lost).toBe(0);
  });

  it('tells every node, before fencing it, that Redis lost its data (restarted empty, or flushed)', async () => {
    const prefix = `t${++prefixes}:`;
    const conn = client();
    const nodes = await Promise.all(
      [0, 1].map(() =>
        // Beats every 500 ms: a stall of the loaded machine does not fence a node before the loss.
        redisStore({ redis: client(), prefix, graceMs: 60_000, maxMembers: 50, nodeTtlMs: 1_500 }),
      ),
    );
    const heard: string[] = [];
    const told = nodes.map(
      (node, i) =>
        new Promise<void>((resolve) => {
          node.onDataLost(() => heard.push(`lost ${i}`));
          node.onFenced(() => {
            heard.push(`fenced ${i}`);
            resolve();
          });
        }),
    );
    expect(await nodes[0]!.join({ room: 'r', name: 'a', settings, socketId: 'a' })).toMatchObject({
      ok: true,
    });
    // A while of beats with the data kept: nothing to tell.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(heard).toEqual([]);
    const keys = await conn.keys(`${prefix}*`);
    await conn.del(...keys);
    await Promise.all(told);
    expect(heard.filter((h) => h.endsWith('0'))).toEqual(['lost 0', 'fenced 0']);
    expect(heard.filter((h) => h.endsWith('1'))).toEqual(['lost 1', 'fenced 1']);
  });

  it('holds newcomers on every node from when the first one sees Redis lost its rooms; the rooms’ players go first', async () => {
    const prefix = `t${++prefixes}:`;
    const conn = client();
    const store = (nodeTtlMs: number) =>
      redisStore({ redis: client(), prefix, graceMs: 60_000, maxMembers: 50, nodeTtlMs, lostHoldMs: 3_000 });
    // Started on a Redis that had no rooms yet: newcomers wait there too (it cannot tell new from emptied).
    const quick = await store(300);
    const slow = await store(60_000);
    const early = await slow.join({ room: 'r', name: 'a', settings, socketId: 'a' });
    expect(early).toMatchObject({ ok: false, code: 'rate_limited' });
    expect(early.ok || early.error).toMatch(
      /^join: this room waits for its players, who may be coming back after the server restarted; it opens to newcomers in \d+ s$/,
    );
    await new Promise((resolve) => setTimeout(resolve, 3_300));
    const first = await slow.join({ room: 'r', name: 'a', settings, socketId: 'a' });
    if (!first.ok) throw new Error(first.error);
    let quickLost = 0;
    quick.onDataLost(() => quickLost++);
    await conn.del(...(await conn.keys(`${prefix}*`)));
    for (let i = 0; i < 100 && quickLost === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(quickLost).toBe(1);
    // The slow node has not looked yet: its newcomer is refused all the same, by Redis.
    const newcomer = await slow.join({ room: 'r', name: 'new', settings, socketId: 'n' });
    expect(newcomer).toMatchObject({ ok: false, code: 'rate_limited' });
    expect(await slow.join({ room: 'r', name: 'new', settings, socketId: 'n' })).toMatchObject({
      ok: false,
      code: 'rate_limited',
      error: expect.stringContaining('who may be coming back after the server restarted'),
    });
    expect(await conn.exists(`${prefix}room:r`)).toBe(0);
    const back = await returning(slow, first.incarnation);
    expect(back).toMatchObject({ ok: true, id: 1_002, incarnation: first.incarnation });
    // A newcomer after the hold joins the room its players brought back.
    await new Promise((resolve) => setTimeout(resolve, 3_300));
    expect(await slow.join({ room: 'r', name: 'new', settings, socketId: 'n' })).toMatchObject({
      ok: true,
      id: 1_003,
      incarnation: first.incarnation,
    });
  });

  it('sees Redis restarted empty as soon as its connection is back, not at its next beat', async () => {
    // A Redis of its own, and a store the suite's teardown does not close: that Redis is gone by then.
    const own = await startRedis();
    const conn = new Redis(own.url, { maxRetriesPerRequest: 1 });
    conn.on('error', () => {});
    const node = new RedisRoomStore({
      redis: conn,
      prefix: 'own:',
      graceMs: 60_000,
      maxMembers: 50,
      nodeTtlMs: 60_000,
    });
    try {
      await node.start();
      const lost = new Promise<void>((resolve) => node.onDataLost(resolve));
      await own.stop();
      own.stop = (await startRedis(Number(new URL(own.url).port))).stop;
      const t = Date.now();
      await lost;
      // Its beat is 20 s away: the reconnection told it.
      expect(Date.now() - t).toBeLessThan(10_000);
    } finally {
      await node.close().catch(() => {});
      conn.disconnect();
      await own.stop();
    }
  });

  it('a newcomer whose join began before Redis lost its rooms is refused, so a returning player recreates the room first', async () => {
    const prefix = `t${++prefixes}:`;
    const conn = client();
    const node = await redisStore({
      redis: client(),
      prefix,
      graceMs: 60_000,
      maxMembers: 50,
      nodeTtlMs: 300,
    });
    const first = await node.join({ room: 'r', name: 'a', settings, socketId: 'a' });
    if (!first.ok) throw new Error(first.error);
    let lost = 0;
    node.onDataLost(() => lost++);
    // The join began (the server read the epoch), then Redis came back empty, and the node saw it (its hold
    // came too late for this join) before the store was asked.
    const epoch = node.epoch();
    await conn.del(...(await conn.keys(`${prefix}*`)));
    for (let i = 0; i < 100 && lost === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(node.epoch()).not.toBe(epoch);
    const newcomer = await node.join({ room: 'r', name: 'new', settings, socketId: 'n', epoch });
    expect(newcomer).toMatchObject({ ok: false, code: 'rate_limited' });
    expect(newcomer.ok || newcomer.error).toMatch(
      /^join: this room waits for its players, who lost the server/,
    );
    expect(lost).toBe(1);
    expect(await conn.exists(`${prefix}room:r`)).toBe(0);
    // A player of the room, whose join began before the loss as well, recreates it with its incarnation.
    const back = await returning(node, first.incarnation, epoch);
    expect(back).toMatchObject({ ok: true, id: 1_002, incarnation: first.incarnation });
    expect(lost).toBe(1);
  });

  it('checks the password again when the room is created by another node between check and join', async () => {
    const prefix = `t${++prefixes}:`;
    const conn = client();
    const racer = await redisStore({ redis: client(), prefix, graceMs: 60_000, maxMembers: 50 });
    const slow = await redisStore({ redis: conn, prefix, graceMs: 60_000, maxMembers: 50 });
    const hmget = conn.hmget.bind(conn) as (...args: string[]) => Promise<(string | null)[]>;
    let raced = false;
    // The other node creates the room with its own password right after this node looked.
    (conn as unknown as { hmget: (...args: string[]) => Promise<(string | null)[]> }).hmget = async (
      ...args
    ) => {
      const seen = await hmget(...args);
      if (!raced) {
        raced = true;
        await racer.join({ room: 'r', name: 'first', settings, socketId: 'f', verifier: 'a'.repeat(43) });
      }
      return seen;
    };
    const late = await slow.join({
      room: 'r',
      name: 'late',
      settings,
      socketId: 'l',
      verifier: 'b'.repeat(43),
    });
    expect(raced).toBe(true);
    expect(late).toMatchObject({ ok: false, code: 'bad_password', error: 'wrong password for this room' });
    expect((await racer.route('r', 1))?.socketId).toBe('f');
    expect(await racer.route('r', 2)).toBeUndefined();
  });
});

describe('signaling nodes sharing Redis', () => {
  let nodes: NodeProcess[] = [];
  let clients: RecordingClient[] = [];

  afterEach(async () => {
    // Whatever the server said, the browser's client would have taken (protocol/signaling.ts).
    expect(clients.flatMap((c) => c.malformed)).toEqual([]);
    for (const c of clients) c.close();
    await Promise.all(nodes.map((node) => node.kill()));
    nodes = [];
    clients = [];
  });

  async function startNodes(count: number, prefix: string) {
    const started = await Promise.all(
      Array.from({ length: count }, () =>
        startNode({
          REDIS_URL: redis.url,
          REDIS_PREFIX: prefix,
          GRACE_MS: '1500',
          NODE_TTL_MS: '1500',
          SWEEP_INTERVAL_MS: '100',
          // A fresh prefix is a Redis without rooms, which holds newcomers back (see above): not here.
          RESTART_HOLD_MS: '0',
        }),
      ),
    );
    nodes.push(...started);
    return started;
  }

  async function player(node: NodeProcess, room: string, name: string, token?: string) {
    const socket = await connect(node.url);
    clients.push(socket);
    const joined: Joined = expectOk(
      await socket.join({ room, name, ...(token === undefined ? {} : { token }) }),
    );
    return { socket, joined };
  }

  const states = (roster: RosterMsg) => roster.members.map((m) => `${m.id}:${m.state}`).join(' ');

  it('forms one room from players on two nodes: one roster, growing IDs, signal and relay across', async () => {
    const [a, b] = await startNodes(2, 'cluster1:');
    if (!a || !b) throw new Error('nodes did not start');
    const ann = await player(a, 'alpha', 'Ann');
    const bob = await player(b, 'alpha', 'Bob');
    const cy = await player(a, 'alpha', 'Cy');
    const more = await Promise.all([
      player(b, 'alpha', 'D1'),
      player(a, 'alpha', 'D2'),
      player(b, 'alpha', 'D3'),
    ]);
    expect([ann, bob, cy].map((p) => p.joined.id)).toEqual([1, 2, 3]);
    expect(more.map((p) => p.joined.id).sort()).toEqual([4, 5, 6]);
    expect(bob.joined.settings).toEqual(ann.joined.settings);

    // Everyone converges on the same roster, whichever node pushed it.
    const final = more.map((p) => p.joined.roster).reduce((x, y) => (y.version > x.version ? y : x));
    expect(final.members.map((m) => m.id)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const p of [ann, bob, cy]) {
      expect(await p.socket.waitFor<RosterMsg>('roster', (r) => r.version === final.version)).toEqual(final);
    }

    expectOk(await ann.socket.raw('signal', { to: 2, data: { type: 'offer', sdp: 'v=0' } }));
    expect(await bob.socket.waitFor('signal')).toEqual({ from: 1, data: { type: 'offer', sdp: 'v=0' } });
    expectOk(await bob.socket.raw('relay', { frames: [{ to: 3, data: 'hello across nodes' }] }));
    expect(await cy.socket.waitFor('relay')).toEqual({ from: 2, data: 'hello across nodes' });

    // A graceful stop of node B tells only its own clients; node A's stay put.
    await b.stop();
    await bob.socket.waitFor('shutdown');
    const graced = await ann.socket.waitFor<RosterMsg>(
      'roster',
      (r) => r.members.find((m) => m.id === 2)?.state === 'grace',
    );
    expect(graced.members.find((m) => m.id === 1)?.state).toBe('connected');
    const back = await player(a, 'alpha', 'Bob', bob.joined.token);
    expect(back.joined).toMatchObject({ id: 2, resumed: true });
    expect(ann.socket.received('shutdown')).toEqual([]);
    expect(ann.socket.socket.connected).toBe(true);
  });

  it('survives a node killed mid-session: its players resume on the other node, the rest expire', async () => {
    const [a, b] = await startNodes(2, 'cluster2:');
    if (!a || !b) throw new Error('nodes did not start');
    const ann = await player(a, 'crash', 'Ann');
    const bob = await player(b, 'crash', 'Bob');
    const cy = await player(b, 'crash', 'Cy');
    expect([ann, bob, cy].map((p) => p.joined.id)).toEqual([1, 2, 3]);

    await b.kill();
    await Promise.all([bob.socket.waitFor('disconnect'), cy.socket.waitFor('disconnect')]);

    // Bob comes back through node A with his token; Cy never does.
    const bob2 = await player(a, 'crash', 'Bob', bob.joined.token);
    expect(bob2.joined).toMatchObject({ id: 2, resumed: true, token: bob.joined.token });

    // The sweep on node A notices B is gone: Cy enters grace, then leaves.
    const graced = await ann.socket.waitFor<RosterMsg>(
      'roster',
      (r) => states(r) === '1:connected 2:connected 3:grace',
    );
    const settled = await ann.socket.waitFor<RosterMsg>(
      'roster',
      (r) => r.version > graced.version && states(r) === '1:connected 2:connected',
      10_000,
    );
    const versions = ann.socket.received<RosterMsg>('roster').map((r) => r.version);
    expect(versions).toEqual([...new Set(versions)].sort((x, y) => x - y));
    expect(await bob2.socket.waitFor<RosterMsg>('roster', (r) => r.version === settled.version)).toEqual(
      settled,
    );

    // The game goes on between the survivors, and the expired token is refused.
    expectOk(await ann.socket.raw('relay', { frames: [{ to: 2, data: 'next stage' }] }));
    expect(await bob2.socket.waitFor('relay')).toEqual({ from: 1, data: 'next stage' });
    expectOk(await bob2.socket.raw('signal', { to: 1, data: { candidate: 'c' } }));
    expect(await ann.socket.waitFor('signal')).toEqual({ from: 2, data: { candidate: 'c' } });
    const late = await connect(a.url);
    clients.push(late);
    expect(await late.join({ room: 'crash', name: 'Cy', token: cy.joined.token })).toMatchObject({
      ok: false,
      code: 'bad_token',
    });
    expect(expectOk(await late.join({ room: 'crash', name: 'Cy' })).id).toBe(4);
  });
});
