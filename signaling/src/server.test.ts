import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { LIMITS, PROTOCOL_VERSION } from '../../client/src/protocol/limits.ts';
import type { ErrorCode, Fail, Joined, RosterMsg } from '../../client/src/protocol/signaling.ts';
import { ConnectionLimiter } from './rateLimit.ts';
import { MemoryRoomStore, newResumeToken } from './rooms.ts';
import type { SignalingOptions } from './server.ts';
import {
  connect,
  connectUnchecked,
  expectOk,
  type RecordingClient,
  startServer,
  type TestServer,
} from './testing.ts';

const ERROR_CODES: ErrorCode[] = [
  'bad_request',
  'unknown_event',
  'rate_limited',
  'room_full',
  'bad_token',
  'not_joined',
  'already_joined',
  'not_in_room',
  'too_large',
  'too_many_joins',
  'shutting_down',
  'replaced',
  'internal_error',
  'bad_password',
  'address_limit',
  'capacity',
  'not_owner',
  'removed',
];

let servers: TestServer[] = [];
let clients: RecordingClient[] = [];

afterEach(async () => {
  // Whatever the server said, the browser's client would have taken (protocol/signaling.ts).
  expect(clients.flatMap((c) => c.malformed)).toEqual([]);
  for (const client of clients) client.close();
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
  clients = [];
});

async function serve(options: SignalingOptions = {}) {
  const server = await startServer(options);
  servers.push(server);
  return server;
}

async function client(server: TestServer, options: Parameters<typeof connect>[1] = {}) {
  const socket = await connect(server.url, options);
  clients.push(socket);
  return socket;
}

async function member(
  server: TestServer,
  room: string,
  name: string,
  extra: Partial<Joined['settings']> = {},
) {
  const socket = await client(server);
  const joined = expectOk(
    await socket.join({ room, name, ...(Object.keys(extra).length ? { settings: extra } : {}) }),
  );
  return { socket, joined };
}

const ids = (roster: RosterMsg) => roster.members.map((m) => m.id);

describe('joining', () => {
  it('after a start, holds newcomers back so a returning tab recreates its room (and its incarnation) first', async () => {
    const server = await serve({ restartHoldMs: 1_500 });
    const newcomer = await client(server);
    const returning = await client(server);
    // The newcomer asks first; the tab that was playing before the restart reconnects a moment later.
    // A newcomer's floor is its word alone: not taken.
    const first = newcomer.join({ room: 'back', name: 'New', floor: 1_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const back = expectOk(
      await returning.join({ room: 'back', name: 'Old', floor: 4, incarnation: 'theOldRoom01' }),
    );
    const late = expectOk(await first);
    // Past the IDs it may not have heard of (FORGOTTEN_ID_GAP).
    expect(back).toMatchObject({ id: 1005, incarnation: 'theOldRoom01' });
    expect(late).toMatchObject({ id: 1006, incarnation: 'theOldRoom01' });
    // Nor when it creates a room.
    const fresh = expectOk(await (await client(server)).join({ room: 'fresh', name: 'N', floor: 1_000 }));
    expect(fresh).toMatchObject({ id: 1, roster: { issued: 1 } });
  });

  it('makes no player of a joiner that gave up while held: the next one opens the room as player 1', async () => {
    const server = await serve({ restartHoldMs: 800 });
    const quitter = await client(server);
    // It gives up: its join is never answered.
    const given = quitter.join({ room: 'held', name: 'Quitter' }).catch((err: Error) => err.message);
    await new Promise((resolve) => setTimeout(resolve, 100));
    quitter.close();
    expect(await given).toMatch(/disconnected/);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const next = expectOk(await (await client(server)).join({ room: 'held', name: 'Next' }));
    expect(next).toMatchObject({ id: 1, roster: { members: [{ id: 1, name: 'Next' }] } });
    expect(await server.handle.store.stats()).toEqual({ rooms: 1, connected: 1, grace: 0 });
  });

  it('with ROOM_SECRET, only an incarnation this server minted recreates a forgotten room; a made-up one waits as a newcomer', async () => {
    const roomSecret = 'a-test-secret-of-24-chars';
    const before = await serve({ roomSecret });
    const old = expectOk(await (await client(before)).join({ room: 'kept', name: 'Old' }));
    expect(old.incarnation).toMatch(/^[A-Za-z0-9_-]{28}$/);
    // The server restarts (a new process with the same secret): it remembers no room.
    const after = await serve({ roomSecret, restartHoldMs: 1_500 });
    const liar = await client(after);
    const returning = await client(after);
    const started = Date.now();
    const forged = liar.join({ room: 'kept', name: 'Liar', floor: 0, incarnation: 'madeUpIncarnation123' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const back = expectOk(
      await returning.join({ room: 'kept', name: 'Old', floor: old.id, incarnation: old.incarnation }),
    );
    const late = expectOk(await forged);
    expect(back).toMatchObject({ id: old.id + 1_001, incarnation: old.incarnation });
    // Held back like any newcomer, and given the room the returning tab recreated.
    expect(late).toMatchObject({ id: old.id + 1_002, incarnation: old.incarnation });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    // Another room's genuine incarnation is no key to this one.
    const other = expectOk(await (await client(before)).join({ room: 'other', name: 'O' }));
    const moved = expectOk(
      await (await client(after)).join({ room: 'fresh', name: 'M', incarnation: other.incarnation }),
    );
    expect(moved.incarnation).not.toBe(other.incarnation);
  });

  it('gives IDs 1, 2, 3 in join order, per room, with the creator settings and the server config', async () => {
    const server = await serve({
      graceMs: 1234,
      iceServers: [{ urls: 'turn:turn.example:3478', username: 'u', credential: 'c' }],
    });
    const a = await member(server, 'alpha', 'Ann', {
      heartbeatMs: 100,
      timeoutMs: 400,
      stages: ['One', 'Two'],
    });
    const b = await member(server, 'alpha', 'Bob', { heartbeatMs: 1000, timeoutMs: 5000 });
    const c = await member(server, 'alpha', 'Cy');
    const other = await member(server, 'beta', 'Dee');

    expect([a, b, c].map((m) => m.joined.id)).toEqual([1, 2, 3]);
    expect(other.joined.id).toBe(1);
    for (const m of [a, b, c]) {
      expect(m.joined.settings).toEqual({ heartbeatMs: 100, timeoutMs: 400, stages: ['One', 'Two'] });
      expect(m.joined).toMatchObject({ resumed: false, graceMs: 1234 });
      expect(m.joined.iceServers).toEqual([
        { urls: 'turn:turn.example:3478', username: 'u', credential: 'c' },
      ]);
      expect(m.joined.token).toHaveLength(LIMITS.token.length);
    }
    expect(new Set([a, b, c].map((m) => m.joined.token)).size).toBe(3);
    expect(other.joined.settings).toEqual({
      heartbeatMs: LIMITS.heartbeatMs.default,
      timeoutMs: LIMITS.timeoutMs.default,
      stages: ['Lobby', 'Round 1', 'Round 2', 'Round 3', 'Finished'],
    });
    expect(ids(c.joined.roster)).toEqual([1, 2, 3]);
  });

  it('refuses a second join on the same connection and caps joins per connection', async () => {
    const server = await serve({ maxJoinsPerSocket: 2 });
    const socket = await client(server);
    expectOk(await socket.join({ room: 'one', name: 'A' }));
    expect(await socket.join({ room: 'two', name: 'A' })).toMatchObject({
      ok: false,
      code: 'already_joined',
    });
    expectOk(await socket.raw('leave', {}));
    expectOk(await socket.join({ room: 'two', name: 'A' }));
    expectOk(await socket.raw('leave', {}));
    const third = await socket.join({ room: 'three', name: 'A' });
    expect(third).toMatchObject({ ok: false, code: 'too_many_joins' });
  });

  it('strips control and bidi characters from names', async () => {
    const server = await serve();
    const { joined } = await member(server, 'names', 'A\u0000l\u0007i\u202Ece\n  Smith\u200B');
    expect(joined.roster.members[0]?.name).toBe('Alice Smith');
  });

  it('caps members per room, counting members in grace, and frees the slot on leave', async () => {
    const server = await serve({ maxMembers: 3 });
    const a = await member(server, 'small', 'A');
    const b = await member(server, 'small', 'B');
    const x = await member(server, 'small', 'X');
    x.socket.close();
    await a.socket.waitFor<RosterMsg>('roster', (r) => r.members.some((m) => m.state === 'grace'));
    const late = await client(server);
    const full = await late.join({ room: 'small', name: 'C' });
    expect(full).toMatchObject({ ok: false, code: 'room_full' });
    expect((full as Fail).error).toMatch(/full/);
    expectOk(await b.socket.raw('leave', {}));
    expect(expectOk(await late.join({ room: 'small', name: 'C' })).id).toBe(4);
  });
});

describe('roster', () => {
  it('is pushed to the room on every change with a strictly growing version', async () => {
    const server = await serve();
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    await a.socket.waitFor<RosterMsg>('roster', (r) => ids(r).join() === '1,2');
    const c = await member(server, 'r', 'C');
    await b.socket.waitFor<RosterMsg>('roster', (r) => ids(r).join() === '1,2,3');
    expectOk(await c.socket.raw('leave', {}));
    const afterLeave = await a.socket.waitFor<RosterMsg>(
      'roster',
      (r) => r.version > c.joined.roster.version && ids(r).join() === '1,2',
    );
    b.socket.close();
    const graced = await a.socket.waitFor<RosterMsg>('roster', (r) => r.members[1]?.state === 'grace');

    expect(afterLeave.version).toBeGreaterThan(c.joined.roster.version);
    expect(graced.members[1]?.graceUntil).toBeGreaterThan(Date.now());
    const versions = a.socket.received<RosterMsg>('roster').map((r) => r.version);
    expect(versions.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1] ?? 0);
    expect(a.socket.received<RosterMsg>('roster').every((r) => r.room === 'r')).toBe(true);
  });

  it('sends a burst of joins to each member as one push of the newest roster, not one per joiner', async () => {
    const server = await serve();
    const a = await member(server, 'r', 'A');
    const joiners = await Promise.all(Array.from({ length: 30 }, () => client(server)));
    // Sent in one go (the server runs in this thread, so it reads them all in one turn).
    const joined = await Promise.all(joiners.map((j, i) => j.join({ room: 'r', name: `J${i}` })));
    expect(joined.every((j) => j.ok)).toBe(true);
    const last = await a.socket.waitFor<RosterMsg>('roster', (r) => r.members.length === 31);
    await new Promise((r) => setTimeout(r, 100));
    const pushes = a.socket.received<RosterMsg>('roster');
    expect(pushes.length).toBeLessThan(5);
    expect(pushes.at(-1)).toEqual(last);
    // A joiner is not sent the roster its ack carried, only newer ones.
    for (const [i, j] of joiners.entries()) {
      const ack = joined[i];
      const seen = j.received<RosterMsg>('roster').map((r) => r.version);
      if (ack?.ok) expect(seen.every((v) => v > ack.roster.version)).toBe(true);
    }
  });
});

describe('sessions', () => {
  it('resumes the same ID within grace', async () => {
    const server = await serve({ graceMs: 10_000 });
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    b.socket.close();
    await a.socket.waitFor<RosterMsg>('roster', (r) => r.members[1]?.state === 'grace');

    const back = await client(server);
    const resumed = expectOk(await back.join({ room: 'r', name: 'B', token: b.joined.token }));
    expect(resumed).toMatchObject({ id: 2, resumed: true, token: b.joined.token });
    const roster = await a.socket.waitFor<RosterMsg>('roster', (r) => r.members[1]?.state === 'connected');
    expect(roster.members).toEqual([
      { id: 1, name: 'A', state: 'connected' },
      { id: 2, name: 'B', state: 'connected' },
    ]);
  });

  it('ends the session after grace: the token is refused and a fresh join gets a higher ID', async () => {
    const server = await serve({ graceMs: 200 });
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    b.socket.close();
    await a.socket.waitFor<RosterMsg>(
      'roster',
      (r) => r.members.length === 2 && r.members[1]?.state === 'grace',
    );
    await a.socket.waitFor<RosterMsg>('roster', (r) => ids(r).join() === '1');

    const back = await client(server);
    const refused = await back.join({ room: 'r', name: 'B', token: b.joined.token });
    expect(refused).toMatchObject({ ok: false, code: 'bad_token' });
    const fresh = expectOk(await back.join({ room: 'r', name: 'B' }));
    expect(fresh.id).toBe(3);
    expect(ids(fresh.roster)).toEqual([1, 3]);
  });

  it('refuses a wrong token, even a well-formed one', async () => {
    const server = await serve();
    await member(server, 'r', 'A');
    const intruder = await client(server);
    expect(await intruder.join({ room: 'r', name: 'X', token: newResumeToken() })).toMatchObject({
      ok: false,
      code: 'bad_token',
    });
    expect(await intruder.join({ room: 'r', name: 'X', token: 'short' })).toMatchObject({
      ok: false,
      code: 'bad_request',
    });
  });

  it('moves a live session to the new connection and tells the old one why it was cut off', async () => {
    const server = await serve();
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    const twin = await client(server);
    expect(expectOk(await twin.join({ room: 'r', name: 'B', token: b.joined.token })).id).toBe(2);
    const notice = await b.socket.waitFor<Fail>('refused');
    expect(notice.code).toBe('replaced');
    expect(await b.socket.waitFor('disconnect')).toBe('io server disconnect');

    // The replaced socket's disconnect must not put the session into grace.
    expectOk(await twin.raw('relay', { frames: [{ to: 1, data: 'still here' }] }));
    expect((await a.socket.waitFor<{ from: number; data: string }>('relay')).from).toBe(2);
    expect(
      a.socket.received<RosterMsg>('roster').some((r) => r.members.some((m) => m.state === 'grace')),
    ).toBe(false);
  });

  it('makes no player, connected or in grace, of a joiner that closed before its join was answered', async () => {
    // A slow store (Redis under load): the joiner is gone by the time its join is taken.
    const store = new MemoryRoomStore({ graceMs: 60_000, maxMembers: 50 });
    const join = store.join.bind(store);
    store.join = async (input) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return join(input);
    };
    const server = await serve({ graceMs: 60_000, store });
    await member(server, 'r', 'A');
    const hasty = await client(server);
    hasty.socket.emit('join', { v: PROTOCOL_VERSION, room: 'r', name: 'Hasty' }, () => {});
    await new Promise((resolve) => setTimeout(resolve, 100));
    hasty.close();
    // It never learnt its ID, so it cannot resume: in grace it would only be a voter nobody can reach.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await server.handle.store.stats()).toEqual({ rooms: 1, connected: 1, grace: 0 });
    const next = expectOk(await (await client(server)).join({ room: 'r', name: 'Next' }));
    expect(next.roster.members.map((m) => m.name)).toEqual(['A', 'Next']);
  });

  it('reopens a room whose players said goodbye as a new one, and keeps one whose players vanished', async () => {
    const server = await serve({ graceMs: 300 });
    // Closed tabs: each said goodbye (pagehide), then its socket went.
    const gone = [await member(server, 'closed', 'A'), await member(server, 'closed', 'B')];
    for (const p of gone) expectOk(await p.socket.raw('bye', {}));
    for (const p of gone) p.socket.close();
    // Vanished tabs (asleep, or cut off from us but maybe not from each other): no goodbye.
    const lost = [await member(server, 'cut', 'A'), await member(server, 'cut', 'B')];
    for (const p of lost) p.socket.close();
    // A closing tab that still heard players we no longer list: its goodbye does not give the room up.
    const vouching = await member(server, 'vouched', 'A');
    expectOk(await vouching.socket.raw('bye', { unlisted: true }));
    vouching.socket.close();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await server.handle.store.stats()).toEqual({ rooms: 0, connected: 0, grace: 0 });
    const reopened = expectOk(await (await client(server)).join({ room: 'closed', name: 'C' }));
    expect(reopened.id).toBe(1);
    expect(reopened.incarnation).not.toBe(gone[0]!.joined.incarnation);
    // Theirs still: a newcomer waits outside (a transient refusal the client retries).
    for (const room of ['cut', 'vouched'])
      expect(await (await client(server)).join({ room, name: 'C' })).toMatchObject({
        ok: false,
        code: 'rate_limited',
        error: expect.stringContaining('waits for its players, who lost the server'),
      });
    // It may ask again and again on one connection: those tries do not count against its joins (20).
    const patient = await client(server);
    for (let i = 0; i < 25; i++)
      expect(await patient.join({ room: 'cut', name: 'P' })).toMatchObject({ code: 'rate_limited' });
    // One of theirs is back: the room goes on.
    const back = expectOk(
      await (await client(server)).join({ room: 'cut', name: 'A', incarnation: lost[0]!.joined.incarnation }),
    );
    expect(back).toMatchObject({ id: 3, incarnation: lost[0]!.joined.incarnation });
    // A goodbye before joining is refused; so is one with a payload.
    const stranger = await client(server);
    expect(await stranger.raw('bye', {})).toMatchObject({ ok: false, code: 'not_joined' });
    expect(await stranger.raw('bye', { x: 1 })).toMatchObject({ ok: false, code: 'bad_request' });
    expect(await stranger.raw('bye', { unlisted: false })).toMatchObject({ ok: false, code: 'bad_request' });
  });

  it('keeps a vanished room for reopenProtectMs, and then lets a newcomer open it anew', async () => {
    const server = await serve({ graceMs: 200, reopenProtectMs: 3_000 });
    const lost = await member(server, 'kept', 'A');
    const closed = Date.now();
    lost.socket.close();
    await new Promise((resolve) => setTimeout(resolve, 700));
    const newcomer = await client(server);
    expect(await newcomer.join({ room: 'kept', name: 'B' })).toMatchObject({ code: 'rate_limited' });
    // Asked again until it opens: not before its grace and the protection have run, then as a new room.
    let fresh = await newcomer.join({ room: 'kept', name: 'B' });
    while (!fresh.ok && Date.now() - closed < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      fresh = await newcomer.join({ room: 'kept', name: 'B' });
    }
    expect(Date.now() - closed).toBeGreaterThanOrEqual(3_000);
    expect(expectOk(fresh)).toMatchObject({ id: 1 });
    expect(expectOk(fresh).incarnation).not.toBe(lost.joined.incarnation);
  });

  it('removes a member at once on leave', async () => {
    const server = await serve({ graceMs: 60_000 });
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    expectOk(await b.socket.raw('leave', {}));
    const roster = await a.socket.waitFor<RosterMsg>('roster', (r) => ids(r).join() === '1');
    expect(roster.members[0]?.state).toBe('connected');
    expect(await b.socket.raw('relay', { frames: [{ to: 1, data: 'x' }] })).toMatchObject({
      ok: false,
      code: 'not_joined',
    });
    expect(await b.socket.raw('leave', {})).toMatchObject({ ok: false, code: 'not_joined' });
    expect(await b.socket.join({ room: 'r', name: 'B', token: b.joined.token })).toMatchObject({
      code: 'bad_token',
    });

    expectOk(await a.socket.raw('leave'));
    expect(await server.handle.store.stats()).toEqual({ rooms: 0, connected: 0, grace: 0 });
    // Everyone left: the next one to open it starts a new room.
    const again = expectOk(await b.socket.join({ room: 'r', name: 'B' }));
    expect(again.id).toBe(1);
    expect(again.incarnation).not.toBe(a.joined.incarnation);
  });
});

describe('signal and relay', () => {
  it('forward only inside the sender room, unread, and refuse other targets', async () => {
    const server = await serve();
    const a1 = await member(server, 'A', 'a1');
    const a2 = await member(server, 'A', 'a2');
    const b1 = await member(server, 'B', 'b1');
    const b2 = await member(server, 'B', 'b2');
    const outsider = await client(server);

    const sdp = { type: 'offer', sdp: 'v=0\r\n…', nested: { any: ['thing', 1, null] } };
    expectOk(await a1.socket.raw('signal', { to: 2, data: sdp }));
    expectOk(await a1.socket.raw('relay', { frames: [{ to: 2, data: '{"hb":1}' }] }));
    expect(await a2.socket.waitFor('signal')).toEqual({ from: 1, data: sdp });
    expect(await a2.socket.waitFor('relay')).toEqual({ from: 1, data: '{"hb":1}' });

    expect(await a1.socket.raw('relay', { frames: [{ to: 3, data: 'x' }] })).toMatchObject({
      ok: false,
      code: 'not_in_room',
    });
    expect(await a1.socket.raw('signal', { to: 9, data: {} })).toMatchObject({
      ok: false,
      code: 'not_in_room',
    });
    expect(await a1.socket.raw('relay', { frames: [{ to: 1, data: 'me' }] })).toMatchObject({
      ok: false,
      code: 'bad_request',
    });
    expect(await outsider.raw('relay', { frames: [{ to: 1, data: 'x' }] })).toMatchObject({
      ok: false,
      code: 'not_joined',
    });
    expect(await outsider.raw('signal', { to: 2, data: {} })).toMatchObject({
      ok: false,
      code: 'not_joined',
    });

    // Room B's member 2 must have seen only room B's traffic: a sentinel proves everything earlier arrived.
    expectOk(await b1.socket.raw('relay', { frames: [{ to: 2, data: 'sentinel' }] }));
    await b2.socket.waitFor('relay', (m: { data: string }) => m.data === 'sentinel');
    expect(b2.socket.received('relay')).toEqual([{ from: 1, data: 'sentinel' }]);
    expect(b2.socket.received('signal')).toEqual([]);
    expect(a1.socket.received('relay')).toEqual([]);

    const metrics = await server.handle.metrics();
    expect(metrics).toMatch(/lockstep_relayed_bytes_total\{kind="relay"\} 16\b/);
    expect(metrics).toMatch(
      new RegExp(
        `lockstep_relayed_bytes_total\\{kind="signal"\\} ${Buffer.byteLength(JSON.stringify(sdp))}\\b`,
      ),
    );
  });

  it('refuses a member in grace and payloads over the size cap', async () => {
    const server = await serve();
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    const big = 'x'.repeat(LIMITS.payloadBytes + 1);
    expect(await a.socket.raw('relay', { frames: [{ to: 2, data: big }] })).toMatchObject({
      ok: false,
      code: 'too_large',
    });
    expect(await a.socket.raw('signal', { to: 2, data: { sdp: big } })).toMatchObject({
      ok: false,
      code: 'too_large',
    });
    expectOk(await a.socket.raw('relay', { frames: [{ to: 2, data: 'y'.repeat(LIMITS.payloadBytes) }] }));
    b.socket.close();
    await a.socket.waitFor<RosterMsg>('roster', (r) => r.members[1]?.state === 'grace');
    const toGrace = await a.socket.raw('relay', { frames: [{ to: 2, data: 'x' }] });
    expect(toGrace).toMatchObject({ ok: false, code: 'not_in_room' });
    expect((toGrace as Fail).error).toMatch(/grace/);
  });
});

describe('relay batches', () => {
  it('forward each frame of a batch to its own target, in order, and count every byte', async () => {
    const server = await serve();
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    const c = await member(server, 'r', 'C');
    const frames = [
      { to: 2, data: 'b1' },
      { to: 3, data: 'c1' },
      { to: 2, data: 'b2' },
      { to: 3, data: 'ç2' },
    ];
    expectOk(await a.socket.raw('relay', { frames }));
    await b.socket.waitFor('relay', (m: { data: string }) => m.data === 'b2');
    await c.socket.waitFor('relay', (m: { data: string }) => m.data === 'ç2');
    expect(b.socket.received('relay')).toEqual([
      { from: 1, data: 'b1' },
      { from: 1, data: 'b2' },
    ]);
    expect(c.socket.received('relay')).toEqual([
      { from: 1, data: 'c1' },
      { from: 1, data: 'ç2' },
    ]);
    // 'ç' is two bytes in UTF-8.
    expect(await server.handle.metrics()).toMatch(/lockstep_relayed_bytes_total\{kind="relay"\} 9\b/);
  });

  it('deliver the rest of a batch when one target is gone, and name it', async () => {
    const server = await serve({ graceMs: 60_000 });
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    const c = await member(server, 'r', 'C');
    c.socket.close();
    await a.socket.waitFor<RosterMsg>('roster', (r) => r.members[2]?.state === 'grace');
    const res = await a.socket.raw('relay', {
      frames: [
        { to: 9, data: 'nobody' },
        { to: 2, data: 'b' },
        { to: 3, data: 'graced' },
      ],
    });
    expect(res).toMatchObject({ ok: false, code: 'not_in_room' });
    expect((res as Fail).error).toBe(
      'relay: player 9 is not a member of this room (the other frames were relayed)',
    );
    expect(await b.socket.waitFor('relay')).toEqual({ from: 1, data: 'b' });
  });

  it('refuse a batch whose data is over the cap in all, and relay none of it', async () => {
    const server = await serve();
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    const half = 'x'.repeat(LIMITS.relayBatch.bytes / 2);
    const res = await a.socket.raw('relay', {
      frames: [
        { to: 2, data: half },
        { to: 2, data: `${half}!` },
      ],
    });
    expect(res).toMatchObject({ ok: false, code: 'too_large' });
    expect((res as Fail).error).toMatch(/larger than 16384 bytes in all/);
    expectOk(await a.socket.raw('relay', { frames: [{ to: 2, data: 'after' }] }));
    expect(await b.socket.waitFor('relay')).toEqual({ from: 1, data: 'after' });
    expect(b.socket.received('relay')).toHaveLength(1);
  });

  it('charge every frame to the sender budget, not the event alone', async () => {
    const frozen = { now: () => 1_000 };
    // A join, one event of 10 frames and one of a single frame use up a burst of 12 exactly.
    const server = await serve({ clock: frozen, rateLimit: { perSecond: 1, burst: 12, strikes: 100 } });
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    const ten = Array.from({ length: 10 }, (_, i) => ({ to: 2, data: `f${i}` }));
    expectOk(await a.socket.raw('relay', { frames: ten }));
    expectOk(await a.socket.raw('relay', { frames: [{ to: 2, data: 'last' }] }));
    expect(await a.socket.raw('relay', { frames: [{ to: 2, data: 'over' }] })).toMatchObject({
      ok: false,
      code: 'rate_limited',
    });
    await b.socket.waitFor('relay', (m: { data: string }) => m.data === 'last');
    expect(b.socket.received('relay')).toHaveLength(11);
  });

  it('cut off a flood of batches once, however many were read before the cut', async () => {
    const frozen = { now: () => 1_000 };
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    const server = await serve({ clock: frozen, logger, rateLimit: { perSecond: 1, burst: 40, strikes: 2 } });
    const a = await member(server, 'r', 'A');
    await member(server, 'r', 'B');
    const full = Array.from({ length: LIMITS.relayBatch.frames }, () => ({ to: 2, data: 'x' }));
    for (let i = 0; i < 6; i++) a.socket.socket.emit('relay', { frames: full }, () => {});
    expect(await a.socket.waitFor('disconnect')).toBe('io server disconnect');
    await new Promise((r) => setTimeout(r, 200));
    expect(warnings.filter((w) => w.includes('rate limit exceeded; disconnecting'))).toHaveLength(1);
  });
});

describe('rate limiting', () => {
  it('answers a flood with rate_limited errors, then disconnects; the server keeps serving', async () => {
    const frozen = { now: () => 1_000 };
    const server = await serve({ clock: frozen, rateLimit: { perSecond: 1, burst: 5, strikes: 10 } });
    const flooder = await client(server);
    // Unknown events are answered synchronously, so every answer before the cut-off is certain to arrive.
    const replies = await Promise.allSettled(Array.from({ length: 30 }, () => flooder.raw('flood', {})));
    const codes = replies.map((r) => (r.status === 'fulfilled' && !r.value.ok ? r.value.code : r.status));
    expect(codes.slice(0, 5)).toEqual(Array(5).fill('unknown_event'));
    expect(codes.slice(5, 15)).toEqual(Array(10).fill('rate_limited'));
    expect(codes.slice(15)).toEqual(Array(15).fill('rejected'));
    expect(await flooder.waitFor('disconnect')).toBe('io server disconnect');

    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    const fresh = await client(server);
    expectOk(await fresh.join({ room: 'after', name: 'ok' }));
    expect(await server.handle.metrics()).toMatch(/lockstep_rejected_total\{reason="rate_limited"\} 10\b/);
  });
});

describe('protocol version', () => {
  it('refuses a join of another version with a reload message before it reads the rest', async () => {
    const server = await serve();
    const socket = await client(server);
    const older = await socket.raw('join', { room: 'v', name: 'Old' });
    expect(older).toMatchObject({ ok: false, code: 'outdated' });
    expect(older.ok ? '' : older.error).toMatch(/this room runs a newer Lockstep: reload the page/);
    // A newer build may send fields this server does not know: still "outdated", not "bad request".
    const newer = await socket.raw('join', { v: PROTOCOL_VERSION + 1, room: 'v', name: 'New', seat: 3 });
    expect(newer).toMatchObject({ ok: false, code: 'outdated' });
    expect(newer.ok ? '' : newer.error).toMatch(/server runs an older Lockstep/);
    // Neither joined: the same connection still joins with this version.
    expectOk(await socket.join({ room: 'v', name: 'Now' }));
  });
});

describe('hardening', () => {
  type Case = [label: string, event: string, payload: unknown[], code: ErrorCode, message: RegExp];
  // Just under the frame cut (MAX_HTTP_BUFFER_BYTES): a larger frame closes the connection unread.
  const huge = 'h'.repeat(16_000);
  const nested = (depth: number): unknown => (depth === 0 ? 'leaf' : { a: [nested(depth - 1), 1, null] });
  const joinCases: Case[] = [
    ['no payload', 'join', [], 'bad_request', /payload must be an object/],
    ['a number', 'join', [42], 'bad_request', /payload must be an object/],
    ['a string', 'join', ['room'], 'bad_request', /payload must be an object/],
    ['an array', 'join', [['r', 'n']], 'bad_request', /payload must be an object/],
    ['null', 'join', [null], 'bad_request', /payload must be an object/],
    ['two payloads', 'join', [{ room: 'r', name: 'n' }, 'extra'], 'bad_request', /one payload argument/],
    ['missing room', 'join', [{ name: 'n' }], 'bad_request', /room is required/],
    ['missing name', 'join', [{ room: 'r' }], 'bad_request', /name is required/],
    ['numeric room', 'join', [{ room: 5, name: 'n' }], 'bad_request', /room must be a string/],
    ['empty room', 'join', [{ room: '', name: 'n' }], 'bad_request', /room must not be empty/],
    ['room with a slash', 'join', [{ room: 'a/b', name: 'n' }], 'bad_request', /room may contain only/],
    ['room too long', 'join', [{ room: 'r'.repeat(65), name: 'n' }], 'bad_request', /room is too long/],
    ['name too long', 'join', [{ room: 'r', name: 'n'.repeat(33) }], 'bad_request', /name is too long/],
    ['huge name', 'join', [{ room: 'r', name: huge }], 'bad_request', /name is too long/],
    [
      'only control chars',
      'join',
      [{ room: 'r', name: '\u0000\u0007\u202E' }],
      'bad_request',
      /name must not be empty/,
    ],
    ['name object', 'join', [{ room: 'r', name: { toString: 'x' } }], 'bad_request', /name must be a string/],
    // Within the frame depth limit (MAX_FRAME_DEPTH); deeper frames close the connection (attack.test.ts).
    ['nested junk', 'join', [{ room: nested(6), name: 'n' }], 'bad_request', /room must be a string/],
    [
      'unknown field',
      'join',
      [{ room: 'r', name: 'n', admin: true }],
      'bad_request',
      /unknown field\(s\) "admin"/,
    ],
    ['token number', 'join', [{ room: 'r', name: 'n', token: 7 }], 'bad_request', /token must be a string/],
    [
      'incarnation with a slash',
      'join',
      [{ room: 'r', name: 'n', incarnation: 'aaaa/aaaa' }],
      'bad_request',
      /incarnation must be 8 to 32 URL-safe characters/,
    ],
    [
      'heartbeat as text',
      'join',
      [{ room: 'r', name: 'n', settings: { heartbeatMs: 'fast' } }],
      'bad_request',
      /settings\.heartbeatMs must be a number/,
    ],
    [
      'heartbeat too small',
      'join',
      [{ room: 'r', name: 'n', settings: { heartbeatMs: 10 } }],
      'bad_request',
      /settings\.heartbeatMs must be at least 50/,
    ],
    [
      'timeout too large',
      'join',
      [{ room: 'r', name: 'n', settings: { timeoutMs: 1e9 } }],
      'bad_request',
      /settings\.timeoutMs must be at most 60000/,
    ],
    [
      'fractional heartbeat',
      'join',
      [{ room: 'r', name: 'n', settings: { heartbeatMs: 100.5 } }],
      'bad_request',
      /whole number/,
    ],
    [
      'timeout under 3 heartbeats',
      'join',
      [{ room: 'r', name: 'n', settings: { heartbeatMs: 1000, timeoutMs: 2999 } }],
      'bad_request',
      /settings\.timeoutMs must be at least 3 × heartbeatMs/,
    ],
    [
      'default timeout under 3 heartbeats',
      'join',
      [{ room: 'r', name: 'n', settings: { heartbeatMs: 600 } }],
      'bad_request',
      /timeoutMs must be at least 3/,
    ],
    [
      'no stages',
      'join',
      [{ room: 'r', name: 'n', settings: { stages: [] } }],
      'bad_request',
      /at least 1 stage/,
    ],
    [
      'too many stages',
      'join',
      [{ room: 'r', name: 'n', settings: { stages: Array(101).fill('s') } }],
      'bad_request',
      /at most 100 stages/,
    ],
    [
      'thousands of blank stage names',
      'join',
      [{ room: 'r', name: 'n', settings: { stages: Array(3_000).fill('\u0000') } }],
      'bad_request',
      /^join: settings\.stages allows at most 100 stages$/,
    ],
    [
      'blank stage name',
      'join',
      [{ room: 'r', name: 'n', settings: { stages: ['ok', ' \u0000 '] } }],
      'bad_request',
      /settings\.stages\[1\] must not be empty/,
    ],
    [
      'settings array',
      'join',
      [{ room: 'r', name: 'n', settings: [1] }],
      'bad_request',
      /settings must be an object/,
    ],
    ['unknown event', 'hack', [{}], 'unknown_event', /unknown event "hack"; expected one of join, leave/],
    ['numeric event', '42', [{}], 'unknown_event', /unknown event "42"/],
    ['leave with junk', 'leave', [{ all: true }], 'bad_request', /unknown field/],
    ['leave unjoined', 'leave', [{}], 'not_joined', /has not joined/],
    ['relay unjoined', 'relay', [{ frames: [{ to: 1, data: 'x' }] }], 'not_joined', /join a room first/],
  ];

  it.each(joinCases)('answers %s with a clear error', async (_label, event, payload, code, message) => {
    const server = await serve();
    const socket = await client(server);
    const res = await socket.raw(event, ...payload);
    expect(res).toMatchObject({ ok: false, code });
    expect((res as Fail).error).toMatch(message);
    expect((res as Fail).error.length).toBeLessThan(200);
    expectOk(await socket.join({ room: 'still-fine', name: 'ok' }));
  });

  const joinedCases: Case[] = [
    [
      'relay to text',
      'relay',
      [{ frames: [{ to: 'two', data: 'x' }] }],
      'bad_request',
      /to must be a player ID/,
    ],
    ['relay to negative', 'relay', [{ frames: [{ to: -1, data: 'x' }] }], 'bad_request', /positive/],
    ['relay to fraction', 'relay', [{ frames: [{ to: 1.5, data: 'x' }] }], 'bad_request', /whole number/],
    ['relay without data', 'relay', [{ frames: [{ to: 2 }] }], 'bad_request', /data is required/],
    [
      'relay object data',
      'relay',
      [{ frames: [{ to: 2, data: { a: 1 } }] }],
      'bad_request',
      /data must be a string/,
    ],
    [
      'relay extra field',
      'relay',
      [{ frames: [{ to: 2, data: 'x', via: 3 }] }],
      'bad_request',
      /unknown field\(s\) "via"/,
    ],
    ['relay one frame unwrapped', 'relay', [{ to: 2, data: 'x' }], 'bad_request', /frames is required/],
    [
      'relay frames not a list',
      'relay',
      [{ frames: { to: 2, data: 'x' } }],
      'bad_request',
      /frames must be a list/,
    ],
    ['relay no frames', 'relay', [{ frames: [] }], 'bad_request', /at least one frame/],
    [
      'relay too many frames',
      'relay',
      [{ frames: Array.from({ length: LIMITS.relayBatch.frames + 1 }, () => ({ to: 2, data: 'x' })) }],
      'bad_request',
      /at most 32 frames/,
    ],
    [
      'relay thousands of empty frames',
      'relay',
      [{ frames: Array.from({ length: 10_000 }, () => ({})) }],
      'bad_request',
      /^relay: frames must hold at most 32 frames$/,
    ],
    [
      'relay a bad frame among good ones',
      'relay',
      [
        {
          frames: [
            { to: 2, data: 'x' },
            { to: 2, data: 7 },
          ],
        },
      ],
      'bad_request',
      /data must be a string/,
    ],
    [
      'relay to itself among others',
      'relay',
      [
        {
          frames: [
            { to: 2, data: 'x' },
            { to: 1, data: 'x' },
          ],
        },
      ],
      'bad_request',
      /cannot send to yourself/,
    ],
    ['signal without data', 'signal', [{ to: 2 }], 'bad_request', /data is required/],
    ['signal null data', 'signal', [{ to: 2, data: null }], 'bad_request', /data is required/],
    ['signal as string', 'signal', ['offer'], 'bad_request', /payload must be an object/],
    ['signal no payload', 'signal', [], 'bad_request', /payload must be an object/],
  ];

  it.each(joinedCases)(
    'answers a joined member sending %s with a clear error',
    async (...[, event, payload, code, message]) => {
      const server = await serve();
      const a = await member(server, 'r', 'A');
      const b = await member(server, 'r', 'B');
      const res = await a.socket.raw(event, ...payload);
      expect(res).toMatchObject({ ok: false, code });
      expect((res as Fail).error).toMatch(message);
      expectOk(await a.socket.raw('relay', { frames: [{ to: 2, data: 'after' }] }));
      expect(await b.socket.waitFor('relay')).toEqual({ from: 1, data: 'after' });
    },
  );

  it('reports refusals without an ack through the refused event', async () => {
    const server = await serve();
    const socket = await client(server);
    const untyped = socket.socket as unknown as { emit(event: string, ...args: unknown[]): void };
    untyped.emit('nope', { x: 1 });
    untyped.emit('join', { v: PROTOCOL_VERSION, room: 'r', name: 'n' });
    untyped.emit('relay', { frames: [{ to: 1, data: 'x' }] });
    const refused = await socket.waitFor<Fail>('refused', (f) => f.code === 'not_joined');
    const all = socket.received<Fail>('refused');
    expect(all.map((f) => f.code)).toEqual(['unknown_event', 'bad_request', 'not_joined']);
    expect(all[1]?.error).toMatch(/acknowledgement/);
    expect(refused.error).toMatch(/join a room first/);
    expect(await server.handle.store.stats()).toEqual({ rooms: 0, connected: 0, grace: 0 });
  });

  it('survives thousands of random events and payloads; afterwards /healthz answers and a room forms', async () => {
    const server = await serve({
      rateLimit: { perSecond: 1e6, burst: 1e6, strikes: 1e6 },
      maxJoinsPerSocket: 1e6,
    });
    const sockets = await Promise.all(Array.from({ length: 4 }, () => client(server)));
    let seed = 0x1234abcd;
    const random = () => {
      // xorshift32: deterministic, so a failure can be replayed.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const text = (max: number) =>
      Array.from({ length: Math.floor(random() * max) }, () =>
        String.fromCodePoint(Math.floor(random() * 0x2fff)),
      ).join('');
    const value = (depth: number): unknown => {
      switch (Math.floor(random() * (depth > 3 ? 6 : 9))) {
        case 0:
          return Math.floor(random() * 10);
        case 1:
          return random() * 1e12 - 5e11;
        case 2:
          return text(40);
        case 3:
          return pick([true, false, null, -0, Number.MAX_SAFE_INTEGER, 1e308]);
        case 4:
          return pick(['r', 'room-1', 'x'.repeat(65), '', newResumeToken()]);
        case 5:
          return 'y'.repeat(Math.floor(random() * 3_000));
        case 6:
          return Array.from({ length: Math.floor(random() * 5) }, () => value(depth + 1));
        default: {
          const keys = [
            'room',
            'name',
            'token',
            'settings',
            'to',
            'data',
            'heartbeatMs',
            'timeoutMs',
            'stages',
            text(8),
          ];
          return Object.fromEntries(
            Array.from({ length: Math.floor(random() * 5) }, () => [pick(keys), value(depth + 1)]),
          );
        }
      }
    };
    const events = [
      'join',
      'leave',
      'signal',
      'relay',
      'roster',
      'refused',
      'shutdown',
      'toString',
      '__proto__',
    ];
    const replies: Promise<unknown>[] = [];
    for (let i = 0; i < 3_000; i++) {
      const socket = pick(sockets);
      const event = random() < 0.6 ? pick(events) : text(30) || 'x';
      let args = Array.from({ length: Math.floor(random() * 3) }, () => value(0));
      // Frames over maxHttpBufferSize cost the connection (tested separately); keep the fuzz inside it.
      if (JSON.stringify(args).length > 48_000) args = [];
      if (random() < 0.8) replies.push(socket.raw(event, ...args));
      else (socket.socket as unknown as { emit(e: string, ...a: unknown[]): void }).emit(event, ...args);
    }
    const settled = await Promise.all(replies);
    for (const reply of settled) {
      expect(reply).toEqual(expect.objectContaining({ ok: expect.any(Boolean) }));
      const res = reply as { ok: boolean; code?: ErrorCode; error?: string };
      if (!res.ok) {
        expect(ERROR_CODES).toContain(res.code);
        expect(res.error).toEqual(expect.any(String));
      }
    }
    expect(settled.filter((r) => !(r as { ok: boolean }).ok).length).toBeGreaterThan(1_000);
    for (const socket of sockets) expect(socket.socket.connected).toBe(true);

    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const a = await member(server, 'fresh-room', 'A');
    const b = await member(server, 'fresh-room', 'B');
    expect([a.joined.id, b.joined.id]).toEqual([1, 2]);
    expectOk(await b.socket.raw('relay', { frames: [{ to: 1, data: 'hello' }] }));
    expect(await a.socket.waitFor('relay')).toEqual({ from: 2, data: 'hello' });
  });
});

describe('connections', () => {
  it('survives handshakes abandoned while they wait for their turn, and leaks no address slot', async () => {
    const server = await serve({ maxSocketsPerIp: 3, pingIntervalMs: 1_000, pingTimeoutMs: 1_000 });
    const { port } = new URL(server.url);
    let admitted = 0;
    server.handle.io.engine.on('connection', () => admitted++);
    // 60 websocket upgrades and 60 polling handshakes, each dropped as soon as it is written: most wait in
    // the admission queue (8 a turn) and are let in, or refused, after their socket is gone.
    for (let i = 0; i < 120; i++) {
      const tcp = tcpConnect(Number(port), '127.0.0.1');
      tcp.on('error', () => {});
      const path = `/socket.io/?EIO=4&transport=${i % 2 ? 'websocket' : 'polling'}`;
      const upgrade =
        i % 2
          ? 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
          : '';
      tcp.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${upgrade}\r\n`, () => tcp.destroy());
    }
    const refused = async () =>
      Number(
        /rejected_total\{reason="too_many_sockets"\} (\d+)/.exec(await server.handle.metrics())?.[1] ?? 0,
      );
    await expect.poll(async () => admitted + (await refused()), { timeout: 10_000 }).toBe(120);
    // A long-polling session has no socket to lose: one whose client vanished after the handshake holds
    // its slot until the ping timeout, as any silent client does.
    await expect.poll(() => server.handle.io.engine.clientsCount, { timeout: 10_000 }).toBe(0);
    // Every slot of the address is free again: three clients get in and join.
    for (const name of ['A', 'B', 'C']) await member(server, 'r', name);
    expect(server.handle.io.engine.clientsCount).toBe(3);
  });

  it('caps sockets per address and frees the slot when one closes', async () => {
    const server = await serve({ maxSocketsPerIp: 2 });
    const first = await client(server);
    await client(server);
    const third = connectUnchecked(server.url);
    clients.push(third);
    await third.waitFor('connect_error');

    const serverSide = server.handle.io.sockets.sockets.get(first.socket.id ?? '');
    // The address slot frees when the transport closes, which comes after the socket.io disconnect.
    const gone = new Promise((resolve) => serverSide?.conn.once('close', resolve));
    first.close();
    await gone;
    await client(server);
    expect(await server.handle.metrics()).toMatch(/lockstep_rejected_total\{reason="too_many_sockets"\} 1\b/);
  });

  it('frees the slot of the forwarded address a connection came from, read again from its request at close', async () => {
    const server = await serve({ trustProxy: ['127.0.0.1'], maxSocketsPerIp: 1 });
    const open = async (address: string) => {
      const c = connectUnchecked(server.url, { extraHeaders: { 'x-forwarded-for': address } });
      clients.push(c);
      return { c, event: (await c.waitForOneOf(['connect', 'connect_error'])).event };
    };
    const a = await open('10.1.0.1');
    expect(a.event).toBe('connect');
    expect((await open('10.1.0.2')).event).toBe('connect');
    expect((await open('10.1.0.1')).event).toBe('connect_error');
    const serverSide = server.handle.io.sockets.sockets.get(a.c.socket.id ?? '');
    const gone = new Promise((resolve) => serverSide?.conn.once('close', resolve));
    a.c.close();
    await gone;
    expect((await open('10.1.0.1')).event).toBe('connect');
    expect((await open('10.1.0.2')).event).toBe('connect_error');
  });

  it("hands every event to one listener in socket.io's own any-listener array", async () => {
    const server = await serve();
    await client(server);
    const serverSide = [...server.handle.io.sockets.sockets.values()][0];
    const any = serverSide?.listenersAny();
    expect(any).toHaveLength(1);
    // The server sets socket.io's private field itself (a one-slot array, not onAny's 17): if socket.io
    // renames it, the server falls back to onAny, which works but costs every connection 128 B.
    expect((serverSide as unknown as { _anyListeners?: unknown })._anyListeners).toBe(any);
  });

  it('keeps one join count and one packet listener per connection when it leaves and re-enters the namespace', async () => {
    const server = await serve({ maxJoinsPerSocket: 4 });
    const c = await client(server);
    const engine = c.socket.io.engine as unknown as {
      write(data: string): void;
      on(event: 'message', listener: (data: string) => void): void;
    };
    const frames: string[] = [];
    engine.on('message', (data) => frames.push(data));
    const serverSide = [...server.handle.io.sockets.sockets.values()][0]?.conn;
    // Raw socket.io packets on the same engine.io connection (which adds the '4' of '41', '40', …): leave
    // the namespace ('1'), enter it again ('0'), and try a join (acked as '3<id>').
    const codes: string[] = [];
    for (let cycle = 0; cycle < 6; cycle++) {
      const connects = frames.filter((f) => f.startsWith('0')).length;
      engine.write('1');
      await expect.poll(() => server.handle.io.sockets.sockets.size).toBe(0);
      engine.write('0');
      await expect.poll(() => frames.filter((f) => f.startsWith('0')).length).toBe(connects + 1);
      engine.write(`2${cycle}["join",{}]`);
      const ackFrame = () => frames.find((f) => f.startsWith(`3${cycle}[`));
      await expect.poll(ackFrame).toBeDefined();
      codes.push(JSON.parse(ackFrame()?.slice(`3${cycle}`.length) ?? '[]')[0]?.code);
    }
    // The fifth join attempt on this connection is refused, however often it re-entered.
    expect(codes).toEqual([
      'bad_request',
      'bad_request',
      'bad_request',
      'bad_request',
      'too_many_joins',
      'too_many_joins',
    ]);
    expect(serverSide?.listenerCount('packet')).toBe(1);
  });

  it('closes a connection that sends an acknowledgement or a connect error, which the server never asks for', async () => {
    const server = await serve();
    for (const frame of ['3["x"]', '31["x"]', '4{"message":"x"}']) {
      const c = await client(server);
      const engine = c.socket.io.engine as unknown as { write(data: string): void };
      const gone = new Promise((resolve) => c.socket.once('disconnect', resolve));
      engine.write(frame);
      // socket.io's own word for a frame its parser refused.
      expect(await gone).toBe('transport close');
    }
    expect(server.handle.io.engine.clientsCount).toBe(0);
  });

  it('stops reading a connection it closed, and drops it soon, even if the client never answers the close', async () => {
    const server = await serve();
    const c = await client(server);
    const conn = [...server.handle.io.sockets.sockets.values()][0]?.conn as unknown as {
      transport: { socket: { readyState: number } };
    };
    const serverWs = conn.transport.socket;
    const engine = c.socket.io.engine as unknown as {
      transport: { ws: { _socket: { pause(): void } } };
      write(data: string): void;
    };
    // The client stops reading, so it never sees the server's close frame or answers it: a graceful close
    // would leave the server's side CLOSING (2), reading whatever the client sends, for 30 s.
    engine.transport.ws._socket.pause();
    engine.write('3["x"]');
    await expect.poll(() => serverWs.readyState, { timeout: 3_000 }).toBe(3);
  });

  it('drops a failed upgrade probe’s websocket soon, even if the client never answers the close', async () => {
    const server = await serve();
    const open = await (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`)).text();
    const sid = JSON.parse(open.slice(1)).sid as string;
    const ws = new WebSocket(
      `${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid=${sid}`,
    );
    ws.on('error', () => {});
    await once(ws, 'open');
    const tcp = (ws as unknown as { _socket: { pause(): void; destroyed: boolean } })._socket;
    // The client never reads the server's close frame, so it never answers it; and it keeps sending.
    tcp.pause();
    // Not the probe engine.io waits for: it closes this websocket, outside any engine.io connection's close.
    ws.send('4junk');
    await expect
      .poll(
        () => {
          if (!tcp.destroyed) ws.send('6');
          return tcp.destroyed;
        },
        { timeout: 3_000 },
      )
      .toBe(true);
  });

  it('drops a connection’s upgrade tries past three, before their websocket handshake', async () => {
    const server = await serve();
    const open = await (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`)).text();
    const sid = JSON.parse(open.slice(1)).sid as string;
    const tryUpgrade = () =>
      new Promise<'open' | 'refused'>((resolve) => {
        const ws = new WebSocket(
          `${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid=${sid}`,
        );
        ws.on('open', () => {
          // A failed probe: engine.io closes it, and would take the next try.
          ws.send('4junk');
          resolve('open');
        });
        ws.on('error', () => resolve('refused'));
      });
    const tries: string[] = [];
    for (let i = 0; i < 5; i++) tries.push(await tryUpgrade());
    expect(tries).toEqual(['open', 'open', 'open', 'refused', 'refused']);
    expect(await server.handle.metrics()).toMatch(/lockstep_rejected_total\{reason="upgrade_tries"\} 2\b/);
  });

  it('charges each event its own frame after an event read as its socket left the namespace', async () => {
    const server = await serve({ maxJoinsPerSocket: 100 });
    const c = await client(server, { transports: ['polling'] });
    const engine = c.socket.io.engine as unknown as {
      id: string;
      write(data: string): void;
      on(event: 'message', listener: (data: string) => void): void;
    };
    const frames: string[] = [];
    engine.on('message', (data) => frames.push(data));
    const charged: number[] = [];
    const take = ConnectionLimiter.prototype.take;
    ConnectionLimiter.prototype.take = function (this: ConnectionLimiter, bytes: number) {
      charged.push(bytes);
      return take.call(this, bytes);
    };
    try {
      // One POST: leave the namespace ('41') and an event in the same read, which reaches the server after
      // its socket has gone. Then enter again and send small events: each is charged its own size.
      const post = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${engine.id}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        body: `41\x1e42["join",{"pad":"${'s'.repeat(5_000)}"}]`,
      });
      expect(await post.text()).toBe('ok');
      await expect.poll(() => server.handle.io.sockets.sockets.size).toBe(0);
      engine.write('0');
      await expect.poll(() => frames.filter((f) => f.startsWith('0')).length).toBe(1);
      charged.length = 0;
      const sent: number[] = [];
      for (let i = 0; i < 3; i++) {
        const frame = `2${i}["x",${i}]`;
        sent.push(Buffer.byteLength(frame));
        engine.write(frame);
        await expect.poll(() => frames.some((f) => f.startsWith(`3${i}[`))).toBe(true);
      }
      expect(charged).toEqual(sent);
    } finally {
      ConnectionLimiter.prototype.take = take;
    }
  });

  it('accepts its own origin and listed origins, and refuses other browser origins', async () => {
    const server = await serve({ allowedOrigins: ['https://app.example'] });
    const port = new URL(server.url).port;
    await client(server, { extraHeaders: { origin: `http://127.0.0.1:${port}` } });
    await client(server, { extraHeaders: { origin: 'https://app.example' } });
    const evil = connectUnchecked(server.url, { extraHeaders: { origin: 'https://evil.example' } });
    clients.push(evil);
    await evil.waitFor('connect_error');
    expect(evil.received('connect')).toEqual([]);
  });

  it('works over HTTP long-polling too', async () => {
    const server = await serve();
    const a = await member(server, 'r', 'A');
    const polling = await client(server, { transports: ['polling'] });
    const joined = expectOk(await polling.join({ room: 'r', name: 'P' }));
    expectOk(await polling.raw('relay', { frames: [{ to: 1, data: 'over polling' }] }));
    expect(await a.socket.waitFor('relay')).toEqual({ from: joined.id, data: 'over polling' });
  });

  it('drops a connection that sends a frame over maxHttpBufferSize and carries on', async () => {
    const server = await serve();
    const a = await member(server, 'r', 'A');
    const b = await member(server, 'r', 'B');
    (b.socket.socket as unknown as { emit(e: string, ...a: unknown[]): void }).emit('relay', {
      frames: [
        {
          to: 1,
          data: 'z'.repeat(100_000),
        },
      ],
    });
    expect(await b.socket.waitFor('disconnect')).toBe('transport close');
    await a.socket.waitFor<RosterMsg>('roster', (r) => r.members[1]?.state === 'grace');
    expect(a.socket.received('relay')).toEqual([]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('keeps the engine limits: small buffers and dead sockets noticed within 10 s', async () => {
    const server = await serve({ maxHttpBufferBytes: 10 * 1024 * 1024 });
    const opts = server.handle.io.engine.opts;
    expect(opts.maxHttpBufferSize).toBeLessThanOrEqual(64 * 1024);
    expect((opts.pingInterval ?? 0) + (opts.pingTimeout ?? 0)).toBeLessThanOrEqual(10_000);
  });

  it('tells every client about a shutdown before closing, then refuses new connections', async () => {
    const server = await serve({ shutdownReconnectMs: 750 });
    const a = await member(server, 'r', 'A');
    const idle = await client(server);
    await server.handle.close();
    for (const socket of [a.socket, idle]) {
      expect(await socket.waitFor('shutdown')).toEqual({ reconnectInMs: 750 });
      await socket.waitFor('disconnect');
      const order = socket.events.map((e) => e.event).filter((e) => e === 'shutdown' || e === 'disconnect');
      expect(order).toEqual(['shutdown', 'disconnect']);
    }
    expect(server.handle.shuttingDown).toBe(true);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});

describe('http', () => {
  it('serves health, metrics and the built client with the app shell for room links', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lockstep-static-'));
    try {
      await mkdir(path.join(dir, 'assets'));
      await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>Lockstep</title>');
      await writeFile(path.join(dir, 'assets', 'app-abc123.js'), 'console.log(1)');
      const server = await serve({ staticDir: dir, web: { metrics: 'public' } });
      await member(server, 'r', 'A');

      const get = (p: string) => fetch(`${server.url}${p}`);
      for (const p of ['/', '/r/some-room', '/r/some-room/']) {
        const res = await get(p);
        expect(res.status, p).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/text\/html/);
        expect(await res.text()).toContain('<title>Lockstep</title>');
      }
      const asset = await get('/assets/app-abc123.js');
      expect(asset.headers.get('cache-control')).toMatch(/immutable/);
      expect(await asset.text()).toBe('console.log(1)');
      for (const p of ['/missing.js', '/r/a/b', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fpackage.json']) {
        expect((await get(p)).status, p).toBe(404);
      }
      expect((await fetch(`${server.url}/`, { method: 'POST' })).status).toBe(405);

      const metrics = await (await get('/metrics')).text();
      expect(metrics).toMatch(/lockstep_rooms 1\b/);
      expect(metrics).toMatch(/lockstep_members\{state="connected"\} 1\b/);
      expect(metrics).toMatch(/lockstep_events_total\{kind="join"\} 1\b/);
      expect(metrics).toMatch(/lockstep_connections 1\b/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
