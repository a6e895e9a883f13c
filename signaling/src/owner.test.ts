// The room's owner: an owner token for the creator, and `remove`, over the wire, with both stores.

import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RosterMsg } from '../../client/src/protocol/signaling.ts';
import { RedisRoomStore } from './redis.ts';
import { type RedisProcess, startRedis } from './redisTesting.ts';
import { newResumeToken, type RoomStore } from './rooms.ts';
import { connect, expectOk, type RecordingClient, startServer, type TestServer } from './testing.ts';

let redis: RedisProcess;
const connections: Redis[] = [];
const stores: RedisRoomStore[] = [];
let servers: TestServer[] = [];
let clients: RecordingClient[] = [];
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  // Whatever the server said, the browser's client would have taken (protocol/signaling.ts).
  expect(clients.flatMap((c) => c.malformed)).toEqual([]);
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  clients = [];
});

afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  for (const conn of connections) conn.disconnect();
  await redis?.stop();
});

async function redisStore(): Promise<RoomStore> {
  const conn = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  conn.on('error', () => {});
  connections.push(conn);
  const store = new RedisRoomStore({
    redis: conn,
    prefix: `owner${++prefixes}:`,
    graceMs: 10_000,
    maxMembers: 50,
    nodeTtlMs: 60_000,
  });
  stores.push(store);
  await store.start();
  return store;
}

const ids = (r: RosterMsg) => r.members.map((m) => m.id);
const VERIFIER = 'v'.repeat(43);

describe.each([
  ['the memory store', async (): Promise<RoomStore | undefined> => undefined],
  ['the Redis store', redisStore],
])('owner and remove, with %s', (_label, makeStore) => {
  async function serve() {
    const store = await makeStore();
    const server = await startServer({ graceMs: 10_000, ...(store ? { store } : {}) });
    servers.push(server);
    return server;
  }

  async function member(server: TestServer, name: string, extra: { verifier?: string } = {}) {
    const socket = await connect(server.url);
    clients.push(socket);
    const joined = expectOk(await socket.join({ room: 'r', name, ...extra }));
    return { socket, joined };
  }

  it('issues the owner token only to the creator, and again to whoever presents it', async () => {
    const server = await serve();
    const a = await member(server, 'A');
    const b = await member(server, 'B');
    expect(a.joined.ownerToken).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(b.joined.ownerToken).toBeUndefined();
    // A reload of the owner (same ID) and a session continued under a new ID both keep owner rights.
    a.socket.close();
    const back = await connect(server.url);
    clients.push(back);
    const resumed = expectOk(
      await back.join({ room: 'r', name: 'A', token: a.joined.token, ownerToken: a.joined.ownerToken ?? '' }),
    );
    expect(resumed).toMatchObject({ id: 1, resumed: true, ownerToken: a.joined.ownerToken });
    const fresh = await connect(server.url);
    clients.push(fresh);
    const renewed = expectOk(
      await fresh.join({ room: 'r', name: 'A', ownerToken: a.joined.ownerToken ?? '' }),
    );
    expect(renewed).toMatchObject({ id: 3, ownerToken: a.joined.ownerToken });
  });

  it('refuses a remove without the right owner token, from a non-owner, or of oneself, with clear errors', async () => {
    const server = await serve();
    const a = await member(server, 'A');
    const b = await member(server, 'B');
    const ownerToken = a.joined.ownerToken ?? '';
    const outsider = await connect(server.url);
    clients.push(outsider);

    expect(await b.socket.raw('remove', { room: 'r', id: 1 })).toMatchObject({
      ok: false,
      code: 'bad_request',
      error: expect.stringMatching(/ownerToken/),
    });
    expect(await b.socket.raw('remove', { room: 'r', id: 1, ownerToken: newResumeToken() })).toMatchObject({
      ok: false,
      code: 'not_owner',
    });
    // A member's own resume token is no owner token.
    expect(await b.socket.raw('remove', { room: 'r', id: 1, ownerToken: b.joined.token })).toMatchObject({
      code: 'not_owner',
    });
    // Even with the owner token, a connection outside the room removes no one.
    expect(await outsider.raw('remove', { room: 'r', id: 2, ownerToken })).toMatchObject({
      code: 'not_joined',
    });
    expect(await a.socket.raw('remove', { room: 'x', id: 2, ownerToken })).toMatchObject({
      code: 'not_in_room',
    });
    expect(await a.socket.raw('remove', { room: 'r', id: 1, ownerToken })).toMatchObject({
      code: 'bad_request',
      error: expect.stringMatching(/Leave/),
    });
    expect(await a.socket.raw('remove', { room: 'r', id: 7, ownerToken })).toMatchObject({
      code: 'not_in_room',
    });
    for (const junk of [
      null,
      'x',
      [],
      { room: 'r', id: -1, ownerToken },
      { room: 'r', id: 2, ownerToken, x: 1 },
    ]) {
      expect(await a.socket.raw('remove', junk)).toMatchObject({ ok: false, code: 'bad_request' });
    }
    // Nobody was removed, and the server still serves.
    expectOk(await b.socket.raw('relay', { frames: [{ to: 1, data: 'still here' }] }));
    expect(a.socket.received<RosterMsg>('roster').every((r) => r.removed.length === 0)).toBe(true);
  });

  it('removes a member: its socket is told and closed, its resume refused, its ID listed in every roster', async () => {
    const server = await serve();
    const a = await member(server, 'A');
    const b = await member(server, 'B');
    const liar = await member(server, 'Liar');
    expectOk(await a.socket.raw('remove', { room: 'r', id: 3, ownerToken: a.joined.ownerToken }));

    const notice = await liar.socket.waitFor<{ room: string; id: number; reason: string }>('removed');
    expect(notice).toEqual({ room: 'r', id: 3, reason: expect.stringMatching(/removed .* by its owner/) });
    expect(await liar.socket.waitFor('disconnect')).toBe('io server disconnect');
    for (const p of [a, b]) {
      const roster = await p.socket.waitFor<RosterMsg>('roster', (r) => r.removed.includes(3));
      expect(ids(roster)).toEqual([1, 2]);
    }
    const again = await connect(server.url);
    clients.push(again);
    const refused = await again.join({ room: 'r', name: 'Liar', token: liar.joined.token });
    expect(refused).toEqual({
      ok: false,
      code: 'removed',
      error: 'you were removed from this room by its owner',
    });
    expect(await b.socket.raw('relay', { frames: [{ to: 3, data: 'x' }] })).toMatchObject({
      code: 'not_in_room',
    });
    // A newcomer (even the same person, as a new player) learns the removed IDs from its first roster.
    const newcomer = expectOk(await again.join({ room: 'r', name: 'New' }));
    expect(newcomer.roster.removed).toEqual([3]);
    expect(newcomer.ownerToken).toBeUndefined();
  });

  it('works in a password room', async () => {
    const server = await serve();
    const a = await member(server, 'A', { verifier: VERIFIER });
    const b = await member(server, 'B', { verifier: VERIFIER });
    expect(a.joined.ownerToken).toBeDefined();
    expectOk(await a.socket.raw('remove', { room: 'r', id: 2, ownerToken: a.joined.ownerToken }));
    await b.socket.waitFor('removed');
    const again = await connect(server.url);
    clients.push(again);
    expect(
      await again.join({ room: 'r', name: 'B', token: b.joined.token, verifier: VERIFIER }),
    ).toMatchObject({
      code: 'removed',
    });
    // The password is still checked first: a wrong one learns nothing about the token.
    expect(
      await again.join({ room: 'r', name: 'B', token: b.joined.token, verifier: 'w'.repeat(43) }),
    ).toMatchObject({
      code: 'bad_password',
    });
    expect((await a.socket.waitFor<RosterMsg>('roster', (r) => r.removed.includes(2))).members).toHaveLength(
      1,
    );
  });
});
