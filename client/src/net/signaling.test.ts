import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type ServerOptions, type Socket as ServerSocket } from 'socket.io';
import { afterEach, expect, test } from 'vitest';
import { LIMITS } from '../protocol/limits.ts';
import type { Fail, RosterMsg } from '../protocol/signaling.ts';
import { type SignalingHandlers, SocketSignaling, socketTarget } from './signaling.ts';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A socket.io server on a free port, closed after the test; `onConnection` is its whole behaviour. */
async function testServer(onConnection: (socket: ServerSocket) => void, options?: Partial<ServerOptions>) {
  const http = createServer();
  const io = new Server(http, options);
  io.on('connection', onConnection);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  closers.push(() => new Promise((r) => io.close(() => r(undefined))));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

/** A socket.io server that answers a join with `ack` and, on connection, says `events` in order. */
function hostileServer(events: [string, unknown][], ack: unknown) {
  return testServer((socket) => {
    socket.on('join', (_req, done) => done(ack));
    socket.on('leave', (_req, done) => done(null));
    for (const [event, payload] of events) socket.emit(event, payload);
  });
}

function recorder() {
  const seen: { kind: string; value: unknown }[] = [];
  let up: () => void = () => {};
  const connected = new Promise<void>((r) => {
    up = r;
  });
  const h: SignalingHandlers = {
    status: () => {},
    connected: () => up(),
    roster: (r) => seen.push({ kind: 'roster', value: r }),
    signal: (from, data) => seen.push({ kind: 'signal', value: { from, data } }),
    relay: (from, data) => seen.push({ kind: 'relay', value: { from, data } }),
    shutdown: (ms) => seen.push({ kind: 'shutdown', value: ms }),
    refused: (f) => seen.push({ kind: 'refused', value: f }),
    removed: (reason) => seen.push({ kind: 'removed', value: reason }),
    malformed: (problem) => seen.push({ kind: 'malformed', value: problem }),
  };
  return { h, seen, connected };
}

const roster: RosterMsg = {
  room: 'r',
  version: 3,
  members: [{ id: 1, name: 'Ann', state: 'connected' }],
  removed: [],
  issued: 1,
};

test('what a server sends that the contract does not allow is dropped and reported, never thrown', async () => {
  const url = await hostileServer(
    [
      ['roster', { ...roster, members: 'everyone' }],
      ['roster', { ...roster, members: [{ id: -1, name: 'x', state: 'connected' }] }],
      ['roster', null],
      ['signal', { from: '1', data: {} }],
      ['relay', { from: 2, data: { not: 'a string' } }],
      ['shutdown', { reconnectInMs: 'soon' }],
      ['refused', 'no'],
      ['roster', roster],
      ['signal', { from: 2, data: { e: 'x', d: 1 } }],
      ['relay', { from: 2, data: 'hi' }],
      ['shutdown', { reconnectInMs: 1000 }],
    ],
    { ok: true, id: 'one' },
  );
  const port = new SocketSignaling(url);
  closers.push(() => port.close());
  const { h, seen, connected } = recorder();
  port.start(h);
  await connected;
  await expect.poll(() => seen.length).toBe(11);
  expect(seen.filter((s) => s.kind !== 'malformed')).toEqual([
    { kind: 'roster', value: roster },
    { kind: 'signal', value: { from: 2, data: { e: 'x', d: 1 } } },
    { kind: 'relay', value: { from: 2, data: 'hi' } },
    { kind: 'shutdown', value: 1000 },
  ]);
  expect(seen.filter((s) => s.kind === 'malformed').map((s) => s.value)).toEqual([
    'roster: members must be an array',
    'roster: members[0].id must be a positive player ID',
    'roster: roster must be an object',
    'signal: from must be a player ID (a number)',
    'relay: data must be a string',
    'shutdown: reconnectInMs must be a number',
    'refused: refused must be an object',
  ]);
  // A join answered with junk is a failed join that says why, and the next step may retry it.
  const joined = await port.join({ room: 'r', name: 'Ann' });
  expect(joined.ok).toBe(false);
  expect((joined as Fail).code).toBe('internal_error');
  expect((joined as Fail).error).toMatch(/^join: the server's answer is malformed: id must be/);
  // An ack that is not even an object is a failure too, not a TypeError.
  expect(await port.leave()).toMatchObject({ ok: false, code: 'internal_error' });
});

test('a malformed answer is described in a sentence of our length, not the sender’s', async () => {
  const huge = 'k'.repeat(100_000);
  const url = await hostileServer([], {
    ok: true,
    id: 1,
    token: 'a'.repeat(32),
    resumed: false,
    settings: { heartbeatMs: 250, timeoutMs: 1500, stages: ['A'], [huge]: 1 },
    roster,
    iceServers: [],
    graceMs: 1000,
    incarnation: 'abcdefgh',
  });
  const port = new SocketSignaling(url);
  closers.push(() => port.close());
  const { h, connected } = recorder();
  port.start(h);
  await connected;
  const joined = await port.join({ room: 'r', name: 'Ann' });
  expect(joined.ok).toBe(false);
  expect((joined as Fail).error).toMatch(/settings has unknown field\(s\) "k{40}…"$/);
  expect((joined as Fail).error.length).toBeLessThan(200);
});

test('a player ID past the core’s bound, or an ICE server a browser refuses, is malformed from the server', async () => {
  const { joinedSchema, rosterSchema } = await import('../protocol/signaling.ts');
  const { LIMITS } = await import('../protocol/limits.ts');
  const v = await import('valibot');
  const big = LIMITS.playerId.max + 5;
  const roster = {
    room: 'r',
    version: 1,
    members: [{ id: big, name: 'x', state: 'connected' }],
    removed: [],
    issued: 1,
  };
  expect(v.safeParse(rosterSchema, roster).success).toBe(false);
  const ok = { ...roster, members: [{ id: 3, name: 'x', state: 'connected' }] };
  expect(v.safeParse(rosterSchema, ok).success).toBe(true);
  const joined = {
    id: big,
    token: 'A'.repeat(32),
    resumed: false,
    incarnation: 'incarnation1',
    settings: { heartbeatMs: 250, timeoutMs: 1500, stages: ['a', 'b'] },
    roster: ok,
    iceServers: [],
    graceMs: 1000,
  };
  expect(v.safeParse(joinedSchema, joined).success).toBe(false);
  expect(v.safeParse(joinedSchema, { ...joined, id: 3 }).success).toBe(true);
  // ICE servers a browser would refuse: every link would fail and still spend the tab's connections.
  for (const iceServers of [[{ urls: 'http://evil.example' }], [{ urls: ['stun:ok', 'turn:x:3478'] }]]) {
    const r = v.safeParse(joinedSchema, { ...joined, id: 3, iceServers });
    expect(r.success).toBe(false);
  }
  const turn = [{ urls: 'turns:x:5349', username: 'u', credential: 'c' }];
  expect(v.safeParse(joinedSchema, { ...joined, id: 3, iceServers: turn }).success).toBe(true);
});

test('a shutdown’s reconnectInMs is waited out before reconnecting, and capped', async () => {
  const connections: number[] = [];
  const url = await testServer((socket) => {
    connections.push(Date.now());
    if (connections.length === 1) {
      socket.emit('shutdown', { reconnectInMs: 3_000 });
      setTimeout(() => socket.disconnect(true), 20);
    } else if (connections.length === 2) {
      socket.emit('shutdown', { reconnectInMs: 3_600_000 });
    }
  });
  const port = new SocketSignaling(url);
  closers.push(() => port.close());
  const { h, seen } = recorder();
  port.start(h);
  const deadline = Date.now() + 12_000;
  while (connections.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  // Not the 1 s (and up to 0.5 s of jitter) a server disconnect otherwise gets: the server asked for 3 s.
  expect(connections[1]! - connections[0]!).toBeGreaterThanOrEqual(3_000);
  expect(seen.filter((s) => s.kind === 'shutdown').map((s) => s.value)).toEqual([3_000, 30_000]);
}, 20_000);

test('redial drops the connection and opens a new one after the wait (a new join budget)', async () => {
  const sockets: { id: string; at: number }[] = [];
  const url = await testServer((socket) => void sockets.push({ id: socket.id, at: Date.now() }));
  const port = new SocketSignaling(url);
  closers.push(() => port.close());
  const { h } = recorder();
  const statuses: string[] = [];
  h.status = (status) => void statuses.push(status);
  port.start(h);
  const until = async (n: number) => {
    const deadline = Date.now() + 8_000;
    while (sockets.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
  await until(1);
  port.redial(600);
  await until(2);
  // The server sees the connection before the client hears its handshake's answer.
  for (let i = 0; i < 250 && !port.connected; i++) await new Promise((r) => setTimeout(r, 20));
  expect(sockets).toHaveLength(2);
  expect(sockets[1]!.id).not.toBe(sockets[0]!.id);
  expect(sockets[1]!.at - sockets[0]!.at).toBeGreaterThanOrEqual(600);
  expect(port.connected).toBe(true);
  // Our own disconnect: never reported as the server gone.
  expect(statuses).toEqual(['connecting', 'up', 'connecting', 'up']);
}, 15_000);

test('the relays of one turn go as batches within the contract’s bounds, in order', async () => {
  const batches: { to: number; data: string }[][] = [];
  const url = await testServer((socket) => {
    socket.on('relay', (req: { frames: { to: number; data: string }[] }, done: (r: unknown) => void) => {
      batches.push(req.frames);
      done({ ok: true });
    });
  });
  const port = new SocketSignaling(url);
  closers.push(() => port.close());
  expect(port.relay(2, 'before')).toBe(false);
  const { h, connected } = recorder();
  port.start(h);
  await connected;

  const { frames: most, bytes } = LIMITS.relayBatch;
  for (let i = 0; i < most + 3; i++) expect(port.relay(2, `f${i}`)).toBe(true);
  // Two frames that would make one batch too large: 'é' is two bytes in UTF-8.
  const half = 'é'.repeat(bytes / 4 + 1);
  port.relay(3, half);
  port.relay(3, half);
  await new Promise((r) => setTimeout(r, 0));
  port.relay(4, 'next turn');
  const sent = () => batches.flat().length;
  for (let i = 0; i < 100 && sent() < most + 6; i++) await new Promise((r) => setTimeout(r, 20));

  expect(batches.map((b) => b.length)).toEqual([most, 4, 1, 1]);
  expect(
    batches
      .flat()
      .slice(0, most + 3)
      .map((f) => f.data),
  ).toEqual(Array.from({ length: most + 3 }, (_, i) => `f${i}`));
  expect(batches[1]?.slice(3)).toEqual([{ to: 3, data: half }]);
  expect(batches[2]).toEqual([{ to: 3, data: half }]);
  expect(batches[3]).toEqual([{ to: 4, data: 'next turn' }]);
});

test('it connects over a websocket only: a server without websockets is retried, never polled', async () => {
  // Browser builds bundle engine.io's websocket transport alone (net/shims/browserBuild.ts): no fallback may
  // need another.
  const via: string[] = [];
  const seen = (socket: ServerSocket) => via.push(socket.conn.transport.name);
  const port = new SocketSignaling(await testServer(seen, { transports: ['polling', 'websocket'] }));
  closers.push(() => port.close());
  const { h, connected } = recorder();
  port.start(h);
  await connected;
  expect(via).toEqual(['websocket']);

  const port2 = new SocketSignaling(await testServer(seen, { transports: ['polling'] }));
  closers.push(() => port2.close());
  const statuses: string[] = [];
  port2.start({ ...recorder().h, status: (s, detail) => statuses.push(`${s} ${detail ?? ''}`.trim()) });
  await expect
    .poll(() => statuses.filter((s) => s.startsWith('down')).length, { timeout: 5_000 })
    .toBeGreaterThan(1);
  expect(via).toEqual(['websocket']);
});

test('relays asked for before another event, or before close, reach the server first', async () => {
  const order: string[] = [];
  const url = await testServer((socket) => {
    socket.onAny((event: string, req: { frames?: { data: string }[] }, done?: (r: unknown) => void) => {
      order.push(req.frames ? `relay ${req.frames.map((f) => f.data).join(',')}` : event);
      done?.({ ok: true });
    });
  });
  const port = new SocketSignaling(url);
  const { h, connected } = recorder();
  port.start(h);
  await connected;

  port.relay(2, 'bye');
  const left = port.leave();
  port.relay(3, 'then');
  await left;
  port.relay(2, 'last');
  port.close();
  for (let i = 0; i < 100 && order.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
  expect(order).toEqual(['relay bye', 'leave', 'relay then', 'relay last']);
});

test('a server URL with a path reaches a server a proxy serves under that prefix, not a namespace', async () => {
  const url = await testServer(() => {}, { path: '/games/lockstep/socket.io' });
  const port = new SocketSignaling(`${url}/games/lockstep/`);
  closers.push(() => port.close());
  const { h, connected } = recorder();
  port.start(h);
  await connected;
  expect(port.connected).toBe(true);
  expect(socketTarget('https://x.example/a/b?q=1')).toEqual({
    uri: 'https://x.example/?q=1',
    path: '/a/b/socket.io',
  });
  expect(socketTarget('https://x.example/')).toEqual({ uri: 'https://x.example/' });
});
